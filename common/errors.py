"""Domain errors, one small hierarchy, mapped to gRPC status codes at the boundary."""

from __future__ import annotations

import grpc

# Trailing metadata on a refusal that is worth retrying (a busy server): milliseconds to wait first.
RETRY_AFTER_KEY = "mvs-retry-after-ms"


class MvStylizerError(Exception):
    """Base of every error the system raises on purpose."""

    status_code = grpc.StatusCode.INTERNAL


class InvalidInputError(MvStylizerError):
    """The caller sent something unusable (bad frame, bad style photo, bad order)."""

    status_code = grpc.StatusCode.INVALID_ARGUMENT


class CorruptImageError(InvalidInputError):
    """Image bytes that do not decode."""


class BadStyleError(InvalidInputError):
    """A style photo that cannot be used."""


class UnknownModelError(InvalidInputError):
    """A model name that is not registered."""


class LimitExceededError(MvStylizerError):
    """A size or count limit was hit."""

    status_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class ServerBusyError(LimitExceededError):
    """Too much work queued on this server right now; the same request may succeed later or elsewhere."""

    retry_after_ms = 100


class TooSlowError(MvStylizerError):
    """The caller did not send what was expected in time."""

    status_code = grpc.StatusCode.DEADLINE_EXCEEDED


class WeightsError(MvStylizerError):
    """A weight file is missing or does not match its model."""

    status_code = grpc.StatusCode.FAILED_PRECONDITION
