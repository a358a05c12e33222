import asyncio
import json

import grpc

from benchmarks.load import main, percentile_ms
from mvstylizer_common.serving import add_health_and_reflection
from protos.mvstylizer.v1 import stylizer_pb2, stylizer_pb2_grpc
from services.stylizer import server as stylizer_server
from tests.servers import ServerThread

SLOW_OPEN_S = 1.0


class SlowOpeningStylizer(stylizer_pb2_grpc.StylizerServicer):
    """Takes SLOW_OPEN_S to open a session (as a style photo's analysis may), then answers each
    key frame at once with the frame itself."""

    async def Stylize(self, requests, context):
        async for request in requests:
            if request.HasField("config"):
                await asyncio.sleep(SLOW_OPEN_S)
                yield stylizer_pb2.StylizeResponse(ready=stylizer_pb2.SessionReady(session_id="slow", model="slow"))
                continue
            key = request.key_frame
            answer = stylizer_pb2.StylizedKeyFrame(index=key.index, pts=key.pts, image=key.image)
            yield stylizer_pb2.StylizeResponse(key_frame=answer)


def slow_opening_stylizer() -> ServerThread:
    def factory(host: str, port: int):
        server = grpc.aio.server()
        stylizer_pb2_grpc.add_StylizerServicer_to_server(SlowOpeningStylizer(), server)
        health = add_health_and_reflection(server, [stylizer_server.SERVICE_NAME])
        return server, server.add_insecure_port(f"{host}:{port}"), health

    return ServerThread(factory, stylizer_server.SERVICE_NAME)


def test_percentiles_in_milliseconds():
    assert percentile_ms([0.010, 0.020, 0.030], 50) == 20.0
    assert percentile_ms([], 99) is None


def test_a_short_open_loop_run_against_a_real_stylizer(stylizer_address, tmp_path):
    report_path = tmp_path / "load.json"
    main(
        [
            "--target", stylizer_address,
            "--streams", "2",
            "--rate", "4",
            "--duration", "1",
            "--drain", "20",
            "--size", "96x64",
            "--json", str(report_path),
        ]
    )  # fmt: skip
    report = json.loads(report_path.read_text())
    assert report["sent"] == 8  # 2 streams x 4 frames/s x 1 s, whatever the server does
    assert report["received"] == report["sent"] and report["lost"] == 0 and report["errors"] == {}
    latency = report["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert report["throughput_fps"] > 0
    assert len(report["samples"]) == report["received"]
    assert (tmp_path / "load.png").stat().st_size > 0


def test_an_unreachable_target_is_counted_as_an_error(tmp_path):
    report_path = tmp_path / "down.json"
    main(["--target", "127.0.0.1:1", "--streams", "1", "--rate", "5", "--duration", "0.4", "--drain", "1",
          "--json", str(report_path)])  # fmt: skip
    report = json.loads(report_path.read_text())
    assert report["received"] == 0 and report["errors"] == {"UNAVAILABLE": 1}


def test_opening_a_session_is_timed_apart_from_the_key_frames_latency(tmp_path):
    """The client sends key frames only once its session is open; so does the harness, and the
    time to open is reported on its own instead of landing on each stream's first key frames."""
    server = slow_opening_stylizer()
    try:
        report_path = tmp_path / "load.json"
        main(["--target", server.address, "--streams", "2", "--rate", "10", "--duration", "0.5", "--drain", "10",
              "--size", "96x64", "--json", str(report_path)])  # fmt: skip
    finally:
        server.stop()
    report = json.loads(report_path.read_text())
    assert report["received"] == report["sent"] == 10 and report["errors"] == {}
    assert report["latency_ms"]["max"] < 1e3 * SLOW_OPEN_S / 2, report["latency_ms"]
    assert report["session_open_ms"]["p50"] >= 1e3 * SLOW_OPEN_S * 0.9, report["session_open_ms"]
