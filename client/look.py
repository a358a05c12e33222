"""The look apart from the video: one frame side by side (original | stylized) as a PNG, so styles
can be tried before a long job, and the look as a 3D LUT (.cube) for grading tools."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

from client.device.lut import fit_lut, write_cube
from client.image import stylize_frames_as_photos
from client.media.orientation import quarter_turns, upright
from client.media.paths import check_output_path, written_whole
from client.media.source import VideoSource
from client.video.job import VideoJob
from mvstylizer_common.errors import InvalidInputError
from mvstylizer_common.imagecodec import write_image_file

# Lattice points per axis: what grading tools and ffmpeg's lut3d expect at least.
LUT_SIZE = 33
# Between the two halves, so the seam is visible.
_GAP = 8


# Frames the LUT is fitted on, spread over the whole video (a look that changes with the scene is
# then averaged over all of it, not taken from the opening shot).
LUT_FRAMES = 8


def check_lut_path(path: str, overwrite: bool = True) -> None:
    """Before any work: a .cube file (not a directory) in a folder that exists and can be written,
    and (unless overwrite) not there yet."""
    out = Path(path)
    if out.is_dir():
        raise InvalidInputError(f"--lut {path}: is a directory; give a file name (e.g. {out / 'look.cube'})")
    if out.suffix.lower() != ".cube":
        raise InvalidInputError(f"--lut {path}: expected a .cube file")
    folder = out.parent.resolve()
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidInputError(f"--lut {path}: folder {folder} is missing or not writable")
    if not overwrite and os.path.lexists(path):
        raise InvalidInputError(f"--lut {path}: exists (--overwrite replaces it)")


def frames_for_lut(path: str, count: int = LUT_FRAMES) -> list[np.ndarray]:
    """`count` frames spread evenly over a video: found by seeking when the container gives the
    video's duration, else by decoding it all (keeping up to `count` frames evenly spaced)."""
    picks = _frames_by_seeking(path, count)
    if not picks:
        picks = _frames_by_decoding(path, count)
    if not picks:
        raise InvalidInputError(f"{path}: no decodable video frames")
    return picks


def _frames_by_seeking(path: str, count: int) -> list[np.ndarray]:
    """The first frame at or after each of `count` evenly spaced times; [] where seeking fails."""
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            if stream.duration is not None and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = (container.duration or 0) / av.time_base
            if duration <= 0:
                return []
            picks = []
            for when in start + (np.arange(count) + 0.5) * duration / count:
                container.seek(int(when / stream.time_base), stream=stream, backward=True)
                for frame in container.decode(stream):
                    if frame.time is not None and frame.time + 1e-6 >= when:
                        # Upright, as every other reader gives them (a LUT does not care; a reader might).
                        picks.append(upright(frame.to_ndarray(format="rgb24"), quarter_turns(frame, stream)))
                        break
            return picks
    except (av.error.FFmpegError, OSError, IndexError):
        return []


def _frames_by_decoding(path: str, count: int) -> list[np.ndarray]:
    """Every frame decoded; a reservoir halved whenever full keeps `count` or more evenly spaced."""
    kept: list[tuple[int, np.ndarray]] = []
    stride = 1
    with VideoSource(path) as source:
        for frame in source.frames():
            if frame.index % stride == 0:
                kept.append((frame.index, frame.rgb))
                if len(kept) >= 2 * count:
                    stride *= 2
                    kept = [(i, rgb) for i, rgb in kept if i % stride == 0]
    picks = [rgb for _, rgb in kept]
    return [picks[i] for i in sorted(set(np.linspace(0, len(picks) - 1, count).round().astype(int)))] if picks else []


def write_lut(originals: list[np.ndarray], style: str, services, label: str, target: str, replace: bool = True) -> None:
    """The look on these frames as a 3D LUT: its best global approximation (a region-aware look
    varies across the picture, which no LUT can; the fit averages it per colour).
    replace=False: a file that appeared at `target` meanwhile is kept (paths.written_whole)."""
    stylized = stylize_frames_as_photos(originals, style, services, label)
    write_fitted_lut(originals, stylized, style, target, replace)


def write_fitted_lut(
    originals: list[np.ndarray], stylized: list[np.ndarray], style: str, target: str, replace: bool = True
) -> None:
    with written_whole(target, replace) as partial:
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


def write_preview_frame(job: VideoJob, index: int, target: str, original: np.ndarray | None = None) -> None:
    """Frame `index` of job.input side by side with its stylization (the job's style and services).
    original: that frame, when the caller has decoded it already (to check it exists before other work)."""
    check_output_path(target, [job.input, job.style], kind="image")
    if original is None:
        original = frame_at(job.input, index)
    (stylized,) = stylize_frames_as_photos([original], job.style, job.services, os.path.basename(job.input))
    gap = np.full((original.shape[0], _GAP, 3), 255, np.uint8)
    with written_whole(target, replace=job.overwrite) as partial:
        write_image_file(str(partial), np.hstack([original, gap, stylized]))
