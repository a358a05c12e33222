// Optical flow and confidence on the device, from original frames (services/interpolator/flow.py).
//
// The reference measures flow with OpenCV's DIS, which has no browser build; this module keeps
// flow.py's interface and conventions (flow on a small grey grid, in full-frame pixels;
// current(x) ~ reference(x + flow(x))) with a coarse-to-fine dense Lucas-Kanade: every step is a
// per-pixel operation or a box filter, as a GPU shader runs it. photometricConfidence is a
// faithful port, so the same flow gives the same confidence on both sides.

import { boxBlur, mat, remapPoints, resizeArea, resizeLinear, rgbToGray } from './cv.js';
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
// flow.py's DIS stops at a pyramid level at least this wide.
export const FINEST_LEVEL_MIN_WIDTH = 80;

/** A frame prepared once for flow: { gray (uint8 mat at the grid size), frameWidth, frameHeight, small }. */
export function prepare(rgb, longSide = DEFAULT_FLOW_LONG_SIDE) {
  if (!Number.isInteger(longSide) || longSide < 1) {
    throw new Error(`the flow grid's long side must be a whole number of pixels >= 1, got ${longSide}`);
  }
  const small = shrinkToLongSide(rgb, longSide);
  return { gray: rgbToGray(small), frameWidth: rgb.width, frameHeight: rgb.height, small };
}

/** The pyramid level (0: the grid itself) the estimator stops refining at, as flow.py sets DIS's
 * finest scale: a level at least FINEST_LEVEL_MIN_WIDTH wide, at most two halvings down. The flow
 * there is brought up to the grid bilinearly: colour maps are smooth, and the cost falls 4x a level. */
export function finestLevel(gridWidth) {
  return Math.max(0, Math.min(2, Math.floor(Math.log2(Math.max(1, gridWidth / FINEST_LEVEL_MIN_WIDTH)))));
}

/** The grey pyramid of a prepared frame as float mats, finest first (cached with its grey: a frame
 * takes part in several flows). */
export function pyramidOf(frame) {
  if (!frame.gray.pyramid) {
    const levels = [{ ...frame.gray, data: Float32Array.from(frame.gray.data) }];
    for (;;) {
      const top = levels[levels.length - 1];
      const w = Math.round(top.width / 2);
      const h = Math.round(top.height / 2);
      if (Math.min(w, h) < PYRAMID_MIN_SIDE) break;
      levels.push(resizeArea(top, w, h));
    }
    frame.gray.pyramid = levels;
  }
  return frame.gray.pyramid;
}

/** Flow on current's grid, in frame pixels: current(x) ~ reference(x + flow(x)). gh x gw x 2 mat. */
export function estimateFlow(current, reference) {
  const { width: gw, height: gh } = current.gray;
  if (reference.gray.width !== gw || reference.gray.height !== gh) {
    throw new Error(`flow between grids of different sizes: ${gw}x${gh} and ${reference.gray.width}x${reference.gray.height}`);
  }
  const curLevels = pyramidOf(current);
  const refLevels = pyramidOf(reference);
  const finest = Math.min(finestLevel(gw), curLevels.length - 1);
  const scratch = lkScratch(curLevels[finest].width * curLevels[finest].height, curLevels[finest].width);
  let flow = null;
  for (let level = curLevels.length - 1; level >= finest; level--) {
    const cur = curLevels[level];
    const ref = refLevels[level];
    if (flow === null) {
      flow = mat(cur.height, cur.width, 2);
    } else {
      flow = upscaleFlow(flow, cur.width, cur.height);
    }
    for (let step = 0; step < LK_ITERATIONS; step++) lucasKanadeStep(cur, ref, flow, scratch);
    // Smoothed before the next level: a little of the regularity DIS's variational refinement gives.
    flow = boxBlur(flow, FLOW_SMOOTHING, FLOW_SMOOTHING, 'replicate');
  }
  // In frame pixels, on the grid.
  const scaleX = current.frameWidth / flow.width;
  const scaleY = current.frameHeight / flow.height;
  if (flow.width !== gw || flow.height !== gh) flow = resizeLinear(flow, gw, gh);
  const d = flow.data;
  for (let i = 0; i < d.length; i += 2) {
    d[i] *= scaleX;
    d[i + 1] *= scaleY;
  }
  return flow;
}

/** A flow field resized to width x height, its values rescaled to the new pixels. */
function upscaleFlow(flow, width, height) {
  const sx = width / flow.width;
  const sy = height / flow.height;
  const out = resizeLinear(flow, width, height);
  for (let i = 0; i < out.data.length; i += 2) {
    out.data[i] *= sx;
    out.data[i + 1] *= sy;
  }
  return out;
}

/** Buffers one estimate reuses over its levels and steps (sized for the finest level). */
function lkScratch(n, width) {
  return { warped: new Float32Array(n), row: new Float64Array(5 * width), rows: new Float64Array(5 * n), column: new Float64Array(5 * width) };
}

/** One Gauss-Newton step of windowed Lucas-Kanade, in place: the flow refined where the windows
 * can tell. The five terms are summed over each window by running sums, along each row as the
 * row's terms are made, then down the columns as each row is solved (the same sums, in the same
 * order, as a separable box filter; no full-size pass in between). */
function lucasKanadeStep(cur, ref, flow, scratch) {
  const { width: w, height: h } = cur;
  const f = flow.data;
  const c = cur.data;
  const { warped, row: terms, rows, column } = scratch;
  const r = LK_RADIUS;
  warpLinear(ref.data, w, h, f, 1, 1, warped);
  for (let y = 0; y < h; y++) {
    const up = Math.max(y - 1, 0) * w;
    const down = Math.min(y + 1, h - 1) * w;
    const rowStart = y * w;
    for (let x = 0; x < w; x++) {
      const i = rowStart + x;
      const l = rowStart + (x > 0 ? x - 1 : 0);
      const rr = rowStart + (x < w - 1 ? x + 1 : w - 1);
      const u = up + x;
      const d = down + x;
      // Gradients averaged over both images: steadier than either alone.
      const ix = 0.25 * (warped[rr] - warped[l] + c[rr] - c[l]);
      const iy = 0.25 * (warped[d] - warped[u] + c[d] - c[u]);
      const it = warped[i] - c[i];
      // Pixels whose match falls outside the reference say nothing; large residuals (occlusions)
      // are down-weighted, as a robust (Cauchy) fit does.
      const sx = x + f[2 * i];
      const sy = y + f[2 * i + 1];
      const inside = sx >= 0 && sx <= w - 1 && sy >= 0 && sy <= h - 1;
      const q = it / LK_RESIDUAL_SCALE;
      const weight = inside ? 1 / (1 + q * q) : 0;
      terms[x] = weight * ix * ix;
      terms[w + x] = weight * ix * iy;
      terms[2 * w + x] = weight * iy * iy;
      terms[3 * w + x] = weight * ix * it;
      terms[4 * w + x] = weight * iy * it;
    }
    // Each term's window sums along the row, borders replicated.
    for (let k = 0; k < 5; k++) {
      const from = k * w;
      const to = (5 * y + k) * w;
      const last = from + w - 1;
      let s = 0;
      for (let j = -r; j <= r; j++) s += terms[j < 0 ? from : j > w - 1 ? last : from + j];
      for (let x = 0; x < w; x++) {
        rows[to + x] = s;
        const enter = x + r + 1;
        const leave = x - r;
        s += terms[enter > w - 1 ? last : from + enter] - terms[leave < 0 ? from : from + leave];
      }
    }
  }
  // Down the columns: the window sums of row y, then the row solved.
  const stride = 5 * w;
  column.fill(0);
  for (let j = -r; j <= r; j++) {
    const at = (j < 0 ? 0 : j > h - 1 ? h - 1 : j) * stride;
    for (let k = 0; k < stride; k++) column[k] += rows[at + k];
  }
  const side = 2 * r + 1;
  const norm = 1 / (side * side);
  for (let y = 0; y < h; y++) {
    for (let x = 0, i = y * w; x < w; x++, i++) {
      const a = column[x] * norm + LK_RIDGE;
      const b = column[w + x] * norm;
      const cc = column[2 * w + x] * norm + LK_RIDGE;
      const ex = column[3 * w + x] * norm;
      const ey = column[4 * w + x] * norm;
      const det = a * cc - b * b;
      const du = -(cc * ex - b * ey) / det;
      const dv = -(a * ey - b * ex) / det;
      // At most a pixel per step: the linearisation holds only that far.
      const len = Math.max(1, Math.sqrt(du * du + dv * dv));
      f[2 * i] += du / len;
      f[2 * i + 1] += dv / len;
    }
    const enter = y + r + 1;
    const leave = y - r;
    const enterAt = (enter > h - 1 ? h - 1 : enter) * stride;
    const leaveAt = (leave < 0 ? 0 : leave) * stride;
    for (let k = 0; k < stride; k++) column[k] += rows[enterAt + k] - rows[leaveAt + k];
  }
}

/** Bilinear samples of a w x h float plane at (x + fx * flow_x, y + fy * flow_y), borders
 * replicated: cv2.remap with INTER_LINEAR on one channel, into out. */
function warpLinear(src, w, h, flow, fx, fy, out) {
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i++) {
      const px = x + flow[2 * i] * fx;
      const py = y + flow[2 * i + 1] * fy;
      const x0 = Math.floor(px);
      const y0 = Math.floor(py);
      const ax = px - x0;
      const ay = py - y0;
      const xa = x0 < 0 ? 0 : x0 > w - 1 ? w - 1 : x0;
      const xb = x0 + 1 < 0 ? 0 : x0 + 1 > w - 1 ? w - 1 : x0 + 1;
      const ya = (y0 < 0 ? 0 : y0 > h - 1 ? h - 1 : y0) * w;
      const yb = (y0 + 1 < 0 ? 0 : y0 + 1 > h - 1 ? h - 1 : y0 + 1) * w;
      const top = src[ya + xa] + (src[ya + xb] - src[ya + xa]) * ax;
      const bottom = src[yb + xa] + (src[yb + xb] - src[yb + xa]) * ax;
      out[i] = top + (bottom - top) * ay;
    }
  }
}

/** Per-grid-pixel trust in [0, 1] that reference warped by flow explains current (float gh x gw x 1).
 * Low where the warped reference disagrees with the current frame or the flow points outside it. */
export function photometricConfidence(current, reference, flow, sigma = DEFAULT_PHOTOMETRIC_SIGMA) {
  const { width: gw, height: gh } = current.gray;
  const n = gw * gh;
  const [sx, sy] = frameToGridScale(gw, gh, current.frameWidth, current.frameHeight);
  const xs = new Float32Array(n);
  const ys = new Float32Array(n);
  for (let y = 0, i = 0; y < gh; y++) {
    for (let x = 0; x < gw; x++, i++) {
      xs[i] = x + Math.fround(flow.data[2 * i] * sx);
      ys[i] = y + Math.fround(flow.data[2 * i + 1] * sy);
    }
  }
  const warped = remapPoints(reference.gray, xs, ys);
  const diff = mat(gh, gw, 1);
  const cur = current.gray.data;
  for (let i = 0; i < n; i++) diff.data[i] = Math.abs(warped[i] - cur[i]);
  const blurred = boxBlur(diff, 3, 3, 'reflect101').data;
  const confidence = mat(gh, gw, 1);
  const inverse = Math.fround(1 / sigma);
  for (let i = 0; i < n; i++) {
    const x = xs[i];
    const y = ys[i];
    const inside = x >= -0.5 && x <= gw - 0.5 && y >= -0.5 && y <= gh - 0.5;
    const e = Math.fround(blurred[i] * inverse);
    confidence.data[i] = inside ? Math.exp(-(e * e)) : 0;
  }
  return confidence;
}
