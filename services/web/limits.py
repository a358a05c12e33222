"""What one browser session may ask of the gateway, checked before anything reaches the stylizer.

Every breach closes that session's socket with a WebSocket close code and a one-line reason; the
gateway and the other sessions go on."""

from __future__ import annotations

from dataclasses import dataclass

from mvstylizer_common.errors import InvalidInputError
from mvstylizer_common.token_bucket import TokenBucket

MB = 1024 * 1024
# A phone's 1080p JPEG key frame is under 1 MB and a PNG one a few: 16 MB leaves room, not a heap.
MAX_MESSAGE_BYTES = 16 * MB
# Sessions stylizing at once (each holds a stylizer stream; the edge GPU is shared by all of them).
MAX_SESSIONS = 8
# Key frames a second per session: a device sends far fewer (only keys cross the network); a page
# sending every frame of a 30 frames/s camera is still within it.
MAX_KEY_RATE = 30.0
# The style photo, as sent: a phone's photo (the page may scale it down first).
MAX_STYLE_BYTES = 12 * MB
MAX_STYLE_PIXELS = 25_000_000
# A key frame's declared size: 4K UHD, the largest camera frame a device sends.
MAX_KEY_FRAME_PIXELS = 3840 * 2160
# A session that sends no SessionConfig this long after it opened is closed.
CONFIG_TIMEOUT_S = 10.0

# WebSocket close codes (RFC 6455, 7.4.1) the gateway uses.
CLOSE_NORMAL = 1000
CLOSE_UNSUPPORTED = 1003  # a text message: only binary protobuf messages are spoken
CLOSE_BAD_DATA = 1007  # bytes that are not a StylizeRequest, an image that is not one
CLOSE_POLICY = 1008  # a message out of protocol, a rate over the limit, a refused token
CLOSE_TOO_BIG = 1009  # a message, a style photo or a key frame over its limit
CLOSE_ERROR = 1011  # the stylizer failed in a way the client cannot mend
CLOSE_TRY_LATER = 1013  # the gateway or the stylizer is busy or unreachable: reconnect later


@dataclass(frozen=True)
class SessionLimits:
    max_sessions: int = MAX_SESSIONS
    max_message_bytes: int = MAX_MESSAGE_BYTES
    max_key_rate: float = MAX_KEY_RATE
    max_style_bytes: int = MAX_STYLE_BYTES
    max_style_pixels: int = MAX_STYLE_PIXELS
    max_key_frame_pixels: int = MAX_KEY_FRAME_PIXELS
    config_timeout_s: float = CONFIG_TIMEOUT_S

    def check(self) -> None:
        """InvalidInputError naming the flag, for a limit that makes no sense."""
        if self.max_sessions < 1:
            raise InvalidInputError(f"--max-sessions {self.max_sessions}: expected 1 or more")
        if self.max_message_bytes < 1024:
            raise InvalidInputError(f"--max-message-mb {self.max_message_bytes / MB:g}: expected at least 0.001")
        if not self.max_key_rate > 0:
            raise InvalidInputError(f"--max-key-rate {self.max_key_rate}: expected a positive number a second")
        if not 0 < self.max_style_bytes <= self.max_message_bytes:
            raise InvalidInputError(
                f"--max-style-mb {self.max_style_bytes / MB:g}: expected more than 0 and at most --max-message-mb"
            )


class KeyRate(TokenBucket):
    """`rate` key frames a second on average, bursts of up to one second's worth."""

    def __init__(self, rate: float, now: float):
        super().__init__(rate, max(1.0, rate), now)
