// Optical flow and confidence on the device, from original frames (services/interpolator/flow.py).
//
// The reference measures flow with OpenCV's DIS, which has no browser build; this module keeps
// flow.py's interface and conventions (flow on a small grey grid, in full-frame pixels;
// current(x) ~ reference(x + flow(x))) with a coarse-to-fine dense Lucas-Kanade: every step is a
// per-pixel operation or a box filter, as a GPU shader runs it. photometricConfidence is a
// faithful port, so the same flow gives the same confidence on both sides.

import { boxBlur, mat, remapLinear, resizeArea, resizeLinear, rgbToGray } from './cv.js';
import { frameToGridScale, shrinkToLongSide } from './grids.js';

export const DEFAULT_FLOW_LONG_SIDE = 320;
export const DEFAULT_PHOTOMETRIC_SIGMA = 14.0;
// The coarsest pyramid level keeps a short side of at least this many pixels.
export const PYRAMID_MIN_SIDE = 8;
// Lucas-Kanade window radius (pixels of each level) and Gauss-Newton steps per level.
export const LK_RADIUS = 5;
export const LK_ITERATIONS = 5;
// Box window (pixels) the flow is smoothed over after each level.
export const FLOW_SMOOTHING = 5;
// Ridge on the window's structure tensor (grey levels squared per pixel): flat windows keep the
// flow brought up from the coarser level instead of amplifying noise.
export const LK_RIDGE = 4.0;
// Residuals (grey levels) past this scale count less and less (occlusions, new content).
export const LK_RESIDUAL_SCALE = 20.0;

/** A frame prepared once for flow: { gray (uint8 mat at the grid size), frameWidth, frameHeight, small }. */
export function prepare(rgb, longSide = DEFAULT_FLOW_LONG_SIDE) {
  if (!Number.isInteger(longSide) || longSide < 1) {
    throw new Error(`the flow grid's long side must be a whole number of pixels >= 1, got ${longSide}`);
  }
  const small = shrinkToLongSide(rgb, longSide);
  return { gray: rgbToGray(small), frameWidth: rgb.width, frameHeight: rgb.height, small };
}

/** Flow on current's grid, in frame pixels: current(x) ~ reference(x + flow(x)). gh x gw x 2 mat. */
export function estimateFlow(current, reference) {
  const { width: gw, height: gh } = current.gray;
  if (reference.gray.width !== gw || reference.gray.height !== gh) {
    throw new Error(`flow between grids of different sizes: ${gw}x${gh} and ${reference.gray.width}x${reference.gray.height}`);
  }
  const toFloat = (m) => ({ ...m, data: Float32Array.from(m.data) });
  const pyramid = [[toFloat(current.gray), toFloat(reference.gray)]];
  for (;;) {
    const [c, r] = pyramid[pyramid.length - 1];
    const w = Math.round(c.width / 2);
    const h = Math.round(c.height / 2);
    if (Math.min(w, h) < PYRAMID_MIN_SIDE) break;
    pyramid.push([resizeArea(c, w, h), resizeArea(r, w, h)]);
  }
  let flow = null;
  for (let level = pyramid.length - 1; level >= 0; level--) {
    const [cur, ref] = pyramid[level];
    if (flow === null) {
      flow = mat(cur.height, cur.width, 2);
    } else {
      const sx = cur.width / flow.width;
      const sy = cur.height / flow.height;
      flow = resizeLinear(flow, cur.width, cur.height);
      for (let i = 0; i < flow.data.length; i += 2) {
        flow.data[i] *= sx;
        flow.data[i + 1] *= sy;
      }
    }
    for (let step = 0; step < LK_ITERATIONS; step++) flow = lucasKanadeStep(cur, ref, flow);
    // Smoothed before the next level: a little of the regularity DIS's variational refinement gives.
    flow = boxBlur(flow, FLOW_SMOOTHING, FLOW_SMOOTHING, 'replicate');
  }
  const scaleX = current.frameWidth / gw;
  const scaleY = current.frameHeight / gh;
  for (let i = 0; i < flow.data.length; i += 2) {
    flow.data[i] *= scaleX;
    flow.data[i + 1] *= scaleY;
  }
  return flow;
}

/** One Gauss-Newton step of windowed Lucas-Kanade: the flow refined where the windows can tell. */
function lucasKanadeStep(cur, ref, flow) {
  const { width: w, height: h } = cur;
  const n = w * h;
  const warped = remapLinear(ref, n, (i) => [(i % w) + flow.data[2 * i], Math.floor(i / w) + flow.data[2 * i + 1]]);
  const terms = mat(h, w, 5);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const l = y * w + Math.max(x - 1, 0);
      const r = y * w + Math.min(x + 1, w - 1);
      const u = Math.max(y - 1, 0) * w + x;
      const d = Math.min(y + 1, h - 1) * w + x;
      // Gradients averaged over both images: steadier than either alone.
      const ix = 0.25 * (warped[r] - warped[l] + cur.data[r] - cur.data[l]);
      const iy = 0.25 * (warped[d] - warped[u] + cur.data[d] - cur.data[u]);
      const it = warped[i] - cur.data[i];
      // Pixels whose match falls outside the reference say nothing; large residuals (occlusions)
      // are down-weighted, as a robust (Cauchy) fit does.
      const sx = x + flow.data[2 * i];
      const sy = y + flow.data[2 * i + 1];
      const inside = sx >= 0 && sx <= w - 1 && sy >= 0 && sy <= h - 1;
      const weight = inside ? 1 / (1 + (it / LK_RESIDUAL_SCALE) ** 2) : 0;
      terms.data.set([weight * ix * ix, weight * ix * iy, weight * iy * iy, weight * ix * it, weight * iy * it], 5 * i);
    }
  }
  const side = 2 * LK_RADIUS + 1;
  const sums = boxBlur(terms, side, side, 'replicate').data;
  const out = mat(h, w, 2);
  for (let i = 0; i < n; i++) {
    const a = sums[5 * i] + LK_RIDGE;
    const b = sums[5 * i + 1];
    const c = sums[5 * i + 2] + LK_RIDGE;
    const det = a * c - b * b;
    const du = -(c * sums[5 * i + 3] - b * sums[5 * i + 4]) / det;
    const dv = -(a * sums[5 * i + 4] - b * sums[5 * i + 3]) / det;
    // At most a pixel per step: the linearisation holds only that far.
    const norm = Math.max(1, Math.hypot(du, dv));
    out.data[2 * i] = flow.data[2 * i] + du / norm;
    out.data[2 * i + 1] = flow.data[2 * i + 1] + dv / norm;
  }
  return out;
}

/** Per-grid-pixel trust in [0, 1] that reference warped by flow explains current (float gh x gw x 1).
 * Low where the warped reference disagrees with the current frame or the flow points outside it. */
export function photometricConfidence(current, reference, flow, sigma = DEFAULT_PHOTOMETRIC_SIGMA) {
  const { width: gw, height: gh } = current.gray;
  const [sx, sy] = frameToGridScale(gw, gh, current.frameWidth, current.frameHeight);
  const at = (i) => [
    Math.fround((i % gw) + Math.fround(flow.data[2 * i] * sx)),
    Math.fround(Math.floor(i / gw) + Math.fround(flow.data[2 * i + 1] * sy)),
  ];
  const warped = remapLinear(reference.gray, gw * gh, at);
  const diff = mat(gh, gw, 1);
  for (let i = 0; i < gw * gh; i++) diff.data[i] = Math.abs(warped[i] - current.gray.data[i]);
  const blurred = boxBlur(diff, 3, 3, 'reflect101');
  const confidence = mat(gh, gw, 1);
  for (let i = 0; i < gw * gh; i++) {
    const [x, y] = at(i);
    const inside = x >= -0.5 && x <= gw - 0.5 && y >= -0.5 && y <= gh - 0.5;
    const e = Math.fround(blurred.data[i] * Math.fround(1 / sigma));
    confidence.data[i] = inside ? Math.exp(-(e * e)) : 0;
  }
  return confidence;
}
