"""Live mode: sources, every captured frame out once, the stylizer lost and back, the closed form."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks.live import free_port
from client.live.engine import LiveEngine, LiveOptions
from client.live.job import LiveJob, run_live
from client.live.link import StylizerLink
from client.media.capture import CameraSource, FrameMailbox, PacedFileSource
from client.remote.embedded import ServiceProcess
from client.remote.services import ServiceOptions
from client.remote.stylizer import StylizerOptions, open_channel
from mvstylizer_common.errors import InvalidInputError
from mvstylizer_common.imagecodec import load_image_file, write_image_file
from tests.media import decode_all, encode_clip, moving_square_frame, style_photo, textured_background
from tests.processes import services_started_by, thread_niceness
from tests.waiting import wait_until

LIVE_STYLIZER = StylizerOptions(max_in_flight=1, label="live")


def warm_style(path) -> str:
    write_image_file(str(path), style_photo())
    return str(path)


def test_mailbox_drops_the_oldest_frame_and_counts_it():
    from client.media.frames import SourceFrame

    box = FrameMailbox(capacity=2)
    for index in range(3):
        box.put(SourceFrame(index, 0, np.zeros((2, 2, 3), np.uint8)), "consumer behind")
    assert box.dropped == {"consumer behind": 1}
    assert [box.get(0).index, box.get(0).index] == [1, 2]
    box.close()
    assert box.get(0) is None and box.closed


def test_paced_file_source_releases_frames_at_their_own_rate(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(encode_clip([moving_square_frame(i) for i in range(15)], rate=30))
    source = PacedFileSource(str(clip))
    assert (source.width, source.height) == (96, 64) and source.fps == pytest.approx(30, rel=0.02)
    source.start()
    frames = []
    while (frame := source.mailbox.get(timeout=5)) is not None:
        frames.append(frame)
    assert [f.index for f in frames] == list(range(15))
    # 15 frames at 30 fps: the last is released about half a second after the first, not at once.
    assert 0.4 <= frames[-1].captured_at - frames[0].captured_at <= 1.5
    assert frames[-1].pts_s == pytest.approx(14 * 0.033, abs=1e-3)  # the clip ticks in whole milliseconds


def test_a_camera_reader_keeps_only_the_newest_frame(tmp_path):
    # VideoCapture on a file delivers frames as fast as it decodes: a consumer that waits loses
    # frames, each one counted, instead of falling behind.
    clip = tmp_path / "camera.mp4"
    clip.write_bytes(encode_clip([moving_square_frame(i % 30) for i in range(60)], rate=30))
    source = CameraSource(str(clip))
    source.start()
    taken = []
    while (frame := source.mailbox.get(timeout=5)) is not None:
        taken.append(frame.index)
        time.sleep(0.02)
    dropped = source.mailbox.dropped
    assert set(dropped) <= {"camera overrun"}
    assert len(taken) + dropped["camera overrun"] == source.captured == 60
    assert dropped["camera overrun"] > 0 and taken == sorted(taken)


def test_a_camera_that_does_not_open_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidInputError, match="could not be opened"):
        CameraSource(str(tmp_path / "no-such-camera.mp4"))


def _edge_server(port: int | None = None) -> ServiceProcess:
    """A stylizer in its own process, at a lower CPU priority: on the edge it has its own machine,
    and here its start-up (torch import, weights) must not starve the device's capture."""
    server = ServiceProcess("services.stylizer", ["--port", str(port)] if port else None)
    server.lower_priority(10)
    return server


@pytest.fixture(scope="module")
def stylizer_service():
    """The stylizer in its own process, as live mode meets it: in this process it would share the
    interpreter lock with the engine, and its work would stall capture (frames then drop)."""
    service = _edge_server()
    yield service.address
    service.stop()


def test_every_captured_frame_comes_out_once_in_order(stylizer_service, tmp_path):
    out = tmp_path / "live.mp4"
    job = LiveJob(
        style=warm_style(tmp_path / "style.png"),
        source="synthetic",
        size=(192, 108),
        fps=30.0,
        seconds=3.0,
        output=str(out),
        services=ServiceOptions(stylizer=stylizer_service),
    )
    report = run_live(job)
    assert report["captured"] == 90
    assert report["output"] == report["captured"] and report["dropped"] == 0
    assert report["key_frames_answered"] > 0
    assert report["frames_by_method"].get("interpolated", 0) > 0
    assert report["latency_ms"]["p50"] is not None and report["latency_ms"]["p50"] > 0
    frames, pts, _, _ = decode_all(str(out))
    assert len(frames) == 90 and pts == sorted(pts) and len(set(pts)) == 90


def test_frames_keep_coming_while_the_stylizer_is_away_and_full_quality_returns(tmp_path):
    port = free_port()
    first = _edge_server(port)
    first.wait_listening()
    events: dict = {}
    engine_ready = threading.Event()
    stop = threading.Event()

    def started(engine, _url):
        events["engine"] = engine
        engine_ready.set()

    job = LiveJob(
        style=warm_style(tmp_path / "style.png"),
        source="synthetic",
        size=(192, 108),
        fps=30.0,
        seconds=60.0,  # a cap: the test stops the job once the stylizer is back and answering
        services=ServiceOptions(stylizer=f"127.0.0.1:{port}"),
        # A roomy backlog (2 s): on a slow shared runner a drop then means the engine stalled on
        # the outage, not that the machine was briefly short of time.
        options=LiveOptions(fallback_after_s=0.5, capture_backlog=60),
    )
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(report=run_live(job, on_started=started, stop=stop)))
    runner.start()
    try:
        assert engine_ready.wait(30)
        stats = events["engine"].stats
        assert wait_until(lambda: stats.key_frames_answered > 0, 20), "no key frame answered before the outage"
        time.sleep(0.5)
        first.process.kill()  # gone at once, as a crashed server is
        first.process.wait()
        first.stop()
        events["stopped"] = time.perf_counter()
        time.sleep(2.0)
        second = _edge_server(port)
        try:
            second.wait_listening()
            events["restarted"] = time.perf_counter()
            answered_again = wait_until(lambda: any(t > events["restarted"] for t in stats.answer_times), 20)
            time.sleep(0.5)  # a few frames made from the fresh key
        finally:
            stop.set()
            runner.join(60)
            second.stop()
    finally:
        stop.set()
        first.stop()
    report = result["report"]
    assert report["dropped"] == 0 and report["output"] == report["captured"] > 90
    assert report["frames_by_method"].get("closed form", 0) > 0, report["frames_by_method"]
    assert answered_again, "no stylized key frame after the stylizer came back"
    after_restart = [t for t in stats.answer_times if t > events["restarted"]]
    assert after_restart[0] - events["restarted"] < 2.0
    # Full quality returns with the first fresh answer, not with the old key once the link is up.
    back = [t for t, how in stats.method_changes if how == "interpolated" and t > events["stopped"]]
    assert back and back[0] >= after_restart[0]
    assert not [t for t in stats.answer_times if events["stopped"] + 0.2 < t < events["restarted"]]


def test_stopping_early_still_outputs_every_captured_frame(stylizer_service, tmp_path):
    stop = threading.Event()
    job = LiveJob(
        style=warm_style(tmp_path / "style.png"),
        source="synthetic",
        size=(192, 108),
        fps=30.0,
        services=ServiceOptions(stylizer=stylizer_service),
    )
    threading.Timer(1.5, stop.set).start()
    report = run_live(job, stop=stop)
    assert report["captured"] > 20
    assert report["output"] == report["captured"] and report["dropped"] == 0


class _RecordingSink:
    accepts_i420 = False

    def __init__(self):
        self.frames = []

    def write(self, frame) -> None:
        self.frames.append(frame)

    def close(self) -> None:
        pass


def test_after_a_hard_cut_frames_come_from_the_new_shot_never_the_old_maps(stylizer_service, tmp_path):
    """A warm shot cut to a cold one: from the cut until the new shot's first key is answered, frames
    are made in closed form on the new shot; the previous shot's maps make none of them."""
    warm = [moving_square_frame(i) for i in range(45)]
    cold = [np.ascontiguousarray(textured_background(seed=7)[..., ::-1]) for _ in range(45)]
    clip = tmp_path / "cut.mp4"
    clip.write_bytes(encode_clip(warm + cold, rate=30))
    link = StylizerLink(
        open_channel(stylizer_service), load_image_file(warm_style(tmp_path / "style.png"))[0], LIVE_STYLIZER
    )
    sink = _RecordingSink()
    try:
        # A roomy backlog: this test is about cuts, not about a slow machine dropping frames.
        engine = LiveEngine(PacedFileSource(str(clip), capacity=64), link, style_photo(), [sink])
        engine.run()
    finally:
        link.close()
    methods = [frame.method for frame in sink.frames]
    assert [frame.index for frame in sink.frames] == list(range(90))
    assert engine.stats.cuts == 1
    assert "interpolated" in methods[:45], methods[:45]
    # The first frame of the new shot, and every frame after it until its own key, in closed form.
    after_cut = methods[45:]
    first_interpolated = after_cut.index("interpolated")
    assert first_interpolated > 0
    assert set(after_cut[:first_interpolated]) == {"closed form (new shot)"}, after_cut
    assert engine.report()["frames_by_method"]["closed form (new shot)"] == first_interpolated


def test_the_capture_backlog_is_the_paced_sources_and_is_checked():
    job = LiveJob(style="s.png", source="synthetic", size=(64, 36), options=LiveOptions(capture_backlog=30))
    from client.live.job import open_source

    assert open_source(job).mailbox.capacity == 30
    with pytest.raises(InvalidInputError, match="capture backlog 0"):
        LiveOptions(capture_backlog=0).check()


class _FailingSink(_RecordingSink):
    """A recording whose disk fills up at frame `fail_at`."""

    def __init__(self, fail_at: int):
        super().__init__()
        self.fail_at = fail_at

    def write(self, frame) -> None:
        if frame.index == self.fail_at:
            raise OSError(28, "No space left on device")
        super().write(frame)


def test_a_sink_that_fails_stops_the_run_with_its_error_instead_of_hanging(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(encode_clip([moving_square_frame(i) for i in range(90)], rate=30))
    sink = _FailingSink(fail_at=5)
    engine = LiveEngine(PacedFileSource(str(clip), capacity=90), None, style_photo(), [sink])
    result: dict = {}

    def run() -> None:
        try:
            engine.run()
        except OSError as error:
            result["error"] = error

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(20)
    assert not runner.is_alive(), "the engine kept waiting on a dead output stage"
    assert "No space left" in str(result.get("error"))
    assert [frame.index for frame in sink.frames] == list(range(5))


def test_the_stylizer_niceness_is_checked():
    LiveOptions(stylizer_niceness=19).check()
    with pytest.raises(InvalidInputError, match="niceness 20"):
        LiveOptions(stylizer_niceness=20).check()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads priorities from /proc")
def test_a_live_job_starts_its_own_stylizer_below_itself_on_the_cpu(tmp_path):
    seen = {}
    others = set(services_started_by(os.getpid()))  # other tests' stylizers, at their own priority

    def on_started(_engine, _url) -> None:
        (stylizer,) = set(services_started_by(os.getpid())) - others
        seen["niceness"] = thread_niceness(stylizer)

    job = LiveJob(
        style=warm_style(tmp_path / "style.png"),
        source="synthetic",
        size=(64, 36),
        seconds=0.5,
        options=LiveOptions(stylizer_niceness=7, capture_backlog=30),
    )
    run_live(job, on_started=on_started)
    assert seen["niceness"] == {min(19, os.getpriority(os.PRIO_PROCESS, 0) + 7)}


def test_a_source_that_fails_to_start_leaves_no_engine_thread_behind(tmp_path, monkeypatch):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(encode_clip([moving_square_frame(i) for i in range(5)], rate=30))
    source = PacedFileSource(str(clip))

    def start() -> None:
        raise OSError("camera unplugged")

    monkeypatch.setattr(source, "start", start)
    engine = LiveEngine(source, None, style_photo(), [_RecordingSink()])
    with pytest.raises(OSError, match="camera unplugged"):
        engine.run()
    left = [t.name for t in threading.enumerate() if t.name in ("live-render", "live-output") and t.is_alive()]
    assert left == []
