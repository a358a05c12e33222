"""One session's stylization: style encoded once, then key frames at any output size."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from mvstylizer_common.errors import BadStyleError, InvalidInputError
from services.stylizer.masks import check_labels
from services.stylizer.models import StyleCode, StyleModel
from services.stylizer.smoothing import MetaSmoothing

# Style photos smaller than this carry too little colour information to trust.
MIN_STYLE_PIXELS = 16 * 16


def to_tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    """HxWx3 uint8 -> 1x3xHxW float32 in [0, 1]."""
    tensor = torch.from_numpy(np.ascontiguousarray(rgb)).to(device)
    return tensor.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """1x3xHxW in [0, 1] -> HxWx3 uint8."""
    scaled = tensor[0].clamp(0.0, 1.0).mul(255.0).add_(0.5).to(torch.uint8)
    return scaled.permute(1, 2, 0).contiguous().cpu().numpy()


def work_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """Size with the given long side, never upscaling."""
    factor = min(1.0, long_side / max(width, height))
    return max(1, round(width * factor)), max(1, round(height * factor))


@dataclass
class StylizeSettings:
    work_long_side: int
    output_width: int = 0  # 0: the key frame's own width
    output_height: int = 0  # 0: the key frame's own height
    # 0..1: how far from the content's own look towards the full transfer (models with supports_strength).
    strength: float = 1.0


def check_strength(model: StyleModel, strength: float) -> None:
    if not 0.0 <= strength <= 1.0:
        raise InvalidInputError(f"strength {strength} is outside 0..1")
    if strength != 1.0 and not getattr(model, "supports_strength", False):
        raise InvalidInputError(f"model {type(model).__name__} has no strength control (only strength 1)")


def check_label_support(model: StyleModel) -> None:
    if not getattr(model, "supports_labels", False):
        raise InvalidInputError(f"model {type(model).__name__} does not take label masks")


class StylizationSession:
    """Holds a model and an encoded style; stylizes frames one by one (model, then meta-smoothing)."""

    def __init__(
        self,
        model: StyleModel,
        style_rgb: np.ndarray,
        settings: StylizeSettings,
        device: torch.device,
        smoothing: MetaSmoothing,
        style_code: StyleCode | None = None,
        style_labels: np.ndarray | None = None,
    ):
        """style_code: the style already encoded (e.g. from a cache); style_rgb and style_labels are then
        not used. style_labels: HxW integer label map of the style photo (any size of its shape: resized
        nearest-neighbour), e.g. services.stylizer.masks.labels_from_mask(mask); models with
        supports_labels only."""
        check_strength(model, settings.strength)
        if style_labels is not None:
            check_label_support(model)
        if style_code is None and style_rgb.shape[0] * style_rgb.shape[1] < MIN_STYLE_PIXELS:
            raise BadStyleError(f"style photo of {style_rgb.shape[1]}x{style_rgb.shape[0]} is too small")
        if settings.work_long_side < 16:
            raise InvalidInputError(f"working long side {settings.work_long_side} is too small")
        if (settings.output_width == 0) != (settings.output_height == 0):
            raise InvalidInputError("output width and height must both be set or both be 0")
        self.model = model
        self.smoothing = smoothing
        self.settings = settings
        self.device = device
        if style_code is not None:
            self.style_code: StyleCode = style_code
            return
        style_small = cv2.resize(
            style_rgb,
            work_size(style_rgb.shape[1], style_rgb.shape[0], settings.work_long_side),
            interpolation=cv2.INTER_AREA,
        )
        with torch.inference_mode():
            style_t = to_tensor(style_small, device)
            if style_labels is None:
                self.style_code = model.encode_style(style_t)
            else:
                style_size = (style_rgb.shape[1], style_rgb.shape[0])
                small_size = (style_small.shape[1], style_small.shape[0])
                labels = check_labels(style_labels, small_size, "style mask", style_size)
                self.style_code = model.encode_style(style_t, labels=labels)

    def stylize(self, content_rgb: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """HxWx3 uint8 content -> stylized uint8 at the output size.

        labels: the frame's HxW integer label map (any size of its shape: resized nearest-neighbour), for models
        with supports_labels; the session's style must then have been given style labels."""
        height, width = content_rgb.shape[:2]
        out_w = self.settings.output_width or width
        out_h = self.settings.output_height or height
        low_w, low_h = work_size(width, height, self.settings.work_long_side)
        low = cv2.resize(content_rgb, (low_w, low_h), interpolation=cv2.INTER_AREA)
        high = content_rgb
        if (out_w, out_h) != (width, height):
            high = cv2.resize(content_rgb, (out_w, out_h), interpolation=cv2.INTER_AREA)
        with torch.inference_mode():
            low_t = to_tensor(low, self.device)
            options = {}
            if labels is not None:
                check_label_support(self.model)
                options["labels"] = check_labels(labels, (low_w, low_h), "content mask", (width, height))
            if self.settings.strength != 1.0:
                options["strength"] = self.settings.strength
            stylized_low, state = self.model.render_parts(low_t, self.style_code, **options)
            smoothed = self.smoothing.render(low_t, stylized_low, high)
        return self.model.finish(high, smoothed, state)
