// One interpolation stream's state: held key frames and ordering rules
// (services/interpolator/session.py), for the browser: RGB output only (no I420 path).
//
// Planning a frame (which keys, moved along which flows, make its map; or the closed form) is
// cheap and stateful; rendering it at full size is pure (render(), or affine_gl.js on the GPU).
// Images are uint8 H x W x 3 mats; flows and confidences as core.js takes them.

import * as affine from './affine.js';
import {
  adaptation,
  atStrength,
  colourStatistics,
  compose,
  contentStatistics,
  linearTransfer,
  stylizerLook,
} from './closed_form.js';
import { applyColourTransform, blendMaps, prepareKey } from './core.js';
import { mat, resizeArea, resizeLinearAny } from './cv.js';
import { gridSize } from './grids.js';

export const OFFLINE = 'offline';
export const LIVE = 'live';
export const DEFAULT_MAX_HELD_KEYS = 8;
export const DEFAULT_MAP_LONG_SIDE = 320;
export const EASE_STEP = 2.5;
export const EASE_FRAMES = 8;
export const MAX_EASE_FRAMES = 45;
// Live: between changes of source, the maps moved along the flow may land on content they were not
// fitted for (the flow errs, most where frames are far apart: a device that drops frames), and the
// frame's mean colour swings while frame-by-frame stylization's holds. The key's global look follows
// the content without the flow; each frame's mean colour may depart from its change by at most
// EASE_STEP (summed over R, G and B), the rest taken off as an offset that fades as an ease does;
// nor may it lie further than EASE_STEP from that look plus the key's own departure from it (a slow
// drift passes the step: session.py's EASE_STEP).
// The means are taken over cells sampled at most STEADY_CELLS along the grid's long side (cheap).
// Offline, the same holds between two keys, against the two keys' global looks and their own
// departures from them, blended by the frame's distance to each, with the offset held and the mean
// within EASE_STEP a frame to go of that blend (session.py's STEADY_CELLS). A key is never changed.
export const STEADY_CELLS = 48;
// Live: a new shot's closed form takes the content's colours to the stylizer's look, from the colour
// statistics of up to this many recent keys' answers (session.py's LOOK_KEYS, stylizerLook).
export const LOOK_KEYS = 8;
export const MAX_FRAME_SIDE = 65535;
export const DEFAULT_MAX_PIXELS = 40000000;

export const KEY = 'key';
export const INTERPOLATED = 'interpolated';
export const CLOSED_FORM = 'closed form';
export const CLOSED_FORM_NEW_SHOT = 'closed form (new shot)';
export const CLOSED_FORM_NO_KEY = 'closed form (no key yet)';

/** A request nobody can answer (bad order, missing keys, bad sizes). */
export class InvalidInputError extends Error {
  constructor(message) {
    super(message);
    this.name = 'InvalidInputError';
  }
}

/** A request over a limit (keys held, frame size). */
export class LimitExceededError extends Error {
  constructor(message) {
    super(message);
    this.name = 'LimitExceededError';
  }
}

/** Bound a frame size before anything is allocated for it (mvstylizer_common.limits.check_frame_size). */
export function checkFrameSize(width, height, what = 'frame', maxPixels = DEFAULT_MAX_PIXELS) {
  for (const side of [width, height]) {
    if (!Number.isInteger(side) || side < 1 || side > MAX_FRAME_SIDE) {
      throw new InvalidInputError(
        `${what} ${width}x${height}: each side must be a whole number of pixels from 1 to ${MAX_FRAME_SIDE}`,
      );
    }
  }
  if (width * height > maxPixels) {
    throw new LimitExceededError(`${what} ${width}x${height} is over the limit of ${maxPixels / 1e6} Mpx`);
  }
}

/** Holds stylized key frames and turns frame requests into stylized frames, in order.
 * Offline: each frame between two held keys. Live (forward only): each frame from the latest key
 * held. Live sessions given a style reference also make frames no key describes, in closed form:
 * after a cut (startShot) until the new shot's first key, and when the caller says the stylizer is
 * silent (planClosedForm). */
export class InterpolationSession {
  constructor(
    mode,
    width,
    height,
    {
      maxHeldKeys = DEFAULT_MAX_HELD_KEYS,
      mapLongSide = DEFAULT_MAP_LONG_SIDE,
      exactKeys = false,
      styleReference = null,
      strength = 1.0,
    } = {},
  ) {
    checkFrameSize(width, height, 'output size');
    if (mode !== OFFLINE && mode !== LIVE) throw new InvalidInputError(`unknown mode '${mode}'`);
    if (!(strength >= 0 && strength <= 1)) throw new InvalidInputError(`strength ${strength} is outside 0..1`);
    this.strength = strength;
    this.mode = mode;
    this.width = width;
    this.height = height;
    this.maxHeldKeys = maxHeldKeys;
    this.grid = gridSize(width, height, mapLongSide);
    this.exactKeys = exactKeys;
    this.keys = new Map();
    this.lastIndex = -1;
    this.style = null;
    this.styleVersion = 0;
    this.shotStart = 0;
    this.everKeyed = false;
    // Live: the map last shown, where it came from, and the eased difference (see EASE_FRAMES).
    this.shown = null;
    this.shownSource = null;
    this.shownStats = null;
    this.residual = null;
    this.residualStats = null;
    this.easeFrames = 0;
    this.easeLeft = 0;
    // { mean shown, mean of the global look, offset taken off } of the frame before, made from a key
    // (live) or between two keys (offline): see EASE_STEP and STEADY_CELLS; null after a change of source.
    this.steady = null;
    // Offline: each held key's departure from its global look (see keyDeparture).
    this.departures = new Map();
    // Live: the colour statistics of the stylizer's recent answers in this style (see LOOK_KEYS).
    this.looks = [];
    if (styleReference) this.setStyleReference(styleReference);
  }

  /** Hold a key frame: its original (resized to the output size if needed) and its stylization (any size). */
  addKey(index, stylized, original) {
    this.holdKey(this.fitKey(index, stylized, original));
  }

  /** A key frame's maps, fitted without touching the session; holdKey() it. */
  fitKey(index, stylized, original) {
    if (this.exactKeys) return { index, original: this.fit(stylized), localMap: null, transform: null };
    if (!original) throw new InvalidInputError(`key frame ${index} has no original frame`);
    const liveOriginal = this.mode === LIVE && index <= this.lastIndex;
    return prepareKey(index, liveOriginal ? original : this.fit(original), stylized, this.grid);
  }

  holdKey(key) {
    const { index } = key;
    if (this.keys.has(index)) throw new InvalidInputError(`key frame ${index} sent twice`);
    const newest = this.keys.size ? Math.max(...this.keys.keys()) : null;
    if (this.mode === LIVE) {
      if (newest !== null && index < newest) {
        throw new InvalidInputError(`key frame ${index} is older than key frame ${newest} held`);
      }
      if (index < this.shotStart) {
        throw new InvalidInputError(`key frame ${index} belongs to the shot before frame ${this.shotStart}`);
      }
    } else if (index <= this.lastIndex) {
      throw new InvalidInputError(`key frame ${index} is older than frame ${this.lastIndex} already made`);
    }
    if (this.keys.size >= this.maxHeldKeys) throw new LimitExceededError(`more than ${this.maxHeldKeys} key frames held`);
    this.keys.set(index, key);
    this.everKeyed = true;
    if (this.mode === LIVE) {
      if (key.lookStats) this.looks = [...this.looks, key.lookStats].slice(-LOOK_KEYS);
      for (const old of [...this.keys.keys()]) if (old < index) this.keys.delete(old);
    }
  }

  /** Live: a (new) style photo. Keys held were made in the old style: they are dropped. */
  setStyleReference(styleRgb) {
    if (this.mode !== LIVE) throw new InvalidInputError('only live sessions make frames in closed form');
    this.style = colourStatistics(styleRgb);
    this.styleVersion += 1;
    this.keys.clear();
    this.everKeyed = false;
    this.looks = [];
  }

  /** Live: frame `index` starts a new shot (a cut): old keys are dropped and refused from now on. */
  startShot(index) {
    if (this.mode !== LIVE) throw new InvalidInputError('offline sessions never blend across a cut: the client sends keys');
    this.shotStart = index;
    this.keys.clear();
    this.shown = this.shownSource = this.residual = this.steady = null;
    this.easeLeft = 0;
  }

  /** Live: the key frames are made from, if any. */
  latestKey() {
    return this.keys.size ? Math.max(...this.keys.keys()) : null;
  }

  get heldKeys() {
    return [...this.keys.keys()].sort((a, b) => a - b);
  }

  /** Live: frame `index` in closed form: the latest key's global look when one is held (carried
   * over changes of the content's colours since), else the content's colours moved to the style's. */
  planClosedForm(index, original) {
    this.checkNext(index);
    original = this.fit(original);
    const key = this.keys.size ? this.keys.get(this.latestKey()) : null;
    const stats = contentStatistics(original);
    let transform;
    let method;
    let source;
    if (key && key.transform) {
      transform = compose(key.transform, adaptation(stats, key.contentStats));
      method = CLOSED_FORM;
      source = `global ${key.index}`;
    } else if (this.looks.length && this.style) {
      // A new shot after keys in this style: the look the stylizer has been bringing (strength included).
      transform = linearTransfer(stats, stylizerLook(this.style, this.looks));
      method = CLOSED_FORM_NEW_SHOT;
      source = `shot ${this.shotStart} ${this.styleVersion}`;
    } else {
      if (!this.style) throw new InvalidInputError('no key frame held and no style reference for the closed form');
      transform = atStrength(linearTransfer(stats, this.style), this.strength);
      method = this.everKeyed || this.shotStart > 0 ? CLOSED_FORM_NEW_SHOT : CLOSED_FORM_NO_KEY;
      source = `shot ${this.shotStart} ${this.styleVersion}`;
    }
    this.lastIndex = index;
    return this.eased({ index, method, original, transform, colourStats: stats }, source);
  }

  /** Live: the plan with the difference left from the last change of source added to its map (and,
   * for a frame made from `key`, its mean colour kept steady: see EASE_STEP). */
  eased(plan, source, key = null) {
    if (plan.image) return plan;
    const [gw, gh] = this.grid;
    const target = plan.coeffs ?? broadcastMap(affine.globalMapCoeffs(plan.transform), gw, gh);
    const switched = this.shown !== null && source !== this.shownSource;
    if ((switched || this.easeLeft > 0) && !plan.small) plan.small = resizeArea(plan.original, gw, gh);
    if (switched) {
      const previous = affine.after(this.shown, adaptation(plan.colourStats, this.shownStats));
      this.residual = subtract(previous, target);
      this.residualStats = plan.colourStats;
      const applied = affine.applyOnGrid(this.residual, plan.small).data;
      let change = 0;
      for (const v of applied) change += Math.abs(v);
      change /= gw * gh;
      this.easeFrames = Math.min(MAX_EASE_FRAMES, Math.max(EASE_FRAMES, Math.ceil(change / EASE_STEP)));
      this.easeLeft = this.easeFrames - 1;
    }
    let shown;
    if (this.easeLeft > 0) {
      const residual = affine.after(this.residual, adaptation(plan.colourStats, this.residualStats));
      const share = this.easeLeft / this.easeFrames;
      shown = mat(gh, gw, affine.COEFFS);
      for (let i = 0; i < shown.data.length; i++) shown.data[i] = target.data[i] + residual.data[i] * share;
      this.easeLeft -= 1;
      plan.coeffs = shown;
      plan.transform = null;
    } else {
      this.residual = null;
      shown = target;
    }
    const look = key?.transform && key.contentStats ? compose(key.transform, adaptation(plan.colourStats, key.contentStats)) : null;
    const bias = look ? this.keyDeparture(key) : null;
    const offset = this.steadying(target, plan, look, switched, bias, EASE_STEP, false);
    if (offset) {
      shown = plan.coeffs = withOffset(shown, offset);
      plan.transform = null;
    }
    this.shown = shown;
    this.shownSource = source;
    this.shownStats = plan.colourStats;
    return plan;
  }

  /** Offline: the plan with its mean colour kept steady against the global look of its keys,
   * blended by the frame's distance to each (see STEADY_CELLS). A key frame starts afresh.
   * adapted: the frame's colour adaptation to its keys, as planFrame made it (null for a key). */
  steadiedOffline(plan, prev, nextKey, alpha, adapted) {
    const keys = nextKey ? [prev, nextKey] : [prev];
    if (!plan.coeffs || keys.some((k) => !k.transform || !k.contentStats)) {
      this.steady = null;
      return plan;
    }
    const transform = nextKey
      ? prev.transform.map((row, r) => row.map((v, k) => Math.fround((1 - alpha) * v + alpha * nextKey.transform[r][k])))
      : prev.transform;
    if (!adapted) adapted = adaptation(plan.colourStats, prev.contentStats);
    // The keys' own maps depart from their global looks: the frame's mean is steered between the two
    // departures, so that it meets the next key's own mean when that key comes.
    let bias = this.keyDeparture(prev);
    let budget = null;
    if (nextKey) {
      const next = this.keyDeparture(nextKey);
      bias = bias.map((v, c) => Math.fround(v + Math.fround(alpha) * (next[c] - v)));
      budget = EASE_STEP * (nextKey.index - plan.index);
    }
    const look = compose(transform, adapted);
    const offset = this.steadying(plan.coeffs, plan, look, plan.method === KEY, bias, budget);
    if (offset) plan.coeffs = withOffset(plan.coeffs, offset);
    return plan;
  }

  /** How far (0-255, per channel) the mean colour a key's own maps give its own frame lies from the
   * mean its global look gives it, on the cells the steadying samples (cached per key held: a key
   * held again at the same index, after a new style or a cut, is another key). */
  keyDeparture(key) {
    const cached = this.departures.get(key.index);
    let departure = cached?.key === key ? cached.departure : null;
    if (!departure) {
      const [gw, gh] = this.grid;
      const small = resizeArea(this.fit(key.original), gw, gh);
      const step = this.steadyStep();
      const look = meanShown(affine.globalMapCoeffs(key.transform), small, step);
      departure = meanShown(key.localMap, small, step).map((v, c) => Math.fround(v - look[c]));
      for (const index of [...this.departures.keys()]) if (!this.keys.has(index)) this.departures.delete(index);
      this.departures.set(key.index, { key, departure });
    }
    return departure;
  }

  /** The offset (0-255, per channel) that keeps the mean colour a key's maps (`target`) give this
   * frame from departing from the change of the global `look` (3x4) by more than EASE_STEP since the
   * frame before (see EASE_STEP); null when there is none. `switched`: the source changed here (its
   * ease, or a key frame, runs its own course). `bias` is added to the look's mean, and `budget`
   * bounds how far the frame's mean may lie from that (summed over RGB). Offline the offset is then
   * held (see STEADY_CELLS); live (hold false) it fades, within the budget. */
  steadying(target, plan, look, switched, bias = null, budget = null, hold = true) {
    if (!look) {
      this.steady = null;
      return null;
    }
    const [gw, gh] = this.grid;
    if (!plan.small) plan.small = resizeArea(plan.original, gw, gh);
    const step = this.steadyStep();
    let anchor = meanShown(affine.globalMapCoeffs(look), plan.small, step);
    if (bias) anchor = anchor.map((v, c) => Math.fround(v + bias[c]));
    const mean = meanShown(target, plan.small, step);
    let offset = [0, 0, 0];
    if (this.steady && !switched) {
      const last = this.steady;
      offset = hold && budget !== null ? [...last.offset] : last.offset.map((v) => Math.fround(v * (1 - 1 / EASE_FRAMES)));
      const excess = [0, 1, 2].map((c) => mean[c] + offset[c] - last.mean[c] - (anchor[c] - last.anchor[c]));
      offset = takeBeyond(offset, excess, EASE_STEP);
      if (budget !== null) offset = takeBeyond(offset, [0, 1, 2].map((c) => mean[c] + offset[c] - anchor[c]), budget);
    }
    this.steady = { mean: mean.map((v, c) => v + offset[c]), anchor, offset };
    return offset.some((v) => v !== 0) ? offset : null;
  }

  /** Every how many cells, each way, the steadying samples the grid (see STEADY_CELLS). */
  steadyStep() {
    return Math.ceil(Math.max(...this.grid) / STEADY_CELLS);
  }

  /** The stylized frame for inputs.index: H x W x 3 uint8 at the output size. */
  makeFrame(inputs) {
    return this.render(this.planFrame(inputs));
  }

  /** A planned frame at full size (pure; affine_gl.js does the same on the GPU). */
  render(plan) {
    if (plan.image) return plan.image;
    if (plan.transform) return applyColourTransform(plan.original, plan.transform);
    return affine.applyDetail(plan.coeffs, plan.original, plan.small);
  }

  /** Decide frame inputs.index (in order): which keys, moved along which flows, make its map.
   * inputs: { index, prevKey, nextKey, flowToPrev, confidencePrev, flowToNext, confidenceNext,
   * original, frameSize: [w, h] of the frame the flows are measured in, small }. */
  planFrame(inputs) {
    const { index } = inputs;
    this.checkNext(index);
    const prev = this.held(inputs.prevKey, 'prev_key');
    if (inputs.prevKey > index) throw new InvalidInputError(`prev_key ${inputs.prevKey} is after frame ${index}`);
    let nextKey = null;
    if (inputs.nextKey !== undefined && inputs.nextKey !== null) {
      if (this.mode === LIVE) throw new InvalidInputError('live mode does not use a next key');
      if (inputs.nextKey <= index) throw new InvalidInputError(`next_key ${inputs.nextKey} is not after frame ${index}`);
      nextKey = this.held(inputs.nextKey, 'next_key');
    }
    let plan;
    let adapted = null; // the frame's colour adaptation to its keys (a key frame has none)
    if (index === prev.index) {
      plan = this.exactKeys
        ? { index, method: KEY, image: prev.original }
        : { index, method: KEY, original: this.fit(prev.original), coeffs: prev.localMap, colourStats: prev.contentStats };
    } else if (this.exactKeys) {
      throw new InvalidInputError('a stream with exact_keys carries key frames only');
    } else {
      if (!inputs.original) throw new InvalidInputError(`frame ${index} has no original frame`);
      if (!inputs.flowToPrev) throw new InvalidInputError(`frame ${index} has no flow to its key frame`);
      const prevLink = { key: prev, flow: this.toOutputPixels(inputs.flowToPrev, inputs), confidence: inputs.confidencePrev };
      let nextLink = null;
      if (nextKey) {
        if (!inputs.flowToNext) throw new InvalidInputError(`frame ${index} has no flow to its next key frame`);
        nextLink = { key: nextKey, flow: this.toOutputPixels(inputs.flowToNext, inputs), confidence: inputs.confidenceNext };
      }
      const original = this.fit(inputs.original);
      const [gw, gh] = this.grid;
      let small = original === inputs.original ? inputs.small : null;
      if (!small || small.width !== gw || small.height !== gh) small = resizeArea(original, gw, gh);
      const stats = contentStatistics(small);
      adapted = adaptation(stats, prev.contentStats);
      if (nextKey) {
        const alpha = (index - prev.index) / (nextKey.index - prev.index);
        const toNext = adaptation(stats, nextKey.contentStats);
        adapted = adapted.map((row, r) => row.map((v, k) => Math.fround(v + alpha * (toNext[r][k] - v))));
      }
      let coeffs = blendMaps(index, prevLink, nextLink, this.width, this.height, small, adapted);
      coeffs = affine.after(coeffs, adapted);
      plan = { index, method: INTERPOLATED, original, coeffs, small, colourStats: stats };
    }
    this.lastIndex = index;
    for (const old of [...this.keys.keys()]) if (old < prev.index) this.keys.delete(old);
    if (this.mode === LIVE) return this.eased(plan, `key ${prev.index}`, prev);
    const alpha = nextKey ? (index - prev.index) / (nextKey.index - prev.index) : 0;
    return this.steadiedOffline(plan, prev, nextKey, alpha, adapted);
  }

  checkNext(index) {
    if (index <= this.lastIndex) throw new InvalidInputError(`frame ${index} requested after frame ${this.lastIndex}`);
  }

  held(index, role) {
    const key = this.keys.get(index);
    if (!key) throw new InvalidInputError(`${role} ${index} is not a key frame held by this stream`);
    return key;
  }

  /** Rescale flow values from the measured frame's pixels to output pixels. */
  toOutputPixels(flow, inputs) {
    if (!inputs.frameSize || (inputs.frameSize[0] === this.width && inputs.frameSize[1] === this.height)) return flow;
    const sx = Math.fround(this.width / inputs.frameSize[0]);
    const sy = Math.fround(this.height / inputs.frameSize[1]);
    const out = { ...flow, data: new Float32Array(flow.data.length) };
    for (let i = 0; i < flow.data.length; i += 2) {
      out.data[i] = flow.data[i] * sx;
      out.data[i + 1] = flow.data[i + 1] * sy;
    }
    return out;
  }

  fit(image) {
    return image.width === this.width && image.height === this.height ? image : resizeLinearAny(image, this.width, this.height);
  }
}

/** The mean colour (0-255, per channel) a map (a grid's, or 12 coefficients for all cells) gives the
 * frame at the grid's size, over every `step`-th cell each way, clipped to levels. */
function meanShown(coeffs, small, step) {
  const sum = [0, 0, 0];
  let count = 0;
  for (let y = 0; y < small.height; y += step) {
    for (let x = 0; x < small.width; x += step) {
      const i = y * small.width + x;
      const a = coeffs.data ? coeffs.data.subarray(affine.COEFFS * i, affine.COEFFS * i + affine.COEFFS) : coeffs;
      const [r, g, b] = [small.data[3 * i], small.data[3 * i + 1], small.data[3 * i + 2]];
      for (let c = 0; c < 3; c++) sum[c] += Math.min(255, Math.max(0, a[4 * c] * r + a[4 * c + 1] * g + a[4 * c + 2] * b + a[4 * c + 3]));
      count += 1;
    }
  }
  return sum.map((v) => v / count);
}

function broadcastMap(coeffs, width, height) {
  const out = mat(height, width, affine.COEFFS);
  for (let i = 0; i < width * height; i++) out.data.set(coeffs, i * affine.COEFFS);
  return out;
}

function subtract(a, b) {
  const out = mat(a.height, a.width, a.channels);
  for (let i = 0; i < out.data.length; i++) out.data[i] = a.data[i] - b.data[i];
  return out;
}

/** `offset` less the part of `change` (0-255, per channel) beyond `limit` summed over R, G and B,
 * along it (session.py's _beyond). */
function takeBeyond(offset, change, limit) {
  const size = change.reduce((sum, v) => sum + Math.abs(v), 0);
  return size > limit ? offset.map((v, c) => Math.fround(v - change[c] * (1 - limit / size))) : offset;
}

/** A copy of the grid map with `offset` (0-255, per channel) added to each cell's offsets. */
function withOffset(coeffs, offset) {
  const shifted = mat(coeffs.height, coeffs.width, affine.COEFFS);
  shifted.data.set(coeffs.data);
  for (let i = 0; i < shifted.data.length; i += affine.COEFFS) for (let c = 0; c < 3; c++) shifted.data[i + 4 * c + 3] += offset[c];
  return shifted;
}
