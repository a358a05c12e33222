"""benchmarks.webgpu: the device page's full-size pass and shrink in WGSL give the page's own WebGL2
shaders' pixels, and the benchmark reports both APIs' times.

Headless Chromium runs both APIs on SwiftShader. Off CI a missing browser skips these tests; on CI
(CI=true) they fail instead.
"""

from __future__ import annotations

import json
import os

import pytest

from benchmarks import webgpu
from benchmarks.browser import CHROMIUM

if CHROMIUM is None and os.environ.get("CI") != "true":
    pytest.skip("chromium is not installed (make setup installs it)", allow_module_level=True)
pytest.importorskip("playwright.sync_api")


def test_the_wgsl_ports_give_the_pages_pixels_and_both_apis_are_timed(tmp_path):
    # 168x92: not a multiple of the 80x45 grid, so the shrink's partly covered pixels count.
    assert webgpu.main(["--out", str(tmp_path), "--sizes", "168x92", "--frames", "3", "--step-frames", "2"]) == 0
    report = json.loads((tmp_path / "webgpu.json").read_text())
    row = report["sizes"]["168x92"]
    # The same frame and map: the same pixels, full size and shrunk; both within a level of a float64 reference.
    assert row["max_difference"]["webgl2_vs_webgpu"] == 0
    assert row["max_difference"]["small_webgl2_vs_webgpu"] == 0
    assert row["max_difference"]["webgl2_vs_cpu"] <= 1
    assert row["max_difference"]["webgpu_vs_cpu"] <= 1
    for api in ("webgl2", "webgpu"):
        assert row[api]["ms_p50"] > 0
        assert all(row[api]["steps_ms_p50"][step] > 0 for step in ("upload", "shrinkRead", "grid", "apply"))
    assert report["setup"]["webgpu"]["adapter"]["architecture"] == "swiftshader"
