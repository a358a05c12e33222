"""The demo: a real clip and a real style photo from installed packages, stylized end to end,
and a side-by-side picture of the result."""

from __future__ import annotations

import av
import cv2
import numpy as np

from mvstylizer_common.imagecodec import write_image_file


def side_by_side(
    original_path: str, stylized_path: str, out_png: str, frame_count: int, picks: int = 4, height: int = 240
) -> None:
    """A comparison image: original (left) and stylized (right) at evenly spaced frames."""
    indices = sorted(set(np.linspace(0, frame_count - 1, picks).round().astype(int).tolist()))
    originals = _frames_at(original_path, indices)
    stylized = _frames_at(stylized_path, indices)
    if len(originals) != len(indices) or len(stylized) != len(indices):
        raise RuntimeError("the videos hold fewer frames than expected")
    rows = []
    for original, styled in zip(originals, stylized, strict=True):
        width = round(original.shape[1] * height / original.shape[0])
        rows.append(
            np.hstack([cv2.resize(p, (width, height), interpolation=cv2.INTER_AREA) for p in (original, styled)])
        )
    write_image_file(out_png, np.vstack(rows))


def _frames_at(path: str, indices: list[int]) -> list[np.ndarray]:
    """Decode a video once, keeping only the frames at the given indices."""
    wanted = set(indices)
    kept = []
    with av.open(path) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                kept.append(frame.to_ndarray(format="rgb24"))
            if index >= indices[-1]:
                break
    return kept
