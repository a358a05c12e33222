import cv2
import numpy as np
import pytest

from mvstylizer_common.errors import CorruptImageError, LimitExceededError
from mvstylizer_common.imagecodec import (
    JPEG,
    PNG,
    RAW,
    decode_image,
    encode_image,
    encoded_size,
    load_image_file,
)
from protos.mvstylizer.v1 import media_pb2
from tests.media import textured_background


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


@pytest.mark.parametrize("encoding", [PNG, RAW])
def test_lossless_round_trip(encoding):
    image = textured_background()
    message = encode_image(image, encoding)
    assert (message.width, message.height) == (image.shape[1], image.shape[0])
    np.testing.assert_array_equal(decode_image(message), image)


def test_jpeg_round_trip_is_close_and_keeps_channel_order():
    image = textured_background()
    image[:10, :10] = (255, 0, 0)  # pure red must stay red (RGB, not BGR)
    decoded = decode_image(encode_image(image, JPEG, 95))
    assert psnr(decoded, image) > 30
    assert decoded[5, 5, 0] > 200 and decoded[5, 5, 2] < 60


def test_corrupt_bytes_raise_corrupt_image_error():
    message = media_pb2.EncodedImage(encoding=JPEG, data=b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(CorruptImageError):
        decode_image(message)
    with pytest.raises(CorruptImageError):
        decode_image(media_pb2.EncodedImage(encoding=JPEG, data=b""))


def test_raw_with_wrong_size_is_rejected():
    message = media_pb2.EncodedImage(encoding=RAW, data=b"\x00" * 10, width=4, height=4)
    with pytest.raises(CorruptImageError):
        decode_image(message)


def test_images_over_the_pixel_limit_are_refused():
    message = encode_image(textured_background(), PNG)
    with pytest.raises(LimitExceededError):
        decode_image(message, max_pixels=100)


def test_load_image_file_keeps_bytes_and_names_bad_files(tmp_path):
    good = tmp_path / "good.png"
    good.write_bytes(encode_image(textured_background(), PNG).data)
    message, rgb = load_image_file(str(good))
    assert message.encoding == PNG and message.data == good.read_bytes()
    assert rgb.shape == (64, 96, 3)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    with pytest.raises(CorruptImageError, match=r"bad\.jpg"):
        load_image_file(str(bad))
    with pytest.raises(CorruptImageError, match=r"missing\.png"):
        load_image_file(str(tmp_path / "missing.png"))


def test_encoded_size_reads_png_and_jpeg_headers_without_decoding():
    image = np.zeros((37, 53, 3), np.uint8)
    assert encoded_size(encode_image(image, PNG).data) == (53, 37)
    assert encoded_size(encode_image(image, JPEG).data) == (53, 37)
    progressive = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    assert encoded_size(progressive) == (53, 37)
    assert encoded_size(cv2.imencode(".bmp", image)[1].tobytes()) is None
    assert encoded_size(b"\xff\xd8\xff") is None


def test_a_decompression_bomb_is_refused_before_it_is_decoded(monkeypatch):
    """A few kilobytes of PNG that would decode to far more pixels than allowed."""
    bomb = encode_image(np.zeros((400, 500, 3), np.uint8), PNG)
    bomb.ClearField("width"), bomb.ClearField("height")  # the sender does not declare the size
    assert len(bomb.data) < 5000  # 600 KB once decoded

    def must_not_decode(*args):
        raise AssertionError("decoded before the size check")

    monkeypatch.setattr(cv2, "imdecode", must_not_decode)
    with pytest.raises(LimitExceededError, match="500x400"):
        decode_image(bomb, max_pixels=100_000)


def test_only_jpeg_and_png_are_decoded_from_the_wire_but_any_photo_file_can_be_sent(tmp_path):
    image = (np.arange(20 * 30 * 3) % 251).astype(np.uint8).reshape(20, 30, 3)
    bmp = cv2.imencode(".bmp", image)[1].tobytes()
    with pytest.raises(CorruptImageError, match="not a JPEG or PNG"):
        decode_image(media_pb2.EncodedImage(encoding=PNG, data=bmp))
    path = tmp_path / "photo.bmp"
    path.write_bytes(bmp)
    message, rgb = load_image_file(str(path))
    assert message.encoding == PNG and encoded_size(message.data) == (30, 20)
    np.testing.assert_array_equal(decode_image(message), rgb)
