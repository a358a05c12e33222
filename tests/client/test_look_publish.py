"""A preview frame or a LUT that another run wrote meanwhile is kept unless the run may overwrite."""

from __future__ import annotations

import numpy as np
import pytest

from client import look
from client.video.job import VideoJob
from mvstylizer_common.errors import InvalidInputError

FRAME = np.full((16, 24, 3), 90, np.uint8)


def another_run_writes(target, monkeypatch):
    """Makes the stylizer call write `target` first, as a concurrent run would, then answer."""

    def stylize_and_race(originals, *args, **kwargs):
        target.write_bytes(b"the other run's file")
        return [frame + 40 for frame in originals]

    monkeypatch.setattr(look, "stylize_frames_as_photos", stylize_and_race)


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_preview_frame_that_appeared_meanwhile_is_kept_unless_overwriting(tmp_path, monkeypatch, overwrite):
    target = tmp_path / "clip.frame3.png"
    another_run_writes(target, monkeypatch)
    clip, style, out = (str(tmp_path / name) for name in ("clip.mp4", "style.png", "out.mp4"))
    job = VideoJob(clip, style, out, overwrite=overwrite)
    if overwrite:
        look.write_preview_frame(job, 3, str(target), FRAME)
        assert target.read_bytes().startswith(b"\x89PNG")
    else:
        with pytest.raises(InvalidInputError):
            look.write_preview_frame(job, 3, str(target), FRAME)
        assert target.read_bytes() == b"the other run's file"
    assert sorted(path.name for path in tmp_path.iterdir()) == [target.name]  # no partial file left


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_lut_that_appeared_meanwhile_is_kept_unless_overwriting(tmp_path, monkeypatch, overwrite):
    target = tmp_path / "look.cube"
    another_run_writes(target, monkeypatch)
    if overwrite:
        look.write_lut([FRAME], "style.png", None, "clip.mp4", str(target), replace=True)
        assert target.read_text().startswith("TITLE")
    else:
        with pytest.raises(InvalidInputError):
            look.write_lut([FRAME], "style.png", None, "clip.mp4", str(target), replace=False)
        assert target.read_bytes() == b"the other run's file"
    assert sorted(path.name for path in tmp_path.iterdir()) == [target.name]
