"""Weight files: where the shipped ones live, and loading any of them with a clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mvstylizer_common.errors import WeightsError

# Weights the project trains and commits (see weights/MODEL_CARD.md).
SHIPPED_DIR = Path(__file__).resolve().parent / "weights"


def shipped_weights(name: str) -> Path:
    return SHIPPED_DIR / name


def read_checkpoint(path: str | Path) -> Any:
    """torch.load with tensors only (no pickled code), mapping every failure to WeightsError."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weight file {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file; all mean "not a usable checkpoint"
        # torch's own text suggests loading arbitrary pickles; not something to pass on.
        raise WeightsError(
            f"weight file {path} could not be read: not a PyTorch checkpoint of plain tensors"
            f" ({exc.__class__.__name__})"
        ) from exc


def load_weight_file(path: str | Path, expected_format: str) -> dict:
    """A project weight file: a dict with "format" == expected_format, "config" and "state_dict"."""
    payload = read_checkpoint(path)
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise WeightsError(f"weight file {path} is not in format {expected_format!r} (found {found!r})")
    return payload
