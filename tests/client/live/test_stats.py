"""Live statistics stay bounded over a run of any length; counts stay exact, percentiles are right."""

from __future__ import annotations

import numpy as np
import pytest

from client.live.engine import LiveEngine
from client.media.capture import FrameMailbox
from tests.media import style_photo


class _IdleSource:
    width, height, fps, captured = 64, 36, 30.0, 0

    def __init__(self):
        self.mailbox = FrameMailbox(capacity=2)


def test_live_statistics_stay_bounded_and_report_recent_percentiles():
    engine = LiveEngine(_IdleSource(), None, style_photo(), [])
    stats = engine.stats
    # A long run: 20 s latencies long ago, then recent ones uniform over 0..1 s.
    samples = 20_000
    for _ in range(samples):
        stats.latencies_s.append(20.0)
        stats.round_trips_s.append(0.5)
        stats.answer_times.append(0.0)
        stats.method_changes.append((0.0, "interpolated"))
    for value in np.random.default_rng(3).uniform(0.0, 1.0, samples):
        stats.latencies_s.append(float(value))
    stats.output = 2 * samples
    kept = [len(stats.latencies_s), len(stats.round_trips_s), len(stats.answer_times), len(stats.method_changes)]
    assert max(kept) <= 10_000, kept
    report = engine.report()
    latency = report["latency_ms"]
    # Over the recent window only: the uniform distribution's quantiles (within sampling error).
    assert latency["p50"] == pytest.approx(500, abs=25)
    assert latency["p95"] == pytest.approx(950, abs=10)
    assert latency["p99"] == pytest.approx(990, abs=5)
    assert latency["max"] == 20000.0  # the largest ever, though no longer in the window
    assert report["latency_window_frames"] == len(stats.latencies_s) and report["output"] == 2 * samples
    assert stats.latencies_s.count == 2 * samples  # counted exactly
    assert report["key_round_trip_ms"]["p50"] == 500.0
