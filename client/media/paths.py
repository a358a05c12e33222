"""Checks on where output goes, made before any work starts."""

from __future__ import annotations

from pathlib import Path

from common.errors import InvalidInputError


def check_output_path(path: str, inputs: list[str]) -> None:
    out = Path(path)
    if not out.parent.resolve().is_dir():
        raise InvalidInputError(f"{path}: output folder does not exist")
    if any(out.resolve() == Path(p).resolve() for p in inputs):
        raise InvalidInputError(f"{path}: output would overwrite an input")
