// The camera's frames, read as they come (app.js's camera loop).
//
// Frames are read as soon as the page's thread is free, not only when the loop asks for the next:
// the track holds one frame, and drops it when another comes before it is read, so a frame whose
// work ran past a frame interval lost the next one whenever one was already waiting. Up to
// CAMERA_QUEUE frames wait here; the loop takes them oldest first and catches up (it takes 20 ms a
// frame at 640x360 on this 2-core machine), and a longer wait gives the oldest up.
export const CAMERA_QUEUE = 2;

export class CameraQueue {
  /** reader: a ReadableStream reader of VideoFrames (MediaStreamTrackProcessor's); going(): whether
   * to keep reading. */
  constructor(reader, going) {
    this.reader = reader;
    this.frames = [];
    this.wake = null;
    this.ended = false;
    this.pump(going).catch((error) => console.warn('the camera stopped', error));
  }

  async pump(going) {
    try {
      while (going()) {
        const { value: frame, done } = await this.reader.read();
        if (done) break;
        if (this.ended) {
          frame.close(); // came after close()
          break;
        }
        this.frames.push(frame);
        while (this.frames.length > CAMERA_QUEUE) this.frames.shift().close();
        this.wake?.();
      }
    } finally {
      this.ended = true;
      this.wake?.();
    }
  }

  /** The oldest frame waiting, once there is one; null once the camera ended. */
  async next() {
    while (!this.frames.length && !this.ended) await new Promise((resolve) => (this.wake = resolve));
    this.wake = null;
    return this.frames.shift() ?? null;
  }

  /** Gives up the frames waiting and stops reading. */
  close() {
    this.ended = true;
    for (const frame of this.frames.splice(0)) frame.close();
    this.reader.cancel().catch(() => {});
  }
}
