// Flows to key frames checked against the motion chained frame to frame (services/interpolator/chains.py).
//
// A flow straight to a key many frames away can match a plain surface anywhere (white on white) with
// full photometric confidence; flows between consecutive frames hold. Chained from the key, they
// tell where a point really is there, and a flow to the key that lands far from that loses its
// confidence. Chains live on a coarse grid (CHAIN_LONG_SIDE), cheap to keep for every frame.

import { warpMap } from './core.js';
import { resizeArea } from './cv.js';
import { gridSize, resizeField } from './grids.js';

export const CHAIN_LONG_SIDE = 48;
// A flow to a key this share of the frame's long side from the chained motion keeps e^-1 of its confidence.
export const CHAIN_TOLERANCE = 0.12;

/** [width, height] of the grid chains are composed on. */
export function chainGrid(frameWidth, frameHeight) {
  return gridSize(frameWidth, frameHeight, CHAIN_LONG_SIDE);
}

/** A flow (any grid, frame pixels) on the chain grid: averaged where the flow's grid is finer,
 * bilinear where it is coarser (a flow grid under CHAIN_LONG_SIDE). */
export function toChainGrid(flow, frameWidth, frameHeight) {
  const [width, height] = chainGrid(frameWidth, frameHeight);
  if (flow.width === width && flow.height === height) return flow;
  return flow.width >= width && flow.height >= height ? resizeArea(flow, width, height) : resizeField(flow, width, height);
}

/** The flow from a frame to a key through its neighbour frame: `step` (frame -> neighbour) then
 * `onward` (neighbour -> key; null when the neighbour is the key). Both on the chain grid. */
export function chainThrough(step, onward, frameWidth, frameHeight) {
  if (!onward) return step;
  const moved = warpMap(onward, step, frameWidth, frameHeight);
  for (let j = 0; j < moved.data.length; j++) moved.data[j] += step.data[j];
  return moved;
}

/** Float32Array over direct's grid, in [0, 1]: how near the flow straight to a key (direct, any grid)
 * lands to where the chained flow (chain grid) says the point is. */
export function chainAgreement(direct, chained, frameWidth, frameHeight) {
  const { width, height } = direct;
  const here = resizeField(chained, width, height).data;
  const tolerance = CHAIN_TOLERANCE * Math.max(frameWidth, frameHeight);
  const scale = 1 / (tolerance * tolerance);
  const out = new Float32Array(width * height);
  for (let i = 0; i < out.length; i++) {
    const dx = direct.data[2 * i] - here[2 * i];
    const dy = direct.data[2 * i + 1] - here[2 * i + 1];
    out[i] = Math.exp(-(dx * dx + dy * dy) * scale);
  }
  return out;
}

/** Chained flows to a key from a segment's frames, given each frame's step towards the key (frame ->
 * its neighbour on the key's side), nearest the key first. Chain grid; nearest first. */
export function chainsToKey(steps, frameWidth, frameHeight) {
  const chains = [];
  let onward = null;
  for (const step of steps) {
    onward = chainThrough(toChainGrid(step, frameWidth, frameHeight), onward, frameWidth, frameHeight);
    chains.push(onward);
  }
  return chains;
}

/** A confidence (a mat over the flow's grid) times its flow's agreement with the chained motion. */
export function checkedConfidence(flow, confidence, chained, frameWidth, frameHeight) {
  const agreement = chainAgreement(flow, chained, frameWidth, frameHeight);
  const out = { ...confidence, data: new Float32Array(confidence.data.length) };
  for (let i = 0; i < agreement.length; i++) out.data[i] = confidence.data[i] * agreement[i];
  return out;
}
