"""Temporal artefacts frame by frame, against frame-by-frame stylization of the same frames.

A clip's averages hide what a viewer sees: one frame whose whole look jumps (a pop), a pair of
frames that tear, a patch that carries the wrong look for a few frames. Each measure here is
per frame, and compared with the same measure of the reference (frame-by-frame stylization):

- colour jump: the sum over R, G and B of the change of the frame's mean colour from the frame
  before (0-255). A pop is a frame whose jump exceeds the reference's jump at that frame by more
  than POP_MARGIN.
- warping error per frame pair (benchmarks.metrics.warping_errors, Lai et al.): its p99 and
  maximum against the reference's.
- patch excess: the largest mean |output - reference| over blocks of PATCH_FRACTION of the long
  side, minus the frame's median block deviation: a local patch that differs from the reference
  while the frame as a whole agrees (a trail, a smear).

Frames are HxWx3 uint8 RGB; a pair's figures are reported at its later frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from benchmarks.metrics import ClipMotion, warping_errors

# A frame's colour jump may exceed the reference's by this much (sum over RGB, 0-255) before it pops.
POP_MARGIN = 6.0
# Patches are squares of this share of the frame's long side.
PATCH_FRACTION = 1 / 20
# A patch this far (mean grey levels) beyond the frame's typical deviation is reported.
PATCH_EXCESS_FLAG = 20.0
_WORST = 5


def colour_jumps(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Per frame: sum over RGB of |mean colour - the previous frame's mean colour|; 0 for the first."""
    return mean_colour_jumps(np.array([frame.reshape(-1, 3).mean(0) for frame in frames]))


def mean_colour_jumps(means: np.ndarray) -> np.ndarray:
    """colour_jumps from the frames' mean colours (N x 3)."""
    jumps = np.zeros(len(means))
    jumps[1:] = np.abs(np.diff(np.asarray(means, np.float64), axis=0)).sum(1)
    return jumps


def patch_excess(output: np.ndarray, reference: np.ndarray) -> float:
    """Largest block mean |output - reference| (grey levels, over RGB) minus the median block's."""
    height, width = reference.shape[:2]
    side = max(4, round(max(width, height) * PATCH_FRACTION))
    diff = cv2.absdiff(output, reference).mean(-1, dtype=np.float32)
    blocks = cv2.resize(diff, (max(1, width // side), max(1, height // side)), interpolation=cv2.INTER_AREA)
    return float(blocks.max() - np.median(blocks))


@dataclass
class TemporalReference:
    """The reference's per-frame figures and the input's motion, computed once per clip."""

    frames: Sequence[np.ndarray]
    motion: ClipMotion
    jumps: np.ndarray
    warping: np.ndarray

    @classmethod
    def of(cls, reference: Sequence[np.ndarray], inputs: Sequence[np.ndarray]) -> TemporalReference:
        motion = ClipMotion.of(inputs)
        return cls(reference, motion, colour_jumps(reference), warping_errors(reference, motion))


def temporal_report(outputs: Sequence[np.ndarray], reference: TemporalReference) -> dict:
    """Pops, per-frame warping error and patch excess of `outputs` against the reference, with the
    frames where each occurs."""
    if len(outputs) != len(reference.frames):
        raise ValueError(f"{len(outputs)} output frames against {len(reference.frames)} reference frames")
    jumps = colour_jumps(outputs)
    beyond = jumps - reference.jumps
    pops = np.flatnonzero(beyond > POP_MARGIN)
    warping = warping_errors(outputs, reference.motion)
    patches = np.array([patch_excess(o, r) for o, r in zip(outputs, reference.frames, strict=True)])

    def p99(values: np.ndarray) -> float:
        return float(np.nanpercentile(values, 99))

    ratio = p99(warping) / max(p99(reference.warping), 1e-12)
    worst_warping = np.argsort(np.nan_to_num(warping, nan=-1.0))[::-1][:_WORST]
    worst_patches = np.argsort(patches)[::-1][:_WORST]
    return {
        "pops": len(pops),
        "pop_frames": [
            {"frame": int(t), "jump": round(float(jumps[t]), 2), "reference_jump": round(float(reference.jumps[t]), 2)}
            for t in pops[np.argsort(beyond[pops])[::-1]][:10]
        ],
        "max_jump_beyond_reference": round(float(beyond.max()), 2),
        "max_jump": round(float(jumps.max()), 2),
        "reference_max_jump": round(float(reference.jumps.max()), 2),
        "warping_error_p99": round(p99(warping), 6),
        "warping_error_max": round(float(np.nanmax(warping)), 6),
        "reference_warping_error_p99": round(p99(reference.warping), 6),
        "reference_warping_error_max": round(float(np.nanmax(reference.warping)), 6),
        "warping_error_p99_ratio": round(ratio, 3),
        "worst_warping_frames": [
            {
                "frame": int(t) + 1,
                "error": round(float(warping[t]), 6),
                "reference_error": round(float(reference.warping[t]), 6),
            }
            for t in worst_warping
        ],
        "patch_excess_p99": round(float(np.percentile(patches, 99)), 2),
        "patch_excess_max": round(float(patches.max()), 2),
        "patch_frames": int((patches > PATCH_EXCESS_FLAG).sum()),
        "worst_patch_frames": [{"frame": int(t), "excess": round(float(patches[t]), 2)} for t in worst_patches],
    }
