"""Domain errors, one small hierarchy. No transport here: mvstylizer_common/status.py maps them to gRPC
status codes at the boundary."""

from __future__ import annotations


class MvStylizerError(Exception):
    """Base of every error the system raises on purpose."""


class InvalidInputError(MvStylizerError):
    """The caller sent something unusable (bad frame, bad style photo, bad order)."""


class CorruptImageError(InvalidInputError):
    """Image bytes that do not decode."""


class BadStyleError(InvalidInputError):
    """A style photo that cannot be used."""


class UnknownModelError(InvalidInputError):
    """A model name that is not registered."""


class LimitExceededError(MvStylizerError):
    """A size or count limit was hit."""


class ServerBusyError(LimitExceededError):
    """Too much work queued on this server right now; the same request may succeed later or elsewhere."""

    retry_after_ms = 100  # how long a caller should wait before trying again


class TooSlowError(MvStylizerError):
    """The caller did not send what was expected in time."""


class WeightsError(MvStylizerError):
    """A weight file is missing or does not match its model."""
