"""Name -> builder registry, in the manner of torchvision's get_model/register_model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mvstylizer_common.errors import UnknownModelError, WeightsError
from services.stylizer.models.base import StyleModel

DEFAULT_MODEL = "regions"


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about a model before building it."""

    name: str
    description: str
    builder: Callable[..., StyleModel]
    # Long side, in pixels, the model runs at unless the session asks otherwise.
    work_long_side: int = 512
    # True when the model cannot run without a weight file the user supplies.
    needs_weights: bool = False
    # Weight file used when none is given (shipped with the project); "" for none.
    default_weights: str = ""


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    *,
    description: str,
    work_long_side: int = 512,
    needs_weights: bool = False,
    default_weights: str = "",
) -> Callable[[Callable[..., StyleModel]], Callable[..., StyleModel]]:
    """Decorator for a keyword-only builder: builder(*, weights: str | None) -> StyleModel."""

    def wrap(builder: Callable[..., StyleModel]) -> Callable[..., StyleModel]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelSpec(name, description, builder, work_long_side, needs_weights, default_weights)
        return builder

    return wrap


def get_model_spec(name: str) -> ModelSpec:
    spec = _REGISTRY.get(name)
    if spec is None:
        raise UnknownModelError(f"unknown model {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return spec


def get_model(name: str, *, weights: str | None = None) -> StyleModel:
    """Build a registered model (in eval mode, on the CPU; move it with .to(device))."""
    spec = get_model_spec(name)
    if spec.needs_weights and not weights:
        raise WeightsError(f"model {name!r} needs a weight file: pass --weights {name}=PATH")
    model = spec.builder(weights=weights)
    return model.eval()


def list_models() -> list[ModelSpec]:
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]
