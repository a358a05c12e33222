"""Where output goes: checked before any work starts, and written whole or not at all.

An output is written to a hidden partial file beside the target and renamed onto it only
once complete, so an interrupted or failed run leaves nothing at the output path (and a
player never meets a half-written file under the final name). Each run's partial file has a
name of its own, so two runs writing the same output never write into one file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from mvstylizer_common.errors import InvalidInputError

# Containers the H.264 output can go in (PyAV picks the muxer from the extension).
VIDEO_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
# Formats OpenCV writes for photos.
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
# What a photo read (not written) may be called: every format imagecodec reads.
PHOTO_EXTENSIONS = IMAGE_EXTENSIONS | {".gif", ".pnm", ".ppm", ".pgm", ".pbm", ".ras", ".jp2", ".j2k", ".avif"}


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
    if any(same_file(path, p) for p in inputs if p):
        raise InvalidInputError(f"{path}: output would overwrite an input")


def same_file(a: str | Path, b: str | Path) -> bool:
    """One file under two names: the same resolved path, or (both existing) the same inode, as a
    hard link or a case-insensitive file system makes it."""
    if Path(a).resolve() == Path(b).resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def partial_path(path: str) -> Path:
    """A hidden file of this run's own to write an output to until it is complete: same folder,
    same extension (the muxer goes by it), the process id and a random part in its name."""
    out = Path(path)
    return out.with_name(f".{out.stem}.{os.getpid()}-{secrets.token_hex(4)}.partial{out.suffix}")


@contextlib.contextmanager
def written_whole(path: str, replace: bool = True) -> Iterator[Path]:
    """Yields the partial path to write to; on success it becomes `path`, on any failure or
    interruption it is removed and `path` is left as it was.

    replace=False: an output that appeared at `path` while this wrote (another run's) is kept and
    this one dropped with an InvalidInputError; the check and the rename are one step."""
    partial = partial_path(path)
    try:
        yield partial
        if replace:
            os.replace(partial, path)
        else:
            _publish_new(partial, Path(path))
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _publish_new(partial: Path, path: Path) -> None:
    """partial -> path unless path exists. A hard link fails atomically on an existing name; where
    the file system has no hard links, check and rename (a narrow window, not none)."""
    try:
        os.link(partial, path)
    except FileExistsError:
        raise _appeared(path) from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
            raise
        if path.exists() or path.is_symlink():
            raise _appeared(path) from None
        os.rename(partial, path)
        return
    partial.unlink()


def _appeared(path: Path) -> InvalidInputError:
    return InvalidInputError(f"{path}: written by something else meanwhile; kept (--overwrite replaces it)")
