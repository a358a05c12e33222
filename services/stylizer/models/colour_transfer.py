"""Closed-form photorealistic colour transfer models (no weights; CPU or GPU).

Both map each pixel's colour by a transform fitted between the colour
statistics of the content and of the style photo, so structure is untouched.
"""

from __future__ import annotations

import torch

from services.stylizer.colour import lab_to_rgb, rgb_to_lab
from services.stylizer.models.base import StyleModel
from services.stylizer.models.registry import register_model

# Floor on content colour variance per principal direction (std of about 1/300).
_VARIANCE_FLOOR = 1e-5


def mean_cov(pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """pixels Bx3xN -> mean Bx3x1, covariance Bx3x3."""
    mean = pixels.mean(dim=2, keepdim=True)
    centred = pixels - mean
    cov = centred @ centred.transpose(1, 2) / pixels.shape[2]
    return mean, cov


def _sqrt_and_inv_sqrt(matrix: torch.Tensor, floor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Square root and inverse square root of a symmetric positive semi-definite Bx3x3.

    Eigenvalues are floored at `floor`, which bounds how far the inverse can amplify
    a colour direction the matrix barely spans (e.g. a grey or single-hue frame).
    """
    values, vectors = torch.linalg.eigh(matrix)
    values = values.clamp_min(floor)
    sqrt = vectors @ torch.diag_embed(values.sqrt()) @ vectors.transpose(1, 2)
    inv_sqrt = vectors @ torch.diag_embed(values.rsqrt()) @ vectors.transpose(1, 2)
    return sqrt, inv_sqrt


def mkl_transform(
    content: torch.Tensor, style_mean: torch.Tensor, style_cov: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Monge-Kantorovich map for Bx3xN content pixels: (Bx3x3 T, Bx3x1 shift), y = T @ x + shift."""
    mean, cov = mean_cov(content)
    c_sqrt, c_inv_sqrt = _sqrt_and_inv_sqrt(cov, _VARIANCE_FLOOR)
    middle, _ = _sqrt_and_inv_sqrt(c_sqrt @ style_cov.to(cov) @ c_sqrt, 1e-12)
    transform = c_inv_sqrt @ middle @ c_inv_sqrt
    return transform, style_mean.to(mean) - transform @ mean


class MongeKantorovichTransfer(StyleModel):
    """Linear Monge-Kantorovich colour transfer (Pitie & Kokaram, 2007), in RGB.

    The affine map x -> T(x - mu_c) + mu_s with
    T = C_c^-1/2 (C_c^1/2 C_s C_c^1/2)^1/2 C_c^-1/2 is the optimal transport
    between the Gaussian fits of the two colour distributions.
    """

    def encode_style(self, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return mean_cov(style.flatten(2).double())

    def forward(self, content: torch.Tensor, style: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        flat = content.flatten(2).double()
        transform, shift = mkl_transform(flat, *style)
        mapped = transform @ flat + shift
        return mapped.to(content.dtype).reshape(content.shape).clamp(0.0, 1.0)


class ReinhardTransfer(StyleModel):
    """Per-channel mean and standard deviation matching in CIE Lab (Reinhard et al., 2001)."""

    def encode_style(self, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lab = rgb_to_lab(style).flatten(2)
        return lab.mean(dim=2, keepdim=True), lab.std(dim=2, correction=0, keepdim=True)

    def forward(self, content: torch.Tensor, style: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        style_mean, style_std = style
        lab = rgb_to_lab(content)
        flat = lab.flatten(2)
        # The population std: one pixel has 0 (clamped below), not the sample std's NaN.
        mean, std = flat.mean(dim=2, keepdim=True), flat.std(dim=2, correction=0, keepdim=True)
        mapped = (flat - mean) * (style_std.to(flat) / std.clamp_min(1e-3)) + style_mean.to(flat)
        return lab_to_rgb(mapped.reshape(lab.shape)).clamp(0.0, 1.0)


@register_model("mkl", description="Monge-Kantorovich linear colour transfer (closed form, RGB)")
def build_mkl(*, weights: str | None = None) -> StyleModel:
    return MongeKantorovichTransfer()


@register_model("reinhard", description="Lab mean/std colour transfer (closed form)")
def build_reinhard(*, weights: str | None = None) -> StyleModel:
    return ReinhardTransfer()
