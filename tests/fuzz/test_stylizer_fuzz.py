"""Random and malformed Stylize streams: every one ends OK or with a documented status, and the server stays up.

Random SessionConfig fields (sizes at every limit, unknown encodings and models, any strength, style photos
and masks valid or garbled), random key frames (good, truncated, bit-flipped, lying headers, raw of the wrong
length, masks without a masked style) and random message orders (configs twice, key frames first, indices
repeated or decreasing)."""

from __future__ import annotations

import grpc
from hypothesis import event, given, settings
from hypothesis import strategies as st

from mvstylizer_common.grpc_options import message_size_options
from mvstylizer_common.imagecodec import JPEG, PNG, encode_image
from protos.mvstylizer.v1 import stylizer_pb2, stylizer_pb2_grpc
from services.stylizer.models import DEFAULT_MODEL
from tests.fuzz.strategies import ALLOWED, EDGE_SIDES, FUZZ, encoded_images, encodings, rgb_images, status_of_call
from tests.media import moving_square_frame, style_photo

TIMEOUT_S = 60
# Bounded so that a valid request stays cheap: outputs of at most 64 x 65535 px, or refused.
output_sides = st.one_of(st.sampled_from(EDGE_SIDES), st.integers(0, 64))
work_sides = st.sampled_from([0, 0, 0, 64, 64, 1, 2, 16, 512, 4096, 4097, 65536, 2**32 - 1])
strengths = st.one_of(
    st.none(), st.none(), st.sampled_from([0.0, 0.5, 1.0]), st.floats(allow_nan=True, allow_infinity=True, width=32)
)


def mostly(valid, other):
    """valid about three times in four (so that streams get past their config often enough)."""
    return st.one_of(valid, valid, valid, other)


@st.composite
def session_configs(draw) -> stylizer_pb2.SessionConfig:
    config = stylizer_pb2.SessionConfig(
        model=draw(mostly(st.sampled_from(["", DEFAULT_MODEL]), st.sampled_from(["no-such-model", "\x00", "ü" * 300]))),
        work_long_side=draw(work_sides),
        response_encoding=draw(mostly(st.sampled_from([1, 2, 3]), encodings)),
        jpeg_quality=draw(mostly(st.sampled_from([0, 50, 100]), st.sampled_from([1, 101, 2**32 - 1]))),
        client_label=draw(st.text(max_size=40)),
    )
    if draw(st.integers(0, 3)) == 3:
        config.output_width = draw(output_sides)
        config.output_height = config.output_width if draw(st.booleans()) else draw(output_sides)
        # Keep valid sizes small: a 65535 x 65535 output is refused, a 65535 x 48 one costs seconds.
        if (
            0 < config.output_width * config.output_height <= 40_000_000
            and min(config.output_width, config.output_height) > 64
        ):
            config.output_height = 64
    style = draw(mostly(st.builds(lambda rgb: encode_image(rgb, PNG), rgb_images(min_side=16)), encoded_images()))
    if draw(st.integers(0, 9)) != 9:
        config.style.CopyFrom(style)
    strength = draw(strengths)
    if strength is not None:
        config.strength = strength
    if draw(st.integers(0, 9)) == 9:
        config.style_mask.CopyFrom(
            draw(st.one_of(encoded_images(), st.builds(lambda rgb: encode_image(rgb, PNG), rgb_images(min_side=16))))
        )
    return config


@st.composite
def key_frames(draw, index: int) -> stylizer_pb2.KeyFrame:
    image = draw(mostly(st.builds(encode_image, rgb_images(), st.sampled_from([JPEG, PNG])), encoded_images()))
    frame = stylizer_pb2.KeyFrame(index=index, pts=draw(st.integers(-(2**63), 2**63 - 1)), image=image)
    if draw(st.integers(0, 9)) == 9:
        frame.mask.CopyFrom(draw(encoded_images()))
    return frame


@st.composite
def streams(draw) -> list[stylizer_pb2.StylizeRequest]:
    requests = []
    if draw(st.integers(0, 7)) != 7:  # usually a config first, as the protocol says
        requests.append(stylizer_pb2.StylizeRequest(config=draw(session_configs())))
    index = -1
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["key"] * 8 + ["config", "empty"]))
        if kind == "config":
            requests.append(stylizer_pb2.StylizeRequest(config=draw(session_configs())))
        elif kind == "empty":
            requests.append(stylizer_pb2.StylizeRequest())
        else:
            index = draw(mostly(st.just(index + 1), st.sampled_from([index + 7, index, max(index - 1, 0), 2**64 - 1])))
            requests.append(stylizer_pb2.StylizeRequest(key_frame=draw(key_frames(max(0, min(index, 2**64 - 1))))))
    return requests


def stylize(address: str, requests: list) -> grpc.StatusCode:
    with grpc.insecure_channel(address, options=message_size_options()) as channel:
        return status_of_call(stylizer_pb2_grpc.StylizerStub(channel).Stylize(iter(requests), timeout=TIMEOUT_S))


def assert_still_serves(address: str) -> None:
    config = stylizer_pb2.SessionConfig(style=encode_image(style_photo(), PNG), response_encoding=PNG)
    frame = stylizer_pb2.KeyFrame(index=0, pts=0, image=encode_image(moving_square_frame(0), JPEG))
    requests = [stylizer_pb2.StylizeRequest(config=config), stylizer_pb2.StylizeRequest(key_frame=frame)]
    with grpc.insecure_channel(address, options=message_size_options()) as channel:
        answers = list(stylizer_pb2_grpc.StylizerStub(channel).Stylize(iter(requests), timeout=TIMEOUT_S))
    assert [a.WhichOneof("kind") for a in answers] == ["ready", "key_frame"]
    assert answers[1].key_frame.index == 0


def assert_alive(address: str) -> None:
    with grpc.insecure_channel(address) as channel:
        assert stylizer_pb2_grpc.StylizerStub(channel).ListModels(stylizer_pb2.ListModelsRequest(), timeout=10).models


@settings(FUZZ, max_examples=300)
@given(requests=streams())
def test_random_streams_end_with_a_documented_status(stylizer_address, requests):
    code = stylize(stylizer_address, requests)
    event(code.name)  # --hypothesis-show-statistics: how often each status came back
    assert code in ALLOWED, (code, requests)
    assert_alive(stylizer_address)


def test_the_stylizer_still_serves_after_the_fuzzing(stylizer_address):
    assert_still_serves(stylizer_address)
