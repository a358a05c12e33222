from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmarks.metrics import edge_ssim
from mvstylizer_common.errors import WeightsError
from services.stylizer.models import get_model, get_model_spec
from services.stylizer.models.colour_transfer import MongeKantorovichTransfer
from services.stylizer.models.preset import (
    PresetConfig,
    PresetStylizer,
    apply_curves,
    fine_detail,
    from_opponent,
    load_preset,
    save_preset,
    soft_cdf,
    to_opponent,
)
from services.stylizer.pipeline import StylizationSession, StylizeSettings
from services.stylizer.smoothing import load_smoothing
from services.stylizer.train.grades import RandomGrade
from services.stylizer.train.preset import PresetTraining, gradient_magnitude, train_preset
from tests.services.stylizer.test_detail import fine_detail_image


def smooth_photo(seed: int, size: int = 64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand((1, 3, 6, 6), generator=generator)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


def test_preset_is_trained_and_ships_its_weights():
    # (The default is the region-aware model now, tests/services/stylizer/test_region.py.)
    spec = get_model_spec("preset")
    assert spec.default_weights.endswith("preset.pt")
    model = get_model("preset")
    # Trained: the curve head is no longer the zero-initialised identity.
    assert model.head[-1].weight.abs().sum() > 0


def test_an_untrained_preset_is_exactly_the_affine_optimal_transport_map():
    content, style = smooth_photo(0), smooth_photo(1)
    model, mkl = PresetStylizer(PresetConfig(detail=False)).eval(), MongeKantorovichTransfer()
    with torch.no_grad():
        torch.testing.assert_close(model(content, model.encode_style(style)), mkl(content, mkl.encode_style(style)))


def without_detail(model: PresetStylizer) -> PresetStylizer:
    """The same trained weights with the two-scale detail step switched off."""
    plain = PresetStylizer(replace(model.config, detail=False)).eval()
    plain.load_state_dict(model.state_dict())
    return plain


def test_the_colour_mapping_is_per_pixel_so_structure_cannot_change():
    """Equal input colours give equal output colours wherever they are: no spatial effect at all."""
    model = without_detail(get_model("preset"))
    generator = torch.Generator().manual_seed(0)
    palette = torch.rand((12, 3), generator=generator)
    labels = torch.randint(0, 12, (64 * 64,), generator=generator)
    content = palette[labels].T.reshape(1, 3, 64, 64)
    with torch.no_grad():
        out = model(content, model.encode_style(smooth_photo(3))).flatten(2)[0].T
    for colour in range(12):
        members = out[labels == colour]
        assert (members - members[0]).abs().max() < 1e-5


def test_the_trained_model_moves_colours_towards_the_style():
    model = get_model("preset")
    content = smooth_photo(4)
    style = RandomGrade(1, torch.Generator().manual_seed(5), strength=1.5).apply(smooth_photo(6))
    with torch.no_grad():
        out = model(content, model.encode_style(style))
    distance_before = (content.mean(dim=(2, 3)) - style.mean(dim=(2, 3))).abs().sum()
    distance_after = (out.mean(dim=(2, 3)) - style.mean(dim=(2, 3))).abs().sum()
    assert distance_after < 0.5 * distance_before


def test_two_scale_detail_gives_back_contrast_a_darkening_style_takes():
    """A dark, flat style compresses the content's contrast; the detail step restores part of it."""
    generator = torch.Generator().manual_seed(8)
    content = (smooth_photo(9) * 0.5 + 0.3 + 0.08 * torch.randn((1, 3, 64, 64), generator=generator)).clamp(0, 1)
    style = smooth_photo(10) * 0.15 + 0.05
    model = get_model("preset")
    with torch.no_grad():
        graded = model(content, model.encode_style(style))
        plain = without_detail(model)
        mapped = plain(content, plain.encode_style(style))
    assert gradient_magnitude(graded).mean() > 1.05 * gradient_magnitude(mapped).mean()
    # Still a dark result: the look is the style's.
    assert graded.mean() < content.mean() - 0.2


def test_identity_curves_and_the_opponent_round_trip():
    pixels = torch.rand(2, 3, 100)
    unit = to_opponent(pixels)
    assert unit.min() >= -1e-6 and unit.max() <= 1 + 1e-6
    identity = torch.linspace(0, 1, 17).expand(2, 3, 17)
    torch.testing.assert_close(from_opponent(apply_curves(unit, identity)), pixels, atol=1e-5, rtol=0)


def test_monotone_knots_give_a_monotone_curve():
    knots = torch.tensor([0.0, 0.05, 0.3, 0.35, 0.9]).expand(1, 3, 5).contiguous()
    values = torch.linspace(0, 1, 200).expand(1, 3, 200).contiguous()
    curve = apply_curves(values, knots)
    assert (curve.diff(dim=2) >= 0).all()
    torch.testing.assert_close(curve[..., -1], torch.full((1, 3), 0.9))


def test_soft_cdf_of_constant_values_steps_at_their_bin():
    values = torch.full((1, 3, 50), 0.5)
    cdf = soft_cdf(values, bins=5)  # centres 0, .25, .5, .75, 1
    torch.testing.assert_close(cdf[0, 0], torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0]))


def test_random_grades_stay_in_range_and_differ_between_items():
    images = smooth_photo(7).expand(8, -1, -1, -1)
    graded = RandomGrade(8, torch.Generator().manual_seed(0)).apply(images)
    assert graded.min() >= 0 and graded.max() <= 1
    assert (graded[0] - graded[1]).abs().mean() > 1e-3 or (graded[2] - graded[3]).abs().mean() > 1e-3


def test_a_short_training_run_beats_the_affine_map_and_round_trips(tmp_path):
    photos = [smooth_photo(10 + i, 128)[0] for i in range(6)]
    settings = PresetTraining(steps=40, batch=8, validation_batches=2, learning_rate=3e-3)
    model, report = train_preset(photos, settings, log=lambda _: None)
    assert report["validation_l1_trained"] < report["validation_l1_affine_only"]
    save_preset(model, tmp_path / "p.pt", report)
    loaded = load_preset(tmp_path / "p.pt")
    assert loaded.config == PresetConfig()
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor)


def test_bad_weight_files_get_a_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        load_preset(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="could not be read"):
        load_preset(tmp_path / "junk.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="not in format"):
        load_preset(tmp_path / "other.pt")


def test_the_opencv_detail_layer_matches_the_tensor_one():
    generator = torch.Generator().manual_seed(11)
    rgb = (torch.rand((40, 56, 3), generator=generator) * 255).to(torch.uint8).numpy()
    # The tensor path takes its luminance from the same 8-bit grey the OpenCV path uses.
    grey = torch.from_numpy(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)).float()[None, None] / 255.0
    expected = fine_detail(grey.expand(1, 3, -1, -1), 3, 0.01)[0, 0].numpy()
    np.testing.assert_allclose(fine_detail_image(rgb, 3, 0.01, subsample=1), expected, atol=1e-4)


def test_a_session_restores_detail_at_the_output_resolution():
    """The detail step runs after meta-smoothing, on the full-resolution content: output edges
    follow the content's fine texture more closely than with the step switched off."""
    generator = torch.Generator().manual_seed(12)
    texture = (torch.rand((1, 3, 240, 320), generator=generator) * 0.3).numpy()
    content = (smooth_photo(13, 240)[:, :, :, :1].expand(-1, -1, -1, 320).numpy() * 0.5 + 0.3 + texture) * 255
    content = content[0].transpose(1, 2, 0).clip(0, 255).astype(np.uint8).copy()
    style = (smooth_photo(14, 64)[0].permute(1, 2, 0).numpy() * 40 + 10).astype(np.uint8)
    model, smoothing = get_model("preset"), load_smoothing()
    settings = StylizeSettings(work_long_side=96)
    with_detail = StylizationSession(model, style, settings, torch.device("cpu"), smoothing).stylize(content)
    plain = StylizationSession(without_detail(model), style, settings, torch.device("cpu"), smoothing).stylize(content)
    assert with_detail.shape == content.shape
    assert edge_ssim(content, with_detail) > edge_ssim(content, plain) + 0.01
