"""benchmarks.gpu without a GPU: arguments, the PSNR helper, tables, the skip path, and a tiny CPU run."""

import json
import math

import numpy as np
import pytest
import torch

from benchmarks import gpu


def test_defaults_are_the_gpu_run():
    args = gpu.parse_args([])
    assert args.device == "cuda" and args.size == (1920, 1080) and args.streams == (1, 8, 32)
    assert str(args.out) == "out/bench" and args.weights == {} and args.frames > 0


def test_arguments_parse_and_bad_ones_are_refused():
    args = gpu.parse_args(["--device", "cpu", "--size", "640x360", "--streams", "2,4", "--weights", "photowct=w.pth"])
    assert args.size == (640, 360) and args.streams == (2, 4) and args.weights == {"photowct": "w.pth"}
    for bad in (["--size", "640"], ["--size", "8x8"], ["--streams", "0,8"], ["--streams", "a"],
                ["--weights", "w.pth"], ["--repeats", "0"], ["--stream-seconds", "0"]):  # fmt: skip
        with pytest.raises(SystemExit):
            gpu.parse_args(bad)


def test_psnr():
    a = np.zeros((4, 5, 3), np.uint8)
    assert math.isinf(gpu.psnr(a, a))
    assert gpu.psnr(a, a + 1) == pytest.approx(10 * math.log10(255**2))  # MSE 1
    assert gpu.psnr(a, a + 255) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        gpu.psnr(a, np.zeros((4, 4, 3), np.uint8))


def test_compare_outputs_is_json_safe():
    a = np.full((8, 8, 3), 100, np.uint8)
    same = gpu.compare_outputs(a, a.copy())
    assert same == {"psnr_db": None, "identical": True, "max_abs_diff": 0, "share_of_pixels_off_by_more_than_2": 0.0}
    b = a.copy()
    b[0, 0, 0] = 110
    differs = gpu.compare_outputs(b, a)
    assert not differs["identical"] and differs["max_abs_diff"] == 10 and differs["psnr_db"] > 40
    assert differs["share_of_pixels_off_by_more_than_2"] == pytest.approx(1 / 64)
    json.dumps([same, differs], allow_nan=False)


def test_format_table():
    table = gpu.format_table(["model", "ms", "dB"], [["preset", 12.345, math.inf], ["photowct", None, 41.0]])
    assert table.splitlines() == [
        "| model | ms | dB |",
        "|---|---|---|",
        "| preset | 12.3 | inf |",
        "| photowct | - | 41.0 |",
    ]
    with pytest.raises(ValueError):
        gpu.format_table(["a", "b"], [[1]])


def test_tables_of_a_report():
    report = {
        "device": "cuda",
        "size": "1920x1080",
        "repeats": 20,
        "warmup": 3,
        "latency": {"preset": {"work_size": "512x288", "median_ms": 4.2, "p90_ms": 5.0}, "photowct": {"skipped": "x"}},
        "device_vs_cpu": {"preset": {"psnr_db": 51.3, "identical": False}},
        "throughput": {
            "max_batch": 8,
            "window": 2,
            "seconds": 10.0,
            "runs": [
                {
                    "streams": 8,
                    "answered": 900,
                    "throughput_fps": 90.0,
                    "latency_ms": {"p50": 80.0, "p99": 120.0},
                    "errors": {"RESOURCE_EXHAUSTED": 1},
                }
            ],
        },
        "end_to_end": {"frames": 120, "wall_seconds": 4.0, "fps": 30.0, "key_frames": 9},
    }
    text = gpu.tables(report)
    assert "| preset | 512x288 | 4.2 | 5.0 | 51.3 |  |" in text
    assert "| photowct | - | - | - | - | x |" in text
    assert "| 8 | 900 | 90.0 | 80.0 | 120.0 | RESOURCE_EXHAUSTED 1 |" in text
    assert "120 frames at 1920x1080 in 4.00 s = 30.0 frames/s (9 key frames)" in text


def test_no_skip_on_the_cpu_and_reasons_without_cuda(monkeypatch):
    assert gpu.cuda_skip_reason("cpu") is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    reason = gpu.cuda_skip_reason("cuda")
    assert reason.startswith("no CUDA") and torch.__version__ in reason
    monkeypatch.setattr(torch.version, "cuda", "12.6")
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    assert "sees no GPU" in gpu.cuda_skip_reason("cuda:0")


def test_without_cuda_it_says_why_writes_the_reason_and_exits_0(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu.main(["--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "gpu.json").read_text())
    assert report["skipped"].startswith("no CUDA") and report["device"] == "cuda"
    assert "latency" not in report and "throughput" not in report
    assert f"skipped: {report['skipped']}" in capsys.readouterr().out


def test_a_tiny_cpu_run_end_to_end(tmp_path, capsys):
    """The same code as the GPU run, on the CPU, tiny: every part runs and is recorded."""
    status = gpu.main(
        ["--out", str(tmp_path), "--device", "cpu", "--size", "64x48", "--repeats", "1", "--warmup", "0",
         "--streams", "1,2", "--stream-seconds", "0.5", "--frames", "4"]
    )  # fmt: skip
    report = json.loads((tmp_path / "gpu.json").read_text())
    assert status == 0, report
    assert "skipped" not in report and report["size"] == "64x48"
    for name, entry in report["latency"].items():
        if "skipped" in entry:
            assert "needs weights" in entry["skipped"]
            continue
        assert entry["median_ms"] > 0 and entry["runs"] == 1, name
        assert report["device_vs_cpu"][name]["identical"]  # CPU against CPU
    assert "preset" in report["device_vs_cpu"]
    runs = report["throughput"]["runs"]
    assert [r["streams"] for r in runs] == [1, 2]
    assert all(r["answered"] > 0 and r["throughput_fps"] > 0 and not r["errors"] for r in runs)
    e2e = report["end_to_end"]
    assert e2e["frames"] == 4 and e2e["fps"] > 0 and "--device" in e2e["command"]
    assert (tmp_path / "gpu_end_to_end.mp4").stat().st_size > 0
    out = capsys.readouterr().out
    assert "| preset |" in out and "key frames/s" in out
