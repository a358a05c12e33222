from __future__ import annotations

import pytest

from mvstylizer_common.imagecodec import PNG, encode_image
from tests.media import style_photo


@pytest.fixture(scope="session")
def style_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("fuzz_style") / "style.png"
    path.write_bytes(encode_image(style_photo(), PNG).data)
    return str(path)
