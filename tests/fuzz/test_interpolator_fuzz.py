"""Random and malformed Interpolate streams: every one ends OK or with a documented status, the server stays up.

Random InterpolatorConfig (modes known and not, sizes at every limit, encodings, JPEG quality), keys whose
images may not match the config or each other, and frame requests whose flow fields and confidence maps have
random grids, frame sizes, scales (0, negative, NaN, inf, huge) and byte counts, pointing at keys that may
not exist, in random orders."""

from __future__ import annotations

import grpc
import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from mvstylizer_common.flowcodec import encode_confidence, encode_flow
from mvstylizer_common.imagecodec import JPEG, PNG, encode_image
from protos.mvstylizer.v1 import interpolator_pb2, interpolator_pb2_grpc, media_pb2
from tests.fuzz.strategies import ALLOWED, FUZZ, encoded_images, encodings, rgb_images, sides, status_of_call
from tests.media import textured_background

TIMEOUT_S = 60
scales = st.one_of(
    st.sampled_from([0.0, 0.25, 1 / 16]),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([-1.0, 65535.0, 65536.0, 1e-30]),
)


def mostly(valid, other):
    return st.one_of(valid, valid, valid, other)


@st.composite
def flows(draw, width: int, height: int) -> media_pb2.FlowField:
    if draw(st.integers(0, 3)) != 3:  # well formed, on a random grid, moving by a random amount
        grid_w, grid_h = draw(st.integers(1, 16)), draw(st.integers(1, 16))
        shift = draw(st.floats(-64, 64, width=32))
        flow = np.full((grid_h, grid_w, 2), shift, np.float32)
        return encode_flow(flow, width, height, scale=draw(st.sampled_from([0.25, 1 / 16, 1.0])))
    field = media_pb2.FlowField(
        grid_width=draw(sides), grid_height=draw(sides), frame_width=draw(sides), frame_height=draw(sides)
    )
    field.scale = draw(scales)
    size = field.grid_width * field.grid_height * 4
    field.data = bytes(size if size <= 4096 and draw(st.booleans()) else draw(st.integers(0, 600)))
    return field


@st.composite
def confidences(draw) -> media_pb2.ConfidenceMap:
    if draw(st.integers(0, 3)) != 3:
        grid_w, grid_h = draw(st.integers(1, 16)), draw(st.integers(1, 16))
        return encode_confidence(np.full((grid_h, grid_w), draw(st.floats(0, 1)), np.float32))
    grid_w, grid_h = draw(sides), draw(sides)
    size = grid_w * grid_h
    data = bytes(size if size <= 4096 and draw(st.booleans()) else draw(st.integers(0, 600)))
    return media_pb2.ConfidenceMap(grid_width=grid_w, grid_height=grid_h, data=data)


@st.composite
def frame_images(draw, width: int, height: int) -> media_pb2.EncodedImage:
    """Mostly an image of the stream's size; otherwise any size, garbled or lying."""
    if draw(st.integers(0, 3)) != 3:
        rgb = textured_background(max(width, 8), max(height, 8), seed=draw(st.integers(0, 3)))[:height, :width]
        return encode_image(np.ascontiguousarray(rgb), draw(st.sampled_from([PNG, JPEG])))
    return draw(st.one_of(encoded_images(), st.builds(encode_image, rgb_images(), st.sampled_from([PNG, JPEG]))))


@st.composite
def streams(draw) -> list[interpolator_pb2.InterpolateRequest]:
    width, height = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    config = interpolator_pb2.InterpolatorConfig(
        mode=draw(mostly(st.sampled_from([1, 2]), st.integers(0, 9))),
        width=draw(mostly(st.just(width), sides)),
        height=draw(mostly(st.just(height), sides)),
        output_encoding=draw(mostly(st.sampled_from([PNG, JPEG, 3]), encodings)),
        jpeg_quality=draw(mostly(st.sampled_from([0, 80]), st.sampled_from([1, 100, 101, 2**32 - 1]))),
        exact_keys=draw(st.booleans()),
    )
    requests = []
    if draw(st.integers(0, 7)) != 7:
        requests.append(interpolator_pb2.InterpolateRequest(config=config))
    keys: list[int] = []
    index = 0
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["key", "frame", "frame", "config", "empty"]))
        if kind == "key":
            key_index = draw(mostly(st.just(index), st.integers(0, 2**64 - 1)))
            key = interpolator_pb2.StylizedKey(index=key_index, stylized=draw(frame_images(width, height)))
            if draw(st.integers(0, 5)) != 5:
                key.original.CopyFrom(draw(frame_images(width, height)))
            keys.append(key_index)
            requests.append(interpolator_pb2.InterpolateRequest(key=key))
        elif kind == "frame":
            prev_key = draw(st.sampled_from(keys)) if keys and draw(st.integers(0, 5)) != 5 else draw(st.integers(0, 9))
            frame = interpolator_pb2.FrameRequest(
                index=draw(mostly(st.just(index), st.integers(0, 2**64 - 1))),
                pts=draw(st.integers(-(2**63), 2**63 - 1)),
                prev_key=prev_key,
            )
            if draw(st.integers(0, 4)) != 4:
                frame.flow_to_prev.CopyFrom(draw(flows(width, height)))
                frame.confidence_prev.CopyFrom(draw(confidences()))
                frame.original.CopyFrom(draw(frame_images(width, height)))
            if keys and draw(st.booleans()):
                frame.next_key = draw(st.sampled_from(keys))
                frame.flow_to_next.CopyFrom(draw(flows(width, height)))
                if draw(st.booleans()):
                    frame.confidence_next.CopyFrom(draw(confidences()))
            index += 1
            requests.append(interpolator_pb2.InterpolateRequest(frame=frame))
        elif kind == "config":
            requests.append(interpolator_pb2.InterpolateRequest(config=config))
        else:
            requests.append(interpolator_pb2.InterpolateRequest())
    return requests


def interpolate(address: str, requests: list) -> grpc.StatusCode:
    with grpc.insecure_channel(address) as channel:
        stub = interpolator_pb2_grpc.InterpolatorStub(channel)
        return status_of_call(stub.Interpolate(iter(requests), timeout=TIMEOUT_S))


@settings(FUZZ, max_examples=250)
@given(requests=streams())
def test_random_streams_end_with_a_documented_status(interpolator_address, requests):
    code = interpolate(interpolator_address, requests)
    event(code.name)  # --hypothesis-show-statistics: how often each status came back
    assert code in ALLOWED, (code, requests)


def test_the_interpolator_still_serves_after_the_fuzzing(interpolator_address):
    width, height = 32, 24
    config = interpolator_pb2.InterpolatorConfig(mode=1, width=width, height=height, output_encoding=PNG)
    image = encode_image(textured_background(width, height), PNG)
    key = interpolator_pb2.StylizedKey(index=0, stylized=image, original=image)
    frame = interpolator_pb2.FrameRequest(index=0, pts=5, prev_key=0)
    requests = [
        interpolator_pb2.InterpolateRequest(config=config),
        interpolator_pb2.InterpolateRequest(key=key),
        interpolator_pb2.InterpolateRequest(frame=frame),
    ]
    with grpc.insecure_channel(interpolator_address) as channel:
        answers = list(interpolator_pb2_grpc.InterpolatorStub(channel).Interpolate(iter(requests), timeout=TIMEOUT_S))
    assert [(a.frame.index, a.frame.pts) for a in answers] == [(0, 5)]
