"""Guided-filter building blocks (He et al. 2013) used by the meta-smoothing module.

Box means with windows shrinking at the borders, a closed-form 3x3 inverse, and the
per-window affine colour fit from a guide image to a target image.
"""

from __future__ import annotations

import numpy as np
import torch

from mvstylizer_common.boxfilter import box_mean_plane


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

    O(1) per pixel whatever the radius (cumulative sums, as in He et al.'s guided filter);
    on the CPU, when no gradient is needed, OpenCV's box filter does it several times faster.
    """
    height, width = x.shape[-2:]
    if x.device.type == "cpu" and not x.requires_grad and x.dtype == torch.float32 and x.dim() == 4:
        return _box_mean_opencv(x, radius)
    sums = _window_sum(_window_sum(x, radius, 3), radius, 2)
    rows = _window_sum(x.new_ones(1, 1, height, 1), radius, 2)
    cols = _window_sum(x.new_ones(1, 1, 1, width), radius, 3)
    return sums / (rows * cols)


def _box_mean_opencv(x: torch.Tensor, radius: int) -> torch.Tensor:
    batch, channels, height, width = x.shape
    planes = x.detach().contiguous().numpy().reshape(batch * channels, height, width)
    out = np.empty_like(planes)
    for i, plane in enumerate(planes):
        box_mean_plane(plane, radius, out=out[i])
    return torch.from_numpy(out).view(batch, channels, height, width)


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


def apply_planes(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-pixel 3x3 maps Bx3x3xHxW applied to Bx3xHxW: out[c] = sum_k a[c, k] x[k].

    Written as sums of plane products: on the CPU several times faster than einsum, which
    copies the operands into a batched matrix product."""
    return torch.stack([sum(a[:, c, k] * x[:, k] for k in range(3)) for c in range(3)], dim=1)


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
    a = torch.stack(
        [
            torch.stack([sum(cov_ip[:, j, c] * inverse[:, k, j] for j in range(3)) for k in range(3)], dim=1)
            for c in range(3)
        ],
        dim=1,
    )
    b = mean_p - apply_planes(a, mean_i)
    a = box_mean(a.flatten(1, 2), radius).view(batch, 3, 3, height, width)
    b = box_mean(b, radius)
    return a, b
