"""The client process runs its frames with one OpenCV thread and large buffers kept."""

from __future__ import annotations

import subprocess
import sys

import pytest

from client import cli
from client.remote.embedded import REPO_ROOT


def test_the_client_process_runs_opencv_on_one_thread():
    # In a fresh interpreter: the setting is process-wide, and this one's tests must not inherit it.
    code = (
        "import cv2; from client.process_setup import prepare_client_process; "
        "prepare_client_process(); print(cv2.getNumThreads())"
    )
    printed = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert printed.stdout.strip() == "1"


def test_the_cli_prepares_its_process_before_anything_else(monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "prepare_client_process", lambda: calls.append("prepared"))
    with pytest.raises(SystemExit):
        cli.main(["--no-such-flag"])
    assert calls == ["prepared"]
