"""Upright frames from rotated video: phones store portrait video as landscape frames plus a display
rotation in the container, which every player applies. Frames are turned upright as they are
decoded, so key-frame choice, flow, stylization and the output (written without a rotation) all
see the picture as a player shows it."""

from __future__ import annotations

import logging
from fractions import Fraction

import av
import cv2
import numpy as np

log = logging.getLogger(__name__)

# Counter-clockwise quarter turns -> the cv2.rotate code that applies them.
_ROTATE = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}


def quarter_turns(frame: av.VideoFrame, stream: av.video.stream.VideoStream) -> int:
    """Counter-clockwise quarter turns (0..3) that show `frame` upright.

    The display matrix (FFmpeg hands it to every decoded frame as `frame.rotation`, degrees
    counter-clockwise) decides; a container that only has the legacy `rotate` tag (degrees
    clockwise) falls back to it. Angles between quarter turns round to the nearest one."""
    degrees = float(frame.rotation)
    if not degrees:
        tag = stream.metadata.get("rotate")
        try:
            degrees = -float(tag) if tag else 0.0
        except ValueError:
            log.warning("ignored a rotate tag that is not a number: %r", tag)
            degrees = 0.0
    turns = round(degrees / 90) % 4
    if degrees and abs(degrees - 90 * round(degrees / 90)) > 1:
        log.warning("display rotation %.0f degrees: turned by %d instead", degrees, (turns * 90 + 180) % 360 - 180)
    return turns


def upright(rgb: np.ndarray, turns: int) -> np.ndarray:
    """`rgb` turned counter-clockwise by `turns` quarter turns (a new contiguous array when turned)."""
    return cv2.rotate(rgb, _ROTATE[turns]) if turns else rgb


def upright_size(width: int, height: int, turns: int) -> tuple[int, int]:
    """(width, height) of a coded size once turned upright."""
    return (height, width) if turns % 2 else (width, height)


def upright_sample_aspect_ratio(stream: av.video.stream.VideoStream, turns: int) -> Fraction | None:
    """A pixel's width over its height once the frames stand upright (camcorder and DV video have
    non-square pixels, which players stretch to the picture's shape); None for square pixels."""
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    if not sar or sar <= 0 or sar == 1:
        return None
    return 1 / Fraction(sar) if turns % 2 else Fraction(sar)
