import numpy as np
import pytest

from client.keyframes import FixedIntervalSelector

FRAME = np.zeros((4, 4, 3), np.uint8)


@pytest.mark.parametrize("interval", [1, 3, 10])
def test_fixed_interval_marks_every_nth_frame_from_the_first(interval):
    selector = FixedIntervalSelector(interval)
    keys = [i for i in range(25) if selector.is_key(i, FRAME)]
    assert keys == list(range(0, 25, interval))


def test_interval_below_one_is_rejected():
    with pytest.raises(ValueError):
        FixedIntervalSelector(0)
