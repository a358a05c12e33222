import cv2
import numpy as np
import pytest

from client.device.keyframes import AdaptiveSelector, FixedIntervalSelector, make_selector
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


def test_adaptive_decisions_hold_on_the_frames_the_flow_shrinks():
    """The pipeline hands the selector the flow's 320-px frames: the same keys as at full size."""
    rng = np.random.default_rng(3)
    noise = cv2.GaussianBlur(rng.uniform(0, 255, (360, 1000, 3)).astype(np.float32), (0, 0), 4)
    world = np.clip(127 + 3 * (noise - 127), 0, 255).astype(np.uint8)
    world = cv2.resize(cv2.resize(world, (250, 90), interpolation=cv2.INTER_AREA), (1000, 360))
    pan = [np.ascontiguousarray(world[:, 6 * i : 6 * i + 640]) for i in range(40)]
    other = (world[:, ::-1] * np.array([0.3, 0.9, 0.5])).astype(np.uint8)  # another place, greener
    cut = [np.ascontiguousarray(other[:, 4 * i : 4 * i + 640]) for i in range(20)]
    frames = pan + cut
    small = [cv2.resize(f, (320, 180), interpolation=cv2.INTER_AREA) for f in frames]
    full_keys = keys(AdaptiveSelector(), frames)
    assert (40, "cut") in full_keys and any(reason in ("motion", "unexplained") for _, reason in full_keys)
    assert keys(AdaptiveSelector(), small) == full_keys
    assert AdaptiveSelector().looks_at_frames and FixedIntervalSelector(3).looks_at_frames
    assert not FixedIntervalSelector(1).looks_at_frames
