"""Flows to key frames checked against the motion chained frame to frame (file mode).

A flow straight to a key many frames away can match a plain surface anywhere: white matches
white, so DIS may place a point of a fast-moving white panel on another part of the panel, or on
one that has left the frame, with full photometric confidence. The key's map there was fitted on
other content, and the panel shows it as a discoloured patch (a trail). Consecutive frames differ
little, so flows between them hold; chained from the key, they tell where each point really is
there. Where the flow straight to the key lands far from that, its confidence falls, and the cell
takes the other key's map or its trusted neighbours'.

Chains are composed on a coarse grid (CHAIN_LONG_SIDE): the check only catches gross errors, and
a coarse chain is cheap to keep for every frame of a segment.
"""

from __future__ import annotations

import cv2
import numpy as np

from services.interpolator.core import warp_map
from services.interpolator.grids import grid_size, resize_field

CHAIN_LONG_SIDE = 48
# A flow to a key this share of the frame's long side away from the chained motion keeps e^-1 of
# its confidence. Chains drift a little over a segment; the errors this catches are gross.
CHAIN_TOLERANCE = 0.12


def chain_grid(frame_width: int, frame_height: int) -> tuple[int, int]:
    """(width, height) of the grid chains are composed on."""
    return grid_size(frame_width, frame_height, CHAIN_LONG_SIDE)


def to_chain_grid(flow: np.ndarray, frame_width: int, frame_height: int) -> np.ndarray:
    """A flow (any grid, frame pixels) on the chain grid: averaged where the flow's grid is finer,
    bilinear where it is coarser (a flow grid under CHAIN_LONG_SIDE)."""
    width, height = chain_grid(frame_width, frame_height)
    if flow.shape[:2] == (height, width):
        return flow
    if flow.shape[1] >= width and flow.shape[0] >= height:
        return cv2.resize(flow, (width, height), interpolation=cv2.INTER_AREA)
    return resize_field(flow, width, height)


def chain_through(step: np.ndarray, onward: np.ndarray | None, frame_width: int, frame_height: int) -> np.ndarray:
    """The flow from a frame to a key through its neighbour frame: `step` (frame -> neighbour) then
    `onward` (neighbour -> key; None when the neighbour is the key). Both on the chain grid, in
    frame pixels; so is the answer."""
    if onward is None:
        return step
    return step + warp_map(onward, step, frame_width, frame_height)


def chain_agreement(direct: np.ndarray, chained: np.ndarray, frame_width: int, frame_height: int) -> np.ndarray:
    """In [0, 1] on direct's grid: how near the flow straight to a key (direct, any grid) lands to
    where the chained flow (chain grid) says the point is."""
    height, width = direct.shape[:2]
    apart = direct - resize_field(chained, width, height)
    tolerance = CHAIN_TOLERANCE * max(frame_width, frame_height)
    return np.exp(-(np.square(apart[..., 0]) + np.square(apart[..., 1])) * (1.0 / tolerance**2)).astype(np.float32)


def chains_to_key(steps: list[np.ndarray], frame_width: int, frame_height: int) -> list[np.ndarray]:
    """Chained flows to a key from the frames of a segment, given each frame's step towards the key
    (frame -> its neighbour on the key's side), nearest the key first. Chain grid; nearest first."""
    chains: list[np.ndarray] = []
    onward = None
    for step in steps:
        onward = chain_through(to_chain_grid(step, frame_width, frame_height), onward, frame_width, frame_height)
        chains.append(onward)
    return chains


def checked_confidences(
    flows: list[np.ndarray],
    confidences: list[np.ndarray],
    steps: list[np.ndarray],
    frame_width: int,
    frame_height: int,
) -> list[np.ndarray]:
    """A segment's confidences in its flows to one key, each times its flow's agreement with the
    chained motion. Lists ordered nearest the key first; steps: each frame's flow to its neighbour
    on the key's side (the key itself for the nearest)."""
    chains = chains_to_key(steps, frame_width, frame_height)
    return [
        confidence * chain_agreement(flow, chained, frame_width, frame_height)
        for flow, confidence, chained in zip(flows, confidences, chains, strict=True)
    ]
