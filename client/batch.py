"""Many videos, many styles: which output each (input, style) pair goes to, checked before any work,
and how the run went, item by item."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from client.media.paths import IMAGE_EXTENSIONS, PHOTO_EXTENSIONS, VIDEO_CONTAINERS, check_output_path, same_file
from mvstylizer_common.errors import InvalidInputError


@dataclass
class BatchItem:
    input: str
    style: str
    output: str  # the video, or with a preview frame the PNG written instead
    problem: str | None = None  # why this item cannot run or failed (reported; the others still run)
    bad_input: bool = True  # the problem lies in the item's files or settings (exit 2), not the run's (1)
    done: bool = False

    def fail(self, problem: str, bad_input: bool) -> None:
        self.problem, self.bad_input = problem, bad_input

    @property
    def name(self) -> str:
        return f"{self.input} with {Path(self.style).name}"


def styles_from(path: str) -> list[str]:
    """A style photo, or every photo in a folder (one output per style), sorted by name."""
    given = Path(path)
    if given.is_dir():
        photos = sorted(str(p) for p in given.iterdir() if p.suffix.lower() in PHOTO_EXTENSIONS and p.is_file())
        if not photos:
            raise InvalidInputError(f"{path}: a folder with no style photos ({', '.join(sorted(PHOTO_EXTENSIONS))})")
        return photos
    return [path]


def once(paths: list[str]) -> tuple[list[str], list[str]]:
    """(each file once, under the name it was first given; the later names of files given already):
    an overlapping glob (*.jpg IMG*.jpg) names some files twice, and each is stylized once."""
    seen: set[str] = set()
    first, again = [], []
    for p in paths:
        real = os.path.realpath(p)
        (again if real in seen else first).append(p)
        seen.add(real)
    return first, again


def labels(paths: list[str], group: Callable[[str], object] = lambda _: None) -> dict[str, str]:
    """What each path is called in output names, unique within its group (case aside): its stem;
    stem-extension (a-jpg, a-png) where paths of its group share the stem but not the extension;
    where whole file names are shared (day1/VID_1.mp4, day2/VID_1.mp4), the folders it was given in
    before it (day1-VID_1), as many as it takes; and a count (VID_1-2) where even those are shared.
    Names of one file (clip.mp4, ./clip.mp4) are one input: they get one label."""
    unique = once(paths)[0]
    suffixes: dict[tuple, set[str]] = {}
    for p in unique:
        suffixes.setdefault((group(p), Path(p).stem.lower()), set()).add(Path(p).suffix)
    own = {}
    for p in unique:
        path = Path(p)
        told_apart = len(suffixes[(group(p), path.stem.lower())]) > 1 and path.suffix
        own[p] = f"{path.stem}-{path.suffix[1:]}" if told_apart else path.stem

    def key(p: str, label: str) -> tuple:
        return group(p), label.lower()

    # Only what shares its own name with a file in another folder takes folders (as given: symlinks
    # not followed); names shared within one folder (VID.mp4, VID.MP4) are counted below.
    parent = {p: Path(os.path.abspath(p)).parent for p in unique}
    shared = Counter(key(p, own[p]) for p in unique)
    same_folder = Counter((key(p, own[p]), parent[p]) for p in unique)
    named = dict(own)
    folders = {
        p: parent[p].parts[1:]
        for p in unique
        if shared[key(p, own[p])] > 1 and same_folder[(key(p, own[p]), parent[p])] == 1
    }
    for depth in range(1, max((len(f) for f in folders.values()), default=0) + 1):
        taken = Counter(key(p, named[p]) for p in unique)
        clashing = [p for p in folders if taken[key(p, named[p])] > 1]
        if not clashing:
            break
        for p in clashing:
            named[p] = "-".join([*folders[p][-depth:], own[p]])
    taken = Counter()
    for p in unique:  # shared even with every folder: counted, in the order given
        taken[key(p, named[p])] += 1
        if taken[key(p, named[p])] > 1:
            named[p] = f"{named[p]}-{taken[key(p, named[p])]}"
    by_file = {os.path.realpath(p): named[p] for p in unique}
    return {p: by_file[os.path.realpath(p)] for p in paths}


def output_name(
    input_path: str,
    style: str,
    out_dir: str | None,
    *,
    input_label: str | None = None,
    style_label: str | None = None,
    photo: bool = False,
) -> str:
    """Beside the input (or in out_dir): <input label>-<style label><the input's container, else .mp4>
    (labels: the stems, by default); for a photo, <the input's photo format, else .png>."""
    source = Path(input_path)
    formats, default = (IMAGE_EXTENSIONS, ".png") if photo else (VIDEO_CONTAINERS, ".mp4")
    suffix = source.suffix.lower() if source.suffix.lower() in formats else default
    folder = Path(out_dir) if out_dir else source.parent
    return str(folder / f"{input_label or source.stem}-{style_label or Path(style).stem}{suffix}")


def preview_name(video_output: str, frame: int) -> str:
    """Where --preview-frame N writes instead of the video: OUTPUT.frameN.png."""
    return str(Path(video_output).with_suffix(f".frame{frame}.png"))


def plan(
    inputs: list[str],
    style: str,
    output: str | None,
    out_dir: str | None,
    overwrite: bool,
    preview_frame: int | None = None,
    photos: bool = False,
) -> list[BatchItem]:
    """One item per (input, style). `output` names the one output of a single input and style;
    with preview_frame, each item writes that frame's PNG and no video (so only the PNG is checked);
    photos: the inputs are photos, and so are the outputs.
    Raises InvalidInputError for what sinks the whole batch: -o with many outputs, an --out-dir that
    cannot be made, an output that is also an input of the run (even with --overwrite)."""
    styles = styles_from(style)
    if output and out_dir:
        raise InvalidInputError("-o and --out-dir: give one (-o names one output, --out-dir the folder of many)")
    if output and (len(inputs) > 1 or len(styles) > 1):
        raise InvalidInputError("-o names one output: with several inputs or styles use --out-dir (or neither)")
    input_labels = labels(inputs, group=lambda p: Path(out_dir or Path(p).parent).resolve())
    style_labels = labels(styles)
    items = []
    for input_path in inputs:
        for style_path in styles:
            target = output or output_name(
                input_path,
                style_path,
                out_dir,
                input_label=input_labels[input_path],
                style_label=style_labels[style_path],
                photo=photos,
            )
            if preview_frame is not None:
                target = preview_name(target, preview_frame)
            items.append(BatchItem(input_path, style_path, target))
    _refuse_outputs_that_are_inputs(items, [*inputs, *styles])
    if out_dir is not None:
        _make_out_dir(out_dir)
    kind = "video" if preview_frame is None and not photos else "image"
    taken: set[Path] = set()
    for item in items:
        try:
            check_output_path(item.output, [item.input, item.style], kind=kind)
            if Path(item.output).resolve() in taken:
                raise InvalidInputError(f"{item.output}: also the output of an earlier item")
            if Path(item.output).exists() and not overwrite:
                raise InvalidInputError(f"{item.output}: exists (--overwrite replaces it)")
        except InvalidInputError as error:
            item.fail(str(error), bad_input=True)
        taken.add(Path(item.output).resolve())
    return items


def _refuse_outputs_that_are_inputs(items: list[BatchItem], inputs: list[str]) -> None:
    """An item would replace what a later one reads: refused before any work, whatever --overwrite says."""
    for item in items:
        for other in inputs:
            if same_file(item.output, other):
                raise InvalidInputError(
                    f"{item.output}: the output of {item.name} would overwrite an input of this run; nothing was done"
                )


def _make_out_dir(out_dir: str) -> None:
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InvalidInputError(f"--out-dir {out_dir}: exists and is not a folder") from None
    except OSError as error:
        raise InvalidInputError(f"--out-dir {out_dir}: cannot be created ({error.strerror or error})") from None
    check_output_path(str(folder / f"probe{next(iter(VIDEO_CONTAINERS))}"), [])


def summary(items: list[BatchItem]) -> str:
    """How many were stylized, then one line per item: ok and its output, or failed and why."""
    lines = [f"{sum(item.done for item in items)} of {len(items)} stylized:"]
    for item in items:
        lines.append(
            f"  ok      {item.name} -> {item.output}" if item.done else f"  failed  {item.name}: {item.problem}"
        )
    return "\n".join(lines)
