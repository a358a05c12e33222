"""A fitted LUT has no inversions (a gradient through it never reverses), and a video's LUT is
fitted on frames from all of it."""

from __future__ import annotations

import numpy as np

from client.device.lut import _interpolate, apply_lut, fit_lut
from client.look import frames_for_lut
from tests.media import encode_clip, textured_background

GAMMA = np.array([0.8, 1.15, 1.3])
LUMA = np.array([0.2126, 0.7152, 0.0722])  # Rec. 709


def _gamma(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(255 * (rgb / 255.0) ** GAMMA), 0, 255).astype(np.uint8)


def _folding_look() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Content with a full grey ramp and textures, graded so that luminance folds back: mid-tones
    darken as they brighten (a wave on the ramp), and the two halves of a frame take opposite grades."""
    ramp = np.repeat(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2), 32, axis=0)
    wave = np.clip(128 + 100 * np.sin(np.arange(256) / 255.0 * 6 * np.pi), 0, 255).astype(np.uint8)
    ramp_graded = np.repeat(np.repeat(wave[None, :, None], 3, axis=2), 32, axis=0)
    texture = textured_background(128, 96, seed=4)
    halves = np.hstack([texture, texture])
    halves_graded = np.hstack([texture, 255 - texture])
    return [ramp, halves], [ramp_graded, halves_graded]


def test_a_look_that_folds_back_gives_a_lut_that_is_monotone_in_luminance():
    originals, stylized = _folding_look()
    lut = fit_lut(originals, stylized)
    luma = lut.astype(np.float64) @ LUMA
    for axis in range(3):  # every line of the lattice along every input axis
        assert np.diff(luma, axis=axis).min() >= -1e-6
    # A grey ramp through it: the interpolated luminance never goes down, and the 8-bit output
    # goes down by no more than rounding.
    grey = np.repeat(np.linspace(0.0, 1.0, 1021)[:, None], 3, axis=1)
    assert np.diff(_interpolate(grey, lut.astype(np.float64)) @ LUMA).min() >= -1e-6
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    assert np.diff(apply_lut(ramp, lut).astype(np.float64) @ LUMA).min() >= -1.0
    # Smooth: no jumps between neighbouring nodes.
    for axis in range(3):
        assert np.abs(np.diff(lut, axis=axis)).max() < 0.25


def test_a_monotone_look_is_still_recovered_closely():
    texture = [textured_background(160, 96, seed=1), textured_background(160, 96, seed=2)]
    lut = fit_lut(texture, [_gamma(t) for t in texture])
    for frame in texture:
        assert np.abs(apply_lut(frame, lut).astype(int) - _gamma(frame)).mean() < 1.0


def test_a_video_lut_is_fitted_on_frames_from_the_whole_video(tmp_path):
    # The scene's colours change at the end (warm reds, then cold blues): a LUT fitted on the start
    # alone extrapolates the late colours; one fitted across the video holds them.
    count = 400
    warm = np.clip(textured_background(64, 48, seed=5) * np.array([1.3, 0.8, 0.3]), 0, 255).astype(np.uint8)
    cold = warm[:, :, ::-1].copy()
    frames = [warm if index < 300 else cold for index in range(count)]
    clip = tmp_path / "scenes.mp4"
    clip.write_bytes(encode_clip(frames))
    picks = frames_for_lut(str(clip))
    lut = fit_lut(picks, [_gamma(p) for p in picks])
    late = apply_lut(cold, lut).astype(int)
    assert np.abs(late - _gamma(cold)).mean() < 2.0
