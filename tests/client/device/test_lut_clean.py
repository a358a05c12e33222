"""A fitted LUT has no inversions where they would show (a grey ramp through it never reverses, and
what it makes up for colours the frames lack never folds), keeps the look where the frames show
it, and a video's LUT is fitted on frames from all of it."""

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


def _reached(originals: list[np.ndarray], size: int) -> np.ndarray:
    """Which lattice nodes ([b][g][r]) are a corner of a cell some pixel's colour falls in."""
    colours = np.concatenate([o.reshape(-1, 3) for o in originals]).astype(np.float64) / 255 * (size - 1)
    base = np.minimum(np.floor(colours).astype(int), size - 2)
    reached = np.zeros((size, size, size), bool)
    for db in (0, 1):
        for dg in (0, 1):
            for dr in (0, 1):
                reached[base[:, 2] + db, base[:, 1] + dg, base[:, 0] + dr] = True
    return reached


def _grey_ramp_never_darkens(lut: np.ndarray) -> None:
    # Interpolated (as a grading tool does, finer than the lattice): never down at all.
    grey = np.repeat(np.linspace(0.0, 1.0, 4097)[:, None], 3, axis=1)
    assert np.diff(_interpolate(grey, lut.astype(np.float64)) @ LUMA).min() >= -1e-9
    # In 8 bits: down by no more than the rounding of the three channels.
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    assert np.diff(apply_lut(ramp, lut).astype(np.float64) @ LUMA).min() >= -1.0


def test_a_look_that_folds_back_gives_a_lut_whose_grey_ramp_never_reverses():
    originals, stylized = _folding_look()
    lut = fit_lut(originals, stylized)
    _grey_ramp_never_darkens(lut)


def test_where_the_frames_show_no_colour_the_lut_does_not_fold():
    # Frames with a narrow range of colours and a look that folds them: what the fit makes up for
    # all the colours around them (most of the cube) must not turn luminance down along any axis.
    originals, stylized = _folding_look()
    narrow = [np.clip(o // 3 + 90, 0, 255).astype(np.uint8) for o in originals]
    for frames in (originals, narrow):
        lut = fit_lut(frames, stylized)
        luma = lut.astype(np.float64) @ LUMA
        unreached = ~_reached(frames, lut.shape[0])
        assert unreached.mean() > 0.5
        for axis in range(3):
            both = np.take(unreached, range(32), axis=axis) & np.take(unreached, range(1, 33), axis=axis)
            assert np.diff(luma, axis=axis)[both].min() >= -2 / 255
            assert np.abs(np.diff(lut, axis=axis))[both].max() < 0.35  # and no cliffs there
        _grey_ramp_never_darkens(lut)


def test_a_look_that_darkens_brighter_colours_is_kept_where_the_frames_show_it():
    # A look that darkens blues (luminance falls as blue rises, off the grey axis): on the frames'
    # own colours a LUT follows it, which a LUT forced monotone along every axis cannot.
    texture = [textured_background(160, 96, seed=1), textured_background(160, 96, seed=2)]
    graded = []
    for frame in texture:
        rgb = frame.astype(np.float64)
        dark = np.clip(rgb - 0.9 * np.maximum(rgb[..., 2:] - rgb.mean(axis=-1, keepdims=True), 0), 0, 255)
        graded.append(np.rint(dark).astype(np.uint8))
    lut = fit_lut(texture, graded)
    for frame, want in zip(texture, graded, strict=True):
        assert np.abs(apply_lut(frame, lut).astype(int) - want).mean() < 1.5
    _grey_ramp_never_darkens(lut)


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
