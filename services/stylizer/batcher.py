"""Dynamic batching of key frames across sessions, behind one bounded queue.

Key frames from every stream join one queue. A batch closes when it holds
`max_batch` key frames or when its oldest one has waited `max_delay_s`; while a
batch runs, the next one fills up, so under load batches grow by themselves and
at low load a key frame waits at most `max_delay_s`. The key frames of a batch run
side by side on `workers` threads: on the CPU that is one frame per core, which
measured faster than stacking frames into larger tensors (the per-pixel work is
memory-bound) and faster than one frame at a time with every core inside each
operation. The queue is bounded: past `max_queue` waiting key frames a caller is
refused at once (ServerBusyError) instead of growing memory. A caller that goes
away (cancelled stream, deadline) takes its queued work with it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mvstylizer_common.errors import ServerBusyError
from services.stylizer.metrics import StylizerMetrics


def default_workers() -> int:
    """Threads a batch runs on: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class BatchSettings:
    max_batch: int = 8  # key frames per batch
    max_delay_s: float = 0.002  # longest a key frame waits for others to join its batch
    max_queue: int = 64  # key frames waiting across all sessions before callers are refused
    workers: int = 0  # threads running a batch's key frames (0: one per core)

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.max_queue < 1 or self.max_delay_s < 0 or self.workers < 0:
            raise ValueError(f"invalid batch settings: {self}")


@dataclass
class _Job:
    work: Callable[[], Any]
    future: asyncio.Future
    enqueued: float = field(default_factory=time.perf_counter)
    started: float = 0.0


@dataclass(frozen=True)
class BatchResult:
    value: Any
    queue_wait_s: float  # queued to started
    batch_size: int


class KeyFrameBatcher:
    """`await run(work)` runs `work()` in the next batch and returns its BatchResult."""

    def __init__(self, settings: BatchSettings | None = None, metrics: StylizerMetrics | None = None):
        self.settings = settings or BatchSettings()
        self.metrics = metrics or StylizerMetrics()
        self.workers = self.settings.workers or default_workers()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="stylize")
        self._queue: deque[_Job] = deque()
        self._arrived: asyncio.Event | None = None
        self._dispatcher: asyncio.Task | None = None

    @property
    def queued(self) -> int:
        return len(self._queue)

    def check_room(self) -> None:
        """ServerBusyError when the queue is full: a caller asks before decoding its key frame,
        run() asks again once it is decoded."""
        self._drop_abandoned()
        if len(self._queue) >= self.settings.max_queue:
            raise ServerBusyError(f"server busy: {len(self._queue)} key frames queued; retry later")

    async def run(self, work: Callable[[], Any]) -> BatchResult:
        self.check_room()
        loop = asyncio.get_running_loop()
        if self._dispatcher is None or self._dispatcher.done():
            self._arrived = asyncio.Event()
            self._dispatcher = loop.create_task(self._dispatch())
        job = _Job(work, loop.create_future())
        self._queue.append(job)
        self.metrics.queue_depth.set(len(self._queue))
        self._arrived.set()
        # Cancelling this coroutine cancels job.future, which takes the job out of later batches.
        return await job.future

    async def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
        for job in self._queue:
            job.future.cancel()
        self._queue.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _dispatch(self) -> None:
        """Runs batches while there is work, then ends (run() starts it again), so no task idles."""
        loop = asyncio.get_running_loop()
        while batch := await self._next_batch():
            self.metrics.batch_size.observe(len(batch))
            outcomes = await asyncio.gather(
                *(loop.run_in_executor(self._pool, self._timed, job) for job in batch), return_exceptions=True
            )
            for job, outcome in zip(batch, outcomes, strict=True):
                if job.future.done():  # its caller went away while it ran
                    continue
                if isinstance(outcome, BaseException):
                    job.future.set_exception(outcome)
                else:
                    job.future.set_result(BatchResult(outcome, job.started - job.enqueued, len(batch)))

    async def _next_batch(self) -> list[_Job]:
        """The next batch once it is full or its oldest key frame's delay has run out; [] when idle."""
        self._drop_abandoned()
        if not self._queue:
            return []
        deadline = self._queue[0].enqueued + self.settings.max_delay_s
        while len(self._queue) < self.settings.max_batch and (left := deadline - time.perf_counter()) > 0:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                break
            self._drop_abandoned()
        self._drop_abandoned()
        batch = [self._queue.popleft() for _ in range(min(self.settings.max_batch, len(self._queue)))]
        self.metrics.queue_depth.set(len(self._queue))
        return batch

    def _drop_abandoned(self) -> None:
        if any(job.future.done() for job in self._queue):
            self._queue = deque(job for job in self._queue if not job.future.done())
            self.metrics.queue_depth.set(len(self._queue))

    @staticmethod
    def _timed(job: _Job) -> Any:
        job.started = time.perf_counter()
        return job.work()
