"""Temporal artefacts frame-by-frame stylization does not have: trails, smears and pops.

Each test runs the interpolation session as the device runs it (photometric confidence from the
frames; DIS flow where the camera moves) on a synthetic scene that provokes one artefact, with
keys stylized by a stand-in stylizer, and compares every frame with that stylizer applied to the
frame itself. Each fails on the interpolator before these artefacts were addressed."""

import cv2
import numpy as np
import pytest

from services.interpolator import flow as flowlib
from services.interpolator.closed_form import colour_statistics, transfer_transform
from services.interpolator.core import apply_colour_transform
from services.interpolator.session import LIVE, MAX_EASE_FRAMES, OFFLINE, FrameInputs, InterpolationSession
from tests.media import textured_background

W, H = 192, 128
# A look that depends on colour, as a real stylizer's does: dark colours turn deep blue, bright
# ones warm. A map fitted on dark content and applied to bright content turns it saturated blue.
NIGHT = np.array([[0.35, 0.0, 0.0, 0.0], [0.0, 0.35, 0.0, 0.02], [0.0, 0.0, 1.6, 0.08]], np.float32)
WARM = np.array([[0.9, 0.1, 0.0, 0.08], [0.05, 0.85, 0.0, 0.03], [0.0, 0.1, 0.6, 0.0]], np.float32)
RED_STYLE = np.zeros((40, 60, 3), np.uint8)
RED_STYLE[..., 0] = 200


def stylize(rgb: np.ndarray) -> np.ndarray:
    """The 'frame-by-frame' look: NIGHT for dark colours, WARM for bright ones (a region look: each
    holds for its own range of brightness, so one region's map is wrong on the other)."""
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)[..., None] / 255.0
    bright = np.clip((luma - 0.45) / 0.1, 0.0, 1.0)
    night = apply_colour_transform(rgb, NIGHT).astype(np.float32)
    warm = apply_colour_transform(rgb, WARM).astype(np.float32)
    return np.clip(night + (warm - night) * bright + 0.5, 0, 255).astype(np.uint8)


def flow_inputs(frame: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    current, reference = flowlib.prepare(frame), flowlib.prepare(key)
    flow = flowlib.estimate_flow(current, reference)
    return flow, flowlib.photometric_confidence(current, reference, flow)


STILL = np.zeros((H, W, 2), np.float32)


def still_confidence(frame: np.ndarray, key: np.ndarray) -> np.ndarray:
    """The device's photometric confidence for a still camera (zero flow)."""
    return flowlib.photometric_confidence(flowlib.prepare(frame), flowlib.prepare(key), STILL)


def error(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    """Mean absolute difference (grey levels, over RGB) of a and b inside the mask `where`."""
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32))[where].mean())


BOX_TEXTURE = (textured_background(32, 40, seed=4) * 0.6).astype(np.uint8)
# A pale panel with some texture of its own (so flow holds on it, as on a real wall).
PANEL = (180 + 0.3 * textured_background(W, H, seed=6)).astype(np.uint8)


def panel_scene(box_y: int) -> np.ndarray:
    """A pale panel in a textured frame, crossed from top to bottom by a dark textured box whose
    top edge is at box_y."""
    frame = textured_background(W, H, seed=3)
    frame[8:120, 40:150] = PANEL[8:120, 40:150]
    # The box is dark and textured (a flat one's map would be the frame's global one).
    top, bottom = max(box_y, 0), min(box_y + 40, H)
    frame[top:bottom, 80:112] = BOX_TEXTURE[top - box_y : bottom - box_y]
    return frame


def box_mask(box_y: int) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[max(box_y, 0) : box_y + 40, 80:112] = True
    return mask


def test_a_box_crossing_a_flat_panel_leaves_no_trail():
    """Offline, keys at 0 and 10: the panel where the next key sees the box takes the panel's look
    from the key that saw the panel, never the box's map; before, the panel kept up to a third of
    the box's map there as a discoloured patch for the frames nearer the next key."""
    positions = [4 + 7 * t for t in range(11)]
    frames = [panel_scene(y) for y in positions]
    session = InterpolationSession(OFFLINE, W, H)
    session.add_key(0, stylize(frames[0]), frames[0])
    session.add_key(10, stylize(frames[10]), frames[10])
    margin = np.ones((11, 11), np.uint8)
    worst = 0.0
    for t in range(1, 10):
        # The camera and the panel stand still: the true flow is zero there (DIS, on a panel this
        # plain, may point anywhere on it, which hides the trail without curing it).
        conf_prev, conf_next = (still_confidence(frames[t], frames[k]) for k in (0, 10))
        inputs = FrameInputs(t, 0, 10, STILL, conf_prev, STILL, conf_next, frames[t])
        out = session.make_frame(inputs)
        # Panel that a key saw covered by the box (away from the box's own edges): where a trail would be.
        box_now = cv2.dilate(box_mask(positions[t]).astype(np.uint8), margin).astype(bool)
        for key in (0, 10):
            panel = cv2.erode(box_mask(positions[key]).astype(np.uint8), margin).astype(bool) & ~box_now
            if panel.any():
                worst = max(worst, error(out, stylize(frames[t]), panel))
    assert worst < 6, f"the panel a key saw under the box is {worst:.1f} grey levels off frame-by-frame"


def street_scene(car_x: int | None) -> np.ndarray:
    """A bright pavement on the left and a dark road on the right; a bright car enters the road
    from the right edge, its front at car_x."""
    frame = textured_background(W, H, seed=5)
    frame[:, :150] = cv2.addWeighted(frame[:, :150], 0.4, np.full_like(frame[:, :150], 210), 0.6, 0)
    frame[:, 150:] = (frame[:, 150:] * 0.25).astype(np.uint8)
    if car_x is not None:
        frame[56:100, car_x:] = (225, 200, 120)
        frame[70:74, car_x + 4 :] = (200, 190, 150)  # a bumper line: texture of its own
    return frame


def test_a_car_entering_the_frame_takes_the_look_frame_by_frame_stylization_gives_it():
    """Live, one key before the car, camera still: a bright car drives onto the dark road, and no
    key has seen it. The stylizer fits every frame to the style's statistics, so the car changes
    the look of the whole frame; the frames must follow, and the car must not keep the dark road's
    map stretched to its colours."""
    style = stylize(textured_background(W, H, seed=7))
    key = street_scene(None)
    session = InterpolationSession(LIVE, W, H, style_reference=style)
    session.add_key(0, normalising_stylize(key, style), key)
    everywhere = np.ones((H, W), bool)
    for t, car_x in enumerate(range(184, 100, -12), start=1):
        frame = street_scene(car_x)
        confidence = still_confidence(frame, key)
        out = session.make_frame(FrameInputs(t, 0, flow_to_prev=STILL, confidence_prev=confidence, original=frame))
        reference = normalising_stylize(frame, style)
        car = np.zeros((H, W), bool)
        car[60:96, car_x + 2 :] = True
        assert error(out, reference, car) < 15, f"frame {t}: the car is off frame-by-frame"
        assert error(out, reference, everywhere) < 9, f"frame {t}: the frame is off frame-by-frame"


def colour_jumps(frames: list[np.ndarray]) -> np.ndarray:
    """Per frame: the sum over RGB of the change of the mean colour from the frame before."""
    means = np.array([f.reshape(-1, 3).mean(0) for f in frames])
    return np.abs(np.diff(means, axis=0)).sum(1)


def test_after_a_cut_the_late_first_key_and_the_next_ease_in_without_a_pop():
    """Live: a cut, closed form for 10 frames, then the shot's first key and a second key with
    another look. The shot is still, so frame-by-frame stylization never jumps: neither may this."""
    shot_a, shot_b = textured_background(W, H, seed=1), street_scene(None)
    # The style photo: a scene in this look, so the closed form lands near, not on, the key's look.
    style = stylize(textured_background(W, H, seed=7))
    session = InterpolationSession(LIVE, W, H, style_reference=style)
    session.add_key(0, stylize(shot_a), shot_a)
    zero = STILL
    outputs = [session.make_frame(FrameInputs(0, 0))]
    outputs += [session.make_frame(FrameInputs(t, 0, flow_to_prev=zero, original=shot_a)) for t in range(1, 10)]
    session.start_shot(10)
    outputs += [session.render(session.plan_closed_form(t, shot_b)) for t in range(10, 20)]
    closed_form = outputs[-1]
    session.add_key(19, stylize(shot_b), shot_b)  # answered late, at frame 20
    second = 20 + MAX_EASE_FRAMES
    outputs += [session.make_frame(FrameInputs(t, 19, flow_to_prev=zero, original=shot_b)) for t in range(20, second)]
    first_look = outputs[-1]
    brighter = cv2.add(stylize(shot_b), np.full((H, W, 3), 20, np.uint8))
    session.add_key(second, brighter, shot_b)  # the next key's look differs (the stylizer saw it anew)
    end = second + MAX_EASE_FRAMES
    outputs += [
        session.make_frame(FrameInputs(t, second, flow_to_prev=zero, original=shot_b)) for t in range(second, end)
    ]

    # The looks really differ, and each is reached in full once its ease is over.
    assert colour_jumps([closed_form, first_look])[0] > 20
    assert colour_jumps([first_look, outputs[-1]])[0] > 30
    np.testing.assert_allclose(first_look.mean((0, 1)), stylize(shot_b).mean((0, 1)), atol=3)
    np.testing.assert_allclose(outputs[-1].mean((0, 1)), brighter.mean((0, 1)), atol=3)
    jumps = colour_jumps(outputs)
    assert jumps[11:].max() < 6, f"a pop of {jumps[11:].max():.1f} at frame {11 + int(jumps[11:].argmax()) + 1}"


def test_a_flow_that_goes_astray_does_not_swing_the_look():
    """Live, a still street after a late first key: every third frame the flow points 80 pixels
    astray (as DIS does on a device that drops frames), which moves the dark road's map onto the
    bright pavement. Frame-by-frame stylization never changes; the frames' mean colour may not
    swing by a pop's margin either, and once the flow holds, the look is the key's."""
    scene = street_scene(None)
    session = InterpolationSession(LIVE, W, H, style_reference=stylize(scene))
    outputs = [session.render(session.plan_closed_form(t, scene)) for t in range(4)]
    session.add_key(0, stylize(scene), scene)  # answered at frame 4
    astray = np.zeros((H, W, 2), np.float32)
    astray[..., 0] = 80.0
    for t in range(4, 60):
        flow = astray if t % 3 == 0 and t < 30 else STILL
        outputs.append(session.make_frame(FrameInputs(t, 0, flow_to_prev=flow, original=scene)))
    jumps = colour_jumps(outputs)
    assert jumps.max() < 6, f"a pop of {jumps.max():.1f} at frame {int(jumps.argmax()) + 1}"
    np.testing.assert_allclose(outputs[-1].mean((0, 1)), stylize(scene).mean((0, 1)), atol=1)


@pytest.mark.parametrize("astray_frames", [range(5, 13), range(12, 20), range(5, 20)], ids=["middle", "end", "most"])
def test_offline_a_flow_that_goes_astray_between_keys_does_not_swing_the_look(astray_frames):
    """File mode, a still street between two keys 20 frames apart: on some frames the flows to both
    keys point 80 pixels astray (as DIS does where a plain surface moves fast), which moves the dark
    road's maps onto the bright pavement. Frame-by-frame stylization never changes; the frames' mean
    colour may not jump by a pop's margin, not even onto the next key (left as it is) when the flow
    is astray up to the frame before it."""
    scene = street_scene(None)
    session = InterpolationSession(OFFLINE, W, H)
    session.add_key(0, stylize(scene), scene)
    session.add_key(20, stylize(scene), scene)
    astray = np.zeros((H, W, 2), np.float32)
    astray[..., 0] = 80.0
    outputs = [session.make_frame(FrameInputs(0, 0))]
    for t in range(1, 20):
        flow = astray if t in astray_frames else STILL
        outputs.append(session.make_frame(FrameInputs(t, 0, 20, flow, None, flow, None, scene)))
    outputs.append(session.make_frame(FrameInputs(20, 20)))
    jumps = colour_jumps(outputs)
    assert jumps.max() < 6, f"a pop of {jumps.max():.1f} at frame {int(jumps.argmax())}"
    key = InterpolationSession(OFFLINE, W, H)
    key.add_key(20, stylize(scene), scene)
    np.testing.assert_array_equal(outputs[20], key.make_frame(FrameInputs(20, 20)))


def normalising_stylize(rgb: np.ndarray, style: np.ndarray) -> np.ndarray:
    """A stylizer fitted to the style's statistics on every frame (as the default looks are): its
    output holds still when the exposure changes."""
    return apply_colour_transform(rgb, transfer_transform(rgb, colour_statistics(style)))


def test_a_change_of_exposure_between_keys_is_followed_as_the_stylizer_follows_it():
    """Zero flow, the light dims to 60% and comes back between two keys (offline), or after one key
    (live): the frames keep to frame-by-frame stylization of each frame instead of darkening with
    the input (the keys alone cannot tell the dip)."""
    scene, style = street_scene(None), stylize(textured_background(W, H, seed=7))
    frames = [(scene * (1.0 - 0.4 * np.sin(np.pi * t / 10))).astype(np.uint8) for t in range(11)]
    live = InterpolationSession(LIVE, W, H, style_reference=style)
    live.add_key(0, normalising_stylize(frames[0], style), frames[0])
    offline = InterpolationSession(OFFLINE, W, H)
    offline.add_key(0, normalising_stylize(frames[0], style), frames[0])
    offline.add_key(10, normalising_stylize(frames[10], style), frames[10])
    everywhere = np.ones((H, W), bool)
    for t in range(1, 10):
        reference = normalising_stylize(frames[t], style)
        made_live = live.make_frame(FrameInputs(t, 0, flow_to_prev=STILL, original=frames[t]))
        made_offline = offline.make_frame(FrameInputs(t, 0, 10, STILL, None, STILL, None, frames[t]))
        assert error(made_live, reference, everywhere) < 3, f"live frame {t}"
        assert error(made_offline, reference, everywhere) < 3, f"offline frame {t}"


def test_the_first_key_eases_in_from_the_closed_form_while_the_light_changes():
    """Live: a new shot brightens while its closed form holds the look steady (it is fitted on
    every frame); when the shot's first key arrives, its look eases in from that closed form on
    the frame it arrives at, not from the closed form of a darker frame before."""
    style = stylize(textured_background(W, H, seed=7))
    scene = street_scene(None)
    frames = [np.clip(scene * (0.6 + 0.05 * t), 0, 255).astype(np.uint8) for t in range(20)]
    session = InterpolationSession(LIVE, W, H, style_reference=style)
    outputs = [session.render(session.plan_closed_form(t, frames[t])) for t in range(6)]
    session.add_key(0, normalising_stylize(frames[0], style), frames[0])  # answered at frame 6
    outputs += [session.make_frame(FrameInputs(t, 0, flow_to_prev=STILL, original=frames[t])) for t in range(6, 20)]
    jumps = colour_jumps(outputs)
    reference_jumps = colour_jumps([normalising_stylize(f, style) for f in frames])
    assert (jumps - reference_jumps).max() < 6, f"a pop of {jumps.max():.1f} at frame {int(jumps.argmax()) + 1}"


def into_gamut(rgb: np.ndarray) -> np.ndarray:
    """float HxWx3 colours (0-255, any range) -> uint8, each colour past the gamut drawn towards the
    grey of its own luma until it fits, as the stylizer's looks treat such colours."""
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    grey = np.clip(luma, 0.0, 255.0)[..., None]
    chroma = rgb - grey
    high, low = chroma.max(-1, keepdims=True), chroma.min(-1, keepdims=True)
    room_high = np.where(high > 255.0 - grey, (255.0 - grey) / np.maximum(high, 1e-6), 1.0)
    room_low = np.where(low < -grey, grey / np.maximum(-low, 1e-6), 1.0)
    out = grey + np.clip(np.minimum(room_high, room_low), 0.0, 1.0) * chroma
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def affine_look(rgb: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """A 3x4 map on [0, 1] colours applied without clipping: float, 0-255 scale."""
    return (rgb.astype(np.float64) / 255.0 @ transform[:, :3].T.astype(np.float64) + transform[:, 3]) * 255.0


# A dusk look with strong chroma gains: fine on the street, it sends a dark red it was never
# shown below black (negative red and green), where only its blue is left.
DUSK = np.array([[-0.9, 1.4, 0.0, 0.02], [-0.6, 1.2, 0.0, 0.05], [0.9, -0.5, 0.4, 0.05]], np.float32)


def test_an_entering_object_of_a_colour_no_key_saw_is_not_painted_a_saturated_primary():
    """Live, one key of a street, camera still: the front of a dark red car drives in from the
    right. The key's look sends that red below black; the stylizer draws such a colour towards the
    grey of its luma (black), where channel-by-channel clipping keeps only its blue, at full
    strength: a blue smear. (The car stays small, so the frame's colour statistics barely move.)"""

    def dusk(rgb: np.ndarray) -> np.ndarray:
        return into_gamut(affine_look(rgb, DUSK))

    scene = (textured_background(W, H, seed=8) * 0.9).astype(np.uint8)
    session = InterpolationSession(LIVE, W, H, style_reference=dusk(scene))
    session.add_key(0, dusk(scene), scene)
    for t, car_x in enumerate(range(175, 150, -8), start=1):
        frame = scene.copy()
        frame[50:80, car_x:] = (128, 38, 38)
        out = session.make_frame(
            FrameInputs(t, 0, flow_to_prev=STILL, confidence_prev=still_confidence(frame, scene), original=frame)
        )
        car = np.zeros((H, W), bool)
        car[54:76, car_x + 4 :] = True
        assert error(out, dusk(frame), car) < 15, f"frame {t}: the car is {error(out, dusk(frame), car):.1f} off"


def test_a_cut_lands_on_the_look_the_stylizer_has_been_bringing():
    """Live: keys of one shot, a cut, the new shot in closed form until its first key. The stylizer
    fits each frame to the style photo's statistics, but its finishing steps (a style at the edge
    of the gamut losing what cannot be shown, smoothing, detail) land its frames elsewhere, the same
    way from shot to shot; the new shot's closed form must land where the keys have been landing,
    so the cut changes the look no more than frame-by-frame stylization's cut does."""
    style = stylize(textured_background(W, H, seed=7))

    def stylizer(rgb: np.ndarray) -> np.ndarray:
        return cv2.convertScaleAbs(normalising_stylize(rgb, style), alpha=0.8, beta=12)

    shot_a, shot_b = textured_background(W, H, seed=10), street_scene(None)
    session = InterpolationSession(LIVE, W, H, style_reference=style)
    outputs = []
    for t in range(12):
        if t % 4 == 0:
            session.add_key(t, stylizer(shot_a), shot_a)
        outputs.append(session.make_frame(FrameInputs(t, t - t % 4, flow_to_prev=STILL, original=shot_a)))
    session.start_shot(12)
    outputs += [session.render(session.plan_closed_form(t, shot_b)) for t in range(12, 18)]
    session.add_key(12, stylizer(shot_b), shot_b)  # answered at frame 18
    outputs += [session.make_frame(FrameInputs(t, 12, flow_to_prev=STILL, original=shot_b)) for t in range(18, 30)]
    reference = [stylizer(shot_a)] * 12 + [stylizer(shot_b)] * 18
    beyond = colour_jumps(outputs) - colour_jumps(reference)
    assert beyond.max() < 6, f"a pop of {beyond.max():.1f} beyond frame-by-frame's at frame {int(beyond.argmax()) + 1}"


def test_a_flow_that_slides_astray_a_little_each_frame_does_not_drift_the_look():
    """Live, a still street keyed once: the flow slides astray by 3 pixels more each frame (as it
    does over a plain surface far from its key), so the dark road's map creeps onto the bright
    pavement. Each frame's step stays under a pop's margin, but the frames' mean colour may not
    drift from frame-by-frame stylization's (which never changes) by more than a few levels."""
    scene = street_scene(None)
    session = InterpolationSession(LIVE, W, H, style_reference=stylize(scene))
    session.add_key(0, stylize(scene), scene)
    expected = stylize(scene).reshape(-1, 3).mean(0)
    drifts = []
    for t in range(1, 40):
        astray = np.zeros((H, W, 2), np.float32)
        astray[..., 0] = 3.0 * t
        output = session.make_frame(FrameInputs(t, 0, flow_to_prev=astray, original=scene))
        drifts.append(float(np.abs(output.reshape(-1, 3).mean(0) - expected).sum()))
    worst = int(np.argmax(drifts))
    assert drifts[worst] < 4, f"a drift of {drifts[worst]:.1f} levels (summed over RGB) at frame {worst + 1}"


def test_a_key_held_again_at_the_same_index_after_a_new_style_is_steadied_against_its_own_maps():
    """The live steadying's reference includes each key's own departure from its global look, kept
    per key: a key held again at an index after a new style photo is another key."""
    scene = street_scene(None)
    swapped = np.ascontiguousarray(stylize(scene)[..., ::-1])  # another look that differs by region
    session = InterpolationSession(LIVE, W, H, style_reference=stylize(scene))
    session.add_key(0, stylize(scene), scene)
    first = session._key_departure(session._keys[0])
    session.set_style_reference(swapped)
    session.add_key(0, swapped, scene)
    fresh = InterpolationSession(LIVE, W, H, style_reference=swapped)
    fresh.add_key(0, swapped, scene)
    expected = fresh._key_departure(fresh._keys[0])
    assert np.abs(first - expected).max() > 0.05  # the two keys' departures differ
    np.testing.assert_allclose(session._key_departure(session._keys[0]), expected, atol=1e-4)
