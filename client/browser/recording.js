// A picked video's output as a WebM file with one frame per input frame, each at the input frame's
// timestamp: the page steps through a file slower than real time, so MediaRecorder (which samples
// the canvas by the clock) would neither keep the frame count nor the duration. Each rendered frame
// is taken from the canvas into WebCodecs' VideoEncoder (VP9, else VP8) and muxed (dist/webm.js).

import { ArrayBufferTarget, Muxer } from './dist/webm.js';

const CODECS = [
  { encoder: 'vp09.00.10.08', muxer: 'V_VP9', name: 'VP9' },
  { encoder: 'vp8', muxer: 'V_VP8', name: 'VP8' },
];
const KEY_EVERY = 60; // frames between the encoder's own key frames, so that players can seek
const QUEUE_MAX = 8; // frames waiting in the encoder before the page waits for it

/** The first codec this browser's VideoEncoder takes at this size, or null (no WebCodecs here). */
async function encoderConfig(width, height, frameRate) {
  if (typeof VideoEncoder === 'undefined' || typeof VideoFrame === 'undefined') return null;
  for (const codec of CODECS) {
    const config = {
      codec: codec.encoder,
      width,
      height,
      framerate: frameRate,
      bitrate: Math.max(1e6, Math.round(width * height * frameRate * 0.2)), // bits per second
      latencyMode: 'quality',
    };
    try {
      const { supported } = await VideoEncoder.isConfigSupported(config);
      if (supported) return { config, codec };
    } catch {
      // a codec string this browser does not know: try the next
    }
  }
  return null;
}

export class FileRecorder {
  /** A recorder for frames of width x height, or null where the browser cannot encode them. */
  static async open(width, height, frameRate) {
    const chosen = await encoderConfig(width, height, frameRate);
    return chosen && new FileRecorder(chosen, width, height, frameRate);
  }

  constructor({ config, codec }, width, height, frameRate) {
    this.codec = codec.name;
    this.frames = 0;
    this.error = null;
    this.target = new ArrayBufferTarget();
    // 'permissive': the output keeps the input's timestamps as they are, even where they start after 0.
    this.muxer = new Muxer({
      target: this.target,
      video: { codec: codec.muxer, width, height, frameRate },
      firstTimestampBehavior: 'permissive',
    });
    this.encoder = new VideoEncoder({
      output: (chunk, meta) => this.muxer.addVideoChunk(chunk, meta),
      error: (error) => {
        this.error = error;
      },
    });
    this.encoder.configure(config);
  }

  /** Adds what `canvas` shows now as the frame at `timestamp` (microseconds) lasting `duration`. */
  async add(canvas, timestamp, duration) {
    if (this.error) throw this.error;
    while (this.encoder.encodeQueueSize > QUEUE_MAX) {
      await new Promise((resolve) => this.encoder.addEventListener('dequeue', resolve, { once: true }));
    }
    const frame = new VideoFrame(canvas, { timestamp, duration, alpha: 'discard' });
    try {
      this.encoder.encode(frame, { keyFrame: this.frames % KEY_EVERY === 0 });
    } finally {
      frame.close();
    }
    this.frames += 1;
  }

  /** The finished file as a Blob (video/webm). */
  async finish() {
    await this.encoder.flush();
    if (this.error) throw this.error;
    this.encoder.close();
    this.muxer.finalize();
    return new Blob([this.target.buffer], { type: 'video/webm' });
  }

  /** Stops without a file (the source was stopped before its end). */
  cancel() {
    if (this.encoder.state !== 'closed') this.encoder.close();
  }
}
