"""Bad clients against one stylizer, with a well-behaved session running beside them.

Each bad client gets the right status; the good session gets every key frame, in order;
the server is left with no session, no queued work, and still serves new sessions.
"""

from __future__ import annotations

import struct
import threading
import time
import zlib

import grpc
import pytest

from mvstylizer_common.grpc_options import message_size_options
from mvstylizer_common.imagecodec import JPEG, encode_image
from mvstylizer_common.status import RETRY_AFTER_KEY
from protos.mvstylizer.v1 import media_pb2, stylizer_pb2, stylizer_pb2_grpc
from services.stylizer.batcher import BatchSettings
from services.stylizer.metrics import StylizerMetrics
from services.stylizer.server import SERVICE_NAME, create_server
from tests.media import moving_square_frame
from tests.servers import ServerThread
from tests.services.stylizer.test_server import Stream, config

MAX_MESSAGE = 4 << 20
CONFIG_TIMEOUT_S = 1.0


def png_header_claiming(width: int, height: int) -> bytes:
    """The start of a PNG whose header claims width x height: a decompression bomb's calling card."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def outcome_of(address: str, requests: list[stylizer_pb2.StylizeRequest], **channel_args) -> grpc.StatusCode:
    """Send the requests, read to the end; the status the stream ended with."""
    with grpc.insecure_channel(address, **channel_args) as channel:
        call = stylizer_pb2_grpc.StylizerStub(channel).Stylize(iter(requests), timeout=30)
        try:
            list(call)
        except grpc.RpcError as error:
            return error.code()
        return grpc.StatusCode.OK


def key_frame(index: int, image: media_pb2.EncodedImage) -> stylizer_pb2.StylizeRequest:
    return stylizer_pb2.StylizeRequest(key_frame=stylizer_pb2.KeyFrame(index=index, pts=index, image=image))


def good_session(address: str, frames: int, report: dict) -> None:
    stream = Stream(address, config())
    try:
        stream.receive()
        received = []
        window = 4
        for index in range(frames):
            stream.send_frame(index, encode_image(moving_square_frame(index % 30, width=160, height=96), JPEG))
            if index >= window - 1:
                received.append(stream.receive().key_frame.index)
        while len(received) < frames:
            received.append(stream.receive().key_frame.index)
        report["received"] = received
    except Exception as error:  # reported to the test thread
        report["error"] = error
    finally:
        stream.close()


@pytest.fixture
def server():
    metrics = StylizerMetrics()

    def factory(host, port):
        return create_server(
            host, port, max_message_bytes=MAX_MESSAGE, config_timeout_s=CONFIG_TIMEOUT_S, metrics=metrics
        )

    running = ServerThread(factory, SERVICE_NAME)
    running.metrics = metrics
    yield running
    running.stop()


def test_bad_clients_get_their_status_and_a_good_session_completes_beside_them(server):
    address = server.address
    report: dict = {}
    good = threading.Thread(target=good_session, args=(address, 40, report))
    good.start()
    opening = stylizer_pb2.StylizeRequest(config=config())
    frame = encode_image(moving_square_frame(0), JPEG)

    corrupt = media_pb2.EncodedImage(encoding=JPEG, data=b"\xff\xd8\xff\xdb not a jpeg")
    assert (
        outcome_of(address, [opening, key_frame(0, frame), key_frame(1, corrupt)]) == grpc.StatusCode.INVALID_ARGUMENT
    )

    bomb = media_pb2.EncodedImage(encoding=media_pb2.FRAME_ENCODING_PNG, data=png_header_claiming(60000, 60000))
    assert outcome_of(address, [opening, key_frame(0, bomb)]) == grpc.StatusCode.RESOURCE_EXHAUSTED

    oversized = media_pb2.EncodedImage(encoding=JPEG, data=b"\x00" * (MAX_MESSAGE + 1024))
    assert (
        outcome_of(address, [opening, key_frame(0, oversized)], options=message_size_options(4 * MAX_MESSAGE))
        == grpc.StatusCode.RESOURCE_EXHAUSTED
    )

    # A stream that never sends its SessionConfig is ended after the config timeout.
    never = threading.Event()

    def nothing():
        never.wait(60)
        yield from ()

    with grpc.insecure_channel(address) as channel:
        call = stylizer_pb2_grpc.StylizerStub(channel).Stylize(nothing(), timeout=30)
        started = time.perf_counter()
        with pytest.raises(grpc.RpcError) as failure:
            list(call)
        assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.perf_counter() - started < 10 * CONFIG_TIMEOUT_S
        never.set()

    # A client that sends a batch's worth of key frames and disconnects before the answers.
    big = encode_image(moving_square_frame(0, width=640, height=360), JPEG)
    for _ in range(3):
        channel = grpc.insecure_channel(address)
        stream_requests = iter([opening, *(key_frame(i, big) for i in range(6))])
        call = stylizer_pb2_grpc.StylizerStub(channel).Stylize(stream_requests, timeout=30)
        next(call)  # ready
        time.sleep(0.05)
        call.cancel()
        channel.close()

    # 100 connections opened (each starting a session) and dropped without a word.
    hanging = threading.Event()

    def opening_then_silence():
        yield opening
        hanging.wait(30)

    for _ in range(100):
        channel = grpc.insecure_channel(address)
        stylizer_pb2_grpc.StylizerStub(channel).Stylize(opening_then_silence(), timeout=30)
        channel.close()
    hanging.set()

    good.join(120)
    assert "error" not in report, report.get("error")
    assert report["received"] == list(range(40))

    def settled() -> bool:
        values = {m.name: s.value for m in server.metrics.registry.collect() for s in m.samples}
        return values["mvs_stylizer_active_sessions"] == 0 and values["mvs_stylizer_queue_depth"] == 0

    deadline = time.perf_counter() + 30
    while not settled() and time.perf_counter() < deadline:
        time.sleep(0.05)
    assert settled(), "sessions or queued key frames left behind"
    fresh = Stream(address, config())
    fresh.receive()
    fresh.send_frame(0, frame)
    assert fresh.receive().key_frame.index == 0
    fresh.close()


def test_a_full_queue_answers_resource_exhausted_with_a_retry_hint():
    def factory(host, port):
        return create_server(host, port, batching=BatchSettings(max_batch=1, max_delay_s=0.0, max_queue=1, workers=1))

    running = ServerThread(factory, SERVICE_NAME)
    try:
        frame = encode_image(moving_square_frame(0, width=640, height=360), JPEG)
        opening = stylizer_pb2.StylizeRequest(config=config())
        outcomes: list = []

        def flood() -> None:
            with grpc.insecure_channel(running.address) as channel:
                call = stylizer_pb2_grpc.StylizerStub(channel).Stylize(
                    iter([opening, *(key_frame(i, frame) for i in range(4))]), timeout=60
                )
                try:
                    list(call)
                    outcomes.append(("OK", None))
                except grpc.RpcError as error:
                    hint = dict(error.trailing_metadata() or ()).get(RETRY_AFTER_KEY)
                    outcomes.append((error.code().name, hint))

        floods = [threading.Thread(target=flood) for _ in range(4)]
        for thread in floods:
            thread.start()
        for thread in floods:
            thread.join(60)
        refused = [hint for code, hint in outcomes if code == "RESOURCE_EXHAUSTED"]
        assert refused, outcomes
        assert all(hint is not None and int(hint) > 0 for hint in refused)
        assert {code for code, _ in outcomes} <= {"OK", "RESOURCE_EXHAUSTED"}
        # Once the burst is over, the server takes work again.
        stream = Stream(running.address, config())
        stream.receive()
        stream.send_frame(0, frame)
        assert stream.receive().key_frame.index == 0
        stream.close()
    finally:
        running.stop()


def test_a_stream_past_its_deadline_takes_its_queued_work_with_it():
    metrics = StylizerMetrics()

    def factory(host, port):
        settings = BatchSettings(max_batch=1, max_delay_s=0.0, workers=1)
        return create_server(host, port, batching=settings, metrics=metrics)

    def batches_run() -> float:
        return next(s.value for m in metrics.registry.collect() for s in m.samples if s.name.endswith("size_sum"))

    running = ServerThread(factory, SERVICE_NAME)
    try:
        frame = encode_image(moving_square_frame(0, width=1920, height=1080), JPEG)
        requests = [stylizer_pb2.StylizeRequest(config=config()), *(key_frame(i, frame) for i in range(12))]
        codes: list = []

        def expiring_stream() -> None:
            with grpc.insecure_channel(running.address, options=message_size_options()) as channel:
                call = stylizer_pb2_grpc.StylizerStub(channel).Stylize(iter(requests), timeout=0.4)
                try:
                    list(call)
                except grpc.RpcError as error:
                    codes.append(error.code())

        # Three streams read ahead 4 key frames each: about a second of queued work at the deadline.
        streams = [threading.Thread(target=expiring_stream) for _ in range(3)]
        for thread in streams:
            thread.start()
        for thread in streams:
            thread.join(30)
        assert codes == [grpc.StatusCode.DEADLINE_EXCEEDED] * 3
        # Batches are counted when they start: past the deadline, at most one more may (one already
        # taken off the queue as the deadline came); the read-ahead queued behind it must not.
        at_deadline = batches_run()
        time.sleep(1.5)
        assert batches_run() - at_deadline <= 1
        # Far from all of their key frames ever ran.
        assert batches_run() < 36
    finally:
        running.stop()
