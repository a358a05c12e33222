import numpy as np
import pytest

from client.keyframes import AdaptiveSelector, FixedIntervalSelector, make_selector
from tests.media import moving_square_frame, textured_background


def shot_a(i: int) -> np.ndarray:
    return moving_square_frame(i, step=1)


def shot_b(i: int) -> np.ndarray:
    """A different scene: other colours, other layout."""
    frame = np.full((64, 96, 3), (20, 90, 30), np.uint8)
    frame[10:50, 20 + i : 50 + i] = (230, 30, 200)
    return frame


def keys(selector, frames) -> list[tuple[int, str]]:
    decisions = [selector.decide(i, f) for i, f in enumerate(frames)]
    return [(i, d.reason) for i, d in enumerate(decisions) if d.is_key]


@pytest.mark.parametrize("interval", [1, 3, 10])
def test_fixed_interval_marks_every_nth_frame_from_the_first(interval):
    selector = FixedIntervalSelector(interval)
    frames = [shot_a(i) for i in range(25)]
    assert [i for i, _ in keys(selector, frames)] == list(range(0, 25, interval))


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError):
        FixedIntervalSelector(0)
    with pytest.raises(ValueError):
        AdaptiveSelector(max_gap=0)
    with pytest.raises(ValueError):
        make_selector("sometimes", 5, 5)


@pytest.mark.parametrize("policy", ["fixed", "auto"])
def test_a_hard_cut_is_always_a_key_frame(policy):
    frames = [shot_a(i) for i in range(7)] + [shot_b(i) for i in range(8)]
    selector = make_selector(policy, 100, 100)
    found = keys(selector, frames)
    assert (7, "cut") in found
    assert [i for i, _ in found] == [0, 7]  # nothing else in two short, calm shots


def test_auto_adds_keys_for_motion_and_respects_the_maximum_gap():
    still = [textured_background()] * 40
    assert [i for i, _ in keys(AdaptiveSelector(max_gap=12), still)] == [0, 12, 24, 36]
    world = np.concatenate([textured_background(seed=s) for s in range(6)], axis=1)
    pan = [np.ascontiguousarray(world[:, 4 * i : 4 * i + 96]) for i in range(60)]
    found = keys(AdaptiveSelector(max_gap=100), pan)
    assert len(found) >= 3
    assert {reason for _, reason in found[1:]} <= {"motion", "unexplained"}
