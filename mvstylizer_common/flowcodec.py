"""Compact wire forms of flow fields (int16 + scale) and confidence maps (uint8)."""

from __future__ import annotations

import math

import numpy as np

from mvstylizer_common.errors import InvalidInputError
from mvstylizer_common.limits import MAX_FRAME_SIDE, check_frame_size
from protos.mvstylizer.v1 import media_pb2

# 1/16 pixel steps: +-2047 px of range, error far below what warping can show.
DEFAULT_FLOW_SCALE = 1.0 / 16.0
# A step of more than a frame side is no flow.
MAX_FLOW_SCALE = float(MAX_FRAME_SIDE)


def encode_flow(
    flow: np.ndarray, frame_width: int, frame_height: int, scale: float = DEFAULT_FLOW_SCALE
) -> media_pb2.FlowField:
    """Pack an hxwx2 float flow (in frame pixels) sampled on an hxw grid."""
    grid_height, grid_width = flow.shape[:2]
    quantised = np.clip(np.rint(flow / scale), -32768, 32767).astype("<i2")
    return media_pb2.FlowField(
        grid_width=grid_width,
        grid_height=grid_height,
        frame_width=frame_width,
        frame_height=frame_height,
        scale=scale,
        data=quantised.tobytes(),
    )


def decode_flow(message: media_pb2.FlowField) -> np.ndarray:
    """Unpack to an hxwx2 float32 flow on its grid, in frame pixels.

    Raises InvalidInputError for a field that cannot be one (sizes, scale, byte count) and
    LimitExceededError for a grid over the decoded-image pixel limit."""
    gw, gh = message.grid_width, message.grid_height
    if message.frame_width == 0 or message.frame_height == 0:
        raise InvalidInputError("flow field without the size of the frame it describes")
    check_frame_size(message.frame_width, message.frame_height, "flow field's frame size")
    check_frame_size(gw, gh, "flow field's grid")
    scale = message.scale
    if not (math.isfinite(scale) and 0 < scale <= MAX_FLOW_SCALE):
        raise InvalidInputError(f"flow field scale {scale!r} is not a finite number in (0, {MAX_FLOW_SCALE}] pixels")
    if len(message.data) != gw * gh * 4:
        raise InvalidInputError(f"flow field of {len(message.data)} bytes does not match {gw}x{gh}x2 int16")
    values = np.frombuffer(message.data, "<i2").reshape(gh, gw, 2)
    return values.astype(np.float32) * np.float32(message.scale)


def encode_confidence(confidence: np.ndarray) -> media_pb2.ConfidenceMap:
    """Pack an hxw float map in [0, 1]."""
    quantised = np.clip(np.rint(confidence * 255.0), 0, 255).astype(np.uint8)
    return media_pb2.ConfidenceMap(
        grid_width=confidence.shape[1], grid_height=confidence.shape[0], data=quantised.tobytes()
    )


def decode_confidence(message: media_pb2.ConfidenceMap) -> np.ndarray:
    """Unpack to an hxw float32 map in [0, 1] on its grid."""
    gw, gh = message.grid_width, message.grid_height
    if gw == 0 or gh == 0:
        raise InvalidInputError(f"confidence map of {len(message.data)} bytes does not match {gw}x{gh}")
    check_frame_size(gw, gh, "confidence map's grid")
    if len(message.data) != gw * gh:
        raise InvalidInputError(f"confidence map of {len(message.data)} bytes does not match {gw}x{gh}")
    return np.frombuffer(message.data, np.uint8).reshape(gh, gw).astype(np.float32) / 255.0
