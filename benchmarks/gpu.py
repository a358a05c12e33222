"""GPU benchmark: the stylizer on CUDA, ready to run on a machine with a CUDA build of torch.

    python -m benchmarks.gpu [--out out/bench] [--device cuda] [--size 1920x1080]
        [--repeats 20] [--warmup 3] [--streams 1,8,32] [--stream-seconds 10] [--frames 120]

Four parts, each recorded in gpu.json and printed as a table:

1. latency: key frame (--size, 1920x1080 by default) to stylized output at the same size, per
   registered model (the model at its working resolution, meta-smoothing to the output size, the
   model's finishing step), median and p90 over --repeats runs after --warmup; models that need a
   weight file are skipped unless --weights NAME=PATH gives one;
2. device vs CPU: PSNR of each model's output on --device against its output on the CPU (same
   frame, same style): how far the CUDA kernels move the result;
3. throughput: the stylizer service (`python -m services.stylizer --device ...` on loopback, its
   dynamic batching on) driven closed loop over its gRPC stubs by 1, 8 and 32 concurrent streams
   (each keeps --window key frames in flight) for --stream-seconds each: answered key frames per
   second and the latency of each;
4. end to end: a --frames-frame virtual-camera clip at --size (benchmarks/clips.py) through
   `python -m client stylize ... --device ...` (the client's embedded stylizer on that device):
   wall time and frames per second.

Without CUDA (a CPU build of torch, or no GPU visible) it prints why, writes gpu.json with
{"skipped": reason} and exits 0. `--device cpu` runs the same code on the CPU (a smoke run: pass
small --repeats, --streams, --stream-seconds, --frames and --size). Exit 1 if a part failed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mvstylizer_common.malloc import keep_large_buffers

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_PHOTOS = REPO_ROOT.parent / "shared" / "data" / "photo_pairs"
DEFAULT_STREAMS = (1, 8, 32)


# ---------------------------------------------------------------- arguments and helpers (no torch needed)


def parse_size(text: str) -> tuple[int, int]:
    """'1920x1080' -> (1920, 1080)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r}: expected WIDTHxHEIGHT") from None
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError(f"size {text!r}: at least 16x16")
    return width, height


def parse_streams(text: str) -> tuple[int, ...]:
    """'1,8,32' -> (1, 8, 32)."""
    try:
        counts = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"streams {text!r}: expected counts like 1,8,32") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"streams {text!r}: counts must be positive")
    return counts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gpu",
        description="Stylizer on CUDA: latency per model, CUDA vs CPU PSNR, service throughput, end to end.",
    )
    parser.add_argument("--out", type=Path, default=Path("out/bench"), help="writes gpu.json (and the clip) here")
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (cpu: the same code, a smoke run)")
    parser.add_argument("--size", type=parse_size, default=(1920, 1080), help="key-frame and output size WxH")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per model")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per model first")
    parser.add_argument("--streams", type=parse_streams, default=DEFAULT_STREAMS, help="concurrent streams: 1,8,32")
    parser.add_argument("--stream-seconds", type=float, default=10.0, help="seconds of load per stream count")
    parser.add_argument("--window", type=int, default=2, help="key frames each stream keeps in flight")
    parser.add_argument("--max-batch", type=int, default=8, help="the service's --max-batch")
    parser.add_argument("--frames", type=int, default=120, help="frames of the end-to-end clip (0: skip that part)")
    parser.add_argument(
        "--weights", action="append", default=[], metavar="NAME=PATH", help="weight file for a model that needs one"
    )
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0 or args.stream_seconds <= 0 or args.window < 1 or args.frames < 0:
        parser.error("--repeats and --window must be positive, --stream-seconds > 0, --warmup and --frames >= 0")
    if args.max_batch < 1:
        parser.error("--max-batch must be positive")
    weights = {}
    for item in args.weights:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            parser.error(f"--weights {item!r}: expected NAME=PATH")
        weights[name] = path
    args.weights = weights
    return args


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB of two same-shaped images (uint8 scale by default); inf when identical."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(peak * peak / mse)


def compare_outputs(device_out: np.ndarray, cpu_out: np.ndarray) -> dict:
    """What gpu.json records of device vs CPU output (JSON has no inf: identical -> psnr_db None)."""
    value = psnr(device_out, cpu_out)
    diff = np.abs(device_out.astype(np.int16) - cpu_out.astype(np.int16))
    return {
        "psnr_db": None if math.isinf(value) else round(value, 2),
        "identical": math.isinf(value),
        "max_abs_diff": int(diff.max()),
        "share_of_pixels_off_by_more_than_2": round(float(np.mean(diff.max(axis=2) > 2)), 6),
    }


def summarize_ms(seconds: list[float]) -> dict:
    if not seconds:
        return {"median_ms": None, "p90_ms": None, "runs": 0}
    ms = 1e3 * np.asarray(seconds)
    return {
        "median_ms": round(float(np.median(ms)), 2),
        "p90_ms": round(float(np.percentile(ms, 90)), 2),
        "runs": len(seconds),
    }


def format_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table (pastes into the README); None shows as '-', floats with 1 decimal."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return "inf" if math.isinf(value) else f"{value:.1f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row {row} has {len(row)} cells for {len(headers)} columns")
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def cuda_skip_reason(device: str) -> str | None:
    """Why a CUDA run cannot happen here (None: it can, or the device is the CPU)."""
    if not device.startswith("cuda"):
        return None
    import torch

    if torch.version.cuda is None or not torch.backends.cuda.is_built():
        return f"no CUDA: torch {torch.__version__} is a build without CUDA (install a CUDA build of the same version)"
    if not torch.cuda.is_available():
        return f"no CUDA: torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU"
    index = torch.device(device).index or 0
    if index >= torch.cuda.device_count():
        return f"no CUDA device {device}: {torch.cuda.device_count()} visible"
    return None


def tables(report: dict) -> str:
    """The printed summary of a report."""
    parts = []
    latency = report.get("latency", {})
    if latency:
        rows = []
        for name, entry in latency.items():
            comparison = report.get("device_vs_cpu", {}).get(name, {})
            psnr_cell = comparison.get("psnr_db")
            if comparison.get("identical"):
                psnr_cell = math.inf
            rows.append(
                [
                    name,
                    entry.get("work_size", "-"),
                    entry.get("median_ms"),
                    entry.get("p90_ms"),
                    psnr_cell,
                    entry.get("skipped") or entry.get("error") or "",
                ]
            )
        size = report["size"]
        parts.append(
            f"Key frame to {size} output on {report['device']}, per model "
            f"({report['repeats']} runs after {report['warmup']} warm-up):\n"
            + format_table(["model", "work size", "median ms", "p90 ms", "PSNR vs CPU (dB)", "note"], rows)
        )
    throughput = report.get("throughput", {})
    if throughput.get("runs"):
        rows = [
            [
                r["streams"],
                r["answered"],
                r["throughput_fps"],
                r["latency_ms"]["p50"],
                r["latency_ms"]["p99"],
                ", ".join(f"{k} {v}" for k, v in r["errors"].items()) or "",
            ]
            for r in throughput["runs"]
        ]
        parts.append(
            f"Stylizer service on {report['device']} ({report['size']} key frames, --max-batch "
            f"{throughput['max_batch']}, {throughput['window']} in flight per stream, "
            f"{throughput['seconds']:g} s each):\n"
            + format_table(["streams", "answered", "key frames/s", "p50 ms", "p99 ms", "errors"], rows)
        )
    if throughput.get("error"):
        parts.append(f"throughput: {throughput['error']}")
    e2e = report.get("end_to_end", {})
    if e2e.get("fps") is not None:
        parts.append(
            f"End to end, `python -m client stylize --device {report['device']}`: {e2e['frames']} frames "
            f"at {report['size']} in {e2e['wall_seconds']:.2f} s = {e2e['fps']:.1f} frames/s "
            f"({e2e.get('key_frames')} key frames)"
        )
    elif e2e.get("error") or e2e.get("skipped"):
        parts.append(f"end to end: {e2e.get('error') or e2e.get('skipped')}")
    return "\n\n".join(parts)


# ---------------------------------------------------------------- media


def synthetic_photo(width: int, height: int, warm: bool) -> np.ndarray:
    """A structured stand-in photo (gradients, shapes, texture) when no real one is at hand."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(7 if warm else 3)
    base = np.stack([x / width, y / height, 1 - x / width], axis=2) if warm else np.stack([y / height] * 3, axis=2)
    image = (200 * base + 30 * rng.random((height, width, 1))).clip(0, 255).astype(np.uint8)
    for i in range(6):
        centre = (int(width * (0.15 + 0.14 * i)), int(height * (0.3 + 0.07 * i)))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.circle(image, centre, max(4, height // (6 + i)), colour, -1)
    return np.ascontiguousarray(image)


def photos(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, str]:
    """(content at `size`, style photo, where they came from): a real shared pair when present."""
    content_path, style_path = SHARED_PHOTOS / "content_1.png", SHARED_PHOTOS / "style_1.png"
    if content_path.is_file() and style_path.is_file():
        from mvstylizer_common.imagecodec import read_image_file

        content, style, source = read_image_file(str(content_path)), read_image_file(str(style_path)), "photo_pairs 1"
    else:
        content, style, source = synthetic_photo(1280, 720, False), synthetic_photo(640, 480, True), "synthetic"
    return cv2.resize(content, size, interpolation=cv2.INTER_CUBIC), style, source


# ---------------------------------------------------------------- parts (need torch and the stylizer)


def model_latency_and_psnr(args: argparse.Namespace, content: np.ndarray, style: np.ndarray) -> tuple[dict, dict]:
    """Per registered model: latency on the device, and its output against the CPU's."""
    import torch

    from services.stylizer.models import get_model, list_models
    from services.stylizer.pipeline import StylizationSession, StylizeSettings, work_size
    from services.stylizer.smoothing import load_smoothing

    device, cpu = torch.device(args.device), torch.device("cpu")
    smoothing_cpu = load_smoothing()
    smoothing_dev = load_smoothing().to(device)
    height, width = content.shape[:2]
    latency: dict[str, dict] = {}
    comparison: dict[str, dict] = {}
    for spec in list_models():
        weights = args.weights.get(spec.name)
        entry: dict[str, Any] = {"work_size": "{}x{}".format(*work_size(width, height, spec.work_long_side))}
        latency[spec.name] = entry
        if spec.needs_weights and not weights:
            entry["skipped"] = f"needs weights (--weights {spec.name}=PATH)"
            continue
        try:
            settings = StylizeSettings(spec.work_long_side)
            session = StylizationSession(
                get_model(spec.name, weights=weights).to(device), style, settings, device, smoothing_dev
            )
            times = []
            for run in range(args.warmup + args.repeats):
                started = time.perf_counter()
                out = session.stylize(content)  # returns host memory: the device work is finished
                if run >= args.warmup:
                    times.append(time.perf_counter() - started)
            entry.update(summarize_ms(times))
            reference = StylizationSession(get_model(spec.name, weights=weights), style, settings, cpu, smoothing_cpu)
            comparison[spec.name] = compare_outputs(out, reference.stylize(content))
        except Exception as error:  # one model failing is reported, the others still run
            entry["error"] = f"{type(error).__name__}: {error}"
    return latency, comparison


def start_stylizer(args: argparse.Namespace, log_path: Path) -> tuple[subprocess.Popen, str]:
    """The stylizer service on a free loopback port; returns the process and its address."""
    command = [sys.executable, "-m", "services.stylizer", "--host", "127.0.0.1", "--port", "0"]
    command += ["--device", args.device, "--max-batch", str(args.max_batch)]
    # Room for every key frame the streams keep in flight: refusals would measure the bound, not the model.
    command += ["--max-queue", str(max(64, 2 * max(args.streams) * args.window))]
    for name, path in args.weights.items():
        command += ["--weights", f"{name}={path}"]
    log = log_path.open("w")
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
    line = process.stdout.readline()
    if not line:
        process.wait(30)
        raise RuntimeError(f"stylizer exited with {process.returncode} before listening (see {log_path})")
    return process, f"127.0.0.1:{json.loads(line)['port']}"


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def closed_loop(target: str, streams: int, seconds: float, frame, style, window: int) -> dict:
    """`streams` concurrent Stylize sessions, each keeping `window` key frames in flight for `seconds`."""
    import grpc

    from mvstylizer_common.grpc_options import message_size_options
    from protos.mvstylizer.v1 import stylizer_pb2, stylizer_pb2_grpc

    latencies: list[float] = []
    errors: dict[str, int] = {}
    last_answer = [0.0]
    lock = threading.Lock()
    start_gate = threading.Barrier(streams + 1)
    t0 = [0.0]

    def one_stream() -> None:
        outgoing: queue.Queue = queue.Queue()
        sent_at: dict[int, float] = {}
        channel = grpc.insecure_channel(target, options=message_size_options())

        def requests():
            yield stylizer_pb2.StylizeRequest(config=stylizer_pb2.SessionConfig(style=style, client_label="gpu-bench"))
            while (item := outgoing.get()) is not None:
                yield item

        def send(index: int) -> None:
            sent_at[index] = time.perf_counter()
            key_frame = stylizer_pb2.KeyFrame(index=index, image=frame)
            outgoing.put(stylizer_pb2.StylizeRequest(key_frame=key_frame))

        start_gate.wait()
        deadline = t0[0] + seconds
        next_index = 0
        try:
            call = stylizer_pb2_grpc.StylizerStub(channel).Stylize(requests(), timeout=seconds + 300)
            for _ in range(window):
                send(next_index)
                next_index += 1
            for response in call:
                if not response.HasField("key_frame"):
                    continue
                now = time.perf_counter()
                sent = sent_at.pop(response.key_frame.index)
                with lock:
                    latencies.append(now - sent)
                    last_answer[0] = max(last_answer[0], now)
                if now < deadline:
                    send(next_index)
                    next_index += 1
                elif not sent_at:
                    outgoing.put(None)
        except grpc.RpcError as error:
            with lock:
                errors[error.code().name] = errors.get(error.code().name, 0) + 1
        finally:
            outgoing.put(None)
            channel.close()

    threads = [threading.Thread(target=one_stream, daemon=True) for _ in range(streams)]
    for thread in threads:
        thread.start()
    t0[0] = time.perf_counter()
    start_gate.wait()
    for thread in threads:
        thread.join(seconds + 360)
    elapsed = max(last_answer[0] - t0[0], 1e-9)
    ms = 1e3 * np.asarray(latencies) if latencies else None
    return {
        "streams": streams,
        "answered": len(latencies),
        "throughput_fps": round(len(latencies) / elapsed, 2) if latencies else 0.0,
        "latency_ms": {
            "p50": round(float(np.percentile(ms, 50)), 1) if ms is not None else None,
            "p99": round(float(np.percentile(ms, 99)), 1) if ms is not None else None,
        },
        "errors": errors,
    }


def service_throughput(args: argparse.Namespace, content: np.ndarray, style: np.ndarray) -> dict:
    from mvstylizer_common.imagecodec import JPEG, encode_image

    frame, style_message = encode_image(content, JPEG), encode_image(style, JPEG)
    result: dict[str, Any] = {
        "max_batch": args.max_batch,
        "window": args.window,
        "seconds": args.stream_seconds,
        "runs": [],
    }
    process, target = start_stylizer(args, args.out / "gpu_stylizer.log")
    try:
        closed_loop(target, 1, min(2.0, args.stream_seconds), frame, style_message, 1)  # warm-up, not recorded
        for streams in args.streams:
            run = closed_loop(target, streams, args.stream_seconds, frame, style_message, args.window)
            result["runs"].append(run)
            print(f"  {streams} streams: {run['throughput_fps']} key frames/s", flush=True)
    finally:
        stop(process)
    return result


def end_to_end(args: argparse.Namespace, style: np.ndarray) -> dict:
    """A virtual-camera clip at --size through the client's command line with --device."""
    from benchmarks.clips import camera_photo, virtual_camera_frames, write_clip
    from mvstylizer_common.imagecodec import write_image_file

    width, height = args.size
    clip = args.out / f"gpu_clip_{width}x{height}_{args.frames}.mp4"
    if not clip.exists():
        write_clip(virtual_camera_frames(camera_photo(), width, height, args.frames), clip, width, height)
    style_path = args.out / "gpu_style.png"
    write_image_file(str(style_path), style)
    metrics_path = args.out / "gpu_end_to_end.json"
    command = [sys.executable, "-m", "client", "stylize", str(clip), "--style", str(style_path)]
    command += ["-o", str(args.out / "gpu_end_to_end.mp4"), "--device", args.device]
    command += ["--metrics-json", str(metrics_path)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        return {"error": f"client exited {done.returncode}: {done.stderr.strip()[-500:]}", "command": command}
    metrics = json.loads(metrics_path.read_text())
    return {
        "command": command,
        "frames": metrics.get("frames_out"),
        "key_frames": metrics.get("key_frames"),
        "wall_seconds": metrics.get("wall_seconds", round(wall, 3)),
        "process_seconds": round(wall, 3),  # includes starting the embedded stylizer
        "fps": metrics.get("fps"),
    }


def run(args: argparse.Namespace) -> tuple[dict, int]:
    """The whole benchmark; returns the report and the exit status."""
    import torch

    report: dict[str, Any] = {
        "device": args.device,
        "size": "{}x{}".format(*args.size),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "repeats": args.repeats,
        "warmup": args.warmup,
    }
    reason = cuda_skip_reason(args.device)
    if reason:
        report["skipped"] = reason
        return report, 0
    if args.device.startswith("cuda"):
        report["gpu"] = torch.cuda.get_device_name(torch.device(args.device))
    report["cpu_threads"] = torch.get_num_threads()
    content, style, report["photos"] = photos(args.size)
    failed = False
    print("latency per model ...", flush=True)
    report["latency"], report["device_vs_cpu"] = model_latency_and_psnr(args, content, style)
    failed |= any("error" in entry for entry in report["latency"].values())
    print("service throughput ...", flush=True)
    try:
        report["throughput"] = service_throughput(args, content, style)
        failed |= any(r["errors"] or not r["answered"] for r in report["throughput"]["runs"])
    except Exception as error:
        report["throughput"] = {"error": f"{type(error).__name__}: {error}"}
        failed = True
    if args.frames:
        print("end to end ...", flush=True)
        try:
            report["end_to_end"] = end_to_end(args, style)
        except Exception as error:
            report["end_to_end"] = {"error": f"{type(error).__name__}: {error}"}
        failed |= "error" in report["end_to_end"]
    else:
        report["end_to_end"] = {"skipped": "--frames 0"}
    return report, 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keep_large_buffers()  # as the stylizer service does: frame buffers stay in the heap
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report, status = run(args)
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    path = args.out / "gpu.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    if "skipped" in report:
        print(f"benchmarks.gpu skipped: {report['skipped']}")
    else:
        print(tables(report))
    print(f"wrote {path}")
    return status


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
