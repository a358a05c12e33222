// The page's key-frame link to the edge (client/live/link.py): one WebSocket to the gateway's
// /ws, carrying one serialized StylizeRequest per binary message (the SessionConfig first, then key
// frames with increasing indices) and one StylizeResponse per answer.
//
// One key frame is in flight at a time: a device that sends keys faster than the stylizer answers
// only queues them. A closed socket (a stylizer lost: code 1013, a restarted gateway) is reopened
// after a pause, with the same config; the page renders on its own meanwhile.

import {
  FrameEncoding,
  StylizeRequestSchema,
  StylizeResponseSchema,
  create,
  fromBinary,
  toBinary,
} from './dist/messages.js';

const RECONNECT_MS = [500, 1000, 2000, 4000];
// A close the page cannot mend by trying again: a refused token, a refused config, an oversized photo.
const FINAL_CLOSES = new Set([1003, 1007, 1008, 1009]);

export class StylizerLink {
  /** url: ws(s)://host/ws?token=T. config: SessionConfig fields (style, model, strength, output size).
   * open() connects. */
  constructor(url, config, { onAnswer = () => {}, onState = () => {} } = {}) {
    this.url = url;
    this.config = config;
    this.onAnswer = onAnswer;
    this.onState = onState;
    this.socket = null;
    this.ready = false;
    this.inFlight = null; // { index, sentAt }
    this.closedForGood = false;
    this.failures = 0;
    this.state = 'connecting';
    this.reason = '';
    this.bytesUp = 0;
    this.bytesDown = 0;
    this.sent = 0;
    this.answered = 0;
    this.roundTripsMs = [];
    this.lastIndex = -1;
    this.generation = 0;
  }

  open() {
    if (this.closedForGood) return;
    this.ready = false;
    this.inFlight = null;
    this.lastIndex = -1; // a new stream: the stylizer counts key frames afresh
    const socket = new WebSocket(this.url);
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    this.setState('connecting');
    socket.onopen = () => {
      const message = toBinary(StylizeRequestSchema, create(StylizeRequestSchema, { kind: { case: 'config', value: this.config } }));
      this.bytesUp += message.byteLength;
      socket.send(message);
    };
    socket.onmessage = (event) => {
      if (socket !== this.socket) return; // a session given up (a new style): its answers are stale
      const data = new Uint8Array(event.data);
      this.bytesDown += data.byteLength;
      const response = fromBinary(StylizeResponseSchema, data);
      if (response.kind.case === 'ready') {
        this.ready = true;
        this.failures = 0;
        this.session = response.kind.value;
        this.setState('ready');
      } else if (response.kind.case === 'keyFrame') {
        const answer = response.kind.value;
        const index = Number(answer.index);
        if (this.inFlight && this.inFlight.index === index) {
          this.roundTripsMs.push(performance.now() - this.inFlight.sentAt);
          if (this.roundTripsMs.length > 50) this.roundTripsMs.shift();
          this.inFlight = null;
        }
        this.answered += 1;
        this.onAnswer({ index, image: answer.image, generation: this.generation });
      }
    };
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      this.ready = false;
      this.inFlight = null;
      this.reason = event.reason || `closed (${event.code})`;
      if (FINAL_CLOSES.has(event.code) || this.closedForGood) {
        this.closedForGood = true;
        this.setState('refused');
        return;
      }
      this.setState('reconnecting');
      const pause = RECONNECT_MS[Math.min(this.failures, RECONNECT_MS.length - 1)];
      this.failures += 1;
      this.timer = setTimeout(() => this.open(), pause);
    };
  }

  setState(state) {
    this.state = state;
    this.onState(state, this.reason);
  }

  /** Whether a key frame may go now (the session is ready and none is in flight). */
  get canSend() {
    return this.ready && this.inFlight === null && this.socket?.readyState === WebSocket.OPEN;
  }

  /** Sends key frame `index` (JPEG bytes, its size); false if the link cannot take it now. */
  offer(index, jpeg, width, height) {
    if (!this.canSend || index <= this.lastIndex) return false;
    const request = create(StylizeRequestSchema, {
      kind: {
        case: 'keyFrame',
        value: { index: BigInt(index), pts: BigInt(index), image: { encoding: FrameEncoding.JPEG, data: jpeg, width, height } },
      },
    });
    const message = toBinary(StylizeRequestSchema, request);
    this.socket.send(message);
    this.bytesUp += message.byteLength;
    this.sent += 1;
    this.lastIndex = index;
    this.inFlight = { index, sentAt: performance.now() };
    return true;
  }

  /** The median of the recent round trips, in ms (null before the first answer). */
  roundTripMs() {
    const recent = this.roundTripsMs.slice(-5).sort((a, b) => a - b);
    return recent.length ? recent[Math.floor(recent.length / 2)] : null;
  }

  /** A new config (style, model, strength): a new stylizer session; answers of the old one are dropped. */
  reconfigure(config) {
    this.config = config;
    this.generation += 1;
    this.closedForGood = false;
    this.failures = 0;
    clearTimeout(this.timer);
    const old = this.socket;
    this.socket = null;
    old?.close(1000, 'new style');
    this.open();
  }

  close() {
    this.closedForGood = true;
    clearTimeout(this.timer);
    this.socket?.close(1000, 'page closed');
  }
}
