// The device's closed-form look, for frames no stylized key frame describes
// (services/interpolator/closed_form.py): a linear Monge-Kantorovich colour transfer between the
// Gaussian fits of two colour distributions, fitted on thumbnails. Transforms are 3x4 arrays of
// rows (on [0, 1] colours); colour statistics are { mean: [3], cov: [[3] x 3] }.

import { resizeArea } from './cv.js';

export const CONTENT_THUMB = [64, 36];
export const STYLE_THUMB = [96, 64];
export const RIDGE = 1e-4;

/** Mean and covariance of an H x W x 3 uint8 picture's colours (from a thumbnail). */
export function colourStatistics(rgb, thumb = STYLE_THUMB) {
  const small = resizeArea(rgb, thumb[0], thumb[1]).data;
  const n = small.length / 3;
  const mean = [0, 0, 0];
  for (let i = 0; i < small.length; i += 3) for (let c = 0; c < 3; c++) mean[c] += small[i + c] / 255;
  for (let c = 0; c < 3; c++) mean[c] /= n;
  const cov = [
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
  ];
  for (let i = 0; i < small.length; i += 3) {
    const d = [small[i] / 255 - mean[0], small[i + 1] / 255 - mean[1], small[i + 2] / 255 - mean[2]];
    for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) cov[j][k] += d[j] * d[k];
  }
  for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) cov[j][k] = cov[j][k] / (n - 1) + (j === k ? RIDGE : 0);
  return { mean, cov };
}

// How far apart (0-1 colours) a look's mean and the style photo's are as a matter of course.
export const LOOK_SCATTER = 2.0 / 255.0;

/** closed_form.py's stylizer_look: the style photo's statistics moved towards the stylizer's
 * answers' (looks, a list of statistics) as far as the answers agree on how they differ from it. */
export function stylizerLook(style, looks) {
  const n = looks.length;
  const trust = [0, 1, 2].map((c) => {
    const values = looks.map((look) => look.mean[c]);
    const average = values.reduce((a, v) => a + v, 0) / n;
    const variance = values.reduce((a, v) => a + (v - average) ** 2, 0) / n;
    const offset = average - style.mean[c];
    return { offset, share: offset ** 2 / (offset ** 2 + variance / n + LOOK_SCATTER ** 2) };
  });
  const covShare = (trust[0].share + trust[1].share + trust[2].share) / 3;
  const cov = style.cov.map((row, i) =>
    row.map((v, j) => v + covShare * (looks.reduce((a, look) => a + look.cov[i][j], 0) / n - v)),
  );
  return { mean: style.mean.map((v, c) => v + trust[c].share * trust[c].offset), cov };
}

/** A frame's colour statistics, as transferTransform takes them from a content frame. */
export function contentStatistics(rgb) {
  return colourStatistics(rgb, CONTENT_THUMB);
}

/** 3x4 map on [0, 1] colours taking the content's colour distribution to the style's. */
export function transferTransform(content, style) {
  return linearTransfer(contentStatistics(content), style);
}

/** 3x4 map on [0, 1] colours taking one Gaussian colour distribution to another. */
export function linearTransfer(source, target) {
  const rootC = sqrtm(source.cov);
  const invRootC = inverse3(rootC);
  const matrix = matmul(matmul(invRootC, sqrtm(matmul(matmul(rootC, target.cov), rootC))), invRootC);
  return matrix.map((row, i) =>
    f32([...row, target.mean[i] - (row[0] * source.mean[0] + row[1] * source.mean[1] + row[2] * source.mean[2])]),
  );
}

/** The 3x4 map moved `strength` of the way from the identity. */
export function atStrength(transform, strength) {
  return transform.map((row, i) => f32(row.map((v, j) => (i === j ? 1 : 0) + strength * (v - (i === j ? 1 : 0)))));
}

/** 3x4 map taking a frame's colour distribution to its key frame's. */
export function adaptation(frameStats, keyStats) {
  return linearTransfer(frameStats, keyStats);
}

/** The 3x4 map x -> outer(inner(x)). */
export function compose(outer, inner) {
  return [0, 1, 2].map((i) => {
    const row = [0, 1, 2].map((j) => outer[i][0] * inner[0][j] + outer[i][1] * inner[1][j] + outer[i][2] * inner[2][j]);
    row.push(outer[i][0] * inner[0][3] + outer[i][1] * inner[1][3] + outer[i][2] * inner[2][3] + outer[i][3]);
    return f32(row);
  });
}

function f32(row) {
  return row.map((v) => Math.fround(v));
}

export function matmul(a, b) {
  return a.map((row) => b[0].map((_, j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));
}

export function inverse3(m) {
  const c00 = m[1][1] * m[2][2] - m[1][2] * m[2][1];
  const c01 = m[1][2] * m[2][0] - m[1][0] * m[2][2];
  const c02 = m[1][0] * m[2][1] - m[1][1] * m[2][0];
  const inv = 1 / (m[0][0] * c00 + m[0][1] * c01 + m[0][2] * c02);
  return [
    [c00 * inv, (m[0][2] * m[2][1] - m[0][1] * m[2][2]) * inv, (m[0][1] * m[1][2] - m[0][2] * m[1][1]) * inv],
    [c01 * inv, (m[0][0] * m[2][2] - m[0][2] * m[2][0]) * inv, (m[0][2] * m[1][0] - m[0][0] * m[1][2]) * inv],
    [c02 * inv, (m[0][1] * m[2][0] - m[0][0] * m[2][1]) * inv, (m[0][0] * m[1][1] - m[0][1] * m[1][0]) * inv],
  ];
}

/** Square root of a symmetric 3x3 matrix (eigenvalues clipped at 1e-8), by Jacobi rotations. */
export function sqrtm(matrix) {
  const { values, vectors } = symmetricEigen(matrix);
  const roots = values.map((v) => Math.sqrt(Math.max(v, 1e-8)));
  return [0, 1, 2].map((i) => [0, 1, 2].map((j) => roots.reduce((s, r, k) => s + vectors[i][k] * r * vectors[j][k], 0)));
}

/** Eigenvalues and eigenvectors (columns) of a symmetric 3x3 matrix (cyclic Jacobi). */
export function symmetricEigen(matrix) {
  const a = matrix.map((row) => row.slice());
  const v = [
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, 1],
  ];
  for (let sweep = 0; sweep < 50; sweep++) {
    const off = a[0][1] ** 2 + a[0][2] ** 2 + a[1][2] ** 2;
    if (off < 1e-30) break;
    for (const [p, q] of [
      [0, 1],
      [0, 2],
      [1, 2],
    ]) {
      if (Math.abs(a[p][q]) < 1e-300) continue;
      const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1);
      const s = t * c;
      for (let k = 0; k < 3; k++) {
        const akp = a[k][p];
        const akq = a[k][q];
        a[k][p] = c * akp - s * akq;
        a[k][q] = s * akp + c * akq;
      }
      for (let k = 0; k < 3; k++) {
        const apk = a[p][k];
        const aqk = a[q][k];
        a[p][k] = c * apk - s * aqk;
        a[q][k] = s * apk + c * aqk;
      }
      for (let k = 0; k < 3; k++) {
        const vkp = v[k][p];
        const vkq = v[k][q];
        v[k][p] = c * vkp - s * vkq;
        v[k][q] = s * vkp + c * vkq;
      }
    }
  }
  return { values: [a[0][0], a[1][1], a[2][2]], vectors: v };
}
