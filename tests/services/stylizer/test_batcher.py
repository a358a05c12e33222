"""The key-frame batcher: batch forming, bounded queue, cancellation, errors, parallel workers."""

from __future__ import annotations

import asyncio
import threading

import pytest

from mvstylizer_common.errors import ServerBusyError
from services.stylizer.batcher import BatchSettings, KeyFrameBatcher


def run(coroutine):
    return asyncio.run(coroutine)


def test_key_frames_arriving_together_share_batches_up_to_the_maximum():
    async def main():
        batcher = KeyFrameBatcher(BatchSettings(max_batch=4, max_delay_s=0.05, workers=2))
        results = await asyncio.gather(*(batcher.run(lambda i=i: i * i) for i in range(6)))
        await batcher.close()
        return results

    results = run(main())
    assert [r.value for r in results] == [i * i for i in range(6)]
    assert [r.batch_size for r in results] == [4, 4, 4, 4, 2, 2]


def test_a_lone_key_frame_waits_at_most_the_delay():
    async def main():
        batcher = KeyFrameBatcher(BatchSettings(max_batch=8, max_delay_s=0.05, workers=1))
        result = await batcher.run(lambda: "done")
        await batcher.close()
        return result

    result = run(main())
    assert result.value == "done" and result.batch_size == 1
    assert 0.04 <= result.queue_wait_s < 1.0


def test_a_full_queue_refuses_new_work_and_recovers():
    release = threading.Event()

    async def main():
        batcher = KeyFrameBatcher(BatchSettings(max_batch=1, max_delay_s=0.0, max_queue=2, workers=1))
        running = asyncio.ensure_future(batcher.run(lambda: release.wait(10)))
        while batcher.queued:  # the first key frame leaves the queue when its batch starts
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.01)
        waiting = [asyncio.ensure_future(batcher.run(lambda i=i: i)) for i in range(2)]
        await asyncio.sleep(0.01)
        assert batcher.queued == 2
        with pytest.raises(ServerBusyError):
            await batcher.run(lambda: "refused")
        release.set()
        values = [(await task).value for task in [running, *waiting]]
        after = await batcher.run(lambda: "accepted again")
        await batcher.close()
        return values, after.value

    values, after = run(main())
    assert values == [True, 0, 1]
    assert after == "accepted again"


def test_a_cancelled_caller_takes_its_queued_work_with_it():
    release = threading.Event()
    ran: list[str] = []

    async def main():
        batcher = KeyFrameBatcher(BatchSettings(max_batch=1, max_delay_s=0.0, workers=1))
        first = asyncio.ensure_future(batcher.run(lambda: release.wait(10)))
        await asyncio.sleep(0.01)
        abandoned = asyncio.ensure_future(batcher.run(lambda: ran.append("abandoned")))
        kept = asyncio.ensure_future(batcher.run(lambda: ran.append("kept")))
        await asyncio.sleep(0.01)
        abandoned.cancel()
        release.set()
        await first
        await kept
        with pytest.raises(asyncio.CancelledError):
            await abandoned
        await batcher.close()

    run(main())
    assert ran == ["kept"]


def test_an_error_reaches_only_its_own_caller():
    def fail():
        raise ValueError("bad frame")

    async def main():
        batcher = KeyFrameBatcher(BatchSettings(max_batch=4, max_delay_s=0.02, workers=2))
        outcomes = await asyncio.gather(
            batcher.run(lambda: 1), batcher.run(fail), batcher.run(lambda: 3), return_exceptions=True
        )
        await batcher.close()
        return outcomes

    first, failed, third = run(main())
    assert first.value == 1 and third.value == 3
    assert isinstance(failed, ValueError)


def test_a_batch_runs_its_key_frames_side_by_side():
    # Each job waits for the other: the batch only completes if both run at once.
    both = threading.Barrier(2, timeout=5)

    async def main():
        batcher = KeyFrameBatcher(BatchSettings(max_batch=2, max_delay_s=0.05, workers=2))
        results = await asyncio.gather(batcher.run(both.wait), batcher.run(both.wait))
        await batcher.close()
        return results

    results = run(main())
    assert sorted(r.value for r in results) == [0, 1]


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError):
        BatchSettings(max_batch=0)
    with pytest.raises(ValueError):
        BatchSettings(max_queue=0)
