"""Random photographic colour grades, batched: the known targets of self-supervised training.

A grade is a chain of what colourists and film emulations do: white balance,
exposure, per-channel gamma, channel mixing and saturation, a contrast curve,
split toning (different tints in shadows and highlights), lifted blacks. Two
grades of the same photo are a content/style pair whose answer is known.
"""

from __future__ import annotations

import torch

from services.stylizer.colour import LUMA_WEIGHTS

_LUMA = torch.tensor(LUMA_WEIGHTS)


def _normal(shape, generator: torch.Generator, std: float) -> torch.Tensor:
    return torch.randn(shape, generator=generator) * std


def _uniform(shape, generator: torch.Generator, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator)


class RandomGrade:
    """Parameters of one random grade per batch item; apply() maps Bx3xHxW images in [0, 1]."""

    def __init__(self, batch: int, generator: torch.Generator, strength: float = 1.0):
        g, s = generator, strength
        self.gains = torch.exp(_normal((batch, 3, 1, 1), g, 0.15 * s))
        self.exposure = torch.exp(_normal((batch, 1, 1, 1), g, 0.3 * s))
        self.gamma = torch.exp(_normal((batch, 1, 1, 1), g, 0.25 * s) + _normal((batch, 3, 1, 1), g, 0.1 * s))
        mix = torch.eye(3).expand(batch, 3, 3) + _normal((batch, 3, 3), g, 0.08 * s)
        saturation = torch.exp(_normal((batch, 1, 1), g, 0.4 * s))
        luma_rows = _LUMA.expand(batch, 3, 3)
        # Saturation about the luma axis, then channel mixing; rows renormalised so grey stays grey-ish.
        self.matrix = mix @ (luma_rows + saturation * (torch.eye(3) - luma_rows))
        self.matrix = self.matrix / self.matrix.sum(dim=2, keepdim=True).clamp_min(0.3)
        self.contrast = _uniform((batch, 1, 1, 1), g, -0.4 * s, 0.8 * s)
        self.shadow_tint = _normal((batch, 3, 1, 1), g, 0.06 * s)
        self.highlight_tint = _normal((batch, 3, 1, 1), g, 0.06 * s)
        self.lift = _uniform((batch, 1, 1, 1), g, 0.0, 0.08 * s) * (torch.rand((batch, 1, 1, 1), generator=g) < 0.4)
        # Some items are left ungraded, so plain photos are seen too.
        keep = (torch.rand((batch, 1, 1, 1), generator=g) < 0.1).float()
        self.identity = keep

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        x = (images * self.gains * self.exposure).clamp(0.0, 1.0)
        x = x.clamp_min(1e-4) ** self.gamma
        x = torch.einsum("bij,bjhw->bihw", self.matrix, x).clamp(0.0, 1.0)
        smooth = x * x * (3.0 - 2.0 * x)
        x = x + self.contrast * (smooth - x)
        luma = (x * _LUMA.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
        x = x + self.shadow_tint * (1.0 - luma) ** 2 + self.highlight_tint * luma**2
        x = self.lift + (1.0 - self.lift) * x
        x = x.clamp(0.0, 1.0)
        return self.identity * images + (1.0 - self.identity) * x
