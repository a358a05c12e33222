"""A service started by a client for itself ends when that client is gone, however it ended.

Light on purpose (no grpc): a client imports the variable's name before its heavy imports.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

log = logging.getLogger(__name__)

# Set by a client that starts a service for itself: the process id the service must not outlive.
EXIT_WITH_PARENT_ENV = "MVS_EXIT_WITH_PARENT"
_PARENT_POLL_S = 0.5
_watching_parent = threading.Event()


def exit_with_parent() -> None:
    """When MVS_EXIT_WITH_PARENT names this process's parent, SIGTERM ourselves (a normal drain) once
    that parent is gone, however it ended: a client killed outright leaves no service behind.
    Idempotent (a warm-started service calls it before its imports and again in its main)."""
    wanted = os.environ.get(EXIT_WITH_PARENT_ENV, "")
    if not wanted.isdigit() or _watching_parent.is_set():
        return
    _watching_parent.set()
    parent = int(wanted)

    def watch() -> None:
        # Before the server runs, SIGTERM's default action ends the process at once; after, it drains.
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL_S)
        log.warning("the process that started this service is gone: stopping")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
