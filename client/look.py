"""The look apart from the video: one frame side by side (original | stylized) as a PNG, so styles
can be tried before a long job, and the look as a 3D LUT (.cube) for grading tools."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from client.device.lut import fit_lut, write_cube
from client.image import stylize_frames_as_photos
from client.media.paths import check_output_path, written_whole
from client.media.source import VideoSource
from client.video.job import VideoJob
from mvstylizer_common.errors import InvalidInputError
from mvstylizer_common.imagecodec import write_image_file

# Lattice points per axis: what grading tools and ffmpeg's lut3d expect at least.
LUT_SIZE = 33
# Between the two halves, so the seam is visible.
_GAP = 8


# Frames the LUT is fitted on, spread over the video's start (a few seconds decode at most).
LUT_FRAMES = 4
LUT_SPAN = 300


def check_lut_path(path: str) -> None:
    """Before any work: a .cube file in a folder that exists and can be written."""
    out = Path(path)
    if out.suffix.lower() != ".cube":
        raise InvalidInputError(f"--lut {path}: expected a .cube file")
    folder = out.parent.resolve()
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidInputError(f"--lut {path}: folder {folder} is missing or not writable")


def frames_for_lut(path: str) -> list[np.ndarray]:
    """A few frames spread over the first LUT_SPAN frames of a video."""
    picks: list[np.ndarray] = []
    with VideoSource(path) as source:
        total = min(source.info.frame_count or LUT_SPAN, LUT_SPAN)
        wanted = set(np.linspace(0, max(total - 1, 0), LUT_FRAMES).round().astype(int).tolist())
        for frame in source.frames():
            if frame.index in wanted:
                picks.append(frame.rgb)
            if frame.index >= max(wanted):
                break
    if not picks:
        raise InvalidInputError(f"{path}: no decodable video frames")
    return picks


def write_lut(originals: list[np.ndarray], style: str, services, label: str, target: str) -> None:
    """The look on these frames as a 3D LUT: its best global approximation (a region-aware look
    varies across the picture, which no LUT can; the fit averages it per colour)."""
    write_fitted_lut(originals, stylize_frames_as_photos(originals, style, services, label), style, target)


def write_fitted_lut(originals: list[np.ndarray], stylized: list[np.ndarray], style: str, target: str) -> None:
    with written_whole(target) as partial:
        write_cube(str(partial), fit_lut(originals, stylized, LUT_SIZE), f"mvstylizer: {Path(style).name}")


def frame_at(path: str, index: int) -> np.ndarray:
    """Frame `index` of a video (decoding stops there)."""
    count = 0
    with VideoSource(path) as source:
        for frame in source.frames():
            if frame.index == index:
                return frame.rgb
            count += 1
    raise InvalidInputError(f"{path}: no frame {index} (the video has {count} decodable frames)")


def write_preview_frame(job: VideoJob, index: int, target: str) -> None:
    """Frame `index` of job.input side by side with its stylization (the job's style and services)."""
    check_output_path(target, [job.input, job.style], kind="image")
    original = frame_at(job.input, index)
    (stylized,) = stylize_frames_as_photos([original], job.style, job.services, os.path.basename(job.input))
    gap = np.full((original.shape[0], _GAP, 3), 255, np.uint8)
    with written_whole(target) as partial:
        write_image_file(str(partial), np.hstack([original, gap, stylized]))
