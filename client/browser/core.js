// Interpolation core: stylized key frames + flow -> stylized intermediate frames
// (services/interpolator/core.py).
//
// Images are uint8 H x W x 3 RGB mats; flows are float H x W x 2 mats in frame pixels on any grid
// (the pixel at (x, y) of the current frame is at (x + dx, y + dy) in the key frame); confidences
// are float H x W x 1 mats in [0, 1] on any grid. What moves along the flow is each key frame's
// local colour map (affine.js), so detail always comes from the frame itself.

import * as affine from './affine.js';
import { contentStatistics } from './closed_form.js';
import { boxBlur, gaussianBlur, mat, remapPoints, resizeArea, rgbToGray, transform as cvTransform } from './cv.js';
import { frameToGridScale, pyRound, resizeField } from './grids.js';

export const FALLBACK_BELOW = 0.25;
export const FILL_RADIUS_FRACTION = 1 / 16;
export const FILL_COARSENING = 4;
export const FILL_LUMA_BINS = [0.0, 85.0, 170.0, 255.0];
export const FILL_LUMA_SPACING = 85.0;
// core.py's wide pass: trusted cells of a cell's own brightness within a wide window, before the
// global look, matched on finer brightness bins, a few sufficing.
export const FILL_WIDE_FRACTION = 1 / 8;
export const FILL_WIDE_LUMA_SPACING = 255.0 / 8;
export const FILL_WIDE_LUMA_BINS = Array.from({ length: 9 }, (_, k) => FILL_WIDE_LUMA_SPACING * k);
export const FILL_WIDE_BELOW = 0.02;
export const CONFIDENCE_FLOOR = 0.2;
export const CONFIDENCE_BLUR = 3.0;
export const FIT_SAMPLES = 20000;

/** Least-squares affine map (3x4 rows, on [0, 1] colours) from original colours to stylized ones. */
export function fitColourTransform(original, stylized) {
  if (original.width !== stylized.width || original.height !== stylized.height) {
    original = resizeArea(original, stylized.width, stylized.height);
  }
  const count = original.width * original.height;
  let picks = null;
  if (count > FIT_SAMPLES) {
    // np.linspace(0, count - 1, FIT_SAMPLES).astype(int64)
    const step = (count - 1) / (FIT_SAMPLES - 1);
    picks = Int32Array.from({ length: FIT_SAMPLES }, (_, i) => (i === FIT_SAMPLES - 1 ? count - 1 : Math.trunc(i * step)));
  }
  const gram = Array.from({ length: 4 }, (_, i) => Array.from({ length: 4 }, (_, j) => (i === j ? 1e-3 : 0)));
  const rhs = Array.from({ length: 4 }, () => [0, 0, 0]);
  const n = picks ? picks.length : count;
  for (let s = 0; s < n; s++) {
    const p = picks ? picks[s] : s;
    const x = [
      Math.fround(original.data[3 * p] / 255),
      Math.fround(original.data[3 * p + 1] / 255),
      Math.fround(original.data[3 * p + 2] / 255),
      1,
    ];
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) gram[i][j] += x[i] * x[j];
      for (let c = 0; c < 3; c++) rhs[i][c] += x[i] * Math.fround(stylized.data[3 * p + c] / 255);
    }
  }
  const solution = solve(gram, rhs); // 4x3
  return [0, 1, 2].map((c) => [0, 1, 2, 3].map((k) => Math.fround(solution[k][c])));
}

/** Solve A X = B (A n x n, B n x m) by Gaussian elimination with partial pivoting. */
function solve(a, b) {
  const n = a.length;
  const A = a.map((row) => row.slice());
  const B = b.map((row) => row.slice());
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(A[r][col]) > Math.abs(A[pivot][col])) pivot = r;
    [A[col], A[pivot]] = [A[pivot], A[col]];
    [B[col], B[pivot]] = [B[pivot], B[col]];
    for (let r = col + 1; r < n; r++) {
      const f = A[r][col] / A[col][col];
      for (let k = col; k < n; k++) A[r][k] -= f * A[col][k];
      for (let k = 0; k < B[r].length; k++) B[r][k] -= f * B[col][k];
    }
  }
  for (let col = n - 1; col >= 0; col--) {
    for (let k = 0; k < B[col].length; k++) {
      let s = B[col][k];
      for (let j = col + 1; j < n; j++) s -= A[col][j] * B[j][k];
      B[col][k] = s / A[col][col];
    }
  }
  return B;
}

/** Apply a 3x4 affine colour map (on [0, 1] colours) to an RGB uint8 image; uint8 out. */
export function applyColourTransform(image, transform) {
  return cvTransform(
    image,
    transform.map((row) => row.map((v, k) => (k === 3 ? v * 255 : v))),
    Uint8Array,
  );
}

/** The local maps' fitting window radius, in grid pixels. grid: [width, height]. */
export function fitRadius(grid) {
  return Math.max(2, pyRound((affine.DEFAULT_RADIUS * Math.max(...grid)) / 480));
}

/** A grid-sized RGB image's luma (0-255) averaged over fitting windows of `radius`: float H x W x 1. */
export function windowLuma(small, radius) {
  const grey = rgbToGray(small);
  const side = 2 * radius + 1;
  return boxBlur({ ...grey, data: Float32Array.from(grey.data) }, side, side, 'replicate');
}

/** A key frame as the interpolator keeps it: index, original, localMap, transform, guideLuma,
 * contentStats. */
export function prepareKey(index, original, stylized, grid) {
  const [gw, gh] = grid;
  const smallOriginal = resizeArea(original, gw, gh);
  const smallStylized = resizeArea(stylized, gw, gh);
  const transform = fitColourTransform(smallOriginal, smallStylized);
  const radius = fitRadius(grid);
  const localMap = affine.fitLocalAffine(smallOriginal, smallStylized, radius, affine.DEFAULT_EPS, transform);
  const guideLuma = windowLuma(smallOriginal, radius);
  const contentStats = contentStatistics(smallOriginal);
  return { index, original, localMap, transform, guideLuma, contentStats, lookStats: contentStatistics(smallStylized) };
}

/** grid x 13: a key's map and its guide luma, moved along the flow together. */
export function mapWithGuide(key) {
  if (!key.mapWithGuide) {
    const { height, width } = key.localMap;
    const out = mat(height, width, 13);
    for (let i = 0; i < height * width; i++) {
      out.data.set(key.localMap.data.subarray(12 * i, 12 * i + 12), 13 * i);
      out.data[13 * i + 12] = key.guideLuma.data[i];
    }
    key.mapWithGuide = out;
  }
  return key.mapWithGuide;
}

/** A key frame's own output: its original under its own map. */
export function keyOutput(key) {
  return affine.applyDetail(key.localMap, key.original);
}

/** Sample a key's map (or any field on a grid) at x + flow(x), on its grid. flow: any grid, in frame pixels. */
export function warpMap(localMap, flow, frameWidth, frameHeight) {
  const { height: gh, width: gw } = localMap;
  const f = resizeField(flow, gw, gh).data;
  const [sx, sy] = frameToGridScale(gw, gh, frameWidth, frameHeight);
  const xs = new Float32Array(gw * gh);
  const ys = new Float32Array(gw * gh);
  for (let y = 0, i = 0; y < gh; y++) {
    for (let x = 0; x < gw; x++, i++) {
      xs[i] = x + Math.fround(f[2 * i] * sx);
      ys[i] = y + Math.fround(f[2 * i + 1] * sy);
    }
  }
  return mat(gh, gw, localMap.channels, Float32Array, remapPoints(localMap, xs, ys));
}

/** A link's confidence on the grid, smoothed; all ones when the link has none. */
export function confidenceOnGrid(link, gw, gh) {
  if (!link.confidence) return mat(gh, gw, 1, Float32Array, new Float32Array(gw * gh).fill(1));
  const confidence = resizeField(link.confidence, gw, gh);
  const sigma = (CONFIDENCE_BLUR * Math.max(gw, gh)) / 320;
  if (sigma < 0.5) return confidence;
  const blurred = gaussianBlur(confidence, sigma);
  return blurred;
}

/** A key's weight in a blend before its temporal share: its confidence plus a floor that fades as
 * the other key's confidence rises. Float32Arrays in and out. */
export function keyWeight(confidence, other) {
  return confidence.map((c, i) => c + CONFIDENCE_FLOOR * (1 - other[i]) ** 2);
}

/** The current frame's map: the keys' maps moved along the flow, blended, with a global fallback.
 * prev, next: { key, flow, confidence } links (next may be null); currentSmall: the frame at the
 * grid's size (makes the fill joint-bilateral in brightness, and keeps untrusted cells above
 * black: keepAboveBlack); colourTransform: the 3x4 map the frame's colours go through first. */
export function blendMaps(index, prev, next, frameWidth, frameHeight, currentSmall = null, colourTransform = null) {
  const { height: gh, width: gw } = prev.key.localMap;
  const keys = next ? [prev.key, next.key] : [prev.key];
  const guided = currentSmall !== null && keys.every((key) => key.guideLuma);
  const moved = (link) => warpMap(guided ? mapWithGuide(link.key) : link.key.localMap, link.flow, frameWidth, frameHeight);
  const mapPrev = moved(prev);
  const confPrev = confidenceOnGrid(prev, gw, gh).data;
  const n = gw * gh;
  const cn = mapPrev.channels;
  let alpha = 0;
  let blended;
  let trust;
  if (!next) {
    blended = mapPrev;
    trust = confPrev;
  } else {
    const span = next.key.index - prev.key.index;
    alpha = span > 0 ? (index - prev.key.index) / span : 0;
    const mapNext = moved(next);
    const confNext = confidenceOnGrid(next, gw, gh).data;
    const wPrev = keyWeight(confPrev, confNext).map((v) => v * (1 - alpha));
    const wNext = keyWeight(confNext, confPrev).map((v) => v * alpha);
    blended = mat(gh, gw, cn);
    trust = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const share = Math.fround(wNext[i] / (wPrev[i] + wNext[i]));
      for (let c = 0; c < cn; c++) {
        const j = i * cn + c;
        blended.data[j] = Math.fround(Math.fround(mapNext.data[j] - mapPrev.data[j]) * share) + mapPrev.data[j];
      }
      trust[i] = Math.max(confPrev[i], confNext[i]);
    }
  }
  return finishBlend(blended, trust, alpha, prev, next, guided ? currentSmall : null, colourTransform);
}

/** The end of blendMaps, whoever blended (core_gl.js blends on the GPU): cells under
 * FALLBACK_BELOW trust filled from their trusted neighbours (fillUntrusted), and the guide's
 * channel dropped. blended: grid x 12 (or x 13 with the guide luma, given currentSmall), changed in
 * place; trust: Float32Array over the grid; alpha: the next key's temporal share. */
export function finishBlend(blended, trust, alpha, prev, next, currentSmall = null, colourTransform = null) {
  const { height: gh, width: gw } = blended;
  const n = gw * gh;
  const guided = currentSmall !== null;
  let transform = prev.key.transform;
  if (next) {
    transform = transform.map((row, r) => row.map((v, k) => (1 - alpha) * v + alpha * next.key.transform[r][k]));
  }
  const fallback = affine.globalMapCoeffs(transform);
  const fallbackShare = new Float32Array(n);
  let anyUntrusted = false;
  for (let i = 0; i < n; i++) {
    const share = Math.min(1, Math.max(0, 1 - trust[i] * (1 / FALLBACK_BELOW)));
    fallbackShare[i] = share;
    if (share > 0) anyUntrusted = true;
  }
  if (anyUntrusted) {
    if (guided) {
      const cellLuma = windowLuma(currentSmall, fitRadius([gw, gh]));
      const withGuide = new Float32Array(13);
      withGuide.set(fallback);
      const guideLuma = new Float32Array(n);
      for (let i = 0; i < n; i++) guideLuma[i] = blended.data[13 * i + 12];
      fillUntrusted(blended, fallbackShare, withGuide, cellLuma.data, guideLuma);
      keepAboveBlack(blended, fallbackShare, currentSmall, colourTransform);
    } else {
      fillUntrusted(blended, fallbackShare, fallback);
    }
  }
  if (!guided) return blended;
  const out = mat(gh, gw, affine.COEFFS);
  const from = blended.data;
  for (let i = 0; i < n; i++) for (let c = 0; c < 12; c++) out.data[12 * i + c] = from[13 * i + c];
  return out;
}

/** In place (core.py's keep_above_black): cells with a fallback share are drawn, that much, into the
 * gamut below black (affine.belowBlackIntoGamut) for their own colour (currentSmall's, taken through
 * colourTransform first when given). blended: grid x 12 or x 13. */
export function keepAboveBlack(blended, fallbackShare, currentSmall, colourTransform = null) {
  const { channels: cn } = blended;
  const pixels = currentSmall.data;
  const t = colourTransform && colourTransform.map((row) => row.map(Math.fround));
  const cell = new Float32Array(affine.COEFFS);
  for (let i = 0; i < fallbackShare.length; i++) {
    const share = fallbackShare[i];
    if (!(share > 0)) continue;
    let colour = [pixels[3 * i], pixels[3 * i + 1], pixels[3 * i + 2]];
    if (t) {
      const [r, g, b] = colour;
      colour = t.map((row) => {
        const linear = Math.fround(r * row[0] + g * row[1] + b * row[2]);
        return Math.fround(linear + Math.fround(row[3] * 255));
      });
    }
    const at = cn * i;
    cell.set(blended.data.subarray(at, at + affine.COEFFS));
    affine.belowBlackIntoGamut(cell, 0, colour);
    for (let c = 0; c < affine.COEFFS; c++) blended.data[at + c] += (cell[c] - blended.data[at + c]) * share;
  }
}

/** In place: cells with a fallback share take, that much, the map of the trusted cells around them
 * (normalised convolution), drawn toward a fallback where few are near; with cellLuma and guideLuma
 * (Float32Arrays over the grid) the fill is joint-bilateral in brightness, and its fallback is the
 * trusted cells of the cell's brightness within the wide window (core.py's wide pass), `fallback`
 * where there are none. */
export function fillUntrusted(blended, fallbackShare, fallback, cellLuma = null, guideLuma = null) {
  const { height: gh, width: gw, channels: cn } = blended;
  const n = gh * gw;
  const factor = fillCoarsening(gw, gh);
  const trusted = new Float32Array(n);
  for (let i = 0; i < n; i++) trusted[i] = 1 - fallbackShare[i];
  const window = fillWindow(gw, gh, factor, FILL_RADIUS_FRACTION);
  const plane = (data) => mat(gh, gw, 1, Float32Array, data);
  let around;
  let weightSum;
  let fallbackHere = null; // per coarse cell (guided fills), else `fallback` everywhere
  if (!cellLuma || !guideLuma) {
    const weightedFull = mat(gh, gw, cn);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < cn; c++) weightedFull.data[i * cn + c] = blended.data[i * cn + c] * trusted[i];
    }
    const sums = windowSums(coarse(weightedFull, factor), coarse(plane(trusted), factor), window);
    weightSum = sums.weightSum;
    around = new Float32Array(sums.weightedSum.length);
    for (let j = 0; j < around.length; j++) around[j] = sums.weightedSum[j] / Math.max(weightSum[(j / cn) | 0], 1e-6);
  } else {
    const lumaHere = coarse(plane(cellLuma), factor).data;
    const values = coarse(blended, factor);
    const m = lumaHere.length;
    // The wide pass: trusted cells of the cell's own brightness, far around, before the global look.
    const wide = binnedSums(values, trusted, guideLuma, lumaHere, gw, gh, factor, fillWindow(gw, gh, factor, FILL_WIDE_FRACTION), FILL_WIDE_LUMA_BINS, FILL_WIDE_LUMA_SPACING);
    fallbackHere = new Float32Array(m * cn);
    for (let i = 0; i < m; i++) {
      const alike = Math.min(1, Math.max(0, wide.alikeWeight[i] * (1 / FILL_WIDE_BELOW)));
      for (let c = 0; c < cn; c++) {
        const j = i * cn + c;
        fallbackHere[j] = fallback[c] + (wide.alikeSum[j] / Math.max(wide.alikeWeight[i], 1e-6) - fallback[c]) * alike;
      }
    }
    const near = binnedSums(values, trusted, guideLuma, lumaHere, gw, gh, factor, window, FILL_LUMA_BINS, FILL_LUMA_SPACING);
    weightSum = near.weightSum;
    around = new Float32Array(m * cn);
    for (let i = 0; i < m; i++) {
      const alike = Math.min(1, Math.max(0, near.alikeWeight[i] * (1 / FALLBACK_BELOW)));
      for (let c = 0; c < cn; c++) {
        const j = i * cn + c;
        const plain = near.weighted[j] / Math.max(weightSum[i], 1e-6);
        around[j] = plain + (near.alikeSum[j] / Math.max(near.alikeWeight[i], 1e-6) - plain) * alike;
      }
    }
  }
  const cw = Math.ceil(gw / factor);
  const ch = Math.ceil(gh / factor);
  const fill = mat(ch, cw, cn);
  for (let i = 0; i < ch * cw; i++) {
    const near = Math.min(1, Math.max(0, weightSum[i] * (1 / FALLBACK_BELOW)));
    for (let c = 0; c < cn; c++) {
      const j = i * cn + c;
      const base = fallbackHere ? fallbackHere[j] : fallback[c];
      fill.data[j] = base + (around[j] - base) * near;
    }
  }
  let count = 0;
  for (let i = 0; i < n; i++) if (fallbackShare[i] !== 0) count++;
  const cells = new Int32Array(count);
  const xs = new Float32Array(count);
  const ys = new Float32Array(count);
  const scale = Math.fround(1 / factor);
  for (let i = 0, k = 0; i < n; i++) {
    if (fallbackShare[i] === 0) continue;
    cells[k] = i;
    xs[k] = ((i % gw) + 0.5) * scale - 0.5;
    ys[k] = (((i / gw) | 0) + 0.5) * scale - 0.5;
    k++;
  }
  const fillHere = remapPoints(fill, xs, ys);
  for (let k = 0; k < count; k++) {
    const i = cells[k];
    const share = fallbackShare[i];
    for (let c = 0; c < cn; c++) {
      const j = i * cn + c;
      blended.data[j] += (fillHere[k * cn + c] - blended.data[j]) * share;
    }
  }
}

/** Window sums of the trusted coarse maps (values) and their weights, over all brightnesses and
 * over each coarse cell's own (lumaHere), by the brightness bins the maps were fitted on (trusted,
 * guideLuma: over the gw x gh grid). The maps are smooth within a coarse cell, so each bin's products
 * are taken there. */
function binnedSums(values, trusted, guideLuma, lumaHere, gw, gh, factor, window, bins, spacing) {
  const { channels: cn } = values;
  const n = gw * gh;
  const m = lumaHere.length;
  const weighted = new Float64Array(m * cn);
  const alikeSum = new Float64Array(m * cn);
  const weightSum = new Float64Array(m);
  const alikeWeight = new Float64Array(m);
  const hat = new Float32Array(n);
  const product = mat(values.height, values.width, cn);
  for (const centre of bins) {
    for (let i = 0; i < n; i++) hat[i] = trusted[i] * lumaHatAt(guideLuma[i], centre, spacing);
    const weight = coarse(mat(gh, gw, 1, Float32Array, hat), factor);
    if (!weight.data.some((w) => w !== 0)) continue; // no trusted cell this bright: adds nothing
    for (let i = 0; i < m; i++) {
      const wi = weight.data[i];
      for (let c = 0; c < cn; c++) product.data[i * cn + c] = values.data[i * cn + c] * wi;
    }
    const sums = windowSums(product, weight, window);
    for (let i = 0; i < m; i++) {
      const shareHere = lumaHatAt(lumaHere[i], centre, spacing);
      weightSum[i] += sums.weightSum[i];
      alikeWeight[i] += sums.weightSum[i] * shareHere;
      for (let c = 0; c < cn; c++) {
        weighted[i * cn + c] += sums.weightedSum[i * cn + c];
        alikeSum[i * cn + c] += sums.weightedSum[i * cn + c] * shareHere;
      }
    }
  }
  return { weighted, alikeSum, weightSum, alikeWeight };
}

function lumaHatAt(v, centre, spacing = FILL_LUMA_SPACING) {
  return Math.min(1, Math.max(0, 1 - Math.abs(v - centre) * (1 / spacing)));
}

/** Membership of a brightness in a bin at `centre` of bins `spacing` apart (their hats sum to 1). */
export function lumaHat(luma, centre, spacing = FILL_LUMA_SPACING) {
  return Float32Array.from(luma, (v) => lumaHatAt(v, centre, spacing));
}

/** A grid mat averaged over whole coarse cells of factor x factor (the grid padded by replication). */
export function coarse(m, factor) {
  const { height: gh, width: gw, channels: cn } = m;
  const cw = Math.ceil(gw / factor);
  const ch = Math.ceil(gh / factor);
  const sums = new Float64Array(cw * cn);
  const out = mat(ch, cw, cn);
  const scale = Math.fround(1 / (factor * factor));
  const src = m.data;
  for (let y = 0; y < ch; y++) {
    sums.fill(0);
    for (let dy = 0; dy < factor; dy++) {
      const row = Math.min(y * factor + dy, gh - 1) * gw;
      for (let x = 0; x < cw * factor; x++) {
        const from = (row + Math.min(x, gw - 1)) * cn;
        const to = ((x / factor) | 0) * cn;
        for (let c = 0; c < cn; c++) sums[to + c] += src[from + c];
      }
    }
    for (let i = 0; i < cw * cn; i++) out.data[y * cw * cn + i] = sums[i] * scale;
  }
  return out;
}

/** A fill's box window side, spanning `fraction` of the grid's long side each way, in coarse cells. */
export function fillWindow(gw, gh, factor, fraction) {
  const radius = Math.max(1, pyRound((Math.max(gw, gh) * fraction) / factor));
  return 2 * radius + 1;
}

/** Box averages over the window of coarse weighted values (h x w x C) and weights (h x w x 1). */
export function windowSums(weighted, weight, window) {
  return {
    weightedSum: boxBlur(weighted, window, window, 'replicate').data,
    weightSum: boxBlur(weight, window, window, 'replicate').data,
  };
}

/** How much coarser the fill's grid is. */
export function fillCoarsening(gw, gh) {
  return Math.max(1, Math.min(FILL_COARSENING, Math.floor(Math.max(gw, gh) / 32), Math.floor(Math.min(gw, gh) / 8)));
}

/** The stylized frame `index`: its original under the map blended from its key frames. uint8. */
export function synthesizeFrame(index, prev, next, original, small = null) {
  const { height: gh, width: gw } = prev.key.localMap;
  if (!small || small.height !== gh || small.width !== gw) small = resizeArea(original, gw, gh);
  return affine.applyDetail(blendMaps(index, prev, next, original.width, original.height, small), original, small);
}
