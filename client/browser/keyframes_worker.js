// keyframes.js's adaptive policy in a worker thread (keyframes_lagging.js posts it frames'
// thumbnails, prepared for flow): the flow from each frame to the last key, which decides motion and
// unexplained content, runs beside the page's planning instead of in it. Every frame is answered,
// so that the page knows how far behind the worker is.

import { AdaptiveSelector } from './keyframes.js';

let selector = null;
let keyIndex = 0;

self.onmessage = ({ data }) => {
  if (data.type === 'start') {
    selector = new AdaptiveSelector({ maxGap: data.maxGap });
    return;
  }
  // A frame: { index, gray: { data, width, height }, frameWidth, frameHeight, known } where known
  // is 'first' or 'cut' when the page has already made it a key. The page may skip frames when
  // the worker falls behind: the gap counts frames by their indices.
  const frame = { gray: { ...data.gray, channels: 1 }, frameWidth: data.frameWidth, frameHeight: data.frameHeight };
  if (data.known) selector.key = null;
  selector.sinceKey = data.index - keyIndex - 1;
  const decision = selector.decideOn(frame, false);
  if (decision.isKey) keyIndex = data.index;
  self.postMessage({ index: data.index, reason: decision.isKey && !data.known ? decision.reason : '' });
};
