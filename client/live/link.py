"""The live engine's link to the stylizer: never blocks the video, survives the stylizer.

A background thread keeps one StylizerSession open (and opens it again, with backoff,
for as long as the stylizer is away; reconnection is also fast inside a session). Key
frames are offered without waiting: when one is already in flight or the stream is
down, the offer is declined and the video goes on from what it has. Answers are
polled. A style change opens a session with the new style and switches to it once it
is ready; answers of the old style are dropped from then on.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import grpc
import numpy as np

from client.remote.stylizer import ReconnectPolicy, StylizerOptions, StylizerSession
from protos.mvstylizer.v1 import media_pb2

log = logging.getLogger(__name__)

# Within a session: reconnect for ever, without re-sending stale key frames.
LIVE_RECONNECT = ReconnectPolicy(timeout_s=1e9, first_backoff_s=0.05, max_backoff_s=0.5, resend_unanswered=False)


@dataclass
class KeyAnswer:
    index: int
    stylized: np.ndarray
    round_trip_s: float
    style_generation: int


class StylizerLink:
    def __init__(self, channel: grpc.Channel, style: media_pb2.EncodedImage, options: StylizerOptions):
        self.options = options
        self._channel = channel
        self._lock = threading.Lock()
        self._session: StylizerSession | None = None
        self._session_generation = -1
        self._wanted_style = style
        self._wanted_generation = 0
        self._sent_at: dict[int, float] = {}
        self._closed = threading.Event()
        self._changed = threading.Event()
        self.style_error: str | None = None  # why the last style change was refused
        self._opened = threading.Event()  # a session has opened (its style encoded) at least once
        self._thread = threading.Thread(target=self._maintain, name="stylizer-link", daemon=True)
        self._thread.start()

    @property
    def status(self) -> str:
        """connected, reconnecting or connecting (no session yet)."""
        session = self._session
        if session is None:
            return "connecting"
        return "connected" if session.connected else "reconnecting"

    @property
    def style_generation(self) -> int:
        """Increases with every style change asked for."""
        return self._wanted_generation

    def change_style(self, style: media_pb2.EncodedImage) -> int:
        with self._lock:
            self._wanted_style = style
            self._wanted_generation += 1
            self.style_error = None
            self._changed.set()
            return self._wanted_generation

    def offer(self, index: int, rgb: np.ndarray) -> bool:
        """Send a key frame if the link can take one now; False (not sent) otherwise."""
        session = self._session
        if session is None or session.failed is not None:
            return False
        sent_at = time.perf_counter()
        if not session.try_submit(index, 0, rgb):
            return False
        with self._lock:
            self._sent_at[index] = sent_at
        return True

    def answers(self) -> list[KeyAnswer]:
        """Stylized key frames arrived since the last call (current style only), oldest first."""
        session = self._session
        if session is None:
            return []
        now = time.perf_counter()
        taken = session.take_results()
        with self._lock:
            for index in session.abandoned:
                self._sent_at.pop(index, None)
            session.abandoned.clear()
            return [
                KeyAnswer(index, stylized, now - self._sent_at.pop(index, now), self._session_generation)
                for index, stylized in taken
            ]

    def wait_opened(self, timeout: float) -> bool:
        """Block until the first session is open (the stylizer has the style), at most `timeout` s."""
        return self._opened.wait(timeout)

    def close(self) -> None:
        self._closed.set()
        self._changed.set()
        session = self._session
        if session is not None:
            session.cancel()
        self._thread.join(5)

    def _maintain(self) -> None:
        backoff = 0.1
        while not self._closed.is_set():
            session = self._session
            wanted = self._wanted_generation
            healthy = session is not None and session.failed is None
            if self._session_generation == wanted and (healthy or self.style_error is not None):
                self._changed.wait(0.2)
                self._changed.clear()
                continue
            try:
                fresh = StylizerSession(self._channel, self._wanted_style, self.options, LIVE_RECONNECT)
            except Exception as error:  # the stylizer refused or is away: try again later
                if getattr(error, "code", None) == grpc.StatusCode.INVALID_ARGUMENT:
                    # A style photo the stylizer cannot use: keep the session we have.
                    self.style_error = str(error)
                    self._session_generation = wanted
                    continue
                log.info("stylizer session could not open (%s); retrying in %.1fs", error, backoff)
                self._closed.wait(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.1
            with self._lock:
                old, self._session = self._session, fresh
                self._opened.set()
                self._session_generation = wanted
                self._sent_at.clear()
            if old is not None:
                old.cancel()
