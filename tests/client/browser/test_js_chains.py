"""client/browser/chains.js against services/interpolator/chains.py, and the picked video's job
(pipeline.js) checking its flows to keys as the file job does."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from services.interpolator import chains
from tests.client.browser.jsbridge import call_js
from tests.media import textured_background

FRAME = (200, 120)
JOB = "../../tests/client/browser/astray_job.mjs"


def smooth_flow(width: int, height: int, seed: int, scale: float = 12.0) -> np.ndarray:
    """A smooth random flow field (frame pixels), as flows between nearby frames look."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0, scale, (4, 6, 2)).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


@pytest.mark.parametrize(
    "grid", [(200, 120), (100, 60), (48, 29), (24, 14)], ids=["full", "half", "chain-grid", "coarser"]
)
def test_chains_to_a_key_match(grid):
    steps = [smooth_flow(*grid, seed) for seed in range(4)]
    python = chains.chains_to_key(steps, *FRAME)
    js = call_js("chains.js", "chainsToKey", steps, *FRAME)
    assert len(js) == len(python)
    for a, b in zip(js, python, strict=True):
        np.testing.assert_allclose(a.reshape(b.shape), b, atol=2e-3)


def test_checked_confidences_match():
    steps = [smooth_flow(200, 120, seed) for seed in range(3)]
    chained = chains.chains_to_key(steps, *FRAME)
    rng = np.random.default_rng(7)
    for k, chain in enumerate(chained):
        direct = cv2.resize(chain, (200, 120), interpolation=cv2.INTER_LINEAR) + smooth_flow(200, 120, 10 + k, 30.0)
        confidence = rng.uniform(0.5, 1.0, (120, 200)).astype(np.float32)
        python = confidence * chains.chain_agreement(direct, chain, *FRAME)
        js = call_js("chains.js", "checkedConfidence", direct, confidence, chain, *FRAME)
        np.testing.assert_allclose(js.reshape(python.shape), python, atol=1e-4)
        assert python.min() < 0.3 < python.max()  # both agreeing and astray cells


PAN = 4  # px a frame, and faster each frame: a chain a step off, or composed from the wrong end, shows


def job_frames(count: int) -> list[np.ndarray]:
    """A still textured scene, so the key policy keeps to its maximum gap; the job's flows (made up
    by astray_job.mjs) say it pans PAN px a frame and faster."""
    scene = textured_background(96, 64, seed=3)
    return [scene.copy() for _ in range(count)]


@pytest.mark.parametrize("astray", [False, True], ids=["true-flows", "flows-astray"])
def test_a_picked_videos_flows_far_from_the_chained_motion_lose_their_confidence(astray):
    """As the file job: a flow straight to a key that went 30 px astray (full photometric confidence,
    as on a plain surface) is not trusted, in either direction; true flows (the pan's) keep their trust."""
    count = 14
    frames = job_frames(count)
    options = {"planLongSide": 96, "flowLongSide": 96, "policy": "auto", "maxGap": 6}
    offset = [0.0, 30.0] if astray else [0.0, 0.0]
    steps = [("look", [k, frame]) for k, frame in enumerate(frames)] + [("finishLooking", []), ("keyIndices", [])]
    keys = call_js(JOB, "AstrayJob", 96, 64, frames[0], options, offset, PAN, steps=steps)[-1]
    assert keys[0] == 0 and keys[-1] == count - 1 and max(np.diff(keys)) > 2, keys
    steps = steps[:-1]
    steps += [("takeAnswer", [{"index": k, "rgb": frames[k], "generation": 0}]) for k in keys]
    steps += [("confidencesAt", [k, frame]) for k, frame in enumerate(frames)]
    answers = call_js(JOB, "AstrayJob", 96, 64, frames[0], options, offset, PAN, steps=steps)
    checked = 0
    for given in answers[-count:]:
        if given is None:
            continue  # a key frame
        for key, confidence in [
            (given["prevKey"], given["confidencePrev"]),
            (given["nextKey"], given["confidenceNext"]),
        ]:
            if astray and abs(given["index"] - key) > 1:
                assert confidence < 0.05, given
                checked += 1
            else:
                assert confidence > 0.9, given
    assert checked >= 12 or not astray
