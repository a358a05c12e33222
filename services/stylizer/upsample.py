"""Guided upsampling: bring a working-resolution stylization to any output size.

Fits, in every local window at working resolution, the affine colour map that
takes the content to its stylization (a colour guided filter, He et al. 2013),
smooths and upsamples the map's coefficients, and applies them to the content at
the output resolution (as in the fast guided filter, Wu et al. 2018). Detail and
edges therefore come from the full-resolution content; the look from the model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _window_sum(x: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """Sum over [i-r, i+r] along dim, clipped at the borders, by differences of a cumulative sum."""
    size = x.shape[dim]
    radius = min(radius, size - 1)
    edge_shape = list(x.shape)
    edge_shape[dim] = 1
    total = torch.cat([x.new_zeros(edge_shape), x.cumsum(dim)], dim)  # total[k]: sum of the first k
    # Window i covers [max(i-r, 0), min(i+r+1, size)) in total's coordinates.
    tail_shape = list(x.shape)
    tail_shape[dim] = radius + 1
    upper = torch.cat(
        [total.narrow(dim, radius + 1, size - radius - 1), total.narrow(dim, size, 1).expand(tail_shape)], dim
    )
    head_shape = list(x.shape)
    head_shape[dim] = radius
    lower = torch.cat([x.new_zeros(head_shape), total.narrow(dim, 0, size - radius)], dim)
    return upper - lower


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window, shrinking at the borders. x: BxCxHxW.

    O(1) per pixel whatever the radius (cumulative sums, as in He et al.'s guided filter).
    """
    height, width = x.shape[-2:]
    sums = _window_sum(_window_sum(x, radius, 3), radius, 2)
    rows = _window_sum(x.new_ones(1, 1, height, 1), radius, 2)
    cols = _window_sum(x.new_ones(1, 1, 1, width), radius, 3)
    return sums / (rows * cols)


def invert_3x3(m: torch.Tensor) -> torch.Tensor:
    """Inverse of Bx3x3xHxW matrices by the adjugate (far faster than batched LAPACK here)."""
    c00 = m[:, 1, 1] * m[:, 2, 2] - m[:, 1, 2] * m[:, 2, 1]
    c01 = m[:, 1, 2] * m[:, 2, 0] - m[:, 1, 0] * m[:, 2, 2]
    c02 = m[:, 1, 0] * m[:, 2, 1] - m[:, 1, 1] * m[:, 2, 0]
    det = m[:, 0, 0] * c00 + m[:, 0, 1] * c01 + m[:, 0, 2] * c02
    inv_rows = [
        [c00, m[:, 0, 2] * m[:, 2, 1] - m[:, 0, 1] * m[:, 2, 2], m[:, 0, 1] * m[:, 1, 2] - m[:, 0, 2] * m[:, 1, 1]],
        [c01, m[:, 0, 0] * m[:, 2, 2] - m[:, 0, 2] * m[:, 2, 0], m[:, 0, 2] * m[:, 1, 0] - m[:, 0, 0] * m[:, 1, 2]],
        [c02, m[:, 0, 1] * m[:, 2, 0] - m[:, 0, 0] * m[:, 2, 1], m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]],
    ]
    return torch.stack([torch.stack(row, dim=1) for row in inv_rows], dim=1) / det[:, None, None]


def fit_local_affine(
    guide: torch.Tensor, target: torch.Tensor, radius: int, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel A (Bx3x3xHxW, target = A @ guide + b) and b (Bx3xHxW), window-averaged."""
    batch, _, height, width = guide.shape
    mean_i = box_mean(guide, radius)
    mean_p = box_mean(target, radius)
    # Outer products guide_k * guide_l and guide_k * target_c, all 3x3 pairs.
    ii = box_mean((guide[:, :, None] * guide[:, None, :]).flatten(1, 2), radius).view(batch, 3, 3, height, width)
    ip = box_mean((guide[:, :, None] * target[:, None, :]).flatten(1, 2), radius).view(batch, 3, 3, height, width)
    cov_ii = ii - mean_i[:, :, None] * mean_i[:, None, :]
    cov_ip = ip - mean_i[:, :, None] * mean_p[:, None, :]
    eye = torch.eye(3, dtype=guide.dtype, device=guide.device).view(1, 3, 3, 1, 1)
    inverse = invert_3x3(cov_ii + eps * eye)
    # a[c, k] = sum_j cov_ip[j, c] * inverse[k, j]: coefficient of guide_k in target_c.
    a = torch.einsum("bjchw,bkjhw->bckhw", cov_ip, inverse)
    b = mean_p - (a * mean_i[:, None]).sum(dim=2)
    a = box_mean(a.flatten(1, 2), radius).view(batch, 3, 3, height, width)
    b = box_mean(b, radius)
    return a, b


def guided_upsample(
    low_content: torch.Tensor,
    low_stylized: torch.Tensor,
    high_content: torch.Tensor,
    radius: int | None = None,
    eps: float = 1e-3,
) -> torch.Tensor:
    """Stylization at high_content's size. low_*: Bx3xhxw, high_content: Bx3xHxW, all in [0, 1]."""
    height, width = high_content.shape[-2:]
    if radius is None:
        radius = max(2, round(max(low_content.shape[-2:]) / 64))
    a, b = fit_local_affine(low_content, low_stylized, radius, eps)
    batch = a.shape[0]
    coeffs = torch.cat([a.flatten(1, 2), b], dim=1)
    if coeffs.shape[-2:] != (height, width):
        # channels_last makes the CPU bilinear kernel markedly faster for 12 channels.
        coeffs = F.interpolate(
            coeffs.contiguous(memory_format=torch.channels_last),
            size=(height, width),
            mode="bilinear",
            align_corners=False,
        )
    a_high = coeffs[:, :9].reshape(batch, 3, 3, height, width)
    b_high = coeffs[:, 9:]
    return (torch.einsum("bckhw,bkhw->bchw", a_high, high_content) + b_high).clamp(0.0, 1.0)
