"""The content's finest grey detail put back into a stylized picture (services/stylizer/detail.py)."""

import cv2
import numpy as np
import pytest
import torch

from benchmarks.metrics import edge_ssim
from services.stylizer.detail import detail_radius, grey_detail_to_add, guided_base, keep_fine_grey_detail
from services.stylizer.models.region import RegionConfig, RegionTransfer
from services.stylizer.pipeline import StylizationSession, StylizeSettings
from services.stylizer.smoothing import load_smoothing
from tests.services.stylizer.test_region import DAY, DUSK, scene


def grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def fine_detail_image(rgb: np.ndarray, radius: int, eps: float, subsample: int | None = None) -> np.ndarray:
    """HxWx3 uint8 -> HxW float32: the grey's residual over its self-guided filter (luma in [0, 1]),
    the guided step's detail of one picture on its own (the one pass takes two pictures' at once)."""
    luma = grey(rgb) * (1.0 / 255.0)
    size = (luma.shape[1], luma.shape[0])
    gain, offset = (
        plane if plane.shape == luma.shape else cv2.resize(plane, size, interpolation=cv2.INTER_LINEAR)
        for plane in guided_base(luma, radius, eps, subsample)
    )
    return luma - (gain * luma + offset)


def fine(plane: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    return plane - cv2.GaussianBlur(plane, (0, 0), sigma)


def content_and_mapped() -> tuple[np.ndarray, np.ndarray]:
    """A textured picture with a hard edge, and the same under a map that halves its contrast and tints it."""
    rng = np.random.default_rng(5)
    content = np.full((96, 128, 3), 90.0, np.float32)
    content[:, 64:] = 170.0
    content += rng.normal(0, 18, (96, 128, 1))
    content = np.clip(content, 0, 255).astype(np.uint8)
    mapped = np.clip((content.astype(np.float32) - 128) * 0.5 + np.array([150, 120, 100], np.float32), 0, 255)
    return content, mapped.astype(np.uint8)


def test_the_fine_grey_detail_becomes_the_contents_and_the_coarse_colours_stay():
    content, mapped = content_and_mapped()
    kept = keep_fine_grey_detail(content, mapped, share=1.0, sigma=2.0)
    inner = (slice(8, -8), slice(8, -8))  # away from the borders, where the blur reflects
    # Before: the map halved the detail; after: the content's, but for rounding and, beside the hard
    # edge, the blur of the detail added.
    assert np.abs(fine(grey(mapped)) - fine(grey(content)))[inner].mean() > 4
    assert np.abs(fine(grey(kept)) - fine(grey(content)))[inner].mean() < 1.0
    assert np.abs(fine(grey(kept)) - fine(grey(content)))[8:-8, 8:56].max() <= 3.0  # away from the edge
    # The coarse look is the map's: the colours blurred at 8 px barely move.
    coarse = lambda rgb: cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), 8.0)  # noqa: E731
    assert np.abs(coarse(kept) - coarse(mapped))[inner].max() < 1.5
    assert edge_ssim(content, kept) > edge_ssim(content, mapped) + 0.05


def test_half_the_share_gives_back_half_and_none_gives_back_nothing():
    content, mapped = content_and_mapped()
    assert keep_fine_grey_detail(content, mapped, share=0.0, sigma=2.0) is mapped
    lost = fine(grey(content)) - fine(grey(mapped))
    half = fine(grey(keep_fine_grey_detail(content, mapped, share=0.5, sigma=2.0))) - fine(grey(mapped))
    assert np.abs(half - 0.5 * lost)[8:-8, 8:56].max() <= 2.0  # away from the edge and the borders
    assert np.abs(half - 0.5 * lost)[8:-8, 8:-8].mean() < 0.6


@pytest.mark.parametrize("size", [(96, 128), (270, 480)])  # the guided filter fitted at full size, and coarser
def test_both_steps_in_one_pass_are_the_two_steps_one_after_the_other(size):
    """The guided step's levels (its two images' residuals apart, each at full size) and then the finest
    step on the grey with those levels added, as separate passes, give what the one pass gives."""
    content, mapped = (cv2.resize(image, size[::-1], interpolation=cv2.INTER_LINEAR) for image in content_and_mapped())
    radius_fraction, eps = 1 / 24, 0.01
    radius = detail_radius(size, radius_fraction)
    guided = 0.8 * 255.0 * (fine_detail_image(content, radius, eps) - fine_detail_image(mapped, radius, eps))
    difference = grey(content) - grey(mapped) - guided
    finest = 0.7 * fine(difference, 1.5)
    levels = grey_detail_to_add(content, mapped, 0.8, radius_fraction, eps, 0.7, 1.5)
    np.testing.assert_allclose(levels, guided + finest, atol=2e-3)
    np.testing.assert_allclose(grey_detail_to_add(content, mapped, 0.8, radius_fraction, eps), guided, atol=2e-3)
    assert np.abs(guided).mean() > 0.3 and np.abs(finest).mean() > 0.3  # both steps add something here
    assert grey_detail_to_add(content, mapped, 0.0, radius_fraction, eps, 0.0) is None


def test_pictures_of_different_sizes_are_refused():
    content, mapped = content_and_mapped()
    with pytest.raises(ValueError, match="differ in size"):
        keep_fine_grey_detail(content, mapped[:-2], share=1.0, sigma=2.0)


def test_the_region_model_keeps_the_contents_structure_with_its_share_on():
    content, style = scene(**DAY, width=160, height=120), scene(**DUSK, width=160, height=120, seed=3)
    outputs = {}
    for share in (0.0, 1.0):
        model = RegionTransfer(RegionConfig(fine_grey_share=share))
        session = StylizationSession(model, style, StylizeSettings(128), torch.device("cpu"), load_smoothing())
        outputs[share] = session.stylize(content)
    assert edge_ssim(content, outputs[1.0]) > edge_ssim(content, outputs[0.0])
    # The look is the same: the mean colour moves by under a level.
    assert np.abs(outputs[1.0].reshape(-1, 3).mean(0) - outputs[0.0].reshape(-1, 3).mean(0)).max() < 1.0
