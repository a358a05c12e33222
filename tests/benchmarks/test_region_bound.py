"""benchmarks.region_bound: perfect matching by the pairs' labels, and the variants it is run under."""

import numpy as np
import pytest
import torch

from benchmarks.region_bound import PerfectMatching, bound, variants
from benchmarks.stylizer import Pair
from services.stylizer.models.region import RegionConfig, RegionTransfer
from services.stylizer.smoothing import load_smoothing
from tests.benchmarks.test_stylizer_bench import synthetic_pair

HEIGHT, WIDTH = 96, 128


def _sky_and_ground(rng, sky_on_top: bool) -> tuple[np.ndarray, np.ndarray]:
    """A smooth bright blue sky and a dark textured green ground, and its labels (1 sky, 2 ground)."""
    image = np.empty((HEIGHT, WIDTH, 3), np.float32)
    labels = np.empty((HEIGHT, WIDTH), np.uint8)
    sky = slice(0, HEIGHT // 2) if sky_on_top else slice(HEIGHT // 2, HEIGHT)
    ground = slice(HEIGHT // 2, HEIGHT) if sky_on_top else slice(0, HEIGHT // 2)
    image[sky], labels[sky] = (120, 170, 235), 1
    image[ground] = np.array([40, 110, 30]) + rng.normal(0, 30, size=(HEIGHT // 2, WIDTH, 1))
    labels[ground] = 2
    return np.clip(image, 0, 255).astype(np.uint8), labels


def _label_memberships(model: RegionTransfer, style: np.ndarray, content: np.ndarray, labels: np.ndarray):
    """Each style region's mean membership over the content's label-1 pixels away from the border."""
    style_code = model.encode_style(torch.from_numpy(style).permute(2, 0, 1)[None].float() / 255.0)
    frame = torch.from_numpy(content).permute(2, 0, 1)[None].float() / 255.0
    weights = model.region_transforms(frame, style_code).weights.view(-1, HEIGHT, WIDTH)
    inside = torch.from_numpy(labels == 1)
    inside[HEIGHT // 2 - 16 : HEIGHT // 2 + 16] = False
    return weights[:, inside].mean(dim=1), model


def test_perfect_matching_gives_each_content_label_the_style_regions_inside_that_label():
    rng = np.random.default_rng(3)
    style, style_labels = _sky_and_ground(rng, sky_on_top=True)
    # Upside down: the content's sky lies where the style's ground does.
    content, content_labels = _sky_and_ground(rng, sky_on_top=False)
    config = RegionConfig(regions=2)
    perfect, model = _label_memberships(
        PerfectMatching(config, content_labels, style_labels), style, content, content_labels
    )
    sky_mix = model.label_mix[1]
    assert float(sky_mix.max()) > 0.9  # the style's sky is one of its automatic regions
    assert torch.allclose(perfect, sky_mix.float(), atol=0.05)
    shipped, _ = _label_memberships(RegionTransfer(config), style, content, content_labels)
    # The shipped matching, led by position, gives the upside-down sky less of the style's sky.
    assert float(shipped[sky_mix.argmax()]) < float(perfect[sky_mix.argmax()]) - 0.1


def test_variants_are_every_combination_of_the_settings_values():
    assert variants([]) == [{}]
    assert variants(["look_correction=0,1", "mask_look_correction=none,0.5", "regions=4"]) == [
        {"look_correction": 0, "mask_look_correction": None, "regions": 4},
        {"look_correction": 0, "mask_look_correction": 0.5, "regions": 4},
        {"look_correction": 1, "mask_look_correction": None, "regions": 4},
        {"look_correction": 1, "mask_look_correction": 0.5, "regions": 4},
    ]
    with pytest.raises(SystemExit, match="RegionConfig field"):
        variants(["no_such_setting=1"])


def test_the_bound_reports_both_kinds_on_each_half_and_all_pairs():
    pairs: list[Pair] = [synthetic_pair(n) for n in (1, 2, 3)]
    result = bound(pairs, load_smoothing(), {"look_correction": 0.0}, long_side=48)
    for kind in ("matched", "perfect"):
        assert [row["pair"] for row in result[kind]["all"]["pairs"]] == ["1", "2", "3"]
        assert [row["pair"] for row in result[kind]["A"]["pairs"]] == ["1", "3"]
        assert [row["pair"] for row in result[kind]["B"]["pairs"]] == ["2"]
        assert all(row["region_ratio"] is not None for row in result[kind]["all"]["pairs"])
