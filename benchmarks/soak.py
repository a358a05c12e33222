"""Soak: steady load on one stylizer process, its resident memory sampled throughout.

    python -m benchmarks.soak --out out/bench [--duration 120] [--rate 1.6] [--streams 8]

Starts `python -m services.stylizer` (default settings), drives it open-loop with the load
harness, and reads the process's VmRSS every --interval seconds. Memory growth is the last
--window seconds' peak against the peak of the --window seconds after --warmup seconds.
Writes soak.json and soak.png (RSS and latency over time).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.load import run_load
from client.remote.embedded import ServiceProcess

SIZE = (640, 360)


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def window_peak(samples: list[tuple[float, float]], start: float, end: float) -> float:
    values = [rss for t, rss in samples if start <= t < end]
    return max(values) if values else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("out/bench"))
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument(
        "--rate", type=float, default=1.6, help="key frames/s per stream (default: about half of saturation here)"
    )
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    service = ServiceProcess("services.stylizer")
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    try:
        address = service.address
        pid = service.process.pid
        t0 = time.perf_counter()

        def sample() -> None:
            while not stop.is_set():
                value = rss_mib(pid)
                if value is not None:
                    samples.append((time.perf_counter() - t0, value))
                stop.wait(args.interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        report = run_load([address], args.streams, args.rate, args.duration, SIZE, drain=30.0)
        stop.set()
        sampler.join()
    finally:
        stop.set()
        service.stop()
    warm = window_peak(samples, args.warmup, args.warmup + args.window)
    end = window_peak(samples, args.duration - args.window, args.duration + 1)
    summary = {
        "duration_s": args.duration,
        "offered_fps": args.rate * args.streams,
        "received": report["received"],
        "sent": report["sent"],
        "errors": report["errors"],
        "latency_ms": report["latency_ms"],
        "rss_mib_after_warmup": round(warm, 1),
        "rss_mib_at_end": round(end, 1),
        "rss_mib_peak": round(max(v for _, v in samples), 1),
        "rss_growth_percent": round(100 * (end - warm) / warm, 2),
    }
    (args.out / "soak.json").write_text(
        json.dumps({"summary": summary, "rss_samples": [[round(t, 2), round(v, 1)] for t, v in samples]}, indent=1)
        + "\n"
    )
    plot(samples, report, args, args.out / "soak.png")
    print(json.dumps(summary))


def plot(samples, report, args, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    rss = np.array(samples)
    top.plot(rss[:, 0], rss[:, 1])
    top.axvspan(args.warmup, args.warmup + args.window, alpha=0.15, label="after warm-up")
    top.axvspan(args.duration - args.window, args.duration, alpha=0.15, color="C1", label="end")
    top.set(ylabel="stylizer RSS (MiB)", title=f"soak: {args.streams} streams x {args.rate:g} key frames/s")
    top.legend()
    latency = np.array(report["samples"]) if report["samples"] else np.zeros((0, 2))
    bottom.plot(latency[:, 0], latency[:, 1], ".", markersize=2)
    bottom.set(xlabel="time (s)", ylabel="key-frame latency (ms)")
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


if __name__ == "__main__":
    main()
