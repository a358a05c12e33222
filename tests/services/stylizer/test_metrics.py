import time
import urllib.request

import grpc
import pytest

from mvstylizer_common.imagecodec import JPEG, encode_image
from protos.mvstylizer.v1 import media_pb2
from services.stylizer.metrics import StylizerMetrics
from services.stylizer.server import SERVICE_NAME, create_server
from tests.media import moving_square_frame
from tests.servers import ServerThread
from tests.services.stylizer.test_server import Stream, config


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_metrics_count_sessions_key_frames_latency_and_errors():
    metrics = StylizerMetrics()
    thread = ServerThread(lambda host, port: create_server(host, port, metrics=metrics), SERVICE_NAME)
    try:
        port = metrics.serve("127.0.0.1", 0)
        before = scrape(port)
        assert before["mvs_stylizer_sessions_total"] == 0 and before["mvs_stylizer_active_sessions"] == 0
        stream = Stream(thread.address, config())
        stream.receive()
        for index in (0, 1, 2):
            stream.send_frame(index, encode_image(moving_square_frame(index), JPEG))
        for _ in range(3):
            stream.receive()
        assert scrape(port)["mvs_stylizer_active_sessions"] == 1
        stream.close()
        wait_until(lambda: scrape(port)["mvs_stylizer_active_sessions"] == 0)
        bad = Stream(thread.address, config())
        bad.receive()
        bad.send_frame(0, media_pb2.EncodedImage(encoding=JPEG, data=b"not a jpeg"))
        with pytest.raises(grpc.RpcError) as failure:
            bad.receive()
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        bad.close()
        wait_until(lambda: scrape(port)["mvs_stylizer_active_sessions"] == 0)
        after = scrape(port)
    finally:
        thread.stop()
    assert after["mvs_stylizer_sessions_total"] == 2
    assert after["mvs_stylizer_key_frames_total"] == 3
    assert after["mvs_stylizer_key_frame_seconds_count"] == 3 and after["mvs_stylizer_key_frame_seconds_sum"] > 0
    assert after['mvs_stylizer_errors_total{code="INVALID_ARGUMENT"}'] == 1
    assert after["mvs_stylizer_queue_depth"] == 0
    # Every key frame ran in exactly one batch, however the three were grouped.
    assert after["mvs_stylizer_batch_size_sum"] == 3 and 1 <= after["mvs_stylizer_batch_size_count"] <= 3
