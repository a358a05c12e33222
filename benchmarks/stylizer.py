"""Stylizer benchmark on real photo pairs: quality against classical peers, 1080p latency, meta-smoothing.

    python -m benchmarks.stylizer --out out/bench [--pairs ../shared/data/photo_pairs] [--skip-speed]
    python -m benchmarks.stylizer --cv --out out/bench   # cross-validation of the `regions` settings

Every method is scored by the global style ratio, the region-matched style ratio (the pairs'
own label masks, mask_content_N.png / mask_style_N.png) and edge-SSIM; the region-aware model
is also run with those masks given to it ("regions+masks").

Writes stylizer.json (medians and every pair's figures), stylizer_pairs.png (all pairs) and
stylizer_pair_N.png (one per pair): content | style | preset | regions | regions+masks |
color-matcher MKL; prints a table per pair (global style ratio / region-matched ratio / edge-SSIM).

--cv: the `regions` model's settings cross-validated (benchmarks.stylizer_cv: tuned on the odd-numbered
pairs and scored on the even ones, then the other way round), `preset` and color-matcher MKL beside;
writes stylizer_cv.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from benchmarks.metrics import PairScorer, edge_ssim, psnr
from mvstylizer_common.imagecodec import load_image_file
from mvstylizer_common.malloc import keep_large_buffers
from services.stylizer.masks import labels_from_mask
from services.stylizer.models import DEFAULT_MODEL, get_model
from services.stylizer.pipeline import StylizationSession, StylizeSettings, to_image, to_tensor, work_size
from services.stylizer.smoothing import MetaSmoothing, load_smoothing

DEFAULT_PAIRS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photo_pairs"
OUR_MODELS = ("preset", "mkl", "reinhard", "regions")
MASKED_MODEL = "regions"  # also run with the pairs' own masks, as "regions+masks"
SHEET_COLUMNS = ("content", "style", "preset", "regions", "regions+masks", "color-matcher mkl")
PEERS = ("mkl", "hm")  # color-matcher methods
WORK_LONG_SIDE = 512
CPU = torch.device("cpu")


class Pair:
    """One content/style photo pair and its label maps (None where the pair has no masks)."""

    def __init__(self, name: str, content: np.ndarray, style: np.ndarray, content_labels, style_labels):
        self.name, self.content, self.style = name, content, style
        self.content_labels, self.style_labels = content_labels, style_labels

    def __iter__(self):  # unpacks as (name, content, style), as callers did before masks
        return iter((self.name, self.content, self.style))


def _labels(path: Path, image: np.ndarray) -> np.ndarray | None:
    if not path.exists():
        return None
    return labels_from_mask(load_image_file(str(path))[1], (image.shape[1], image.shape[0]))


def load_pairs(directory: Path) -> list[Pair]:
    pairs = []
    for content_path in sorted(directory.glob("content_*.png"), key=lambda p: int(p.stem.split("_")[1])):
        style_path = directory / content_path.name.replace("content_", "style_")
        if style_path.exists():
            content, style = load_image_file(str(content_path))[1], load_image_file(str(style_path))[1]
            content_labels = _labels(directory / f"mask_{content_path.name}", content)
            style_labels = _labels(directory / f"mask_{style_path.name}", style)
            pairs.append(Pair(content_path.stem.split("_")[1], content, style, content_labels, style_labels))
    if not pairs:
        raise SystemExit(f"no content_N.png/style_N.png pairs in {directory}")
    return pairs


def color_matcher(content: np.ndarray, style: np.ndarray, method: str) -> np.ndarray:
    from color_matcher import ColorMatcher

    out = ColorMatcher().transfer(src=content.astype(np.float64), ref=style.astype(np.float64), method=method)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def session(
    model_name: str, style: np.ndarray, smoothing: MetaSmoothing, long_side: int = WORK_LONG_SIDE, style_labels=None
):
    settings = StylizeSettings(long_side)
    return StylizationSession(get_model(model_name), style, settings, CPU, smoothing, style_labels=style_labels)


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def score(pair: Pair, scorer: PairScorer, output: np.ndarray) -> dict:
    """One output's figures: global style ratio, region-matched ratio (None without two labels), edge-SSIM."""
    return {
        "pair": pair.name,
        "style_ratio": scorer.style_ratio(output),
        "region_ratio": scorer.region_ratio(output),
        "edge_ssim": edge_ssim(pair.content, output),
    }


def reference_rows(pairs: list[Pair], smoothing: MetaSmoothing) -> dict[str, dict[str, dict]]:
    """`preset` and color-matcher MKL on every pair: method -> pair name -> figures."""
    rows: dict[str, dict[str, dict]] = {"preset": {}, "color-matcher mkl": {}}
    for pair in pairs:
        scorer = PairScorer(pair.style, pair.content, pair.content_labels, pair.style_labels)
        rows["preset"][pair.name] = score(pair, scorer, session("preset", pair.style, smoothing).stylize(pair.content))
        rows["color-matcher mkl"][pair.name] = score(pair, scorer, color_matcher(pair.content, pair.style, "mkl"))
    return rows


def _cell(row: dict) -> str:
    region = "  -  " if row["region_ratio"] is None else f"{row['region_ratio']:.3f}"
    return f"{row['style_ratio']:.3f}/{region}/{row['edge_ssim']:.3f}"


def pair_table(summary: dict[str, dict]) -> str:
    """Every pair's global style ratio / region-matched ratio / edge-SSIM, one column per method."""
    methods = list(summary)
    by_pair: dict[str, dict[str, dict]] = {}
    for method in methods:
        for row in summary[method]["pairs"]:
            by_pair.setdefault(row["pair"], {})[method] = row
    width = 19
    lines = [f"{'pair':>4s} " + " ".join(f"{m[:width]:>{width}s}" for m in methods)]
    for name in sorted(by_pair, key=int):
        cells = [_cell(by_pair[name][m]) if m in by_pair[name] else "-" for m in methods]
        lines.append(f"{name:>4s} " + " ".join(f"{c:>{width}s}" for c in cells))
    medians = []
    for m in methods:
        row = summary[m]
        region = "  -  " if row["median_region_ratio"] is None else f"{row['median_region_ratio']:.3f}"
        medians.append(f"{row['median_style_ratio']:.3f}/{region}/{row['median_edge_ssim']:.3f}")
    lines.append(f"{'med':>4s} " + " ".join(f"{c:>{width}s}" for c in medians))
    return "\n".join(lines)


def quality(pairs: list[Pair], smoothing: MetaSmoothing) -> tuple[dict, dict[str, dict[str, np.ndarray]]]:
    """Per pair and median style ratio / region-matched ratio / edge-SSIM for our models and the peers;
    also the images."""
    rows: dict[str, list[dict]] = {}
    images: dict[str, dict[str, np.ndarray]] = {}
    for pair in pairs:
        name, content, style = pair
        outputs = {f"color-matcher {m}": color_matcher(content, style, m) for m in PEERS}
        for model in OUR_MODELS:
            outputs[model] = session(model, style, smoothing).stylize(content)
        has_masks = pair.content_labels is not None and pair.style_labels is not None
        if has_masks:
            masked = session(MASKED_MODEL, style, smoothing, style_labels=pair.style_labels)
            outputs[f"{MASKED_MODEL}+masks"] = masked.stylize(content, labels=pair.content_labels)
        images[name] = outputs
        scorer = PairScorer(style, content, pair.content_labels, pair.style_labels)
        for method, output in outputs.items():
            rows.setdefault(method, []).append(score(pair, scorer, output))
        print(
            f"pair {name}: "
            + ", ".join(
                f"{m} {r[-1]['style_ratio']:.3f}/"
                + ("-" if r[-1]["region_ratio"] is None else f"{r[-1]['region_ratio']:.3f}")
                + f"/{r[-1]['edge_ssim']:.3f}"
                for m, r in rows.items()
            ),
            flush=True,
        )
    summary = {
        method: {
            "median_style_ratio": _median([r["style_ratio"] for r in results]),
            # Over the pairs with at least two labels covering 2% of both photos.
            "median_region_ratio": _median([r["region_ratio"] for r in results]),
            "region_pairs": sum(r["region_ratio"] is not None for r in results),
            "median_edge_ssim": _median([r["edge_ssim"] for r in results]),
            "pairs": results,
        }
        for method, results in rows.items()
    }
    return summary, images


def latency_1080p(pairs, smoothing: MetaSmoothing, repeats: int) -> dict:
    """Key frame (1920x1080 uint8) to 1920x1080 stylized output, the default model: median milliseconds."""
    _, content, style = pairs[0]
    frame = cv2.resize(content, (1920, 1080), interpolation=cv2.INTER_CUBIC)
    sess = session(DEFAULT_MODEL, style, smoothing)
    low_w, low_h = work_size(1920, 1080, WORK_LONG_SIDE)
    totals, models, smooths = [], [], []
    for _ in range(repeats + 2):
        started = time.perf_counter()
        sess.stylize(frame)
        totals.append(time.perf_counter() - started)
        low = cv2.resize(frame, (low_w, low_h), interpolation=cv2.INTER_AREA)
        with torch.inference_mode():
            low_t = to_tensor(low, CPU)
            started = time.perf_counter()
            stylized = sess.model(low_t, sess.style_code)
            models.append(time.perf_counter() - started)
            started = time.perf_counter()
            smoothing.render(low_t, stylized, frame)
            smooths.append(time.perf_counter() - started)
    trim = slice(2, None)  # warm-up runs left out
    return {
        "model": DEFAULT_MODEL,
        "size": "1920x1080",
        "work_size": f"{low_w}x{low_h}",
        "threads": torch.get_num_threads(),
        "median_ms": 1e3 * float(np.median(totals[trim])),
        "p90_ms": 1e3 * float(np.percentile(totals[trim], 90)),
        "median_model_ms": 1e3 * float(np.median(models[trim])),
        "median_smoothing_ms": 1e3 * float(np.median(smooths[trim])),
        "repeats": repeats,
    }


def smoothing_vs_bicubic(pairs, smoothing: MetaSmoothing, model_name: str = DEFAULT_MODEL) -> dict:
    """Working-resolution stylization brought to 1920x1080 by meta-smoothing vs bicubic, scored against
    the model run at full resolution (PSNR dB and edge-SSIM, medians over the pairs)."""
    scores: dict[str, list[tuple[float, float]]] = {"meta_smoothing": [], "bicubic": []}
    model = get_model(model_name)
    for _, content, style in pairs:
        full = cv2.resize(content, (1920, 1080), interpolation=cv2.INTER_CUBIC)
        low_w, low_h = work_size(1920, 1080, WORK_LONG_SIDE)
        low = cv2.resize(full, (low_w, low_h), interpolation=cv2.INTER_AREA)
        with torch.inference_mode():
            code = model.encode_style(to_tensor(style, CPU))
            reference = to_image(model(to_tensor(full, CPU), code))
            low_t = to_tensor(low, CPU)
            stylized_low = model(low_t, code)
            ours = smoothing.render(low_t, stylized_low, full)
        bicubic = cv2.resize(to_image(stylized_low), (1920, 1080), interpolation=cv2.INTER_CUBIC)
        for name, image in (("meta_smoothing", ours), ("bicubic", bicubic)):
            scores[name].append((psnr(image, reference), edge_ssim(reference, image)))
    return {
        "model": model_name,
        "scale": f"{WORK_LONG_SIDE} -> 1920 long side",
        **{
            name: {
                "median_psnr_db": float(np.median([s[0] for s in values])),
                "median_edge_ssim": float(np.median([s[1] for s in values])),
            }
            for name, values in scores.items()
        },
    }


def save_grid(pairs, images: dict[str, dict[str, np.ndarray]], path: Path, height: int = 160, columns=None) -> None:
    """One row per pair: content, style and the methods in `columns`, all scaled to the same height
    (a method a pair lacks is left blank)."""
    columns = list(columns or SHEET_COLUMNS)
    rows, first_widths = [], []
    for name, content, style in pairs:
        tiles = []
        for column in columns:
            image = {"content": content, "style": style}.get(column)
            image = images[name].get(column) if image is None else image
            if image is None:
                image = np.full_like(content, 255)
            width = round(image.shape[1] * height / image.shape[0])
            tiles.append(
                np.pad(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), ((0, 4), (0, 4), (0, 0)))
            )
        first_widths = first_widths or [t.shape[1] for t in tiles]
        rows.append(np.concatenate(tiles, axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    header = np.full((24, width, 3), 255, np.uint8)
    for column, x in zip(columns, np.cumsum([0, *first_widths[:-1]]), strict=True):
        cv2.putText(header, column, (int(x) + 4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate([header, *rows], axis=0), cv2.COLOR_RGB2BGR))


def save_sheets(pairs, images: dict[str, dict[str, np.ndarray]], out: Path) -> list[Path]:
    """The all-pairs sheet and one larger sheet per pair; returns their paths."""
    paths = [out / "stylizer_pairs.png"]
    save_grid(pairs, images, paths[0])
    for pair in pairs:
        paths.append(out / f"stylizer_pair_{pair.name}.png")
        save_grid([pair], images, paths[-1], height=360)
    return paths


def main(argv: list[str] | None = None) -> None:
    keep_large_buffers()
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stylizer", description=__doc__)
    parser.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS)
    parser.add_argument("--out", type=Path, default=Path("out/bench"))
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-speed", action="store_true", help="quality only: no 1080p latency or smoothing runs")
    parser.add_argument("--cv", action="store_true", help="cross-validate the regions settings (stylizer_cv.json)")
    parser.add_argument(
        "--cv-settings",
        default=None,
        help="with --cv: only these settings (comma-separated names of SEARCH), from the shipped ones",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    pairs = load_pairs(args.pairs)
    smoothing = load_smoothing()
    if args.cv:
        only = tuple(args.cv_settings.split(",")) if args.cv_settings else None
        cross_validation(pairs, smoothing, args.out, only)
        return
    summary, images = quality(pairs, smoothing)
    result = {"pairs": len(pairs), "quality": summary}
    if not args.skip_speed:
        result["latency_1080p"] = latency_1080p(pairs, smoothing, args.repeats)
        result["smoothing_vs_bicubic"] = smoothing_vs_bicubic(pairs, smoothing)
    (args.out / "stylizer.json").write_text(json.dumps(result, indent=2) + "\n")
    sheets = save_sheets(pairs, images, args.out)
    print("per pair: global style ratio / region-matched ratio / edge-SSIM")
    print(pair_table(summary))
    print(f"{'method':22s} {'median style ratio':>19s} {'median region ratio':>20s} {'median edge-SSIM':>17s}")
    for method, row in summary.items():
        region = "-" if row["median_region_ratio"] is None else f"{row['median_region_ratio']:.3f}"
        print(
            f"{method:22s} {row['median_style_ratio']:19.3f} {region:>20s} {row['median_edge_ssim']:17.3f}"
            f"  ({row['region_pairs']} pairs with >= 2 labels)"
        )
    print(f"wrote {args.out / 'stylizer.json'} and {len(sheets)} sheets ({sheets[0]}, ...)")
    if args.skip_speed:
        return
    lat = result["latency_1080p"]
    print(
        f"1080p key frame ({lat['model']}): {lat['median_ms']:.1f} ms median"
        f" (model {lat['median_model_ms']:.1f}, smoothing {lat['median_smoothing_ms']:.1f})"
    )
    meta, bicubic = result["smoothing_vs_bicubic"]["meta_smoothing"], result["smoothing_vs_bicubic"]["bicubic"]
    print(
        f"meta-smoothing {meta['median_psnr_db']:.2f} dB / {meta['median_edge_ssim']:.3f}"
        f" vs bicubic {bicubic['median_psnr_db']:.2f} dB / {bicubic['median_edge_ssim']:.3f}"
    )


def cross_validation(
    pairs: list[Pair], smoothing: MetaSmoothing, out: Path, only: tuple[str, ...] | None = None
) -> dict:
    """benchmarks.stylizer_cv on these pairs, `preset` and color-matcher MKL beside; prints and writes it.
    only: tune just these settings, starting from the shipped ones (the others held as shipped)."""
    from benchmarks.stylizer_cv import cross_validate

    started = time.perf_counter()
    reference = reference_rows(pairs, smoothing)
    result = cross_validate(pairs, smoothing, WORK_LONG_SIDE, reference, only=only)
    result["seconds"] = round(time.perf_counter() - started, 1)
    (out / "stylizer_cv.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    sections = {**result["folds"], "all pairs, each scored by the settings tuned on the other half": None}
    for title, fold in sections.items():
        methods = fold["methods"] if fold else result["held_out_all"]
        print(f"\n{title}" + (f": settings {fold['settings']}" if fold else ""))
        print(pair_table(methods))
        for mode in ("regions", "regions+masks"):
            worse = methods[mode]["worse_than_preset_by_more_than_guard"]
            print(f"  {mode}: pairs more than 0.05 worse than preset (region-matched): {worse or 'none'}")
    print(
        f"wrote {out / 'stylizer_cv.json'} ({result['runs']} runs of one pair in one mode, {result['seconds']:.0f} s)"
    )
    return result


if __name__ == "__main__":
    main()
