// Key-frame selection: which frames the stylizer sees (client/device/keyframes.py).
//
// Every scene cut is a key frame, whatever the policy. `fixed` adds a key every N frames; `auto`
// adds one when the motion accumulated since the last key, or the share of pixels the last key no
// longer explains, grows too large, or when the gap reaches a maximum. Decisions are made on
// 128-px thumbnails. Frames are uint8 H x W x 3 RGB mats.

import { resizeArea, rgbToHsv } from './cv.js';
import * as flowlib from './flow.js';
import { pyRound } from './grids.js';

export const THUMB_WIDTH = 128;
export const KEY_LONG_SIDE = 640;
const HIST_BINS = [16, 8, 8];
const HIST_RANGES = [180, 256, 256];

/** A decision: { isKey, cut, reason }. */
export function keyDecision(isKey, cut = false, reason = '') {
  return { isKey, cut, reason };
}

/** `fixed`: every keyInterval frames; `auto`: adaptive, at most maxGap apart. Cuts are keys in both. */
export function makeSelector(policy, keyInterval, maxGap) {
  if (policy === 'fixed') return new FixedIntervalSelector(keyInterval);
  if (policy === 'auto') return new AdaptiveSelector({ maxGap });
  throw new Error(`unknown key-frame policy '${policy}'`);
}

/** Hard cuts from the colour histogram distance between consecutive frames (HSV, 16x8x8 bins,
 * Bhattacharyya distance of L2-normalised histograms, as OpenCV's calcHist and compareHist). */
export class CutDetector {
  constructor(threshold = 0.4) {
    this.threshold = threshold;
    this.previous = null;
  }

  isCut(thumb) {
    const hist = colourHistogram(thumb);
    const previous = this.previous;
    this.previous = hist;
    if (previous === null) return false;
    return bhattacharyya(previous, hist) > this.threshold;
  }
}

export function colourHistogram(thumb) {
  const hsv = rgbToHsv(thumb).data;
  const [bh, bs, bv] = HIST_BINS;
  const scales = HIST_BINS.map((bins, i) => bins / HIST_RANGES[i]);
  const hist = new Float64Array(bh * bs * bv);
  for (let i = 0; i < hsv.length; i += 3) {
    const h = Math.floor(hsv[i] * scales[0]);
    const s = Math.floor(hsv[i + 1] * scales[1]);
    const v = Math.floor(hsv[i + 2] * scales[2]);
    if (h < bh) hist[(h * bs + s) * bv + v] += 1;
  }
  let norm = 0;
  for (const v of hist) norm += v * v;
  norm = Math.sqrt(norm);
  return hist.map((v) => Math.fround(v / norm));
}

export function bhattacharyya(a, b) {
  let s1 = 0;
  let s2 = 0;
  let result = 0;
  for (let i = 0; i < a.length; i++) {
    s1 += a[i];
    s2 += b[i];
    result += Math.sqrt(a[i] * b[i]);
  }
  s1 *= s2;
  s1 = Math.abs(s1) > 1.1920929e-7 ? 1 / Math.sqrt(s1) : 1;
  return Math.sqrt(Math.max(1 - result * s1, 0));
}

/** [width, height] of a frame's thumbnail: THUMB_WIDTH wide (never enlarged). */
function thumbnailSize(rgb) {
  const width = Math.min(THUMB_WIDTH, rgb.width);
  return [width, Math.max(8, pyRound((rgb.height * width) / rgb.width))];
}

/** The frame at THUMB_WIDTH wide (never enlarged), area-averaged. */
export function thumbnail(rgb) {
  return resizeArea(rgb, ...thumbnailSize(rgb));
}

/** [the thumbnail, it prepared for flow]: from `prepared` (flow.prepare(rgb, THUMB_WIDTH)) where
 * that is at the thumbnail's size (the same area-averaged picture), so neither is made twice. */
export function thumbnailFrame(rgb, prepared = null) {
  if (prepared && isThumbnailOf(prepared, rgb)) {
    return [prepared.small, { ...prepared, frameWidth: prepared.small.width, frameHeight: prepared.small.height }];
  }
  const thumb = thumbnail(rgb);
  return [thumb, flowlib.prepare(thumb, THUMB_WIDTH)];
}

/** Whether a frame flow.prepare made from rgb is at rgb's thumbnail's size (it is then the same
 * area-averaged picture). */
function isThumbnailOf(prepared, rgb) {
  const [width, height] = thumbnailSize(rgb);
  return prepared.frameWidth === rgb.width && prepared.small?.width === width && prepared.small?.height === height;
}

/** Every `interval`-th frame since the last key (interval 1 = every frame), plus every cut. */
export class FixedIntervalSelector {
  constructor(interval, cutThreshold = 0.4) {
    if (!(interval >= 1)) throw new Error(`key-frame interval must be at least 1, got ${interval}`);
    this.interval = interval;
    this.looksAtFrames = interval > 1;
    this.cuts = new CutDetector(cutThreshold);
    this.sinceKey = null;
  }

  decide(index, rgb) {
    const cut = this.interval > 1 && this.cuts.isCut(thumbnail(rgb));
    if (cut || this.sinceKey === null || this.sinceKey + 1 >= this.interval) {
      this.sinceKey = 0;
      return keyDecision(true, cut, cut ? 'cut' : 'interval');
    }
    this.sinceKey += 1;
    return keyDecision(false);
  }
}

/** A key frame when the last one stops explaining the current frame well: accumulated motion since
 * the last key (mean flow length as a share of the width), the share of pixels whose flow to the
 * last key fails a photometric check, a maximum gap, and cuts. */
export class AdaptiveSelector {
  constructor({ maxGap = 30, motionShare = 0.12, unexplainedShare = 0.2, cutThreshold = 0.4 } = {}) {
    if (!(maxGap >= 1)) throw new Error(`maximum key-frame gap must be at least 1, got ${maxGap}`);
    this.looksAtFrames = true;
    this.maxGap = maxGap;
    this.motionShare = motionShare;
    this.unexplainedShare = unexplainedShare;
    this.cuts = new CutDetector(cutThreshold);
    this.key = null;
    this.sinceKey = 0;
  }

  /** prepared: the frame already prepared by flow.js (flow.prepare(rgb, THUMB_WIDTH)), if the
   * caller has it: at the thumbnail's size it is the thumbnail's own, and is not made twice. */
  decide(index, rgb, prepared = null) {
    const [thumb, frame] = thumbnailFrame(rgb, prepared);
    return this.decideOn(frame, this.cuts.isCut(thumb));
  }

  /** decide() on the frame's thumbnail prepared for flow, its cut already told. */
  decideOn(frame, cut) {
    const reason = cut ? 'cut' : this.reason(frame);
    if (reason) {
      this.key = frame;
      this.sinceKey = 0;
      return keyDecision(true, cut, reason);
    }
    this.sinceKey += 1;
    return keyDecision(false);
  }

  reason(frame) {
    if (this.key === null) return 'first';
    if (this.sinceKey + 1 >= this.maxGap) return 'gap';
    const flow = flowlib.estimateFlow(frame, this.key);
    const n = flow.data.length / 2;
    let length = 0;
    for (let i = 0; i < flow.data.length; i += 2) length += Math.hypot(flow.data[i], flow.data[i + 1]);
    if (length / n / frame.frameWidth > this.motionShare) return 'motion';
    const confidence = flowlib.photometricConfidence(frame, this.key, flow).data;
    let failing = 0;
    for (const c of confidence) if (c < 0.5) failing += 1;
    if (failing / n > this.unexplainedShare) return 'unexplained';
    return '';
  }
}
