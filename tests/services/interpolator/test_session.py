import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from mvstylizer_common.errors import InvalidInputError, LimitExceededError
from services.interpolator.closed_form import colour_statistics, transfer_transform
from services.interpolator.core import apply_colour_transform
from services.interpolator.session import LIVE, MAX_EASE_FRAMES, OFFLINE, FrameInputs, InterpolationSession
from tests.media import textured_background

REPO_ROOT = Path(__file__).resolve().parents[3]
W, H = 96, 64
ZERO_FLOW = np.zeros((H, W, 2), np.float32)
ORIGINAL = textured_background()


def session(mode=OFFLINE):
    s = InterpolationSession(mode, W, H)
    s.add_key(0, np.full((H, W, 3), 50, np.uint8), ORIGINAL)
    s.add_key(4, np.full((H, W, 3), 150, np.uint8), ORIGINAL)
    return s


def frame(index, prev_key, next_key=None):
    flows = {} if index == prev_key else {"flow_to_prev": ZERO_FLOW, "original": ORIGINAL}
    if next_key is not None:
        flows["flow_to_next"] = ZERO_FLOW
    return FrameInputs(index, prev_key=prev_key, next_key=next_key, **flows)


def test_key_frames_keep_their_look_and_old_keys_are_dropped():
    s = session()
    assert abs(s.make_frame(frame(0, 0)).mean() - 50) < 2
    assert abs(s.make_frame(frame(2, 0, 4)).mean() - 100) < 2
    assert abs(s.make_frame(frame(4, 4)).mean() - 150) < 2
    assert s.held_keys == [4]


def test_requests_out_of_order_or_for_unknown_keys_are_invalid():
    s = session()
    s.make_frame(frame(1, 0))
    with pytest.raises(InvalidInputError):
        s.make_frame(frame(1, 0))  # repeated index
    with pytest.raises(InvalidInputError):
        s.make_frame(frame(2, 3))  # not a key held
    with pytest.raises(InvalidInputError):
        s.make_frame(FrameInputs(2, prev_key=0, original=ORIGINAL))  # no flow for an intermediate frame
    with pytest.raises(InvalidInputError):
        s.make_frame(FrameInputs(2, prev_key=0, flow_to_prev=ZERO_FLOW))  # no original
    with pytest.raises(InvalidInputError):
        s.add_key(9, ORIGINAL, None)  # a key without its original


def test_live_mode_refuses_a_next_key():
    s = session(LIVE)
    with pytest.raises(InvalidInputError):
        s.make_frame(frame(1, 0, 4))


def test_held_keys_are_bounded():
    s = InterpolationSession(OFFLINE, W, H, max_held_keys=2)
    s.add_key(0, ORIGINAL, ORIGINAL)
    s.add_key(1, ORIGINAL, ORIGINAL)
    with pytest.raises(LimitExceededError):
        s.add_key(2, ORIGINAL, ORIGINAL)


def test_flow_measured_at_another_size_is_rescaled_to_the_output():
    """A look boundary attached to the scene moves by the flow, measured on a frame twice the size."""
    key_original = textured_background(W + 20, H)[:, :W]
    stylized = key_original.copy()
    stylized[:, 48:] = 255 - stylized[:, 48:]  # a different look right of x=48
    s = InterpolationSession(LIVE, W, H)
    s.add_key(0, stylized, key_original)
    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0] = 16.0  # 16 px at twice the size: 8 px here, so the boundary is now at x=40
    current = textured_background(W + 20, H)[:, 8 : 8 + W]
    out = s.make_frame(FrameInputs(1, prev_key=0, flow_to_prev=flow, original=current, frame_size=(2 * W, 2 * H)))

    def looks_inverted(columns: slice) -> bool:
        got = out[8:-8, columns].astype(int)
        plain = current[8:-8, columns].astype(int)
        return np.abs(got - (255 - plain)).mean() < np.abs(got - plain).mean()

    assert looks_inverted(slice(43, 47))  # the boundary moved left of 48...
    assert not looks_inverted(slice(31, 37))  # ...by 8 px, not by the unscaled 16


def test_exact_keys_come_out_as_stylized_for_frame_by_frame_runs():
    s = InterpolationSession(OFFLINE, W, H, exact_keys=True)
    stylized = textured_background(seed=5)
    s.add_key(0, stylized, None)  # no original needed: no map is fitted
    np.testing.assert_array_equal(s.make_frame(frame(0, 0)), stylized)
    s.add_key(1, stylized, None)
    with pytest.raises(InvalidInputError):
        s.make_frame(frame(2, 1))  # only key frames on such a stream


def test_i420_output_has_the_same_frames_in_the_encoder_layout():
    rgb, i420 = session(), InterpolationSession(OFFLINE, W, H, output_i420=True)
    i420.add_key(0, np.full((H, W, 3), 50, np.uint8), ORIGINAL)
    i420.add_key(4, np.full((H, W, 3), 150, np.uint8), ORIGINAL)
    for inputs in (frame(0, 0), frame(2, 0, 4), frame(4, 4)):
        expected = rgb.make_frame(inputs)
        got = i420.make_frame(inputs)
        assert got.shape == (H * 3 // 2, W)
        assert np.abs(cv2.cvtColor(got, cv2.COLOR_YUV2RGB_I420).astype(int) - expected).mean() < 2
    with pytest.raises(InvalidInputError, match="I420"):
        InterpolationSession(OFFLINE, W + 1, H, output_i420=True)
    with pytest.raises(InvalidInputError, match="I420"):
        InterpolationSession(OFFLINE, W, H, exact_keys=True, output_i420=True)


# --- live: late keys, shots and the closed form -----------------------------------------------

RED_STYLE = np.zeros((40, 60, 3), np.uint8)
RED_STYLE[..., 0] = 200


def live_session():
    return InterpolationSession(LIVE, W, H, style_reference=RED_STYLE)


def test_live_keys_may_arrive_late_and_frames_use_the_latest():
    s = live_session()
    for index in range(3):
        assert s.plan_closed_form(index, ORIGINAL).method == "closed form (no key yet)"
    s.add_key(1, np.full((H, W, 3), 90, np.uint8), ORIGINAL)  # answered after frame 2 was made
    # The key's look is eased in from the closed form's, and fully there within MAX_EASE_FRAMES frames.
    outputs = [s.make_frame(frame(index, 1)) for index in range(3, 3 + MAX_EASE_FRAMES)]
    assert abs(outputs[-1].mean() - 90) < 2
    assert abs(outputs[0].mean() - 90) > 5
    s.add_key(2, np.full((H, W, 3), 160, np.uint8), ORIGINAL)
    assert s.held_keys == [2]
    with pytest.raises(InvalidInputError):
        s.add_key(1, np.full((H, W, 3), 90, np.uint8), ORIGINAL)  # older than the key held


def test_a_new_shot_never_uses_the_previous_shots_key():
    s = live_session()
    s.add_key(0, np.full((H, W, 3), 30, np.uint8), ORIGINAL)
    s.make_frame(frame(1, 0))
    s.start_shot(2)
    assert s.latest_key() is None
    plan = s.plan_closed_form(2, ORIGINAL)
    assert plan.method == "closed form (new shot)"
    # Not the old key's maps: the look the stylizer has been bringing (its answers' colour
    # statistics: flat dark grey), not the style photo's red either.
    landed = s.render(plan)
    assert abs(landed.mean() - 30) < 2 and np.ptp(landed.reshape(-1, 3).mean(0)) < 2
    with pytest.raises(InvalidInputError, match="shot"):
        s.add_key(1, np.full((H, W, 3), 30, np.uint8), ORIGINAL)  # the old shot's late answer
    # The same content in closed form gets the same look until the shot's first key.
    np.testing.assert_array_equal(s.render(s.plan_closed_form(3, ORIGINAL)), landed)
    s.add_key(3, np.full((H, W, 3), 120, np.uint8), ORIGINAL)
    assert abs([s.make_frame(frame(i, 3)) for i in range(4, 4 + MAX_EASE_FRAMES)][-1].mean() - 120) < 2


def test_a_silent_stylizer_gives_the_latest_keys_global_look():
    s = live_session()
    s.add_key(0, np.full((H, W, 3), 70, np.uint8), ORIGINAL)
    plan = s.plan_closed_form(1, ORIGINAL)
    assert plan.method == "closed form" and abs(s.render(plan).mean() - 70) < 3


def test_the_closed_form_maps_every_pixel_not_only_the_frames_mean():
    s = live_session()
    plan = s.plan_closed_form(0, ORIGINAL)
    expected = apply_colour_transform(ORIGINAL, transfer_transform(ORIGINAL, colour_statistics(RED_STYLE)))
    np.testing.assert_array_equal(s.render(plan), expected)


def test_offline_sessions_have_no_closed_form():
    with pytest.raises(InvalidInputError):
        InterpolationSession(OFFLINE, W, H, style_reference=RED_STYLE)
    with pytest.raises(InvalidInputError):
        InterpolationSession(OFFLINE, W, H).start_shot(3)


@pytest.mark.parametrize(
    ("width", "height", "error"),
    [
        (12000, 10000, LimitExceededError),
        (9000, 5000, LimitExceededError),
        (0, 64, InvalidInputError),
        (96, -3, InvalidInputError),
        (2**32 - 1, 64, InvalidInputError),
        (2**32 - 1, 2**32 - 1, InvalidInputError),
    ],
)
@pytest.mark.parametrize("output_i420", [False, True], ids=["rgb", "i420"])
def test_output_sizes_are_bounded_before_anything_is_allocated(width, height, error, output_i420):
    with pytest.raises(error):
        InterpolationSession(OFFLINE, width, height, output_i420=output_i420)


def test_the_largest_output_size_allowed_is_accepted():
    InterpolationSession(OFFLINE, 7680, 4320)
    InterpolationSession(LIVE, 1, 1)


def test_the_interpolation_core_needs_neither_grpc_nor_wire_codecs():
    """The pure core (session, core, flow, maps, closed form) imports no transport or codec."""
    code = (
        "import sys\n"
        "import services.interpolator.session, services.interpolator.flow, services.interpolator.closed_form\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'protos') or m.endswith('codec'))\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    assert done.stdout.strip() == ""


def test_live_frames_in_i420_match_the_rgb_ones():
    rgb, i420 = live_session(), InterpolationSession(LIVE, W, H, style_reference=RED_STYLE, output_i420=True)
    for s in (rgb, i420):
        s.add_key(0, np.full((H, W, 3), 90, np.uint8), ORIGINAL)
    looks = [s.render(s.plan_closed_form(1, ORIGINAL)) for s in (rgb, i420)]
    assert looks[1].shape == (H * 3 // 2, W)
    np.testing.assert_allclose(cv2.cvtColor(looks[1], cv2.COLOR_YUV2RGB_I420), looks[0], atol=6)
    made = [s.render(s.plan_frame(frame(2, 0))) for s in (rgb, i420)]
    assert np.abs(cv2.cvtColor(made[1], cv2.COLOR_YUV2RGB_I420).astype(int) - made[0]).mean() < 2
