"""Outputs written whole: a partial file of each run's own, and a rename that keeps what another run wrote."""

import errno
import os

import pytest

from client.media import paths
from mvstylizer_common.errors import InvalidInputError


def test_each_partial_file_has_a_name_of_its_own_with_the_outputs_extension(tmp_path):
    out = str(tmp_path / "clip-warm.mp4")
    first, second = paths.partial_path(out), paths.partial_path(out)
    assert first != second
    assert first.parent == tmp_path and first.name.startswith(".clip-warm.") and first.suffix == ".mp4"


def test_two_writers_of_one_output_each_write_their_own_file_and_the_first_result_is_kept(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(InvalidInputError, match="--overwrite"), paths.written_whole(str(out), replace=False) as slow:
        slow.write_bytes(b"slow, started first")
        with paths.written_whole(str(out), replace=False) as fast:
            fast.write_bytes(b"fast")
        slow.write_bytes(b"slow, finished last")
    assert out.read_bytes() == b"fast"
    assert os.listdir(tmp_path) == ["out.mp4"]  # no partial file left behind


def test_with_replace_the_last_writer_wins_and_both_were_whole(tmp_path):
    out = tmp_path / "out.png"
    with paths.written_whole(str(out)) as slow:
        slow.write_bytes(b"slow")
        with paths.written_whole(str(out)) as fast:
            fast.write_bytes(b"fast")
    assert out.read_bytes() == b"slow" and os.listdir(tmp_path) == ["out.png"]


def test_without_hard_links_the_rename_still_refuses_an_existing_output(tmp_path, monkeypatch):
    def no_links(*_):
        raise OSError(errno.EPERM, "hard links not supported")

    monkeypatch.setattr(paths.os, "link", no_links)
    out = tmp_path / "out.mp4"
    with paths.written_whole(str(out), replace=False) as partial:
        partial.write_bytes(b"first")
    assert out.read_bytes() == b"first"
    with pytest.raises(InvalidInputError), paths.written_whole(str(out), replace=False) as partial:
        partial.write_bytes(b"second")
    assert out.read_bytes() == b"first" and os.listdir(tmp_path) == ["out.mp4"]


def test_a_hard_link_is_the_same_file(tmp_path):
    original = tmp_path / "clip.mp4"
    original.write_bytes(b"video")
    os.link(original, tmp_path / "alias.mp4")
    assert paths.same_file(tmp_path / "alias.mp4", original)
    assert paths.same_file(tmp_path / "sub" / ".." / "clip.mp4", original)
    assert not paths.same_file(tmp_path / "other.mp4", original)
