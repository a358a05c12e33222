"""The one interface every stylizer model implements."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

# Whatever a model derives from a style photo once per session (tensors, stats...).
StyleCode = Any


class StyleModel(nn.Module):
    """Stylizes content at its working resolution.

    Tensors are float32, RGB, values in [0, 1], shape Bx3xHxW.

    Optional abilities, declared by class attributes (StylizationSession checks them):
    - supports_labels: encode_style(style, labels=...) takes the style's HxW integer label map
      and forward/render_parts(content, style, labels=...) the content's (label l of the content
      takes the look of label l of the style). Models without it refuse label maps
      (InvalidInputError from the session).
    - supports_strength: forward/render_parts(content, style, strength=s) take s in [0, 1]
      (0: the content's own look, 1: the full transfer), applied to the model's colour mapping.
      Models without it refuse strengths other than 1.
    """

    supports_labels: bool = False
    supports_strength: bool = False

    def encode_style(self, style: torch.Tensor) -> StyleCode:
        """Derive the session's style code from a 1x3xHxW style photo (called once per session)."""
        raise NotImplementedError

    def forward(self, content: torch.Tensor, style: StyleCode) -> torch.Tensor:
        """Bx3xHxW content -> Bx3xHxW stylized, same size."""
        raise NotImplementedError

    def render_parts(self, content: torch.Tensor, style: StyleCode) -> tuple[torch.Tensor, Any]:
        """(working-resolution output for the meta-smoothing, state for finish()).

        Models with a step best done at the output resolution return its state here."""
        return self(content, style), None

    def finish(self, content_rgb: np.ndarray, smoothed_rgb: np.ndarray, state: Any) -> np.ndarray:
        """Last step on the meta-smoothed HxWx3 uint8 output, at output resolution (default: none)."""
        return smoothed_rgb
