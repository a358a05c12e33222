import numpy as np
import pytest
import torch

from mvstylizer_common.errors import BadStyleError, UnknownModelError
from services.stylizer.colour import lab_to_rgb, rgb_to_lab
from services.stylizer.models import DEFAULT_MODEL, get_model, list_models
from services.stylizer.models.colour_transfer import mean_cov
from services.stylizer.pipeline import StylizationSession, StylizeSettings, to_tensor
from services.stylizer.smoothing import load_smoothing
from tests.media import style_photo, textured_background


def mid_range(seed: int, mean, cov_scale) -> torch.Tensor:
    """Random colours well inside [0, 1], so no clipping disturbs the statistics."""
    rng = np.random.default_rng(seed)
    pixels = rng.multivariate_normal(mean, np.diag(cov_scale), size=64 * 64).clip(0.05, 0.95)
    return torch.from_numpy(pixels.T.reshape(1, 3, 64, 64)).float()


def test_registry_lists_models_and_rejects_unknown_names():
    names = [spec.name for spec in list_models()]
    assert DEFAULT_MODEL in names and "reinhard" in names
    with pytest.raises(UnknownModelError, match="available"):
        get_model("no-such-model")


def test_mkl_maps_content_colour_statistics_onto_the_style():
    content = mid_range(0, [0.5, 0.45, 0.4], [0.004, 0.003, 0.002])
    style = mid_range(1, [0.45, 0.5, 0.55], [0.002, 0.004, 0.003])
    model = get_model("mkl")
    out = model(content, model.encode_style(style))
    out_mean, out_cov = mean_cov(out.flatten(2).double())
    style_mean, style_cov = mean_cov(style.flatten(2).double())
    torch.testing.assert_close(out_mean, style_mean, atol=2e-3, rtol=0)
    torch.testing.assert_close(out_cov, style_cov, atol=2e-4, rtol=0)


def test_mkl_keeps_structure_it_is_one_affine_map_for_every_pixel():
    content = to_tensor(textured_background(), torch.device("cpu"))
    model = get_model("mkl")
    out = model(content, model.encode_style(to_tensor(style_photo(), torch.device("cpu"))))
    # Every unclipped pixel obeys the same affine colour map: no spatial effects at all.
    flat_in = content.flatten(2)[0].T.double()
    flat_out = out.flatten(2)[0].T.double()
    unclipped = ((flat_out > 0.001) & (flat_out < 0.999)).all(1)
    assert unclipped.sum() > 1000
    design = torch.cat([flat_in, torch.ones(len(flat_in), 1, dtype=torch.float64)], 1)[unclipped]
    solution = torch.linalg.lstsq(design, flat_out[unclipped]).solution
    assert (design @ solution - flat_out[unclipped]).abs().max() < 1e-4


def test_reinhard_matches_lab_mean_and_std():
    content = mid_range(2, [0.5, 0.45, 0.4], [0.004, 0.003, 0.002])
    style = mid_range(3, [0.35, 0.4, 0.6], [0.002, 0.002, 0.004])
    model = get_model("reinhard")
    out_lab = rgb_to_lab(model(content, model.encode_style(style))).flatten(2)
    style_lab = rgb_to_lab(style).flatten(2)
    torch.testing.assert_close(out_lab.mean(2), style_lab.mean(2), atol=0.5, rtol=0)
    torch.testing.assert_close(out_lab.std(2), style_lab.std(2), atol=0.5, rtol=0)


@pytest.mark.parametrize("name", ["mkl", "reinhard"])
def test_a_one_pixel_frame_takes_a_colour_of_the_style(name):
    """One pixel has no spread of its own: the global colour transfers still give it a finite colour
    near the style's (reinhard gave black: the sample std of one pixel is NaN)."""
    style = mid_range(3, [0.35, 0.4, 0.6], [0.002, 0.002, 0.004])
    model = get_model(name)
    out = model(torch.full((1, 3, 1, 1), 0.5), model.encode_style(style))
    assert torch.isfinite(out).all()
    assert (out.flatten() - style.flatten(2).mean(2).flatten()).abs().max() < 0.1, out.flatten()


def test_lab_round_trip():
    rgb = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-4, rtol=0)


def test_session_output_size_and_bad_style():
    cpu, smoothing = torch.device("cpu"), load_smoothing()
    session = StylizationSession(get_model("mkl"), style_photo(), StylizeSettings(64, 120, 80), cpu, smoothing)
    out = session.stylize(textured_background())
    assert out.shape == (80, 120, 3) and out.dtype == np.uint8
    with pytest.raises(BadStyleError):
        StylizationSession(get_model("mkl"), np.zeros((4, 4, 3), np.uint8), StylizeSettings(64), cpu, smoothing)
