// The device page: a source (the camera, or a picked video) played into the device pipeline
// (engine.js), key frames over the gateway's socket (link.js), every frame rendered at full size by
// the GPU (affine_gl.js) into the full-screen canvas.
//
// Automation hook (for tests and benchmarks; no screenshots needed), window.mvstylizer:
//   await mvstylizer.stats()   the counters as a JSON-ready object (frames, methods, device ms,
//                              round trip, keys, bytes; see statsNow below)
//   await mvstylizer.pixels()  the latest stylized frame: { width, height, data } (RGB, row 0 on top;
//                              with the split view on, its left half is the original)
//   mvstylizer.trace(true)     from now on, keep one record per frame (trace(false) stops, keeping them): { index, method, key, next, cut,
//                              original, output } (key: the key frame index its maps came from, or
//                              null; next: a picked file's key after the frame that was blended in,
//                              or null; original/output: mean RGB of the frame and of what was shown;
//                              shown: the mean RGB of what was shown, from the plan without a
//                              readback (engine.js shownMean); thumb: the frame at 32 px on its long
//                              side, { width, height, data: RGB bytes }, to match it to a source frame)
//   mvstylizer.trace(true, { keepEvery: n })   as trace(true), and every n-th record (index % n == 0)
//                              also keeps source (the frame as captured, at the planning size) and
//                              pixels (what was shown, as pixels() gives it); only those records
//                              read the output back (the others' output is null), so that tracing
//                              costs the frame loop little. For benchmarks, which match each kept
//                              frame to the source's by its content
//   mvstylizer.frames()        those records
//   mvstylizer.ready           a promise, resolved once the page is wired up (the offered styles listed)
//   mvstylizer.prepared        a promise, resolved once the page's warm-up at load is over (prepare)
// Recording: the camera is recorded in real time (Record, MediaRecorder on the canvas stream); a
// picked video's made frames are encoded as they are made (recording.js: one output frame per input
// frame, at its timestamp), and Download offers the file once the last one is made. Where the browser
// has no VideoEncoder, a picked video is recorded as the camera is, and the status line says so.
// URL options besides the token: plan=, map=, flow= (long sides of the planning, map and flow grids).

import { AffineApplier, rgbOfRgba } from './affine_gl.js';
import { mat, resizeArea } from './cv.js';
import { FrameEncoding } from './dist/messages.js';
import { DeviceEngine, FLOW_LONG_SIDE, MAP_LONG_SIDE, MAX_GAP, PLAN_LONG_SIDE, shownMean } from './engine.js';
import * as flowlib from './flow.js';
import { FlowGL, softwareRenderer } from './flow_gl.js';
import { OfflineJob } from './pipeline.js';
import { gridSize } from './grids.js';
import { KEY_LONG_SIDE } from './keyframes.js';
import { makeLaggingSelector } from './keyframes_lagging.js';
import { StylizerLink } from './link.js';
import { CameraQueue, workerReader } from './camera_queue.js';
import { decodePhoto } from './photos.js';
import { FileRecorder } from './recording.js';

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const token = query.get('token') ?? '';
const sizes = {
  planLongSide: Number(query.get('plan')) || PLAN_LONG_SIDE,
  mapLongSide: Number(query.get('map')) || MAP_LONG_SIDE,
  flowLongSide: Number(query.get('flow')) || FLOW_LONG_SIDE,
};
const STYLE_LONG_SIDE = 1024;
const THUMB_LONG_SIDE = 32; // traced frames' thumbnails // the photo sent to the stylizer
const STYLE_STATS_LONG_SIDE = 192; // the photo the closed form takes its colours from

const video = $('source');
const canvas = $('stylized');
const gl = canvas.getContext('webgl2', { preserveDrawingBuffer: true, antialias: false, premultipliedAlpha: false });
const applier = gl ? new AffineApplier(gl) : null;
let flowChoice = null; // { flow, name, ms: { js, webgl2 } }, measured once

let styles = []; // { name, jpeg, width, height, rgb }
let run = null; // the source playing now: { kind, engine, link, ... }
let warming = Promise.resolve(); // the latest warm-up (see warmUp): a new source waits for it to stop
let preparing = true; // the page's warm-up at load goes on until a source starts
let starting = null; // the start still waiting to run, if any: { cancel() } gives its source up
let prepared = null; // what it did: { ms, frames }
let lastRun = null; // the source the status describes (the one playing, or the last one stopped)
let tracing = false;
let traceLog = [];
let traceKeepEvery = 0; // every n-th traced frame keeps its pixels (0: none)
let recorder = null;
let notice = null; // the last error: the status line keeps it until the next source or style is picked

// ---- pictures ----------------------------------------------------------------------------

function scratch(width, height) {
  const c = document.createElement('canvas');
  c.width = width;
  c.height = height;
  return [c, c.getContext('2d', { willReadFrequently: true })];
}

function rgbOf(context, width, height) {
  return rgbOfRgba(context.getImageData(0, 0, width, height).data, width, height);
}

function imageDataOf(rgb) {
  const rgba = new Uint8ClampedArray(rgb.width * rgb.height * 4);
  for (let i = 0, j = 0; j < rgb.data.length; i += 4, j += 3) {
    rgba[i] = rgb.data[j];
    rgba[i + 1] = rgb.data[j + 1];
    rgba[i + 2] = rgb.data[j + 2];
    rgba[i + 3] = 255;
  }
  return new ImageData(rgba, rgb.width, rgb.height);
}

function jpegOf(c, quality = 0.9) {
  const base64 = c.toDataURL('image/jpeg', quality).split(',')[1];
  return Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
}

function meanOf(data, step = 3) {
  const sum = [0, 0, 0];
  for (let i = 0; i < data.length; i += step) for (let c = 0; c < 3; c++) sum[c] += data[i + c];
  const n = data.length / step;
  return sum.map((v) => v / n);
}

/** A style from any picture: the JPEG sent to the stylizer and the small RGB the closed form uses. */
function styleFrom(name, picture, width, height) {
  const [sw, sh] = gridSize(width, height, STYLE_LONG_SIDE);
  const [big, bigContext] = scratch(sw, sh);
  bigContext.drawImage(picture, 0, 0, sw, sh);
  const [tw, th] = gridSize(width, height, STYLE_STATS_LONG_SIDE);
  const [, smallContext] = scratch(tw, th);
  smallContext.drawImage(picture, 0, 0, tw, th);
  return { name, jpeg: jpegOf(big, 0.92), width: sw, height: sh, rgb: rgbOf(smallContext, tw, th) };
}

/** Built-in looks (gradients with some texture), so the page works before a photo is picked. */
function presetStyles() {
  const looks = [
    ['sunset', ['#2b1055', '#d53a9d', '#f6a04d', '#fbe38e']],
    ['teal & orange', ['#0b3d4a', '#1f7a80', '#e08a3c', '#f7c58b']],
    ['cold morning', ['#0e1a40', '#3d5a98', '#9fb8d8', '#e8f0f7']],
    ['forest', ['#0f2612', '#2e5e2b', '#8aa84b', '#e2d98f']],
  ];
  return looks.map(([name, stops]) => {
    const [c, context] = scratch(240, 160);
    const gradient = context.createLinearGradient(0, 0, 240, 160);
    stops.forEach((colour, i) => gradient.addColorStop(i / (stops.length - 1), colour));
    context.fillStyle = gradient;
    context.fillRect(0, 0, 240, 160);
    for (let i = 0; i < 60; i++) {
      context.fillStyle = stops[i % stops.length];
      context.globalAlpha = 0.35;
      context.beginPath();
      context.arc((i * 97) % 240, (i * 53) % 160, 6 + (i % 9) * 3, 0, 2 * Math.PI);
      context.fill();
    }
    context.globalAlpha = 1;
    return styleFrom(name, c, 240, 160);
  });
}

function addStyle(style) {
  styles.push(style);
  const option = new Option(style.name, String(styles.length - 1));
  $('style').add(option);
  $('style').value = option.value;
}

function currentStyle() {
  const style = styles[Number($('style').value)];
  return style?.jpeg ? style : styles[0];
}

/** The style photos the gateway offers (mvstylizer web --styles DIR), loaded when picked. */
async function serverStyles() {
  const answer = await fetch('styles', { headers: { 'X-MvStylizer-Token': token } });
  if (!answer.ok) return;
  const offered = await answer.json();
  for (const { name, file } of offered) addStyle({ name, file });
  if (offered.length) {
    $('style').value = String(styles.length - offered.length);
    await pickStyle();
  }
}

async function pickStyle() {
  const style = styles[Number($('style').value)];
  if (style && !style.jpeg) {
    const answer = await fetch(`styles/${encodeURIComponent(style.file)}`, { headers: { 'X-MvStylizer-Token': token } });
    if (!answer.ok) throw new Error(`the style photo ${style.file} could not be loaded (${answer.status})`);
    const bitmap = await decodePhoto(await answer.blob());
    Object.assign(style, styleFrom(style.name, bitmap, bitmap.width, bitmap.height));
    bitmap.close();
  }
  notice = null;
  restyle();
}

// ---- the session with the stylizer ---------------------------------------------------------

const MIN_WORK_LONG_SIDE = 16; // the stylizer's least working size (a plan may be smaller)

function sessionConfig(planWidth, planHeight) {
  const style = currentStyle();
  return {
    style: { encoding: FrameEncoding.JPEG, data: style.jpeg, width: style.width, height: style.height },
    model: $('model').value.trim(),
    // The answer is used at the plan's size, so the stylizer works at that size too: at the model's
    // own working size (512) a 640x360 key cost it 36 ms instead of 16, for a look 0.8 dE apart.
    workLongSide: Math.max(MIN_WORK_LONG_SIDE, planWidth, planHeight),
    outputWidth: planWidth,
    outputHeight: planHeight,
    responseEncoding: FrameEncoding.JPEG,
    jpegQuality: 90,
    clientLabel: `web ${run?.kind ?? ''}`.trim(),
    strength: Number($('strength').value),
  };
}

function socketUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws?token=${encodeURIComponent(token)}`;
}

async function decodeAnswer(current, answer) {
  current.decoding = (current.decoding ?? 0) + 1;
  try {
    await takeAnswer(current, answer);
  } finally {
    current.decoding -= 1;
  }
}

async function takeAnswer(current, answer) {
  const { planWidth: w, planHeight: h } = current.engine;
  const rgb = await decodeAt(current.answerContext, answer.image.data, w, h);
  if (run === current) current.engine.takeAnswer({ index: answer.index, rgb, generation: answer.generation });
}

/** A JPEG's pixels drawn at w x h through `context`: an RGB mat. */
async function decodeAt(context, jpeg, w, h) {
  const bitmap = await decodePhoto(new Blob([jpeg], { type: 'image/jpeg' }));
  context.drawImage(bitmap, 0, 0, w, h);
  bitmap.close();
  return rgbOf(context, w, h);
}

// ---- the flow: plain JS or WebGL2, whichever is the faster here -----------------------------

/** flow.js or flow_gl.js for frames of the plan size, chosen by timing both once on two synthetic
 * frames (an emulated GPU, such as SwiftShader, runs the plain JS faster at these sizes; a phone's
 * GPU the shaders). */
function chooseFlow(planWidth, planHeight, flowLongSide) {
  if (flowChoice) return flowChoice;
  const frame = (shift) => {
    const m = mat(planHeight, planWidth, 3, Uint8Array);
    for (let y = 0, i = 0; y < planHeight; y++) {
      for (let x = 0; x < planWidth; x++, i += 3) {
        const v = 128 + 60 * Math.sin((x + shift) / 7) * Math.cos(y / 5);
        m.data[i] = v;
        m.data[i + 1] = 255 - v;
        m.data[i + 2] = (v + x) & 255;
      }
    }
    return m;
  };
  const once = (backend) => {
    const started = performance.now();
    const a = backend.prepare(frame(0), flowLongSide);
    const b = backend.prepare(frame(1.5), flowLongSide);
    const flow = backend.estimateFlow(b, a);
    backend.photometricConfidence(b, a, flow);
    return performance.now() - started;
  };
  const backends = { js: flowlib };
  try {
    backends.webgl2 = new FlowGL(gl);
  } catch (error) {
    console.warn('the WebGL2 flow is not available here', error);
  }
  // Each warmed up (compiled, its shaders linked), then the best of three, taken in turns.
  const ms = {};
  for (const [name, backend] of Object.entries(backends)) {
    once(backend);
    ms[name] = Infinity;
  }
  for (let run = 0; run < 3; run++) {
    for (const [name, backend] of Object.entries(backends)) ms[name] = Math.min(ms[name], once(backend));
  }
  const flowGl = backends.webgl2;
  const gpu = flowGl && ms.webgl2 < ms.js;
  flowChoice = { flow: gpu ? flowGl : flowlib, name: gpu ? 'webgl2' : 'js', ms, emulated: softwareRenderer(gl) };
  return flowChoice;
}

// ---- sources -----------------------------------------------------------------------------

async function startCamera() {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error('the browser gives the camera only to an HTTPS page: open the https:// address the command printed');
  }
  const [width, height] = $('resolution').value.split('x').map(Number);
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: { ideal: $('facing').value }, width: { ideal: width }, height: { ideal: height } },
    audio: false,
  });
  await start(
    'camera',
    () => {
      video.srcObject = stream;
    },
    () => stream.getTracks().forEach((track) => track.stop()),
  );
}

async function startFile(file) {
  await start(`file ${file.name}`, () => {
    video.srcObject = null;
    video.src = URL.createObjectURL(file);
  });
}

/** Plays a source: attach() puts it on the video element; release() gives it up, should another
 * source be started before this one runs. */
async function start(kind, attach, release = () => {}) {
  stop();
  notice = null;
  withdrawDownload(); // what Download offered was the source before's: this one's comes at its end
  if (lastRun) lastRun.recordingNote = null; // it said Download saves that output
  if (!applier) throw new Error('this browser has no WebGL2: the page cannot render');
  // A start still waiting (for a warm-up, or for its video's size) gives its source up for this one.
  starting?.cancel();
  const mine = { cancelled: false, wake: null };
  mine.cancel = () => {
    mine.cancelled = true;
    release();
    mine.wake?.();
  };
  starting = mine;
  // A warm-up of the source before (or the page's own, at load) stops at its next frame; it must not
  // share the GPU's buffers with this one.
  preparing = false;
  await warming;
  if (mine.cancelled) return;
  attach();
  video.muted = true;
  await new Promise((resolve, reject) => {
    mine.wake = resolve; // the next start takes the video element's handlers over
    video.onloadedmetadata = resolve;
    video.onerror = () => reject(new Error(`the ${kind} cannot be played here`));
    if (video.readyState >= 1) resolve();
  });
  if (mine.cancelled) return;
  starting = null;
  const width = video.videoWidth;
  const height = video.videoHeight;
  const current = { kind, width, height, captured: 0, rendered: 0, firstPresented: null, presented: 0 };
  current.deviceMs = [];
  current.renderTimes = [];
  current.methods = {};
  current.stages = {};
  current.startedAt = performance.now();
  const link = new StylizerLink(socketUrl(), null, {
    onAnswer: (answer) => decodeAnswer(current, answer).catch((error) => console.warn('a key frame answer was not usable', error)),
    onState: () => showStatus(),
  });
  const strength = Number($('strength').value);
  const camera = kind === 'camera';
  if (!camera) {
    // A picked video's keys go at 640 px long side (a camera's at the plan's size: sendKey below).
    const [keyWidth, keyHeight] = gridSize(width, height, KEY_LONG_SIDE);
    const [keyCanvas, keyContext] = scratch(keyWidth, keyHeight);
    Object.assign(current, { keyWidth, keyHeight, keyCanvas, keyContext });
  }
  const [planWidth0, planHeight0] = gridSize(width, height, sizes.planLongSide);
  const { flow } = chooseFlow(planWidth0, planHeight0, sizes.flowLongSide);
  current.engine = camera ? new DeviceEngine(width, height, currentStyle().rgb, {
    ...sizes,
    strength,
    flow,
    link,
    // The key-frame policy's flow in a worker thread, beside the planning, where one starts.
    selector: makeLaggingSelector({ maxGap: MAX_GAP }) ?? undefined,
    maxGap: MAX_GAP,
    sendKey: (index, small) => {
      if (!link.canSend) return false;
      // The key is the frame being planned, at the plan's size: the stylizer works at that size for
      // the page (sessionConfig), and those pixels are already read back. A 640-pixel key read back
      // from the GPU and encoded on the page's thread cost it 20-36 ms a key.
      return link.offer(index, smallJpeg(current, small), small.width, small.height);
    },
  }) : new OfflineJob(width, height, currentStyle().rgb, { ...sizes, strength, flow });
  const { planWidth, planHeight } = current.engine;
  [, current.answerContext] = scratch(planWidth, planHeight);
  [current.planCanvas, current.planContext] = scratch(planWidth, planHeight);
  current.link = link;
  run = lastRun = current;
  link.config = sessionConfig(planWidth, planHeight);
  link.open();
  // While the stylizer opens its session: the camera loop's code and shaders run once on made-up
  // frames, so that the first seconds of the camera are not its slowest.
  if (camera && typeof VideoFrame !== 'undefined') {
    warming = warmUp([width, height], { ...sizes, strength, flow }, { going: () => run === current }).catch((error) => {
      console.warn('the warm-up did not run', error);
      return null;
    });
    current.warmUpMs = (await warming)?.ms;
    if (run !== current) return;
  }
  $('hint').hidden = true;
  $('stop').disabled = false;
  $('record').disabled = false;
  video.onended = () => {
    if (run === current) current.ended = true;
    showStatus();
  };
  if (camera && typeof MediaStreamTrackProcessor !== 'undefined') {
    readCamera(current, video.srcObject.getVideoTracks()[0]).catch(report);
  } else if (camera) {
    video.requestVideoFrameCallback((now, meta) => onFrame(current, meta));
    await video.play();
  } else {
    stepThroughFile(current).catch(report);
  }
}

// A picked video is not a camera: no frame may be dropped, and there is time to make each frame
// from the key frames on both sides of it, as the file job does (pipeline.js). It is stepped through
// three times, frame by frame (seeking into each frame): every frame looked at to choose the keys
// (and, where the browser gives frames' timestamps, each frame's found by stepping from one to the
// next, so that the count and the seeks keep to the file's own timestamps, which a container may
// round); the keys sent, each answer waited for up to KEY_WAIT_MS; every frame made and rendered.
// The output keeps every frame.
const KEY_WAIT_MS = 10000;

async function stepThroughFile(current) {
  const duration = await frameDuration();
  const { engine: job, link } = current;
  current.phase = 'choosing key frames';
  const starts = await lookThrough(current, duration, (k) => job.look(k, applier.shrink(job.planWidth, job.planHeight)));
  if (run !== current) return;
  const count = starts.length;
  current.frameCount = count;
  job.finishLooking();
  await openFileRecording(current, duration);
  const frameUs = Math.round(duration * 1e6);
  const known = frameTimestamp(null) !== null; // starts are the file's timestamps, else k * duration
  const frameAt = async (k) => {
    await seekTo((starts[k] + frameUs / 2) / 1e6, known ? (shown) => shown === starts[k] : null);
    return uploadFrame();
  };
  current.phase = 'stylizing key frames';
  const busy = () => run === current && (link.inFlight || current.decoding > 0);
  await waitFor(() => run !== current || link.ready, KEY_WAIT_MS);
  for (const index of job.keys) {
    if (run !== current) return;
    await frameAt(index);
    const jpeg = keyJpeg(current);
    await waitFor(() => !busy(), KEY_WAIT_MS);
    link.offer(index, jpeg, current.keyWidth, current.keyHeight);
  }
  await waitFor(() => !busy(), KEY_WAIT_MS);
  current.phase = 'making frames';
  for (let k = 0; k < count && run === current; k++) {
    await seekTo((starts[k] + frameUs / 2) / 1e6, known ? (shown) => shown === starts[k] : null);
    await processFrame(current, { presentedFrames: k });
    if (current.fileRecorder && run === current) {
      const lasting = k + 1 < count ? starts[k + 1] - starts[k] : frameUs;
      await current.fileRecorder.add(canvas, starts[k], lasting).catch((error) => recordingFailed(current, error));
    }
    await sleep(0); // the page stays responsive between frames
  }
  const output = current.fileRecorder;
  if (output && run === current) {
    try {
      offerDownload(await output.finish(), downloadName(current.kind));
      current.recordingNote = `recorded ${output.frames} frames (${output.codec}): Download saves them`;
    } catch (error) {
      recordingFailed(current, error);
    }
  }
  current.phase = null;
  if (run === current) current.ended = true;
  showStatus();
}

/** The first pass: each frame shown to `look(k)`, in order; returns the frames' start times (µs).
 * Where the browser gives the shown frame's timestamp, steps from each frame into the next (half a
 * frame past its start), until no newer frame comes: the file's own timestamps, however its
 * container rounds them. Else every `duration` up to the video's length, as before. */
async function lookThrough(current, duration, look) {
  const frameUs = Math.round(duration * 1e6);
  const starts = [];
  if (frameTimestamp(null) === null) {
    const count = Math.max(1, Math.round(video.duration / duration));
    for (let k = 0; k < count && run === current; k++) {
      await seekTo((k + 0.5) * duration, null);
      await uploadFrame();
      starts.push(k * frameUs);
      look(k);
    }
    return starts;
  }
  // The first frame: the one at 0, once the frame shown before (the playback that timed the frames
  // left a later one) is gone; a one-frame file keeps showing it, so it is taken after the wait.
  const before = frameTimestamp(null);
  let last = await seekTo(0, (ts) => ts < before);
  while (run === current) {
    await uploadFrame();
    starts.push(last);
    look(starts.length - 1);
    const at = (last + 1.5 * frameUs) / 1e6;
    const newer = (ts) => ts > last && ts <= at * 1e6 + 1000; // the next frame, not a stale one
    const shown = await seekTo(at, newer);
    if (shown === null || !newer(shown)) break; // no newer frame: the end
    last = shown;
  }
  return starts;
}

/** The timestamp (microseconds) of the frame the video shows now, as the file gives it: the
 * output frame made from it keeps it. `fallback` where the browser gives no VideoFrame. */
function frameTimestamp(fallback) {
  if (typeof VideoFrame === 'undefined') return fallback;
  try {
    const frame = new VideoFrame(video);
    const { timestamp } = frame;
    frame.close();
    return timestamp;
  } catch {
    return fallback;
  }
}

/** A picked video's output file: every made frame encoded at its input frame's timestamp, where the
 * browser has VideoEncoder; else (null) Record stays, in real time, and the status line says so. */
async function openFileRecording(current, duration) {
  let output = null;
  try {
    output = await FileRecorder.open(current.width, current.height, 1 / duration);
  } catch (error) {
    console.warn('the browser cannot encode this video', error);
  }
  current.fileRecorder = output;
  current.recordingNote = output
    ? `recording every frame (${output.codec})`
    : 'no VideoEncoder here: Record records in real time (frame count and duration not kept)';
  $('record').disabled = Boolean(output); // the whole output is recorded: Download offers it at the end
  return output;
}

/** The encoder failed: the frames are still made and shown, only the file is given up. */
function recordingFailed(current, error) {
  console.error(error);
  current.fileRecorder?.cancel();
  current.fileRecorder = null;
  current.recordingNote = `the recording failed (${error.message ?? error}); the frames are still made`;
}

async function waitFor(done, ms) {
  const from = performance.now();
  while (!done() && performance.now() - from < ms) await sleep(5);
}

/** A picked video's frame uploaded (the last, or `picture`, a handle still good), at the key size, as
 * the JPEG sent to the stylizer (from its GPU copy: the video may have moved on since). */
function keyJpeg(current, picture = undefined) {
  return matJpeg(current.keyCanvas, current.keyContext, applier.shrink(current.keyWidth, current.keyHeight, picture));
}

/** A plan-size RGB mat as the JPEG sent to the stylizer. */
function smallJpeg(current, small) {
  return matJpeg(current.planCanvas, current.planContext, small);
}

/** An RGB mat as a JPEG, through a canvas of its size. */
function matJpeg(c, context, rgb) {
  context.putImageData(imageDataOf(rgb), 0, 0);
  return jpegOf(c);
}

/** The file's frame duration: the smallest gap between the first frames' timestamps as it plays. */
async function frameDuration() {
  const times = [];
  await new Promise((resolve) => {
    const onFrame = (now, meta) => {
      times.push(meta.mediaTime);
      if (times.length >= 4 || video.ended) resolve();
      else video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
    video.onended = resolve;
    video.play().catch(resolve);
  });
  video.pause();
  const gaps = times.slice(1).map((t, i) => t - times[i]).filter((gap) => gap > 1e-4);
  return gaps.length ? Math.min(...gaps) : 1 / 30;
}

/** Seeks to `time` (s), and until `expected(timestamp)` holds for the frame the video shows (if
 * given): Chromium may fire 'seeked' while the frame before is still the one shown, which would then
 * be made (and timed) twice and the right one not at all. Waits at most SEEK_SETTLE_MS for it;
 * returns the shown frame's timestamp (µs), or null where the browser gives none. */
const SEEK_SETTLE_MS = 500;

async function seekTo(time, expected) {
  await new Promise((resolve) => {
    video.onseeked = resolve;
    video.currentTime = time;
  });
  let shown = frameTimestamp(null);
  const from = performance.now();
  while (expected && shown !== null && !expected(shown) && performance.now() - from < SEEK_SETTLE_MS) {
    await sleep(5);
    shown = frameTimestamp(null);
  }
  return shown;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function stop() {
  const current = run;
  run = null;
  if (!current) return;
  stopRecording();
  current.fileRecorder?.cancel();
  current.link.close();
  current.engine.selector?.close?.();
  const stream = video.srcObject;
  stream?.getTracks().forEach((track) => track.stop());
  video.pause();
  if (video.src) URL.revokeObjectURL(video.src);
  $('stop').disabled = true;
  $('record').disabled = true;
  showStatus();
}

function restyle() {
  if (!run) return;
  const { link, engine } = run;
  link.reconfigure(sessionConfig(engine.planWidth, engine.planHeight));
  engine.setStyle(currentStyle().rgb, Number($('strength').value), link.generation);
}

// ---- the frame loop ----------------------------------------------------------------------

async function onFrame(current, meta) {
  if (run !== current) return;
  try {
    await processFrame(current, meta);
  } catch (error) {
    current.error = String(error);
    console.error(error);
  }
  if (run === current) video.requestVideoFrameCallback((now, next) => onFrame(current, next));
}

/** The camera's frames straight from its track (MediaStreamTrackProcessor), where the browser has
 * it: each comes as a VideoFrame in the capture's own memory, so copying its planes out costs
 * little and no GPU work, and the video element need not play. Frames are read as they come, in a
 * worker where the browser lets the track's stream go to one (which copies the planes out and
 * gives the frame back to the camera at once), and wait in a short queue (camera_queue.js); those
 * given up, and any the camera skipped, are counted from the frames' timestamps (stats'
 * frames_presented: the frames the camera's clock spans since the first).
 * Each frame is planned and rendered once the next has been uploaded: the GPU shrinks that one
 * while this one is planned, instead of the page waiting for it (one frame later on screen). */
async function readCamera(current, track) {
  const processor = new MediaStreamTrackProcessor({ track });
  const inWorker = workerReader(processor.readable);
  current.cameraReader = inWorker ? 'worker' : 'page';
  const frames = new CameraQueue(inWorker ?? processor.readable.getReader(), () => run === current);
  current.cameraQueue = frames;
  const interval = 1e6 / (track.getSettings().frameRate || 30); // microseconds
  let first = null;
  let waiting = null; // the frame begun last, to be finished when the next one is begun
  let lastTask = performance.now(); // when the loop last let the page's other tasks run
  while (run === current) {
    const idle = !frames.frames.length; // no frame waits: the next comes in a task of its own
    const frame = await frames.next();
    if (idle) lastTask = performance.now();
    if (!frame) break;
    try {
      if (run !== current) break;
      first ??= frame.timestamp;
      // The frame before's pixels first: the GPU runs its commands in order, so a read asked after
      // this frame's shrink would wait for that too.
      const before = waiting;
      waiting = null;
      const readBefore = before && timed(() => before.small.read());
      const begun = await beginFrame(current, { presentedFrames: Math.round((frame.timestamp - first) / interval), frame });
      if (run !== current) break; // stopped meanwhile: nothing more is planned or drawn
      // A stylized key that came back is fitted in a task of its own, before the frame's planning:
      // the page's thread is never held long enough for two camera frames to come meanwhile.
      if (current.engine.answers.length) {
        const [, holdMs] = timed(() => current.engine.holdNewestAnswer());
        addStage(current, 'fit', holdMs);
        await yieldToPage();
        if (run !== current) break;
      }
      // A frame the GPU holds only until the next upload (not a camera's planes) is finished now.
      const now = begun && begun.picture.source === 'rgb';
      waiting = now ? null : begun;
      if (before) finishFrame(current, before, readBefore);
      if (now) finishFrame(current, begun);
    } catch (error) {
      current.error = String(error);
      console.error(error);
    } finally {
      frame.close();
    }
    // The page's other tasks (a key's answer from the socket, a tap on Stop, the view's update) run
    // at least every TASK_EVERY_MS, also while frames wait: taking a waiting frame leaves no task,
    // and a page behind its camera would otherwise run frame after frame and hear nothing else.
    if (performance.now() - lastTask >= TASK_EVERY_MS) {
      await nextTask();
      lastTask = performance.now();
    }
  }
  frames.close();
}

// How long the camera loop may go on taking waiting frames before the page's other tasks run: three
// frame intervals at 30 frames/s, so a page catching up (its first frames, a slow one) does so in a
// burst, while an answer waits at most that long (every 50 ms dropped more frames here).
const TASK_EVERY_MS = 100;

/** Resolves in a timer's task: after the tasks already waiting, timers' included (a task posted
 * otherwise may run ahead of due timers; a timer nested in timers waits at least 4 ms). */
function nextTask() {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Lets the page run its waiting tasks (a camera frame that came, a socket message) and goes on. */
function yieldToPage() {
  return globalThis.scheduler?.yield ? globalThis.scheduler.yield() : new Promise((resolve) => setTimeout(resolve, 0));
}

/** The frame the video shows now, on the GPU: its planes copied out and converted there where the
 * browser gives them (VideoFrame), else the browser's own upload. */
async function uploadFrame() {
  if (typeof VideoFrame === 'undefined') return applier.upload(video);
  let frame;
  try {
    frame = new VideoFrame(video);
  } catch {
    return applier.upload(video);
  }
  try {
    return await applier.uploadVideoFrame(frame);
  } finally {
    frame.close();
  }
}

/** One frame, start to end: uploaded, shrunk, planned and rendered. */
async function processFrame(current, meta) {
  const begun = await beginFrame(current, meta);
  if (begun) finishFrame(current, begun);
}

// Made-up frames the camera loop's work runs on before the camera's first: the JS engines compile
// the planning code as it runs (the first plans of a page took 50-180 ms on this 2-core machine, and
// the first two seconds dropped 20 frames of a 30 frames/s camera), and each shader is compiled at
// its first draw. Both 4:2:0 layouts a camera gives are drawn, and each key the engine sends is
// answered at once.
const WARM_UP_FRAMES = 24;
const WARM_UP_MS = 800; // no longer than this, on a slow device
// The engines compile the hottest code again, optimised, only after many runs: with the camera's
// warm-up alone, a 640x360 camera still dropped 8-12 frames in its first 2-3 s here, and 1-3 after a
// warm-up of 90 frames. That long a wait is not put before the camera: the page runs it once, as
// soon as it loads (a camera started sooner stops it, and takes its own short warm-up).
const PREPARE_FRAMES = 90;
const PREPARE_MS = 4000;
const PREPARE_SIZE = [640, 360];

/** The camera loop run on made-up frames of `size` ([width, height]), through an engine of its own,
 * with the view hidden meanwhile and cleared after: { ms, frames } it took. Each frame goes while going()
 * holds, at most `frames` of them for at most `ms`. Halfway, the scene cuts to another. */
async function warmUp([width, height], options, { frames = WARM_UP_FRAMES, ms = WARM_UP_MS, going }) {
  const started = performance.now();
  // The key the engine sent while planning the frame: answered at once, a tinted copy of it, through
  // the JPEG codecs as a real key and answer go.
  let keySent = null;
  let done = 0; // frames warmed up
  const sendKey = (index, small) => {
    const tinted = mat(small.height, small.width, 3, Uint8Array);
    for (let i = 0; i < tinted.data.length; i++) tinted.data[i] = small.data[i] * 0.7 + 40;
    keySent = { index, jpeg: matJpeg(keyCanvas, keyContext, tinted) };
    return true;
  };
  const engine = new DeviceEngine(width, height, currentStyle().rgb, { ...options, link: { roundTripMs: () => null }, sendKey });
  const { planWidth: w, planHeight: h } = engine;
  const [keyCanvas, keyContext] = scratch(w, h);
  const [, answerContext] = scratch(w, h);
  const even = (n) => n - (n % 2);
  const [fw, fh] = [even(width), even(height)];
  const planes = new Uint8Array((fw * fh * 3) / 2);
  // A texture that pans 4 pixels a frame, and another after the cut.
  const wave = Float32Array.from({ length: fw + 4 * frames }, (_, x) => 80 * Math.sin(x / 11));
  const rows = [9, 4].map((period) => Float32Array.from({ length: fh }, (_, y) => Math.cos(y / period)));
  canvas.style.visibility = 'hidden';
  try {
    for (let index = 0; index < frames && performance.now() - started < ms && going(); index++) {
      const shot = rows[index < frames / 2 ? 0 : 1];
      for (let y = 0; y < fh; y++) {
        for (let x = 0; x < fw; x++) planes[y * fw + x] = 128 + wave[x + 4 * index] * shot[y];
      }
      planes.fill(128 + (index % 7), fw * fh);
      const format = index % 4 === 3 ? 'NV12' : 'I420';
      const frame = new VideoFrame(planes, { format, codedWidth: fw, codedHeight: fh, timestamp: index * 33333 });
      let picture;
      try {
        picture = await applier.uploadVideoFrame(frame);
      } finally {
        frame.close();
      }
      // The page stays responsive: a frame's upload may resolve without leaving the task.
      await sleep(0);
      if (!going()) break;
      const small = applier.shrinkLater(w, h, picture).read();
      keySent = null;
      const { plan } = engine.plan(index, small);
      engine.render(applier, plan, picture);
      if (keySent !== null) {
        const rgb = await decodeAt(answerContext, keySent.jpeg, w, h);
        engine.takeAnswer({ index: keySent.index, rgb, generation: engine.generation });
      }
      done += 1;
    }
  } finally {
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.clearColor(0, 0, 0, 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
    canvas.style.visibility = '';
  }
  return { ms: performance.now() - started, frames: done };
}

/** A frame's first half: uploaded once, and its planning-size pixels asked of the GPU (read back
 * by finishFrame). Null if the run stopped meanwhile. */
async function beginFrame(current, meta) {
  const started = performance.now();
  const { planWidth: w, planHeight: h } = current.engine;
  // The frame is uploaded once, shrunk to the planning size on the GPU and rendered from there.
  const picture = meta.frame ? await applier.uploadVideoFrame(meta.frame) : await uploadFrame();
  if (run !== current) return null; // stopped (or another source started) meanwhile
  const uploaded = performance.now();
  const small = applier.shrinkLater(w, h, picture);
  const asked = performance.now();
  return { presentedFrames: meta.presentedFrames, picture, small, upload: uploaded - started, ask: asked - uploaded };
}

/** [what f returns, the ms it took]. */
function timed(f) {
  const started = performance.now();
  const value = f();
  return [value, performance.now() - started];
}

/** A frame's second half: its planning pixels read back (unless given: [pixels, ms]), planned,
 * rendered and counted. */
function finishFrame(current, begun, [small, readMs] = timed(() => begun.small.read())) {
  const started = performance.now();
  current.firstPresented ??= begun.presentedFrames;
  current.presented = begun.presentedFrames - current.firstPresented + 1;
  const { engine } = current;
  const index = current.captured;
  current.captured += 1;
  const { plan, key, next = null, cut } = engine.plan(index, small, fpsOf(current) || 30);
  const planned = performance.now();
  engine.render(applier, plan, begun.picture);
  if ($('split').checked) drawOriginalLeft(current, begun.picture);
  const rendered = performance.now();
  addStage(current, 'capture', begun.upload);
  addStage(current, 'shrink', begun.ask + readMs);
  addStage(current, 'plan', planned - started);
  addStage(current, 'render', rendered - planned);
  current.rendered += 1;
  current.methods[plan.method] = (current.methods[plan.method] ?? 0) + 1;
  const now = performance.now();
  // The page's own time on the frame: both halves, not the wait between them.
  current.deviceMs.push(begun.upload + begun.ask + readMs + (now - started));
  current.renderTimes.push(now);
  if (current.deviceMs.length > 300) current.deviceMs.shift();
  if (current.renderTimes.length > 60) current.renderTimes.shift();
  if (tracing) {
    const keep = traceKeepEvery > 0 && index % traceKeepEvery === 0;
    const output = traceKeepEvery === 0 || keep ? applier.readFrame() : null;
    const record = { index, method: plan.method, key, next, cut, original: meanOf(small.data), output: output && meanOf(output.data) };
    // Every frame's look and enough of its content to tell which source frame it was, cheaply.
    record.shown = shownMean(plan);
    const thumb = resizeArea(small, ...gridSize(small.width, small.height, THUMB_LONG_SIDE));
    record.thumb = { width: thumb.width, height: thumb.height, data: Array.from(thumb.data) };
    if (keep) Object.assign(record, { source: small, pixels: output });
    traceLog.push(record);
    addStage(current, 'trace', performance.now() - now);
  }
}

/** The last frames' time in one step of the frame loop (ms), for the stats' stage_ms. */
function addStage(current, name, ms) {
  const times = (current.stages[name] ??= []);
  times.push(ms);
  if (times.length > 300) times.shift();
}

// The split view: the left half shows the original of the very frame on the right (drawn by the same
// GL canvas in the same task, so the two halves never drift apart; the video element runs ahead).
const IDENTITY = [
  [1, 0, 0, 0],
  [0, 1, 0, 0],
  [0, 0, 1, 0],
];

function drawOriginalLeft(current, picture) {
  gl.enable(gl.SCISSOR_TEST);
  gl.scissor(0, 0, Math.floor(current.width / 2), current.height);
  applier.applyColourTransform(picture, IDENTITY);
  gl.disable(gl.SCISSOR_TEST);
}

function fpsOf(current) {
  const times = current.renderTimes;
  if (times.length < 2) return 0;
  return ((times.length - 1) * 1000) / (times[times.length - 1] - times[0]);
}

function percentile(values, q) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

// ---- status, recording, the hook -----------------------------------------------------------

function statsNow() {
  const current = lastRun;
  if (!current) return { running: false, prepared_at_load: prepared, notice };
  const { link, engine } = current;
  const seconds = (performance.now() - current.startedAt) / 1000;
  return {
    running: run === current && !current.ended,
    frame_count: current.frameCount ?? null, // a picked file: its frames, all of which are made
    phase: current.phase ?? null, // a picked file: which of its passes runs
    source: { kind: current.kind, width: current.width, height: current.height },
    plan: { width: engine.planWidth, height: engine.planHeight },
    frames_captured: current.captured,
    frames_presented: current.presented,
    frames_rendered: current.rendered,
    dropped: Math.max(0, current.presented - current.captured),
    fps_rendered: fpsOf(current),
    device_ms_p50: percentile(current.deviceMs, 0.5),
    device_ms_p99: percentile(current.deviceMs, 0.99),
    key_frames: link.sent,
    keys_answered: link.answered,
    round_trip_ms: link.roundTripMs(),
    warm_up_ms: current.warmUpMs ?? null,
    prepared_at_load: prepared,
    methods: { ...current.methods },
    flow: flowChoice && { backend: flowChoice.name, ms: flowChoice.ms, emulated_gpu: flowChoice.emulated },
    stage_ms_p50: Object.fromEntries(Object.entries(current.stages).map(([name, times]) => [name, percentile(times, 0.5)])),
    cuts: engine.cuts,
    bytes_up: link.bytesUp,
    bytes_down: link.bytesDown,
    bytes_up_per_s: link.bytesUp / seconds,
    bytes_down_per_s: link.bytesDown / seconds,
    link: link.state,
    link_reason: link.reason,
    recording: current.fileRecorder ? { codec: current.fileRecorder.codec, frames: current.fileRecorder.frames } : null,
    recording_note: current.recordingNote ?? null,
    camera_reader: current.cameraReader ?? null, // a camera's frames read in a 'worker' or on the 'page'
    camera_given_up: current.cameraQueue?.givenUp ?? null, // of `dropped`: those the page's queue gave up
    error: current.error ?? null,
    notice, // the last error reported (a file that does not play, a photo that does not open)
  };
}

function showStatus() {
  const s = statsNow();
  const noticed = notice ? `\nerror: ${notice}` : '';
  if (!s.source) {
    $('status').textContent = notice ? `error: ${notice}` : 'idle';
    return;
  }
  const ms = (v) => (v === null ? '-' : `${v.toFixed(0)} ms`);
  const kb = (v) => `${(v / 1024).toFixed(0)} kB`;
  const methods = Object.entries(s.methods).map(([m, n]) => `${m} ${n}`).join(', ');
  $('status').textContent =
    `${s.source.kind} ${s.source.width}x${s.source.height}${s.phase ? ` (${s.phase})` : ''}  ${s.fps_rendered.toFixed(1)} fps  device ${ms(s.device_ms_p50)}/frame  ` +
    `key round trip ${ms(s.round_trip_ms)}\nkeys ${s.key_frames} sent, ${s.keys_answered} answered  ` +
    `up ${kb(s.bytes_up)} down ${kb(s.bytes_down)}  stylizer: ${s.link}${s.link_reason && s.link !== 'ready' ? ` (${s.link_reason})` : ''}\n` +
    `${methods || 'no frames yet'}${s.recording_note ? `\n${s.recording_note}` : ''}${s.error ? `\nerror: ${s.error}` : ''}${noticed}`;
}

function startRecording() {
  const stream = canvas.captureStream(30);
  const type = ['video/webm;codecs=vp9', 'video/webm;codecs=vp8', 'video/webm', 'video/mp4'].find((t) => MediaRecorder.isTypeSupported(t));
  const chunks = [];
  // Named for what it records now: a recording cut off by another source's start is still offered.
  const name = downloadName(run?.kind ?? lastRun?.kind ?? 'camera');
  recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
  recorder.ondataavailable = (event) => event.data.size && chunks.push(event.data);
  recorder.onstop = () => {
    offerDownload(new Blob(chunks, { type: recorder?.mimeType || type || 'video/webm' }), name);
    recorder = null;
    $('record').textContent = 'Record';
    $('record').classList.remove('on');
  };
  withdrawDownload();
  recorder.start(1000);
  $('record').textContent = 'Stop recording';
  $('record').classList.add('on');
}

/** Download saves `blob` (a recording) as `name` plus the container's extension. */
function offerDownload(blob, name) {
  withdrawDownload();
  const link = $('download');
  link.href = URL.createObjectURL(blob);
  link.download = `${name}.${blob.type.includes('mp4') ? 'mp4' : 'webm'}`;
  link.textContent = `Download (${(blob.size / 1e6).toFixed(1)} MB)`;
  link.hidden = false;
}

/** Download offers nothing (its file is given back). */
function withdrawDownload() {
  const link = $('download');
  if (link.href) URL.revokeObjectURL(link.href);
  link.removeAttribute('href');
  link.hidden = true;
}

/** A recording's file name, as the command line names its outputs: SOURCE-STYLE (a picked file's
 * name without its extension, or 'camera'). */
function downloadName(kind) {
  const stem = (name) => name.replace(/\.[^.]*$/, '');
  const source = kind.startsWith('file ') ? stem(kind.slice(5)) : 'camera';
  const safe = (text) => text.replace(/[^\p{L}\p{N}_.-]+/gu, '-').replace(/^-+|-+$/g, '') || 'mvstylizer';
  return `${safe(source)}-${safe(stem(currentStyle()?.name ?? 'style'))}`;
}

function stopRecording() {
  if (recorder && recorder.state !== 'inactive') recorder.stop();
}

function report(error) {
  console.error(error);
  notice = String(error.message ?? error);
  showStatus();
}

function wire() {
  styles = [];
  presetStyles().forEach(addStyle);
  $('style').value = '0';
  $('camera').onclick = () => startCamera().catch(report);
  $('video-file').onchange = (event) => {
    const file = event.target.files[0];
    if (file) startFile(file).catch(report);
    event.target.value = '';
  };
  $('stop').onclick = stop;
  $('style').onchange = () => pickStyle().catch(report);
  $('strength').onchange = restyle;
  $('model').onchange = restyle;
  $('style-file').onchange = async (event) => {
    const file = event.target.files[0];
    event.target.value = '';
    if (!file) return;
    try {
      const bitmap = await decodePhoto(file);
      addStyle(styleFrom(file.name, bitmap, bitmap.width, bitmap.height));
      bitmap.close();
      notice = null;
      restyle();
    } catch (error) {
      report(new Error(`${file.name} is not a picture this browser can open`));
    }
  };
  $('split').onchange = (event) => {
    document.body.classList.toggle('split', event.target.checked);
    $('divider').hidden = !event.target.checked;
  };
  $('record').onclick = () => (recorder ? stopRecording() : startRecording());
  setInterval(showStatus, 500);
  if (!applier) report(new Error('this browser has no WebGL2: the page cannot render'));
}

/** The page's warm-up at load (PREPARE_FRAMES), yielding to the page between frames. */
async function prepare() {
  if (!applier || typeof VideoFrame === 'undefined' || !preparing) return;
  const flow = chooseFlow(...gridSize(...PREPARE_SIZE, sizes.planLongSide), sizes.flowLongSide).flow;
  const options = { ...sizes, strength: Number($('strength').value), flow };
  warming = warmUp(PREPARE_SIZE, options, { frames: PREPARE_FRAMES, ms: PREPARE_MS, going: () => preparing }).catch((error) => {
    console.warn('the warm-up at load did not run', error);
    return null;
  });
  prepared = await warming;
}

wire();
const offered = serverStyles().catch(report);
const preparedAtLoad = offered.then(prepare).catch((error) => console.warn('the warm-up at load did not run', error));
window.mvstylizer = {
  version: 1,
  ready: offered.then(() => true),
  prepared: preparedAtLoad.then(() => true),
  async stats() {
    return statsNow();
  },
  async pixels() {
    return run && run.rendered ? applier.readFrame() : null;
  },
  trace(on = true, { keepEvery = 0 } = {}) {
    if (on && !tracing) traceLog = [];
    if (on) traceKeepEvery = keepEvery;
    tracing = on;
  },
  frames() {
    return traceLog;
  },
};
