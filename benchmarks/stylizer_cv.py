"""Cross-validation of the `regions` model's settings on the photo pairs: tune on one half, report on the other.

The pairs are split by their number's parity (half A: odd numbers, half B: even numbers; fixed, no
randomness). On the tuning half, settings are chosen by coordinate descent over SEARCH, starting
from START (the settings before any cross-validation): each setting in turn takes the candidate
value that lowers the objective most, the others held. The settings tuned on A are then scored
on B, and those tuned on B on A; together the two held-out sides cover every pair once, each
scored by settings that never saw it.

Objective (lower is better), on the tuning half, for the automatic regions and with the pairs' masks:
median region-matched ratio + median global style ratio (each mode), plus, for every pair, how far its
region-matched ratio is more than 0.05 worse than `preset`'s on that pair, plus 10 x how far the median
edge-SSIM falls below 0.955 or `preset`'s, whichever is higher.

Each pair is run once per mode and effective settings: a candidate that differs only in settings the
mode does not read (the masks never read the matching settings; the transport's own settings are
unread while it is off) reuses the figures already made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from benchmarks.metrics import PairScorer, edge_ssim
from services.stylizer.models.region import RegionConfig, RegionTransfer
from services.stylizer.pipeline import StylizationSession, StylizeSettings

# Candidate values per setting, in the order coordinate descent visits them.
SEARCH: tuple[tuple[str, tuple], ...] = (
    ("look_correction", (0.0, 0.5, 1.0)),
    ("global_share", (0.0, 0.25)),
    ("match_lightness_weight", (0.15, 0.5, 1.0)),
    ("match_position_weight", (0.5, 1.0)),
    ("match_texture_weight", (2.0, 4.0)),
    ("match_colour_weight", (0.15, 0.5)),
    # Matching by unbalanced transport between whole regions (None: each cell its nearest prototypes);
    # the four after it only act with it on.
    ("transport_marginal", (None, 0.003, 0.03)),
    ("match_cell_weight", (1.0, 0.0)),
    ("match_smoothness_weight", (0.25, 0.0)),
    ("content_position_weight", (0.15, 0.6)),
    ("transport_position_weight", (0.5, 1.0)),
    ("regions", (4, 6)),
    ("min_gain", (1.0 / 3.0, 0.05)),
    ("cov_floor", (0.02**2, 0.005**2)),
    ("style_shrink_share", (0.005, 0.02)),
    ("uniform_std", (0.002, 0.01)),
    ("auto_range_bound", (False, True)),
    ("mask_look_correction", (None, 0.0, 0.25, 0.5)),  # None: as look_correction
    ("mask_edge_radius_fraction", (1 / 32, 1 / 64, 1 / 128)),
    ("fine_grey_share", (0.0, 0.5, 1.0)),
    ("fine_grey_sigma", (2.0, 1.0, 4.0)),
    # Each region's tone curve with label masks (None: as tone_share, which stays 0: with the automatic
    # regions every variant tried took bikes.mp4's key interval 10 below 38 dB against frame by frame),
    # where it starts from (the frame's own luma quantiles, or the style region's taken as Gaussian) and
    # its slope bounds.
    ("mask_tone_share", (0.0, 0.5, 1.0)),
    ("tone_from_style", (False, True)),
    ("tone_min_slope", (0.4, 0.6)),
    ("tone_max_slope", (2.5, 1.8)),
)
# Where the descent starts: the settings before any cross-validation (hand-tuned on 10 pairs).
START = RegionConfig(
    look_correction=0.0,
    mask_look_correction=None,
    match_lightness_weight=0.15,
    match_texture_weight=2.0,
    min_gain=1.0 / 3.0,
    mask_edge_radius_fraction=1 / 32,
)
# Settings the label-mask mode never reads (it matches labels, not automatic regions), and those only
# the transport matching reads: a candidate differing only in them gives the same output, run once.
AUTOMATIC_ONLY = (
    "regions",
    "match_colour_weight",
    "match_lightness_weight",
    "match_position_weight",
    "match_texture_weight",
    "transport_marginal",
    "match_smoothness_weight",
    "transport_position_weight",
    "match_cell_weight",
    "content_position_weight",
    "refine_steps",
    "temperature",
    "auto_range_bound",
)
TRANSPORT_ONLY = (
    "match_smoothness_weight",
    "transport_position_weight",
    "match_cell_weight",
    "content_position_weight",
)
GUARD = 0.05  # a pair's region-matched ratio may be this much worse than preset's before it costs
# The structure a result must keep: median edge-SSIM at least this, or preset's where that is higher
# (the target; preset's alone let a half where preset keeps little structure ask for none).
EDGE_SSIM_TARGET = 0.955
MODES = ("regions", "regions+masks")
CPU = torch.device("cpu")


def halves(pairs: Sequence) -> dict[str, list]:
    """Half A: odd pair numbers; half B: even ones."""
    return {
        "A": [pair for pair in pairs if int(pair.name) % 2 == 1],
        "B": [pair for pair in pairs if int(pair.name) % 2 == 0],
    }


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


class Evaluator:
    """Scores `regions` under given settings on given pairs; caches scorers and results."""

    def __init__(self, smoothing, long_side: int, reference: dict[str, dict[str, dict]]):
        """reference: method -> pair name -> row (style_ratio, region_ratio, edge_ssim), for `preset` at least."""
        self.smoothing, self.long_side, self.reference = smoothing, long_side, reference
        self.scorers: dict[str, PairScorer] = {}
        self.results: dict[tuple, dict] = {}
        self.runs = 0

    def scorer(self, pair) -> PairScorer:
        if pair.name not in self.scorers:
            self.scorers[pair.name] = PairScorer(pair.style, pair.content, pair.content_labels, pair.style_labels)
        return self.scorers[pair.name]

    def pair_rows(self, pair, config: RegionConfig) -> dict[str, dict]:
        rows = {}
        for mode in MODES:
            masked = mode.endswith("+masks")
            if masked and (pair.content_labels is None or pair.style_labels is None):
                continue
            rows[mode] = self.mode_row(pair, config, masked)
        return rows

    def mode_row(self, pair, config: RegionConfig, masked: bool) -> dict:
        """One pair's figures in one mode; settings that mode does not read are not told apart."""
        key = (pair.name, masked, effective(config, masked))
        if key not in self.results:
            self.results[key] = self.run(pair, config, masked)
        return self.results[key]

    def run(self, pair, config: RegionConfig, masked: bool) -> dict:
        session = StylizationSession(
            RegionTransfer(config),
            pair.style,
            StylizeSettings(self.long_side),
            CPU,
            self.smoothing,
            style_labels=pair.style_labels if masked else None,
        )
        output = session.stylize(pair.content, labels=pair.content_labels if masked else None)
        scorer = self.scorer(pair)
        self.runs += 1
        return {
            "pair": pair.name,
            "style_ratio": scorer.style_ratio(output),
            "region_ratio": scorer.region_ratio(output),
            "edge_ssim": edge_ssim(pair.content, output),
        }

    def evaluate(self, pairs, config: RegionConfig) -> dict[str, list[dict]]:
        per_mode: dict[str, list[dict]] = {mode: [] for mode in MODES}
        for pair in pairs:
            for mode, row in self.pair_rows(pair, config).items():
                per_mode[mode].append(row)
        return per_mode

    def objective(self, per_mode: dict[str, list[dict]]) -> float:
        preset = self.reference["preset"]
        total = 0.0
        for rows in per_mode.values():
            if not rows:
                continue
            total += _median([r["region_ratio"] for r in rows]) or 0.0
            total += _median([r["style_ratio"] for r in rows])
            for row in rows:
                ours, theirs = row["region_ratio"], preset[row["pair"]]["region_ratio"]
                if ours is not None and theirs is not None:
                    total += max(0.0, ours - theirs - GUARD)
            floor = max(EDGE_SSIM_TARGET, _median([preset[r["pair"]]["edge_ssim"] for r in rows]))
            total += 10.0 * max(0.0, floor - _median([r["edge_ssim"] for r in rows]))
        return total


def effective(config: RegionConfig, masked: bool) -> RegionConfig:
    """config with the settings the mode does not read put back to their defaults (a cache key)."""
    unread = AUTOMATIC_ONLY if masked else TRANSPORT_ONLY if config.transport_marginal is None else ()
    defaults = RegionConfig()
    return dataclasses.replace(config, **{name: getattr(defaults, name) for name in unread})


def tune(evaluator: Evaluator, pairs, start: RegionConfig, log=print, search=SEARCH) -> tuple[RegionConfig, list[dict]]:
    """Coordinate descent over `search` on the given pairs -> the chosen settings and the trail."""
    config = start
    best = evaluator.objective(evaluator.evaluate(pairs, config))
    trail = [{"setting": None, "value": None, "objective": best}]
    for name, values in search:
        for value in values:
            if getattr(config, name) == value:
                continue
            candidate = dataclasses.replace(config, **{name: value})
            score = evaluator.objective(evaluator.evaluate(pairs, candidate))
            trail.append({"setting": name, "value": value, "objective": score})
            log(f"  {name}={value}: objective {score:.4f} (best {best:.4f})")
            if score < best - 1e-4:
                config, best = candidate, score
    return config, trail


def summarise(rows: list[dict]) -> dict:
    return {
        "median_style_ratio": _median([r["style_ratio"] for r in rows]),
        "median_region_ratio": _median([r["region_ratio"] for r in rows]),
        "region_pairs": sum(r["region_ratio"] is not None for r in rows),
        "median_edge_ssim": _median([r["edge_ssim"] for r in rows]),
        "worse_than_preset_by_more_than_guard": [],
        "pairs": rows,
    }


def cross_validate(
    pairs, smoothing, long_side: int, reference: dict[str, dict[str, dict]], log=print, only=None
) -> dict:
    """Tune on each half, score on the other; also every pair's held-out figures together.

    reference: method -> pair name -> row, for the peers reported beside (`preset` is required).
    only: names of SEARCH to tune, starting from the shipped settings (RegionConfig()) with the others
    held; None: every setting of SEARCH, from START."""
    evaluator = Evaluator(smoothing, long_side, reference)
    split = halves(pairs)
    search = SEARCH if only is None else tuple((name, values) for name, values in SEARCH if name in only)
    if only is not None and len(search) != len(only):
        raise ValueError(f"not settings of the search: {sorted(set(only) - {name for name, _ in search})}")
    result: dict = {"split": "A: odd pair numbers, B: even pair numbers", "search": dict(search), "folds": {}}
    held_out: dict[str, list[dict]] = {mode: [] for mode in MODES}
    start = START if only is None else RegionConfig()
    result["start"] = "the settings before any cross-validation" if only is None else "the shipped settings"
    for tuned_on, scored_on in (("A", "B"), ("B", "A")):
        log(f"tuning on half {tuned_on} ({len(split[tuned_on])} pairs)")
        config, trail = tune(evaluator, split[tuned_on], start, log, search)
        chosen = {name: getattr(config, name) for name, _ in search}
        log(f"chosen on {tuned_on}: {chosen}")
        scores = evaluator.evaluate(split[scored_on], config)
        fold = {"tuned_on": tuned_on, "scored_on": scored_on, "settings": chosen, "trail": trail, "methods": {}}
        for mode, rows in scores.items():
            fold["methods"][mode] = summarise(rows)
            held_out[mode].extend(rows)
        names = {pair.name for pair in split[scored_on]}
        for method, by_pair in reference.items():
            fold["methods"][method] = summarise([row for name, row in by_pair.items() if name in names])
        result["folds"][f"tuned on {tuned_on}, scored on {scored_on}"] = fold
    result["held_out_all"] = {mode: summarise(rows) for mode, rows in held_out.items()}
    for method, by_pair in reference.items():
        result["held_out_all"][method] = summarise(list(by_pair.values()))
    for section in [*(f["methods"] for f in result["folds"].values()), result["held_out_all"]]:
        for mode in MODES:
            section[mode]["worse_than_preset_by_more_than_guard"] = [
                row["pair"]
                for row in section[mode]["pairs"]
                if row["region_ratio"] is not None
                and reference["preset"][row["pair"]]["region_ratio"] is not None
                and row["region_ratio"] > reference["preset"][row["pair"]]["region_ratio"] + GUARD
            ]
    result["runs"] = evaluator.runs
    return result
