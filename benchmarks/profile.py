"""Where the time goes: the 1080p key-frame pipeline, stage by stage, in CPU time per frame.

1. End to end: frame-by-frame and adaptive key frames on the same virtual-camera clip
   (stylizer a subprocess on loopback, interpolator in process, as the client runs by
   default); wall time, and CPU time of the client (all its threads: codec threads
   included) and of the stylizer process.
2. Each device-side stage again, alone, on the same frames and the same key frames
   (process CPU time, all threads): decode, key-frame selection, flow and confidence,
   key-frame map fitting, map warping + blending + application, H.264 encode.
   What the end-to-end run spent beyond their sum is threads, queues and contention.
3. The budget a target speedup leaves: at S x, a frame may take 1/S of frame-by-frame's
   wall time, times the cores, of CPU time in all; the stages it cannot do without
   (decode and encode at the same output settings) are set against it.

Writes profile.json and profile.png.

    python -m benchmarks.profile [--frames 150] [--target 10] [--out out/bench]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.clips import virtual_camera_clip
from benchmarks.device import GRADE
from client.device.keyframes import KEY_LONG_SIDE, AdaptiveSelector
from client.media.frames import OutputFrame
from client.media.sink import VideoSink
from client.media.source import VideoSource
from client.process_setup import prepare_client_process
from client.remote.embedded import EmbeddedServices
from client.remote.services import INPROC, ServiceOptions
from client.video.job import VideoJob, stylize_video
from client.video.pipeline import FrameRecord, WorkItem, compute_flows
from mvstylizer_common.samples import sample_style
from services.interpolator.core import FlowToKey, apply_colour_transform, key_output, prepare_key, synthesize_frame
from services.interpolator.flow import DEFAULT_FLOW_LONG_SIDE
from services.interpolator.grids import grid_size, shrink_to_long_side
from services.interpolator.session import DEFAULT_MAP_LONG_SIDE, OFFLINE

_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU time of another process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def end_to_end(clip: Path, style: Path, out_dir: Path, services: EmbeddedServices, **job) -> dict:
    """One job, timed, with the CPU time it cost this process and the stylizer process."""
    stylizer_pid = services.process_ids()["services.stylizer"]
    options = ServiceOptions(stylizer=services.stylizer, interpolator=INPROC)
    output = out_dir / f"profile_{job.get('keyframes', 'fixed')}_{job.get('key_interval', 0)}.mp4"
    client_cpu, stylizer_cpu = time.process_time(), process_cpu_seconds(stylizer_pid)
    metrics = stylize_video(VideoJob(str(clip), str(style), str(output), options, mode=OFFLINE, **job))
    frames = metrics["frames_out"]
    return {
        "frames": frames,
        "key_frames": metrics["key_frames"],
        "wall_ms_per_frame": 1000 * metrics["wall_seconds"] / frames,
        "client_cpu_ms_per_frame": 1000 * (time.process_time() - client_cpu) / frames,
        "stylizer_cpu_ms_per_frame": 1000 * (process_cpu_seconds(stylizer_pid) - stylizer_cpu) / frames,
        "fps": metrics["fps"],
    }


class StageClock:
    """CPU time of this process (every thread) per stage, per frame."""

    def __init__(self, frames: int):
        self.frames = frames
        self.ms_per_frame: dict[str, float] = {}

    def time(self, name: str, work):
        start = time.process_time()
        result = work()
        self.ms_per_frame[name] = 1000 * (time.process_time() - start) / self.frames
        return result


def stages_alone(clip: Path, out_dir: Path) -> tuple[dict[str, float], list[int]]:
    """Each device-side stage of an adaptive offline run, alone on the clip's frames."""
    with VideoSource(str(clip)) as source:
        info = source.info
        clock = StageClock(info.frame_count or 1)
        frames = clock.time("decode", lambda: [f.rgb for f in source.frames()])
    count = len(frames)
    clock.frames = count
    height, width = frames[0].shape[:2]

    selector = AdaptiveSelector()
    records = [FrameRecord(i, i, f, DEFAULT_FLOW_LONG_SIDE) for i, f in enumerate(frames)]
    # As the pipeline does: the selector sees each frame as the flow shrinks it (made here, reused later).
    decisions = clock.time(
        "frame shrink and key-frame selection",
        lambda: [selector.decide(r.index, r.flow_frame.small) for r in records],
    )
    keys = sorted({i for i, d in enumerate(decisions) if d.is_key} | {0, count - 1})

    grid = grid_size(width, height, DEFAULT_MAP_LONG_SIDE)

    def fit_keys() -> dict:
        # The stylized key stands in as a fixed colour grade at the size the stylizer answers.
        held = {}
        for i in keys:
            stylized = apply_colour_transform(shrink_to_long_side(frames[i], KEY_LONG_SIDE), GRADE)
            held[i] = prepare_key(i, frames[i], stylized, grid)
        return held

    held = clock.time("key-frame map fitting", fit_keys)
    links = {}

    def flows() -> None:
        for i in range(count):
            if i in held:
                continue
            prev = max(k for k in keys if k < i)
            nxt = min(k for k in keys if k > i)
            links[i] = (prev, nxt, compute_flows(WorkItem(records[i], records[prev], records[nxt])))

    clock.time("flow and confidence (two keys)", flows)

    def interpolate() -> list[np.ndarray]:
        out = []
        for i in range(count):
            if i in held:
                out.append(key_output(held[i], i420=True))
                continue
            prev, nxt, (flow_prev, conf_prev, flow_next, conf_next) = links[i]
            out.append(
                synthesize_frame(
                    i,
                    FlowToKey(held[prev], flow_prev, conf_prev),
                    FlowToKey(held[nxt], flow_next, conf_next),
                    frames[i],
                    records[i].flow_frame.small,
                    i420=True,  # as the pipeline makes frames for the encoder
                )
            )
        return out

    outputs = clock.time("colour maps: warp, blend, apply", interpolate)

    def encode() -> None:
        sink = VideoSink(str(out_dir / "profile_encode.mp4"), width, height, info.time_base, info.frame_rate)
        for index, rgb in enumerate(outputs):
            sink.write(OutputFrame(index, index, rgb))
        sink.close()

    clock.time("H.264 encode", encode)
    return clock.ms_per_frame, keys


def plot(stages: dict[str, float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(stages)
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.2))
    ax.barh(names[::-1], [stages[n] for n in names][::-1])
    ax.set(xlabel="CPU ms per frame (all threads)", title=title)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    prepare_client_process()  # as the CLI runs jobs
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=150, help="frames of the 1920x1080 virtual-camera clip")
    parser.add_argument("--style", default="rocket.jpg")
    parser.add_argument("--target", type=float, default=10.0, help="speedup whose CPU budget to report")
    parser.add_argument("--device", default="cpu", help="the stylizer's device")
    parser.add_argument("--out", type=Path, default=Path("out/bench"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    style = sample_style(args.style)
    clip = virtual_camera_clip(args.out, 1920, 1080, args.frames)
    cores = os.cpu_count() or 1
    print(f"profile: {clip.name}, {cores} cores", file=sys.stderr)

    with EmbeddedServices(None, INPROC, ["--device", args.device], need_interpolator=False) as services:
        end_to_end(clip, style, args.out, services, keyframes="fixed", key_interval=50)  # warm-up
        by_frame = end_to_end(clip, style, args.out, services, keyframes="fixed", key_interval=1)
        adaptive = end_to_end(clip, style, args.out, services, keyframes="auto")
    stages, keys = stages_alone(clip, args.out)

    stylizer_ms = adaptive["stylizer_cpu_ms_per_frame"]
    total_ms = adaptive["client_cpu_ms_per_frame"] + stylizer_ms
    profile = {"stylizer (key frames, its own process)": stylizer_ms, **stages}
    budget_ms = by_frame["wall_ms_per_frame"] / args.target * cores
    floor_ms = stages["decode"] + stages["H.264 encode"]
    result = {
        "clip": clip.name,
        "cores": cores,
        "frame_by_frame": by_frame,
        "adaptive": adaptive,
        "speedup": round(by_frame["wall_ms_per_frame"] / adaptive["wall_ms_per_frame"], 3),
        "cpu_ms_per_frame": {k: round(v, 2) for k, v in profile.items()},
        "cpu_ms_per_frame_total": round(total_ms, 2),
        "cpu_ms_per_frame_stages_alone": round(sum(profile.values()), 2),
        "cores_busy": round(total_ms / adaptive["wall_ms_per_frame"], 2),
        "stage_key_frames": len(keys),
        "target": {
            "speedup": args.target,
            "cpu_ms_per_frame_budget": round(budget_ms, 2),
            "decode_plus_encode_ms": round(floor_ms, 2),
            "best_speedup_with_only_decode_and_encode": round(by_frame["wall_ms_per_frame"] * cores / floor_ms, 2),
        },
    }
    (args.out / "profile.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(profile, args.out / "profile.png", f"1920x1080 adaptive key frames, {result['speedup']:.2f}x")

    print(
        f"frame-by-frame {1000 / by_frame['wall_ms_per_frame']:.1f} frames/s, adaptive "
        f"{1000 / adaptive['wall_ms_per_frame']:.1f} frames/s ({adaptive['key_frames']} key frames): "
        f"{result['speedup']:.2f}x",
        file=sys.stderr,
    )
    print(
        f"CPU per frame: {total_ms:.1f} ms in the adaptive run ({result['cores_busy']:.2f} of {cores} cores busy); "
        f"{sum(profile.values()):.1f} ms for its stages run alone:",
        file=sys.stderr,
    )
    for name, ms in profile.items():
        print(f"  {name:40s} {ms:6.1f} ms  {100 * ms / sum(profile.values()):5.1f}%", file=sys.stderr)
    best = result["target"]["best_speedup_with_only_decode_and_encode"]
    print(
        f"at {args.target:g}x a frame may cost {budget_ms:.1f} CPU ms in all; decode + encode alone cost "
        f"{floor_ms:.1f} (the best speedup with nothing else to do: {best:.2f}x)"
        f"\nwrote {args.out / 'profile.json'}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
