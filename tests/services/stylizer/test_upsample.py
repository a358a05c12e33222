import torch
import torch.nn.functional as F

from services.stylizer.upsample import box_mean, guided_upsample, invert_3x3


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


def test_guided_upsampling_recovers_a_colour_map_at_full_resolution():
    """A per-pixel affine colour map seen at low resolution is reproduced on the sharp content."""
    high = torch.rand(1, 3, 96, 128) * 0.6 + 0.2
    matrix = torch.tensor([[0.6, 0.2, 0.1], [0.1, 0.7, 0.0], [0.2, 0.1, 0.5]])
    offset = torch.tensor([0.05, 0.0, 0.1]).view(1, 3, 1, 1)

    def grade(x):
        return torch.einsum("ck,bkhw->bchw", matrix, x) + offset

    low = F.interpolate(high, size=(48, 64), mode="area")
    out = guided_upsample(low, grade(low), high, radius=4, eps=1e-6)
    assert out.shape == high.shape
    assert (out - grade(high)).abs().mean() < 2e-3
    # Plain upsampling of the low-resolution result loses the detail.
    blurry = F.interpolate(grade(low), size=(96, 128), mode="bilinear", align_corners=False)
    assert (blurry - grade(high)).abs().mean() > 10 * (out - grade(high)).abs().mean()
