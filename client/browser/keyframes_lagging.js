// The adaptive key-frame policy of keyframes.js with its flow in a worker thread (keyframes_worker.js),
// for the page's live engine: cuts and the first frame are decided at once, on the page (a new shot
// must not wait), and motion, unexplained content and the maximum gap a frame or two later, when the
// worker's answer comes. The key frame sent is the frame being planned then, as for any key due
// while the link is busy. While the worker has two frames unanswered, further frames are not sent
// to it (motion still adds up from the key to the next frame it looks at). Should the worker fail,
// the policy goes on in the page, as keyframes.js's AdaptiveSelector; makeLaggingSelector returns
// null where a worker cannot be made at all.

import { AdaptiveSelector, CutDetector, keyDecision, thumbnailFrame } from './keyframes.js';

// Frames the worker may have unanswered before the page stops sending it more.
const MAX_UNANSWERED = 2;

export class LaggingSelector {
  constructor(worker, { maxGap = 30, cutThreshold = 0.4 } = {}) {
    this.looksAtFrames = true;
    this.cuts = new CutDetector(cutThreshold);
    this.worker = worker;
    this.started = false;
    this.shotStart = 0; // answers about frames before this (an earlier shot) are not taken
    this.unanswered = 0;
    this.late = []; // the worker's key decisions not yet taken: [{ index, reason }]
    this.inPage = null; // the policy in the page, once the worker failed
    worker.onmessage = ({ data }) => {
      this.unanswered = Math.max(0, this.unanswered - 1);
      if (data.reason && data.index >= this.shotStart) this.late.push(data);
    };
    worker.onerror = worker.onmessageerror = (event) => {
      event.preventDefault?.();
      console.warn('the key-frame worker failed: the policy runs in the page', event.message ?? event);
      this.close();
      this.inPage = new AdaptiveSelector({ maxGap, cutThreshold });
      this.inPage.cuts = this.cuts;
    };
    worker.postMessage({ type: 'start', maxGap });
  }

  decide(index, rgb, prepared = null) {
    if (this.inPage) return this.inPage.decide(index, rgb, prepared);
    const [thumb, frame] = thumbnailFrame(rgb, prepared);
    const cut = this.cuts.isCut(thumb);
    const known = !this.started ? 'first' : cut ? 'cut' : null;
    this.started = true;
    if (known || this.unanswered < MAX_UNANSWERED) {
      const { gray } = frame;
      this.unanswered += 1;
      this.worker.postMessage({
        type: 'frame',
        index,
        gray: { data: gray.data, width: gray.width, height: gray.height },
        frameWidth: frame.frameWidth,
        frameHeight: frame.frameHeight,
        known,
      });
    }
    if (known) {
      this.shotStart = index;
      this.late = []; // decisions about the shot before, or the frames before the first
      return keyDecision(true, cut, known);
    }
    const answered = this.late.pop();
    this.late = [];
    return answered ? keyDecision(true, false, `${answered.reason} (frame ${answered.index})`) : keyDecision(false);
  }

  close() {
    this.worker.terminate();
  }
}

/** A LaggingSelector on a new worker, or null where the browser cannot make one. */
export function makeLaggingSelector(options = {}) {
  try {
    return new LaggingSelector(new Worker(new URL('./keyframes_worker.js', import.meta.url), { type: 'module' }), options);
  } catch {
    return null;
  }
}
