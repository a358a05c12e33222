"""The gateway's key-frame socket against the real stylizer: the relay, and hostile or careless clients.

A client that breaks the protocol or a limit loses its own socket, closed with a code and a reason;
another session on the same gateway goes on being stylized."""

from __future__ import annotations

import asyncio
import http.client

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mvstylizer_common.imagecodec import PNG, decode_image, encode_image
from protos.mvstylizer.v1 import media_pb2, stylizer_pb2
from services.stylizer import server as stylizer_server
from services.web import relay
from services.web.limits import (
    CLOSE_BAD_DATA,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_TRY_LATER,
    CLOSE_UNSUPPORTED,
    SessionLimits,
)
from tests.media import moving_square_frame
from tests.servers import ServerThread
from tests.services.web.conftest import (
    close_of,
    config_request,
    key_frame_request,
    open_session,
    open_socket,
    receive,
    start_gateway,
    stylize_one,
)
from tests.waiting import wait_until


def test_a_config_and_key_frames_come_back_as_ready_and_stylized_key_frames(gateway):
    socket = open_socket(gateway)
    socket.send(config_request())
    ready = receive(socket)
    assert ready.WhichOneof("kind") == "ready" and ready.ready.session_id
    for index in (0, 4, 9):
        socket.send(key_frame_request(index))
    answers = [receive(socket).key_frame for _ in range(3)]
    socket.close()
    assert [answer.index for answer in answers] == [0, 4, 9]
    assert [answer.pts for answer in answers] == [0, 160, 360]
    for answer in answers:
        stylized = decode_image(answer.image)
        assert stylized.shape == (32, 48, 3)
    # The look changed (the style is a dusk gradient): not the original frame, scaled.
    original = moving_square_frame(0)[::2, ::2].astype(float)
    assert abs(decode_image(answers[0].image).astype(float).mean(axis=(0, 1)) - original.mean(axis=(0, 1))).max() > 3


@pytest.mark.parametrize(
    "token, origin",
    [(None, None), ("wrong-token", None), ("", "http://evil.example")],
    ids=["no token", "wrong token", "foreign origin"],
)
def test_a_socket_without_the_token_or_from_another_site_is_refused(gateway, token, origin):
    with pytest.raises(InvalidStatus) as refused:
        open_socket(gateway, token=token, origin=origin)
    assert refused.value.response.status_code == 403
    # The gateway goes on.
    socket = open_session(gateway)
    assert stylize_one(socket, 0).index == 0
    socket.close()


def test_a_socket_from_the_page_own_origin_is_served(gateway):
    socket = open_session(gateway, origin=f"http://127.0.0.1:{gateway.port}")
    assert stylize_one(socket, 1).index == 1
    socket.close()


def page(gateway, path: str, host: str | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": host or f"127.0.0.1:{gateway.port}"})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def test_the_page_needs_its_token_and_its_scripts_are_served_from_the_package_folder(stylizer_address, tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html><title>device page</title>")
    (tmp_path / "app.js").write_text("export const app = 1;\n")
    gateway = start_gateway(stylizer_address, static_dir=tmp_path)
    try:
        assert page(gateway, "/")[0] == 403
        assert page(gateway, "/?token=wrong")[0] == 403
        assert page(gateway, "/index.html")[0] == 403
        for other_spelling in ("//", "/./index.html", "/app.js/../index.html", "//index.html"):
            assert page(gateway, other_spelling)[0] == 403, other_spelling
        status, body = page(gateway, f"/?token={gateway.token}")
        assert status == 200 and b"device page" in body
        # The page's modules load without the token (a script cannot carry it), never from another Host.
        assert page(gateway, "/app.js") == (200, b"export const app = 1;\n")
        assert page(gateway, "/app.js", host="evil.example")[0] == 403
    finally:
        gateway.stop()


def truncated_key_frame() -> bytes:
    """A key frame whose PNG header passes the gateway's checks and whose pixels the stylizer cannot decode."""
    png = encode_image(moving_square_frame(0), PNG)
    image = media_pb2.EncodedImage(encoding=png.encoding, data=png.data[:60])
    return stylizer_pb2.StylizeRequest(key_frame=stylizer_pb2.KeyFrame(index=0, image=image)).SerializeToString()


GARBAGE = b"not a protobuf, \xff\xfe\x00 garbage"


@pytest.mark.parametrize(
    "bad, code, words",
    [
        (lambda socket: socket.send(GARBAGE), CLOSE_BAD_DATA, "not a StylizeRequest"),
        (lambda socket: socket.send(b"\x00" * (300 << 10)), CLOSE_TOO_BIG, ""),
        (lambda socket: socket.send("a text message"), CLOSE_UNSUPPORTED, "binary messages only"),
        (
            lambda socket: [stylize_one(socket, 5), socket.send(key_frame_request(3))],
            CLOSE_POLICY,
            "key frame 3 after key frame 5",
        ),
        (
            lambda socket: [stylize_one(socket, 5), socket.send(key_frame_request(5))],
            CLOSE_POLICY,
            "indices must increase",
        ),
        (lambda socket: socket.send(config_request()), CLOSE_POLICY, "only key frames may follow"),
        (lambda socket: socket.send(truncated_key_frame()), CLOSE_POLICY, "stylizer: INVALID_ARGUMENT"),
    ],
    ids=[
        "garbage bytes",
        "oversized message",
        "text message",
        "key frames out of order",
        "repeated index",
        "config twice",
        "frame the stylizer refuses",
    ],
)
def test_a_bad_message_closes_that_socket_with_a_reason_while_another_session_goes_on(
    stylizer_address, bad, code, words
):
    gateway = start_gateway(
        stylizer_address, limits=SessionLimits(max_message_bytes=256 << 10, max_style_bytes=64 << 10)
    )
    try:
        other = open_session(gateway)
        assert stylize_one(other, 0).index == 0
        socket = open_session(gateway)
        bad(socket)
        closed_code, reason = close_of(socket)
        assert closed_code == code and words in reason
        assert stylize_one(other, 1).index == 1
        fresh = open_session(gateway)
        assert stylize_one(fresh, 0).index == 0
        other.close()
        fresh.close()
    finally:
        gateway.stop()


# A style photo PNG cannot squeeze: 1.5 MB at 700x700.
NOISE = np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    "first, code, words",
    [
        (key_frame_request(0), CLOSE_POLICY, "the first message must be a SessionConfig"),
        (GARBAGE, CLOSE_BAD_DATA, "not a StylizeRequest"),
        (stylizer_pb2.StylizeRequest().SerializeToString(), CLOSE_BAD_DATA, "neither a config nor a key frame"),
        (config_request(style=None), CLOSE_POLICY, "no style photo"),
        (config_request(style=encode_image(NOISE, PNG)), CLOSE_TOO_BIG, "over the limit of 1 MB"),
        (config_request(style=encode_image(NOISE[:150, :150], PNG)), CLOSE_TOO_BIG, "150x150 is over the limit"),
        (
            config_request(style=media_pb2.EncodedImage(data=GARBAGE)),
            CLOSE_BAD_DATA,
            "style photo that is neither a JPEG nor a PNG",
        ),
        (
            config_request(style_mask=encode_image(NOISE[:150, :150], PNG)),
            CLOSE_TOO_BIG,
            "style mask of 150x150 is over the limit",
        ),
        (config_request(output_width=200, output_height=101), CLOSE_TOO_BIG, "output of 200x101 is over the limit"),
    ],
    ids=[
        "key frame first",
        "garbage",
        "empty request",
        "no style",
        "style bytes",
        "style pixels",
        "style not a photo",
        "style mask pixels",
        "output pixels",
    ],
)
def test_a_bad_first_message_closes_the_socket_with_a_reason(stylizer_address, first, code, words):
    gateway = start_gateway(
        stylizer_address,
        limits=SessionLimits(max_style_bytes=1 << 20, max_style_pixels=10_000, max_key_frame_pixels=20_000),
    )
    try:
        socket = open_socket(gateway)
        socket.send(first)
        closed_code, reason = close_of(socket)
        assert closed_code == code and words in reason
    finally:
        gateway.stop()


def test_sessions_past_the_limit_are_closed_until_one_ends(stylizer_address):
    gateway = start_gateway(stylizer_address, limits=SessionLimits(max_sessions=2))
    try:
        first, second = open_session(gateway), open_session(gateway)
        third = open_socket(gateway)
        closed_code, reason = close_of(third)
        assert closed_code == CLOSE_TRY_LATER and "2 sessions at once" in reason
        assert stylize_one(first, 0).index == 0 and stylize_one(second, 0).index == 0
        first.close()
        assert wait_until(lambda: gateway.sessions.open < 2, timeout=10)
        fourth = open_session(gateway)
        assert stylize_one(fourth, 0).index == 0
        second.close()
        fourth.close()
    finally:
        gateway.stop()


def test_key_frames_past_the_rate_limit_close_the_socket(stylizer_address):
    gateway = start_gateway(stylizer_address, limits=SessionLimits(max_key_rate=2))
    try:
        socket = open_session(gateway)
        for index in range(6):  # at once: a burst of one second's worth (2) is let through, no more
            try:
                socket.send(key_frame_request(index))
            except ConnectionClosed:  # closed already, as it should be: the reason is read below
                break
        closed_code, reason = close_of(socket)
        assert closed_code == CLOSE_POLICY and "more than 2 key frames a second" in reason
    finally:
        gateway.stop()


def test_a_stylizer_lost_mid_session_closes_the_socket_with_try_again_later():
    stylizer = ServerThread(stylizer_server.create_server, stylizer_server.SERVICE_NAME)
    gateway = start_gateway(stylizer.address)
    try:
        socket = open_session(gateway)
        assert stylize_one(socket, 0).index == 0
        stylizer.stop()
        closed_code, reason = close_of(socket)
        assert closed_code == CLOSE_TRY_LATER and "stylizer: UNAVAILABLE" in reason
        assert gateway.sessions.open == 0
    finally:
        gateway.stop()


def test_a_socket_that_sends_no_config_in_time_is_closed(stylizer_address):
    gateway = start_gateway(stylizer_address, limits=SessionLimits(config_timeout_s=0.3))
    try:
        socket = open_socket(gateway)
        closed_code, reason = close_of(socket)
        assert closed_code == CLOSE_POLICY and "no SessionConfig within 0.3 s" in reason
        assert gateway.sessions.open == 0
    finally:
        gateway.stop()


def test_images_are_sized_off_the_event_loop(stylizer_address, monkeypatch):
    # A header walk is a Python loop over up to a whole message: on the event loop, one socket's
    # crafted photo would stall every other session and page request while it ran.
    checked_on = []
    check_config, check_key_frame = relay._check_config, relay._check_key_frame
    monkeypatch.setattr(relay, "_check_config", lambda *a: (checked_on.append(_on_event_loop()), check_config(*a)))
    monkeypatch.setattr(
        relay, "_check_key_frame", lambda *a: (checked_on.append(_on_event_loop()), check_key_frame(*a))
    )
    gateway = start_gateway(stylizer_address)
    try:
        socket = open_session(gateway)
        assert stylize_one(socket, 0).index == 0
        socket.close()
    finally:
        gateway.stop()
    assert checked_on == [False, False]


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
