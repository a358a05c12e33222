"""The image job: one photo stylized by the stylizer (found or started, as every job does)."""

from __future__ import annotations

import os

import numpy as np

from client.remote.services import ServiceOptions, connected
from client.remote.stylizer import StylizerSession
from common.imagecodec import PNG, load_image_file


def stylize_image(content_path: str, style_path: str, services: ServiceOptions) -> np.ndarray:
    """Stylize one photo; returns HxWx3 uint8 RGB at the content's size."""
    style_message, _ = load_image_file(style_path)
    _, content = load_image_file(content_path)
    with connected(services) as links:
        # Lossless both ways: a photo is the output itself.
        session = StylizerSession(
            links.stylizer, style_message, services.stylizer_options(os.path.basename(content_path), encoding=PNG)
        )
        session.submit(0, 0, content)
        stylized = session.result(0)
        session.close()
    return stylized
