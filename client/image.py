"""The image job: one photo stylized by the stylizer (found or started, as every job does)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from client.remote.services import ServiceOptions, connected
from client.remote.stylizer import StylizerSession
from mvstylizer_common.errors import InvalidInputError
from mvstylizer_common.imagecodec import PNG, load_image_file
from protos.mvstylizer.v1 import media_pb2


def stylize_image(
    content_path: str,
    style_path: str,
    services: ServiceOptions,
    *,
    content_mask: str | None = None,
    style_mask: str | None = None,
) -> np.ndarray:
    """Stylize one photo; returns HxWx3 uint8 RGB at the content's size.

    content_mask, style_mask: colour-coded label masks (Deep Photo Style Transfer's PNGs), both or
    neither: each label of the content takes the look of the same label in the style, a label
    the style lacks takes the whole-image look."""
    if (content_mask is None) != (style_mask is None):
        raise InvalidInputError("--content-mask and --style-mask go together: give both or neither")
    _, content = load_image_file(content_path)
    masks = [_mask(path, what) for path, what in ((content_mask, "content"), (style_mask, "style"))]
    return stylize_frames_as_photos(
        [content], style_path, services, os.path.basename(content_path), content_mask=masks[0], style_mask=masks[1]
    )[0]


def stylize_frames_as_photos(
    frames: list[np.ndarray],
    style_path: str,
    services: ServiceOptions,
    label: str,
    *,
    content_mask: media_pb2.EncodedImage | None = None,
    style_mask: media_pb2.EncodedImage | None = None,
) -> list[np.ndarray]:
    """Each frame stylized whole by the stylizer, as a photo (one session; lossless both ways)."""
    style_message, _ = load_image_file(style_path)
    with connected(services) as links:
        options = dataclasses.replace(services.stylizer_options(label, encoding=PNG), style_mask=style_mask)
        session = StylizerSession(links.stylizer, style_message, options)
        for index, frame in enumerate(frames):
            session.submit(index, 0, frame, mask=content_mask)
        stylized = [session.result(index) for index in range(len(frames))]
        session.close()
    return stylized


def image_summary(output: str, stylized: np.ndarray, seconds: float) -> str:
    """The line a finished photo reports, as a finished video does: what was written, and how fast."""
    return f"wrote {output}: {stylized.shape[1]}x{stylized.shape[0]} in {seconds:.1f} s"


def _mask(path: str | None, what: str):
    if path is None:
        return None
    try:
        return load_image_file(path)[0]
    except InvalidInputError as error:
        raise InvalidInputError(f"{what} mask: {error}") from error
