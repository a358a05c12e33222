import json

from benchmarks.load import main, percentile_ms


def test_percentiles_in_milliseconds():
    assert percentile_ms([0.010, 0.020, 0.030], 50) == 20.0
    assert percentile_ms([], 99) is None


def test_a_short_open_loop_run_against_a_real_stylizer(stylizer_address, tmp_path):
    report_path = tmp_path / "load.json"
    main(
        [
            "--target", stylizer_address,
            "--streams", "2",
            "--rate", "4",
            "--duration", "1",
            "--drain", "20",
            "--size", "96x64",
            "--json", str(report_path),
        ]
    )  # fmt: skip
    report = json.loads(report_path.read_text())
    assert report["sent"] == 8  # 2 streams x 4 frames/s x 1 s, whatever the server does
    assert report["received"] == report["sent"] and report["lost"] == 0 and report["errors"] == {}
    latency = report["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert report["throughput_fps"] > 0
    assert len(report["samples"]) == report["received"]
    assert (tmp_path / "load.png").stat().st_size > 0


def test_an_unreachable_target_is_counted_as_an_error(tmp_path):
    report_path = tmp_path / "down.json"
    main(["--target", "127.0.0.1:1", "--streams", "1", "--rate", "5", "--duration", "0.4", "--drain", "1",
          "--json", str(report_path)])  # fmt: skip
    report = json.loads(report_path.read_text())
    assert report["received"] == 0 and report["errors"] == {"UNAVAILABLE": 1}
