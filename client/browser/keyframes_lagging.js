// The adaptive key-frame policy of keyframes.js with its flow in a worker thread (keyframes_worker.js),
// for the page's live engine: cuts and the first frame are decided at once, on the page (a new shot
// must not wait), and motion, unexplained content and the maximum gap a frame or two later, when the
// worker's answer comes. The key frame sent is the frame being planned then, as for any key due
// while the link is busy. Falls back to nothing: makeLaggingSelector returns null where workers
// cannot start, and the engine keeps keyframes.js's own selector.

import { CutDetector, keyDecision, thumbnailFrame } from './keyframes.js';

export class LaggingSelector {
  constructor(worker, { maxGap = 30, cutThreshold = 0.4 } = {}) {
    this.looksAtFrames = true;
    this.cuts = new CutDetector(cutThreshold);
    this.worker = worker;
    this.started = false;
    this.late = []; // the worker's key decisions not yet taken: [{ index, reason }]
    worker.onmessage = ({ data }) => this.late.push(data);
    worker.postMessage({ type: 'start', maxGap });
  }

  decide(index, rgb, prepared = null) {
    const [thumb, frame] = thumbnailFrame(rgb, prepared);
    const cut = this.cuts.isCut(thumb);
    const known = !this.started ? 'first' : cut ? 'cut' : null;
    this.started = true;
    const { gray } = frame;
    this.worker.postMessage({
      type: 'frame',
      index,
      gray: { data: gray.data, width: gray.width, height: gray.height },
      frameWidth: frame.frameWidth,
      frameHeight: frame.frameHeight,
      known,
    });
    if (known) {
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

/** A LaggingSelector on a new worker, or null where the browser cannot start one. */
export function makeLaggingSelector(options = {}) {
  try {
    return new LaggingSelector(new Worker(new URL('./keyframes_worker.js', import.meta.url), { type: 'module' }), options);
  } catch {
    return null;
  }
}
