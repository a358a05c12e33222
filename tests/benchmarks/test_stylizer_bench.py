"""benchmarks.stylizer: per-pair figures and the cross-validation of the `regions` settings."""

import numpy as np
import pytest

import benchmarks.stylizer_cv as cv
from benchmarks.stylizer import Pair, pair_table, reference_rows
from services.stylizer.smoothing import load_smoothing


def synthetic_pair(number: int) -> Pair:
    """A small sky-over-ground content and style with their two-label masks; each number differs."""
    rng = np.random.default_rng(number)
    height, width = 48, 64

    def photo(top, bottom):
        image = np.empty((height, width, 3), np.float32)
        image[: height // 2] = top
        image[height // 2 :] = bottom + rng.normal(0, 20, size=(height - height // 2, width, 1))
        return np.clip(image + rng.normal(0, 2, size=image.shape), 0, 255).astype(np.uint8)

    labels = np.zeros((height, width), np.uint8)
    labels[height // 2 :] = 7
    content = photo(rng.uniform(100, 230, 3), rng.uniform(30, 140, 3))
    style = photo(rng.uniform(100, 250, 3), rng.uniform(20, 120, 3))
    return Pair(str(number), content, style, labels, labels.copy())


def test_the_halves_split_by_parity_and_cover_every_pair_once():
    pairs = [synthetic_pair(n) for n in (1, 2, 3, 5, 8)]
    split = cv.halves(pairs)
    assert [p.name for p in split["A"]] == ["1", "3", "5"] and [p.name for p in split["B"]] == ["2", "8"]


def test_the_pair_table_shows_every_pair_and_method_and_the_medians():
    row = {"style_ratio": 0.2, "region_ratio": 0.3, "edge_ssim": 0.9}
    summary = {
        method: {
            "pairs": [{"pair": "1", **row}, {"pair": "10", **row, "region_ratio": None}],
            "median_style_ratio": 0.2,
            "median_region_ratio": 0.3,
            "median_edge_ssim": 0.9,
        }
        for method in ("preset", "regions")
    }
    lines = pair_table(summary).splitlines()
    assert "preset" in lines[0] and "regions" in lines[0]
    assert lines[1].split()[0] == "1" and lines[2].split()[0] == "10" and lines[3].split()[0] == "med"
    assert lines[1].split()[1] == "0.200/0.300/0.900" and "-" in lines[2]


def test_cross_validation_scores_each_half_only_with_settings_tuned_on_the_other(monkeypatch):
    monkeypatch.setattr(cv, "SEARCH", (("look_correction", (0.0, 1.0)),))
    pairs = [synthetic_pair(n) for n in range(1, 5)]
    smoothing = load_smoothing()
    tuned_on: list[list[str]] = []
    real_tune = cv.tune

    def recording_tune(evaluator, half, start, log=print, search=cv.SEARCH):
        tuned_on.append([p.name for p in half])
        return real_tune(evaluator, half, start, log, search)

    monkeypatch.setattr(cv, "tune", recording_tune)
    result = cv.cross_validate(pairs, smoothing, 32, reference_rows(pairs, smoothing), log=lambda *_: None)
    assert tuned_on == [["1", "3"], ["2", "4"]]
    folds = list(result["folds"].values())
    assert [f["tuned_on"] for f in folds] == ["A", "B"] and [f["scored_on"] for f in folds] == ["B", "A"]
    scored = [[row["pair"] for row in f["methods"]["regions"]["pairs"]] for f in folds]
    assert scored == [["2", "4"], ["1", "3"]]  # never a pair the settings were tuned on
    held_out = result["held_out_all"]
    assert sorted(row["pair"] for row in held_out["regions+masks"]["pairs"]) == ["1", "2", "3", "4"]
    for method in ("regions", "regions+masks", "preset", "color-matcher mkl"):
        summary = held_out[method]
        assert summary["median_style_ratio"] == pytest.approx(np.median([r["style_ratio"] for r in summary["pairs"]]))
    assert all(f["settings"]["look_correction"] in (0.0, 1.0) for f in folds)


def test_cross_validation_of_some_settings_starts_from_the_shipped_ones_and_tunes_only_those(monkeypatch):
    pairs = [synthetic_pair(n) for n in range(1, 3)]
    smoothing = load_smoothing()
    starts = []
    real_tune = cv.tune

    def recording_tune(evaluator, half, start, log=print, search=cv.SEARCH):
        starts.append((start, [name for name, _ in search]))
        return real_tune(evaluator, half, start, log, search)

    monkeypatch.setattr(cv, "tune", recording_tune)
    only = ("fine_grey_share",)
    monkeypatch.setattr(cv, "SEARCH", (("look_correction", (0.0, 1.0)), ("fine_grey_share", (0.0, 1.0))))
    result = cv.cross_validate(pairs, smoothing, 32, reference_rows(pairs, smoothing), log=lambda *_: None, only=only)
    assert starts == [(cv.RegionConfig(), ["fine_grey_share"])] * 2
    assert all(set(f["settings"]) == {"fine_grey_share"} for f in result["folds"].values())
    with pytest.raises(ValueError, match="not settings of the search"):
        cv.cross_validate(pairs, smoothing, 32, reference_rows(pairs, smoothing), only=("no_such_setting",))


def test_the_objective_asks_for_the_target_edge_ssim_where_preset_keeps_less():
    evaluator = cv.Evaluator(None, 32, {"preset": {"1": {"region_ratio": None, "edge_ssim": 0.90}}})
    row = {"pair": "1", "region_ratio": None, "style_ratio": 0.2, "edge_ssim": 0.94}
    rows = {"regions": [row], "regions+masks": []}
    # 0.2 (global ratio) + 10 x (0.955 - 0.94): preset's own 0.90 does not lower the bar.
    assert evaluator.objective(rows) == pytest.approx(0.2 + 10 * (cv.EDGE_SSIM_TARGET - 0.94))
    rows["regions"][0]["edge_ssim"] = 0.97
    assert evaluator.objective(rows) == pytest.approx(0.2)


def test_a_candidate_differing_only_in_settings_a_mode_does_not_read_is_not_run_again_in_that_mode():
    pairs = [synthetic_pair(1)]
    smoothing = load_smoothing()
    evaluator = cv.Evaluator(smoothing, 32, reference_rows(pairs, smoothing))
    base = cv.START
    evaluator.evaluate(pairs, base)
    assert evaluator.runs == 2  # automatic regions and masks
    # A matching weight: the automatic regions change, the masks' output cannot.
    evaluator.evaluate(pairs, cv.dataclasses.replace(base, match_texture_weight=7.0))
    assert evaluator.runs == 3
    # A transport-only setting while transport is off: neither mode reads it.
    evaluator.evaluate(pairs, cv.dataclasses.replace(base, match_cell_weight=0.5))
    assert evaluator.runs == 3
    # With transport on it counts for the automatic regions; look_correction counts for both.
    on = cv.dataclasses.replace(base, transport_marginal=0.01)
    evaluator.evaluate(pairs, on)
    evaluator.evaluate(pairs, cv.dataclasses.replace(on, match_cell_weight=0.5))
    assert evaluator.runs == 5
    evaluator.evaluate(pairs, cv.dataclasses.replace(base, look_correction=0.5))
    assert evaluator.runs == 7
