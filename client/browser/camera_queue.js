// The camera's frames, read as they come (app.js's camera loop).
//
// Frames are read as soon as they come, not only when the loop asks for the next: the track holds
// one frame, and drops it when another comes before it is read. Where the browser lets the track's
// stream go to a worker, it is read there (camera_worker.js, through workerReader), so that the
// page's thread, busy with a frame's planning or a key's fit, loses none; else as soon as the
// page's thread is free. Up to CAMERA_QUEUE frames wait here (a quarter of a second at 30 frames/s:
// the page's first second, with its first keys, runs slower); the loop takes them oldest first and
// catches up (it takes about 20 ms a frame at 640x360 on this 2-core machine), and a longer wait
// gives the oldest up.
export const CAMERA_QUEUE = 8;

export class CameraQueue {
  /** reader: a ReadableStream reader of VideoFrames (MediaStreamTrackProcessor's); going(): whether
   * to keep reading. */
  constructor(reader, going) {
    this.reader = reader;
    this.frames = [];
    this.wake = null;
    this.ended = false;
    this.givenUp = 0; // frames given up for a longer wait
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
        while (this.frames.length > CAMERA_QUEUE) {
          this.frames.shift().close();
          this.givenUp += 1;
        }
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

/** A camera frame whose planes were copied out in the worker (camera_planes.js): what the camera
 * loop takes of a VideoFrame (timestamp, close()), with the planes instead of the frame. close()
 * gives the planes' buffer back to the worker. */
class CameraPlanes {
  constructor(planes, timestamp, giveBack) {
    this.planes = planes;
    this.timestamp = timestamp;
    this.giveBack = giveBack;
  }

  close() {
    if (this.planes) this.giveBack(this.planes.data.buffer);
    this.planes = null;
  }
}

/** A reader, as CameraQueue takes one, of a track's frames (`readable`: a
 * MediaStreamTrackProcessor's stream) read in a worker (camera_worker.js); null where the browser
 * does not let the stream go to a worker (the caller reads it here). */
export function workerReader(readable) {
  if (typeof Worker === 'undefined') return null;
  let worker;
  try {
    worker = new Worker(new URL('./camera_worker.js', import.meta.url), { type: 'module' });
    worker.postMessage({ readable }, [readable]);
  } catch {
    worker?.terminate();
    return null;
  }
  const frames = [];
  let wake = null;
  let ended = false;
  const giveBack = (buffer) => {
    if (!ended) worker.postMessage({ buffer }, [buffer]);
  };
  worker.onmessage = ({ data }) => {
    const frame = data.planes ? new CameraPlanes(data.planes, data.timestamp, giveBack) : data.frame;
    if (frame && ended) frame.close();
    else if (frame) frames.push(frame);
    if (data.error) console.warn('the camera stopped', data.error);
    if (data.done) ended = true;
    wake?.();
  };
  worker.onerror = (event) => {
    console.warn('the camera worker failed', event.message);
    ended = true;
    wake?.();
  };
  return {
    async read() {
      while (!frames.length && !ended) await new Promise((resolve) => (wake = resolve));
      wake = null;
      return frames.length ? { value: frames.shift(), done: false } : { value: undefined, done: true };
    },
    async cancel() {
      ended = true;
      worker.terminate();
      for (const frame of frames.splice(0)) frame.close();
      wake?.();
    },
  };
}
