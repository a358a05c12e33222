// A picked video's job (client/browser/pipeline.js) whose flows straight to a key many frames away
// go astray: `offset` frame pixels added to every flow between frames more than one apart, with full
// photometric confidence, as a plain surface gives them. Flows between neighbours hold.

import * as flowlib from '../../../client/browser/flow.js';
import { mat } from '../../../client/browser/cv.js';
import { OfflineJob } from '../../../client/browser/pipeline.js';

export class AstrayJob extends OfflineJob {
  constructor(width, height, styleRgb, options, offset) {
    const indexOf = new WeakMap(); // a frame (small mat or flow frame) -> its index
    const flow = {
      prepare(small, longSide) {
        const prepared = flowlib.prepare(small, longSide);
        indexOf.set(prepared, indexOf.get(small));
        return prepared;
      },
      estimateFlow(current, reference) {
        const estimated = flowlib.estimateFlow(current, reference);
        if (Math.abs(indexOf.get(current) - indexOf.get(reference)) > 1) {
          for (let i = 0; i < estimated.data.length; i += 2) {
            estimated.data[i] += offset[0];
            estimated.data[i + 1] += offset[1];
          }
        }
        return estimated;
      },
      photometricConfidence(current) {
        const ones = mat(current.gray.height, current.gray.width, 1, Float32Array);
        ones.data.fill(1);
        return ones;
      },
    };
    super(width, height, styleRgb, { ...options, flow });
    this.indexOf = indexOf;
  }

  /** The keys chosen (the `keys` getter, as a method for the test bridge's steps). */
  keyIndices() {
    return this.keys;
  }

  look(index, small) {
    this.indexOf.set(small, index);
    return super.look(index, small);
  }

  /** Pass 3 for frame `index`: { index, prevKey, nextKey, confidencePrev, confidenceNext } (the
   * confidences' means) as the session would be given them; null for a key frame. */
  confidencesAt(index, small) {
    this.indexOf.set(small, index);
    let given = null;
    const planFrame = this.session.planFrame.bind(this.session);
    this.session.planFrame = (inputs) => {
      given = inputs;
      return planFrame(inputs);
    };
    this.plan(index, small);
    this.session.planFrame = planFrame;
    if (!given || given.flowToPrev === undefined) return null;
    const mean = (m) => (m ? m.data.reduce((a, b) => a + b, 0) / m.data.length : null);
    return {
      index,
      prevKey: given.prevKey,
      nextKey: given.nextKey ?? null,
      confidencePrev: mean(given.confidencePrev),
      confidenceNext: mean(given.confidenceNext),
    };
  }
}
