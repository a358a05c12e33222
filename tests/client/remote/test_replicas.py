"""Two stylizer replicas behind one target: sessions spread over both, and a video survives one dying."""

from __future__ import annotations

import signal
import time

import grpc

from client.remote.embedded import ServiceProcess
from client.remote.services import INPROC, ServiceOptions
from client.remote.stylizer import StylizerOptions, StylizerSession, open_channel, retry_delay
from client.video.job import VideoJob, stylize_video
from mvstylizer_common.imagecodec import PNG, encode_image, write_image_file
from tests.media import decode_all, encode_clip, moving_square_frame, style_photo

FRAMES = 90


def replicas(count: int = 2) -> list[ServiceProcess]:
    services = [ServiceProcess("services.stylizer") for _ in range(count)]
    for service in services:
        service.wait_listening()
    return services


def target_of(services: list[ServiceProcess]) -> str:
    return "ipv4:" + ",".join(service.address for service in services)


def test_sessions_are_spread_over_the_replicas():
    services = replicas()
    try:
        channel = open_channel(target_of(services))
        style = encode_image(style_photo(), PNG)
        seen = set()
        sessions = []
        deadline = time.monotonic() + 30
        while len(seen) < 2 and time.monotonic() < deadline:
            session = StylizerSession(channel, style, StylizerOptions())
            sessions.append(session)
            seen.add(session.ready.server_id)
        assert len(seen) == 2, f"every session went to {seen}"
        pids = {str(service.process.pid) for service in services}
        assert {server_id.rsplit(":", 1)[1] for server_id in seen} == pids
        for session in sessions:
            session.close()
        channel.close()
    finally:
        for service in services:
            service.stop()


def test_a_video_completes_when_its_replica_is_killed_mid_stream(tmp_path):
    frames = [moving_square_frame(i % 40, width=160, height=96) for i in range(FRAMES)]
    clip = tmp_path / "in.mp4"
    clip.write_bytes(encode_clip(frames))
    style = tmp_path / "style.png"
    write_image_file(str(style), style_photo())
    out = tmp_path / "out.mp4"
    services = replicas()
    killed: list[ServiceProcess] = []

    def kill_the_serving_replica(written: int, total: int) -> None:
        if written == 30 and not killed:
            # The replica that logged this video's session is the one to kill.
            serving = next(s for s in services if "label=in.mp4" in s.log_tail(50))
            serving.process.send_signal(signal.SIGKILL)
            serving.process.wait()
            killed.append(serving)

    try:
        job = VideoJob(
            str(clip),
            str(style),
            str(out),
            ServiceOptions(stylizer=target_of(services), interpolator=INPROC),
            keyframes="fixed",
            key_interval=3,
        )
        metrics = stylize_video(job, on_frame=kill_the_serving_replica)
    finally:
        for service in services:
            service.stop()
    assert killed, "no replica was killed"
    assert metrics["frames_in"] == metrics["frames_out"] == FRAMES
    assert metrics["stylizer_reconnects"] >= 1
    survivor = next(s for s in services if s is not killed[0])
    assert metrics["stylizer_server"].endswith(f":{survivor.process.pid}")
    written, pts, _, _ = decode_all(str(out))
    assert len(written) == FRAMES and pts == sorted(pts)


class _Error(grpc.RpcError):
    def __init__(self, code, metadata=()):
        self._code, self._metadata = code, metadata

    def code(self):
        return self._code

    def trailing_metadata(self):
        return self._metadata


def test_only_errors_a_retry_can_mend_are_retried():
    assert retry_delay(_Error(grpc.StatusCode.UNAVAILABLE)) == 0.0
    assert retry_delay(_Error(grpc.StatusCode.RESOURCE_EXHAUSTED, (("mvs-retry-after-ms", "250"),))) == 0.25
    # Too big is too big on every replica; a bad frame is bad everywhere.
    assert retry_delay(_Error(grpc.StatusCode.RESOURCE_EXHAUSTED)) is None
    assert retry_delay(_Error(grpc.StatusCode.INVALID_ARGUMENT)) is None
