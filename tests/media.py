"""Synthetic media for tests: tiny frames and clips made on the spot, never files from elsewhere."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np

WIDTH, HEIGHT = 96, 64
SQUARE = 12


def textured_background(width: int = WIDTH, height: int = HEIGHT, seed: int = 0) -> np.ndarray:
    """Smooth colour gradients plus mild texture, so flow has something to lock on."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            80 + 100 * xs / width,
            60 + 120 * ys / height,
            140 + 60 * np.sin(xs / 7.0) * np.cos(ys / 9.0),
        ],
        axis=-1,
    )
    noise = rng.normal(0, 6, size=(-(-height // 4), -(-width // 4), 3))
    noise = np.kron(noise, np.ones((4, 4, 1)))[:height, :width]
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def moving_square_frame(index: int, width: int = WIDTH, height: int = HEIGHT, step: int = 2) -> np.ndarray:
    """Frame `index` of a clip where a bright square moves right by `step` px per frame over a dim scene."""
    frame = (textured_background(width, height) // 2).astype(np.uint8)
    x = 4 + index * step
    y = height // 2 - SQUARE // 2
    frame[y : y + SQUARE, x : x + SQUARE] = (250, 240, 40)
    return frame


def square_centroid_x(rgb: np.ndarray) -> float:
    """x of the moving square: by far the brightest thing in the frame, before and after grading."""
    luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    peak, typical = np.percentile(luma, 99.5), np.median(luma)
    mask = luma > (peak + typical) / 2
    return float(np.nonzero(mask)[1].mean())


def encode_clip(
    frames: list[np.ndarray],
    *,
    container: str = "mp4",
    pts: list[int] | None = None,
    time_base: Fraction = Fraction(1, 1000),
    rate: int = 25,
    audio_seconds: float = 0.0,
    options: dict | None = None,
) -> bytes:
    """Encode frames (H.264) into an in-memory container; optional mono AAC tone for audio tests."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container, options=options or {}) as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        audio = None
        if audio_seconds:
            audio = out.add_stream("aac", rate=22050)
            audio.layout = "mono"
        ticks = round(1 / (rate * time_base))
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = pts[i] if pts is not None else i * ticks
            frame.time_base = time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        if audio is not None:
            samples = int(audio_seconds * 22050)
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 22050)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = tone[start : start + 1024]
                aframe = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                aframe.sample_rate = 22050
                aframe.pts = start
                for packet in audio.encode(aframe):
                    out.mux(packet)
            for packet in audio.encode(None):
                out.mux(packet)
    return buffer.getvalue()


def decode_all(path: str) -> tuple[list[np.ndarray], list[int], Fraction, list[str]]:
    """Every decodable frame, its pts, the video time base and the stream types."""
    frames, pts = [], []
    with av.open(path) as container:
        stream = container.streams.video[0]
        kinds = [s.type for s in container.streams]
        time_base = stream.time_base
        for packet in container.demux(stream):
            try:
                for frame in packet.decode():
                    frames.append(frame.to_ndarray(format="rgb24"))
                    pts.append(frame.pts)
            except av.error.FFmpegError:
                continue
    return frames, pts, time_base, kinds


def style_photo(width: int = 80, height: int = 60) -> np.ndarray:
    """A warm dusk-like gradient photo (orange to deep blue) with some texture."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    t = ys / height
    sky = np.stack([230 - 180 * t, 120 - 70 * t, 60 + 110 * t], axis=-1)
    texture = 15 * np.sin(xs / 5.0)[..., None]
    return np.clip(sky + texture, 0, 255).astype(np.uint8)


def most_like(output: np.ndarray, sources: list[np.ndarray]) -> int:
    """The index of the source frame an output's structure matches best (luma correlation): a
    stylized frame keeps its own frame's structure whatever its colours."""

    def luma(rgb: np.ndarray) -> np.ndarray:
        return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])

    scores = [np.corrcoef(luma(output).ravel(), luma(source).ravel())[0, 1] for source in sources]
    return int(np.argmax(scores))
