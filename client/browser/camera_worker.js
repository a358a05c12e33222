// The camera's frames, read on a thread of their own (camera_queue.js's workerReader).
//
// The track hands a frame on only while it is read: the page's thread, busy with a frame's planning
// or a key's fit, read the next late, and a frame whose planes the page still held kept one of the
// camera's few buffers from the camera. Here each frame is read as it comes, its 4:2:0 planes are
// copied out into a buffer of a small pool (the page gives each back once it has uploaded it) and
// the frame is closed at once; the planes go to the page. A frame of another format goes as it is.
//
// Messages in: { readable } (a VideoFrame stream, once), { buffer } (a buffer given back).
// Out: { planes: { format, width, height, layout, data, colorSpace }, timestamp } (data's buffer
// transferred), { frame } (transferred), { error }, then { done } when the stream ends.

import { copyPlanes, hasPlanes } from './camera_planes.js';

// Buffers given back, kept for the next frames; a frame finds none only while the page is behind
// (it holds up to camera_queue.js's CAMERA_QUEUE), and then gets a new one.
const POOL = 6;
const pool = [];

async function read(readable) {
  const reader = readable.getReader();
  try {
    for (;;) {
      const { value: frame, done } = await reader.read();
      if (done) break;
      if (!hasPlanes(frame)) {
        self.postMessage({ frame }, [frame]);
        continue;
      }
      const { timestamp } = frame;
      let planes;
      try {
        planes = await copyPlanes(frame, pool.pop());
      } finally {
        frame.close();
      }
      self.postMessage({ planes, timestamp }, [planes.data.buffer]);
    }
  } catch (error) {
    self.postMessage({ error: String(error) });
  }
  self.postMessage({ done: true });
}

self.onmessage = ({ data }) => {
  if (data.readable) read(data.readable);
  else if (data.buffer && pool.length < POOL) pool.push(data.buffer);
};
