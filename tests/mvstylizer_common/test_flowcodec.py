import numpy as np
import pytest

from mvstylizer_common.errors import InvalidInputError, LimitExceededError
from mvstylizer_common.flowcodec import (
    DEFAULT_FLOW_SCALE,
    decode_confidence,
    decode_flow,
    encode_confidence,
    encode_flow,
)
from protos.mvstylizer.v1 import media_pb2


def test_flow_round_trip_within_quantisation():
    rng = np.random.default_rng(1)
    flow = rng.uniform(-300, 300, size=(20, 30, 2)).astype(np.float32)
    message = encode_flow(flow, 120, 80)
    assert len(message.data) == 20 * 30 * 4  # int16 pairs: compact
    decoded = decode_flow(message)
    assert decoded.shape == flow.shape
    assert np.abs(decoded - flow).max() <= DEFAULT_FLOW_SCALE / 2 + 1e-6


def test_flow_with_wrong_byte_count_is_rejected():
    message = encode_flow(np.zeros((4, 4, 2), np.float32), 8, 8)
    message.data = message.data[:-2]
    with pytest.raises(InvalidInputError):
        decode_flow(message)
    with pytest.raises(InvalidInputError):
        decode_flow(media_pb2.FlowField(grid_width=2, grid_height=2, scale=0.1, data=b"\x00" * 16))


def test_confidence_round_trip():
    confidence = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    decoded = decode_confidence(encode_confidence(confidence))
    assert np.abs(decoded - confidence).max() <= 0.5 / 255 + 1e-6
    with pytest.raises(InvalidInputError):
        decode_confidence(media_pb2.ConfidenceMap(grid_width=3, grid_height=3, data=b"\x00"))


@pytest.mark.parametrize("scale", [0.0, -0.0625, float("nan"), float("inf"), float("-inf"), 1e30])
def test_flow_with_a_scale_that_is_no_step_is_rejected_for_its_scale(scale):
    message = encode_flow(np.zeros((4, 4, 2), np.float32), 8, 8)
    message.scale = scale
    with pytest.raises(InvalidInputError, match="scale"):
        decode_flow(message)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"grid_width": 2**32 - 1, "grid_height": 1}, InvalidInputError),
        ({"grid_width": 20_000, "grid_height": 20_000}, LimitExceededError),
        ({"frame_width": 2**32 - 1}, InvalidInputError),
    ],
    ids=["absurd-grid", "grid-over-the-pixel-limit", "absurd-frame"],
)
def test_flow_sizes_are_bounded_before_the_bytes_are_looked_at(fields, error):
    message = encode_flow(np.zeros((4, 4, 2), np.float32), 8, 8)
    for name, value in fields.items():
        setattr(message, name, value)
    with pytest.raises(error):
        decode_flow(message)


def test_confidence_map_sizes_are_bounded():
    with pytest.raises(InvalidInputError):
        decode_confidence(media_pb2.ConfidenceMap(grid_width=2**32 - 1, grid_height=1, data=b"\x00"))
    with pytest.raises(LimitExceededError):
        decode_confidence(media_pb2.ConfidenceMap(grid_width=20_000, grid_height=20_000, data=b"\x00"))
