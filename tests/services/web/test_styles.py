"""`mvstylizer web --styles DIR`: the page lists the folder's photos and loads them, with the token only."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from client.web.guard import TOKEN_HEADER
from mvstylizer_common.errors import InvalidInputError
from mvstylizer_common.imagecodec import write_image_file
from services.web.gateway import OFF, Gateway, GatewaySettings
from services.web.relay import Upstream


def get(gateway: Gateway, path: str, token: str | None) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{gateway.port}{path}")
    if token is not None:
        request.add_header(TOKEN_HEADER, token)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def styles_folder(tmp_path) -> Path:
    folder = tmp_path / "looks"
    folder.mkdir()
    for name, colour in (("dusk.png", (40, 50, 120)), ("snow.jpg", (230, 235, 240))):
        write_image_file(str(folder / name), np.full((24, 32, 3), colour, np.uint8))
    (folder / "notes.txt").write_text("not a photo")
    (tmp_path / "secret.png").write_bytes(b"elsewhere")
    return folder


def test_the_offered_styles_are_listed_and_served_to_the_token_only(styles_folder):
    gateway = Gateway(GatewaySettings(host="127.0.0.1", port=0, tls=OFF, styles_dir=styles_folder))
    gateway.start(Upstream("127.0.0.1:9"))  # no stylizer needed to list styles
    try:
        status, body = get(gateway, "/styles", gateway.token)
        assert status == 200
        assert json.loads(body) == [{"name": "dusk", "file": "dusk.png"}, {"name": "snow", "file": "snow.jpg"}]
        status, body = get(gateway, "/styles/dusk.png", gateway.token)
        assert (status, body) == (200, (styles_folder / "dusk.png").read_bytes())
        assert get(gateway, "/styles", None)[0] == 403
        assert get(gateway, "/styles/dusk.png", "wrong")[0] == 403
        for path in ("/styles/notes.txt", "/styles/..%2Fsecret.png", "/styles/../secret.png", "/styles/nothing.png"):
            assert get(gateway, path, gateway.token)[0] == 404, path
    finally:
        gateway.stop()


def test_without_styles_the_list_is_empty():
    gateway = Gateway(GatewaySettings(host="127.0.0.1", port=0, tls=OFF)).start(Upstream("127.0.0.1:9"))
    try:
        assert get(gateway, "/styles", gateway.token) == (200, b"[]")
    finally:
        gateway.stop()


def test_a_folder_with_no_photos_is_refused_before_anything_starts(tmp_path):
    with pytest.raises(InvalidInputError, match=r"^--styles .*: a folder with no style photos"):
        GatewaySettings(styles_dir=tmp_path).check()
    with pytest.raises(InvalidInputError, match=r"^--styles .*: no such folder"):
        GatewaySettings(styles_dir=tmp_path / "missing").check()
