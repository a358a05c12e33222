"""Size limits every tier applies to what a client may ask for, checked before anything is allocated.

Pure (no gRPC, no codecs), so the interpolation core and the stylizer's sessions share it."""

from __future__ import annotations

import numpy as np

from mvstylizer_common.errors import InvalidInputError, LimitExceededError

# A decoded frame larger than this is refused (8K UHD is 33 Mpx).
DEFAULT_MAX_PIXELS = 40_000_000
# A frame side no decoder or encoder takes (and no uint32 overflow reaches OpenCV).
MAX_FRAME_SIDE = 65_535
# A photo file (style, mask, content) is read whole into memory, and no more than this: an
# uncompressed 8-bit RGB photo at DEFAULT_MAX_PIXELS (120 MB) fits, /dev/zero or a video does not.
MAX_IMAGE_FILE_BYTES = 128 * 1024 * 1024


def check_frame_size(width: object, height: object, what: str = "frame", max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Bound a frame size a client asks for, before anything is allocated for it.

    InvalidInputError for nonsense (a side that is not a whole number from 1 to MAX_FRAME_SIDE),
    LimitExceededError for a frame of more than max_pixels pixels."""
    for side in (width, height):
        if isinstance(side, bool) or not isinstance(side, int | np.integer) or not 1 <= side <= MAX_FRAME_SIDE:
            raise InvalidInputError(
                f"{what} {width}x{height}: each side must be a whole number of pixels from 1 to {MAX_FRAME_SIDE}"
            )
    if int(width) * int(height) > max_pixels:
        raise LimitExceededError(f"{what} {width}x{height} is over the limit of {max_pixels / 1e6:g} Mpx")
