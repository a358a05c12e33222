import numpy as np
import pytest

from common.errors import InvalidInputError, LimitExceededError
from services.interpolator.session import LIVE, OFFLINE, FrameInputs, InterpolationSession
from tests.media import textured_background

W, H = 96, 64
ZERO_FLOW = np.zeros((H, W, 2), np.float32)


def session(mode=OFFLINE):
    s = InterpolationSession(mode, W, H)
    s.add_key(0, np.full((H, W, 3), 50, np.uint8), textured_background())
    s.add_key(4, np.full((H, W, 3), 150, np.uint8), textured_background())
    return s


def test_key_frames_come_back_as_themselves_and_old_keys_are_dropped():
    s = session()
    np.testing.assert_array_equal(s.make_frame(FrameInputs(0, prev_key=0)), np.full((H, W, 3), 50, np.uint8))
    mid = s.make_frame(FrameInputs(2, prev_key=0, next_key=4, flow_to_prev=ZERO_FLOW, flow_to_next=ZERO_FLOW))
    assert abs(mid.mean() - 100) < 2
    s.make_frame(FrameInputs(4, prev_key=4))
    assert s.held_keys == [4]


def test_requests_out_of_order_or_for_unknown_keys_are_invalid():
    s = session()
    s.make_frame(FrameInputs(1, prev_key=0, flow_to_prev=ZERO_FLOW))
    with pytest.raises(InvalidInputError):
        s.make_frame(FrameInputs(1, prev_key=0, flow_to_prev=ZERO_FLOW))  # repeated index
    with pytest.raises(InvalidInputError):
        s.make_frame(FrameInputs(2, prev_key=3, flow_to_prev=ZERO_FLOW))  # not a key held
    with pytest.raises(InvalidInputError):
        s.make_frame(FrameInputs(2, prev_key=0))  # no flow for an intermediate frame


def test_live_mode_refuses_a_next_key():
    s = session(LIVE)
    with pytest.raises(InvalidInputError):
        s.make_frame(FrameInputs(1, prev_key=0, next_key=4, flow_to_prev=ZERO_FLOW, flow_to_next=ZERO_FLOW))


def test_held_keys_are_bounded():
    s = InterpolationSession(OFFLINE, W, H, max_held_keys=2)
    s.add_key(0, np.zeros((H, W, 3), np.uint8))
    s.add_key(1, np.zeros((H, W, 3), np.uint8))
    with pytest.raises(LimitExceededError):
        s.add_key(2, np.zeros((H, W, 3), np.uint8))


def test_flow_measured_at_another_size_is_rescaled_to_the_output():
    s = InterpolationSession(LIVE, W, H)
    key = textured_background()
    s.add_key(0, key)
    # Flow measured on a frame twice the output size: 4 px there is 2 px here.
    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0] = 4.0
    out = s.make_frame(FrameInputs(1, prev_key=0, flow_to_prev=flow, frame_size=(2 * W, 2 * H)))
    np.testing.assert_array_equal(out[:, 10:-10], key[:, 12:-8])
