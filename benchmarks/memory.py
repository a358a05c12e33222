"""Peak memory of the client against clip length: a 1-minute and a 10-minute 1080p clip.

    python -m benchmarks.memory --out out/bench [--minutes 1 10] [--size 1920x1080]

Each clip is made by a virtual camera moving back and forth over a real photo (every
10 s), then stylized by the client in a subprocess (`python -m client stylize`, in-process
interpolator, embedded stylizer). The client's peak resident memory (VmHWM, read from
/proc while it runs) is recorded; the stylizer subprocess is not counted. Writes memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.clips import camera_photo, virtual_camera_stream, write_clip
from client.remote.embedded import REPO_ROOT
from mvstylizer_common.malloc import keep_large_buffers
from mvstylizer_common.samples import sample_style

FPS = 25
PERIOD_FRAMES = 10 * FPS


def make_clip(out_dir: Path, width: int, height: int, minutes: float) -> Path:
    count = round(minutes * 60 * FPS)
    path = out_dir / f"memory_{width}x{height}_{count}.mp4"
    if not path.exists():
        partial = path.with_suffix(".partial.mp4")
        frames = virtual_camera_stream(camera_photo(), width, height, count, period=PERIOD_FRAMES)
        write_clip(frames, partial, width, height, fps=FPS, crf=23, preset="ultrafast")
        partial.rename(path)
    return path


def peak_rss_mib(command: list[str], poll_s: float = 0.5) -> tuple[float, float, int]:
    """Run command; (peak resident MiB of that process, wall seconds, exit status)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    status_path = Path(f"/proc/{process.pid}/status")
    peak_kib = 0
    while process.poll() is None:
        try:
            for line in status_path.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kib = max(peak_kib, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(poll_s)
    stderr = process.communicate()[1]
    if process.returncode != 0:
        print(stderr, file=sys.stderr)
    return peak_kib / 1024, time.perf_counter() - started, process.returncode


def main(argv: list[str] | None = None) -> None:
    keep_large_buffers()
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("out/bench"))
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--size", default="1920x1080")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    style = str(sample_style("rocket.jpg"))
    runs = []
    for minutes in args.minutes:
        clip = make_clip(args.out, width, height, minutes)
        output = args.out / f"memory_out_{minutes:g}min.mp4"
        metrics = args.out / f"memory_metrics_{minutes:g}min.json"
        command = [sys.executable, "-m", "client", "stylize", str(clip), "--style", style, "-o", str(output)]
        command += ["--interpolator", "inproc", "--metrics-json", str(metrics)]
        peak, wall, status = peak_rss_mib(command)
        result = {"minutes": minutes, "clip": clip.name, "peak_rss_mib": round(peak, 1), "wall_seconds": round(wall, 1)}
        result["exit_status"] = status
        if metrics.exists():
            result.update(
                {k: v for k, v in json.loads(metrics.read_text()).items() if k in ("frames_in", "frames_out")}
            )
        runs.append(result)
        print(json.dumps(result), flush=True)
        output.unlink(missing_ok=True)
    report = {"size": args.size, "runs": runs}
    if len(runs) >= 2:
        report["growth"] = round(runs[-1]["peak_rss_mib"] / runs[0]["peak_rss_mib"] - 1.0, 4)
    (args.out / "memory.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
