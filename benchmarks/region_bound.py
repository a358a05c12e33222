"""How far better matching could take the automatic regions: a bound measured on the photo pairs.

    python -m benchmarks.region_bound --pairs ../shared/data/photo_pairs --out out/bound \
        [--setting look_correction=0,1 --setting tone_share=0,1 ...]

The `regions` model without masks runs on every pair twice per variant of its settings:
- "matched": as it runs for users, its own matching of content cells to the style's automatic regions;
- "perfect": the same model with perfect matching (PerfectMatching). The style is still cut into its
  automatic regions as shipped, without its mask; each content cell is then given, by the pair's
  labels, the mix of those regions that covers the same label in the style. No automatic matching
  can assign the style's regions more truly than the labels do, so "perfect" bounds what better
  matching alone can give; everything after the memberships (the regions' maps, their blend, the
  whole-image correction, tone curves) runs as shipped.

Variants: the cartesian product of the --setting values (RegionConfig fields; `none` for None), the
shipped settings otherwise; with no --setting, the shipped settings alone. Prints and writes
region_bound.json: per variant and kind, every pair's figures (global style ratio, region-matched
ratio, edge-SSIM) and the medians on half A (odd-numbered pairs), half B and all.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
from pathlib import Path

import cv2
import numpy as np
import torch

from benchmarks.metrics import PairScorer
from benchmarks.stylizer import DEFAULT_PAIRS, WORK_LONG_SIDE, Pair, load_pairs, score
from benchmarks.stylizer_cv import halves, summarise
from mvstylizer_common.malloc import keep_large_buffers
from services.stylizer.models.region import RegionConfig, RegionStyle, RegionTransfer
from services.stylizer.pipeline import StylizationSession, StylizeSettings
from services.stylizer.smoothing import MetaSmoothing, load_smoothing

KINDS = ("matched", "perfect")


def _grid_labels(labels: np.ndarray, grid: tuple[int, int]) -> torch.Tensor:
    """HxW label map -> its labels on the model's coarse grid (nearest), flattened as the grid's cells."""
    height, width = grid
    small = cv2.resize(labels.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
    return torch.from_numpy(small.astype(np.int64)).flatten()


class PerfectMatching(RegionTransfer):
    """`regions` whose content cells take, by the pair's labels, the mix of the style's automatic regions
    inside the same style label. A content label the style lacks keeps the model's own matching."""

    def __init__(self, config: RegionConfig, content_labels: np.ndarray, style_labels: np.ndarray):
        super().__init__(config)
        self.content_labels, self.style_labels = content_labels, style_labels
        self.label_mix: dict[int, torch.Tensor] = {}

    def encode_style(self, style: torch.Tensor, labels=None) -> RegionStyle:
        code = super().encode_style(style, labels)
        raw = self.raw_features(style)
        member = torch.softmax(self.logits(raw, code.prototypes, self.segment_weights()), dim=1)
        cells = _grid_labels(self.style_labels, self.grid_size(*style.shape[-2:]))
        self.label_mix = {int(label): member[cells == label].mean(dim=0) for label in torch.unique(cells)}
        return code

    def content_logits(self, content: torch.Tensor, mapped: torch.Tensor, style: RegionStyle) -> torch.Tensor:
        logits = super().content_logits(content, mapped, style)
        cells = _grid_labels(self.content_labels, self.grid_size(*content.shape[-2:]))
        for label, mix in self.label_mix.items():
            logits[cells == label] = (mix + 1e-4).log().float()
        return logits


def variants(settings: list[str]) -> list[dict]:
    """["name=v1,v2", ...] -> every combination as {name: value}; values parsed as Python literals."""
    axes = []
    for setting in settings:
        name, _, values = setting.partition("=")
        if name not in {f.name for f in dataclasses.fields(RegionConfig)} or not values:
            raise SystemExit(f"--setting wants NAME=V1,V2 with NAME a RegionConfig field, got {setting!r}")
        axes.append([(name, _parse(value)) for value in values.split(",")])
    return [dict(combination) for combination in itertools.product(*axes)]


def _parse(value: str):
    lowered = value.strip().lower()
    if lowered in ("none", "true", "false"):
        return {"none": None, "true": True, "false": False}[lowered]
    return int(value) if value.strip().lstrip("-").isdigit() else float(value)


def run_pair(model: RegionTransfer, pair: Pair, smoothing: MetaSmoothing, long_side: int) -> np.ndarray:
    session = StylizationSession(model, pair.style, StylizeSettings(long_side), torch.device("cpu"), smoothing)
    return session.stylize(pair.content)


def bound(pairs: list[Pair], smoothing: MetaSmoothing, overrides: dict, long_side: int = WORK_LONG_SIDE) -> dict:
    """One variant's figures: kind -> summary (medians and every pair's row), per half and all."""
    config = dataclasses.replace(RegionConfig(), **overrides)
    rows: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    for pair in pairs:
        scorer = PairScorer(pair.style, pair.content, pair.content_labels, pair.style_labels)
        perfect = PerfectMatching(config, pair.content_labels, pair.style_labels)
        models = {"matched": RegionTransfer(config), "perfect": perfect}
        for kind, model in models.items():
            rows[kind].append(score(pair, scorer, run_pair(model, pair, smoothing, long_side)))
    result = {}
    for kind, kind_rows in rows.items():
        by_name = {row["pair"]: row for row in kind_rows}
        parts = {half: [by_name[p.name] for p in members] for half, members in halves(pairs).items()}
        parts["all"] = kind_rows
        result[kind] = {part: summarise(part_rows) for part, part_rows in parts.items()}
    return result


def _figures(summary: dict) -> str:
    region = summary["median_region_ratio"]
    region_text = "-" if region is None else f"{region:.3f}"
    return f"{summary['median_style_ratio']:.3f} / {region_text} / {summary['median_edge_ssim']:.3f}"


def main(argv: list[str] | None = None) -> None:
    keep_large_buffers()
    parser = argparse.ArgumentParser(prog="python -m benchmarks.region_bound", description=__doc__)
    parser.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS)
    parser.add_argument("--out", type=Path, default=Path("out/bound"))
    parser.add_argument("--setting", action="append", default=[], help="NAME=V1,V2 (repeatable): variants")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    pairs = [p for p in load_pairs(args.pairs) if p.content_labels is not None and p.style_labels is not None]
    if not pairs:
        raise SystemExit(f"no pair in {args.pairs} has both masks")
    smoothing = load_smoothing()
    results = []
    print("medians: global style ratio / region-matched ratio / edge-SSIM")
    for overrides in variants(args.setting):
        figures = bound(pairs, smoothing, overrides)
        results.append({"settings": overrides, **figures})
        name = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "shipped"
        for kind in KINDS:
            parts = "   ".join(f"{part} {_figures(figures[kind][part])}" for part in ("A", "B", "all"))
            print(f"{name:40s} {kind:8s} {parts}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "region_bound.json").write_text(json.dumps({"pairs": len(pairs), "variants": results}, indent=2) + "\n")
    print(f"wrote {args.out / 'region_bound.json'}")


if __name__ == "__main__":
    main()
