// Local affine colour maps on a coarse grid: fitted on key frames, applied to any frame
// (services/interpolator/affine.py).
//
// A map is an H x W x 12 float mat on a grid: for output channel c, entries 4c..4c+2 are the
// coefficients of input R, G, B and 4c+3 is the offset, all for colours in [0, 255]. Maps move
// along the flow; the frame they are applied to supplies the detail.

import { boxMeanPlane, mat, merge, resizeArea, resizeLinear, rgbToGray, saturateS16, saturateU8, split } from './cv.js';

export const COEFFS = 12;
export const DEFAULT_RADIUS = 4;
export const DEFAULT_EPS = 1e-3;

/** The map taking original to stylized in every window (a colour guided filter); uint8 H x W x 3 in.
 * The ridge pulls each window's A toward `prior` (3x4 rows) rather than toward zero. */
export function fitLocalAffine(original, stylized, radius = DEFAULT_RADIUS, eps = DEFAULT_EPS, prior = null) {
  const { height, width } = original;
  const n = height * width;
  const guide = split(original).map((p) => p.map((v) => Math.fround(v * (1 / 255))));
  const target = split(stylized).map((p) => p.map((v) => Math.fround(v * (1 / 255))));
  const box = (plane) => boxMeanPlane(plane, height, width, radius);
  const product = (a, b) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = a[i] * b[i];
    return out;
  };
  const meanI = guide.map(box);
  const meanP = target.map(box);
  const covII = [[], [], []];
  for (let k = 0; k < 3; k++) {
    for (let j = k; j < 3; j++) {
      const cov = box(product(guide[k], guide[j]));
      for (let i = 0; i < n; i++) cov[i] -= meanI[k][i] * meanI[j][i] - (k === j ? eps : 0);
      covII[k][j] = covII[j][k] = cov;
    }
  }
  const covIP = [0, 1, 2].map((j) =>
    [0, 1, 2].map((c) => {
      const cov = box(product(guide[j], target[c]));
      const lift = prior ? eps * prior[c][j] : 0;
      for (let i = 0; i < n; i++) cov[i] += lift - meanI[j][i] * meanP[c][i];
      return cov;
    }),
  );
  const inverse = invert3x3Planes(covII);
  const planes = [];
  for (let c = 0; c < 3; c++) {
    const offset = Float32Array.from(meanP[c]);
    for (let k = 0; k < 3; k++) {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        a[i] = inverse[k][0][i] * covIP[0][c][i] + inverse[k][1][i] * covIP[1][c][i] + inverse[k][2][i] * covIP[2][c][i];
        offset[i] -= a[i] * meanI[k][i];
      }
      planes[4 * c + k] = box(a);
    }
    planes[4 * c + 3] = box(offset.map((v) => v * 255));
  }
  return merge(planes, height, width);
}

/** Inverse of a field of 3x3 matrices given as 3x3 planes, by the adjugate. */
export function invert3x3Planes(m) {
  const n = m[0][0].length;
  const out = [0, 1, 2].map(() => [0, 1, 2].map(() => new Float32Array(n)));
  for (let i = 0; i < n; i++) {
    const a = (r, c) => m[r][c][i];
    const c00 = a(1, 1) * a(2, 2) - a(1, 2) * a(2, 1);
    const c01 = a(1, 2) * a(2, 0) - a(1, 0) * a(2, 2);
    const c02 = a(1, 0) * a(2, 1) - a(1, 1) * a(2, 0);
    const inv = 1 / (a(0, 0) * c00 + a(0, 1) * c01 + a(0, 2) * c02);
    out[0][0][i] = c00 * inv;
    out[0][1][i] = (a(0, 2) * a(2, 1) - a(0, 1) * a(2, 2)) * inv;
    out[0][2][i] = (a(0, 1) * a(1, 2) - a(0, 2) * a(1, 1)) * inv;
    out[1][0][i] = c01 * inv;
    out[1][1][i] = (a(0, 0) * a(2, 2) - a(0, 2) * a(2, 0)) * inv;
    out[1][2][i] = (a(0, 2) * a(1, 0) - a(0, 0) * a(1, 2)) * inv;
    out[2][0][i] = c02 * inv;
    out[2][1][i] = (a(0, 1) * a(2, 0) - a(0, 0) * a(2, 1)) * inv;
    out[2][2][i] = (a(0, 0) * a(1, 1) - a(0, 1) * a(1, 0)) * inv;
  }
  return out;
}

/** The 12 map coefficients of a 3x4 transform fitted on [0, 1] colours (a Float32Array). */
export function globalMapCoeffs(transform) {
  const out = new Float32Array(COEFFS);
  for (let c = 0; c < 3; c++) for (let k = 0; k < 4; k++) out[4 * c + k] = transform[c][k] * (k === 3 ? 255 : 1);
  return out;
}

/** The map x -> coeffs(transform(x)) on the same grid; transform: 3x4 on [0, 1] colours. */
export function after(coeffs, transform) {
  const m = [0, 1, 2].map((k) => [0, 1, 2].map((j) => Math.fround(transform[j][k])));
  const offsets = [0, 1, 2].map((j) => Math.fround(transform[j][3] * 255));
  const out = mat(coeffs.height, coeffs.width, COEFFS);
  const d = coeffs.data;
  for (let i = 0; i < d.length; i += 4) {
    const a0 = d[i];
    const a1 = d[i + 1];
    const a2 = d[i + 2];
    for (let k = 0; k < 3; k++) out.data[i + k] = m[k][0] * a0 + m[k][1] * a1 + m[k][2] * a2;
    out.data[i + 3] = offsets[0] * a0 + offsets[1] * a1 + offsets[2] * a2 + d[i + 3];
  }
  return out;
}

/** BT.601 luma weights: the stylizer draws a colour past the gamut towards the grey of its luma. */
export const LUMA_WEIGHTS = [0.299, 0.587, 0.114];

/** affine.py's below_black_into_gamut for one map: the 12 coefficients at `at` in `data` changed in
 * place so that the map takes `colour` (3 numbers, 0-255) no further below black than its luma
 * allows (drawn towards the grey of its luma, clamped at 0, until it fits). */
export function belowBlackIntoGamut(data, at, colour) {
  const w = LUMA_WEIGHTS.map(Math.fround);
  const mapped = [0, 1, 2].map((c) => {
    const i = at + 4 * c;
    return Math.fround(data[i] * colour[0] + data[i + 1] * colour[1] + data[i + 2] * colour[2] + data[i + 3]);
  });
  const luma = Math.fround(w[0] * mapped[0] + w[1] * mapped[1] + w[2] * mapped[2]);
  const grey = Math.max(luma, 0);
  const low = Math.min(mapped[0], mapped[1], mapped[2]) - grey;
  const share = low < -grey ? grey / Math.max(-low, 1e-6) : 1;
  for (let k = 0; k < 4; k++) {
    let row = w[0] * data[at + k] + w[1] * data[at + 4 + k] + w[2] * data[at + 8 + k];
    if (k === 3) row += grey - luma;
    for (let c = 0; c < 3; c++) data[at + 4 * c + k] = row + share * (data[at + 4 * c + k] - row);
  }
}

/** Apply a map to an image of the grid's size: float H x W x 3 in [0, 255] (unclipped). */
export function applyOnGrid(coeffs, image) {
  const out = mat(image.height, image.width, 3);
  const n = image.height * image.width;
  for (let i = 0; i < n; i++) {
    const r = image.data[3 * i];
    const g = image.data[3 * i + 1];
    const b = image.data[3 * i + 2];
    const a = coeffs.data.subarray(COEFFS * i, COEFFS * i + COEFFS);
    for (let c = 0; c < 3; c++) out.data[3 * i + c] = a[4 * c] * r + a[4 * c + 1] * g + a[4 * c + 2] * b + a[4 * c + 3];
  }
  return out;
}

/** Bilinear resize of a map. */
export function resizeMap(coeffs, width, height) {
  return coeffs.width === width && coeffs.height === height ? coeffs : resizeLinear(coeffs, width, height);
}

/** Exact: the map upsampled to the frame and applied per pixel. uint8 out. */
export function applyFull(coeffs, frame) {
  const out = applyOnGrid(resizeMap(coeffs, frame.width, frame.height), frame);
  return { ...out, data: Uint8Array.from(out.data, (v) => Math.min(255, Math.max(0, Math.floor(v + 0.5)))) };
}

const OFFSET_SCALE = 16.0;
const GAIN_SCALE = 1024.0;

/** Fast: the map's smooth part from the grid plus the frame's own luma detail. uint8 out.
 * out_c = up(offset_c) + up(gain_c) * Y, gain_c the map's response to grey, in the reference's
 * int16 fixed point (offsets in 1/16 levels, gains in Q10). */
export function applyDetail(coeffs, frame, small = null) {
  const { offsets, gains } = offsetsAndGains(coeffs, frame, small);
  const luma = rgbToGray(frame).data;
  const { width, height } = frame;
  const out = mat(height, width, 3, Uint8Array);
  const fixed = (planes, scale) =>
    merge(
      planes.map((p) => p.map((v) => Math.trunc(Math.min(32767, Math.max(-32768, v * scale))))),
      coeffs.height,
      coeffs.width,
    );
  const toS16 = (m) => ({ ...m, data: Int16Array.from(m.data) });
  const offsetUp = resizeLinear(toS16(fixed(offsets, OFFSET_SCALE)), width, height).data;
  const gainUp = resizeLinear(toS16(fixed(gains, GAIN_SCALE)), width, height).data;
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) {
      const j = 3 * i + c;
      let total = saturateS16(gainUp[j] * luma[i] * (OFFSET_SCALE / GAIN_SCALE));
      total = Math.min(32767, Math.max(-32768, total + offsetUp[j]));
      out.data[j] = saturateU8(Math.max(total, 0) / OFFSET_SCALE);
    }
  }
  return out;
}

/** Per output channel, on the grid: gain_c (the map's response to grey) and offset_c (levels), as planes. */
export function offsetsAndGains(coeffs, frame, small = null) {
  const { height: gh, width: gw } = coeffs;
  if (!small || small.height !== gh || small.width !== gw) small = resizeArea(frame, gw, gh);
  const lumaSmall = rgbToGray(small).data;
  const n = gh * gw;
  const offsets = [0, 1, 2].map(() => new Float32Array(n));
  const gains = [0, 1, 2].map(() => new Float32Array(n));
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const a = 12 * i + 4 * c;
      const [a0, a1, a2, b] = [coeffs.data[a], coeffs.data[a + 1], coeffs.data[a + 2], coeffs.data[a + 3]];
      const gain = Math.fround(Math.fround(a0 + a1) + a2);
      gains[c][i] = gain;
      offsets[c][i] = a0 * small.data[3 * i] + a1 * small.data[3 * i + 1] + a2 * small.data[3 * i + 2] + b - gain * lumaSmall[i];
    }
  }
  return { offsets, gains };
}
