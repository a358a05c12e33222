"""benchmarks.web: its pure parts (web.json's keys, the every-frame bytes, matching frames to the
source's, the fidelity figures), and one short run of the page keeping every other frame."""

from __future__ import annotations

import os

import av
import cv2
import numpy as np
import pytest

from benchmarks import web
from benchmarks.browser import CHROMIUM
from benchmarks.live import mean_delta_e
from mvstylizer_common.imagecodec import write_image_file
from tests.media import textured_background

PAGE_STATS = {
    "running": True,
    "source": {"kind": "camera", "width": 640, "height": 360},
    "frames_captured": 300,
    "frames_presented": 300,
    "frames_rendered": 300,
    "dropped": 0,
    "fps_rendered": 29.97123,
    "device_ms_p50": 12.3456,
    "device_ms_p99": 30.1,
    "key_frames": 12,
    "keys_answered": 11,
    "methods": {"interpolated": 290},
    "bytes_up_per_s": 12345.678,
    "bytes_down_per_s": 2345.6,
}
FIDELITY = {"median_dE": 2.5, "p99_dE": 7.0, "flash_frames": 0}


def textured(seed: int, width: int = 160, height: int = 96) -> np.ndarray:
    return textured_background(width, height, seed=seed)


def test_web_json_holds_exactly_the_documented_keys_in_order():
    report = web.web_report(PAGE_STATS, FIDELITY, 1000.04)
    assert list(report) == list(web.WEB_KEYS)
    assert report["frames_captured"] == 300 and report["key_frames"] == 12
    assert report["fps_rendered"] == pytest.approx(29.97, abs=0.005)
    assert report["median_dE"] == 2.5 and report["bytes_every_frame_per_s"] == pytest.approx(1000.0, abs=0.05)


def test_web_json_refuses_stats_that_lack_a_key():
    stats = {k: v for k, v in PAGE_STATS.items() if k != "device_ms_p99"}
    with pytest.raises(ValueError, match="device_ms_p99"):
        web.web_report(stats, FIDELITY, 1.0)


def test_every_frame_bytes_are_each_frame_as_a_key_jpeg_at_the_key_size_times_the_rate():
    frames = [textured(seed, 1280, 720) for seed in range(3)]

    def key_jpeg(rgb: np.ndarray, quality: int) -> int:
        small = cv2.resize(rgb, (640, 360), interpolation=cv2.INTER_AREA)
        _, data = cv2.imencode(".jpg", small[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        return len(data)

    expected = sum(key_jpeg(f, 90) for f in frames) / 3 * 30
    assert web.bytes_every_frame_per_s(frames, 30) == pytest.approx(expected)
    assert web.bytes_every_frame_per_s(frames, 15) == pytest.approx(expected / 2)
    # A lower quality costs fewer bytes: the quality is the one asked for.
    assert web.bytes_every_frame_per_s(frames, 30, quality=50) < expected


def test_frames_smaller_than_the_key_size_are_sent_as_they_are():
    frame = textured(7, 320, 180)
    _, data = cv2.imencode(".jpg", frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert web.bytes_every_frame_per_s([frame], 10) == pytest.approx(len(data) * 10)


def test_each_captured_frame_is_matched_to_the_source_frame_it_was_made_from():
    sources = [textured(seed) for seed in range(12)]
    rng = np.random.default_rng(0)
    played = [5, 6, 8, 11, 0, 1, 3]  # starting anywhere, skipping some, looping
    captured = []
    for i in played:  # as the page grabs them: smaller, and a little noisy
        small = cv2.resize(sources[i], (96, 58), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        captured.append(np.clip(small + rng.normal(0, 4, small.shape), 0, 255).astype(np.uint8))
    assert web.match_frames(captured, sources) == played
    assert web.match_frames([], sources) == []


def test_fidelity_is_live_modes_measure_and_counts_a_frame_with_another_look_as_a_flash():
    reference = [textured(seed) for seed in range(20)]
    rng = np.random.default_rng(1)
    shown = [np.clip(r + rng.integers(-3, 4, r.shape), 0, 255).astype(np.uint8) for r in reference]
    shown[7] = np.clip(reference[7].astype(np.int16) + np.array([80, -40, -60]), 0, 255).astype(np.uint8)
    figures = web.fidelity(shown, reference)
    deviations = [mean_delta_e(a, b) for a, b in zip(shown, reference, strict=True)]
    assert figures["median_dE"] == pytest.approx(np.median(deviations), abs=1e-3)
    assert figures["p99_dE"] == pytest.approx(np.percentile(deviations, 99), abs=1e-3)
    assert figures["flash_frames"] == 1
    assert web.fidelity(reference, reference) == {"median_dE": 0.0, "p99_dE": 0.0, "flash_frames": 0}


def test_the_page_keeps_about_the_asked_number_of_frames_within_its_memory_cap():
    assert web.keep_interval(300, 60, 200, 640, 360) == 5
    assert web.keep_interval(300, 60, 200, 1920, 1080) == 10  # 200 MB holds 32 frames of 1080p
    assert web.keep_interval(10, 60, 200, 640, 360) == 1


def test_the_fake_camera_gets_the_video_scaled_to_the_size_in_4_2_0(tmp_path):
    clip = tmp_path / "clip.mp4"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        for seed in range(6):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(textured(seed), format="rgb24")))
        out.mux(stream.encode())
    frames = web.source_frames(clip, 64, 48, 4)
    assert len(frames) == 4 and (frames[0].width, frames[0].height) == (64, 48)
    y4m = web.write_y4m(frames, tmp_path / "camera.y4m", 30)
    data = y4m.read_bytes()
    header = b"YUV4MPEG2 W64 H48 F30:1 Ip A1:1 C420jpeg\n"
    assert data.startswith(header)
    assert len(data) == len(header) + 4 * (len(b"FRAME\n") + 64 * 48 * 3 // 2)


@pytest.mark.skipif(CHROMIUM is None and os.environ.get("CI") != "true", reason="chromium is not installed")
def test_the_page_keeps_every_nth_frame_with_its_source_which_matches_the_frame_played(tmp_path):
    pytest.importorskip("playwright.sync_api")
    rgb = [np.roll(textured(0), 6 * i, axis=1) for i in range(40)]  # a pan: each frame its own
    frames = [av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p") for f in rgb]
    y4m = web.write_y4m(frames, tmp_path / "camera.y4m", 30)
    style = tmp_path / "warm.png"
    write_image_file(str(style), np.clip(textured(3) * np.array([1.2, 0.8, 0.5]), 0, 255).astype(np.uint8))
    stats, kept, trace = web.run_page(y4m, style, 3.0, keep_every=2)
    assert stats["frames_rendered"] >= 4
    assert kept and all(k["index"] % 2 == 0 for k in kept)
    assert len(kept) >= stats["frames_rendered"] // 2  # (the page goes on a moment after the stats)
    shown = [web.decode_image(k["pixels"]) for k in kept]
    assert all(image.shape == (96, 160, 3) for image in shown)
    sources = [web.decode_image(k["source"]) for k in kept]
    matched = web.match_frames(sources, [f.to_ndarray(format="rgb24") for f in frames])
    # Each kept source is the frame played: it is closer to its match than to any other frame.
    for source, index in zip(sources, matched, strict=True):
        h, w = source.shape[:2]
        own = cv2.resize(rgb[index], (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
        assert np.abs(own - source).mean() < 8

    # Every rendered frame is traced with its look and a thumbnail that finds its source frame.
    assert [t["index"] for t in trace] == list(range(len(trace))) and len(trace) >= stats["frames_rendered"]
    thumbs = [web.decode_image(t["thumb"]) for t in trace]
    traced = web.match_frames(thumbs, rgb)
    for t, index in zip(trace, traced, strict=True):
        if t["index"] % 2 == 0:
            assert index == matched[t["index"] // 2]  # the kept frame's own match
    # The look from the plan is the mean of the frame shown, where the page read it back.
    assert web.shown_mean_gap(trace) <= 1.5


def test_a_rendered_frame_whose_look_jumps_beyond_the_references_jump_between_its_sources_is_a_pop():
    shown = np.array([[100.0, 100, 100]] * 8)
    shown[4:] += [4, 4, 4]  # a jump of 12 at frame 4
    shown[6:] += [10, 0, 0]  # a jump of 10 at frame 6
    matched = [0, 1, 2, 3, 5, 6, 7, 8]  # frame 4 of the source was dropped
    reference = np.array([[80.0, 90, 100]] * 9)
    reference[7:] += [9, 0, 0]  # the reference's own jump of 9 between source 6 and 7 (frame 6)
    pops = web.page_pops(shown, matched, reference)
    assert pops["pops"] == 1
    assert pops["pop_frames"] == [{"frame": 4, "source_frame": 5, "jump": 12.0, "reference_jump": 0.0}]
    # The same jump in the reference (the source cuts there) is no pop.
    reference[5:] += [4, 4, 4]
    assert web.page_pops(shown, matched, reference)["pops"] == 0
