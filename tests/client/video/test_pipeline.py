"""Whole videos through the real services on loopback (servers in this process, client threads)."""

from fractions import Fraction

import numpy as np
import pytest

from client.device.interpolation import LocalInterpolator
from client.device.keyframes import FixedIntervalSelector
from client.media.frames import OutputFrame
from client.media.source import VideoSource
from client.remote.services import INPROC, ServiceOptions
from client.video import pipeline as pipeline_module
from client.video.job import VideoJob, stylize_video
from client.video.pipeline import KeyFramePipeline, PipelineOptions
from mvstylizer_common.imagecodec import PNG, encode_image
from services.interpolator.session import LIVE, OFFLINE
from tests.media import (
    decode_all,
    encode_clip,
    moving_square_frame,
    square_centroid_x,
    style_photo,
    textured_background,
)

FRAMES = 23  # not a multiple of the key interval: the last frame closes the video as a key
STEP = 2


@pytest.fixture(scope="module")
def clip_and_style(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pipeline")
    clip = folder / "clip.mp4"
    clip.write_bytes(encode_clip([moving_square_frame(i, step=STEP) for i in range(FRAMES)]))
    style = folder / "style.png"
    style.write_bytes(encode_image(style_photo(), PNG).data)
    return str(clip), str(style)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def check_output(path: str, expected_frames: int = FRAMES) -> None:
    frames, pts, time_base, _ = decode_all(path)
    assert len(frames) == expected_frames
    assert frames[0].shape == (64, 96, 3)
    assert [p * time_base for p in pts] == [Fraction(i, 25) for i in range(expected_frames)]
    # Order and motion: the square sits where the source put it in every frame.
    for index, frame in enumerate(frames):
        assert abs(square_centroid_x(frame) - (4 + STEP * index + 5.5)) < 1.5, index


@pytest.mark.parametrize(
    ("mode", "interval", "interpolator"),
    [(OFFLINE, 5, "grpc"), (LIVE, 5, "grpc"), (OFFLINE, 1, "grpc"), (OFFLINE, 4, INPROC)],
    ids=["offline", "live", "frame-by-frame", "in-process"],
)
def test_every_frame_comes_out_once_in_order_with_its_timing(
    tmp_path, clip_and_style, stylizer_address, interpolator_address, mode, interval, interpolator
):
    clip, style = clip_and_style
    out = tmp_path / "out.mp4"
    services = ServiceOptions(
        stylizer=stylizer_address, interpolator=interpolator_address if interpolator == "grpc" else INPROC
    )
    job = VideoJob(clip, style, str(out), services, keyframes="fixed", key_interval=interval, mode=mode)
    metrics = stylize_video(job)
    assert metrics["frames_in"] == metrics["frames_out"] == FRAMES
    # Offline closes the video with a key frame so every frame has a next key; live never looks ahead.
    closing_key = mode == OFFLINE and (FRAMES - 1) % interval != 0
    expected_keys = len(range(0, FRAMES, interval)) + closing_key
    assert metrics["key_frames"] == expected_keys
    check_output(str(out))


def test_adaptive_key_frames_and_a_hard_cut(tmp_path, clip_and_style, stylizer_address):
    """Two shots: the cut and the frame before it are key frames, and every frame still comes out in place."""
    _, style = clip_and_style
    first = [moving_square_frame(i, step=STEP) for i in range(12)]
    second = [np.ascontiguousarray(255 - moving_square_frame(i, step=STEP)[:, ::-1]) for i in range(12, FRAMES)]
    clip = tmp_path / "cut.mp4"
    clip.write_bytes(encode_clip(first + second))
    out = tmp_path / "out.mp4"
    services = ServiceOptions(stylizer=stylizer_address, interpolator=INPROC)
    metrics = stylize_video(VideoJob(str(clip), style, str(out), services, keyframes="auto", max_gap=8))
    assert metrics["frames_out"] == FRAMES
    assert metrics["key_reasons"].get("cut") == 1 and metrics["key_reasons"].get("shot end") == 1
    frames, _, _, _ = decode_all(str(out))
    assert len(frames) == FRAMES
    # Frames just before the cut look like their neighbours in the same shot; blending in the next
    # shot's colour maps (fitted on inverted content) would throw their colours far off.
    for index in (8, 9, 10):
        assert psnr(frames[index], frames[index + 1]) > 24, index


class _TintingStylizer:
    """A stand-in stylizer that records the key frames' sizes and warms them (red up, blue down)."""

    def __init__(self):
        self.sizes: list[tuple[int, int]] = []
        self._results: dict[int, np.ndarray] = {}

    def submit(self, index: int, pts: int, rgb: np.ndarray) -> None:
        self.sizes.append((rgb.shape[1], rgb.shape[0]))
        warm = rgb.astype(np.int16) + np.array([40, 0, -40], np.int16)
        self._results[index] = np.clip(warm, 0, 255).astype(np.uint8)

    def result(self, index: int, timeout: float | None = None) -> np.ndarray:
        return self._results.pop(index)

    def close(self) -> None:
        pass

    def cancel(self) -> None:
        pass


class _ListSink:
    def __init__(self):
        self.frames: list[np.ndarray] = []

    accepts_i420 = False

    def write(self, frame: OutputFrame) -> None:
        self.frames.append(frame.image)


@pytest.mark.parametrize("key_long_side", [0, 48])
def test_key_frames_travel_small_and_frames_come_out_full_size(clip_and_style, key_long_side):
    """Shrunk key frames (as offline runs send them) still give full-size frames in the key's look."""
    clip, _ = clip_and_style
    stylizer, sink = _TintingStylizer(), _ListSink()
    with VideoSource(clip) as source:
        pipeline = KeyFramePipeline(
            source,
            sink,
            stylizer,
            LocalInterpolator(OFFLINE, 96, 64),
            FixedIntervalSelector(5),
            PipelineOptions(mode=OFFLINE, key_long_side=key_long_side),
        )
        pipeline.run()
    expected = (48, 32) if key_long_side else (96, 64)
    assert stylizer.sizes and set(stylizer.sizes) == {expected}
    frames, _, _, _ = decode_all(clip)
    assert len(sink.frames) == len(frames) == FRAMES
    for made, original in zip(sink.frames, frames, strict=True):
        assert made.shape == original.shape
        shift = made.astype(np.float64).mean(axis=(0, 1)) - original.astype(np.float64).mean(axis=(0, 1))
        assert shift[0] > 25 and shift[2] < -25 and abs(shift[1]) < 6, shift
    check_positions = [square_centroid_x(frame) for frame in sink.frames]
    assert all(abs(x - (4 + STEP * i + 5.5)) < 1.5 for i, x in enumerate(check_positions))


class _RecordingInterpolator(LocalInterpolator):
    """The in-process interpolator, keeping what each frame's request carried."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.requests: list = []

    def request_frame(self, pts: int, inputs) -> None:
        self.requests.append(inputs)
        super().request_frame(pts, inputs)


PAN = 4  # px a frame: a one-step error in a chain (a step taken twice or missed) shows


def panning_frames() -> list[np.ndarray]:
    """The moving square over a background that pans PAN px a frame: every point moves."""
    scene = (textured_background(96 + PAN * FRAMES, 64, seed=2) // 2).astype(np.uint8)
    frames = []
    for index in range(FRAMES):
        frame = np.ascontiguousarray(scene[:, PAN * index : PAN * index + 96])
        x = 4 + STEP * index
        frame[27:38, x : x + 11] = (250, 240, 40)
        frames.append(frame)
    return frames


@pytest.mark.parametrize("astray", [False, True], ids=["true-flows", "flows-astray"])
def test_offline_a_flow_to_a_key_far_from_the_chained_motion_loses_its_confidence(tmp_path, monkeypatch, astray):
    """A flow straight to a key that a plain surface led astray (photometrically perfect, 30 px off
    the motion that the frame-to-frame flows add up to) is not trusted; true flows keep their trust.
    Every point moves PAN px a frame, so a chain with a step too many or too few (or composed from
    the wrong end) is 4 px or more off, and loses trust it should keep."""
    frames = panning_frames()
    clip = tmp_path / "pan.mp4"
    clip.write_bytes(encode_clip(frames))

    def index_of(flow_frame) -> int:  # the square's position tells the frame
        x = square_centroid_x(np.repeat(flow_frame.gray[..., None], 3, axis=2)) * 96 / flow_frame.gray.shape[1]
        return round((x - 4 - 5) / STEP)

    def along(index: int) -> float:  # the pan, faster each frame: every step differs
        return PAN * index + index * index / 2

    def estimate_flow(current, reference, preset=None):
        # The pan's motion (a point of `current` lies further left in a later frame), which an
        # estimator finds between neighbours; astray by 30 px between frames further apart.
        start, end = index_of(current), index_of(reference)
        flow = np.zeros((*current.gray.shape, 2), np.float32)
        flow[..., 0] = -(along(end) - along(start))
        if astray and abs(end - start) > 1:
            flow[..., 1] += 30.0
        return flow

    monkeypatch.setattr(pipeline_module.flowlib, "estimate_flow", estimate_flow)
    monkeypatch.setattr(
        pipeline_module.flowlib,
        "photometric_confidence",
        lambda current, reference, flow: np.ones(flow.shape[:2], np.float32),
    )
    interpolator = _RecordingInterpolator(OFFLINE, 96, 64)
    with VideoSource(str(clip)) as source:
        pipeline = KeyFramePipeline(
            source,
            _ListSink(),
            _TintingStylizer(),
            interpolator,
            FixedIntervalSelector(6),
            PipelineOptions(mode=OFFLINE),
        )
        pipeline.run()
    assert [inputs.index for inputs in interpolator.requests] == list(range(FRAMES))
    checked = 0
    for inputs in interpolator.requests:
        if inputs.next_key is None:
            continue  # a key frame
        for key, confidence in [(inputs.prev_key, inputs.confidence_prev), (inputs.next_key, inputs.confidence_next)]:
            mean = float(confidence.mean())
            if astray and abs(inputs.index - key) > 1:
                assert mean < 0.05, (inputs.index, key, mean)
                checked += 1
            else:
                assert mean > 0.9, (inputs.index, key, mean)
    assert checked >= 10 or not astray
