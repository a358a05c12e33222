// keyframes.js's adaptive policy in a worker thread (keyframes_lagging.js posts it each frame's
// thumbnail, prepared for flow): the flow from each frame to the last key, which decides motion and
// unexplained content, runs beside the page's planning instead of in it.

import { AdaptiveSelector } from './keyframes.js';

let selector = null;

self.onmessage = ({ data }) => {
  if (data.type === 'start') {
    selector = new AdaptiveSelector({ maxGap: data.maxGap });
    return;
  }
  // A frame: { index, gray: { data, width, height }, frameWidth, frameHeight, known } where known
  // is 'first' or 'cut' when the page has already made it a key.
  const frame = { gray: { ...data.gray, channels: 1 }, frameWidth: data.frameWidth, frameHeight: data.frameHeight };
  if (data.known) selector.key = null;
  const decision = selector.decideOn(frame, false);
  if (decision.isKey && !data.known) self.postMessage({ index: data.index, reason: decision.reason });
};
