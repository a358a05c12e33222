import numpy as np
import pytest

from mvstylizer_common.errors import InvalidInputError, LimitExceededError
from mvstylizer_common.limits import MAX_FRAME_SIDE, check_frame_size


@pytest.mark.parametrize(
    ("width", "height", "error"),
    [
        (12000, 10000, LimitExceededError),  # 120 Mpx: 4.9 GiB of maps and frames
        (0, 10, InvalidInputError),
        (10, -1, InvalidInputError),
        (2**32 - 1, 1, InvalidInputError),
        (MAX_FRAME_SIDE + 1, 1, InvalidInputError),
        (2.5, 4, InvalidInputError),
        (True, 4, InvalidInputError),
    ],
)
def test_frame_sizes_a_client_asks_for_are_bounded(width, height, error):
    with pytest.raises(error):
        check_frame_size(width, height)


@pytest.mark.parametrize(("width", "height"), [(1, 1), (MAX_FRAME_SIDE, 1), (7680, 4320), (np.int64(33), 17)])
def test_frame_sizes_within_the_limits_pass(width, height):
    check_frame_size(width, height)
