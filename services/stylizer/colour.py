"""sRGB <-> CIE Lab (D65) in torch. Tensors Bx3xHxW; RGB in [0, 1]; L in [0, 100]."""

from __future__ import annotations

import torch

_RGB_TO_XYZ = torch.tensor(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_WHITE = torch.tensor([0.950456, 1.0, 1.088754])
_DELTA = 6.0 / 29.0
# Rec. 601 luma weights, as OpenCV's RGB -> grey conversion uses them (they sum to 1).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def _linearise(rgb: torch.Tensor) -> torch.Tensor:
    return torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055).pow(2.4), rgb / 12.92)


def _gamma(linear: torch.Tensor) -> torch.Tensor:
    linear = linear.clamp_min(0.0)
    return torch.where(linear > 0.0031308, 1.055 * linear.pow(1.0 / 2.4) - 0.055, 12.92 * linear)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    matrix = _RGB_TO_XYZ.to(rgb)
    xyz = torch.einsum("ij,bjhw->bihw", matrix, _linearise(rgb.clamp(0.0, 1.0)))
    xyz = xyz / _WHITE.to(rgb).view(1, 3, 1, 1)
    f = torch.where(xyz > _DELTA**3, xyz.clamp_min(1e-12).pow(1.0 / 3.0), xyz / (3 * _DELTA**2) + 4.0 / 29.0)
    lightness = 116.0 * f[:, 1] - 16.0
    a = 500.0 * (f[:, 0] - f[:, 1])
    b = 200.0 * (f[:, 1] - f[:, 2])
    return torch.stack([lightness, a, b], dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    fy = (lab[:, 0] + 16.0) / 116.0
    fx = fy + lab[:, 1] / 500.0
    fz = fy - lab[:, 2] / 200.0
    f = torch.stack([fx, fy, fz], dim=1)
    xyz = torch.where(f > _DELTA, f.pow(3), 3 * _DELTA**2 * (f - 4.0 / 29.0))
    xyz = xyz * _WHITE.to(lab).view(1, 3, 1, 1)
    inverse = torch.linalg.inv(_RGB_TO_XYZ.double()).to(lab)
    return _gamma(torch.einsum("ij,bjhw->bihw", inverse, xyz))
