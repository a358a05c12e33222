// The bundle's entry (make web): the WebM muxer that a picked video's output is written with
// (recording.js), built into dist/webm.js so that the browser loads it from the gateway.
export { ArrayBufferTarget, Muxer } from 'webm-muxer';
