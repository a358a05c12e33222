"""The stylizer's memory and a good session's speed under a burst of large bad requests.

    python -m benchmarks.bad_clients --out out/bench [--bad 100] [--concurrency 10] [--max-message-mb 32]

Starts the stylizer as the client embeds it (`python -m services.stylizer`, a subprocess on
loopback, with --max-message-mb as given), times a good 40-key-frame session alone (median of
3), then runs the same session over and over (median) while `--bad` large bad requests are
fired at the server `--concurrency` at a time: key frames of corrupt JPEG bytes just under the
message limit (INVALID_ARGUMENT), PNG decompression bombs and JPEGs whose header claims 81 Mpx,
padded to half the limit (RESOURCE_EXHAUSTED before decoding), and messages over the limit
(RESOURCE_EXHAUSTED from gRPC). The server's resident memory (VmRSS from /proc) is read before,
every 20 ms during the burst (peak), after it, and after `--idle-s` seconds of idle; the CPU
seconds the stylizer and the bad clients used during the burst are recorded (on a small machine
the bad clients' own sending takes cores from the stylizer). Prints and writes bad_clients.json.

Pass: the good session within 2x of its time alone, every bad request answered with its
documented status, and the memory back near where it started once idle.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import statistics
import struct
import threading
import time
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import grpc
import numpy as np

from client.remote.embedded import ServiceProcess
from mvstylizer_common.grpc_options import message_size_options
from mvstylizer_common.imagecodec import JPEG, PNG, encode_image
from protos.mvstylizer.v1 import media_pb2, stylizer_pb2, stylizer_pb2_grpc
from tests.media import moving_square_frame, style_photo

GOOD_FRAMES = 40
WINDOW = 4  # key frames the good session has in flight
KINDS = ("corrupt_jpeg", "png_bomb", "jpeg_81mpx", "oversized")
EXPECTED = {
    "corrupt_jpeg": "INVALID_ARGUMENT",
    "png_bomb": "RESOURCE_EXHAUSTED",
    "jpeg_81mpx": "RESOURCE_EXHAUSTED",
    "oversized": "RESOURCE_EXHAUSTED",
}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def session_config() -> stylizer_pb2.SessionConfig:
    return stylizer_pb2.SessionConfig(style=encode_image(style_photo(), PNG), response_encoding=JPEG)


def good_session(address: str, frames: int = GOOD_FRAMES) -> float:
    """Seconds for a session of `frames` 160x96 key frames, WINDOW in flight; raises if any is lost."""
    requests: queue.Queue = queue.Queue()
    requests.put(stylizer_pb2.StylizeRequest(config=session_config()))
    images = [encode_image(moving_square_frame(i % 30, width=160, height=96), JPEG) for i in range(frames)]
    with grpc.insecure_channel(address, options=message_size_options()) as channel:
        started = time.perf_counter()
        call = stylizer_pb2_grpc.StylizerStub(channel).Stylize(iter(requests.get, None), timeout=300)
        next(call)  # ready
        received = []
        for index, image in enumerate(images):
            requests.put(
                stylizer_pb2.StylizeRequest(key_frame=stylizer_pb2.KeyFrame(index=index, pts=index, image=image))
            )
            if index >= WINDOW - 1:
                received.append(next(call).key_frame.index)
        while len(received) < frames:
            received.append(next(call).key_frame.index)
        elapsed = time.perf_counter() - started
        requests.put(None)
    if received != list(range(frames)):
        raise RuntimeError(f"good session got {received}")
    return elapsed


def png_bomb(size: int) -> bytes:
    """A PNG header claiming 60000x60000, padded with junk to `size` bytes."""
    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return head + bytes(size - len(head))


def jpeg_claiming(width: int, height: int, size: int) -> bytes:
    """SOI, then a baseline frame header claiming width x height, padded to `size` bytes."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    head = b"\xff\xd8" + sof
    return head + bytes(size - len(head))


def bad_images(max_message: int, rng: np.random.Generator) -> dict[str, media_pb2.EncodedImage]:
    """One bad key frame of each kind (made once, sent many times: the client's memory stays small)."""
    near = max_message - (64 << 10)
    corrupt = b"\xff\xd8\xff\xdb" + rng.integers(0, 256, near - 4, dtype=np.uint8).tobytes()
    return {
        "corrupt_jpeg": media_pb2.EncodedImage(encoding=JPEG, data=corrupt),
        "png_bomb": media_pb2.EncodedImage(encoding=PNG, data=png_bomb(max_message // 2)),
        "jpeg_81mpx": media_pb2.EncodedImage(encoding=JPEG, data=jpeg_claiming(9000, 9000, max_message // 2)),
        "oversized": media_pb2.EncodedImage(encoding=JPEG, data=corrupt + bytes(1 << 20)),
    }


def bad_request(address: str, image: media_pb2.EncodedImage) -> str:
    """Open a session, send one bad key frame; the status the stream ended with."""
    requests = [
        stylizer_pb2.StylizeRequest(config=session_config()),
        stylizer_pb2.StylizeRequest(key_frame=stylizer_pb2.KeyFrame(index=0, pts=0, image=image)),
    ]
    # The client may send more than the server takes: the oversized kind must reach the server.
    with grpc.insecure_channel(address, options=message_size_options(4 * len(image.data) + (1 << 20))) as channel:
        call = stylizer_pb2_grpc.StylizerStub(channel).Stylize(iter(requests), timeout=120)
        try:
            list(call)
        except grpc.RpcError as error:
            return error.code().name
    return "OK"


def _wait_a_moment(_: int) -> None:
    time.sleep(0.5)


def _children_cpu_s() -> float:
    times = os.times()
    return times.children_user + times.children_system


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_worker_images: dict[str, media_pb2.EncodedImage] = {}
_worker_address = ""


def _start_worker(address: str, max_message: int) -> None:
    global _worker_address
    os.nice(19)  # on one machine with the server, the clients' own sending must not take its cores
    _worker_address = address
    _worker_images.update(bad_images(max_message, np.random.default_rng(0)))


def _bad_request_of_kind(kind: str) -> tuple[str, str]:
    return kind, bad_request(_worker_address, _worker_images[kind])


class RssSampler:
    """Polls a process's VmRSS every `period_s` in a thread; `peak` in MiB."""

    def __init__(self, pid: int, period_s: float = 0.02):
        self.pid, self.period_s, self.peak = pid, period_s, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(self.period_s)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def run(bad: int, concurrency: int, max_message_mb: int, idle_s: float, extra_args: list[str], module: str) -> dict:
    service = ServiceProcess(module, ["--max-message-mb", str(max_message_mb), *extra_args])
    try:
        address = service.address
        pid = service.process.pid
        good_session(address, 8)  # warm up: model loaded, style cache and pools made
        alone = statistics.median(good_session(address) for _ in range(3))
        rss_before = rss_mib(pid)
        kinds = [KINDS[i % len(KINDS)] for i in range(bad)]
        # The bad clients run in processes of their own, at the lowest priority: in this one they
        # would take the GIL from the good session's client, and at the same priority their sending
        # would take the cores (as they do not in a deployment, where they are other machines), so
        # the slowdown measured would be the load generator's, not the server's.
        pool = ProcessPoolExecutor(
            concurrency,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(address, max_message_mb << 20),
        )
        with pool:
            list(pool.map(_wait_a_moment, range(concurrency)))  # workers started and their frames made
            sampler = RssSampler(pid)
            started = time.perf_counter()
            cpu_server, cpu_children = cpu_s(pid), _children_cpu_s()
            futures = [pool.submit(_bad_request_of_kind, kind) for kind in kinds]
            # Good sessions one after another for as long as the burst lasts (at least one).
            beside_all = [good_session(address)]
            while not all(f.done() for f in futures):
                beside_all.append(good_session(address))
            outcomes = [f.result() for f in futures]
            burst_s = time.perf_counter() - started
            cpu_server = cpu_s(pid) - cpu_server
        cpu_here = _children_cpu_s() - cpu_children
        beside = statistics.median(beside_all)
        peak = sampler.stop()
        rss_after = rss_mib(pid)
        time.sleep(idle_s)
        rss_idle = rss_mib(pid)
        after_idle_session = good_session(address)
        statuses = {kind: dict(Counter(code for k, code in outcomes if k == kind)) for kind in KINDS}
        wrong = {k: v for k, v in statuses.items() if set(v) - {EXPECTED[k]}}
        return {
            "bad_requests": bad,
            "concurrency": concurrency,
            "max_message_mb": max_message_mb,
            "stylizer": [module, *extra_args],
            "good_session_alone_s": round(alone, 3),  # median of 3
            "good_session_beside_bad_s": round(beside, 3),  # median of the sessions run during the burst
            "good_sessions_beside_bad": len(beside_all),
            "good_session_beside_bad_max_s": round(max(beside_all), 3),
            "slowdown": round(beside / alone, 2),
            "good_session_after_s": round(after_idle_session, 3),
            "burst_s": round(burst_s, 2),
            # CPU seconds used during the burst: the stylizer, and the bad clients' processes (their sending).
            "burst_cpu_s": {"stylizer": round(cpu_server, 1), "clients": round(cpu_here, 1), "cores": os.cpu_count()},
            "rss_mib": {
                "before": round(rss_before, 1),
                "peak": round(max(peak, rss_after), 1),
                "after": round(rss_after, 1),
                f"after_{idle_s:g}s_idle": round(rss_idle, 1),
            },
            "statuses": statuses,
            "wrong_statuses": wrong,
            "passed": beside <= 2 * alone and not wrong and rss_idle <= rss_before + 100,
        }
    finally:
        service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="out/bench")
    parser.add_argument("--bad", type=int, default=100, help="bad requests in the burst")
    parser.add_argument("--concurrency", type=int, default=10, help="bad requests in flight at once")
    parser.add_argument("--max-message-mb", type=int, default=32, help="the stylizer's message limit")
    parser.add_argument("--idle-s", type=float, default=5.0, help="idle time before the last reading")
    parser.add_argument("--module", default="services.stylizer", help="the service to run (a patched one to compare)")
    parser.add_argument("stylizer_args", nargs="*", help="more stylizer flags (after --)")
    args = parser.parse_args()
    result = run(args.bad, args.concurrency, args.max_message_mb, args.idle_s, args.stylizer_args, args.module)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bad_clients.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
