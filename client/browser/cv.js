// The few OpenCV operations the device core uses, on typed arrays, with OpenCV's conventions.
//
// An image (a "mat") is { data, height, width, channels }: row-major H x W x C like a numpy array,
// data a Uint8Array, Int16Array or Float32Array. Resizes align pixel centres, borders replicate
// unless said otherwise, and results round as OpenCV's saturate_cast does (half to even), so the
// JS core agrees with the Python reference level for level.

export function mat(height, width, channels = 1, Type = Float32Array, data = null) {
  return { data: data ?? new Type(height * width * channels), height, width, channels };
}

export function like(m, channels = m.channels, Type = m.data.constructor) {
  return mat(m.height, m.width, channels, Type);
}

/** Round half to even (C's rint, OpenCV's cvRound). */
export function rint(v) {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function saturateU8(v) {
  if (!(v > 0)) return 0; // NaN too, as OpenCV's cvRound of NaN saturates to 0 here
  return v >= 255 ? 255 : rint(v);
}

export function saturateS16(v) {
  const r = rint(v);
  return r < -32768 ? -32768 : r > 32767 ? 32767 : r;
}

/** Store a value in a typed array of type `Type` as OpenCV stores it (float: as is). */
function caster(Type) {
  if (Type === Uint8Array) return saturateU8;
  if (Type === Int16Array) return saturateS16;
  return (v) => v;
}

/** The channels of a mat as single-channel Float32 planes (cv2.split, in float). */
export function split(m) {
  const n = m.height * m.width;
  const planes = [];
  for (let c = 0; c < m.channels; c++) {
    const plane = new Float32Array(n);
    for (let i = 0, j = c; i < n; i++, j += m.channels) plane[i] = m.data[j];
    planes.push(plane);
  }
  return planes;
}

/** Float32 planes (H*W each) into one H x W x C float mat (cv2.merge). */
export function merge(planes, height, width) {
  const out = mat(height, width, planes.length);
  const c = planes.length;
  for (let k = 0; k < c; k++) {
    const plane = planes[k];
    for (let i = 0, j = k; i < plane.length; i++, j += c) out.data[j] = plane[i];
  }
  return out;
}

/** cv2.cvtColor(RGB2GRAY) on uint8: OpenCV 5's 15-bit fixed point (0.299, 0.587, 0.114). */
export function rgbToGray(m) {
  const out = mat(m.height, m.width, 1, Uint8Array);
  const d = m.data;
  for (let i = 0, j = 0; i < out.data.length; i++, j += 3) {
    out.data[i] = (d[j] * 9798 + d[j + 1] * 19235 + d[j + 2] * 3735 + 16384) >> 15;
  }
  return out;
}

// --- resizing --------------------------------------------------------------------------------

/** cv2.resize(..., INTER_LINEAR) for float or int16 mats: pixel centres aligned, edges clamped. */
export function resizeLinear(m, width, height) {
  const { channels: cn } = m;
  const out = mat(height, width, cn, m.data.constructor);
  const xs = linearTable(m.width, width);
  const ys = linearTable(m.height, height);
  const put = caster(m.data.constructor);
  const src = m.data;
  // The two source rows an output row reads, resized horizontally once each (cached by row).
  let rowA = new Float32Array(width * cn);
  let rowB = new Float32Array(width * cn);
  let haveA = -1;
  let haveB = -1;
  const horizontal = (y, row) => {
    const base = y * m.width * cn;
    for (let x = 0; x < width; x++) {
      const x0 = xs.index[x];
      const x1 = Math.min(x0 + 1, m.width - 1);
      const fx = xs.frac[x];
      for (let c = 0; c < cn; c++) {
        row[x * cn + c] = Math.fround(src[base + x0 * cn + c] * (1 - fx) + src[base + x1 * cn + c] * fx);
      }
    }
  };
  for (let y = 0; y < height; y++) {
    const y0 = ys.index[y];
    const y1 = Math.min(y0 + 1, m.height - 1);
    const fy = ys.frac[y];
    if (haveA !== y0) {
      if (haveB === y0) {
        [rowA, rowB] = [rowB, rowA];
        haveB = -1;
      } else {
        horizontal(y0, rowA);
      }
      haveA = y0;
    }
    if (haveB !== y1) {
      horizontal(y1, rowB);
      haveB = y1;
    }
    const base = y * width * cn;
    for (let i = 0; i < width * cn; i++) out.data[base + i] = put(rowA[i] * (1 - fy) + rowB[i] * fy);
  }
  return out;
}

function linearTable(srcSize, dstSize) {
  const scale = srcSize / dstSize;
  const index = new Int32Array(dstSize);
  const frac = new Float32Array(dstSize);
  for (let d = 0; d < dstSize; d++) {
    let f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f -= s;
    if (s < 0) {
      s = 0;
      f = 0;
    }
    if (s >= srcSize - 1) {
      s = srcSize - 1;
      f = 0;
    }
    index[d] = s;
    frac[d] = f;
  }
  return { index, frac };
}

/** cv2.resize(..., INTER_AREA): each output pixel the mean of the source area it covers.
 * Enlarging (only grids of a few pixels) falls back to resizeLinear's weights. */
export function resizeArea(m, width, height) {
  if (width === m.width && height === m.height) return { ...m, data: m.data.slice() };
  if (width > m.width || height > m.height) return resizeLinearAny(m, width, height);
  if (m.data instanceof Uint8Array && m.width === 2 * width && m.height === 2 * height) return halveU8(m);
  if (m.width % width === 0 && m.height % height === 0 && m.width / width === m.height / height) {
    return shrinkByWholeFactor(m, m.width / width);
  }
  if (m.channels === 3) return resizeArea3(m, width, height);
  const cn = m.channels;
  const xt = areaTable(m.width, width);
  const yt = areaTable(m.height, height);
  const out = mat(height, width, cn, m.data.constructor);
  const put = caster(m.data.constructor);
  const row = new Float64Array(width * cn);
  const acc = new Float64Array(width * cn);
  const src = m.data;
  for (let y = 0; y < height; y++) {
    acc.fill(0);
    for (const [sy, wy] of yt[y]) {
      row.fill(0);
      const base = sy * m.width * cn;
      for (let x = 0; x < width; x++) {
        for (const [sx, wx] of xt[x]) {
          for (let c = 0; c < cn; c++) row[x * cn + c] += src[base + sx * cn + c] * wx;
        }
      }
      for (let i = 0; i < row.length; i++) acc[i] += row[i] * wy;
    }
    const base = y * width * cn;
    for (let i = 0; i < acc.length; i++) out.data[base + i] = put(acc[i]);
  }
  return out;
}

/** resizeArea's general path for three channels, its taps in flat tables: the same sums in the
 * same order, without a tap list walked per pixel. */
function resizeArea3(m, width, height) {
  const xt = flatTaps(areaTable(m.width, width));
  const yt = flatTaps(areaTable(m.height, height));
  const out = mat(height, width, 3, m.data.constructor);
  const put = caster(m.data.constructor);
  const acc = new Float64Array(width * 3);
  const src = m.data;
  const { start: xStart, source: xSource, weight: xWeight } = xt;
  for (let y = 0; y < height; y++) {
    acc.fill(0);
    for (let ty = yt.start[y]; ty < yt.start[y + 1]; ty++) {
      const base = yt.source[ty] * m.width * 3;
      const wy = yt.weight[ty];
      for (let x = 0; x < width; x++) {
        let r = 0;
        let g = 0;
        let b = 0;
        for (let t = xStart[x]; t < xStart[x + 1]; t++) {
          const at = base + xSource[t] * 3;
          const wx = xWeight[t];
          r += src[at] * wx;
          g += src[at + 1] * wx;
          b += src[at + 2] * wx;
        }
        acc[3 * x] += r * wy;
        acc[3 * x + 1] += g * wy;
        acc[3 * x + 2] += b * wy;
      }
    }
    const base = y * width * 3;
    for (let i = 0; i < acc.length; i++) out.data[base + i] = put(acc[i]);
  }
  return out;
}

/** An area table's taps in flat arrays: output d reads source[start[d] .. start[d + 1]). */
function flatTaps(table) {
  const start = new Int32Array(table.length + 1);
  table.forEach((taps, d) => {
    start[d + 1] = start[d] + taps.length;
  });
  const source = new Int32Array(start[table.length]);
  const weight = new Float64Array(start[table.length]);
  table.forEach((taps, d) => {
    taps.forEach(([s, w], k) => {
      source[start[d] + k] = s;
      weight[start[d] + k] = w;
    });
  });
  return { start, source, weight };
}

/** OpenCV's 2x area path for uint8: the 2x2 mean, rounded half up. */
function halveU8(m) {
  const { width: w, channels: cn } = m;
  const out = mat(m.height >> 1, w >> 1, cn, Uint8Array);
  for (let y = 0; y < out.height; y++) {
    const top = 2 * y * w * cn;
    const bottom = top + w * cn;
    for (let x = 0; x < out.width; x++) {
      for (let c = 0; c < cn; c++) {
        const i = 2 * x * cn + c;
        const sum = m.data[top + i] + m.data[top + i + cn] + m.data[bottom + i] + m.data[bottom + i + cn];
        out.data[(y * out.width + x) * cn + c] = (sum + 2) >> 2;
      }
    }
  }
  return out;
}

/** OpenCV's area path for a whole factor k: the mean of each k x k block (sum times 1/k^2 in float). */
function shrinkByWholeFactor(m, k) {
  const { width: w, channels: cn } = m;
  const ow = w / k;
  const oh = m.height / k;
  const out = mat(oh, ow, cn, m.data.constructor);
  const put = caster(m.data.constructor);
  const scale = Math.fround(1 / (k * k));
  const acc = new Float64Array(ow * cn);
  const src = m.data;
  for (let y = 0; y < oh; y++) {
    acc.fill(0);
    for (let dy = 0; dy < k; dy++) {
      const base = (y * k + dy) * w * cn;
      for (let x = 0, o = 0; x < ow; x++, o += cn) {
        let at = base + x * k * cn;
        for (let dx = 0; dx < k; dx++, at += cn) for (let c = 0; c < cn; c++) acc[o + c] += src[at + c];
      }
    }
    const base = y * ow * cn;
    for (let i = 0; i < acc.length; i++) out.data[base + i] = put(Math.fround(acc[i] * scale));
  }
  return out;
}

function areaTable(srcSize, dstSize) {
  // OpenCV's computeResizeAreaTab: fractional overlaps of each output cell with the source pixels.
  const scale = srcSize / dstSize;
  const table = [];
  for (let d = 0; d < dstSize; d++) {
    const fs1 = d * scale;
    const fs2 = fs1 + scale;
    const cell = Math.min(scale, srcSize - fs1);
    let s2 = Math.floor(fs2);
    let s1 = Math.ceil(fs1);
    s2 = Math.min(s2, srcSize - 1);
    s1 = Math.min(s1, s2);
    const taps = [];
    if (s1 - fs1 > 1e-3) taps.push([s1 - 1, (s1 - fs1) / cell]);
    for (let s = s1; s < s2; s++) taps.push([s, 1 / cell]);
    if (fs2 - s2 > 1e-3) taps.push([s2, Math.min(Math.min(fs2 - s2, 1), cell) / cell]);
    table.push(taps);
  }
  return table;
}

/** Bilinear resize for any mat type (uint8 rounds at the end). */
export function resizeLinearAny(m, width, height) {
  if (m.data instanceof Uint8Array) {
    const f = resizeLinear({ ...m, data: Float32Array.from(m.data) }, width, height);
    return { ...f, data: Uint8Array.from(f.data, saturateU8) };
  }
  return resizeLinear(m, width, height);
}

// --- filters -----------------------------------------------------------------------------------

/** Index of a coordinate outside [0, n) under a border mode: 'replicate' or 'reflect101'. */
export function borderIndex(i, n, mode) {
  if (i >= 0 && i < n) return i;
  if (n === 1) return 0;
  if (mode === 'replicate') return i < 0 ? 0 : n - 1;
  // reflect101: gfedcb|abcdefgh|gfedcba
  const period = 2 * (n - 1);
  let k = ((i % period) + period) % period;
  return k < n ? k : period - k;
}

/** Separable correlation of a float mat with 1-D kernels kx, ky (float64 sums). */
export function sepFilter(m, kx, ky, mode) {
  const { height: h, width: w, channels: cn } = m;
  const rx = (kx.length - 1) >> 1;
  const ry = (ky.length - 1) >> 1;
  const src = m.data;
  const tmp = new Float64Array(h * w * cn);
  const nx = kx.length;
  const ny = ky.length;
  // Rows padded by the border mode, one channel at a time: the taps then read straight on.
  const padded = new Float64Array(w + 2 * rx);
  const foldX = symmetric(kx);
  for (let y = 0; y < h; y++) {
    const base = y * w * cn;
    for (let c = 0; c < cn; c++) {
      for (let x = -rx; x < w + rx; x++) padded[x + rx] = src[base + borderIndex(x, w, mode) * cn + c];
      for (let x = 0; x < w; x++) {
        let s = 0;
        if (foldX) {
          // A symmetric kernel: each weight times the pair of pixels it takes.
          s = kx[rx] * padded[x + rx];
          for (let k = 0; k < rx; k++) s += kx[k] * (padded[x + k] + padded[x + nx - 1 - k]);
        } else {
          for (let k = 0; k < nx; k++) s += kx[k] * padded[x + k];
        }
        tmp[base + x * cn + c] = s;
      }
    }
  }
  const out = mat(h, w, cn);
  const stride = w * cn;
  const acc = new Float64Array(stride);
  const rowAt = Int32Array.from({ length: h + 2 * ry }, (_, j) => borderIndex(j - ry, h, mode) * stride);
  const foldY = symmetric(ky);
  for (let y = 0; y < h; y++) {
    if (foldY) {
      const centre = rowAt[y + ry];
      const weight = ky[ry];
      for (let i = 0; i < stride; i++) acc[i] = weight * tmp[centre + i];
      for (let k = 0; k < ry; k++) {
        const top = rowAt[y + k];
        const bottom = rowAt[y + ny - 1 - k];
        const wk = ky[k];
        for (let i = 0; i < stride; i++) acc[i] += wk * (tmp[top + i] + tmp[bottom + i]);
      }
    } else {
      acc.fill(0);
      for (let k = 0; k < ny; k++) {
        const from = rowAt[y + k];
        const weight = ky[k];
        for (let i = 0; i < stride; i++) acc[i] += weight * tmp[from + i];
      }
    }
    out.data.set(acc, y * stride);
  }
  return out;
}

function symmetric(kernel) {
  for (let k = 0; k < kernel.length >> 1; k++) if (kernel[k] !== kernel[kernel.length - 1 - k]) return false;
  return kernel.length % 2 === 1;
}

/** cv2.blur / cv2.boxFilter(normalize=True) of a float mat, window kw x kh (odd), by running sums. */
export function boxBlur(m, kw, kh, mode = 'reflect101') {
  const { height: h, width: w, channels: cn } = m;
  const rx = (kw - 1) >> 1;
  const ry = (kh - 1) >> 1;
  const rows = new Float64Array(h * w * cn);
  const sums = new Float64Array(cn);
  // Where each window starts and where it moves to, border mode applied once (channel offsets).
  const first = Int32Array.from({ length: 2 * rx + 1 }, (_, k) => borderIndex(k - rx, w, mode) * cn);
  const enters = Int32Array.from({ length: w }, (_, x) => borderIndex(x + rx + 1, w, mode) * cn);
  const leaves = Int32Array.from({ length: w }, (_, x) => borderIndex(x - rx, w, mode) * cn);
  for (let y = 0; y < h; y++) {
    const base = y * w * cn;
    sums.fill(0);
    for (let k = 0; k < first.length; k++) {
      const at = base + first[k];
      for (let c = 0; c < cn; c++) sums[c] += m.data[at + c];
    }
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < cn; c++) rows[base + x * cn + c] = sums[c];
      const enter = base + enters[x];
      const leave = base + leaves[x];
      for (let c = 0; c < cn; c++) sums[c] += m.data[enter + c] - m.data[leave + c];
    }
  }
  const out = mat(h, w, cn);
  const stride = w * cn;
  const column = new Float64Array(stride);
  const scale = 1 / (kw * kh);
  for (let k = -ry; k <= ry; k++) {
    const at = borderIndex(k, h, mode) * stride;
    for (let i = 0; i < stride; i++) column[i] += rows[at + i];
  }
  for (let y = 0; y < h; y++) {
    const base = y * stride;
    for (let i = 0; i < stride; i++) out.data[base + i] = column[i] * scale;
    const enter = borderIndex(y + ry + 1, h, mode) * stride;
    const leave = borderIndex(y - ry, h, mode) * stride;
    for (let i = 0; i < stride; i++) column[i] += rows[enter + i] - rows[leave + i];
  }
  return out;
}

/** Mean of each pixel's (2r+1)^2 window clipped to the image (windows shrink at the borders):
 * mvstylizer_common.boxfilter.box_mean_plane. plane: Float32Array or Float64Array of h*w. */
export function boxMeanPlane(plane, height, width, radius) {
  const tmp = new Float64Array(height * width);
  const out = new Float32Array(height * width);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    // Running sum along the row over [x - r, x + r] clipped.
    let s = 0;
    for (let x = 0; x <= Math.min(radius, width - 1); x++) s += plane[row + x];
    for (let x = 0; x < width; x++) {
      tmp[row + x] = s;
      const add = x + radius + 1;
      const drop = x - radius;
      if (add < width) s += plane[row + add];
      if (drop >= 0) s -= plane[row + drop];
    }
  }
  const col = new Float64Array(width);
  for (let y = 0; y <= Math.min(radius, height - 1); y++) {
    for (let x = 0; x < width; x++) col[x] += tmp[y * width + x];
  }
  for (let y = 0; y < height; y++) {
    const rows = Math.min(y, radius) + Math.min(height - 1 - y, radius) + 1;
    for (let x = 0; x < width; x++) {
      const cols = Math.min(x, radius) + Math.min(width - 1 - x, radius) + 1;
      out[y * width + x] = col[x] / (rows * cols);
    }
    const add = y + radius + 1;
    const drop = y - radius;
    for (let x = 0; x < width; x++) {
      if (add < height) col[x] += tmp[add * width + x];
      if (drop >= 0) col[x] -= tmp[drop * width + x];
    }
  }
  return out;
}

/** cv2.GaussianBlur's normalised kernel for float images (OpenCV's size for float: 8 sigma + 1, odd). */
export function gaussianKernel(sigma) {
  const size = rint(sigma * 4 * 2 + 1) | 1;
  const kernel = new Float64Array(size);
  let sum = 0;
  for (let i = 0; i < size; i++) {
    const x = i - (size - 1) * 0.5;
    kernel[i] = Math.exp((-0.5 / (sigma * sigma)) * x * x);
    sum += kernel[i];
  }
  for (let i = 0; i < size; i++) kernel[i] /= sum;
  return kernel;
}

/** cv2.GaussianBlur(m, (0, 0), sigma) of a float mat (OpenCV's kernel size for float, reflect101). */
export function gaussianBlur(m, sigma) {
  const kernel = gaussianKernel(sigma);
  return sepFilter(m, kernel, kernel, 'reflect101');
}

// --- sampling ----------------------------------------------------------------------------------

const INTER_TAB_SIZE = 32;

/** cv2.remap(m, map, None, INTER_LINEAR, borderMode=BORDER_REPLICATE).
 * at(i) gives the float32 (x, y) to sample for output pixel i (of count outputs). OpenCV 5 samples
 * 1-, 3- and 4-channel images at the exact position; other channel counts (the 12 or 13 of a
 * map) at the position rounded to 1/32 pixel, and so does this. */
export function remapLinear(m, count, at) {
  const xs = new Float32Array(count);
  const ys = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const [x, y] = at(i);
    xs[i] = x;
    ys[i] = y;
  }
  return remapPoints(m, xs, ys);
}

/** remapLinear with the positions given as two Float32Arrays (no call per pixel); into `out` if given. */
export function remapPoints(m, xs, ys, out = null) {
  const { width: w, height: h, channels: cn } = m;
  const count = xs.length;
  out ??= new (m.data.constructor)(count * cn);
  const src = m.data;
  const quantized = cn !== 1 && cn !== 3 && cn !== 4;
  const isFloat = src instanceof Float32Array || src instanceof Float64Array;
  const put = caster(m.data.constructor);
  for (let i = 0; i < count; i++) {
    const x = xs[i];
    const y = ys[i];
    let sx;
    let sy;
    let fx;
    let fy;
    if (quantized) {
      const X = rint(x * INTER_TAB_SIZE);
      const Y = rint(y * INTER_TAB_SIZE);
      sx = X >> 5;
      sy = Y >> 5;
      fx = (X & 31) / INTER_TAB_SIZE;
      fy = (Y & 31) / INTER_TAB_SIZE;
    } else {
      sx = Math.floor(x);
      sy = Math.floor(y);
      fx = Math.fround(x - sx);
      fy = Math.fround(y - sy);
    }
    const w00 = Math.fround((1 - fy) * (1 - fx));
    const w01 = Math.fround((1 - fy) * fx);
    const w10 = Math.fround(fy * (1 - fx));
    const w11 = Math.fround(fy * fx);
    const x0 = sx < 0 ? 0 : sx > w - 1 ? w - 1 : sx;
    const x1 = sx + 1 < 0 ? 0 : sx + 1 > w - 1 ? w - 1 : sx + 1;
    const a = (sy < 0 ? 0 : sy > h - 1 ? h - 1 : sy) * w;
    const b = (sy + 1 < 0 ? 0 : sy + 1 > h - 1 ? h - 1 : sy + 1) * w;
    const p00 = (a + x0) * cn;
    const p01 = (a + x1) * cn;
    const p10 = (b + x0) * cn;
    const p11 = (b + x1) * cn;
    const o = i * cn;
    if (isFloat) {
      for (let c = 0; c < cn; c++) out[o + c] = src[p00 + c] * w00 + src[p01 + c] * w01 + src[p10 + c] * w10 + src[p11 + c] * w11;
    } else {
      for (let c = 0; c < cn; c++) out[o + c] = put(src[p00 + c] * w00 + src[p01 + c] * w01 + src[p10 + c] * w10 + src[p11 + c] * w11);
    }
  }
  return out;
}

/** cv2.transform of a mat's pixels by a matrix (rows: output channels; a last column is an offset). */
export function transform(m, matrix, Type = m.data.constructor) {
  const rows = matrix.length;
  const cols = matrix[0].length;
  const cn = m.channels;
  if (m.data instanceof Uint8Array && Type === Uint8Array && cn === 3 && rows === 3 && fitsQ10(matrix)) {
    return transformQ10(m, matrix);
  }
  const out = mat(m.height, m.width, rows, Type);
  const put = caster(Type);
  const n = m.height * m.width;
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < rows; r++) {
      let s = cols > cn ? matrix[r][cn] : 0;
      for (let k = 0; k < cn; k++) s += matrix[r][k] * m.data[i * cn + k];
      out.data[i * rows + r] = put(s);
    }
  }
  return out;
}

function fitsQ10(matrix) {
  return matrix.every((row) => row.slice(0, 3).every((v) => Math.abs(v) < 32) && Math.abs(row[3] ?? 0) < 32 * 256);
}

/** OpenCV's 8-bit 3x3(+offset) transform: gains in Q10, the offset rounding folded in. */
function transformQ10(m, matrix) {
  const out = mat(m.height, m.width, 3, Uint8Array);
  const gains = matrix.map((row) => row.slice(0, 3).map((v) => rint(Math.fround(v) * 1024)));
  const offsets = matrix.map((row) => rint((Math.fround(row[3] ?? 0) + 0.5) * 1024));
  const d = m.data;
  for (let i = 0; i < d.length; i += 3) {
    for (let r = 0; r < 3; r++) {
      const g = gains[r];
      const v = (g[0] * d[i] + g[1] * d[i + 1] + g[2] * d[i + 2] + offsets[r]) >> 10;
      out.data[i + r] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}

/** cv2.cvtColor(RGB2HSV) on uint8 (H in 0..179): OpenCV's 12-bit fixed-point tables. */
export function rgbToHsv(m) {
  const out = mat(m.height, m.width, 3, Uint8Array);
  const d = m.data;
  for (let i = 0; i < d.length; i += 3) {
    const r = d[i];
    const g = d[i + 1];
    const b = d[i + 2];
    const v = Math.max(r, g, b);
    const diff = v - Math.min(r, g, b);
    const s = v === 0 ? 0 : (diff * HSV_SDIV[v] + 2048) >> 12;
    let h;
    if (v === r) h = g - b;
    else if (v === g) h = b - r + 2 * diff;
    else h = r - g + 4 * diff;
    h = diff === 0 ? 0 : (h * HSV_HDIV[diff] + 2048) >> 12;
    if (h < 0) h += 180;
    out.data[i] = h;
    out.data[i + 1] = s;
    out.data[i + 2] = v;
  }
  return out;
}

const HSV_SDIV = Int32Array.from({ length: 256 }, (_, i) => (i === 0 ? 0 : rint((255 << 12) / i)));
const HSV_HDIV = Int32Array.from({ length: 256 }, (_, i) => (i === 0 ? 0 : rint((180 << 12) / (6 * i))));
