"""Processes and threads as /proc shows them (Linux), for the tests that check what the client started."""

from __future__ import annotations

from pathlib import Path


def services_started_by(pid: int) -> list[int]:
    """Processes started by the client `pid` as its embedded services (they carry its id)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"MVS_EXIT_WITH_PARENT={pid}".encode() in environ:
            found.append(int(entry.name))
    return found


def thread_niceness(pid: int) -> set[int]:
    """The nice value of every thread of a process (field 19 of /proc/PID/task/TID/stat)."""
    values = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        stat = (task / "stat").read_text().rsplit(")", 1)[1].split()
        values.add(int(stat[16]))
    return values
