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

    python -m benchmarks.bad_clients --case large-frames --out out/bench [--sessions 8] [--frames 4]

The other case: `--sessions` clients at once, each sending `--frames` valid key frames of
7680x5200 (39.9 Mpx, just under the frame limit) as fast as it can, and on a busy refusal doing
what the client does (wait for the retry hint with backoff, reopen, send the unanswered frames
again) until all are answered. The server's peak VmRSS is compared with the bound
docs/robustness.md states (memory_bound below). Writes large_frames.json.
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
from mvstylizer_common.limits import DEFAULT_MAX_PIXELS
from mvstylizer_common.status import RETRY_AFTER_KEY
from protos.mvstylizer.v1 import media_pb2, stylizer_pb2, stylizer_pb2_grpc
from services.stylizer.admission import DEFAULT_MAX_PIXELS_IN_FLIGHT
from services.stylizer.batcher import default_workers
from services.stylizer.sessions import DEFAULT_MAX_IN_FLIGHT
from tests.media import moving_square_frame, style_photo, textured_background

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


LARGE_TILE = (480, 325)  # tiled 16 x 16: 7680x5200, 39.9 Mpx
# Bytes per pixel, from how a key frame's memory is used (docs/robustness.md): an admitted frame
# holds at most its BGR and RGB copies while it is decoded (6 B/px); a running one about 30 B/px
# (measured: 1143 MiB for one 39.9 Mpx frame alone, decoded, stylized and encoded), taken as 32.
DECODED_BYTES_PER_PIXEL = 6
RUNNING_BYTES_PER_PIXEL = 32
# Encoded messages are held in about 3 copies while received (docs/robustness.md), and the
# give-back thread leaves at most this much freed memory with the process before returning it.
MESSAGE_COPIES = 3
RETAINED_FREE_BYTES = 128 << 20


def memory_bound(
    idle_bytes: float, workers: int, streams: int, message_bytes: int, max_pixels: int = DEFAULT_MAX_PIXELS_IN_FLIGHT
) -> float:
    """The stylizer's resident bytes under any load of valid key frames, as docs/robustness.md states it."""
    decoded = DECODED_BYTES_PER_PIXEL * max_pixels
    running = (RUNNING_BYTES_PER_PIXEL - DECODED_BYTES_PER_PIXEL) * workers * DEFAULT_MAX_PIXELS
    # A stream holds the key frames it has started (DEFAULT_MAX_IN_FLIGHT) and the one being read.
    messages = MESSAGE_COPIES * streams * (DEFAULT_MAX_IN_FLIGHT + 1) * message_bytes
    return idle_bytes + decoded + running + messages + RETAINED_FREE_BYTES


def large_key_frame() -> media_pb2.EncodedImage:
    tile = textured_background(*LARGE_TILE)
    return encode_image(np.tile(tile, (16, 16, 1)), JPEG)


def large_frames_session(address: str, image: media_pb2.EncodedImage, frames: int, deadline: float) -> dict:
    """Send `frames` key frames at once; on a busy refusal, as the client does: wait (the hint, with
    backoff from 0.1 s to 2 s), reopen, send the unanswered ones again. Counts what happened."""
    unanswered = list(range(frames))
    outcome = {"answered": 0, "busy_refusals": 0, "other_errors": []}
    backoff = 0.1
    options = message_size_options(4 * len(image.data) + (1 << 20))
    while unanswered and time.monotonic() < deadline:
        requests = [
            stylizer_pb2.StylizeRequest(config=session_config()),
            *(
                stylizer_pb2.StylizeRequest(key_frame=stylizer_pb2.KeyFrame(index=i, pts=i, image=image))
                for i in unanswered
            ),
        ]
        with grpc.insecure_channel(address, options=options) as channel:
            call = stylizer_pb2_grpc.StylizerStub(channel).Stylize(
                iter(requests), timeout=max(1.0, deadline - time.monotonic())
            )
            try:
                for response in call:
                    if response.HasField("key_frame"):
                        unanswered.remove(response.key_frame.index)
                        outcome["answered"] += 1
                        backoff = 0.1
            except grpc.RpcError as error:
                hint = dict(error.trailing_metadata() or ()).get(RETRY_AFTER_KEY)
                if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or hint is None:
                    outcome["other_errors"].append(error.code().name)
                    return outcome
                outcome["busy_refusals"] += 1
                time.sleep(max(int(hint) / 1e3, backoff))
                backoff = min(2 * backoff, 2.0)
    return outcome


def run_large_frames(
    sessions: int, frames: int, max_message_mb: int, idle_s: float, extra_args: list[str], module: str, limit_s: float
) -> dict:
    image = large_key_frame()
    service = ServiceProcess(module, ["--max-message-mb", str(max_message_mb), *extra_args])
    try:
        address = service.address
        pid = service.process.pid
        good_session(address, 8)  # warm up: model loaded, style cache and pools made
        rss_before = rss_mib(pid)
        sampler = RssSampler(pid)
        started = time.perf_counter()
        deadline = time.monotonic() + limit_s
        outcomes: list[dict] = [{}] * sessions

        def client(slot: int) -> None:
            outcomes[slot] = large_frames_session(address, image, frames, deadline)

        threads = [threading.Thread(target=client, args=(slot,)) for slot in range(sessions)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        peak = sampler.stop()
        rss_after = rss_mib(pid)
        time.sleep(idle_s)
        rss_idle = rss_mib(pid)
        workers = default_workers()  # the service's, on this machine
        bound = memory_bound(rss_before * 2**20, workers, sessions, len(image.data)) / 2**20
        answered = sum(o["answered"] for o in outcomes)
        peak = max(peak, rss_after)
        return {
            "case": "large-frames",
            "sessions": sessions,
            "frames_per_session": frames,
            "frame": "7680x5200 JPEG",
            "frame_bytes": len(image.data),
            "max_message_mb": max_message_mb,
            "stylizer": [module, *extra_args],
            "workers": workers,
            "answered": answered,
            "busy_refusals": sum(o["busy_refusals"] for o in outcomes),
            "other_errors": [code for o in outcomes for code in o["other_errors"]],
            "elapsed_s": round(elapsed, 1),
            "rss_mib": {
                "before": round(rss_before, 1),
                "peak": round(peak, 1),
                "after": round(rss_after, 1),
                f"after_{idle_s:g}s_idle": round(rss_idle, 1),
            },
            "stated_bound_mib": round(bound, 1),
            "passed": answered == sessions * frames and peak <= bound,
        }
    finally:
        service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="out/bench")
    parser.add_argument("--case", choices=["bad-requests", "large-frames"], default="bad-requests")
    parser.add_argument("--bad", type=int, default=100, help="bad requests in the burst")
    parser.add_argument("--concurrency", type=int, default=10, help="bad requests in flight at once")
    parser.add_argument("--sessions", type=int, default=8, help="large-frames: clients at once")
    parser.add_argument("--frames", type=int, default=4, help="large-frames: key frames each client sends")
    parser.add_argument("--limit-s", type=float, default=600.0, help="large-frames: clients give up after this")
    parser.add_argument("--max-message-mb", type=int, default=32, help="the stylizer's message limit")
    parser.add_argument("--idle-s", type=float, default=5.0, help="idle time before the last reading")
    parser.add_argument("--module", default="services.stylizer", help="the service to run (a patched one to compare)")
    parser.add_argument("stylizer_args", nargs="*", help="more stylizer flags (after --)")
    args = parser.parse_args()
    if args.case == "large-frames":
        result = run_large_frames(
            args.sessions, args.frames, args.max_message_mb, args.idle_s, args.stylizer_args, args.module, args.limit_s
        )
        name = "large_frames.json"
    else:
        result = run(args.bad, args.concurrency, args.max_message_mb, args.idle_s, args.stylizer_args, args.module)
        name = "bad_clients.json"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
