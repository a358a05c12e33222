"""The device page on this machine: VIDEO (scaled to --size) played as headless Chromium's fake
camera into the page, served by `mvstylizer web` with its embedded stylizer, on the same cores.

    python -m benchmarks.web --source VIDEO --out DIR [--size 640x360] [--seconds 10] [--fps 30] [--style PHOTO]

WebGL2 runs on SwiftShader here: the page's shaders run on this machine's CPU, not on a GPU.
Writes DIR/web.json (WEB_KEYS) and prints a table. The counts, rates and device times are the
page's own (window.mvstylizer.stats()); the fidelity is measured as benchmarks.live measures live
mode: the mean CIE76 dE of each shown frame against frame-by-frame stylization of the same
source frame (every frame a key), its median and p99, and flash frames (beyond 3x the median + 5).
Every n-th frame is kept for that (about --keep frames, at most --keep-mb of pixels), and matched to
the source frame it was made from by its content (the fake camera loops and starts anywhere).
bytes_every_frame_per_s: every source frame as the page's key frames are sent (JPEG, quality 90, at
the key size), times the frame rate.
After WEB_KEYS, web.json holds the pops (benchmarks.temporal's measure) over every frame rendered:
each frame's mean colour shown (the page's trace gives it from the frame's plan, without a readback)
and its thumbnail, matched to a source frame; a pop is a jump of the mean colour from the frame
rendered before it that exceeds frame-by-frame stylization's jump between the same two source frames
by more than POP_MARGIN. The browser window is a phone's (--viewport, 390x844 by default).
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np

from benchmarks.browser import CHROMIUM, page_args
from benchmarks.live import mean_delta_e
from benchmarks.temporal import POP_MARGIN, mean_colour_jumps

WEB_KEYS = (
    "frames_captured",
    "frames_rendered",
    "dropped",
    "fps_rendered",
    "device_ms_p50",
    "device_ms_p99",
    "key_frames",
    "median_dE",
    "p99_dE",
    "flash_frames",
    "bytes_up_per_s",
    "bytes_down_per_s",
    "bytes_every_frame_per_s",
)
# The browser window: a phone held upright (the page is made for it). SwiftShader composites the
# window on the CPU, so a larger one costs the page frames here (1280x800: about 20 ms a frame).
VIEWPORT = (390, 844)
KEY_LONG_SIDE = 640  # client/browser/keyframes.js: the long side of the key frames the page sends
KEY_JPEG_QUALITY = 90  # client/browser/app.js: jpegOf's default quality (0.9)
# The page's pixels as base64 (a typed array does not cross page.evaluate cheaply).
READ_KEPT = """(i) => {
  const f = mvstylizer.frames().filter((r) => r.pixels)[i];
  const b64 = (m) => { let s = ''; for (let k = 0; k < m.data.length; k += 32768)
      s += String.fromCharCode.apply(null, m.data.subarray(k, k + 32768));
    return { width: m.width, height: m.height, data: btoa(s) }; };
  return { index: f.index, method: f.method, source: b64(f.source), pixels: b64(f.pixels) };
}"""


# Every traced frame: its look (mean RGB shown) and its thumbnail, to match it to a source frame.
READ_TRACE = """() => mvstylizer.frames().map((r) => ({ index: r.index, method: r.method, shown: r.shown,
  output: r.output, thumb: { width: r.thumb.width, height: r.thumb.height,
    data: btoa(String.fromCharCode.apply(null, r.thumb.data)) } }))"""


def grid_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """services/interpolator/grids.py's (and grids.js's) grid size: never scaled up, sides >= 8."""
    factor = min(1.0, long_side / max(width, height))
    return max(8, round(width * factor)), max(8, round(height * factor))


def source_frames(video: Path, width: int, height: int, count: int) -> list[av.VideoFrame]:
    """The first `count` frames of VIDEO scaled to width x height, in 4:2:0 (the fake camera's format)."""
    frames = []
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            if len(frames) >= count:
                break
            frames.append(frame.reformat(width=width, height=height, format="yuv420p"))
    if not frames:
        raise ValueError(f"{video}: no video frames")
    return frames


def write_y4m(frames: list[av.VideoFrame], path: Path, fps: int) -> Path:
    width, height = frames[0].width, frames[0].height
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            out.write(b"FRAME\n")
            for p, plane in enumerate(frame.planes):
                w, h = (width, height) if p == 0 else (width // 2, height // 2)
                out.write(np.frombuffer(bytes(plane), np.uint8).reshape(h, plane.line_size)[:, :w].tobytes())
    return path


def bytes_every_frame_per_s(frames: list[np.ndarray], fps: float, quality: int = KEY_JPEG_QUALITY) -> float:
    """Every RGB frame sent as the page sends a key frame (JPEG at `quality`, shrunk to the key's
    long side, area-averaged), in bytes a second at `fps`."""
    total = 0
    for rgb in frames:
        size = grid_size(rgb.shape[1], rgb.shape[0], KEY_LONG_SIDE)
        small = rgb if size == (rgb.shape[1], rgb.shape[0]) else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        total += len(jpeg)
    return total / len(frames) * fps


def keep_interval(expected_frames: float, keep: int, keep_mb: float, width: int, height: int) -> int:
    """Every how many frames the page keeps one: about `keep` frames, and at most `keep_mb` MB of
    pixels in the page (a kept frame holds its output at full size)."""
    most = max(1, min(keep, int(keep_mb * 1e6 // (width * height * 3))))
    return max(1, math.ceil(expected_frames / most))


def match_frames(captured: list[np.ndarray], sources: list[np.ndarray]) -> list[int]:
    """For each captured frame (as small as the page's planning grid), the index of the source frame
    closest to it (mean squared difference, the sources shrunk to its size)."""
    if not captured:
        return []
    h, w = captured[0].shape[:2]
    stack = np.stack([cv2.resize(s, (w, h), interpolation=cv2.INTER_AREA) for s in sources]).astype(np.float32)
    return [int(((stack - c.astype(np.float32)) ** 2).mean(axis=(1, 2, 3)).argmin()) for c in captured]


def fidelity(shown: list[np.ndarray], reference: list[np.ndarray]) -> dict:
    """benchmarks.live's fidelity measure: per-frame mean dE, its median and p99, and the frames
    beyond 3x the median + 5 dE (flashes: a look from elsewhere)."""
    return fidelity_of(frame_deviations(shown, reference))


def frame_deviations(shown: list[np.ndarray], reference: list[np.ndarray]) -> np.ndarray:
    return np.array([mean_delta_e(a, b) for a, b in zip(shown, reference, strict=True)])


def fidelity_of(deviations: np.ndarray) -> dict:
    median = float(np.median(deviations))
    return {
        "median_dE": round(median, 3),
        "p99_dE": round(float(np.percentile(deviations, 99)), 3),
        "flash_frames": int((deviations > 3 * median + 5).sum()),
    }


def page_pops(shown: np.ndarray, matched: list[int], reference_means: np.ndarray) -> dict:
    """benchmarks.temporal's pops for the page: a rendered frame whose mean-colour jump from the
    frame rendered before it exceeds frame-by-frame stylization's jump between the same two source
    frames by more than POP_MARGIN. shown: each rendered frame's mean RGB (N x 3, in order);
    matched: its source frame; reference_means: each source frame's stylized mean RGB."""
    jumps = mean_colour_jumps(shown)
    reference = mean_colour_jumps(np.asarray(reference_means, np.float64)[matched])
    beyond = jumps - reference
    pops = np.flatnonzero(beyond > POP_MARGIN)
    return {
        "pops": len(pops),
        "pop_frames": [
            {
                "frame": int(t),
                "source_frame": int(matched[t]),
                "jump": round(float(jumps[t]), 2),
                "reference_jump": round(float(reference[t]), 2),
            }
            for t in pops[np.argsort(beyond[pops])[::-1]][:10]
        ],
        "max_jump_beyond_reference": round(float(beyond.max()), 2) if len(beyond) else 0.0,
    }


def shown_mean_gap(trace: list[dict]) -> float | None:
    """The largest gap (levels, any channel) between a traced frame's mean from its plan and the
    mean of the frame read back, over the frames read back (None: none was)."""
    gaps = [max(abs(a - b) for a, b in zip(t["shown"], t["output"], strict=True)) for t in trace if t["output"]]
    return round(max(gaps), 3) if gaps else None


def web_report(stats: dict, fidelity_figures: dict, every_frame: float) -> dict:
    """web.json: exactly WEB_KEYS."""
    report = {key: stats[key] for key in WEB_KEYS if key in stats}
    report.update(fidelity_figures)
    report["bytes_every_frame_per_s"] = round(every_frame, 1)
    for key in ("fps_rendered", "device_ms_p50", "device_ms_p99", "bytes_up_per_s", "bytes_down_per_s"):
        if report.get(key) is not None:
            report[key] = round(report[key], 2)
    missing = [key for key in WEB_KEYS if key not in report]
    if missing:
        raise ValueError(f"the page's stats lack {missing}")
    return {key: report[key] for key in WEB_KEYS}


def decode_image(item: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(item["data"]), np.uint8).reshape(item["height"], item["width"], 3)


def start_gateway(styles: Path) -> tuple[subprocess.Popen, str]:
    """`mvstylizer web` with its embedded stylizer on a free loopback port: (process, page URL)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "client", "web", "--port", "0", "--no-qr", "--styles", str(styles)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        found = re.search(r"(https?://\S+token=\S+)", line)
        if found:
            # Keep reading its output, so that its logging never blocks on a full pipe.
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process, found.group(1)
    process.kill()
    raise RuntimeError("mvstylizer web printed no address:\n" + "".join(seen))


def run_page(
    y4m: Path, style: Path, seconds: float, keep_every: int, viewport: tuple[int, int] = VIEWPORT
) -> tuple[dict, list[dict], list[dict]]:
    """The page in headless Chromium for `seconds` of camera, in a window of `viewport` (CSS
    pixels): (its stats, the kept frames, every frame's trace record: READ_TRACE)."""
    width, height = (int(v) for v in re.search(rb" W(\d+) H(\d+) ", y4m.open("rb").readline()).groups())
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        raise RuntimeError("chromium is not installed (make setup installs it)")
    with tempfile.TemporaryDirectory() as folder:
        styles = Path(folder)
        shutil.copy(style, styles / style.name)
        gateway, url = start_gateway(styles)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=page_args(y4m))
                try:
                    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
                    page.goto(url)
                    page.wait_for_function("window.mvstylizer !== undefined")
                    page.evaluate("mvstylizer.ready")
                    # As a user who takes a few seconds to start: the page has warmed up at load.
                    page.evaluate("mvstylizer.prepared")
                    page.wait_for_function(
                        f"document.getElementById('style').selectedOptions[0]?.text === {json.dumps(style.stem)}"
                    )
                    # The camera size the page asks for: the fake camera gives at most that.
                    page.evaluate(
                        """([w, h]) => { const pick = document.getElementById('resolution');
                        const asked = [...pick.options].find((o) => { const [ow, oh] = o.value.split('x').map(Number);
                          return ow >= w && oh >= h; });
                        if (asked) pick.value = asked.value; }""",
                        [width, height],
                    )
                    page.evaluate(f"mvstylizer.trace(true, {{ keepEvery: {keep_every} }})")
                    page.click("#camera")
                    time.sleep(seconds)
                    stats = page.evaluate("mvstylizer.stats()")
                    page.evaluate("mvstylizer.trace(false)")
                    page.click("#stop")
                    count = page.evaluate("mvstylizer.frames().filter((r) => r.pixels).length")
                    kept = [page.evaluate(READ_KEPT, i) for i in range(count)]
                    trace = page.evaluate(READ_TRACE)
                finally:
                    browser.close()
        finally:
            gateway.terminate()
            gateway.wait(30)
    return stats, kept, trace


def reference_frames(y4m: Path, style: Path) -> list[np.ndarray]:
    """Frame-by-frame stylization of the y4m's frames (every frame a key), as benchmarks.live's."""
    from benchmarks.quality import run_pipeline
    from client.remote.embedded import ServiceProcess
    from client.remote.services import INPROC, ServiceOptions

    service = ServiceProcess("services.stylizer")
    try:
        services = ServiceOptions(stylizer=service.address, interpolator=INPROC)
        frames, _ = run_pipeline(y4m, style, services, 10**9, keyframes="fixed", key_interval=1)
    finally:
        service.stop()
    return frames


def print_table(report: dict, size: str) -> None:
    print(f"\nbenchmarks.web at {size} (WebGL2 on SwiftShader: the shaders run on this machine's CPU)")
    for key in WEB_KEYS:
        print(f"  {key:<26} {report[key]}")


def parse_size(text: str) -> tuple[int, int]:
    found = re.fullmatch(r"(\d+)x(\d+)", text)
    if not found or int(found.group(1)) % 2 or int(found.group(2)) % 2:
        raise argparse.ArgumentTypeError(f"{text!r}: give WIDTHxHEIGHT, both even (e.g. 640x360)")
    return int(found.group(1)), int(found.group(2))


def main(argv: list[str] | None = None) -> int:
    from mvstylizer_common.samples import sample_style

    parser = argparse.ArgumentParser(prog="python -m benchmarks.web", description=__doc__)
    parser.add_argument("--source", type=Path, required=True, help="the video played as the camera")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--size", type=parse_size, default=(640, 360), help="the camera's size (default 640x360)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the camera plays")
    parser.add_argument("--fps", type=int, default=30, help="the camera's frame rate")
    parser.add_argument(
        "--frames", type=int, default=300, help="at most this many source frames (the camera loops them)"
    )
    parser.add_argument("--style", type=Path, help="the style photo (default: rocket.jpg)")
    parser.add_argument("--keep", type=int, default=60, help="about how many frames the page keeps for the dE")
    parser.add_argument("--keep-mb", type=float, default=200.0, help="at most this many MB of kept pixels")
    parser.add_argument(
        "--viewport", type=parse_size, default=VIEWPORT, help="the browser window in CSS pixels (default 390x844)"
    )
    args = parser.parse_args(argv)
    if not args.source.is_file():
        parser.error(f"{args.source}: no such file")
    style = args.style or Path(sample_style("rocket.jpg"))
    width, height = args.size
    args.out.mkdir(parents=True, exist_ok=True)
    frames = source_frames(args.source, width, height, args.frames)
    y4m = write_y4m(frames, args.out / f"camera_{width}x{height}.y4m", args.fps)
    rgb = [frame.to_ndarray(format="rgb24") for frame in frames]
    expected = args.seconds * args.fps
    keep_every = keep_interval(expected, args.keep, args.keep_mb, width, height)

    stats, kept, trace = run_page(y4m, style, args.seconds, keep_every, args.viewport)
    if not kept:
        raise RuntimeError(f"the page rendered no frame: {stats}")
    matched = match_frames([decode_image(k["source"]) for k in kept], rgb)
    reference = reference_frames(y4m, style)
    shown = [decode_image(k["pixels"]) for k in kept]
    if shown[0].shape != reference[0].shape:
        raise RuntimeError(
            f"the page showed {shown[0].shape[1]}x{shown[0].shape[0]}, not the camera's {width}x{height}"
        )
    deviations = frame_deviations(shown, [reference[i] for i in matched])
    figures = fidelity_of(deviations)
    report = web_report(stats, figures, bytes_every_frame_per_s(rgb, args.fps))
    # Pops over every rendered frame, each matched to its source frame by its thumbnail.
    traced = match_frames([decode_image(t["thumb"]) for t in trace], rgb)
    reference_means = np.array([frame.reshape(-1, 3).mean(0) for frame in reference])
    pops = page_pops(np.array([t["shown"] for t in trace]), traced, reference_means)
    report.update(pops)
    (args.out / "web.json").write_text(json.dumps(report, indent=1) + "\n")
    details = {
        "size": f"{width}x{height}",
        "seconds": args.seconds,
        "kept_every": keep_every,
        "kept": [
            {"index": k["index"], "source_frame": m, "method": k["method"], "dE": round(float(d), 3)}
            for k, m, d in zip(kept, matched, deviations, strict=True)
        ],
        "stats": stats,
        # How far the page's mean of each frame shown (from its plan) is from the mean of the
        # frame read back, where it was read back: the pops rest on the former.
        "shown_mean_gap_max": shown_mean_gap(trace),
        "traced": [
            {"index": t["index"], "source_frame": m, "method": t["method"], "shown": [round(v, 2) for v in t["shown"]]}
            for t, m in zip(trace, traced, strict=True)
        ],
    }
    (args.out / "web_details.json").write_text(json.dumps(details, indent=1) + "\n")
    print_table(report, f"{width}x{height}")
    print(f"  (dE over {len(kept)} frames, every {keep_every}th; methods {stats.get('methods')})")
    print(f"  pops {pops['pops']} over {len(trace)} frames rendered: {pops['pop_frames']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
