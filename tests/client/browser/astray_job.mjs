// A picked video's job (client/browser/pipeline.js) on a camera panning ever faster: frame i lies
// pan * i + i * i / 2 pixels along, and that motion is its flows (a point of a frame lies further
// left in a later one; every step differs, so a chain composed wrong shows), and
// flows straight to a key more than one frame away gone astray by `offset` frame pixels, with full
// photometric confidence, as a plain surface gives them. Flows between neighbours hold.

import * as flowlib from '../../../client/browser/flow.js';
import { mat } from '../../../client/browser/cv.js';
import { OfflineJob } from '../../../client/browser/pipeline.js';

export class AstrayJob extends OfflineJob {
  constructor(width, height, styleRgb, options, offset, pan) {
    const indexOf = new WeakMap(); // a frame (small mat or flow frame) -> its index
    const flow = {
      prepare(small, longSide) {
        const prepared = flowlib.prepare(small, longSide);
        indexOf.set(prepared, indexOf.get(small));
        return prepared;
      },
      estimateFlow(current, reference) {
        const along = (i) => pan * i + (i * i) / 2;
        const [from, to] = [indexOf.get(current), indexOf.get(reference)];
        const astray = Math.abs(to - from) > 1;
        const flow = mat(current.gray.height, current.gray.width, 2, Float32Array);
        for (let i = 0; i < flow.data.length; i += 2) {
          flow.data[i] = -(along(to) - along(from)) + (astray ? offset[0] : 0);
          flow.data[i + 1] = astray ? offset[1] : 0;
        }
        return flow;
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
