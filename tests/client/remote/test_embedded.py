"""Services the client starts itself: started before their arguments are known, adopted, or stopped unused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from client.launcher import wants_embedded_stylizer
from client.remote import embedded
from client.remote.embedded import REPO_ROOT, EmbeddedServices, ServiceProcess, discard_prestarted, prestart
from client.remote.services import INPROC
from client.remote.stylizer import open_channel, wait_for_ready
from tests.processes import thread_niceness


def answers(address: str) -> bool:
    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=60)
        return True
    finally:
        channel.close()


def test_a_service_started_before_its_arguments_serves_once_given_them():
    service = ServiceProcess("services.stylizer", args_later=True)
    try:
        with pytest.raises(RuntimeError, match="not been given its arguments"):
            service.wait_listening()
        service.give_args(["--device", "cpu"])
        assert answers(service.address)
        with pytest.raises(RuntimeError, match="started with its arguments"):
            service.give_args([])
    finally:
        service.stop()
    assert service.process.returncode is not None


def test_embedded_services_adopt_the_prestarted_stylizer_and_pass_it_their_arguments():
    prestart("services.stylizer")
    warm_pid = embedded._warm["services.stylizer"].process.pid
    with EmbeddedServices(None, INPROC, ["--model", "mkl"], need_interpolator=False) as services:
        assert services.process_ids()["services.stylizer"] == warm_pid
        assert answers(services.stylizer)
        assert "services.stylizer" not in embedded._warm  # taken: a second job starts its own
    # ... and its refusal of bad arguments reads as a cold-started one's does.
    prestart("services.stylizer")
    with (
        pytest.raises(Exception, match="--model nope: not available"),
        EmbeddedServices(None, INPROC, ["--model", "nope"], need_interpolator=False) as services,
    ):
        services.stylizer  # noqa: B018  (waits for it to listen)


def test_a_prestarted_service_nobody_takes_is_stopped_and_never_served():
    prestart("services.stylizer")
    process = embedded._warm["services.stylizer"].process
    discard_prestarted()
    assert process.poll() is not None and not embedded._warm


def test_a_warm_start_whose_arguments_never_come_exits_quietly():
    done = subprocess.run(
        [sys.executable, "-m", "mvstylizer_common.warmstart", "services.stylizer"],
        input="",
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout == "", done.stderr


@pytest.mark.parametrize(
    ("argv", "wanted"),
    [
        (["stylize", "a.mp4", "--style", "s.jpg"], True),
        (["live", "--source", "synthetic", "--style", "s.jpg"], True),
        (["stylize-image", "a.png", "--style", "s.jpg"], True),
        (["web", "--host", "0.0.0.0"], True),
        (["web", "--stylizer", "edge:50051"], False),
        (["stylize", "a.mp4", "--style", "s.jpg", "--stylizer", "edge:50051"], False),
        (["stylize", "a.mp4", "--stylizer=edge:50051"], False),
        (["stylize", "--help"], False),
        (["-h"], False),
        ([], False),
    ],
)
def test_the_launcher_prestarts_only_for_commands_that_embed_a_stylizer(argv, wanted):
    assert wants_embedded_stylizer(argv) is wanted


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads thread priorities from /proc")
@pytest.mark.parametrize("warm", [False, True], ids=["cold", "prestarted"])
def test_an_embedded_stylizer_runs_at_the_niceness_asked_in_all_its_threads(warm):
    if warm:
        prestart("services.stylizer")
    with EmbeddedServices(None, INPROC, need_interpolator=False, stylizer_niceness=6) as services:
        wait_for_ready(open_channel(services.stylizer), 60)  # serving: its gRPC and torch threads run
        pid = services.process_ids()["services.stylizer"]
        assert thread_niceness(pid) == {min(19, os.getpriority(os.PRIO_PROCESS, 0) + 6)}
        assert "services.stylizer" not in embedded._warm  # the prestarted one was the one lowered
