"""The stylizer over real gRPC on a loopback port chosen by the OS."""

import queue

import grpc
import numpy as np
import pytest
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from mvstylizer_common.errors import WeightsError
from mvstylizer_common.grpc_options import message_size_options
from mvstylizer_common.imagecodec import JPEG, PNG, RAW, decode_image, encode_image
from protos.mvstylizer.v1 import media_pb2, stylizer_pb2, stylizer_pb2_grpc
from services.stylizer.models import DEFAULT_MODEL
from services.stylizer.models.photo_wct import PhotoWCT
from services.stylizer.server import SERVICE_NAME, create_server
from tests.media import moving_square_frame, style_photo, textured_background
from tests.servers import ServerThread

TIMEOUT = 60


class Stream:
    """A Stylize call whose requests are fed one at a time."""

    def __init__(self, address: str, config: stylizer_pb2.SessionConfig):
        self.channel = grpc.insecure_channel(address, options=message_size_options())
        self._requests: queue.Queue = queue.Queue()
        self._requests.put(stylizer_pb2.StylizeRequest(config=config))
        self.call = stylizer_pb2_grpc.StylizerStub(self.channel).Stylize(
            iter(self._requests.get, None), timeout=TIMEOUT
        )

    def send(self, request: stylizer_pb2.StylizeRequest) -> None:
        self._requests.put(request)

    def send_frame(self, index: int, image: media_pb2.EncodedImage) -> None:
        self.send(
            stylizer_pb2.StylizeRequest(key_frame=stylizer_pb2.KeyFrame(index=index, pts=index * 40, image=image))
        )

    def receive(self) -> stylizer_pb2.StylizeResponse:
        return next(self.call)

    def close(self) -> None:
        self._requests.put(None)
        self.channel.close()


def config(**overrides) -> stylizer_pb2.SessionConfig:
    base = dict(style=encode_image(style_photo(), PNG), response_encoding=PNG)
    base.update(overrides)
    return stylizer_pb2.SessionConfig(**base)


def test_session_answers_ready_then_each_key_frame_in_order(stylizer_address):
    stream = Stream(stylizer_address, config(output_width=48, output_height=32))
    ready = stream.receive().ready
    assert ready.model == DEFAULT_MODEL and ready.work_long_side == 512 and ready.session_id
    for index in (0, 5, 10):
        stream.send_frame(index, encode_image(moving_square_frame(index), JPEG))
    answers = [stream.receive().key_frame for _ in range(3)]
    stream.close()
    assert [a.index for a in answers] == [0, 5, 10]
    assert [a.pts for a in answers] == [0, 200, 400]
    for answer in answers:
        image = decode_image(answer.image)
        assert image.shape == (32, 48, 3)
        assert answer.timings.total_ms > 0 and answer.timings.compute_ms > 0
    # The look changed: the stylized frame is bluer than the original (the style is a dusk gradient).
    original = moving_square_frame(0).astype(float)
    assert decode_image(answers[0].image)[..., 2].mean() != pytest.approx(original[..., 2].mean(), abs=2)


def test_corrupt_jpeg_ends_that_session_only(stylizer_address):
    good = Stream(stylizer_address, config())
    bad = Stream(stylizer_address, config())
    good.receive(), bad.receive()
    bad.send_frame(0, encode_image(moving_square_frame(0), JPEG))
    assert bad.receive().key_frame.index == 0
    bad.send_frame(1, media_pb2.EncodedImage(encoding=JPEG, data=b"\xff\xd8\xff\xdb corrupt"))
    with pytest.raises(grpc.RpcError) as failure:
        bad.receive()
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad.close()
    # The other session goes on, and new sessions are still served.
    good.send_frame(7, encode_image(moving_square_frame(7), JPEG))
    assert good.receive().key_frame.index == 7
    good.close()
    fresh = Stream(stylizer_address, config())
    fresh.receive()
    fresh.send_frame(0, encode_image(moving_square_frame(0), JPEG))
    assert fresh.receive().key_frame.index == 0
    fresh.close()


@pytest.mark.parametrize(
    ("first", "code"),
    [
        (stylizer_pb2.StylizeRequest(key_frame=stylizer_pb2.KeyFrame(index=0)), grpc.StatusCode.INVALID_ARGUMENT),
        (
            stylizer_pb2.StylizeRequest(
                config=stylizer_pb2.SessionConfig(style=media_pb2.EncodedImage(encoding=JPEG, data=b"not a photo"))
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (stylizer_pb2.StylizeRequest(config=config(model="no-such-model")), grpc.StatusCode.INVALID_ARGUMENT),
        (stylizer_pb2.StylizeRequest(config=stylizer_pb2.SessionConfig()), grpc.StatusCode.INVALID_ARGUMENT),
    ],
    ids=["no-config-first", "bad-style-photo", "unknown-model", "no-style"],
)
def test_bad_session_openings_are_invalid_argument(stylizer_address, first, code):
    with grpc.insecure_channel(stylizer_address) as channel:
        call = stylizer_pb2_grpc.StylizerStub(channel).Stylize(iter([first]), timeout=TIMEOUT)
        with pytest.raises(grpc.RpcError) as failure:
            list(call)
        assert failure.value.code() == code


@pytest.mark.parametrize(
    ("sizes", "code", "words"),
    [
        ({"output_width": 10000, "output_height": 10000}, grpc.StatusCode.RESOURCE_EXHAUSTED, "Mpx"),
        ({"output_width": 2**32 - 1, "output_height": 64}, grpc.StatusCode.INVALID_ARGUMENT, "output size"),
        ({"output_width": 640, "output_height": 0}, grpc.StatusCode.INVALID_ARGUMENT, "both"),
        ({"work_long_side": 100000}, grpc.StatusCode.RESOURCE_EXHAUSTED, "working long side"),
    ],
    ids=["100-mpx", "uint32-max", "half-given", "huge-work-size"],
)
def test_sizes_past_the_limits_are_refused_before_any_work(stylizer_address, sizes, code, words):
    with grpc.insecure_channel(stylizer_address) as channel:
        request = stylizer_pb2.StylizeRequest(config=config(**sizes))
        call = stylizer_pb2_grpc.StylizerStub(channel).Stylize(iter([request]), timeout=TIMEOUT)
        with pytest.raises(grpc.RpcError) as failure:
            list(call)
        assert failure.value.code() == code and words in failure.value.details()


@pytest.mark.parametrize("second_index", [3, 1], ids=["repeat", "step-back"])
def test_key_frame_indices_must_increase(stylizer_address, second_index):
    stream = Stream(stylizer_address, config())
    stream.receive()
    stream.send_frame(3, encode_image(moving_square_frame(3), JPEG))
    stream.send_frame(second_index, encode_image(moving_square_frame(1), JPEG))
    assert stream.receive().key_frame.index == 3  # answered in turn, then the stream ends
    with pytest.raises(grpc.RpcError) as failure:
        stream.receive()
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "must increase" in failure.value.details()
    stream.close()


def test_config_twice_is_invalid(stylizer_address):
    stream = Stream(stylizer_address, config())
    stream.receive()
    stream.send(stylizer_pb2.StylizeRequest(config=config()))
    with pytest.raises(grpc.RpcError) as failure:
        stream.receive()
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    stream.close()


def test_oversized_message_is_refused_with_resource_exhausted(stylizer_address):
    """The server's receive limit is explicit; a client sending more is told so and the server lives on."""
    big = media_pb2.EncodedImage(encoding=JPEG, data=b"\x00" * (65 * 1024 * 1024))
    with grpc.insecure_channel(stylizer_address, options=message_size_options(128 * 1024 * 1024)) as channel:
        call = stylizer_pb2_grpc.StylizerStub(channel).Stylize(
            iter([stylizer_pb2.StylizeRequest(config=stylizer_pb2.SessionConfig(style=big))]), timeout=TIMEOUT
        )
        with pytest.raises(grpc.RpcError) as failure:
            list(call)
        assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    stream = Stream(stylizer_address, config())
    assert stream.receive().HasField("ready")
    stream.close()


def test_list_models_health_and_reflection(stylizer_address):
    with grpc.insecure_channel(stylizer_address) as channel:
        models = stylizer_pb2_grpc.StylizerStub(channel).ListModels(stylizer_pb2.ListModelsRequest()).models
        by_name = {m.name: m for m in models}
        assert set(by_name) >= {"preset", "regions", "mkl", "reinhard", "photowct"}
        assert [m.name for m in models if m.is_default] == [DEFAULT_MODEL] == ["regions"]
        assert all(m.work_long_side > 0 and m.description for m in models)
        # Each model reports the weight file it runs with: shipped, none, or none given yet.
        assert by_name["preset"].weights.endswith("preset.pt")
        assert by_name["mkl"].weights == "" and by_name["photowct"].weights == "" and by_name["regions"].weights == ""

        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", SERVICE_NAME):
            status = health.Check(health_pb2.HealthCheckRequest(service=service)).status
            assert status == health_pb2.HealthCheckResponse.SERVING

        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name for s in next(answers).list_services_response.service}
        assert SERVICE_NAME in names and "grpc.health.v1.Health" in names


def test_raw_frames_are_accepted_and_returned(stylizer_address):
    stream = Stream(stylizer_address, config(response_encoding=media_pb2.FRAME_ENCODING_RAW_RGB24))
    stream.receive()
    frame = moving_square_frame(3)
    stream.send_frame(3, encode_image(frame, media_pb2.FRAME_ENCODING_RAW_RGB24))
    answer = stream.receive().key_frame
    stream.close()
    assert answer.image.encoding == media_pb2.FRAME_ENCODING_RAW_RGB24
    assert decode_image(answer.image).shape == frame.shape
    assert np.isfinite(answer.timings.total_ms)


def test_a_photowct_checkpoint_is_served_by_path(tmp_path):
    """--weights photowct=PATH: built at start-up, reported by ListModels, used by sessions asking for it."""
    torch.manual_seed(0)
    path = tmp_path / "photo_wct.pth"
    torch.save(PhotoWCT().state_dict(), path)
    thread = ServerThread(lambda host, port: create_server(host, port, weights={"photowct": str(path)}), SERVICE_NAME)
    try:
        with grpc.insecure_channel(thread.address) as channel:
            models = stylizer_pb2_grpc.StylizerStub(channel).ListModels(stylizer_pb2.ListModelsRequest()).models
            assert {m.name: m.weights for m in models}["photowct"] == str(path)
        stream = Stream(thread.address, config(model="photowct", work_long_side=48))
        assert stream.receive().ready.model == "photowct"
        stream.send_frame(0, encode_image(moving_square_frame(0), JPEG))
        answer = stream.receive().key_frame
        stream.close()
        assert answer.index == 0 and decode_image(answer.image).shape == moving_square_frame(0).shape
    finally:
        thread.stop()


def test_a_bad_weight_file_fails_at_start_up(tmp_path):
    (tmp_path / "bad.pth").write_bytes(b"junk")
    with pytest.raises(WeightsError, match="could not be read"):
        create_server("127.0.0.1", 0, weights={"photowct": str(tmp_path / "bad.pth")})


def two_label_mask(width: int = 96, height: int = 64) -> np.ndarray:
    """Top half label 7 (white), bottom half label 0 (black)."""
    mask = np.zeros((height, width, 3), np.uint8)
    mask[: height // 2] = 255
    return mask


def two_tone_style() -> np.ndarray:
    """A style photo whose top is cold blue and bottom warm orange (noise keeps it a photo)."""
    rng = np.random.default_rng(3)
    style = np.zeros((60, 80, 3), np.uint8)
    style[:30] = (40, 60, 200)
    style[30:] = (220, 120, 40)
    return np.clip(style + rng.integers(-12, 12, style.shape), 0, 255).astype(np.uint8)


def test_masks_give_each_label_the_look_of_the_same_label_in_the_style(stylizer_address):
    # The style's mask says: its top (blue) is label 0 and its bottom (orange) label 7, the reverse of
    # the content's: with masks, the content's top must turn orange and its bottom blue.
    style_mask = 255 - two_label_mask(80, 60)
    stream = Stream(
        stylizer_address,
        config(style=encode_image(two_tone_style(), PNG), style_mask=encode_image(style_mask, PNG)),
    )
    assert stream.receive().HasField("ready")
    frame = stylizer_pb2.KeyFrame(index=0, image=encode_image(textured_background(), PNG))
    frame.mask.CopyFrom(encode_image(two_label_mask(), PNG))
    stream.send(stylizer_pb2.StylizeRequest(key_frame=frame))
    out = decode_image(stream.receive().key_frame.image).astype(float)
    top, bottom = out[:32].mean(axis=(0, 1)), out[32:].mean(axis=(0, 1))
    assert top[0] > top[2] + 40 and bottom[2] > bottom[0] + 40, (top, bottom)
    stream.close()


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"strength": 1.5}, "strength"),
        ({"strength": float("nan")}, "strength"),
        ({"style_mask": media_pb2.EncodedImage(encoding=PNG, data=b"not a mask")}, "style mask"),
        ({"style_mask": encode_image(two_label_mask(200, 20), PNG)}, "style mask is 200x20"),
    ],
    ids=["strength-over-1", "strength-nan", "unreadable-style-mask", "style-mask-of-another-shape"],
)
def test_bad_strength_or_mask_is_invalid_argument(stylizer_address, overrides, words):
    with grpc.insecure_channel(stylizer_address) as channel:
        request = stylizer_pb2.StylizeRequest(config=config(**overrides))
        call = stylizer_pb2_grpc.StylizerStub(channel).Stylize(iter([request]), timeout=TIMEOUT)
        with pytest.raises(grpc.RpcError) as failure:
            list(call)
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT and words in failure.value.details()


def test_a_key_frame_mask_of_another_shape_is_invalid_argument(stylizer_address):
    stream = Stream(
        stylizer_address,
        config(style=encode_image(two_tone_style(), PNG), style_mask=encode_image(two_label_mask(80, 60), PNG)),
    )
    assert stream.receive().HasField("ready")
    frame = stylizer_pb2.KeyFrame(index=0, image=encode_image(textured_background(), PNG))
    frame.mask.CopyFrom(encode_image(two_label_mask(64, 96), PNG))  # portrait, for a landscape frame
    stream.send(stylizer_pb2.StylizeRequest(key_frame=frame))
    with pytest.raises(grpc.RpcError) as failure:
        stream.receive()
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "content mask is 64x96" in failure.value.details()
    stream.close()


def test_a_key_frame_mask_needs_a_style_mask(stylizer_address):
    stream = Stream(stylizer_address, config())
    stream.receive()
    frame = stylizer_pb2.KeyFrame(index=0, image=encode_image(textured_background(), PNG))
    frame.mask.CopyFrom(encode_image(two_label_mask(), PNG))
    stream.send(stylizer_pb2.StylizeRequest(key_frame=frame))
    with pytest.raises(grpc.RpcError) as failure:
        stream.receive()
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "style mask" in failure.value.details()
    stream.close()


def test_strength_moves_the_look_between_the_content_and_the_full_transfer(stylizer_address):
    content = textured_background()
    looks = []
    for strength in (0.0, 0.5, 1.0):
        stream = Stream(stylizer_address, config(style=encode_image(two_tone_style(), PNG), strength=strength))
        stream.receive()
        stream.send_frame(0, encode_image(content, PNG))
        looks.append(decode_image(stream.receive().key_frame.image).astype(float))
        stream.close()
    distance = [float(np.abs(look - content).mean()) for look in looks]
    assert distance[0] < 3 < distance[1] < distance[2], distance


@pytest.mark.parametrize(
    "settings, code, words",
    [
        (dict(response_encoding=99), grpc.StatusCode.INVALID_ARGUMENT, "response_encoding 99 is not a FrameEncoding"),
        (
            dict(response_encoding=RAW, output_width=7000, output_height=5000),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "raw answers of 7000x5000 are 100.1 MB, over the message limit of 64 MB",
        ),
    ],
    ids=["unknown encoding", "raw answers over the message limit"],
)
def test_an_answer_encoding_that_cannot_be_sent_is_refused_before_any_work(stylizer_address, settings, code, words):
    with grpc.insecure_channel(stylizer_address) as channel:
        request = stylizer_pb2.StylizeRequest(config=config(**settings))
        call = stylizer_pb2_grpc.StylizerStub(channel).Stylize(iter([request]), timeout=TIMEOUT)
        with pytest.raises(grpc.RpcError) as failure:
            list(call)  # no SessionReady: refused at the config
        assert failure.value.code() == code and words in failure.value.details()


def test_raw_answers_that_fit_a_message_are_sent(stylizer_address):
    stream = Stream(stylizer_address, config(response_encoding=RAW, output_width=96, output_height=64))
    try:
        stream.receive()
        stream.send_frame(0, encode_image(moving_square_frame(0), JPEG))
        image = stream.receive().key_frame.image
        assert (image.encoding, image.width, image.height, len(image.data)) == (RAW, 96, 64, 96 * 64 * 3)
    finally:
        stream.close()


def test_a_key_frame_of_an_unknown_encoding_is_refused(stylizer_address):
    stream = Stream(stylizer_address, config())
    try:
        stream.receive()
        image = encode_image(moving_square_frame(0), JPEG)
        image.encoding = 99
        stream.send_frame(0, image)
        with pytest.raises(grpc.RpcError) as failure:
            stream.receive()
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "image encoding 99 is not a FrameEncoding" in failure.value.details()
    finally:
        stream.close()


def test_a_jpeg_quality_over_100_is_invalid_argument(stylizer_address):
    with grpc.insecure_channel(stylizer_address) as channel:
        request = stylizer_pb2.StylizeRequest(config=config(jpeg_quality=2**31))
        call = stylizer_pb2_grpc.StylizerStub(channel).Stylize(iter([request]), timeout=TIMEOUT)
        with pytest.raises(grpc.RpcError) as failure:
            list(call)
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "jpeg_quality" in failure.value.details()
