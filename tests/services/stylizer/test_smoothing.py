import math

import numpy as np
import torch
import torch.nn.functional as F

from services.stylizer.pipeline import to_image
from services.stylizer.smoothing import MetaSmoothing, SmoothingConfig, load_smoothing, save_smoothing
from services.stylizer.train.smoothing import SmoothingTraining, distort, train_smoothing
from services.stylizer.upsample import box_mean, invert_3x3


def test_box_mean_equals_pooling_with_shrinking_windows():
    x = torch.rand(2, 5, 23, 31)
    for radius in (1, 4, 7):
        expected = F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)
        torch.testing.assert_close(box_mean(x, radius), expected, atol=1e-5, rtol=0)


def test_box_mean_with_a_radius_beyond_the_image_is_the_global_mean():
    x = torch.rand(1, 2, 5, 6)
    torch.testing.assert_close(box_mean(x, 50), x.mean(dim=(2, 3), keepdim=True).expand_as(x), atol=1e-5, rtol=0)


def test_invert_3x3_matches_linalg():
    m = torch.rand(2, 3, 3, 4, 5) + 2 * torch.eye(3).view(1, 3, 3, 1, 1)
    expected = torch.linalg.inv(m.permute(0, 3, 4, 1, 2)).permute(0, 3, 4, 1, 2)
    torch.testing.assert_close(invert_3x3(m), expected, atol=1e-4, rtol=1e-4)


MATRIX = torch.tensor([[0.6, 0.2, 0.1], [0.1, 0.7, 0.0], [0.2, 0.1, 0.5]])
OFFSET = torch.tensor([0.05, 0.0, 0.1]).view(1, 3, 1, 1)


def grade(x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ck,bkhw->bchw", MATRIX, x) + OFFSET


def sharp_content(seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((1, 3, 96, 128), generator=generator) * 0.6 + 0.2


def test_meta_smoothing_recovers_a_colour_map_at_full_resolution():
    """A colour map seen at low resolution is reproduced on the sharp content, unlike plain upscaling."""
    high = sharp_content()
    low = F.interpolate(high, size=(48, 64), mode="area")
    module = load_smoothing()
    with torch.no_grad():
        out = module(low, grade(low), high)
    assert out.shape == high.shape
    assert (out - grade(high)).abs().mean() < 3e-3
    blurry = F.interpolate(grade(low), size=(96, 128), mode="bicubic", align_corners=False)
    assert (blurry - grade(high)).abs().mean() > 10 * (out - grade(high)).abs().mean()


def test_meta_smoothing_removes_noise_that_the_content_does_not_explain():
    high = sharp_content(1)
    low = F.interpolate(high, size=(48, 64), mode="area")
    noisy = (grade(low) + 0.05 * torch.randn(low.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    module = load_smoothing()
    with torch.no_grad():
        out = module(low, noisy, high)
    upscaled = F.interpolate(noisy, size=(96, 128), mode="bicubic", align_corners=False)
    assert (out - grade(high)).abs().mean() < 0.5 * (upscaled - grade(high)).abs().mean()


def test_cpu_render_path_matches_the_differentiable_path():
    high = sharp_content(3)
    low = F.interpolate(high, size=(30, 40), mode="area")
    module = load_smoothing()
    high_rgb = to_image(high)
    with torch.no_grad():
        expected = to_image(module(low, grade(low), torch.from_numpy(high_rgb).permute(2, 0, 1)[None].float() / 255))
    rendered = module.render(low, grade(low), high_rgb)
    assert rendered.shape == high_rgb.shape and rendered.dtype == np.uint8
    assert np.abs(rendered.astype(int) - expected.astype(int)).max() <= 1


def test_the_guide_is_folded_into_the_coefficients():
    """With a non-identity learned guide the maps still apply to the raw content."""
    module = MetaSmoothing(SmoothingConfig(base_log_eps=math.log(1e-7)))
    with torch.no_grad():
        module.guide.weight.copy_(torch.tensor([[0.5, 0.2, 0.0], [0.1, 0.9, 0.3], [0.0, 0.1, 1.2]]).view(3, 3, 1, 1))
        module.guide.bias.copy_(torch.tensor([0.1, -0.2, 0.05]))
        high = sharp_content(4)
        low = F.interpolate(high, size=(48, 64), mode="area")
        out = module(low, grade(low), high)
    assert (out - grade(high)).abs().mean() < 3e-3


def test_meta_smoothing_regularisation_depends_on_the_scale():
    module = load_smoothing()
    with torch.no_grad():
        eps = [float(module.eps_for(scale)) for scale in (1.0, 2.0, 4.0)]
    assert all(e > 0 for e in eps)
    assert max(eps) > 1.01 * min(eps)  # trained: the meta network does not ignore the scale


def test_distortions_change_the_image_but_keep_its_range():
    images = torch.rand(4, 3, 32, 32)
    out = distort(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
    assert (out - images).abs().mean() > 1e-3


def test_a_short_training_run_improves_on_the_untrained_filter(tmp_path):
    generator = torch.Generator().manual_seed(0)
    photos = [
        F.interpolate(torch.rand((1, 3, 12, 12), generator=generator), size=(96, 96), mode="bicubic")[0].clamp(0, 1)
        for _ in range(4)
    ]
    module, report = train_smoothing(photos, SmoothingTraining(steps=30, batch=4, size=64), log=lambda _: None)
    validation = report["validation"]["scale_2"]
    assert validation["trained_psnr_db"] > validation["untrained_psnr_db"]
    save_smoothing(module, tmp_path / "s.pt", report)
    assert torch.allclose(load_smoothing(tmp_path / "s.pt").eps_for(2.0), module.eps_for(2.0))
