"""Per-step cost of the browser's device core per frame, on the CPU (plain JS) and in WebGL2.

Runs client/browser/ in headless Chromium (Playwright), where WebGL2 is SwiftShader: the GPU
emulated on this machine's CPU, so the WebGL2 figures are a floor on what a phone's GPU does, not
a phone's figure. For each size, one key frame is fitted and the frames after it (a textured scene
moving a little each frame, or frames of --source) are made as a live session makes them:
flow.prepare, estimateFlow and photometricConfidence (flow.js or flow_gl.js), the session's plan
(blendMaps with the fill, the colour adaptation), and the full-size apply (affine.js on the CPU, or
affine_gl.js, waited for by reading a pixel back). Backends: cpu (all plain JS on arrays), webgl2
(frames as pictures, every step that has a WebGL2 version on the GPU) and mixed (frames as pictures,
shrunk and applied on the GPU, the grid work in plain JS). Medians over the frames, in ms.

    python -m benchmarks.web_core [--sizes 640x360,1280x720,1920x1080] [--frames 12] [--out DIR]

Writes DIR/web_core.json and prints a table.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.browser import CHROMIUM, GL_ARGS, serve_modules

STEPS = ["prepare", "estimateFlow", "photometricConfidence", "blendMaps", "planFrame", "apply"]

RUN_JS = """async ({frames, width, height, flowSide}) => {
  const flow = await import('/flow.js');
  const { FlowGL } = await import('/flow_gl.js');
  const { CoreGL } = await import('/core_gl.js');
  const { AffineApplier } = await import('/affine_gl.js');
  const affine = await import('/affine.js');
  const core = await import('/core.js');
  const { InterpolationSession, LIVE } = await import('/session.js');
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const images = frames.map((f) => ({ data: bytes(f), width, height, channels: 3 }));
  const canvas = document.createElement('canvas');
  const gl = canvas.getContext('webgl2', { preserveDrawingBuffer: true });
  const applier = new AffineApplier(gl);
  const flowGl = new FlowGL(gl);
  const coreGl = new CoreGL(gl);
  const pixel = new Uint8Array(4);
  const sync = () => gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, pixel);
  // The key's look: a fixed colour grade (the device does the same work whatever the look).
  const gain = [0.9, 0.75, 0.6];
  const lift = [30, 10, 0];
  const grade = (m) => ({
    ...m,
    data: Uint8Array.from(m.data, (v, i) => Math.min(255, gain[i % 3] * v + lift[i % 3])),
  });
  const result = {};
  // A camera's frames reach WebGL as pictures: the GPU backends take each frame as an ImageBitmap.
  const pictures = [];
  for (const image of images) {
    const rgba = new Uint8ClampedArray(width * height * 4).fill(255);
    for (let i = 0; i < width * height; i++) rgba.set(image.data.subarray(3 * i, 3 * i + 3), 4 * i);
    pictures.push(await createImageBitmap(new ImageData(rgba, width, height), { colorSpaceConversion: 'none' }));
  }
  for (const backend of ['cpu', 'webgl2', 'mixed']) {
    const onGpu = backend === 'webgl2';
    const fromPictures = backend !== 'cpu';
    const session = new InterpolationSession(LIVE, width, height);
    let t = performance.now();
    const key = session.fitKey(0, grade(images[0]), images[0]);
    const prepareKey = performance.now() - t;
    session.holdKey(key);
    const keyFrame = flow.prepare(images[0], flowSide);
    const times = Object.fromEntries(${STEPS}.map((s) => [s, []]));
    const clock = (step, f) => {
      const start = performance.now();
      const value = f();
      times[step].push(performance.now() - start);
      return value;
    };
    for (let i = 1; i < images.length; i++) {
      const original = fromPictures ? pictures[i] : images[i];
      const frame = clock('prepare', () => (fromPictures ? flowGl : flow).prepare(original, flowSide));
      const est = onGpu ? flowGl : flow;
      const field = clock('estimateFlow', () => est.estimateFlow(frame, keyFrame));
      const confidence = clock('photometricConfidence', () => est.photometricConfidence(frame, keyFrame, field));
      const blender = onGpu ? coreGl : core;
      const link = { key, flow: field, confidence };
      clock('blendMaps', () => blender.blendMaps(i, link, null, width, height, frame.small));
      const plan = clock('planFrame', () =>
        session.planFrame({
          index: i, prevKey: 0, original, flowToPrev: field, confidencePrev: confidence, small: frame.small,
        }),
      );
      clock('apply', () => {
        if (!fromPictures) return affine.applyDetail(plan.coeffs, plan.original, plan.small);
        applier.applyDetail(plan.coeffs, plan.original, plan.small);
        sync();
      });
    }
    // The first frame warms the JIT and compiles the shaders: left out.
    const median = (v) => { const s = v.slice(1).sort((a, b) => a - b); return s[s.length >> 1]; };
    result[backend] = { prepareKey, ...Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) };
  }
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  result.renderer = gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER);
  return result;
}""".replace("${STEPS}", json.dumps(STEPS))


def moving_scene(height: int, width: int, count: int) -> list[np.ndarray]:
    """Textured content panning and zooming a little each frame, with sensor noise."""
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(count):
        x = (xs - width / 2) * (1 - 0.004 * i) + width / 2 - 2.0 * i * width / 640
        y = (ys - height / 2) * (1 - 0.004 * i) + height / 2 - 0.7 * i * height / 360
        u, v = x * (640 / width), y * (360 / height)
        image = np.stack(
            [
                128 + 100 * np.sin(u / 37.0) * np.cos(v / 23.0),
                60 + 0.25 * u + 40 * np.sin(v / 11.0),
                60 + 120 * ((u // 40 + v // 30) % 2),
            ],
            axis=-1,
        )
        frames.append(np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8))
    return frames


def source_frames(path: Path, count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    if len(frames) < 3:
        raise SystemExit(f"{path}: fewer than 3 frames could be read")
    return frames


def measure(sizes: list[tuple[int, int]], count: int, source: Path | None, flow_side: int) -> dict:
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        raise SystemExit("chromium is not installed (make setup installs it)")
    base = source_frames(source, count) if source else None
    report: dict = {
        "figures": {},
        "note": "WebGL2 is SwiftShader (the GPU emulated on this CPU): a phone's GPU is faster",
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=GL_ARGS, headless=True)
        try:
            page = browser.new_page()

            serve_modules(page, "bench")
            for width, height in sizes:
                if base is None:
                    frames = moving_scene(height, width, count)
                else:
                    frames = [cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in base]
                started = time.perf_counter()
                answer = page.evaluate(
                    RUN_JS,
                    {
                        "frames": [base64.b64encode(f.tobytes()).decode() for f in frames],
                        "width": width,
                        "height": height,
                        "flowSide": flow_side,
                    },
                )
                report["renderer"] = answer.pop("renderer")
                figures = {backend: {k: round(v, 2) for k, v in steps.items()} for backend, steps in answer.items()}
                for steps in figures.values():
                    steps["perFrame"] = round(per_frame(steps, figures["cpu"]), 2)
                report["figures"][f"{width}x{height}"] = figures
                print(f"{width}x{height}: measured in {time.perf_counter() - started:.0f} s", flush=True)
        finally:
            browser.close()
    return report


def per_frame(steps: dict, cpu: dict) -> float:
    """Device ms of a frame: prepare, flow, confidence, the plan and the apply. The plan (session.js)
    blends on the CPU; with the WebGL2 blend it costs the plan less the CPU's blend plus the GPU's."""
    plan = steps["planFrame"] - cpu["blendMaps"] + steps["blendMaps"]
    return plan + sum(steps[k] for k in ("prepare", "estimateFlow", "photometricConfidence", "apply"))


FOOTNOTES = [
    "* SwiftShader: WebGL2 emulated on this CPU (a phone's GPU is faster). cpu: plain JS on arrays, affine.js applies.",
    "  webgl2: frames as ImageBitmaps; flow_gl.js (prepare, flow, confidence), core_gl.js (blendMaps; its fill on",
    "  the CPU), affine_gl.js (apply). mixed: frames as ImageBitmaps, flow_gl.js's prepare and affine_gl.js's apply",
    "  on the GPU, flow.js and core.js (plain JS) between them: the pick where the GPU is emulated.",
    "  planFrame: session.js's plan, a CPU blendMaps inside; per-frame counts the backend's blendMaps instead.",
]


def table(report: dict) -> str:
    lines = [f"per-step ms, medians ({report['note']}; renderer: {report.get('renderer')})"]
    header = f"{'size':>10} {'backend':>8} " + " ".join(f"{s:>12}" for s in ["prepareKey", *STEPS]) + " per-frame"
    lines.append(header)
    for size, backends in report["figures"].items():
        for backend, steps in backends.items():
            cells = " ".join(f"{steps[s]:>12.1f}" for s in ["prepareKey", *STEPS])
            label = backend if backend == "cpu" else backend + "*"
            lines.append(f"{size:>10} {label:>8} {cells} {steps['perFrame']:>9.1f}")
    lines.extend(FOOTNOTES)
    lines.append(f"  load average while measured (1, 5 min): {report.get('load')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.web_core", description=__doc__)
    parser.add_argument("--sizes", default="640x360,1280x720,1920x1080")
    parser.add_argument("--frames", type=int, default=12, help="frames per size, the key included")
    parser.add_argument("--flow-size", type=int, default=320, help="the flow grid's long side")
    parser.add_argument("--source", type=Path, help="a video whose first frames are used (default: a synthetic scene)")
    parser.add_argument("--out", type=Path, default=Path("out/bench"))
    args = parser.parse_args(argv)
    try:
        sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes: WIDTHxHEIGHT[,...], got {args.sizes!r}")
    if args.frames < 3:
        parser.error("--frames must be at least 3")
    report = measure(sizes, args.frames, args.source, args.flow_size)
    # Shared machines: the CPU's other work while measuring inflates every figure, SwiftShader's most.
    report["load"] = [round(v, 2) for v in os.getloadavg()[:2]]
    report["command"] = "python -m benchmarks.web_core " + " ".join(
        argv if argv is not None else __import__("sys").argv[1:]
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "web_core.json").write_text(json.dumps(report, indent=1) + "\n")
    print(table(report))


if __name__ == "__main__":
    main()
