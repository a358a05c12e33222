"""The one interface every stylizer model implements."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

# Whatever a model derives from a style photo once per session (tensors, stats...).
StyleCode = Any


class StyleModel(nn.Module):
    """Stylizes content at its working resolution.

    Tensors are float32, RGB, values in [0, 1], shape Bx3xHxW.
    """

    def encode_style(self, style: torch.Tensor) -> StyleCode:
        """Derive the session's style code from a 1x3xHxW style photo (called once per session)."""
        raise NotImplementedError

    def forward(self, content: torch.Tensor, style: StyleCode) -> torch.Tensor:
        """Bx3xHxW content -> Bx3xHxW stylized, same size."""
        raise NotImplementedError
