"""session.js against services/interpolator/session.py: the same requests give the same plans and frames.

A live stream (closed form before the first key, keys, a cut, the stylizer silent) and an offline
stream between two keys, with flows and confidences measured in Python and given to both.
"""

from __future__ import annotations

import numpy as np
import pytest

from mvstylizer_common.errors import InvalidInputError
from services.interpolator import flow as flowlib
from services.interpolator.closed_form import colour_statistics, content_statistics, linear_transfer, stylizer_look
from services.interpolator.core import prepare_key
from services.interpolator.session import LIVE, OFFLINE, FrameInputs, InterpolationSession
from tests.client.browser.jsbridge import call_js, require_node, result_of
from tests.client.browser.test_js_core import GREY_LEVELS, scene, stylize

WIDTH, HEIGHT, MAP_LONG_SIDE = 320, 180, 160


@pytest.fixture(scope="module", autouse=True)
def node():
    require_node()


def flow_between(current: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = flowlib.prepare(current, 160), flowlib.prepare(key, 160)
    flow = flowlib.estimate_flow(a, b)
    return flow, flowlib.photometric_confidence(a, b, flow)


def other_shot(index: int) -> np.ndarray:
    """A different picture (after a cut): warm stripes."""
    frame = scene(HEIGHT, WIDTH, shift=3 * index, seed=index)[:, ::-1]
    return np.ascontiguousarray(frame[..., ::-1] // 2 + np.array([90, 40, 0], np.uint8))


def frame_inputs_js(inputs: FrameInputs) -> dict:
    return {
        "index": inputs.index,
        "prevKey": inputs.prev_key,
        "nextKey": inputs.next_key,
        "flowToPrev": inputs.flow_to_prev,
        "confidencePrev": inputs.confidence_prev,
        "flowToNext": inputs.flow_to_next,
        "confidenceNext": inputs.confidence_next,
        "original": inputs.original,
    }


def run_both(session: InterpolationSession, js_args: list, requests: list[tuple[str, list]]):
    """Each request on the Python session and on the JS one; every plan rendered on both sides.
    Returns (python plans, python frames, js plans, js frames)."""
    python_plans, python_frames, steps, plan_steps = [], [], [], []
    for method, args in requests:
        answer = getattr(session, method)(*args)
        js_args_here = [frame_inputs_js(a) if isinstance(a, FrameInputs) else a for a in args]
        steps.append(({"plan_frame": "planFrame"}.get(method, to_camel(method)), js_args_here))
        if method.startswith("plan_"):
            python_plans.append(answer)
            python_frames.append(session.render(answer))
            plan_steps.append(len(steps) - 1)
            steps.append(("render", [result_of(len(steps) - 1)]))
    answers = call_js("session.js", "InterpolationSession", *js_args, steps=steps)
    return python_plans, python_frames, [answers[k] for k in plan_steps], [answers[k + 1] for k in plan_steps]


def to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def assert_same_frames(python_plans, python_frames, js_plans, js_frames):
    assert [plan["method"] for plan in js_plans] == [plan.method for plan in python_plans]
    for python, js in zip(python_frames, js_frames, strict=True):
        assert np.abs(python.astype(np.int32) - js.astype(np.int32)).max() <= GREY_LEVELS


def test_live_stream_plans_and_frames_match():
    frames = [scene(HEIGHT, WIDTH, shift=2 * i, seed=i) for i in range(4)]
    frames += [other_shot(i) for i in range(4, 10)]
    style = stylize(scene(60, 90, seed=9))

    def live(index: int, key: int) -> FrameInputs:
        flow, confidence = flow_between(frames[index], frames[key])
        return FrameInputs(index, key, flow_to_prev=flow, confidence_prev=confidence, original=frames[index])

    requests = [
        ("plan_closed_form", [0, frames[0]]),
        ("plan_closed_form", [1, frames[1]]),
        ("add_key", [0, stylize(frames[0]), frames[0]]),  # answered late: frame 1 was made already
        ("plan_frame", [live(2, 0)]),  # the look eases from the closed form to the key's
        ("add_key", [2, stylize(frames[2]), frames[2]]),
        ("plan_frame", [live(3, 2)]),
        ("start_shot", [4]),
        ("plan_closed_form", [4, frames[4]]),  # a new shot: closed form at once, on the keys' look
        ("plan_closed_form", [5, frames[5]]),
        ("add_key", [4, stylize(frames[4]), frames[4]]),
        ("plan_frame", [live(6, 4)]),
        ("plan_closed_form", [7, frames[7]]),  # the stylizer is silent: the key's global look
        ("plan_frame", [live(8, 4)]),
        ("plan_frame", [live(9, 4)]),
    ]
    session = InterpolationSession(
        LIVE, WIDTH, HEIGHT, map_long_side=MAP_LONG_SIDE, style_reference=style, strength=0.8
    )
    js_args = [LIVE, WIDTH, HEIGHT, {"mapLongSide": MAP_LONG_SIDE, "styleReference": style, "strength": 0.8}]
    results = run_both(session, js_args, requests)
    methods = [plan.method for plan in results[0]]
    assert methods == ["closed form (no key yet)"] * 2 + ["interpolated"] * 2 + ["closed form (new shot)"] * 2 + [
        "interpolated",
        "closed form",
        "interpolated",
        "interpolated",
    ]
    assert_same_frames(*results)
    # The new shot's closed form lands on the look the two keys' answers brought, on both sides.
    looks = [prepare_key(k, frames[k], stylize(frames[k]), session.grid).look_stats for k in (0, 2)]
    look = stylizer_look(colour_statistics(style), looks)
    expected = linear_transfer(content_statistics(frames[4]), look)
    np.testing.assert_allclose(results[0][4].transform, expected, atol=1e-5)
    # (The JS thumbnails differ from OpenCV's by a level here and there, and the look's shrinkage
    # moves with them; the frames agree within GREY_LEVELS, checked above.)
    np.testing.assert_allclose(np.array(results[2][4]["transform"]), expected, atol=5e-3)


def assert_steadied_alike(mode: str, requests: list) -> None:
    """The requests make the Python session take an offset off some frame's mean colour (else the
    comparison would not reach the steadying), and both sides make the same frames."""
    session = InterpolationSession(mode, WIDTH, HEIGHT, map_long_side=MAP_LONG_SIDE)
    steadied = []
    for method, args in requests:
        getattr(session, method)(*args)
        steadied.append(session._steady is not None and bool(session._steady[2].any()))
    assert any(steadied), "the flow astray should make the mean colour swing past EASE_STEP"
    session = InterpolationSession(mode, WIDTH, HEIGHT, map_long_side=MAP_LONG_SIDE)
    assert_same_frames(*run_both(session, [mode, WIDTH, HEIGHT, {"mapLongSide": MAP_LONG_SIDE}], requests))


def test_live_frames_on_a_flow_gone_astray_match():
    """A flow that points far astray every other frame swings the look the key's maps give; both
    sides take the same offset off the frames' mean colour (session.EASE_STEP)."""
    frame = scene(HEIGHT, WIDTH, seed=3)
    still = np.zeros((HEIGHT, WIDTH, 2), np.float32)
    astray = still.copy()
    astray[..., 0] = 0.4 * WIDTH
    requests = [("add_key", [0, stylize(frame), frame])]
    requests += [
        ("plan_frame", [FrameInputs(t, 0, flow_to_prev=astray if t % 2 else still, original=frame)]) for t in range(6)
    ]
    assert_steadied_alike(LIVE, requests)


def test_live_frames_on_a_flow_sliding_astray_match():
    """A flow that slides further astray each frame drifts the look the key's maps give, a little a
    frame; both sides hold the frames' mean colour near the key's look (session.EASE_STEP)."""
    frame = scene(HEIGHT, WIDTH, seed=3)
    requests = [("add_key", [0, stylize(frame), frame])]
    for t in range(12):
        sliding = np.zeros((HEIGHT, WIDTH, 2), np.float32)
        sliding[..., 0] = 0.04 * WIDTH * t
        requests.append(("plan_frame", [FrameInputs(t, 0, flow_to_prev=sliding, original=frame)]))
    assert_steadied_alike(LIVE, requests)


@pytest.mark.parametrize("astray", [lambda t: t % 2 == 1, lambda t: t >= 4], ids=["every-other", "up-to-the-key"])
def test_offline_frames_on_a_flow_gone_astray_match(astray):
    """Between two keys, flows that point far astray swing the look the keys' maps give; both sides
    take the same offset off the frames' mean colour, against the two keys' blended global looks and
    departures, within the budget left before the next key (session.STEADY_CELLS)."""
    frame = scene(HEIGHT, WIDTH, seed=3)
    still = np.zeros((HEIGHT, WIDTH, 2), np.float32)
    astray_flow = still.copy()
    astray_flow[..., 0] = 0.4 * WIDTH
    requests = [("add_key", [0, stylize(frame), frame]), ("add_key", [7, stylize(frame), frame])]
    requests.append(("plan_frame", [FrameInputs(0, 0)]))
    for t in range(1, 7):
        flow = astray_flow if astray(t) else still
        requests.append(("plan_frame", [FrameInputs(t, 0, 7, flow, None, flow, None, frame)]))
    requests.append(("plan_frame", [FrameInputs(7, 7)]))
    assert_steadied_alike(OFFLINE, requests)


def test_offline_frames_between_two_keys_match():
    frames = [scene(HEIGHT, WIDTH, shift=3 * i, seed=i) for i in range(7)]
    requests = [("add_key", [0, stylize(frames[0]), frames[0]]), ("add_key", [6, stylize(frames[6]), frames[6]])]
    for index in range(7):
        if index in (0, 6):
            requests.append(("plan_frame", [FrameInputs(index, index)]))
            continue
        to_prev, conf_prev = flow_between(frames[index], frames[0])
        to_next, conf_next = flow_between(frames[index], frames[6])
        inputs = FrameInputs(index, 0, 6, to_prev, conf_prev, to_next, conf_next, frames[index])
        requests.append(("plan_frame", [inputs]))
    session = InterpolationSession(OFFLINE, WIDTH, HEIGHT, map_long_side=MAP_LONG_SIDE)
    results = run_both(session, [OFFLINE, WIDTH, HEIGHT, {"mapLongSide": MAP_LONG_SIDE}], requests)
    assert_same_frames(*results)


@pytest.mark.parametrize(
    "requests",
    [
        [("plan_closed_form", [0]), ("plan_closed_form", [0])],  # a frame twice
        [("add_key", [5]), ("add_key", [3])],  # a key older than one held
        [("start_shot", [4]), ("add_key", [2])],  # a key of the shot before the cut
    ],
    ids=["frame-twice", "older-key", "key-before-cut"],
)
def test_bad_requests_are_refused_with_the_same_message(requests):
    frame = scene(HEIGHT, WIDTH)
    style = stylize(scene(60, 90, seed=9))
    full = [
        (m, [*args, frame] if m == "plan_closed_form" else [*args, frame, frame] if m == "add_key" else args)
        for m, args in requests
    ]
    session = InterpolationSession(LIVE, WIDTH, HEIGHT, map_long_side=MAP_LONG_SIDE, style_reference=style)
    with pytest.raises(InvalidInputError) as python:
        for method, args in full:
            getattr(session, method)(*args)
    js_args = [LIVE, WIDTH, HEIGHT, {"mapLongSide": MAP_LONG_SIDE, "styleReference": style}]
    with pytest.raises(AssertionError, match=f"InvalidInputError: {python.value}"):
        call_js("session.js", "InterpolationSession", *js_args, steps=[(to_camel(m), a) for m, a in full])
