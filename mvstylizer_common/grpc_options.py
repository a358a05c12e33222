"""Channel and server options both ends share, so limits agree on the wire."""

from __future__ import annotations

import json

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def message_size_options(max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> list[tuple[str, int]]:
    """Explicit send/receive limits (gRPC's own default receive limit is 4 MiB)."""
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
    ]


# Try a lost server again within a second, not gRPC's default of up to two minutes: a restarted
# edge server is back in use at once.
FAST_RECONNECT = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 1000)]
# Sessions spread over every address a target resolves to (replicas), not pinned to the first.
ROUND_ROBIN = ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]}))


def client_channel_options(max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> list[tuple[str, object]]:
    """A client channel's options (sync or asyncio alike): the message limits, round-robin over the
    addresses a target resolves to, and fast reconnection."""
    return [*message_size_options(max_message_bytes), ROUND_ROBIN, *FAST_RECONNECT]
