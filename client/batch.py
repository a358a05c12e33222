"""Many videos, many styles: which output each (input, style) pair goes to, checked before any work."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from client.media.paths import IMAGE_EXTENSIONS, VIDEO_CONTAINERS, check_output_path
from mvstylizer_common.errors import InvalidInputError


@dataclass
class BatchItem:
    input: str
    style: str
    output: str
    problem: str | None = None  # why this item cannot run (reported; the others still do)


def styles_from(path: str) -> list[str]:
    """A style photo, or every photo in a folder (one output per style), sorted by name."""
    given = Path(path)
    if given.is_dir():
        photos = sorted(str(p) for p in given.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        if not photos:
            raise InvalidInputError(f"{path}: a folder with no style photos ({', '.join(sorted(IMAGE_EXTENSIONS))})")
        return photos
    return [path]


def output_name(input_path: str, style: str, out_dir: str | None) -> str:
    """Beside the input (or in out_dir): <input stem>-<style stem><the input's container, else .mp4>."""
    source = Path(input_path)
    suffix = source.suffix.lower() if source.suffix.lower() in VIDEO_CONTAINERS else ".mp4"
    folder = Path(out_dir) if out_dir else source.parent
    return str(folder / f"{source.stem}-{Path(style).stem}{suffix}")


def plan(
    inputs: list[str], style: str, output: str | None, out_dir: str | None, overwrite: bool, kind: str = "video"
) -> list[BatchItem]:
    """One item per (input, style). `output` names the one output of a single input and style.
    Raises InvalidInputError for what sinks the whole batch (a bad --out-dir, -o with many outputs)."""
    styles = styles_from(style)
    if output and (len(inputs) > 1 or len(styles) > 1):
        raise InvalidInputError("-o names one output: with several inputs or styles use --out-dir (or neither)")
    if out_dir is not None:
        folder = Path(out_dir)
        if not folder.is_dir():
            raise InvalidInputError(f"--out-dir {out_dir}: no such folder")
        check_output_path(str(folder / f"probe{next(iter(VIDEO_CONTAINERS))}"), [])
    items, taken = [], set()
    for input_path in inputs:
        for style_path in styles:
            target = output or output_name(input_path, style_path, out_dir)
            item = BatchItem(input_path, style_path, target)
            try:
                check_output_path(target, [input_path, style_path], kind=kind)
                if Path(target).resolve() in taken:
                    raise InvalidInputError(f"{target}: also the output of an earlier item")
                if Path(target).exists() and not overwrite:
                    raise InvalidInputError(f"{target}: exists (--overwrite replaces it)")
            except InvalidInputError as error:
                item.problem = str(error)
            taken.add(Path(target).resolve())
            items.append(item)
    return items
