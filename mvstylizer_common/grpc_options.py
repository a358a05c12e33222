"""Channel and server options both ends share, so limits agree on the wire."""

from __future__ import annotations

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def message_size_options(max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> list[tuple[str, int]]:
    """Explicit send/receive limits (gRPC's own default receive limit is 4 MiB)."""
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
    ]
