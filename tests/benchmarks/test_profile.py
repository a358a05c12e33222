import os
import time

from benchmarks.profile import StageClock, process_cpu_seconds


def _spin(seconds: float) -> int:
    end, n = time.process_time() + seconds, 0
    while time.process_time() < end:
        n += 1
    return n


def test_process_cpu_seconds_counts_work_not_sleep():
    before = process_cpu_seconds(os.getpid())
    time.sleep(0.2)
    slept = process_cpu_seconds(os.getpid())
    _spin(0.3)
    worked = process_cpu_seconds(os.getpid())
    # Relative, not absolute: other threads of this process (an OpenMP pool spinning down after an
    # earlier test's torch work) may add a little CPU time while this one sleeps.
    assert 0.2 < worked - slept < 1.0
    assert slept - before < 0.5 * (worked - slept)


def test_stage_clock_reports_cpu_per_frame_and_passes_results_through():
    clock = StageClock(frames=10)
    assert clock.time("spin", lambda: _spin(0.2)) > 0
    clock.time("sleep", lambda: time.sleep(0.2))
    assert 15 < clock.ms_per_frame["spin"] < 40  # 200 ms over 10 frames
    assert clock.ms_per_frame["sleep"] < 5
