from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from client.media.frames import OutputFrame
from client.media.sink import VideoSink
from client.media.source import VideoSource
from common.errors import InvalidInputError
from tests.media import decode_all, encode_clip, moving_square_frame

VFR_PTS = [0, 40, 80, 150, 190, 230, 300, 340, 380, 420, 460, 530]


@pytest.fixture
def vfr_clip(tmp_path):
    path = tmp_path / "vfr.mp4"
    path.write_bytes(encode_clip([moving_square_frame(i) for i in range(len(VFR_PTS))], pts=VFR_PTS))
    return str(path)


def test_source_yields_every_frame_with_its_pts(vfr_clip):
    with VideoSource(vfr_clip) as source:
        assert (source.info.width, source.info.height) == (96, 64)
        first = source.peek()
        frames = list(source.frames())
    assert first is frames[0]
    assert [f.index for f in frames] == list(range(len(VFR_PTS)))
    assert [f.pts * source.info.time_base for f in frames] == [Fraction(p, 1000) for p in VFR_PTS]
    assert frames[3].rgb.shape == (64, 96, 3)


def test_missing_corrupt_and_empty_inputs_are_invalid(tmp_path):
    with pytest.raises(InvalidInputError, match="no such file"):
        VideoSource(str(tmp_path / "absent.mp4"))
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(InvalidInputError, match="not a readable video"):
        VideoSource(str(corrupt))


def test_truncated_stream_yields_every_decodable_frame(tmp_path):
    data = encode_clip([moving_square_frame(i) for i in range(20)], container="mpegts")
    path = tmp_path / "cut.ts"
    path.write_bytes(data[: len(data) * 6 // 10])
    expected, _, _, _ = decode_all(str(path))
    assert 0 < len(expected) < 20
    with VideoSource(str(path)) as source:
        got = [f.rgb for f in source.frames()]
    assert len(got) == len(expected)
    np.testing.assert_array_equal(got[-1], expected[-1])


@pytest.mark.parametrize("size", [(96, 64), (95, 63)], ids=["even", "odd"])
def test_sink_keeps_size_timing_and_audio(tmp_path, size):
    width, height = size
    source_path = tmp_path / "with_audio.mp4"
    frames = [np.ascontiguousarray(moving_square_frame(i)[:height, :width]) for i in range(len(VFR_PTS))]
    source_path.write_bytes(
        encode_clip([moving_square_frame(i) for i in range(len(VFR_PTS))], pts=VFR_PTS, audio_seconds=0.6)
    )
    out = tmp_path / "out.mp4"
    sink = VideoSink(str(out), width, height, Fraction(1, 1000), Fraction(25), audio_from=str(source_path))
    for frame, pts in zip(frames, VFR_PTS, strict=True):
        sink.write(OutputFrame(pts, pts, frame))
    sink.close()
    decoded, pts, time_base, kinds = decode_all(str(out))
    assert kinds.count("audio") == 1
    assert len(decoded) == len(frames) and decoded[0].shape == (height, width, 3)
    assert [p * time_base for p in pts] == [Fraction(p, 1000) for p in VFR_PTS]
    with av.open(str(out)) as container:
        audio_packets = sum(1 for p in container.demux(audio=0) if p.size)
    assert audio_packets > 5


@pytest.mark.parametrize("size", [(96, 64), (95, 63)], ids=["even", "odd"])
def test_sink_keeps_colours(tmp_path, size):
    """Saturated blocks come back as written: the RGB -> YUV conversion uses the decoder's matrix."""
    width, height = size
    frame = np.zeros((height, width, 3), np.uint8)
    colours = [(220, 30, 40), (30, 200, 60), (40, 50, 210), (235, 235, 235), (120, 90, 60), (16, 16, 16)]
    block = width // len(colours)
    for i, colour in enumerate(colours):
        frame[:, i * block : (i + 1) * block] = colour
    out = tmp_path / "colours.mp4"
    sink = VideoSink(str(out), width, height, Fraction(1, 25), Fraction(25))
    for pts in range(3):
        sink.write(OutputFrame(pts, pts, frame))
    sink.close()
    decoded, _, _, _ = decode_all(str(out))
    with av.open(str(out)) as container:
        context = container.streams.video[0].codec_context
        assert (context.colorspace, context.color_range) == (6, 1)  # tagged BT.601, limited range
    for i, colour in enumerate(colours):
        # Block centres, away from the chroma-subsampled edges.
        got = decoded[1][:, i * block + 4 : (i + 1) * block - 4].reshape(-1, 3).mean(axis=0)
        np.testing.assert_allclose(got, colour, atol=4)


def test_sink_takes_i420_frames_as_they_are(tmp_path):
    width, height = 96, 64
    frames = [moving_square_frame(i) for i in range(4)]
    out = tmp_path / "i420.mp4"
    sink = VideoSink(str(out), width, height, Fraction(1, 25), Fraction(25))
    assert sink.accepts_i420
    for pts, frame in enumerate(frames):
        sink.write(OutputFrame(pts, pts, cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420), i420=True))
    with pytest.raises(ValueError, match="I420"):
        sink.write(OutputFrame(9, 9, np.zeros((height, width), np.uint8), i420=True))
    sink.close()
    decoded, _, _, _ = decode_all(str(out))
    assert len(decoded) == len(frames)
    for made, expected in zip(decoded, frames, strict=True):
        assert np.abs(made.astype(int) - expected).mean() < 4
    assert not VideoSink(str(tmp_path / "odd.mp4"), 95, 63, Fraction(1, 25), Fraction(25)).accepts_i420
