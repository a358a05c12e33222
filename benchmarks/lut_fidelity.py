"""How faithful and how clean a video's --lut is: the LUT fitted as `stylize --lut` fits it, then
(1) inversions: the share of lattice steps along an input axis where the output's luminance
goes down, and the largest such drop (in [0, 1] units); (2) grey-ramp reversals: steps of the
256-level grey ramp through the LUT whose output luminance goes down by more than rounding
(half a level); (3) fidelity: the mean absolute difference (0..255) at given frames between
the frame through the LUT and the stylizer's own stylization of that frame.

    python -m benchmarks.lut_fidelity [--clip PATH] [--style PATH] [--frames 0 120 240]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from client.api import Stylizer
from client.device.lut import apply_lut, fit_lut
from client.image import stylize_frames_as_photos
from client.look import LUT_SIZE, frame_at, frames_for_lut
from mvstylizer_common.samples import sample_clip, sample_style

LUMA = np.array([0.2126, 0.7152, 0.0722])  # Rec. 709 weights, on the LUT's RGB


def inversions(lut: np.ndarray, tolerance: float = 1 / 255) -> tuple[float, float]:
    """(share of lattice steps along an input axis whose output luminance drops, the largest drop)."""
    luma = lut.astype(np.float64) @ LUMA
    steps = np.concatenate([np.diff(luma, axis=axis).ravel() for axis in range(3)])
    return float((steps < -tolerance).mean()), float(max(0.0, -steps.min()))


def grey_ramp_reversals(lut: np.ndarray) -> int:
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    luma = apply_lut(ramp, lut).astype(np.float64) @ LUMA
    return int((np.diff(luma) < -0.5).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", default=str(sample_clip()))
    parser.add_argument("--style", default=str(sample_style()))
    parser.add_argument("--frames", type=int, nargs="+", default=[0, 120, 240])
    args = parser.parse_args()
    with Stylizer() as stylizer:
        services = stylizer.warm_services
        originals = frames_for_lut(args.clip)
        lut = fit_lut(originals, stylize_frames_as_photos(originals, args.style, services, "lut"), LUT_SIZE)
        probes = [frame_at(args.clip, index) for index in args.frames]
        truth = stylize_frames_as_photos(probes, args.style, services, "probe")
    share, drop = inversions(lut)
    errors = {
        str(index): round(float(np.abs(apply_lut(frame, lut).astype(np.float64) - want).mean()), 2)
        for index, frame, want in zip(args.frames, probes, truth, strict=True)
    }
    report = {
        "fit_frames": len(originals),
        "inverted_steps": round(share, 4),
        "largest_drop": round(drop, 3),
        "grey_ramp_reversals": grey_ramp_reversals(lut),
        "mean_abs_error_at_frame": errors,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
