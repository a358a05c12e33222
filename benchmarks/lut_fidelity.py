"""How faithful and how clean a video's --lut is: the LUT fitted as `stylize --lut` fits it, then
(1) inversions: the share of lattice steps along an input axis where the output's luminance
goes down by more than 1/255, and the largest such drop (in [0, 1] units), over the whole
lattice; the same over the extrapolated part only (steps between two nodes that no pixel of
the fit frames reaches, i.e. no pixel's colour lies in a cell they are a corner of), counting
drops over 2/255 there; (2) grey-ramp reversals:
steps of the 256-level grey ramp through the LUT whose output luminance goes down by more than
half a level, and steps of a 4097-point grey ramp interpolated in float that go down at all;
for six near-grey ramps (grey plus or minus 8 levels on one channel, in float) the deepest
reversal: how far (in levels of 255) luminance falls below what the ramp reached before;
(3) fidelity: the mean absolute difference (0..255) at given frames between the frame through
the LUT and the stylizer's own stylization of that frame.

    python -m benchmarks.lut_fidelity [--clip PATH] [--style PATH] [--frames 0 120 240]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from client.api import Stylizer
from client.device.lut import _interpolate, apply_lut, fit_lut
from client.image import stylize_frames_as_photos
from client.look import LUT_SIZE, frame_at, frames_for_lut
from mvstylizer_common.samples import sample_clip, sample_style

LUMA = np.array([0.2126, 0.7152, 0.0722])  # Rec. 709 weights, on the LUT's RGB


def inversions(lut: np.ndarray, nodes: np.ndarray | None = None, tolerance: float = 1 / 255) -> tuple[float, float]:
    """(share of lattice steps along an input axis whose output luminance drops by more than
    `tolerance`, the largest drop), over the steps between two of `nodes` (all when None)."""
    luma = lut.astype(np.float64) @ LUMA
    size = luma.shape[0]
    nodes = np.ones(luma.shape, bool) if nodes is None else nodes
    steps = np.concatenate(
        [
            np.diff(luma, axis=axis)[
                np.take(nodes, range(size - 1), axis=axis) & np.take(nodes, range(1, size), axis=axis)
            ]
            for axis in range(3)
        ]
    )
    return float((steps < -tolerance).mean()), float(max(0.0, -steps.min(initial=0.0)))


def unreached(originals: list[np.ndarray], size: int) -> np.ndarray:
    """Lattice nodes ([b][g][r]) that are no corner of a cell any pixel's colour falls in."""
    colours = np.concatenate([o.reshape(-1, 3) for o in originals]).astype(np.float64) / 255 * (size - 1)
    base = np.minimum(np.floor(colours).astype(int), size - 2)
    reached = np.zeros((size, size, size), bool)
    for db, dg, dr in np.ndindex(2, 2, 2):
        reached[base[:, 2] + db, base[:, 1] + dg, base[:, 0] + dr] = True
    return ~reached


def grey_ramp_reversals(lut: np.ndarray) -> int:
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    luma = apply_lut(ramp, lut).astype(np.float64) @ LUMA
    return int((np.diff(luma) < -0.5).sum())


def _float_ramp(lut: np.ndarray, offset=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Output luminance along a 4097-point ramp (grey plus `offset`, clipped), interpolated in float."""
    ramp = np.clip(np.linspace(0.0, 1.0, 4097)[:, None] + np.asarray(offset), 0.0, 1.0)
    return _interpolate(ramp, lut.astype(np.float64)) @ LUMA


def float_ramp_reversals(lut: np.ndarray) -> int:
    return int((np.diff(_float_ramp(lut)) < -1e-9).sum())


def deepest_reversal(lut: np.ndarray, offset) -> float:
    luma = _float_ramp(lut, offset)
    return float((np.maximum.accumulate(luma) - luma).max() * 255)


NEAR_GREY = [tuple(sign * 8 / 255 * (np.arange(3) == c)) for c in range(3) for sign in (1, -1)]


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
    far_share, far_drop = inversions(lut, unreached(originals, lut.shape[0]), tolerance=2 / 255)
    errors = {
        str(index): round(float(np.abs(apply_lut(frame, lut).astype(np.float64) - want).mean()), 2)
        for index, frame, want in zip(args.frames, probes, truth, strict=True)
    }
    report = {
        "fit_frames": len(originals),
        "inverted_steps": round(share, 4),
        "largest_drop": round(drop, 3),
        "extrapolated_inverted_steps": round(far_share, 4),
        "extrapolated_largest_drop": round(far_drop, 4),
        "grey_ramp_reversals": grey_ramp_reversals(lut),
        "float_grey_ramp_reversals": float_ramp_reversals(lut),
        "near_grey_ramp_deepest_reversals": [round(deepest_reversal(lut, offset), 1) for offset in NEAR_GREY],
        "mean_abs_error_at_frame": errors,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
