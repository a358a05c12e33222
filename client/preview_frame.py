"""Look before you render: one frame of a video, original | stylized, as a PNG (about a second with
a warm stylizer), so styles can be tried before a long job."""

from __future__ import annotations

import os

import numpy as np

from client.image import stylize_frames_as_photos
from client.media.paths import check_output_path, written_whole
from client.media.source import VideoSource
from client.video.job import VideoJob
from common.errors import InvalidInputError
from common.imagecodec import write_image_file

# Between the two halves, so the seam is visible.
_GAP = 8


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
