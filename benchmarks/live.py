"""Live mode on this machine: a 1280x720 30 fps file played at its own pace, stylizer on loopback
(embedded, as `client live` starts it, in the steady runs; a separate process in the others).

    python -m benchmarks.live --out out/bench [--runs fidelity,steady,hd,outage] [--seconds 60] [--hd-seconds 30]

Run 1 (steady): the whole clip live, output written to MP4 too; captured, output, dropped,
capture-to-output latency. Run 2 (outage): the stylizer process is killed mid-stream and a
new one started on the same port `--outage` seconds later; dropped frames, how frames were
made meanwhile, and how long after the new stylizer listened its first stylized key frame
arrived. The clip is made once by a virtual camera over a real photo (benchmarks.clips).
Run 3 (fidelity): bikes.mp4 (with its hard cuts) live at its own pace, every output frame
compared with frame-by-frame stylization of the same frame by the same model: mean CIE76
colour difference (dE) per frame, its median and p99, and the frames beyond 3x the median
+ 5 dE (after a cut these used to come from the previous shot's maps). Run 4 (hd): a
1920x1080 30 fps clip for --hd-seconds (30) with -o, as run 1. Writes live.json.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.clips import camera_photo, virtual_camera_stream, write_clip
from benchmarks.quality import CaptureSink, run_pipeline
from client.live.engine import LiveOptions
from client.live.job import LiveJob, run_live
from client.process_setup import prepare_client_process
from client.remote.embedded import ServiceProcess
from client.remote.services import INPROC, ServiceOptions
from mvstylizer_common.samples import sample_clip, sample_style

WIDTH, HEIGHT, FPS = 1280, 720, 30
FIDELITY_CLIP = "bikes.mp4"


def live_clip(out: Path, seconds: float, width: int = WIDTH, height: int = HEIGHT) -> Path:
    frames = round(seconds * FPS)
    path = out / f"live_{height}p{FPS}_{frames}.mp4"
    if not path.exists():
        partial = path.with_suffix(".partial.mp4")
        photo = camera_photo("content_1.png")
        write_clip(virtual_camera_stream(photo, width, height, frames, period=10 * FPS), partial, width, height, FPS)
        partial.rename(path)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def steady(clip: Path, style: str, out: Path, seconds: float, name: str = "live_steady.mp4") -> dict:
    """As `client live --source CLIP -o OUT` runs by default: the stylizer embedded (started by
    the job, on the same cores, at LiveOptions.stylizer_niceness)."""
    job = LiveJob(style=style, source=str(clip), seconds=seconds, output=str(out / name), services=ServiceOptions())
    return run_live(job)


def outage(clip: Path, style: str, seconds: float, outage_at: float, outage_s: float) -> dict:
    port = free_port()
    services = [ServiceProcess("services.stylizer", ["--port", str(port)])]
    services[0].wait_listening()
    found: dict = {}
    started = threading.Event()

    def on_started(engine, _url):
        found["engine"] = engine
        found["t0"] = time.perf_counter()
        started.set()

    def break_and_mend() -> None:
        started.wait()
        time.sleep(max(0.0, outage_at - (time.perf_counter() - found["t0"])))
        services[0].process.send_signal(signal.SIGKILL)
        services[0].process.wait()
        found["killed"] = time.perf_counter()
        time.sleep(outage_s)
        found["restart_launched"] = time.perf_counter()
        services.append(ServiceProcess("services.stylizer", ["--port", str(port)]))
        services[-1].wait_listening()
        found["restarted"] = time.perf_counter()

    chaos = threading.Thread(target=break_and_mend, daemon=True)
    chaos.start()
    try:
        job = LiveJob(
            style=style, source=str(clip), seconds=seconds, services=ServiceOptions(stylizer=f"127.0.0.1:{port}")
        )
        report = run_live(job, on_started=on_started)
        chaos.join(60)
    finally:
        for service in services:
            service.stop()
    stats = found["engine"].stats
    answers = stats.answer_times
    after = [t for t in answers if t > found["restarted"]]
    back = [t for t, how in stats.method_changes if how == "interpolated" and t > found["restarted"]]
    report["outage"] = {
        "killed_at_s": round(found["killed"] - found["t0"], 2),
        "down_for_s": round(found["restart_launched"] - found["killed"], 2),
        "new_stylizer_start_s": round(found["restarted"] - found["restart_launched"], 2),
        "first_stylized_key_after_listening_s": round(after[0] - found["restarted"], 3) if after else None,
        "full_stylization_after_listening_s": round(back[0] - found["restarted"], 3) if back else None,
        "answers_while_down": len([t for t in answers if found["killed"] + 0.5 < t < found["restarted"]]),
    }
    return report


def mean_delta_e(a: np.ndarray, b: np.ndarray) -> float:
    """Mean CIE76 colour difference between two HxWx3 uint8 RGB images (Lab from OpenCV, D65)."""
    lab_a, lab_b = (cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab) for image in (a, b))
    return float(np.sqrt(((lab_a - lab_b) ** 2).sum(axis=2)).mean())


def fidelity(style: str) -> dict:
    """Live output of a real clip with cuts against frame-by-frame stylization, frame by frame."""
    clip = sample_clip(FIDELITY_CLIP)
    service = ServiceProcess("services.stylizer")
    try:
        services = ServiceOptions(stylizer=service.address, interpolator=INPROC)
        reference, _ = run_pipeline(clip, Path(style), services, 10**9, keyframes="fixed", key_interval=1)
        capture = CaptureSink()
        # Live, the stylizer runs as client live starts its own: at the live niceness.
        service.lower_priority(LiveOptions.stylizer_niceness)
        report = run_live(LiveJob(style=style, source=str(clip), services=services, sinks=[capture]))
    finally:
        service.stop()
    deviations = np.array([mean_delta_e(f.image, reference[f.index]) for f in capture.frames])
    median = float(np.median(deviations))
    bound = 3 * median + 5
    worst = np.argsort(deviations)[::-1][:10]
    return {
        "clip": FIDELITY_CLIP,
        "frames": len(reference),
        "captured": report["captured"],
        "output": report["output"],
        "dropped": report["dropped"],
        "in_order": [f.index for f in capture.frames] == list(range(len(capture.frames))),
        "cuts": report["cuts"],
        "frames_by_method": report["frames_by_method"],
        "key_frames_answered": report["key_frames_answered"],
        "delta_e": {
            "median": round(median, 3),
            "p99": round(float(np.percentile(deviations, 99)), 3),
            "max": round(float(deviations.max()), 3),
            "bound_3x_median_plus_5": round(bound, 3),
            "frames_beyond_bound": int((deviations > bound).sum()),
        },
        "worst_frames": [
            {
                "index": capture.frames[i].index,
                "delta_e": round(float(deviations[i]), 2),
                "how": capture.frames[i].method,
            }
            for i in worst
        ],
    }


def main(argv: list[str] | None = None) -> None:
    prepare_client_process()  # as the CLI runs jobs
    parser = argparse.ArgumentParser(prog="python -m benchmarks.live", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("out/bench"))
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--outage-seconds-total", type=float, default=40.0, help="length of the outage run")
    parser.add_argument("--outage-at", type=float, default=15.0)
    parser.add_argument("--outage", type=float, default=10.0)
    parser.add_argument("--hd-seconds", type=float, default=30.0, help="length of the 1080p30 run with -o")
    parser.add_argument(
        "--runs", default="fidelity,steady,hd,outage", help="which runs (comma-separated: fidelity,steady,hd,outage)"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    style = str(sample_style("rocket.jpg"))
    runs = set(args.runs.split(","))
    report: dict = {}
    if "fidelity" in runs:
        report["fidelity"] = fidelity(style)
        print("fidelity:", json.dumps(report["fidelity"]))
    if "steady" in runs:
        report["steady"] = steady(live_clip(args.out, args.seconds), style, args.out, args.seconds)
        print("steady:", json.dumps(report["steady"]))
    if "hd" in runs:
        hd_clip = live_clip(args.out, args.hd_seconds, 1920, 1080)
        report["steady_1080p_recorded"] = steady(hd_clip, style, args.out, args.hd_seconds, "live_steady_1080p.mp4")
        print("steady 1080p30 with -o:", json.dumps(report["steady_1080p_recorded"]))
    if "outage" in runs:
        clip = live_clip(args.out, args.seconds)
        report["outage"] = outage(clip, style, args.outage_seconds_total, args.outage_at, args.outage)
        print("outage:", json.dumps(report["outage"]))
    (args.out / "live.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
