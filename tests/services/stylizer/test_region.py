"""The region-aware model: regions matched sky to sky, stable across frames, masks, strength."""

import numpy as np
import pytest
import torch

from mvstylizer_common.errors import InvalidInputError
from services.stylizer.models import DEFAULT_MODEL, get_model, get_model_spec
from services.stylizer.models.region import RegionConfig, RegionTransfer
from services.stylizer.pipeline import StylizationSession, StylizeSettings, to_tensor
from services.stylizer.smoothing import load_smoothing

CPU = torch.device("cpu")


def scene(top, bottom, width=128, height=96, shift=0, seed=0, sky_rows=None) -> np.ndarray:
    """A smooth sky (top) over a textured ground (bottom), optionally shifted right by `shift` px."""
    rng = np.random.default_rng(seed)
    sky_rows = sky_rows or height // 2
    ys, xs = np.mgrid[0:height, 0 : width + 16].astype(np.float32)
    image = np.empty((height, width + 16, 3), np.float32)
    image[:] = bottom
    image[:sky_rows] = top
    image[:sky_rows] += (ys[:sky_rows, :, None] / height) * 20  # a gentle sky gradient
    ground = rng.normal(0, 25, size=(height - sky_rows, width + 16, 1))
    image[sky_rows:] += ground + 10 * np.sin(xs[sky_rows:, :, None] / 3.0)
    image = image[:, 8 - shift : 8 - shift + width]
    image += rng.normal(0, 1.5, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


DAY = dict(top=(110, 160, 230), bottom=(70, 130, 50))  # blue sky over green grass
DUSK = dict(top=(240, 130, 60), bottom=(50, 35, 70))  # orange sky over a dark violet ground


def halves(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    height = image.shape[0]
    return image[: height // 2 - 4].reshape(-1, 3).mean(0), image[height // 2 + 4 :].reshape(-1, 3).mean(0)


def stylize(content, style, strength=1.0, **session_options):
    labels = session_options.pop("labels", None)
    settings = StylizeSettings(64, strength=strength)
    session = StylizationSession(get_model("regions"), style, settings, CPU, load_smoothing(), **session_options)
    return session.stylize(content, labels=labels)


def test_regions_is_the_default_and_described():
    assert DEFAULT_MODEL == "regions"
    spec = get_model_spec("regions")
    assert "region" in spec.description and not spec.needs_weights
    model = get_model("regions")
    assert isinstance(model, RegionTransfer) and model.supports_labels and model.supports_strength


def test_each_region_takes_its_counterparts_look():
    content, style = scene(**DAY), scene(**DUSK, seed=1)
    out = stylize(content, style)
    sky, ground = halves(out)
    style_sky, style_ground = halves(style)
    # Sky to sky and ground to ground: each half is far closer to its counterpart than to the other.
    assert np.abs(sky - style_sky).mean() < 25 and np.abs(ground - style_ground).mean() < 25
    assert np.abs(sky - style_ground).mean() > 80
    # Better than one global map, which can only move both halves together.
    mkl = StylizationSession(get_model("mkl"), style, StylizeSettings(64), CPU, load_smoothing()).stylize(content)
    mkl_sky, mkl_ground = halves(mkl)
    ours = np.abs(sky - style_sky).mean() + np.abs(ground - style_ground).mean()
    assert ours < np.abs(mkl_sky - style_sky).mean() + np.abs(mkl_ground - style_ground).mean()


def test_the_look_is_stable_across_slightly_different_frames():
    style = scene(**DUSK, seed=1)
    first = scene(**DAY, seed=2)
    second = scene(**DAY, shift=3, seed=3)  # the camera moved 3 px; fresh noise
    model = get_model("regions")
    code = model.encode_style(to_tensor(style, CPU))
    with torch.inference_mode():
        a, _ = model.render_parts(to_tensor(first, CPU), code)
        b, _ = model.render_parts(to_tensor(second, CPU), code)
    # Same region assignment, so the same look: region colour means agree within a few levels.
    for half_a, half_b in zip(
        halves(np.asarray(a[0].permute(1, 2, 0)) * 255), halves(np.asarray(b[0].permute(1, 2, 0)) * 255), strict=True
    ):
        assert np.abs(half_a - half_b).max() < 3.0
    # The style's regions are fixed once per session: encoding again gives the same code.
    again = model.encode_style(to_tensor(style, CPU))
    torch.testing.assert_close(again.prototypes, code.prototypes)


def test_masks_match_labels_and_fall_back_to_the_whole_image():
    content, style = scene(**DAY), scene(**DUSK, seed=1)
    content_labels = np.zeros(content.shape[:2], np.uint8)
    content_labels[content.shape[0] // 2 :] = 7
    style_labels = np.zeros(style.shape[:2], np.uint8)
    style_labels[style.shape[0] // 2 :] = 7
    # Swapped labels on purpose: the masks rule, the sky takes the ground's look.
    out = stylize(content, style, style_labels=7 - style_labels, labels=content_labels)
    sky, ground = halves(out)
    style_sky, style_ground = halves(style)
    assert np.abs(sky - style_ground).mean() < 25 and np.abs(ground - style_sky).mean() < 25
    # A content label the style lacks takes the whole-image transfer.
    partial = content_labels.copy()
    partial[: content.shape[0] // 4] = 3
    out = stylize(content, style, style_labels=style_labels, labels=partial)
    assert out.shape == content.shape
    # Style labels given but none per frame: the automatic regions.
    assert stylize(content, style, style_labels=style_labels).shape == content.shape
    # No label in common: refused, clearly.
    with pytest.raises(InvalidInputError, match="no label in common"):
        stylize(content, style, style_labels=np.full(style.shape[:2], 5, np.uint8), labels=content_labels)
    # Content labels without style labels: refused.
    with pytest.raises(InvalidInputError, match="without labels"):
        stylize(content, style, labels=content_labels)


def test_label_maps_of_another_size_are_resized():
    content, style = scene(**DAY), scene(**DUSK, seed=1)
    small = np.zeros((24, 32), np.uint8)
    small[12:] = 7
    assert stylize(content, style, style_labels=small, labels=small).shape == content.shape


def test_strength_moves_between_the_contents_look_and_the_full_transfer():
    content, style = scene(**DAY), scene(**DUSK, seed=1)
    none, half, full = (stylize(content, style, strength=s) for s in (0.0, 0.5, 1.0))
    assert np.abs(none.astype(int) - content).mean() < 2.0
    distance = [np.abs(image.astype(int) - full).mean() for image in (none, half, full)]
    assert distance[0] > distance[1] > distance[2] == 0
    for bad in (-0.1, 1.5):
        with pytest.raises(InvalidInputError, match="strength"):
            stylize(content, style, strength=bad)


def test_models_without_masks_or_strength_refuse_them_clearly():
    content, style, smoothing = scene(**DAY), scene(**DUSK, seed=1), load_smoothing()
    labels = np.zeros(content.shape[:2], np.uint8)
    with pytest.raises(InvalidInputError, match="label masks"):
        StylizationSession(get_model("mkl"), style, StylizeSettings(64), CPU, smoothing, style_labels=labels)
    session = StylizationSession(get_model("mkl"), style, StylizeSettings(64), CPU, smoothing)
    with pytest.raises(InvalidInputError, match="label masks"):
        session.stylize(content, labels=labels)
    with pytest.raises(InvalidInputError, match="strength"):
        StylizationSession(get_model("preset"), style, StylizeSettings(64, strength=0.5), CPU, smoothing)
    # Strength 1 and no labels: the existing behaviour, unchanged.
    assert session.stylize(content).shape == content.shape


def luma(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


@pytest.mark.parametrize("colour, sky_gradient", [((255, 245, 200), 0), ((15, 15, 25), 40)], ids=["lit", "dark"])
def test_a_small_object_in_a_region_whose_counterpart_is_smooth_keeps_its_contrast(colour, sky_gradient):
    # A lit (or dark) window in the sky: the dusk sky it maps to is nearly flat, and its map would
    # flatten the window into the sky (gain floor) or clip its brightness away (gamut).
    content = scene(**DAY).astype(np.float32)
    content[:48] += np.linspace(-sky_gradient / 2, sky_gradient / 2, 48)[:, None, None]
    content = np.clip(content, 0, 255).astype(np.uint8)
    y, x, size = 4, 56, 16
    content[y : y + size, x : x + size] = colour
    model = RegionTransfer()
    style = model.encode_style(to_tensor(scene(**DUSK, seed=1), CPU))
    out = (model(to_tensor(content, CPU), style)[0].permute(1, 2, 0).numpy() * 255).round()

    def contrast(image):
        lum = luma(image)
        sides = np.concatenate(
            [lum[y : y + size, x - 8 : x - 4].ravel(), lum[y : y + size, x + size + 4 : x + size + 8].ravel()]
        )
        return lum[y + 2 : y + size - 2, x + 2 : x + size - 2].mean() - sides.mean()

    assert abs(contrast(content)) > 80
    assert contrast(out) / contrast(content) > 0.6


def test_the_luma_gain_floor_lifts_a_flattening_map_to_the_floor_and_leaves_others_alone():
    from services.stylizer.colour import LUMA_WEIGHTS as LUMA
    from services.stylizer.models.region import floor_luma_gain

    cov = torch.diag(torch.tensor([0.04, 0.05, 0.03], dtype=torch.float64))[None].repeat(2, 1, 1)
    flattening = 0.2 * torch.eye(3, dtype=torch.float64)  # keeps a fifth of the contrast
    keeping = 0.9 * torch.eye(3, dtype=torch.float64)
    lifted = floor_luma_gain(torch.stack([flattening, keeping]), cov, 0.4)
    luma = torch.tensor(LUMA, dtype=torch.float64)

    def gain(transform, region_cov):
        return float(luma @ transform @ region_cov @ luma / (luma @ region_cov @ luma))

    assert gain(lifted[0], cov[0]) == pytest.approx(0.4, abs=1e-9)
    assert torch.allclose(lifted[1], keeping)  # above the floor: unchanged
    # What is added is grey: the lifted map differs from the original by a multiple of ones @ luma.
    added = lifted[0] - flattening
    assert torch.allclose(added, added[0, 0] / LUMA[0] * torch.ones(3, 1, dtype=torch.float64) @ luma[None])


def portrait(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A smooth forehead (label 3, with a soft highlight) over a textured background (label 0)."""
    height, width = 96, 128
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.empty((height, width, 3), np.float32)
    image[:] = np.array([90, 110, 70]) + rng.normal(0, 20, size=(height, width, 1))
    forehead = (ys < 48) & (xs >= 32) & (xs < 96)
    skin = np.array([190, 150, 130], np.float32) + 4 * np.sin(xs / 9.0)[..., None]
    skin = skin + 30 * np.exp(-((ys - 24) ** 2 + (xs - 64) ** 2) / 60.0)[..., None]
    image[forehead] = skin[forehead]
    return np.clip(image, 0, 255).astype(np.uint8), np.where(forehead, 3, 0).astype(np.uint8)


@pytest.mark.parametrize("case", ["tiny", "blown-out"])
def test_a_label_whose_style_counterpart_cannot_support_it_gets_no_bright_blotch(case):
    # Mask mode. "tiny": the content's mask has a few stray pixels of a label (an anti-aliased mask
    # edge) that the style has only a few pixels of too; "blown-out": the forehead's counterpart in
    # the style is a clipped white patch. Either way the label's look must stay bounded by what the
    # style region supports: no area brighter than both the style region and the whole-image transfer.
    rng = np.random.default_rng(0)
    content, content_labels = portrait(rng)
    style = np.clip(np.array([60, 70, 100]) + rng.normal(0, 12, size=(96, 128, 1)), 0, 255).astype(np.uint8)
    style_labels = np.zeros((96, 128), np.uint8)
    if case == "tiny":
        content_labels[:] = 0
        content_labels[21:28:2, 61:68:2] = 5  # odd rows and columns only, in a smooth area
        style_labels[41:46:2, 61:66:2] = 5
        style[41:46:2, 61:66:2] = (200, 120, 90)
        region = np.zeros(content_labels.shape, bool)
        region[12:36, 48:80] = True  # around the stray pixels
    else:
        style_labels[30:60, 40:90] = 3
        style[30:60, 40:90] = np.clip(252 + rng.normal(0, 2, size=(30, 50, 1)), 0, 255)
        region = content_labels == 3
    model = RegionTransfer()
    code = model.encode_style(to_tensor(style, CPU), labels=style_labels)
    with torch.inference_mode():
        out = model(to_tensor(content, CPU), code, labels=content_labels)
    out = (out[0].permute(1, 2, 0).numpy() * 255).round()
    whole = StylizationSession(get_model("mkl"), style, StylizeSettings(128), CPU, load_smoothing()).stylize(content)
    # The whole-image transfer's look in that area, and no further: nothing near white, where neither
    # the style's background nor the whole-image transfer has anything that bright.
    brightest, bound = luma(out[region]).max(), np.percentile(luma(whole[region]), 99.5)
    assert brightest < bound + 25, f"peak luma {brightest:.0f} against {bound:.0f}"
    assert abs(luma(out[region]).mean() - luma(whole[region]).mean()) < 20


def test_a_black_and_white_style_gives_a_grey_picture_at_strength_one():
    content = scene(**DAY)
    style = np.repeat(luma(scene(**DUSK, seed=1)).round().clip(0, 255).astype(np.uint8)[..., None], 3, axis=2)
    out = stylize(content, style).astype(np.float64)
    chroma = out.max(axis=2) - out.min(axis=2)  # 0 for a grey pixel
    assert np.percentile(chroma, 95) < 6, f"95th percentile of chroma {np.percentile(chroma, 95):.1f}"


def test_at_strength_one_the_whole_look_comes_close_to_the_styles_when_region_shares_differ():
    # The content is mostly sky, the style mostly ground: region by region each part takes its
    # counterpart's look, and the whole is then drawn onto the style's colour statistics.
    from benchmarks.metrics import style_distance_ratio

    content = scene(**DAY, sky_rows=72)
    style = scene(**DUSK, seed=1, sky_rows=24)
    out = stylize(content, style)
    assert style_distance_ratio(out, style, content) < 0.3
    sky, ground = halves(out)
    assert np.abs(sky - ground).mean() > 40  # the regions still differ


# A thin smooth bright sky over a textured ground that fills nearly all of the style; the content's
# smooth bright sky fills over half of its frame.
THIN_SKY_STYLE = dict(top=(150, 190, 245), bottom=(150, 165, 60), sky_rows=10)
WIDE_SKY_CONTENT = dict(top=(225, 225, 230), bottom=(110, 80, 60), sky_rows=60)
# Matching by unbalanced transport between whole regions (region_match), the content's regions on their own.
TRANSPORT = dict(transport_marginal=0.003, match_cell_weight=0.0)


def test_a_smooth_bright_top_takes_the_styles_top_look_though_a_textured_ground_dominates_the_style():
    style, content = scene(**THIN_SKY_STYLE, seed=1), scene(**WIDE_SKY_CONTENT, seed=2)
    # No whole-image correction: it moves every region alike, and the point is which look each region takes.
    model = RegionTransfer(RegionConfig(look_correction=0.0, **TRANSPORT))
    session = StylizationSession(model, style, StylizeSettings(64), CPU, load_smoothing())
    out = session.stylize(content).astype(np.float64)
    style_top, style_ground = style[:8].reshape(-1, 3).mean(0), style[12:].reshape(-1, 3).mean(0)
    # The lower half of the sky, which lies level with the style's ground: the sky's look all the same.
    lower_sky = out[30:56].reshape(-1, 3).mean(0)
    to_top, to_ground = np.abs(lower_sky - style_top).sum(), np.abs(lower_sky - style_ground).sum()
    assert to_top < 0.5 * to_ground, (
        f"lower sky {lower_sky.round()}: {to_top:.0f} from the style's top, {to_ground:.0f} from its ground"
    )
    ground = out[64:].reshape(-1, 3).mean(0)
    assert np.abs(ground - style_ground).sum() < 0.5 * np.abs(ground - style_top).sum()


def test_with_transport_the_look_is_stable_across_slightly_different_frames():
    # The content's regions are seeded with the style's, fixed per session: frames a few pixels apart match alike.
    model = RegionTransfer(RegionConfig(**TRANSPORT))
    code = model.encode_style(to_tensor(scene(**THIN_SKY_STYLE, seed=1), CPU))
    first, second = scene(**WIDE_SKY_CONTENT, seed=2), scene(**WIDE_SKY_CONTENT, shift=3, seed=3)
    with torch.inference_mode():
        a, _ = model.render_parts(to_tensor(first, CPU), code)
        b, _ = model.render_parts(to_tensor(second, CPU), code)
    a, b = (np.asarray(x[0].permute(1, 2, 0)) * 255 for x in (a, b))
    for rows in (slice(0, 56), slice(64, None)):
        assert np.abs(a[rows].reshape(-1, 3).mean(0) - b[rows].reshape(-1, 3).mean(0)).max() < 3.0
    again = model.encode_style(to_tensor(scene(**THIN_SKY_STYLE, seed=1), CPU))
    torch.testing.assert_close(again.descriptors, code.descriptors)


def test_tone_curves_pass_through_the_targets_quantiles_with_their_slopes_bounded():
    from services.stylizer.models.region import TONE_LUT, tone_curves

    levels = torch.linspace(0.0, 1.0, 17, dtype=torch.float64)
    sources = (0.2 + 0.4 * levels)[None]
    # A target whose lower half rises twice as fast as the source's and whose upper half is flat.
    targets = torch.where(levels < 0.5, 0.1 + 0.8 * levels, torch.full_like(levels, 0.5))[None]
    curve = tone_curves(sources, targets, 0.4, 2.5)[0]
    grid = torch.linspace(0.0, 1.0, TONE_LUT, dtype=torch.float64)
    slopes = curve.diff() / grid.diff()
    assert bool((slopes >= 0.4 - 1e-9).all()) and bool((slopes <= 2.5 + 1e-9).all())
    at = lambda x: float(np.interp(x, grid.numpy(), curve.numpy()))  # noqa: E731
    assert at(0.4) == pytest.approx(0.5, abs=0.005)  # the median lands on the target's median
    assert at(0.3) == pytest.approx(0.3, abs=0.005)  # slope 2, within bounds: through the target
    # Where the target is flat the curve keeps the least slope (no posterisation); past the outer
    # quantiles it goes on at slope 1.
    assert at(0.5) == pytest.approx(0.5 + 0.1 * 0.4, abs=0.005)
    assert at(0.9) - at(0.8) == pytest.approx(0.1, abs=0.005)
    assert at(0.1) == pytest.approx(0.1 - 0.1, abs=0.005)


def test_weighted_quantiles_are_each_regions_quantiles():
    from services.stylizer.models.region import TONE_QUANTILES, weighted_quantiles

    values = torch.from_numpy(np.random.default_rng(0).random(20_000).astype(np.float32))
    inside = values > 0.6
    memberships = torch.stack([torch.ones_like(values), inside.float()])
    found = weighted_quantiles(values, memberships, TONE_QUANTILES)
    for row, subset in zip(found, (values, values[inside]), strict=True):
        expected = np.quantile(subset.numpy(), TONE_QUANTILES.numpy())
        assert np.abs(row.numpy() - expected).max() < 2e-3


def region_luma_quantiles(image: torch.Tensor, region: np.ndarray) -> np.ndarray:
    picture = image[0].permute(1, 2, 0).numpy()
    return np.quantile(luma(picture[region]), np.linspace(0.05, 0.95, 19))


@pytest.mark.parametrize("masked", [True, False])
def test_the_tone_curve_gives_a_region_its_counterparts_tones_not_only_their_mean_and_spread(masked):
    # The style's sky brightens as the square of the distance across it (mostly deep, a bright tail: a
    # skewed luma distribution); the content's sky is an even gradient. An affine map matches the two's
    # mean and spread only; the tone curve brings the sky's whole luma distribution close to the style's.
    rng = np.random.default_rng(0)
    height, width = 96, 128
    across = np.linspace(0.0, 1.0, width)[None, :, None]
    style = np.empty((height, width, 3), np.float32)
    style[:48] = (40 + 170 * across**2) * np.array([0.7, 0.85, 1.0]) + 30
    style[48:] = np.array([90, 80, 40]) + rng.normal(0, 20, size=(48, width, 1))
    content = np.empty((height, width, 3), np.float32)
    content[:48] = (90 + 110 * across) * np.array([0.8, 0.9, 1.0])
    content[48:] = np.array([80, 110, 60]) + rng.normal(0, 20, size=(48, width, 1))
    style, content = (np.clip(x + rng.normal(0, 2, x.shape), 0, 255).astype(np.uint8) for x in (style, content))
    labels = np.zeros((height, width), np.uint8)
    labels[:48] = 1
    sky = labels == 1
    sky[44:52] = False
    target = np.quantile(luma(style[:48].reshape(-1, 3).astype(np.float64) / 255.0), np.linspace(0.05, 0.95, 19))
    errors = {}
    for share in (0.0, 1.0):
        # Two automatic regions, so that the style's sky is one region as its label is.
        model = RegionTransfer(RegionConfig(tone_share=share, mask_tone_share=share, look_correction=0.0, regions=2))
        code = model.encode_style(to_tensor(style, CPU), labels=labels if masked else None)
        with torch.inference_mode():
            out, _ = model.render_parts(to_tensor(content, CPU), code, labels=labels if masked else None)
        errors[share] = np.abs(region_luma_quantiles(out, sky) - target).mean()
    assert errors[1.0] < 0.6 * errors[0.0], f"sky's luma quantiles off by {errors[1.0]:.3f} against {errors[0.0]:.3f}"
