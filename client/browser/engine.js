// The page's live engine (client/live/engine.py): each captured frame, in order, becomes one
// stylized frame, whatever the stylizer does.
//
// Per frame: the key-frame policy of keyframes.js looks at it (a cut starts a new shot at once);
// the newest stylized key that came back is fitted and held; a key frame is offered to the link when
// one is due; then the frame is planned by the live InterpolationSession (session.js) from the
// latest key held, its maps moved along the flow from that key (flow.js), or in closed form after a
// cut and while the stylizer is silent; affine_gl.js renders the plan at full size.
//
// The key-frame policy may be given (`selector`: an object with keyframes.js's decide), as the
// page gives keyframes_lagging.js's, whose flow runs in a worker thread.
//
// The planning runs at a small size (the plan grid, flow and maps of a few hundred pixels): the
// full-size frame is touched only by the shader. Flow and the map blend run in plain JS here; a GPU
// version plugs in through the `flow` option (an object with flow.js's prepare, estimateFlow and
// photometricConfidence) and the `planner` option (an object made like session.js's
// InterpolationSession), without the engine changing.

import { applyOnGrid } from './affine.js';
import { applyColourTransform } from './core.js';
import { resizeArea } from './cv.js';
import * as flowlib from './flow.js';
import { gridSize } from './grids.js';
import { makeSelector } from './keyframes.js';
import { InterpolationSession, InvalidInputError, LIVE } from './session.js';

export const PLAN_LONG_SIDE = 192;
export const MAP_LONG_SIDE = 96;
export const FLOW_LONG_SIDE = 128;
export const MIN_KEY_INTERVAL = 6;
export const MAX_KEY_INTERVAL = 60;
// The adaptive key-frame policy's longest gap between keys, in frames.
export const MAX_GAP = 30;
export const FALLBACK_AFTER_MS = 1000;
// Originals of keys sent and not answered yet (a reconnection loses some: they are not kept).
const HELD_ORIGINALS = 8;

export class DeviceEngine {
  /**
   * width, height: the source's frame size. styleRgb: the style photo (small RGB mat), for the closed form.
   * link: a StylizerLink, or null (closed form only). sendKey(index, small): asks the page to send
   * frame `index` (small: its pixels at the plan size) as a key frame now (true when the link took it).
   */
  constructor(width, height, styleRgb, {
    strength = 1.0,
    planLongSide = PLAN_LONG_SIDE,
    mapLongSide = MAP_LONG_SIDE,
    flowLongSide = FLOW_LONG_SIDE,
    policy = 'auto',
    maxGap = MAX_GAP,
    link = null,
    sendKey = () => false,
    flow = flowlib,
    planner = null,
    selector = null,
  } = {}) {
    [this.planWidth, this.planHeight] = gridSize(width, height, planLongSide);
    this.flowLongSide = flowLongSide;
    this.flow = flow;
    this.session =
      planner ??
      new InterpolationSession(LIVE, this.planWidth, this.planHeight, { mapLongSide, styleReference: styleRgb, strength });
    this.selector = selector ?? makeSelector(policy, 1, maxGap);
    this.link = link;
    this.sendKey = sendKey;
    this.keyFlow = new Map(); // the held key's frame, prepared for flow
    this.keyOriginals = new Map(); // index -> the original of a key sent (plan size)
    this.answers = []; // stylized keys back from the link, not yet fitted
    this.keyDue = false;
    this.cutPending = false;
    this.keyWantedAt = null;
    this.lastAnswerAt = null;
    this.lastKeySent = -Infinity;
    this.keyInterval = MIN_KEY_INTERVAL;
    this.generation = 0;
    this.cuts = 0;
  }

  /** A new style photo (and strength): keys of the old one are never used again. */
  setStyle(styleRgb, strength, generation) {
    this.session.strength = strength;
    this.session.setStyleReference(styleRgb);
    this.keyFlow.clear();
    this.keyOriginals.clear();
    this.answers = [];
    this.generation = generation;
  }

  /** A stylized key from the link: { index, rgb (any size), generation }. Fitted with the next frame. */
  takeAnswer(answer) {
    if (answer.generation !== this.generation) return;
    this.lastAnswerAt = performance.now();
    this.keyWantedAt = null;
    this.answers.push(answer);
  }

  /** Frame `index` (small: the frame at the plan size, an RGB mat): the plan to render, and what made it. */
  plan(index, small, fps = 30) {
    if (small.width !== this.planWidth || small.height !== this.planHeight) small = resizeArea(small, this.planWidth, this.planHeight);
    const prepared = this.flow.prepare(small, this.flowLongSide);
    // flow.js's prepared frame is the selector's thumbnail too (a GPU flow's is not).
    const decision = this.selector.decide(index, small, this.flow === flowlib ? prepared : null);
    if (decision.cut) {
      this.cuts += 1;
      this.session.startShot(index);
      this.keyFlow.clear();
      this.cutPending = true;
    }
    if (decision.isKey) this.keyDue = true;
    this.holdNewestAnswer();
    this.adaptInterval(fps);
    this.maybeSendKey(index, small);
    const key = this.session.latestKey();
    if (key !== null && this.keyFlow.has(key) && this.answersFlowing()) {
      const keyFrame = this.keyFlow.get(key);
      const flowToKey = this.flow.estimateFlow(prepared, keyFrame);
      const confidence = this.flow.photometricConfidence(prepared, keyFrame, flowToKey);
      const plan = this.session.planFrame({ index, prevKey: key, flowToPrev: flowToKey, confidencePrev: confidence, original: small });
      return { plan, key, cut: decision.cut };
    }
    return { plan: this.session.planClosedForm(index, small), key, cut: decision.cut };
  }

  /** The newest answer joins the session (older ones are superseded by it). */
  holdNewestAnswer() {
    if (!this.answers.length) return;
    const answer = this.answers[this.answers.length - 1];
    this.answers = [];
    const original = this.keyOriginals.get(answer.index);
    for (const index of [...this.keyOriginals.keys()]) if (index <= answer.index) this.keyOriginals.delete(index);
    if (!original) return;
    try {
      const held = this.session.fitKey(answer.index, answer.rgb, original);
      this.session.holdKey(held);
      this.keyFlow = new Map([[answer.index, this.flow.prepare(original, this.flowLongSide)]]);
    } catch (error) {
      if (!(error instanceof InvalidInputError)) throw error;
      // A key of the shot before a cut, or older than the one held: not used.
    }
  }

  /** At most one key per round trip (the link keeps one in flight), within the bounds. */
  adaptInterval(fps) {
    const roundTrip = this.link?.roundTripMs();
    const byRoundTrip = roundTrip ? Math.ceil((roundTrip / 1000) * fps) : 0;
    this.keyInterval = Math.min(MAX_KEY_INTERVAL, Math.max(MIN_KEY_INTERVAL, byRoundTrip));
  }

  maybeSendKey(index, small) {
    if (!this.link || !this.keyDue) return;
    if (!this.cutPending && index - this.lastKeySent < this.keyInterval) return;
    if (this.keyWantedAt === null) this.keyWantedAt = performance.now();
    if (!this.sendKey(index, small)) return;
    this.keyOriginals.set(index, small);
    while (this.keyOriginals.size > HELD_ORIGINALS) this.keyOriginals.delete(this.keyOriginals.keys().next().value);
    this.lastKeySent = index;
    this.keyDue = this.cutPending = false;
  }

  /** Whether the latest key still describes this frame: the stylizer has answered, and no key asked
   * for has gone unanswered longer than FALLBACK_AFTER_MS (or two round trips on a slow stylizer). */
  answersFlowing() {
    if (!this.link) return true;
    if (this.lastAnswerAt === null) return false;
    if (this.keyWantedAt === null) return true;
    const patience = Math.max(FALLBACK_AFTER_MS, 2 * (this.link.roundTripMs() ?? 0));
    return performance.now() - this.keyWantedAt < patience;
  }

  /** Renders a plan at full size (renderPlan). */
  render(applier, plan, picture) {
    renderPlan(applier, plan, picture);
  }
}

/** A plan rendered at full size by affine_gl.js: `picture` (the video, an uploaded frame or an RGB
 * mat) under the plan's maps. */
export function renderPlan(applier, plan, picture) {
  if (plan.transform) {
    applier.applyColourTransform(picture, plan.transform);
    return;
  }
  applier.applyDetail(plan.coeffs, picture, gridFrame(plan));
}

/** The plan's frame at its map's grid size. */
function gridFrame(plan) {
  const { width, height } = plan.coeffs;
  return plan.small?.width === width && plan.small?.height === height ? plan.small : resizeArea(plan.original, width, height);
}

/** The mean RGB of the frame renderPlan shows, without reading it back: the plan applied to the
 * frame at the plan's size (a closed form) or at its map's grid size (a map: its offsets and gains
 * applied to the cells' own colours), clipped to levels. It departs from the full-size frame's mean
 * only by the detail within a cell that meets the clipping. */
export function shownMean(plan) {
  const sum = [0, 0, 0];
  let data;
  if (plan.transform) {
    data = applyColourTransform(plan.original, plan.transform).data;
  } else {
    data = applyOnGrid(plan.coeffs, gridFrame(plan)).data.map((v) => Math.min(255, Math.max(0, v)));
  }
  for (let i = 0; i < data.length; i += 3) for (let c = 0; c < 3; c++) sum[c] += data[i + c];
  return sum.map((v) => v / (data.length / 3));
}
