"""The device page's per-frame GPU work in WebGL2 and in WebGPU, in the same browser.

    python -m benchmarks.webgpu --out DIR [--sizes 640x360,1280x720,1920x1080] [--frames 120]

The page (benchmarks/webgpu_page/) repeats the frame loop's GPU steps in each API, each frame:
upload a fresh RGBA8 frame, shrink it to the 80x45 grid and read that back, make the grid's
offsets and gains in JS (affine.js), upload them as float textures, run the full-size pass onto a
visible canvas, and wait for the GPU. The WebGL2 side runs the device page's own shaders
(affine_gl.js, flow_gl.js); the WebGPU side their WGSL ports (wgsl.js). Each step is also timed
alone, the full-size pass's GPU time is read from the APIs' timer queries, and the two APIs'
outputs for the same frame and map are compared pixel for pixel (and with a float64 CPU
reference).

Writes DIR/webgpu.json and prints a table. Headless Chromium runs both APIs on SwiftShader (the
GPU emulated on the CPU): a phone's GPU ranks them by its own drivers. The page is served from the
repository on loopback (WebGPU needs a secure context; cross-origin isolation gives
performance.now() its fine resolution).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import sys
import threading
import time
from pathlib import Path

from benchmarks.browser import CHROMIUM, GL_ARGS

ROOT = Path(__file__).resolve().parents[1]
PAGE = "benchmarks/webgpu_page/index.html"
# WebGPU on SwiftShader's Vulkan. --use-vulkan=swiftshader: without it the GPU process has no Vulkan
# of its own (vkCreateInstance fails), a WebGPU canvas has nothing to present to and the device is
# lost at the first draw.
WEBGPU_ARGS = [
    "--enable-unsafe-webgpu",
    "--use-webgpu-adapter=swiftshader",
    "--enable-features=Vulkan",
    "--use-vulkan=swiftshader",
]
APIS = ("webgl2", "webgpu")


class _Files(http.server.SimpleHTTPRequestHandler):
    """The repository's files, read-only, cross-origin isolated, never cached."""

    def log_message(self, *args) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()


def serve_repository() -> http.server.ThreadingHTTPServer:
    """An HTTP server of the repository on a free loopback port, on a daemon thread."""
    handler = functools.partial(_Files, directory=str(ROOT))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="webgpu-bench-files", daemon=True).start()
    return server


def run(
    sizes: list[tuple[int, int]], frames: int, split_frames: int, variant: str = "fragment", source: str = "bitmap"
) -> dict:
    """The page's figures: per size and API, end-to-end and per-step times (ms) and the outputs'
    differences. source: each frame as an ImageBitmap ("bitmap") or a VideoFrame, copied into a
    texture or, in WebGPU, imported as an external texture ("videoframe-external")."""
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        raise RuntimeError("chromium is not installed (make setup installs it)")
    server = serve_repository()
    config = {
        "sizes": [list(size) for size in sizes],
        "n": frames,
        "splitN": split_frames,
        "kind": source,
        "pace": False,
        "gpuVariant": variant,
        "apis": list(APIS),
    }
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*GL_ARGS, *WEBGPU_ARGS])
            try:
                page = browser.new_page(viewport={"width": 1000, "height": 700})
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                page.goto(f"http://127.0.0.1:{server.server_address[1]}/{PAGE}")
                page.wait_for_function("window.benchReady === true", timeout=30_000)
                started = time.monotonic()
                result = page.evaluate("config => window.runAll(config)", config)
                result["wall_s"] = round(time.monotonic() - started, 1)
                if errors:
                    result["page_errors"] = errors
                return result
            finally:
                browser.close()
    finally:
        server.shutdown()


def summary(result: dict) -> dict:
    """Per size and API: median and p99 ms a frame, the first frame's ms, the full-size pass's GPU
    time, and each step alone (medians); the largest differences between outputs (grey levels)."""

    def median(stats: dict | None) -> float | None:
        return None if not stats else round(stats["median"], 2)

    sizes = {}
    for size, figures in result["sizes"].items():
        row = {}
        for api in APIS:
            if api not in figures:
                continue
            each = figures[api]
            steps = each.get("split") or {}
            row[api] = {
                "ms_p50": median(each["iter"]),
                "ms_p99": None if not each["iter"] else round(each["iter"]["p99"], 2),
                "first_ms": round(each["first"], 1),
                "pass_gpu_ms_p50": median(each["applyGpuTimer"]),
                "steps_ms_p50": {step: median(stats) for step, stats in steps.items()},
            }
        row["max_difference"] = {name: diff["max"] for name, diff in figures.get("correctness", {}).items()}
        sizes[size] = row
    return {"sizes": sizes, "setup": {api: result.get(f"{api}Setup") for api in APIS}}


def print_table(report: dict) -> None:
    print("SwiftShader (the GPU emulated on the CPU); ms")
    print(
        f"{'size':>10} {'api':>7} | {'p50':>7} {'p99':>7} {'first':>7} | {'pass GPU':>8} | steps alone: "
        f"{'upload':>7} {'shrink':>7} {'grid':>6} {'pass':>7}"
    )
    for size, row in report["sizes"].items():
        for api in APIS:
            if api not in row:
                continue
            each, steps = row[api], row[api]["steps_ms_p50"]

            def cell(value, width=7):
                return f"{'-' if value is None else value:>{width}}"

            print(
                f"{size:>10} {api:>7} | {cell(each['ms_p50'])} {cell(each['ms_p99'])} {cell(each['first_ms'])} | "
                f"{cell(each['pass_gpu_ms_p50'], 8)} |              {cell(steps.get('upload'))} "
                f"{cell(steps.get('shrinkRead'))} {cell(steps.get('grid'), 6)} {cell(steps.get('apply'))}"
            )
        print(f"{'':>10} largest differences (levels): {row['max_difference']}")


def parse_sizes(text: str) -> list[tuple[int, int]]:
    try:
        return [tuple(int(v) for v in size.lower().split("x", 1)) for size in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes are WIDTHxHEIGHT,...: {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.webgpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for webgpu.json")
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("640x360,1280x720,1920x1080"))
    parser.add_argument("--frames", type=int, default=120, help="frames timed end to end per size and API")
    parser.add_argument("--step-frames", type=int, default=40, help="frames each step is timed alone")
    parser.add_argument(
        "--variant",
        choices=("fragment", "compute"),
        default="fragment",
        help="the WebGPU full-size pass as a fragment or a compute shader",
    )
    parser.add_argument(
        "--source",
        choices=("bitmap", "videoframe", "videoframe-external"),
        default="bitmap",
        help="each frame as an ImageBitmap or a VideoFrame (external: imported, WebGPU)",
    )
    args = parser.parse_args(argv)
    result = run(args.sizes, args.frames, args.step_frames, args.variant, args.source)
    report = {**summary(result), "raw": result}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "webgpu.json").write_text(json.dumps(report, indent=1))
    print_table(report)
    if result.get("page_errors"):
        print("page errors:", result["page_errors"], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
