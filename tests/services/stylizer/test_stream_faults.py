"""Clients that end a stream badly: cancelling mid-stream, or sending bytes that are not a message."""

from __future__ import annotations

import logging
import time

import grpc
import pytest

from mvstylizer_common.imagecodec import JPEG, encode_image
from protos.mvstylizer.v1 import stylizer_pb2, stylizer_pb2_grpc
from tests.media import moving_square_frame
from tests.services.stylizer.test_server import Stream, config

STYLIZE = "/mvstylizer.v1.Stylizer/Stylize"
GARBAGE = b"\xff\xff\xff\xff garbage that is no protobuf \x00\x01"


def key_frame(index: int) -> stylizer_pb2.StylizeRequest:
    image = encode_image(moving_square_frame(index % 30), JPEG)
    return stylizer_pb2.StylizeRequest(key_frame=stylizer_pb2.KeyFrame(index=index, pts=index, image=image))


def session_lines(records: list[logging.LogRecord], session_id: str) -> list[logging.LogRecord]:
    return [r for r in records if f"session {session_id} " in r.getMessage()]


def test_a_client_cancelling_mid_stream_is_one_info_line_not_an_error(stylizer_address, caplog):
    caplog.set_level(logging.INFO)
    requests = [stylizer_pb2.StylizeRequest(config=config()), *(key_frame(i) for i in range(40))]
    session_ids = []
    # Cancelled after different numbers of answers, while more are being computed and sent.
    for answers_before_cancel in range(1, 7):
        with grpc.insecure_channel(stylizer_address) as channel:
            call = stylizer_pb2_grpc.StylizerStub(channel).Stylize(iter(requests), timeout=30)
            session_ids.append(next(call).ready.session_id)
            for _ in range(answers_before_cancel):
                next(call)
            call.cancel()

    def ended(session_id: str) -> bool:
        return any(" opened" not in r.getMessage() for r in session_lines(caplog.records, session_id))

    deadline = time.monotonic() + 20
    while not all(ended(s) for s in session_ids) and time.monotonic() < deadline:
        time.sleep(0.05)
    problems = [f"{r.levelname} {r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]
    assert not problems
    for session_id in session_ids:
        endings = [r for r in session_lines(caplog.records, session_id) if " opened" not in r.getMessage()]
        assert len(endings) == 1, [r.getMessage() for r in endings]
        assert endings[0].levelno <= logging.INFO
        assert "cancelled" in endings[0].getMessage() or "went away" in endings[0].getMessage()
        assert endings[0].exc_info is None


def raw_stylize(channel: grpc.Channel, messages: list[bytes]) -> grpc.RpcError:
    """Send bytes as they are on a Stylize stream; the error it ends with."""
    call = channel.stream_stream(STYLIZE, request_serializer=None, response_deserializer=None)(
        iter(messages), timeout=30
    )
    with pytest.raises(grpc.RpcError) as failure:
        list(call)
    return failure.value


@pytest.mark.parametrize("before", [0, 1], ids=["first-message", "after-the-config"])
def test_bytes_that_are_no_request_end_that_stream_invalid_argument(stylizer_address, caplog, before):
    other = Stream(stylizer_address, config())
    try:
        other.receive()
        other.send(key_frame(0))
        assert other.receive().key_frame.index == 0
        opening = [stylizer_pb2.StylizeRequest(config=config()).SerializeToString()][:before]
        with grpc.insecure_channel(stylizer_address) as channel:
            error = raw_stylize(channel, [*opening, GARBAGE])
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid StylizeRequest" in error.details()
        # The session beside it goes on.
        other.send(key_frame(1))
        assert other.receive().key_frame.index == 1
    finally:
        other.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_list_models_request_that_is_no_request_is_invalid_argument(stylizer_address):
    with grpc.insecure_channel(stylizer_address) as channel:
        method = channel.unary_unary(
            "/mvstylizer.v1.Stylizer/ListModels", request_serializer=None, response_deserializer=None
        )
        with pytest.raises(grpc.RpcError) as failure:
            method(GARBAGE, timeout=30)
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert stylizer_pb2.ListModelsResponse.FromString(method(b"", timeout=30)).models
