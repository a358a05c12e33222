"""Self-supervised training of the preset stylizer.

Each example is one photo crop under two random grades: the first is the content,
the second is the target, and the style photo is a different crop of the same
photo under the second grade (so the model must read the grade, not copy pixels).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from services.stylizer.models.preset import PresetConfig, PresetStyle, PresetStylizer, luminance
from services.stylizer.train.data import random_crop
from services.stylizer.train.grades import RandomGrade
from services.stylizer.train.loop import optimise


@dataclass(frozen=True)
class PresetTraining:
    steps: int = 1000
    batch: int = 32
    learning_rate: float = 1e-3
    seed: int = 0
    validation_batches: int = 8
    # Share of examples whose style photo shows the same crop as the content (rearranged);
    # the rest use another crop of the same photo.
    same_view: float = 1.0
    # Weight of the structure term: how much the content's local contrast is worth against the grade.
    structure_weight: float = 1.0


def make_batch(
    photos: list[torch.Tensor], batch: int, size: int, generator: torch.Generator, same_view: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(content, style, target), each Bx3xSxS."""
    picks = torch.randint(0, len(photos), (batch,), generator=generator).tolist()
    crops = torch.stack([random_crop(photos[i], size, generator) for i in picks])
    other = torch.stack([random_crop(photos[i], size, generator) for i in picks])
    # The same pixels rotated a quarter turn: the colours are the content's, their places are not.
    same = (torch.rand((batch, 1, 1, 1), generator=generator) < same_view).float()
    style_crops = same * crops.rot90(1, dims=(2, 3)) + (1.0 - same) * other
    content_grade, style_grade = RandomGrade(batch, generator), RandomGrade(batch, generator)
    return content_grade.apply(crops), style_grade.apply(style_crops), style_grade.apply(crops)


def gradient_magnitude(images: torch.Tensor) -> torch.Tensor:
    """Bx3xHxW -> Bx1x(H-1)x(W-1) magnitude of the grey image's finite-difference gradient."""
    grey = luminance(images)
    dx = grey[:, :, :-1, 1:] - grey[:, :, :-1, :-1]
    dy = grey[:, :, 1:, :-1] - grey[:, :, :-1, :-1]
    return torch.sqrt(dx * dx + dy * dy + 1e-8)


def loss_terms(output: torch.Tensor, content: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(fidelity to the known grade, change of the content's local contrast)."""
    return F.l1_loss(output, target), F.l1_loss(gradient_magnitude(output), gradient_magnitude(content))


def encode_batch(model: PresetStylizer, style: torch.Tensor) -> PresetStyle:
    """encode_style for a batch of style thumbnails (one style per item)."""
    return model.encode_style(style)


def evaluate(model: PresetStylizer, batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> float:
    """Mean L1 error (0..1 scale) of the model's output against the known targets."""
    with torch.no_grad():
        errors = [F.l1_loss(model(content, encode_batch(model, style)), target) for content, style, target in batches]
    return float(torch.stack(errors).mean())


def train_preset(photos: list[torch.Tensor], settings: PresetTraining, log=print) -> tuple[PresetStylizer, dict]:
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    model = PresetStylizer(PresetConfig())
    size = model.config.thumb_size
    validation_generator = torch.Generator().manual_seed(settings.seed + 1)
    validation = [
        make_batch(photos, settings.batch, size, validation_generator, settings.same_view)
        for _ in range(settings.validation_batches)
    ]
    affine_only_error = evaluate(model, validation)  # the untrained model is exactly the affine (mkl) map
    started = time.perf_counter()

    def loss_at(_step: int) -> torch.Tensor:
        content, style, target = make_batch(photos, settings.batch, size, generator, settings.same_view)
        fidelity, structure = loss_terms(model(content, encode_batch(model, style)), content, target)
        return fidelity + settings.structure_weight * structure

    optimise(
        model,
        loss_at,
        steps=settings.steps,
        learning_rate=settings.learning_rate,
        name="preset",
        log=log,
        log_every=250,
    )
    trained_error = evaluate(model, validation)
    log(f"validation L1: affine only {affine_only_error:.4f}, trained {trained_error:.4f}")
    report = {
        "steps": settings.steps,
        "batch": settings.batch,
        "learning_rate": settings.learning_rate,
        "seed": settings.seed,
        "photos": len(photos),
        "same_view": settings.same_view,
        "structure_weight": settings.structure_weight,
        "loss": "L1 to the known graded target (RGB, 0..1) + structure_weight * L1 of grey gradient magnitudes",
        "validation_l1_affine_only": round(affine_only_error, 5),
        "validation_l1_trained": round(trained_error, 5),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return model, report
