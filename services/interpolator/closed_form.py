"""The device's closed-form look, for frames no stylized key frame describes.

A linear Monge-Kantorovich colour transfer (Pitie & Kokaram, 2007): the affine map between
the Gaussian fits of two colour distributions, fitted on thumbnails. Used by the live
interpolation session before a shot's first key frame is answered (content to the look of the
stylizer's answers so far, or to the style photo), in the same 3x4 form as a key frame's own
global transform; and, between a key and a later frame, to carry the key's look over a change of
the content's overall colours (adaptation).
"""

from __future__ import annotations

import cv2
import numpy as np

# Colour statistics come from thumbnails: the fit needs the distribution, not the detail.
_CONTENT_THUMB = (64, 36)
_STYLE_THUMB = (96, 64)
# Covariance ridge on [0, 1] colours: keeps flat (single-colour) pictures well posed.
_RIDGE = 1e-4

ColourStats = tuple[np.ndarray, np.ndarray]  # mean (3,), covariance (3, 3), on [0, 1] colours


def colour_statistics(rgb: np.ndarray, thumb: tuple[int, int] = _STYLE_THUMB) -> ColourStats:
    """Mean and covariance of an HxWx3 uint8 picture's colours (from a thumbnail)."""
    small = cv2.resize(rgb, thumb, interpolation=cv2.INTER_AREA).reshape(-1, 3).astype(np.float64) / 255.0
    return small.mean(0), np.cov(small.T) + _RIDGE * np.eye(3)


def transfer_transform(content: np.ndarray, style: ColourStats) -> np.ndarray:
    """3x4 affine map on [0, 1] colours taking the content's colour distribution to the style's."""
    return linear_transfer(content_statistics(content), style)


def linear_transfer(source: ColourStats, target: ColourStats) -> np.ndarray:
    """3x4 affine map on [0, 1] colours taking one Gaussian colour distribution to another."""
    (mean_c, cov_c), (mean_s, cov_s) = source, target
    root_c = _sqrtm(cov_c)
    inv_root_c = np.linalg.inv(root_c)
    matrix = inv_root_c @ _sqrtm(root_c @ cov_s @ root_c) @ inv_root_c
    return np.hstack([matrix, (mean_s - matrix @ mean_c)[:, None]]).astype(np.float32)


def at_strength(transform: np.ndarray, strength: float) -> np.ndarray:
    """The 3x4 map moved `strength` of the way from the identity (0: colours unchanged, 1: the map),
    linearly in its coefficients, as the stylizer's strength moves its looks."""
    identity = np.hstack([np.eye(3), np.zeros((3, 1))])
    return (identity + strength * (transform - identity)).astype(np.float32)


# How far apart (0-1 colours) a look's mean and the style photo's are as a matter of course: the
# stylizer's answers scatter about this much with the content of each key.
LOOK_SCATTER = 2.0 / 255.0


def stylizer_look(style: ColourStats, looks: list[ColourStats]) -> ColourStats:
    """The colour statistics the stylizer's next answer will have, from its answers' (looks) and the
    style photo's: the photo's, moved towards the answers' average as far as the answers agree on
    how they differ from it (channel by channel, a shrinkage: a consistent difference, a style at
    the edge of the gamut losing what cannot be shown, is kept; one within the answers' scatter from
    content to content is not)."""
    means = np.array([look[0] for look in looks])
    offset = means.mean(0) - style[0]
    noise = means.var(0) / len(looks) + LOOK_SCATTER**2
    trust = offset**2 / (offset**2 + noise)
    covariance = np.mean([look[1] for look in looks], axis=0)
    return style[0] + trust * offset, style[1] + trust.mean() * (covariance - style[1])


def content_statistics(rgb: np.ndarray) -> ColourStats:
    """A frame's colour statistics, as transfer_transform takes them from a content frame."""
    return colour_statistics(rgb, _CONTENT_THUMB)


def adaptation(frame_stats: ColourStats, key_stats: ColourStats) -> np.ndarray:
    """3x4 map on [0, 1] colours taking a frame's colour distribution to its key frame's.

    Composed before a key's maps, it carries the key's look over a change of exposure, white
    balance or overall colour since the key, the way the stylizer's own looks follow it (they are
    fitted to the style photo's statistics, so the look settles where it was)."""
    return linear_transfer(frame_stats, key_stats)


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The 3x4 affine map (on [0, 1] colours) x -> outer(inner(x))."""
    return np.hstack([outer[:, :3] @ inner[:, :3], (outer[:, :3] @ inner[:, 3] + outer[:, 3])[:, None]]).astype(
        np.float32
    )


def _sqrtm(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 1e-8, None))) @ vectors.T
