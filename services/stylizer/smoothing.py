"""Meta-smoothing: bring a working-resolution stylization to any output size, cleanly.

A learnable guided filter (He et al. 2013; trainable as in Wu et al. 2018). In
every local window at working resolution it fits the affine colour map from a
learned guide (a 1x1 convolution of the content) to the stylization, upsamples the
map's coefficients and applies them to the full-resolution content. The output is
therefore locally an affine function of the content: its edges and detail are the
content's, and what the model added that the content does not explain (noise,
blocking, halos, colour bleeding across edges) is filtered out. How strongly to
regularise the fit depends on the scale factor, so a small network predicts it from
the scale ("meta", as in Meta-SR).

Weight file format (`torch.save`, loaded with weights_only=True):
    {"format": "mvstylizer-meta-smoothing-v1", "config": {...}, "state_dict": {...}, "trained": {...}}
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from services.stylizer.colour import LUMA_WEIGHTS
from services.stylizer.upsample import apply_planes, fit_local_affine
from services.stylizer.weight_files import load_weight_file, shipped_weights

FORMAT = "mvstylizer-meta-smoothing-v1"
SHIPPED = "meta_smoothing.pt"


@dataclass(frozen=True)
class SmoothingConfig:
    hidden: int = 16  # width of the scale-conditioned network
    base_log_eps: float = math.log(1e-3)  # regularisation of the untrained filter
    window_fraction: float = 1 / 64  # window radius as a share of the working long side
    base_residual_logit: float = 0.0  # share of the fit's residual kept by the untrained filter: sigmoid(this)


class MetaSmoothing(nn.Module):
    """(low content, low stylization, high content) -> high stylization; all Bx3xHxW in [0, 1]."""

    def __init__(self, config: SmoothingConfig | None = None):
        super().__init__()
        self.config = config or SmoothingConfig()
        self.guide = nn.Conv2d(3, 3, 1)
        with torch.no_grad():
            self.guide.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.guide.bias.zero_()
        self.meta = nn.Sequential(nn.Linear(2, self.config.hidden), nn.Tanh(), nn.Linear(self.config.hidden, 2))
        nn.init.zeros_(self.meta[-1].weight)
        nn.init.zeros_(self.meta[-1].bias)

    def settings_for(self, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(regularisation of the local fits, share of the fits' residual kept) for an output
        `scale` times the working size."""
        features = torch.tensor([[math.log2(max(scale, 1e-3)), 1.0 / max(scale, 1e-3)]], dtype=torch.float32)
        raw = self.meta(features.to(self.guide.weight.device))[0]
        return torch.exp(self.config.base_log_eps + raw[0]), torch.sigmoid(self.config.base_residual_logit + raw[1])

    def eps_for(self, scale: float) -> torch.Tensor:
        return self.settings_for(scale)[0]

    def radius_for(self, low_long_side: int) -> int:
        return max(2, round(low_long_side * self.config.window_fraction))

    def coefficients(
        self, low_content: torch.Tensor, low_stylized: torch.Tensor, scale: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fitted at working size: per-pixel maps on the *content* (the guide folded in), A Bx3x3xhxw
        and b Bx3xhxw, and the part of what they miss to add back, Bx3xhxw.

        What the local affine maps miss is either a distortion (noise, blocking) or a real
        non-linearity of the look inside a window; the meta network decides, from the
        scale, how much of it to keep.
        """
        eps, keep = self.settings_for(scale)
        weight = self.guide.weight.view(3, 3)
        # The 1x1 convolution as a matrix product (oneDNN's convolution costs far more on 3 channels).
        guide = torch.einsum("kj,bjhw->bkhw", weight, low_content) + self.guide.bias.view(1, 3, 1, 1)
        radius = self.radius_for(max(low_content.shape[-2:]))
        a, b = fit_local_affine(guide, low_stylized, radius, eps)
        # y = a @ (W x + c) + b = (a W) x + (a c + b)
        rows = [[sum(a[:, c, k] * weight[k, j] for k in range(3)) for j in range(3)] for c in range(3)]
        a_content = torch.stack([torch.stack(row, dim=1) for row in rows], dim=1)
        b_content = b + apply_planes(a, self.guide.bias.view(1, 3, 1, 1).expand_as(b))
        residual = low_stylized - (apply_planes(a_content, low_content) + b_content)
        return a_content, b_content, keep * residual

    def forward(
        self, low_content: torch.Tensor, low_stylized: torch.Tensor, high_content: torch.Tensor
    ) -> torch.Tensor:
        height, width = high_content.shape[-2:]
        scale = max(height, width) / max(low_content.shape[-2:])
        a, b, residual = self.coefficients(low_content, low_stylized, scale)
        batch = a.shape[0]
        coeffs = torch.cat([a.flatten(1, 2), b + residual], dim=1)
        if coeffs.shape[-2:] != (height, width):
            coeffs = F.interpolate(coeffs, size=(height, width), mode="bilinear", align_corners=False)
        a_high = coeffs[:, :9].reshape(batch, 3, 3, height, width)
        out = torch.einsum("bckhw,bkhw->bchw", a_high, high_content) + coeffs[:, 9:]
        return out.clamp(0.0, 1.0)

    @torch.inference_mode()
    def render(self, low_content: torch.Tensor, low_stylized: torch.Tensor, high_rgb: np.ndarray) -> np.ndarray:
        """Inference for one frame: 1x3xhxw tensors and an HxWx3 uint8 content -> HxWx3 uint8 output.

        On the CPU the coefficients are upsampled and applied with OpenCV (apply_coefficients):
        several times faster than the tensor path at 1080p.
        """
        height, width = high_rgb.shape[:2]
        if low_content.device.type != "cpu":
            high = torch.from_numpy(high_rgb).to(low_content.device).permute(2, 0, 1)[None].float().div_(255.0)
            out = self.forward(low_content, low_stylized, high)
            return out[0].mul(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        scale = max(height, width) / max(low_content.shape[-2:])
        a, b, residual = self.coefficients(low_content, low_stylized, scale)
        return apply_coefficients(a[0].numpy(), (b[0] + residual[0]).numpy(), high_rgb)


# Output rows per strip: a strip's coefficients and pixels stay in the CPU's cache between the
# steps that use them, instead of a dozen full-size float planes going through memory.
STRIP_ROWS = 32


def _upsampled(planes: np.ndarray, to_source: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear samples of `planes` (HxWxC) at to_source (output -> source affine), BORDER_REPLICATE."""
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(planes, to_source, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)


def apply_coefficients(a: np.ndarray, b: np.ndarray, high_rgb: np.ndarray) -> np.ndarray:
    """Per-pixel affine maps at low resolution (a 3x3xhxw, b 3xhxw; on 0..1 colours), bilinearly
    upsampled (as align_corners=False) and applied to an HxWx3 uint8 image -> HxWx3 uint8.

    Strip by strip: the maps of a strip are upsampled (warpAffine at the strip's exact bilinear
    coordinates), each output channel c is the channel sum of [a_c0, a_c1, a_c2] times the pixels
    (a grey conversion, with the coefficients divided by its weights), plus b_c."""
    height, width = high_rgb.shape[:2]
    low_h, low_w = b.shape[-2:]
    # OpenCV's RGB -> grey conversion is a weighted channel sum, and by far its fastest one:
    # dividing each map's coefficients by its weights turns it into the map's plain channel sum.
    grey = np.array(LUMA_WEIGHTS, np.float32)
    gains = [np.ascontiguousarray(np.moveaxis(a[c], 0, -1) / grey, np.float32) for c in range(3)]
    offsets = np.ascontiguousarray(np.moveaxis(b, 0, -1) * 255.0, np.float32)
    sx, sy = low_w / width, low_h / height
    out = np.empty((height, width, 3), np.uint8)
    for top in range(0, height, STRIP_ROWS):
        rows = min(STRIP_ROWS, height - top)
        # Source position of output pixel (x, y): ((x + 0.5) sx - 0.5, (y + 0.5) sy - 0.5).
        to_source = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, (top + 0.5) * sy - 0.5]], np.float32)
        size = (width, rows)
        pixels = high_rgb[top : top + rows].astype(np.float32)
        channels = [
            cv2.cvtColor(cv2.multiply(_upsampled(gain, to_source, size), pixels), cv2.COLOR_RGB2GRAY) for gain in gains
        ]
        value = cv2.add(cv2.merge(channels), _upsampled(offsets, to_source, size))
        # Negative values must become 0, not their absolute value. numpy, not cv2.max(value, 0.0):
        # OpenCV reads a 1x1 image as a scalar there and returns a 4x1 one.
        np.maximum(value, 0.0, out=value)
        out[top : top + rows] = cv2.convertScaleAbs(value)
    return out


def save_smoothing(module: MetaSmoothing, path: Path, trained: dict) -> None:
    payload = {"format": FORMAT, "config": asdict(module.config), "state_dict": module.state_dict(), "trained": trained}
    torch.save(payload, path)


def load_smoothing(path: str | Path | None = None) -> MetaSmoothing:
    """The shipped module, or the one in `path`."""
    payload = load_weight_file(path or shipped_weights(SHIPPED), FORMAT)
    module = MetaSmoothing(SmoothingConfig(**payload["config"]))
    module.load_state_dict(payload["state_dict"])
    return module.eval()
