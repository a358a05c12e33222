import subprocess
import sys
import time
from pathlib import Path

from benchmarks.profile import process_cpu_seconds

REPO = Path(__file__).resolve().parents[2]


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


# StageClock counts every thread of its process, so it is measured in a process of its own: in this
# one, the session's servers and the memory trimmer of earlier tests may run while it sleeps.
_STAGE_CLOCK = """
import time
from benchmarks.profile import StageClock

def spin(seconds):
    end, n = time.process_time() + seconds, 0
    while time.process_time() < end:
        n += 1
    return n

clock = StageClock(frames=10)
assert clock.time("spin", lambda: spin(0.2)) > 0
clock.time("sleep", lambda: time.sleep(0.2))
print(clock.ms_per_frame["spin"], clock.ms_per_frame["sleep"])
"""


def test_stage_clock_reports_cpu_per_frame_and_passes_results_through():
    done = subprocess.run([sys.executable, "-c", _STAGE_CLOCK], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    spin_ms, sleep_ms = (float(v) for v in done.stdout.split())
    assert 15 < spin_ms < 40  # 200 ms over 10 frames
    assert sleep_ms < 5
