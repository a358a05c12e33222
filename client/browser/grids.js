// Coarse grids that flows, confidences and colour maps live on (services/interpolator/grids.py).

import { resizeArea, resizeLinear } from './cv.js';

/** Python's round(): half to even. */
export function pyRound(v) {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** [gridWidth, gridHeight] with the given long side for a frame size: never scaled up, except that
 * a side is never under 8. */
export function gridSize(width, height, longSide) {
  const factor = Math.min(1.0, longSide / Math.max(width, height));
  return [Math.max(8, pyRound(width * factor)), Math.max(8, pyRound(height * factor))];
}

/** The image at gridSize's size for longSide (area-averaged); the image itself if that is its size. */
export function shrinkToLongSide(image, longSide) {
  const [w, h] = gridSize(image.width, image.height, longSide);
  return w === image.width && h === image.height ? image : resizeArea(image, w, h);
}

/** The [x, y] scale taking a flow in frame pixels to pixels of a gw x gh grid (float32, as numpy's). */
export function frameToGridScale(gridWidth, gridHeight, frameWidth, frameHeight) {
  return [Math.fround(gridWidth / frameWidth), Math.fround(gridHeight / frameHeight)];
}

/** A flow in frame pixels, in pixels of its own grid. */
export function frameToGridPixels(flow, frameWidth, frameHeight) {
  const [sx, sy] = frameToGridScale(flow.width, flow.height, frameWidth, frameHeight);
  const out = { ...flow, data: new Float32Array(flow.data.length) };
  for (let i = 0; i < flow.data.length; i += 2) {
    out.data[i] = flow.data[i] * sx;
    out.data[i + 1] = flow.data[i + 1] * sy;
  }
  return out;
}

/** Bilinear resize of a grid field to width x height (values are not rescaled). */
export function resizeField(field, width, height) {
  return field.width === width && field.height === height ? field : resizeLinear(field, width, height);
}
