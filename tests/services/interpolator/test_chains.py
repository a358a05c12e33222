"""Flows to keys checked against the motion chained frame to frame (services/interpolator/chains.py)."""

import numpy as np
import pytest

from services.interpolator.chains import (
    CHAIN_TOLERANCE,
    chain_agreement,
    chain_grid,
    chain_through,
    chains_to_key,
    checked_confidences,
)

WIDTH, HEIGHT = 320, 180


def uniform(dx: float, dy: float, width: int, height: int) -> np.ndarray:
    flow = np.empty((height, width, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    return flow


def test_the_chain_grid_is_coarse_and_keeps_the_aspect():
    assert chain_grid(WIDTH, HEIGHT) == (48, 27)
    assert chain_grid(1080, 1920) == (27, 48)


def test_steps_chain_into_the_sum_of_their_motions():
    width, height = chain_grid(WIDTH, HEIGHT)
    chained = chain_through(uniform(3, -2, width, height), uniform(5, 1, width, height), WIDTH, HEIGHT)
    np.testing.assert_allclose(chained[5:-5, 5:-5], uniform(8, -1, width, height)[5:-5, 5:-5], atol=1e-4)


def test_a_step_reads_the_onward_flow_where_the_point_went():
    # The neighbour frame's flow differs on its left and right halves; a point stepping from the left
    # half into the right half carries on with the right half's motion.
    width, height = chain_grid(WIDTH, HEIGHT)
    onward = uniform(0, 0, width, height)
    onward[:, width // 2 :, 1] = 12.0
    step = uniform(WIDTH / 4, 0, width, height)  # a quarter of the frame to the right
    chained = chain_through(step, onward, WIDTH, HEIGHT)
    assert chained[13, width // 2 - 6, 1] == pytest.approx(12.0)
    assert chained[13, 2, 1] == pytest.approx(0.0)


def test_agreement_is_one_where_the_flows_meet_and_falls_with_their_distance():
    width, height = chain_grid(WIDTH, HEIGHT)
    chained = uniform(10, 0, width, height)
    tolerance = CHAIN_TOLERANCE * WIDTH
    for apart, expected in [(0.0, 1.0), (tolerance, np.exp(-1)), (3 * tolerance, np.exp(-9))]:
        direct = uniform(10 + apart, 0, WIDTH // 4, HEIGHT // 4)  # any grid
        agreement = chain_agreement(direct, chained, WIDTH, HEIGHT)
        assert agreement.shape == (HEIGHT // 4, WIDTH // 4)
        assert agreement.mean() == pytest.approx(expected, rel=1e-4)


def test_a_flow_gone_astray_on_a_plain_surface_loses_its_confidence_and_a_true_one_keeps_it():
    # Four frames before a key, a panel moving 14 px a frame down: from frame 4 the key is 56 px down.
    # The direct flows of frames 3 and 4 matched the plain panel elsewhere (0 px, full photometric
    # confidence); frames 1 and 2 got it right.
    steps = [uniform(0, 14, WIDTH // 2, HEIGHT // 2) for _ in range(4)]  # nearest the key first
    direct = [uniform(0, 14 * (k + 1), WIDTH // 2, HEIGHT // 2) for k in range(4)]
    direct[2] = direct[3] = uniform(0, 0, WIDTH // 2, HEIGHT // 2)
    confidences = [np.ones((HEIGHT // 2, WIDTH // 2), np.float32) for _ in range(4)]
    checked = checked_confidences(direct, confidences, steps, WIDTH, HEIGHT)
    assert min(c.min() for c in checked[:2]) > 0.99
    tolerance = CHAIN_TOLERANCE * WIDTH  # 38.4 px
    for astray, off in [(checked[2], 42), (checked[3], 56)]:
        np.testing.assert_allclose(astray, np.exp(-((off / tolerance) ** 2)), rtol=1e-4)
    assert checked[3].max() < 0.15


def test_chains_are_on_the_chain_grid_nearest_the_key_first():
    steps = [uniform(1, 0, WIDTH, HEIGHT), uniform(2, 0, WIDTH, HEIGHT)]
    chains = chains_to_key(steps, WIDTH, HEIGHT)
    assert [c.shape[:2] for c in chains] == [(27, 48), (27, 48)]
    assert chains[0][13, 24, 0] == pytest.approx(1.0)
    assert chains[1][13, 24, 0] == pytest.approx(3.0)
