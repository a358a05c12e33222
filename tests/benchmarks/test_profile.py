import subprocess
import sys
import time

from benchmarks.profile import StageClock, process_cpu_seconds


def _spin(seconds: float) -> int:
    end, n = time.process_time() + seconds, 0
    while time.process_time() < end:
        n += 1
    return n


# A process of its own, measured as the function is meant to be (another process): this one's other
# threads (servers and thread pools of earlier tests) add CPU time of their own while it sleeps.
_IDLE_THEN_SPIN = """
import sys, time
print("ready", flush=True)
sys.stdin.readline()
end = time.process_time() + 0.3
while time.process_time() < end:
    pass
print("done", flush=True)
sys.stdin.readline()
"""


def test_process_cpu_seconds_counts_work_not_sleep():
    child = subprocess.Popen(
        [sys.executable, "-c", _IDLE_THEN_SPIN], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        before = process_cpu_seconds(child.pid)
        time.sleep(0.2)  # the child waits on its input meanwhile
        slept = process_cpu_seconds(child.pid)
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "done"
        worked = process_cpu_seconds(child.pid)
        assert slept - before < 0.1
        assert 0.2 < worked - slept < 1.0
    finally:
        child.kill()
        child.wait()


def test_stage_clock_reports_cpu_per_frame_and_passes_results_through():
    clock = StageClock(frames=10)
    assert clock.time("spin", lambda: _spin(0.2)) > 0
    clock.time("sleep", lambda: time.sleep(0.2))
    assert 15 < clock.ms_per_frame["spin"] < 40  # 200 ms over 10 frames
    assert clock.ms_per_frame["sleep"] < 5
