"""The interpolator over real gRPC on a loopback port chosen by the OS."""

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mvstylizer_common.flowcodec import encode_confidence, encode_flow
from mvstylizer_common.imagecodec import PNG, decode_image, encode_image
from protos.mvstylizer.v1 import interpolator_pb2, interpolator_pb2_grpc
from services.interpolator.server import SERVICE_NAME
from tests.media import HEIGHT, WIDTH, textured_background

TIMEOUT = 60
ZERO = np.zeros((HEIGHT // 2, WIDTH // 2, 2), np.float32)


def req(**kind) -> interpolator_pb2.InterpolateRequest:
    return interpolator_pb2.InterpolateRequest(**kind)


def config(mode=interpolator_pb2.INTERPOLATION_MODE_OFFLINE):
    return req(config=interpolator_pb2.InterpolatorConfig(mode=mode, width=WIDTH, height=HEIGHT, output_encoding=PNG))


def key(index, value):
    stylized = encode_image(np.full((HEIGHT, WIDTH, 3), value, np.uint8), PNG)
    original = encode_image(textured_background(), PNG)
    return req(key=interpolator_pb2.StylizedKey(index=index, stylized=stylized, original=original))


def frame(index, prev_key, next_key=None, pts=None):
    request = interpolator_pb2.FrameRequest(index=index, pts=pts if pts is not None else index * 33, prev_key=prev_key)
    if index != prev_key:
        request.flow_to_prev.CopyFrom(encode_flow(ZERO, WIDTH, HEIGHT))
        request.confidence_prev.CopyFrom(encode_confidence(np.ones(ZERO.shape[:2], np.float32)))
        if next_key is not None:
            request.next_key = next_key
            request.flow_to_next.CopyFrom(encode_flow(ZERO, WIDTH, HEIGHT))
        request.original.CopyFrom(encode_image(textured_background(), PNG))
    return req(frame=request)


def run(address, requests):
    with grpc.insecure_channel(address) as channel:
        return list(interpolator_pb2_grpc.InterpolatorStub(channel).Interpolate(iter(requests), timeout=TIMEOUT))


def test_offline_stream_returns_one_frame_per_request_in_order(interpolator_address):
    requests = [config(), key(0, 20), frame(0, 0), key(4, 220)]
    requests += [frame(i, 0, 4) for i in (1, 2, 3)] + [frame(4, 4, pts=999)]
    answers = run(interpolator_address, requests)
    assert [a.frame.index for a in answers] == [0, 1, 2, 3, 4]
    assert [a.frame.pts for a in answers] == [0, 33, 66, 99, 999]
    means = [decode_image(a.frame.image).mean() for a in answers]
    np.testing.assert_allclose(means, [20, 70, 120, 170, 220], atol=2)


def test_live_stream_warps_forward_only(interpolator_address):
    requests = [config(interpolator_pb2.INTERPOLATION_MODE_LIVE), key(0, 90), frame(0, 0), frame(1, 0), frame(2, 0)]
    answers = run(interpolator_address, requests)
    assert [round(decode_image(a.frame.image).mean()) for a in answers] == [90, 90, 90]


@pytest.mark.parametrize(
    "requests",
    [
        [key(0, 1)],  # no config first
        [config(), frame(0, 0)],  # key never sent
        [config(), key(0, 1), frame(1, 0), frame(1, 0)],  # index repeated
        [config(), req(key=interpolator_pb2.StylizedKey(index=0, stylized=interpolator_pb2.StylizedKey().stylized))],
        [config(), req(key=interpolator_pb2.StylizedKey(index=0, stylized=encode_image(textured_background(), PNG)))],
    ],
    ids=["no-config", "unknown-key", "repeated-index", "empty-image", "key-without-original"],
)
def test_protocol_violations_are_invalid_argument(interpolator_address, requests):
    with pytest.raises(grpc.RpcError) as failure:
        run(interpolator_address, requests)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_corrupt_flow_is_invalid_argument_and_the_server_keeps_serving(interpolator_address):
    broken = frame(1, 0)
    broken.frame.flow_to_prev.data = b"\x01\x02\x03"
    with pytest.raises(grpc.RpcError) as failure:
        run(interpolator_address, [config(), key(0, 5), broken])
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(run(interpolator_address, [config(), key(0, 5), frame(0, 0)])) == 1


def test_health(interpolator_address):
    with grpc.insecure_channel(interpolator_address) as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME)).status
    assert status == health_pb2.HealthCheckResponse.SERVING


def sized_config(width, height, **fields):
    return req(config=interpolator_pb2.InterpolatorConfig(width=width, height=height, output_encoding=PNG, **fields))


@pytest.mark.parametrize(
    ("width", "height", "code"),
    [
        (12000, 10000, grpc.StatusCode.RESOURCE_EXHAUSTED),  # 120 Mpx: 4.9 GiB once frames come
        (65535, 65535, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (0, 0, grpc.StatusCode.INVALID_ARGUMENT),
        (0, HEIGHT, grpc.StatusCode.INVALID_ARGUMENT),
        (2**32 - 1, 2**32 - 1, grpc.StatusCode.INVALID_ARGUMENT),
        (2**32 - 1, 1, grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_output_sizes_are_bounded_at_the_config(interpolator_address, width, height, code):
    """Refused at the config, before a key frame (which would be resized to the output size) is taken."""
    with pytest.raises(grpc.RpcError) as failure:
        run(interpolator_address, [sized_config(width, height), key(0, 5)])
    assert failure.value.code() == code
    assert len(run(interpolator_address, [config(), key(0, 5), frame(0, 0)])) == 1


def test_an_absurd_jpeg_quality_is_invalid_argument(interpolator_address):
    with pytest.raises(grpc.RpcError) as failure:
        run(interpolator_address, [sized_config(WIDTH, HEIGHT, jpeg_quality=2**32 - 1), key(0, 5), frame(0, 0)])
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("scale", [0.0, float("nan"), float("inf")], ids=["zero", "nan", "inf"])
def test_a_flow_scale_that_is_no_step_is_invalid_argument_about_the_scale(interpolator_address, scale):
    broken = frame(1, 0)
    broken.frame.flow_to_prev.scale = scale
    with pytest.raises(grpc.RpcError) as failure:
        run(interpolator_address, [config(), key(0, 5), broken])
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "scale" in failure.value.details() and "bytes" not in failure.value.details()


def test_flow_grids_over_the_pixel_limit_are_resource_exhausted(interpolator_address):
    broken = frame(1, 0)
    broken.frame.flow_to_prev.grid_width = broken.frame.flow_to_prev.grid_height = 20_000
    with pytest.raises(grpc.RpcError) as failure:
        run(interpolator_address, [config(), key(0, 5), broken])
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
