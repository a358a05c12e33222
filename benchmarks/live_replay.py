"""Live mode replayed deterministically as the device page runs it on a slow machine.

    python -m benchmarks.live_replay --clip VIDEO --style PHOTO [--frames 80] [--size 640x360]
        [--delays 4,6,8,5]

The clip's first --frames frames, scaled to --size, are planned at the page's size (engine.js
PLAN_LONG_SIDE, maps on MAP_LONG_SIDE, flow at FLOW_LONG_SIDE) by services/interpolator/session.py,
fed with source frames 1-3 apart (as a device that drops about half of a 30 fps camera's frames),
twice over; cuts are found as the live engine finds them (each starts a new shot, and its first
frame is sent as a key at once). A key is sent every 6 fed frames (one in flight) and
answered --delays fed frames later (cycled), by frame-by-frame stylization of the key frame at the
plan size; the newest answer is held. Prints the pops (benchmarks.temporal's measure: a frame
whose mean-colour jump exceeds frame-by-frame stylization's jump between the same source frames by
more than POP_MARGIN), the largest such excess on interpolated frames, and the mean absolute
difference (grey levels) from frame-by-frame stylization at the plan size.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import cv2
import numpy as np

from benchmarks.quality import read_frames, run_pipeline
from benchmarks.temporal import POP_MARGIN
from benchmarks.web import parse_size, source_frames, write_y4m
from client.device.keyframes import CutDetector, thumbnail
from client.remote.services import ServiceOptions
from mvstylizer_common.imagecodec import read_image_file
from services.interpolator import flow as flowlib
from services.interpolator.grids import grid_size
from services.interpolator.session import INTERPOLATED, LIVE, FrameInputs, InterpolationSession

# engine.js's sizes.
PLAN_LONG_SIDE, MAP_LONG_SIDE, FLOW_LONG_SIDE = 192, 96, 128
GAPS = (2, 2, 1, 3)  # source frames between fed frames, cycled
KEY_EVERY = 6  # fed frames between keys sent


def stylized(frames: list[av.VideoFrame], folder: Path, name: str, style: Path) -> list[np.ndarray]:
    """Frame-by-frame stylization (every frame a key) of these frames."""
    clip = write_y4m(frames, folder / f"{name}.y4m", 25)
    return run_pipeline(clip, style, ServiceOptions(), len(frames), keyframes="fixed", key_interval=1)[0]


def replay(inputs: list[np.ndarray], keys: list[np.ndarray], reference: list[np.ndarray], style, delays) -> dict:
    """The live session fed as the module's docstring says; per-frame figures against the reference."""
    height, width = inputs[0].shape[:2]
    session = InterpolationSession(LIVE, width, height, map_long_side=MAP_LONG_SIDE, style_reference=style)
    order, t = [], 0
    while t < len(inputs):
        order.append(t)
        t += GAPS[len(order) % len(GAPS)]
    fed = [(shot, s) for shot in range(2) for s in order]
    pending, key_flow, last_sent, sent = [], {}, -KEY_EVERY, 0
    pops, worst, errors, previous = [], 0.0, [], None
    cuts = CutDetector()
    for n, (_, s) in enumerate(fed):
        if cuts.is_cut(thumbnail(inputs[s])):
            session.start_shot(n)
            pending, key_flow, last_sent = [], {}, n - KEY_EVERY
        prepared = flowlib.prepare(inputs[s], FLOW_LONG_SIDE)
        due = [p for p in pending if p[0] <= n]
        pending = [p for p in pending if p[0] > n]
        if due:
            _, index, source = due[-1]
            session.hold_key(session.fit_key(index, keys[source], inputs[source]))
            key_flow = {index: flowlib.prepare(inputs[source], FLOW_LONG_SIDE)}
        if n - last_sent >= KEY_EVERY and not pending:
            pending.append((n + delays[sent % len(delays)], n, s))
            sent, last_sent = sent + 1, n
        key = session.latest_key()
        if key is None:
            plan = session.plan_closed_form(n, inputs[s])
        else:
            flow = flowlib.estimate_flow(prepared, key_flow[key])
            confidence = flowlib.photometric_confidence(prepared, key_flow[key], flow)
            inputs_n = FrameInputs(n, key, flow_to_prev=flow, confidence_prev=confidence, original=inputs[s])
            plan = session.plan_frame(inputs_n)
        out = session.render(plan).astype(np.float32)
        errors.append(float(np.abs(out - reference[s]).mean()))
        means = out.reshape(-1, 3).mean(0), reference[s].reshape(-1, 3).mean(0, dtype=np.float64)
        if previous is not None:
            excess = np.abs(means[0] - previous[0]).sum() - np.abs(means[1] - previous[1]).sum()
            if excess > POP_MARGIN:
                pops.append({"frame": n, "source_frame": s, "method": plan.method, "excess": round(float(excess), 2)})
            if plan.method == INTERPOLATED:
                worst = max(worst, float(excess))
        previous = means
    return {"frames": len(fed), "pops": pops, "worst_interpolated_excess": round(worst, 2), "error": np.mean(errors)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--style", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=80)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--delays", default="4,6,8,5", help="fed frames each key's answer takes, cycled")
    parser.add_argument("--out", type=Path, default=Path("out/live_replay"))
    args = parser.parse_args(argv)
    width, height = parse_size(args.size)
    plan_w, plan_h = grid_size(width, height, PLAN_LONG_SIDE)
    args.out.mkdir(parents=True, exist_ok=True)
    camera = source_frames(args.clip, width, height, args.frames)
    small = [f.reformat(width=plan_w, height=plan_h, format="yuv420p") for f in camera]
    keys = stylized(small, args.out, "keys", args.style)
    reference = [
        cv2.resize(f, (plan_w, plan_h), interpolation=cv2.INTER_AREA).astype(np.float32)
        for f in stylized(camera, args.out, "camera", args.style)
    ]
    inputs = [
        cv2.resize(f, (plan_w, plan_h), interpolation=cv2.INTER_AREA)
        for f in read_frames(args.out / "camera.y4m", args.frames)
    ]
    delays = [int(d) for d in args.delays.split(",")]
    result = replay(inputs, keys, reference, read_image_file(str(args.style)), delays)
    print(f"live replay of {args.clip.name} with {args.style.name}, {result['frames']} frames fed, delays {delays}:")
    print(f"  pops {len(result['pops'])}: {result['pops']}")
    print(f"  worst excess on interpolated frames {result['worst_interpolated_excess']}")
    print(f"  mean abs difference from frame-by-frame {result['error']:.3f}")


if __name__ == "__main__":
    main()
