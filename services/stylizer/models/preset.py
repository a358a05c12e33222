"""The default stylizer: a learned, photo-real colour mapping (in the spirit of Neural Preset).

A small CNN looks at thumbnails of the content and of the style photo and predicts
the parameters of a colour mapping; the mapping is then applied to every pixel, so
the content's structure is kept by construction and any resolution works.

The mapping has three parts:
1. a closed-form optimal-transport affine map between the two colour distributions
   (Monge-Kantorovich, as in the `mkl` model), which gets the linear part right;
2. learned monotone tone curves in an opponent colour basis (luminance and two
   chroma axes), predicted from the thumbnails, which do what no affine map can:
   gamma, S-curves, faded blacks, split toning;
3. two-scale grading: where the mapping compresses contrast (a bright day graded to
   a dark dusk), a predicted share of the content's fine luminance detail (above an
   edge-preserving base layer, so no halos) is given back, as photographers do.
The head is zero-initialised: parts 2 and 3 start as (near) identity, so an
untrained model is (nearly) `mkl`.

Weight file format (`torch.save`, loaded with weights_only=True):
    {"format": "mvstylizer-preset-v1", "config": {...PresetConfig fields...},
     "state_dict": {...}, "trained": {...provenance...}}
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from services.stylizer.colour import LUMA_WEIGHTS
from services.stylizer.detail import detail_radius, with_grey_detail
from services.stylizer.models.base import StyleModel
from services.stylizer.models.colour_transfer import mean_cov, mkl_transform
from services.stylizer.models.registry import register_model
from services.stylizer.upsample import box_mean
from services.stylizer.weight_files import load_weight_file, shipped_weights

FORMAT = "mvstylizer-preset-v1"

# Orthonormal opponent basis (rows): luminance, red-green, yellow-blue.
_OPPONENT = torch.tensor(
    [
        [1 / math.sqrt(3), 1 / math.sqrt(3), 1 / math.sqrt(3)],
        [1 / math.sqrt(2), -1 / math.sqrt(2), 0.0],
        [1 / math.sqrt(6), 1 / math.sqrt(6), -2 / math.sqrt(6)],
    ]
)
# Range of each opponent coordinate over the RGB cube [0, 1]^3.
_LOW = torch.tensor([0.0, -1 / math.sqrt(2), -2 / math.sqrt(6)])
_HIGH = torch.tensor([math.sqrt(3), 1 / math.sqrt(2), 2 / math.sqrt(6)])


@dataclass(frozen=True)
class PresetConfig:
    thumb_size: int = 96  # side of the square thumbnails the encoder sees
    width: int = 32  # channels of the encoder's first layer
    knots: int = 17  # knots per tone curve
    bins: int = 24  # histogram bins per opponent channel
    hidden: int = 256  # width of the prediction head
    max_log_slope: float = 2.0  # curve slopes stay within exp(+-this) of the identity's
    max_offset: float = 0.25  # curve offset, in units of the channel's range
    detail: bool = True  # restore the content's fine luminance detail after the mapping (two-scale)
    detail_radius_fraction: float = 1 / 128  # edge-preserving base filter radius, share of the long side
    detail_eps: float = 0.01  # base filter's edge threshold (variance, [0, 1] luminance units)
    detail_bias: float = -4.0  # restored share starts near 0: sigmoid(head + this)


def to_opponent(rgb_flat: torch.Tensor) -> torch.Tensor:
    """Bx3xN RGB -> Bx3xN opponent coordinates normalised to [0, 1] over the RGB cube."""
    basis, low, high = (t.to(rgb_flat) for t in (_OPPONENT, _LOW, _HIGH))
    return (basis @ rgb_flat - low[:, None]) / (high - low)[:, None]


def from_opponent(unit_flat: torch.Tensor) -> torch.Tensor:
    """Inverse of to_opponent (the basis is orthonormal, so its inverse is its transpose)."""
    basis, low, high = (t.to(unit_flat) for t in (_OPPONENT, _LOW, _HIGH))
    return basis.T @ (unit_flat * (high - low)[:, None] + low[:, None])


def soft_cdf(unit_flat: torch.Tensor, bins: int) -> torch.Tensor:
    """Bx3xN values in [0, 1] -> Bx3xbins cumulative histograms.

    Each value is shared between its two nearest bin centres in proportion to its
    distance to them (a triangular kernel), so the result is differentiable.
    """
    position = unit_flat.clamp(0.0, 1.0) * (bins - 1)
    lower = position.detach().floor().clamp(max=bins - 2)
    upper_weight = position - lower
    index = lower.long()
    hist = unit_flat.new_zeros(unit_flat.shape[0], unit_flat.shape[1], bins)
    hist = hist.scatter_add(2, index, 1.0 - upper_weight).scatter_add(2, index + 1, upper_weight)
    return hist.cumsum(dim=2) / unit_flat.shape[2]


def apply_curves(unit_flat: torch.Tensor, knot_values: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear curves: Bx3xN inputs, Bx3xK knot values at 0, 1/(K-1), ..., 1.

    Values outside [0, 1] (possible after the affine stage) follow the end segments.
    """
    knots = knot_values.shape[2]
    position = unit_flat * (knots - 1)
    index = position.floor().clamp(0, knots - 2)
    frac = position - index
    index = index.long()
    lower = torch.gather(knot_values, 2, index)
    upper = torch.gather(knot_values, 2, index + 1)
    return lower + frac * (upper - lower)


class ThumbnailEncoder(nn.Module):
    """3xSxS thumbnail -> feature vector (per-channel mean and std of the last conv layer)."""

    def __init__(self, width: int):
        super().__init__()
        channels = [3, width, 2 * width, 4 * width, 4 * width]
        layers: list[nn.Module] = []
        for cin, cout in itertools.pairwise(channels):
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.LeakyReLU(0.1)]
        self.body = nn.Sequential(*layers)
        self.out_features = 2 * channels[-1]

    def forward(self, thumb: torch.Tensor) -> torch.Tensor:
        features = self.body(thumb * 2.0 - 1.0).flatten(2)
        return torch.cat([features.mean(dim=2), features.std(dim=2)], dim=1)


@dataclass
class PresetStyle:
    """A style photo, encoded once per session."""

    mean: torch.Tensor  # 1x3x1 colour mean (float64)
    cov: torch.Tensor  # 1x3x3 colour covariance (float64)
    features: torch.Tensor  # 1xF encoder features of the style thumbnail
    cdf: torch.Tensor  # 1x3xbins opponent-channel CDFs of the style photo


class PresetStylizer(StyleModel):
    """Learned colour mapping: affine optimal transport + predicted opponent-space tone curves."""

    def __init__(self, config: PresetConfig | None = None):
        super().__init__()
        self.config = config or PresetConfig()
        c = self.config
        self.encoder = ThumbnailEncoder(c.width)
        inputs = 2 * self.encoder.out_features + 2 * 3 * c.bins
        self.head = nn.Sequential(
            nn.Linear(inputs, c.hidden),
            nn.LeakyReLU(0.1),
            nn.Linear(c.hidden, c.hidden),
            nn.LeakyReLU(0.1),
            nn.Linear(c.hidden, 3 * c.knots + 1),
        )
        # Zero-initialised output: identity curves, so training starts from the affine map.
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def thumbnail(self, image: torch.Tensor) -> torch.Tensor:
        size = self.config.thumb_size
        if image.shape[-2:] == (size, size):
            return image
        return F.interpolate(image, size=(size, size), mode="area")

    def encode_style(self, style: torch.Tensor) -> PresetStyle:
        flat = style.flatten(2)
        mean, cov = mean_cov(flat.double())
        thumb = self.thumbnail(style)
        return PresetStyle(mean, cov, self.encoder(thumb), soft_cdf(to_opponent(thumb.flatten(2)), self.config.bins))

    def knot_values(self, mapped_thumb: torch.Tensor, style: PresetStyle) -> tuple[torch.Tensor, torch.Tensor]:
        """(Bx3xK curve knots, Bx1x1x1 share of fine detail restored) for content whose
        affine-mapped thumbnail is mapped_thumb."""
        c = self.config
        batch = mapped_thumb.shape[0]
        content_cdf = soft_cdf(to_opponent(mapped_thumb.flatten(2)), c.bins)
        features = torch.cat(
            [
                self.encoder(mapped_thumb),
                style.features.expand(batch, -1),
                content_cdf.flatten(1),
                style.cdf.expand(batch, -1, -1).flatten(1),
            ],
            dim=1,
        )
        raw_all = self.head(features)
        raw = raw_all[:, : 3 * c.knots].view(batch, 3, c.knots)
        detail_share = torch.sigmoid(raw_all[:, -1] + c.detail_bias).view(batch, 1, 1, 1)
        # Increments between knots: the identity's, scaled by a bounded positive factor (monotone curves).
        slopes = torch.exp(c.max_log_slope * torch.tanh(raw[:, :, 1:]))
        increments = slopes / (c.knots - 1)
        start = c.max_offset * torch.tanh(raw[:, :, :1])
        return torch.cat([start, start + increments.cumsum(dim=2)], dim=2), detail_share

    def map_colours(self, content: torch.Tensor, style: PresetStyle) -> tuple[torch.Tensor, torch.Tensor]:
        """Bx3xHxW content -> (its colours mapped, unclamped; Bx1x1x1 share of fine detail to restore)."""
        flat = content.flatten(2)
        transform, shift = mkl_transform(flat.double(), style.mean, style.cov)
        transform, shift = transform.to(content.dtype), shift.to(content.dtype)
        # The affine map commutes with resizing, so the thumbnail is mapped, not re-made.
        mapped_thumb = (transform @ self.thumbnail(content).flatten(2) + shift).view(
            content.shape[0], 3, self.config.thumb_size, self.config.thumb_size
        )
        knots, detail_share = self.knot_values(mapped_thumb, style)
        curved = apply_curves(to_opponent(transform @ flat + shift), knots)
        return from_opponent(curved).reshape(content.shape), detail_share

    def restore_detail(self, content: torch.Tensor, mapped: torch.Tensor, detail_share: torch.Tensor) -> torch.Tensor:
        """Two-scale grading: the mapping may compress contrast (a bright day to a dark dusk); give
        back a share of the fine luminance detail it took, above an edge-preserving base (no halos)."""
        radius = detail_radius(content.shape[-2:], self.config.detail_radius_fraction)
        eps = self.config.detail_eps
        return mapped + detail_share * (fine_detail(content, radius, eps) - fine_detail(mapped, radius, eps))

    def forward(self, content: torch.Tensor, style: PresetStyle) -> torch.Tensor:
        mapped, detail_share = self.map_colours(content, style)
        if self.config.detail:
            mapped = self.restore_detail(content, mapped, detail_share)
        return mapped.clamp(0.0, 1.0)

    def render_parts(self, content: torch.Tensor, style: PresetStyle) -> tuple[torch.Tensor, float]:
        # Detail is restored after meta-smoothing, at the output resolution, where all of it is.
        mapped, detail_share = self.map_colours(content, style)
        return mapped.clamp(0.0, 1.0), float(detail_share[0]) if self.config.detail else 0.0

    def finish(self, content_rgb: np.ndarray, smoothed_rgb: np.ndarray, detail_share: float) -> np.ndarray:
        return restore_fine_detail(
            content_rgb, smoothed_rgb, detail_share, self.config.detail_radius_fraction, self.config.detail_eps
        )


def restore_fine_detail(
    content_rgb: np.ndarray, smoothed_rgb: np.ndarray, share: float, radius_fraction: float, eps: float
) -> np.ndarray:
    """Give back `share` of the content's fine luminance detail that the mapping took (HxWx3 uint8,
    at output resolution)."""
    return with_grey_detail(content_rgb, smoothed_rgb, share, radius_fraction, eps)


_LUMA = torch.tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)


def luminance(images: torch.Tensor) -> torch.Tensor:
    """Bx3xHxW -> Bx1xHxW, with the weights of OpenCV's RGB2GRAY (which the detail step uses at 1080p)."""
    return (images * _LUMA.to(images)).sum(dim=1, keepdim=True)


def fine_detail(images: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """Bx3xHxW -> Bx1xHxW luminance minus its edge-preserving (self-guided filter) base layer."""
    luma = luminance(images)
    mean = box_mean(luma, radius)
    variance = (box_mean(luma * luma, radius) - mean * mean).clamp_min(0.0)
    gain = variance / (variance + eps)
    base = box_mean(gain, radius) * luma + box_mean(mean - gain * mean, radius)
    return luma - base


def save_preset(model: PresetStylizer, path: Path, trained: dict) -> None:
    payload = {"format": FORMAT, "config": asdict(model.config), "state_dict": model.state_dict(), "trained": trained}
    torch.save(payload, path)


def load_preset(path: str | Path) -> PresetStylizer:
    payload = load_weight_file(path, FORMAT)
    model = PresetStylizer(PresetConfig(**payload["config"]))
    model.load_state_dict(payload["state_dict"])
    return model


@register_model(
    "preset",
    description="learned colour mapping: optimal-transport affine + CNN-predicted tone curves (trained by the project)",
    default_weights=str(shipped_weights("preset.pt")),
)
def build_preset(*, weights: str | None = None) -> StyleModel:
    return load_preset(weights or shipped_weights("preset.pt"))
