"""The batch plan: output names, and what is refused before any work."""

import os
from pathlib import Path

import pytest

from client import batch
from mvstylizer_common.errors import InvalidInputError


@pytest.fixture
def files(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"a video")
    styles = tmp_path / "styles"
    styles.mkdir()
    for name in ("a.jpg", "a.png", "b.png"):
        (styles / name).write_bytes(b"a photo")
    return tmp_path, str(clip), styles


def test_style_photos_that_share_a_stem_each_get_an_output_of_their_own(files):
    _, clip, styles = files
    items = batch.plan([clip], str(styles), None, None, overwrite=False)
    assert [item.problem for item in items] == [None, None, None]
    names = [os.path.basename(item.output) for item in items]
    assert names == ["clip-a-jpg.mp4", "clip-a-png.mp4", "clip-b.mp4"]  # a suffix only where stems collide


def test_inputs_that_share_a_stem_in_one_out_dir_each_get_an_output_of_their_own(files, tmp_path):
    folder, clip, styles = files
    other = folder / "clip.mkv"
    other.write_bytes(b"another video")
    items = batch.plan([clip, str(other)], str(styles / "b.png"), None, str(tmp_path / "out"), overwrite=False)
    assert [os.path.basename(item.output) for item in items] == ["clip-mp4-b.mp4", "clip-mkv-b.mkv"]
    assert [item.problem for item in items] == [None, None]


def test_inputs_with_the_same_file_name_in_one_out_dir_are_told_apart_by_their_folders(files, tmp_path):
    folder, _, styles = files
    videos = []
    for parts in (("day1",), ("day2",), ("trip", "x"), ("home", "x")):
        place = folder.joinpath(*parts)
        place.mkdir(parents=True)
        (place / "clip.mp4").write_bytes(b"a video")
        videos.append(str(place / "clip.mp4"))
    other = folder / "day1" / "other.mp4"
    other.write_bytes(b"a video")
    items = batch.plan([*videos, str(other)], str(styles / "b.png"), None, str(tmp_path / "out"), overwrite=False)
    assert [os.path.basename(item.output) for item in items] == [
        "day1-clip-b.mp4",
        "day2-clip-b.mp4",
        "trip-x-clip-b.mp4",  # x alone does not tell these two apart
        "home-x-clip-b.mp4",
        "other-b.mp4",  # a name no other input has keeps it
    ]
    assert [item.problem for item in items] == [None] * 5
    assert items[1].name == f"{videos[1]} with b.png"  # the summary names the input as given


@pytest.mark.parametrize("overwrite", [False, True])
def test_an_output_that_is_another_input_of_the_run_is_refused_before_any_work(files, overwrite):
    folder, clip, styles = files
    rocket = styles / "rocket.jpg"
    rocket.write_bytes(b"a photo")
    second_input = folder / "clip-rocket.mp4"  # item 1's output name
    second_input.write_bytes(b"300 frames")
    with pytest.raises(InvalidInputError, match=r"clip-rocket\.mp4.*overwrite an input"):
        batch.plan([clip, str(second_input)], str(rocket), None, None, overwrite=overwrite)
    assert second_input.read_bytes() == b"300 frames"


def test_an_output_that_is_a_hard_link_to_an_input_is_refused(files):
    folder, clip, styles = files
    os.link(clip, folder / "alias.mp4")
    with pytest.raises(InvalidInputError, match="overwrite an input"):
        batch.plan([clip], str(styles / "b.png"), str(folder / "alias.mp4"), None, overwrite=True)


def test_a_preview_frame_checks_the_picture_it_writes_not_the_video(files):
    folder, clip, styles = files
    (folder / "clip-b.mp4").write_bytes(b"an earlier output")
    items = batch.plan([clip], str(styles / "b.png"), None, None, overwrite=False, preview_frame=3)
    assert items[0].problem is None and items[0].output == str(folder / "clip-b.frame3.png")
    (folder / "clip-b.frame3.png").write_bytes(b"an earlier picture")
    again = batch.plan([clip], str(styles / "b.png"), None, None, overwrite=False, preview_frame=3)
    assert "--overwrite" in again[0].problem


def test_a_missing_out_dir_is_created(files):
    folder, clip, styles = files
    out_dir = folder / "stylized" / "today"
    items = batch.plan([clip], str(styles / "b.png"), None, str(out_dir), overwrite=False)
    assert out_dir.is_dir() and items[0].output == str(out_dir / "clip-b.mp4") and items[0].problem is None


def test_an_out_dir_that_is_a_file_is_refused(files):
    _, clip, styles = files
    with pytest.raises(InvalidInputError, match="not a folder"):
        batch.plan([clip], str(styles / "b.png"), None, clip, overwrite=False)


def test_labels_never_hold_a_path_and_one_file_named_twice_is_one_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in (
        "clip.mp4",
        "VID.mp4",
        "VID.MP4",
        "day1-clip.mp4",
        "day1/clip.mp4",
        "Day1/clip.mp4",
        "x/day1/clip.mp4",
    ):
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_bytes(b"a video")
    named = batch.labels(["clip.mp4", "./clip.mp4", str(tmp_path / "clip.mp4")])
    assert set(named.values()) == {"clip"}  # one file, however it is named
    # Told apart only by case (one output on a file system that ignores it): counted.
    assert batch.labels(["VID.mp4", "VID.MP4"]) == {"VID.mp4": "VID-mp4", "VID.MP4": "VID-MP4-2"}
    named = batch.labels(["day1-clip.mp4", "day1/clip.mp4", "Day1/clip.mp4", "x/day1/clip.mp4"])
    assert named["day1-clip.mp4"] == "day1-clip"  # its own name is no one else's: kept
    assert named["x/day1/clip.mp4"] == "x-day1-clip"
    assert len({label.lower() for label in named.values()}) == 4
    assert not any(os.sep in label for label in named.values())


def test_a_file_given_twice_is_one_input(files, tmp_path, monkeypatch):
    folder, _, styles = files
    monkeypatch.chdir(folder)
    given = ["clip.mp4", "./clip.mp4", str(folder / "clip.mp4")]
    assert batch.once(given) == (["clip.mp4"], ["./clip.mp4", str(folder / "clip.mp4")])
    # Planned twice all the same, the second would be refused rather than write over the first.
    items = batch.plan(given[:2], str(styles / "b.png"), None, str(tmp_path / "out"), overwrite=False)
    assert [os.path.basename(item.output) for item in items] == ["clip-b.mp4", "clip-b.mp4"]
    assert items[0].problem is None and "also the output of an earlier item" in items[1].problem


def test_o_and_out_dir_together_are_refused_before_the_folder_is_made(files, tmp_path):
    _, clip, styles = files
    with pytest.raises(InvalidInputError, match="-o and --out-dir: give one"):
        batch.plan([clip], str(styles / "b.png"), str(tmp_path / "x.mp4"), str(tmp_path / "new"), overwrite=False)
    assert not (tmp_path / "new").exists()


def test_a_folder_of_styles_takes_every_photo_format_read(tmp_path):
    for name in ("a.gif", "b.PNG", "c.ppm", "notes.txt", "clip.mp4"):
        (tmp_path / name).write_bytes(b"x")
    assert [os.path.basename(p) for p in batch.styles_from(str(tmp_path))] == ["a.gif", "b.PNG", "c.ppm"]
