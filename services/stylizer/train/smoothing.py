"""Self-supervised training of the meta-smoothing module.

The target is known because the degradation is synthetic: a photo crop at full
resolution is given a spatially varying grade (two random grades blended by a
smooth random mask); the same grade applied at working resolution, then noised,
blocked, blurred across edges or over-sharpened, is the input. The module must
bring it back to full resolution, clean, for scale factors from 1 to 4.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from services.stylizer.smoothing import MetaSmoothing, SmoothingConfig
from services.stylizer.train.data import random_crop
from services.stylizer.train.grades import RandomGrade
from services.stylizer.train.loop import optimise

MAX_SCALE = 4.0


@dataclass(frozen=True)
class SmoothingTraining:
    steps: int = 600
    batch: int = 8
    size: int = 192  # full-resolution crop side
    learning_rate: float = 3e-3
    seed: int = 0


def _smooth_mask(batch: int, size: int, generator: torch.Generator) -> torch.Tensor:
    noise = torch.randn((batch, 1, 4, 4), generator=generator) * 3.0
    return torch.sigmoid(F.interpolate(noise, size=(size, size), mode="bicubic", align_corners=False))


def _graded(images: torch.Tensor, mask: torch.Tensor, first: RandomGrade, second: RandomGrade) -> torch.Tensor:
    return mask * first.apply(images) + (1.0 - mask) * second.apply(images)


def distort(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """What stylizers get wrong: noise, 8x8 blocking, colour bleeding (blur), halos (over-sharpening)."""
    batch = images.shape[0]

    def amount(high: float) -> torch.Tensor:
        # Each distortion on a quarter of the items: most stylizations are clean, and the
        # filter must not learn to flatten looks that are merely non-linear.
        on = (torch.rand((batch, 1, 1, 1), generator=generator) < 0.25).float()
        return on * high * torch.rand((batch, 1, 1, 1), generator=generator)

    height, width = images.shape[-2:]
    blurred = F.avg_pool2d(F.pad(images, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
    blocks = F.interpolate(
        F.adaptive_avg_pool2d(images, (max(1, height // 8), max(1, width // 8))), size=(height, width), mode="nearest"
    )
    out = images + amount(1.0) * (blurred - images)  # bleeding
    out = out + amount(1.0) * (images - blurred)  # halos
    out = out + amount(0.5) * (blocks - images)  # blocking
    out = out + amount(0.04) * torch.randn(images.shape, generator=generator)  # noise
    return out.clamp(0.0, 1.0)


def make_batch(photos: list[torch.Tensor], settings: SmoothingTraining, scale: float, generator: torch.Generator):
    """(low content, low distorted stylization, high content, high clean stylization)."""
    size = settings.size
    picks = torch.randint(0, len(photos), (settings.batch,), generator=generator).tolist()
    high = torch.stack([random_crop(photos[i], size, generator, min_scale=0.5) for i in picks])
    low_size = max(8, round(size / scale))
    low = F.interpolate(high, size=(low_size, low_size), mode="area")
    first, second = RandomGrade(settings.batch, generator), RandomGrade(settings.batch, generator)
    mask = _smooth_mask(settings.batch, size, generator)
    target = _graded(high, mask, first, second)
    low_mask = F.interpolate(mask, size=(low_size, low_size), mode="area")
    stylized = distort(_graded(low, low_mask, first, second), generator)
    return low, stylized, high, target


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1.0 / F.mse_loss(a, b).clamp_min(1e-10)))


def evaluate(module: MetaSmoothing, batches) -> dict[str, float]:
    """PSNR (dB) of the module and of plain bicubic upscaling against the clean full-resolution target."""
    ours, bicubic = [], []
    with torch.no_grad():
        for low, stylized, high, target in batches:
            ours.append(_psnr(module(low, stylized, high), target))
            up = F.interpolate(stylized, size=high.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
            bicubic.append(_psnr(up, target))
    return {"psnr_db": sum(ours) / len(ours), "bicubic_psnr_db": sum(bicubic) / len(bicubic)}


def train_smoothing(photos: list[torch.Tensor], settings: SmoothingTraining, log=print) -> tuple[MetaSmoothing, dict]:
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    module = MetaSmoothing(SmoothingConfig())
    validation_generator = torch.Generator().manual_seed(settings.seed + 1)
    validation = {
        scale: [make_batch(photos, settings, scale, validation_generator) for _ in range(3)]
        for scale in (1.0, 2.0, 4.0)
    }
    before = {scale: evaluate(module, batches) for scale, batches in validation.items()}
    started = time.perf_counter()

    def loss_at(_step: int) -> torch.Tensor:
        # Log-uniform scale in [1, MAX_SCALE].
        scale = math.exp(math.log(MAX_SCALE) * torch.rand((), generator=generator).item())
        low, stylized, high, target = make_batch(photos, settings, scale, generator)
        return F.l1_loss(module(low, stylized, high), target)

    optimise(
        module,
        loss_at,
        steps=settings.steps,
        learning_rate=settings.learning_rate,
        name="smoothing",
        log=log,
        log_every=100,
    )
    after = {scale: evaluate(module, batches) for scale, batches in validation.items()}
    for scale in validation:
        log(
            f"scale {scale:g}: untrained {before[scale]['psnr_db']:.2f} dB, trained {after[scale]['psnr_db']:.2f} dB,"
            f" bicubic {after[scale]['bicubic_psnr_db']:.2f} dB"
        )
    report = {
        "steps": settings.steps,
        "batch": settings.batch,
        "crop": settings.size,
        "learning_rate": settings.learning_rate,
        "seed": settings.seed,
        "photos": len(photos),
        "loss": "L1 to the clean full-resolution graded crop",
        "validation": {
            f"scale_{scale:g}": {
                "untrained_psnr_db": round(before[scale]["psnr_db"], 2),
                "trained_psnr_db": round(after[scale]["psnr_db"], 2),
                "bicubic_psnr_db": round(after[scale]["bicubic_psnr_db"], 2),
            }
            for scale in validation
        },
        "eps_at_scale": {f"{s:g}": float(f"{module.eps_for(s).item():.3g}") for s in (1.0, 2.0, 4.0)},
        "seconds": round(time.perf_counter() - started, 1),
    }
    return module, report
