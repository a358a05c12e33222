"""Where output goes: checked before any work starts, and written whole or not at all.

An output is written to a hidden partial file beside the target and renamed onto it only
once complete, so an interrupted or failed run leaves nothing at the output path (and a
player never meets a half-written file under the final name).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from mvstylizer_common.errors import InvalidInputError

# Containers the H.264 output can go in (PyAV picks the muxer from the extension).
VIDEO_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
# Formats OpenCV writes for photos.
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def check_output_path(path: str, inputs: list[str], kind: str = "video") -> None:
    """A clear InvalidInputError for an output that cannot be written: no or an unknown extension,
    a container that cannot hold H.264, a folder that is missing or not writable, a directory,
    or an input's own path."""
    out = Path(path)
    suffix = out.suffix.lower()
    allowed = VIDEO_CONTAINERS if kind == "video" else IMAGE_EXTENSIONS
    if out.is_dir():
        example = Path(path) / ("stylized" + next(iter(allowed)))
        raise InvalidInputError(f"{path}: is a directory; give a file name (e.g. {example})")
    if suffix not in allowed:
        what = "no extension" if not suffix else f"{suffix} is not a format this writes"
        hint = "H.264 video goes in " if kind == "video" else "photos can be "
        raise InvalidInputError(f"{path}: {what}; {hint}{', '.join(sorted(allowed))}")
    folder = out.parent.resolve()
    if not folder.is_dir():
        raise InvalidInputError(f"{path}: output folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidInputError(f"{path}: output folder {folder} is not writable")
    if any(out.resolve() == Path(p).resolve() for p in inputs if p):
        raise InvalidInputError(f"{path}: output would overwrite an input")


def partial_path(path: str) -> Path:
    """The hidden file an output is written to until it is complete (same folder, same extension)."""
    out = Path(path)
    return out.with_name(f".{out.stem}.partial{out.suffix}")


@contextlib.contextmanager
def written_whole(path: str) -> Iterator[Path]:
    """Yields the partial path to write to; on success it replaces `path`, on any failure or
    interruption it is removed and `path` is left as it was."""
    partial = partial_path(path)
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
