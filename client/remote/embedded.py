"""The embedded default: start the services as local subprocesses on free loopback ports."""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from mvstylizer_common.errors import InvalidInputError
from mvstylizer_common.parent_watch import EXIT_WITH_PARENT_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]
# Exit status of a service that refused its arguments (as the CLI's own bad-input status).
EXIT_BAD_INPUT = 2
STARTUP_TIMEOUT_S = 120.0
# lower_priority's passes over a service's threads, at most (one or two suffice once it has started).
_RENICE_PASSES = 5

log = logging.getLogger(__name__)

_INVALID_CHOICE = re.compile(r"argument (--[\w-]+): invalid choice: '([^']*)' \(choose from (.*)\)")


def refusal_for_client(line: str) -> str:
    """A service's one-line refusal of its arguments, in the client's terms: the flags the client
    passed on (--model NAME, --weights PATH), not the service's own usage text."""
    line = re.sub(r"^(python -m services\.\w+: error: |\w+: )", "", line.strip())
    choice = _INVALID_CHOICE.search(line)
    if choice:
        flag, value, options = choice.groups()
        return f"{flag} {value}: not available; choose from {options.replace(chr(39), '')}"
    # The client's --weights takes a bare path for its --model.
    return re.sub(r"--weights \w+=PATH", "--weights PATH", line)


class ServiceProcess:
    """A service run as `python -m MODULE --host 127.0.0.1 --port 0`; learns its port from stdout.

    It dies with the process that started it, even one killed outright, and leaves no files.
    With args_later, the process starts at once and waits for its arguments (give_args), so its
    imports run while the caller is still deciding them (mvstylizer_common/warmstart.py)."""

    def __init__(self, module: str, extra_args: list[str] | None = None, *, args_later: bool = False):
        self.module = module
        # The service's stderr, kept for the error message if it fails to start; the file has no
        # name once both processes hold it open, so nothing is left behind whatever happens.
        self._log = tempfile.TemporaryFile(prefix=f"mvs-{module.split('.')[-1]}-", suffix=".log")  # noqa: SIM115
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        # The service drains and exits when this process is gone, however it ended (mvstylizer_common/parent_watch.py).
        env[EXIT_WITH_PARENT_ENV] = str(os.getpid())
        command = [sys.executable, "-m", "mvstylizer_common.warmstart", module] if args_later else [
            sys.executable, "-m", module, *self._arguments(extra_args)
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.PIPE if args_later else subprocess.DEVNULL,
            env=env,
            cwd=REPO_ROOT,
            text=True,
        )
        self.port: int | None = None
        self._waiting_for_args = args_later

    @staticmethod
    def _arguments(extra_args: list[str] | None) -> list[str]:
        return ["--host", "127.0.0.1", "--port", "0", *(extra_args or [])]

    def give_args(self, extra_args: list[str] | None = None) -> None:
        """The arguments of a process started with args_later: it serves from here on."""
        if not self._waiting_for_args:
            raise RuntimeError(f"{self.module} was started with its arguments")
        self._waiting_for_args = False
        try:
            self.process.stdin.write(json.dumps(self._arguments(extra_args)) + "\n")
            self.process.stdin.close()
        except OSError:  # it died meanwhile: wait_listening() reports why
            pass

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.wait_listening()}"

    def wait_listening(self) -> int:
        """Block until the service announces its port (started processes run in parallel)."""
        if self._waiting_for_args:
            raise RuntimeError(f"{self.module} has not been given its arguments")
        if self.port is None:
            self.port = self._await_port()
        return self.port

    def _await_port(self) -> int:
        found: dict = {}

        def read_first_line() -> None:
            line = self.process.stdout.readline()
            if line:
                found.update(json.loads(line))

        reader = threading.Thread(target=read_first_line, daemon=True)
        reader.start()
        reader.join(STARTUP_TIMEOUT_S)
        if "port" not in found:
            tail, last = self.log_tail(), self.last_line()
            self.stop()
            if self.process.returncode == EXIT_BAD_INPUT:
                # The service refused its arguments (e.g. a missing or mismatched weight file).
                raise InvalidInputError(refusal_for_client(last))
            raise RuntimeError(f"{self.module} did not start: {tail}")
        return int(found["port"])

    def lower_priority(self, niceness: int) -> None:
        """Run the service `niceness` steps below this process on the CPU (at most 19; 0: as it is):
        every thread it has, and so every thread they start. Passes repeat until one finds no thread
        left to lower (a thread started by one not yet lowered keeps its creator's priority). Where
        the system refuses, it runs as it is (a note in the log)."""
        if niceness <= 0:
            return
        target = min(19, os.getpriority(os.PRIO_PROCESS, 0) + niceness)
        for _ in range(_RENICE_PASSES):
            if not self._lower_threads(target):
                return

    def _lower_threads(self, target: int) -> bool:
        """One pass of lower_priority: whether any thread was lowered."""
        pid = self.process.pid
        try:
            threads = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
        except OSError:  # no /proc: the process's own (first) thread, from which the rest are started
            threads = [pid]
        lowered = False
        for tid in threads:
            try:
                if os.getpriority(os.PRIO_PROCESS, tid) < target:
                    os.setpriority(os.PRIO_PROCESS, tid, target)
                    lowered = True
            except OSError as error:  # the thread ended meanwhile, or no permission
                log.debug("could not renice %s thread %d: %s", self.module, tid, error)
        return lowered

    def last_line(self) -> str:
        return self.log_tail(1)

    def log_tail(self, lines: int = 5) -> str:
        self.process.poll()
        self._log.seek(0)
        text = self._log.read().decode(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "(no output)"

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        self._log.close()


_warm: dict[str, ServiceProcess] = {}


def prestart(module: str) -> None:
    """Start `module` now, arguments to follow: a later EmbeddedServices adopts it, and if none
    does, it is stopped when this process exits."""
    if module not in _warm:
        if not _warm:
            atexit.register(discard_prestarted)
        _warm[module] = ServiceProcess(module, args_later=True)


def take_prestarted(module: str, extra_args: list[str] | None, niceness: int = 0) -> ServiceProcess | None:
    """The prestarted `module`, lowered by `niceness` (while it still waits) and then given its
    arguments; None if none was prestarted."""
    process = _warm.pop(module, None)
    if process is not None:
        process.lower_priority(niceness)
        process.give_args(extra_args)
    return process


def discard_prestarted() -> None:
    """Stop the prestarted services nobody took (they have served nothing: no drain needed)."""
    while _warm:
        _, process = _warm.popitem()
        process.process.kill()
        process.process.wait()
        process.stop()


class EmbeddedServices:
    """Context manager starting whichever services were not given an address."""

    def __init__(
        self,
        stylizer: str | None,
        interpolator: str | None,
        stylizer_args: list[str] | None = None,
        need_interpolator: bool = True,
        stylizer_niceness: int = 0,
    ):
        """stylizer_niceness: how many steps below this process a stylizer started here runs on the
        CPU (live mode: the device's own frames come first, key frames fill the idle time)."""
        self._want_stylizer = stylizer is None
        self._stylizer_niceness = stylizer_niceness
        self._want_interpolator = interpolator is None and need_interpolator
        self._stylizer_args = stylizer_args or []
        self.stylizer = stylizer
        self.interpolator = interpolator
        self._processes: list[ServiceProcess] = []

    def __enter__(self) -> EmbeddedServices:
        try:
            stylizer = interpolator = None
            if self._want_stylizer:
                niceness = self._stylizer_niceness
                stylizer = take_prestarted("services.stylizer", self._stylizer_args, niceness)
                if stylizer is None:
                    stylizer = ServiceProcess("services.stylizer", self._stylizer_args)
                    stylizer.lower_priority(niceness)
                self._processes.append(stylizer)
            if self._want_interpolator:
                interpolator = ServiceProcess("services.interpolator")
                self._processes.append(interpolator)
            if stylizer is not None:
                self.stylizer = stylizer.address
            if interpolator is not None:
                self.interpolator = interpolator.address
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def process_ids(self) -> dict[str, int]:
        """The started services' process ids, by module (for resource accounting)."""
        return {process.module: process.process.pid for process in self._processes}

    def __exit__(self, *exc) -> None:
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()
