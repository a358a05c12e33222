from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from client.media.frames import OutputFrame
from client.media.sink import VideoSink
from client.media.source import VideoSource
from client.video.job import ServiceOptions, VideoJob, stylize_video
from mvstylizer_common.errors import InvalidInputError
from mvstylizer_common.imagecodec import PNG, encode_image
from tests.media import decode_all, encode_clip, moving_square_frame, style_photo

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


def test_the_encoder_is_open_before_the_first_frame_with_its_settings(tmp_path):
    # A live recording's first frame must not wait for the encoder to start.
    out = tmp_path / "open.mp4"
    sink = VideoSink(str(out), 96, 64, Fraction(1, 1000), Fraction(30), crf=20, preset="ultrafast", tune="zerolatency")
    assert sink._stream.codec_context.is_open
    for pts, frame in enumerate(moving_square_frame(i) for i in range(3)):
        sink.write(OutputFrame(pts, pts * 33, frame))
    sink.close()
    settings = out.read_bytes()
    assert b"crf=20.0" in settings and b"me=dia" in settings  # x264 notes its settings in the stream: ultrafast's
    assert len(decode_all(str(out))[0]) == 3


AUDIO_RATE = 44100
TONE_ONSET_S = 0.4  # the PCM tone starts here: where it starts in the output says whether sync is kept


def encode_pcm_mov(path, frames: list[np.ndarray], audio_seconds: float, rate: int = 25) -> None:
    """An H.264 .mov with stereo PCM (s16) audio: silence, then a 440 Hz tone from TONE_ONSET_S."""
    with av.open(str(path), "w", format="mov") as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height = frames[0].shape[1], frames[0].shape[0]
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("pcm_s16le", rate=AUDIO_RATE)
        audio.layout = "stereo"
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        samples = int(audio_seconds * AUDIO_RATE)
        t = np.arange(samples) / AUDIO_RATE
        tone = np.where(t >= TONE_ONSET_S, 0.3 * np.sin(2 * np.pi * 440 * t), 0.0)
        pcm = (tone * 32767).astype(np.int16)
        interleaved = np.repeat(pcm, 2)[None, :]
        for start in range(0, samples, 1000):
            chunk = np.ascontiguousarray(interleaved[:, 2 * start : 2 * min(start + 1000, samples)])
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
            frame.sample_rate = AUDIO_RATE
            frame.pts = start
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)


def decoded_audio(path) -> tuple[str, int, float, np.ndarray]:
    """(codec, sample rate, time of the first sample in s, mono float samples) of the first audio stream."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks, start = [], None
        for frame in container.decode(stream):
            if start is None:
                start = float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
            chunks.append(frame.to_ndarray().astype(np.float32).reshape(frame.layout.nb_channels, -1)[0])
        return stream.codec_context.name, stream.codec_context.sample_rate, start or 0.0, np.concatenate(chunks)


def onset_seconds(samples: np.ndarray, rate: int, start: float) -> float:
    level = np.abs(samples) / max(np.abs(samples).max(), 1e-9)
    return start + int(np.argmax(level > 0.5)) / rate


def test_pcm_audio_from_a_mov_is_re_encoded_to_aac_in_sync(tmp_path):
    """FFmpeg would copy PCM into the MP4 as 'ipcm', which players do not read: AAC it is, in sync."""
    frames = [moving_square_frame(i % 40) for i in range(25)]
    source = tmp_path / "pcm.mov"
    encode_pcm_mov(source, frames, audio_seconds=1.0)
    out = tmp_path / "out.mp4"
    sink = VideoSink(str(out), 96, 64, Fraction(1, 25), Fraction(25), audio_from=str(source))
    for index, frame in enumerate(frames):
        sink.write(OutputFrame(index, index, frame))
    sink.close()
    codec, rate, start, samples = decoded_audio(out)
    assert (codec, rate) == ("aac", AUDIO_RATE)
    assert abs(start + len(samples) / rate - 1.0) < 2048 / rate  # the same length, give or take an AAC frame
    assert abs(onset_seconds(samples, rate, start) - TONE_ONSET_S) < 0.01  # sync kept
    decoded, _, _, kinds = decode_all(str(out))
    assert len(decoded) == len(frames) and kinds.count("audio") == 1


def test_aac_audio_is_copied_not_re_encoded(tmp_path):
    source = tmp_path / "aac.mp4"
    source.write_bytes(encode_clip([moving_square_frame(i) for i in range(10)], audio_seconds=0.4))
    out = tmp_path / "out.mp4"
    sink = VideoSink(str(out), 96, 64, Fraction(1, 25), Fraction(25), audio_from=str(source))
    for index in range(10):
        sink.write(OutputFrame(index, index, moving_square_frame(index)))
    sink.close()

    def audio_payloads(path) -> list[bytes]:
        with av.open(str(path)) as container:
            return [bytes(p) for p in container.demux(audio=0) if p.size]

    assert audio_payloads(out) == audio_payloads(source)


def test_stylized_video_from_a_pcm_mov_has_aac_audio_of_the_same_length(tmp_path, stylizer_address):
    source = tmp_path / "camera.mov"
    encode_pcm_mov(source, [moving_square_frame(i % 40) for i in range(12)], audio_seconds=0.48)
    style = tmp_path / "style.png"
    style.write_bytes(encode_image(style_photo(), PNG).data)
    out = tmp_path / "styled.mp4"
    services = ServiceOptions(stylizer=stylizer_address, interpolator="inproc")
    job = VideoJob(str(source), str(style), str(out), services, key_interval=4)
    assert stylize_video(job)["frames_out"] == 12
    codec, rate, start, samples = decoded_audio(out)
    assert codec == "aac"
    assert abs(start + len(samples) / rate - 0.48) < 2048 / rate
    assert abs(onset_seconds(samples, rate, start) - TONE_ONSET_S) < 0.01


def test_a_still_image_is_a_one_frame_video(tmp_path, stylizer_address):
    """A PNG (or JPEG) given as the video: one frame at pts 0, 1/25 s long (FFmpeg's image rate)."""
    photo = tmp_path / "photo.png"
    photo.write_bytes(encode_image(moving_square_frame(0), PNG).data)
    with VideoSource(str(photo)) as source:
        assert (source.info.width, source.info.height, source.info.frame_rate) == (96, 64, 25)
        frames = list(source.frames())
    assert [(f.index, f.pts) for f in frames] == [(0, 0)]
    np.testing.assert_array_equal(frames[0].rgb, moving_square_frame(0))
    style = tmp_path / "style.png"
    style.write_bytes(encode_image(style_photo(), PNG).data)
    out = tmp_path / "still.mp4"
    job = VideoJob(str(photo), str(style), str(out), ServiceOptions(stylizer=stylizer_address, interpolator="inproc"))
    assert stylize_video(job)["frames_out"] == 1
    decoded, pts, _, kinds = decode_all(str(out))
    assert kinds == ["video"] and len(decoded) == 1 and decoded[0].shape == (64, 96, 3) and pts == [0]
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.frames == 1 and stream.duration * stream.time_base == Fraction(1, 25)
