"""PhotoWCT (Li et al., ECCV'18, the stylizer of FastPhotoStyle), bring-your-own weights.

Four VGG-19 encoder/decoder pairs (up to relu1_1 ... relu4_1); the decoders
unpool with the encoder's max-pooling indices, which keeps structure sharp. The
content's features are whitened and re-coloured with the style's covariance at
relu4_1, then again at each shallower level on the previous result. The
smoothing step of FastPhotoStyle is done here by the meta-smoothing module.

Weights: the published `photo_wct.pth` (a state dict) loads strictly. Module
names match its keys: `e1`..`e4` encoders and `d1`..`d4` decoders, each with
`conv0`, `conv1_1`, ... `conv4_1` as in that checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mvstylizer_common.errors import WeightsError
from services.stylizer.models.base import StyleModel
from services.stylizer.models.registry import register_model
from services.stylizer.weight_files import read_checkpoint

# (name, in channels, out channels, level that needs it); "pool" entries carry their index instead of channels.
_ENCODER_LAYERS = (
    ("conv0", 3, 3, 1),
    ("conv1_1", 3, 64, 1),
    ("conv1_2", 64, 64, 2),
    ("pool1", 0, 0, 2),
    ("conv2_1", 64, 128, 2),
    ("conv2_2", 128, 128, 3),
    ("pool2", 0, 0, 3),
    ("conv3_1", 128, 256, 3),
    ("conv3_2", 256, 256, 4),
    ("conv3_3", 256, 256, 4),
    ("conv3_4", 256, 256, 4),
    ("pool3", 0, 0, 4),
    ("conv4_1", 256, 512, 4),
)
# The decoder of level L runs the blocks of levels L, L-1, ..., 1 in this order.
_DECODER_BLOCKS = {
    4: (("conv4_1", 512, 256), ("unpool3", 0, 0), ("conv3_4", 256, 256), ("conv3_3", 256, 256), ("conv3_2", 256, 256)),
    3: (("conv3_1", 256, 128), ("unpool2", 0, 0), ("conv2_2", 128, 128)),
    2: (("conv2_1", 128, 64), ("unpool1", 0, 0), ("conv1_2", 64, 64)),
    1: (("conv1_1", 64, 3),),
}
# Feature names whose outputs are the WCT levels.
_LEVEL_OUTPUTS = {"conv1_1": 1, "conv2_1": 2, "conv3_1": 3, "conv4_1": 4}


def _conv(cin: int, cout: int, name: str) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1 if name == "conv0" else 3)


def _padded(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    if conv.kernel_size[0] == 3:
        x = F.pad(x, (1, 1, 1, 1), mode="reflect")
    return conv(x)


class VGGEncoder(nn.Module):
    """VGG-19 from the input to relu{level}_1 (with a leading 1x1 colour conv, as in PhotoWCT)."""

    def __init__(self, level: int):
        super().__init__()
        self.level = level
        self.layers = [entry for entry in _ENCODER_LAYERS if entry[3] <= level]
        for name, cin, cout, _ in self.layers:
            if name.startswith("conv"):
                self.add_module(name, _conv(cin, cout, name))

    def forward(self, x: torch.Tensor, keep_levels: bool = False):
        """-> (features, pooling {index: (indices, size)}, {level: features} when keep_levels)."""
        pools: dict[int, tuple[torch.Tensor, torch.Size]] = {}
        levels: dict[int, torch.Tensor] = {}
        for name, *_ in self.layers:
            if name.startswith("pool"):
                size = x.shape
                x, indices = F.max_pool2d(x, 2, 2, return_indices=True)
                pools[int(name[-1])] = (indices, size)
                continue
            x = _padded(getattr(self, name), x)
            if name != "conv0":
                x = F.relu(x)
            if keep_levels and name in _LEVEL_OUTPUTS:
                levels[_LEVEL_OUTPUTS[name]] = x
        return x, pools, levels


class VGGDecoder(nn.Module):
    """relu{level}_1 features -> image, unpooling with the encoder's indices."""

    def __init__(self, level: int):
        super().__init__()
        self.level = level
        self.layers = [entry for lvl in range(level, 0, -1) for entry in _DECODER_BLOCKS[lvl]]
        for name, cin, cout in self.layers:
            if name.startswith("conv"):
                self.add_module(name, _conv(cin, cout, name))

    def forward(self, x: torch.Tensor, pools: dict[int, tuple[torch.Tensor, torch.Size]]) -> torch.Tensor:
        for name, *_ in self.layers:
            if name.startswith("unpool"):
                indices, size = pools[int(name[-1])]
                x = F.max_unpool2d(x, indices, 2, 2, output_size=size[-2:])
                continue
            x = _padded(getattr(self, name), x)
            if name != "conv1_1":
                x = F.relu(x)
        return x


def _covariance(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """CxN -> (Cx1 mean, CxC covariance), in float64."""
    features = features.double()
    mean = features.mean(dim=1, keepdim=True)
    centred = features - mean
    return mean, centred @ centred.T / max(features.shape[1] - 1, 1)


def _matrix_power(cov: torch.Tensor, power: float, floor: float = 1e-5) -> torch.Tensor:
    """cov^power over the eigen-directions with eigenvalue above floor (the rest are dropped)."""
    values, vectors = torch.linalg.eigh(cov)
    keep = values > floor
    values, vectors = values[keep], vectors[:, keep]
    return vectors @ torch.diag(values**power) @ vectors.T


@dataclass
class WCTStyle:
    """Per level: the style features' mean and colouring matrix (covariance^1/2)."""

    levels: dict[int, tuple[torch.Tensor, torch.Tensor]]


def whiten_colour(content: torch.Tensor, style_mean: torch.Tensor, colouring: torch.Tensor) -> torch.Tensor:
    """1xCxHxW content features -> the same with the style's mean and covariance."""
    _, channels, height, width = content.shape
    flat = content[0].reshape(channels, -1)
    mean, cov = _covariance(flat)
    # +I as in PhotoWCT: keeps the whitening stable on flat regions.
    whitening = _matrix_power(cov + torch.eye(channels, dtype=cov.dtype, device=cov.device), -0.5)
    coloured = colouring @ (whitening @ (flat.double() - mean)) + style_mean
    return coloured.to(content.dtype).reshape(1, channels, height, width)


class PhotoWCT(StyleModel):
    def __init__(self):
        super().__init__()
        for level in (1, 2, 3, 4):
            self.add_module(f"e{level}", VGGEncoder(level))
            self.add_module(f"d{level}", VGGDecoder(level))

    def encode_style(self, style: torch.Tensor) -> WCTStyle:
        _, _, levels = self.e4(style, keep_levels=True)
        coded = {}
        for level, features in levels.items():
            mean, cov = _covariance(features[0].flatten(1))
            coded[level] = (mean, _matrix_power(cov, 0.5))
        return WCTStyle(coded)

    def forward(self, content: torch.Tensor, style: WCTStyle) -> torch.Tensor:
        outputs = []
        for image in content.split(1):
            for level in (4, 3, 2, 1):
                features, pools, _ = getattr(self, f"e{level}")(image)
                image = getattr(self, f"d{level}")(whiten_colour(features, *style.levels[level]), pools)
            outputs.append(image)
        return torch.cat(outputs).clamp(0.0, 1.0)


def load_photo_wct(path: str) -> PhotoWCT:
    """A PhotoWCT with the state dict in `path` (the published photo_wct.pth layout), loaded strictly."""
    state = read_checkpoint(path)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"weight file {path} does not hold a state dict")
    model = PhotoWCT()
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in expected.keys() & state.keys() if tuple(state[k].shape) != tuple(expected[k].shape))
    if missing or unexpected or wrong:
        details = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                details.append(f"{label}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''} ({len(keys)})")
        raise WeightsError(f"weight file {path} is not a PhotoWCT checkpoint; " + "; ".join(details))
    model.load_state_dict(state, strict=True)
    return model


@register_model(
    "photowct",
    description="PhotoWCT (FastPhotoStyle's stylizer); load the published photo_wct.pth with --weights photowct=PATH",
    needs_weights=True,
)
def build_photo_wct(*, weights: str | None = None) -> StyleModel:
    if not weights:
        raise WeightsError("model 'photowct' needs a weight file: pass --weights photowct=PATH")
    return load_photo_wct(weights)
