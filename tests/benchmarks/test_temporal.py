"""The per-frame temporal measures on videos whose artefacts are known."""

import numpy as np
import pytest

from benchmarks.temporal import POP_MARGIN, TemporalReference, colour_jumps, patch_excess, temporal_report
from tests.benchmarks.test_metrics import pan


def shifted(frame: np.ndarray, levels: int) -> np.ndarray:
    return np.clip(frame.astype(int) + levels, 0, 255).astype(np.uint8)


def test_colour_jumps_are_the_summed_change_of_the_mean_colour():
    frames = [np.full((8, 8, 3), (10, 20, 30), np.uint8), np.full((8, 8, 3), (14, 17, 30), np.uint8)]
    np.testing.assert_allclose(colour_jumps(frames), [0.0, 7.0])


def test_a_pop_is_counted_at_its_frame_and_an_ease_is_not():
    reference = pan(16)
    ref = TemporalReference.of(reference, reference)
    popped = [shifted(f, 12) if t >= 6 else f for t, f in enumerate(reference)]  # 36 at once, at frame 6
    eased = [shifted(f, min(t, 12)) for t, f in enumerate(reference)]  # the same change, 3 a frame
    report = temporal_report(popped, ref)
    assert report["pops"] == 1 and report["pop_frames"][0]["frame"] == 6
    assert report["max_jump_beyond_reference"] == pytest.approx(36, abs=1) and POP_MARGIN < 36
    assert temporal_report(eased, ref)["pops"] == 0
    assert temporal_report(reference, ref)["pops"] == 0


def test_a_tear_shows_in_the_per_frame_warping_error_at_its_frame():
    reference = pan(10)
    ref = TemporalReference.of(reference, reference)
    torn = list(reference)
    torn[7] = shifted(reference[7], 30)
    report = temporal_report(torn, ref)
    assert {w["frame"] for w in report["worst_warping_frames"][:2]} == {7, 8}
    assert report["warping_error_p99_ratio"] > 10
    assert temporal_report(reference, ref)["warping_error_p99_ratio"] == pytest.approx(1.0)


def test_a_local_patch_counts_while_a_whole_frame_shift_does_not():
    reference = pan(1)[0]
    patched = reference.copy()
    patched[20:40, 30:60] = shifted(reference[20:40, 30:60], 60)
    assert patch_excess(patched, reference) > 40
    assert patch_excess(shifted(reference, 60), reference) < 5
    ref = TemporalReference.of([reference, reference], [reference, reference])
    report = temporal_report([reference, patched], ref)
    assert report["patch_frames"] == 1 and report["worst_patch_frames"][0]["frame"] == 1


def test_the_quality_table_lists_each_runs_pops_with_their_frames():
    from benchmarks.quality import temporal_table

    reference = pan(8)
    ref = TemporalReference.of(reference, reference)
    popped = [shifted(f, 12) if t >= 5 else f for t, f in enumerate(reference)]
    rows = [
        {"run": "frame-by-frame", "warping_error": 0.001, "psnr_vs_frame_by_frame_db": None},
        {"run": "live engine", "warping_error": 0.002, "psnr_vs_frame_by_frame_db": 30.0},
    ]
    rows[1]["temporal"] = temporal_report(popped, ref)
    table = temporal_table([{"clip": "a.mp4", "style": "s.jpg", "rows": rows}])
    assert "| a.mp4 | s.jpg | live engine | 30.0 | 0.002 (0.001) | 1 (5) |" in table
