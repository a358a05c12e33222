"""Model registry. Importing this package registers every built-in model."""

from services.stylizer.models import colour_transfer as _colour_transfer  # noqa: F401  (registers)
from services.stylizer.models import photo_wct as _photo_wct  # noqa: F401  (registers)
from services.stylizer.models import preset as _preset  # noqa: F401  (registers)
from services.stylizer.models import region as _region  # noqa: F401  (registers)
from services.stylizer.models.base import StyleCode, StyleModel
from services.stylizer.models.registry import (
    DEFAULT_MODEL,
    ModelSpec,
    get_model,
    get_model_spec,
    list_models,
    register_model,
)

__all__ = [
    "DEFAULT_MODEL",
    "ModelSpec",
    "StyleCode",
    "StyleModel",
    "get_model",
    "get_model_spec",
    "list_models",
    "register_model",
]
