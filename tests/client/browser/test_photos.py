"""photos.js in headless Chromium: a style photo tagged with a colour profile other than sRGB is
decoded with its pixel values as stored, as the Python tiers read it (OpenCV ignores profiles), not
converted to the display's colours as the browser would by default. The profile is written in the
test: an ICC v2 display profile with the Display P3 primaries."""

from __future__ import annotations

import base64
import io
import struct

import cv2
import numpy as np
from PIL import Image

from tests.client.browser.test_affine_gl import page  # noqa: F401  (the Chromium page fixture)

# Primaries adapted to the D50 connection space (ICC's convention), as the published profiles hold them.
DISPLAY_P3 = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))
D50 = (0.9642, 1.0, 0.8249)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(values) -> bytes:
    return b"XYZ " + bytes(4) + b"".join(_s15(v) for v in values)


def icc_profile(primaries, description: str, gamma: float = 2.2) -> bytes:
    """A minimal ICC v2 RGB display profile: description, white point, primaries, gamma curves."""
    ascii_text = description.encode() + b"\0"
    tags = {
        b"desc": b"desc" + bytes(4) + struct.pack(">I", len(ascii_text)) + ascii_text + bytes(4 + 4 + 2 + 1 + 67),
        b"cprt": b"text" + bytes(4) + b"no copyright\0",
        b"wtpt": _xyz(D50),
        b"rXYZ": _xyz(primaries[0]),
        b"gXYZ": _xyz(primaries[1]),
        b"bXYZ": _xyz(primaries[2]),
    }
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)
    for name in (b"rTRC", b"gTRC", b"bTRC"):
        tags[name] = curve
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    table, body = struct.pack(">I", len(tags)), b""
    for name, data in tags.items():
        data += bytes(-len(data) % 4)
        table += name + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = 128 + table_size + len(body)
    header = (
        struct.pack(">I", size) + bytes(4) + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ " + bytes(12) + b"acsp"
        + bytes(4 + 4 + 4 + 4 + 8 + 4) + b"".join(_s15(v) for v in D50) + bytes(4 + 16 + 28)
    )  # fmt: skip
    assert len(header) == 128
    return header + table + body


DECODE_JS = """async ({ jpeg, converted }) => {
  const { decodePhoto } = await import('/photos.js');
  const blob = new Blob([Uint8Array.from(atob(jpeg), (c) => c.charCodeAt(0))], { type: 'image/jpeg' });
  const bitmap = converted ? await createImageBitmap(blob) : await decodePhoto(blob);
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d');
  context.drawImage(bitmap, 0, 0);
  const rgba = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
  let text = '';
  for (let i = 0; i < rgba.length; i += 4) text += String.fromCharCode(rgba[i], rgba[i + 1], rgba[i + 2]);
  return { pixels: btoa(text), width: bitmap.width, height: bitmap.height };
}"""


def tagged_jpeg() -> bytes:
    """Saturated patches and a grey ramp, tagged Display P3."""
    rgb = np.zeros((48, 96, 3), np.uint8)
    colours = [(220, 40, 30), (40, 200, 60), (30, 60, 210), (230, 200, 40), (120, 120, 120), (200, 90, 160)]
    for k, colour in enumerate(colours):
        rgb[:24, 16 * k : 16 * (k + 1)] = colour
    rgb[24:] = np.linspace(10, 245, 96, dtype=np.float32)[None, :, None].astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=98, subsampling=0, icc_profile=icc_profile(DISPLAY_P3, "Display P3"))
    return out.getvalue()


def decode_in_page(page, jpeg: bytes, converted: bool) -> np.ndarray:  # noqa: F811
    answer = page.evaluate(DECODE_JS, {"jpeg": base64.b64encode(jpeg).decode(), "converted": converted})
    data = np.frombuffer(base64.b64decode(answer["pixels"]), np.uint8)
    return data.reshape(answer["height"], answer["width"], 3)


def test_a_photo_tagged_display_p3_is_read_with_its_stored_values_as_python_reads_it(page):  # noqa: F811
    jpeg = tagged_jpeg()
    python = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    ours = decode_in_page(page, jpeg, converted=False)
    assert np.abs(ours.astype(int) - python).max() <= 2
    # The browser's own decode converts the colours (so the comparison above can fail).
    browser = decode_in_page(page, jpeg, converted=True)
    assert np.abs(browser.astype(int) - python)[:24].max() > 15
