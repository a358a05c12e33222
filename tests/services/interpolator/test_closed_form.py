"""The device's closed form: a content's colours moved to a style photo's, in one 3x4 map."""

import numpy as np

from services.interpolator.closed_form import colour_statistics, transfer_transform
from services.interpolator.core import apply_colour_transform


def test_closed_form_moves_the_colours_to_the_style():
    rng = np.random.default_rng(0)
    content = rng.integers(0, 255, (72, 128, 3), dtype=np.uint8)
    style = np.zeros((60, 80, 3), np.uint8)
    style[..., 0] = rng.integers(150, 250, (60, 80))  # reds
    style[..., 2] = rng.integers(0, 40, (60, 80))
    out = apply_colour_transform(content, transfer_transform(content, colour_statistics(style)))
    assert abs(out[..., 0].mean() - style[..., 0].mean()) < 10
    assert abs(out[..., 2].mean() - style[..., 2].mean()) < 10
