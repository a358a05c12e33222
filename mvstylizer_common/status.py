"""The gRPC boundary's view of the domain errors: which status code each one ends a call with."""

from __future__ import annotations

import grpc

from mvstylizer_common.errors import InvalidInputError, LimitExceededError, MvStylizerError, TooSlowError, WeightsError

# Trailing metadata on a refusal that is worth retrying (a busy server): milliseconds to wait first.
RETRY_AFTER_KEY = "mvs-retry-after-ms"

# Most specific first: an error takes the code of the first class it is an instance of.
_STATUS_BY_ERROR: tuple[tuple[type[MvStylizerError], grpc.StatusCode], ...] = (
    (InvalidInputError, grpc.StatusCode.INVALID_ARGUMENT),
    (LimitExceededError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (TooSlowError, grpc.StatusCode.DEADLINE_EXCEEDED),
    (WeightsError, grpc.StatusCode.FAILED_PRECONDITION),
)


def status_of(error: MvStylizerError) -> grpc.StatusCode:
    """The status code a domain error ends a call with (INTERNAL for one no class here covers)."""
    for error_class, code in _STATUS_BY_ERROR:
        if isinstance(error, error_class):
            return code
    return grpc.StatusCode.INTERNAL
