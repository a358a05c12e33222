"""The image job: one photo stylized by the stylizer (found or started, as every job does)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from client.remote.services import ServiceOptions, connected
from client.remote.stylizer import StylizerSession
from common.errors import InvalidInputError
from common.imagecodec import PNG, load_image_file


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
    style_message, _ = load_image_file(style_path)
    _, content = load_image_file(content_path)
    masks = [_mask(path, what) for path, what in ((content_mask, "content"), (style_mask, "style"))]
    with connected(services) as links:
        # Lossless both ways: a photo is the output itself.
        options = services.stylizer_options(os.path.basename(content_path), encoding=PNG)
        session = StylizerSession(links.stylizer, style_message, dataclasses.replace(options, style_mask=masks[1]))
        session.submit(0, 0, content, mask=masks[0])
        stylized = session.result(0)
        session.close()
    return stylized


def _mask(path: str | None, what: str):
    if path is None:
        return None
    try:
        return load_image_file(path)[0]
    except InvalidInputError as error:
        raise InvalidInputError(f"{what} mask: {error}") from error
