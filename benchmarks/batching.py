"""Batching on and off, at saturation and at half of it: the numbers behind the batching targets.

    python -m benchmarks.batching --out out/bench [--streams 8] [--duration 20]

Starts a stylizer process per configuration (`--max-batch 1`, then the default batching),
drives it with the open-loop load harness (benchmarks.load) far past saturation to
measure throughput, then at half the batched throughput to measure latency and errors.
Writes batching.json and a latency plot per run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.load import plot, run_load
from client.remote.embedded import ServiceProcess

SIZE = (640, 360)


def measure(server_args: list[str], streams: int, rate: float, duration: float, plot_path: Path) -> dict:
    service = ServiceProcess("services.stylizer", server_args)
    try:
        report = run_load([service.address], streams, rate, duration, SIZE, drain=60.0)
    finally:
        service.stop()
    plot(report, plot_path)
    report.pop("samples")
    report["server_args"] = server_args
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batching", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("out/bench"))
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--overload-rate", type=float, default=6.0, help="key frames/s per stream past saturation")
    parser.add_argument("--max-batch", type=int, default=8)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    runs = {}
    for name, batch in (("batch_1", 1), (f"batch_{args.max_batch}", args.max_batch)):
        runs[f"{name}_saturated"] = measure(
            ["--max-batch", str(batch)],
            args.streams,
            args.overload_rate,
            args.duration,
            args.out / f"load_{name}_saturated.png",
        )
        print(name, "saturated:", json.dumps(runs[f"{name}_saturated"]))
    saturated = runs[f"batch_{args.max_batch}_saturated"]["throughput_fps"]
    half_rate = saturated / 2 / args.streams
    runs["half_load"] = measure(
        ["--max-batch", str(args.max_batch)], args.streams, half_rate, args.duration, args.out / "load_half.png"
    )
    print("half load:", json.dumps(runs["half_load"]))
    unbatched = runs["batch_1_saturated"]["throughput_fps"]
    half = runs["half_load"]["latency_ms"]
    summary = {
        "throughput_fps_batch_1": unbatched,
        f"throughput_fps_batch_{args.max_batch}": saturated,
        "batching_speedup": round(saturated / unbatched, 3) if unbatched else None,
        "half_load_offered_fps": round(half_rate * args.streams, 2),
        "half_load_errors": runs["half_load"]["errors"],
        "half_load_p50_ms": half["p50"],
        "half_load_p99_ms": half["p99"],
        "half_load_p99_over_p50": round(half["p99"] / half["p50"], 2) if half["p50"] else None,
    }
    (args.out / "batching.json").write_text(json.dumps({"summary": summary, "runs": runs}, indent=1) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
