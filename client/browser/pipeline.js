// A picked video made as the file job makes it (client/video/pipeline.py, offline mode), so that
// each frame comes from the key frames on both sides of it and the output keeps every frame.
//
// In three passes over the file, in order:
//   1. look(): every frame is shown to keyframes.js's policy (the first frame, cuts, motion, the
//      maximum gap). As in the file job, the last frame before a cut and the video's last frame
//      close their shots as keys, so that no frame lacks a key after it and none blends across a cut;
//   2. the page sends the keys (keys) and hands their answers to takeAnswer();
//   3. plan(): each frame from the answered keys before and after it in its shot (session.js,
//      offline: both keys' maps moved along the flows to them and blended by where the frame lies
//      between them). A frame with no answered key before it in its shot takes the closed form.
// As the file job does, each flow to a key is checked against the motion chained frame to frame
// (chains.js): the chains to the next key are made in pass 1, from each frame's flow to the frame
// after it, and kept on their coarse grid; the chain to the key before is made in pass 3, in order.
// The page renders each plan at full size (renderPlan). Frames are RGB mats at the plan size.

import { chainThrough, chainsToKey, checkedConfidence, toChainGrid } from './chains.js';
import { renderPlan } from './engine.js';
import * as flowlib from './flow.js';
import { gridSize } from './grids.js';
import { makeSelector } from './keyframes.js';
import { InterpolationSession, LIVE, OFFLINE } from './session.js';

export class OfflineJob {
  /** width, height: the video's frame size; styleRgb: the style photo (small RGB mat), for the closed form. */
  constructor(width, height, styleRgb, {
    strength = 1.0,
    planLongSide,
    mapLongSide,
    flowLongSide,
    policy = 'auto',
    maxGap = 30,
    flow = flowlib,
  } = {}) {
    [this.planWidth, this.planHeight] = gridSize(width, height, planLongSide);
    this.options = { mapLongSide, styleReference: styleRgb, strength };
    this.flowLongSide = flowLongSide;
    this.flow = flow;
    this.selector = makeSelector(policy, 1, maxGap);
    this.keyOriginals = new Map(); // key index -> the key's frame (plan size)
    this.shotStarts = [0];
    this.previous = null; // [index, frame] of the last frame looked at
    this.previousFlowFrame = null; // that frame prepared for flow
    this.stepsOn = new Map(); // index -> the frame's flow to the next frame, until its segment closes
    this.chainsToNext = new Map(); // index -> { key, chain }: the chained flow to the key after it
    this.lastKey = null;
    this.answers = new Map(); // key index -> stylized key (RGB mat)
    this.generation = 0;
    this.cuts = 0;
    this.reset();
  }

  /** Pass 1: frame `index` (in order) looked at; it may become a key. */
  look(index, small) {
    const flowFrame = this.flow.prepare(small, this.flowLongSide);
    if (this.previous) this.stepsOn.set(this.previous[0], this.flow.estimateFlow(this.previousFlowFrame, flowFrame));
    this.previousFlowFrame = flowFrame;
    const decision = this.selector.decide(index, small);
    if (decision.isKey || this.lastKey === null) {
      if (decision.cut) {
        this.cuts += 1;
        this.shotStarts.push(index);
        // Never blend across a cut: the shot's last frame closes it as a key.
        if (this.previous && this.previous[0] > this.lastKey) this.addKey(...this.previous);
      }
      this.addKey(index, small);
    }
    this.previous = [index, small];
  }

  /** After pass 1: the video's last frame closes it as a key. */
  finishLooking() {
    if (this.previous && this.previous[0] > this.lastKey) this.addKey(...this.previous);
    this.previous = null;
    this.previousFlowFrame = null;
    this.stepsOn.clear();
  }

  addKey(index, small) {
    // The segment the key closes: its frames' chains to it, nearest first.
    if (this.lastKey !== null && index - this.lastKey > 1) {
      const frames = [];
      for (let k = index - 1; k > this.lastKey; k--) frames.push(k);
      const { width, height } = small;
      const chains = chainsToKey(frames.map((k) => this.stepsOn.get(k)), width, height);
      frames.forEach((k, i) => this.chainsToNext.set(k, { key: index, chain: chains[i] }));
    }
    for (const k of this.stepsOn.keys()) if (k < index) this.stepsOn.delete(k);
    this.keyOriginals.set(index, small);
    this.lastKey = index;
  }

  /** The key frames to send, in order. */
  get keys() {
    return [...this.keyOriginals.keys()];
  }

  /** A stylized key from the link: { index, rgb (any size), generation }. */
  takeAnswer(answer) {
    if (answer.generation === this.generation && this.keyOriginals.has(answer.index)) this.answers.set(answer.index, answer.rgb);
  }

  /** A new style: the answers of the old one are not used, and the frames start again. */
  setStyle(styleRgb, strength, generation) {
    this.options = { ...this.options, styleReference: styleRgb, strength };
    this.answers.clear();
    this.generation = generation;
    this.reset();
  }

  /** Pass 3 starts (again) from the first frame. */
  reset() {
    this.session = new InterpolationSession(OFFLINE, this.planWidth, this.planHeight, { mapLongSide: this.options.mapLongSide });
    this.closedForm = new InterpolationSession(LIVE, this.planWidth, this.planHeight, this.options);
    this.prepared = new Map(); // key index -> its frame prepared for flow
    this.lastPlanned = null; // { index, prev, flowFrame, chainToPrev }: pass 3's last frame, for the next one's chain
  }

  /** Pass 3: frame `index` (in order; small: the frame at the plan size): { plan, key, next, cut }. */
  plan(index, small) {
    const shot = this.shotStarts.filter((start) => start <= index).pop();
    const nextShot = this.shotStarts.find((start) => start > index) ?? Infinity;
    const answered = this.keys.filter((k) => this.answers.has(k) && k >= shot && k < nextShot);
    const prev = answered.filter((k) => k <= index).pop() ?? null;
    const next = prev === index ? null : (answered.find((k) => k > index) ?? null);
    const cut = index > 0 && shot === index;
    if (prev === null) {
      if (cut) this.closedForm.startShot(index);
      return { plan: this.closedForm.planClosedForm(index, small), key: null, next: null, cut };
    }
    for (const k of [prev, next]) {
      if (k !== null && !this.session.heldKeys.includes(k)) this.session.addKey(k, this.answers.get(k), this.keyOriginals.get(k));
    }
    if (prev === index) {
      this.lastPlanned = null;
      return { plan: this.session.planFrame({ index, prevKey: index, original: small }), key: prev, next, cut };
    }
    const current = this.flow.prepare(small, this.flowLongSide);
    const { frameWidth, frameHeight } = current;
    const inputs = { index, prevKey: prev, original: small };
    [inputs.flowToPrev, inputs.confidencePrev] = this.flowTo(current, prev);
    // The chain to the key before, one step further (the first step is the flow to the key itself).
    let chainToPrev = null;
    if (index - 1 === prev) {
      chainToPrev = toChainGrid(inputs.flowToPrev, frameWidth, frameHeight);
    } else if (this.lastPlanned?.index === index - 1 && this.lastPlanned.prev === prev && this.lastPlanned.chainToPrev) {
      const step = toChainGrid(this.flow.estimateFlow(current, this.lastPlanned.flowFrame), frameWidth, frameHeight);
      chainToPrev = chainThrough(step, this.lastPlanned.chainToPrev, frameWidth, frameHeight);
    }
    if (chainToPrev) {
      inputs.confidencePrev = checkedConfidence(inputs.flowToPrev, inputs.confidencePrev, chainToPrev, frameWidth, frameHeight);
    }
    this.lastPlanned = { index, prev, flowFrame: current, chainToPrev };
    if (next !== null) {
      inputs.nextKey = next;
      [inputs.flowToNext, inputs.confidenceNext] = this.flowTo(current, next);
      const toNext = this.chainsToNext.get(index);
      this.chainsToNext.delete(index); // pass 3 takes each frame once
      if (toNext?.key === next) {
        inputs.confidenceNext = checkedConfidence(inputs.flowToNext, inputs.confidenceNext, toNext.chain, frameWidth, frameHeight);
      }
    }
    for (const k of this.prepared.keys()) if (k < prev) this.prepared.delete(k);
    return { plan: this.session.planFrame(inputs), key: prev, next, cut };
  }

  flowTo(current, key) {
    if (!this.prepared.has(key)) this.prepared.set(key, this.flow.prepare(this.keyOriginals.get(key), this.flowLongSide));
    const keyFrame = this.prepared.get(key);
    const flow = this.flow.estimateFlow(current, keyFrame);
    return [flow, this.flow.photometricConfidence(current, keyFrame, flow)];
  }

  render(applier, plan, picture) {
    renderPlan(applier, plan, picture);
  }
}
