// flow.js's estimator and confidence as WebGL2 fragment-shader passes.
//
// Interface (the same as flow.js's, so a page picks either):
//   const flowGl = new FlowGL(gl);              // gl: a WebGL2 context (may be affine_gl.js's own)
//   const frame = flowGl.prepare(rgbOrPicture, longSide);           // flow.prepare's frame
//   const flow = flowGl.estimateFlow(current, reference);           // gh x gw x 2 float mat
//   const conf = flowGl.photometricConfidence(current, reference, flow[, sigma]); // gh x gw x 1
// FlowGL.prepare(picture, longSide) is flow.prepare for a picture WebGL uploads (a video, canvas,
// ImageBitmap or ImageData): the area shrink to the grid runs on the GPU and only the grid-sized
// frame is read back, so a camera frame's full-size pixels never pass through JS (affine_gl.js
// then takes the picture and this `small`). Given an H x W x 3 mat it is flow.prepare.
// Results are read back as mats, because the plan (session.js) and the fill (core.js) use them on
// the CPU. Each frame's grey pyramid is built once on the CPU (a few hundred microseconds at
// 320x180) and uploaded once per frame, and a flow estimateFlow returned stays on the GPU for the
// confidence that follows. The context's framebuffer, viewport and program are left changed; the
// default framebuffer is bound again after each call (affine_gl.js sets the rest on each draw).
// Needs EXT_color_buffer_float (float render targets), which WebGL2 on SwiftShader, desktop and
// recent phone GPUs provide.
//
// The passes at each pyramid level, LK_ITERATIONS times: per-pixel structure-tensor terms of the
// reference warped along the flow (robust weights); a horizontal box sum; a vertical box sum
// fused with the 2x2 solve. Then the flow is box-smoothed and brought up a level. Float32
// throughout, where flow.js sums in float64: the two agree to a few hundredths of a pixel.

import { rgbToGray } from './cv.js';
import {
  DEFAULT_FLOW_LONG_SIDE,
  DEFAULT_PHOTOMETRIC_SIGMA,
  FLOW_SMOOTHING,
  LK_ITERATIONS,
  LK_RADIUS,
  LK_RESIDUAL_SCALE,
  LK_RIDGE,
  finestLevel,
  prepare as prepareOnCpu,
  pyramidOf,
} from './flow.js';
import { link, nearest, setInputs, viewportQuad } from './gl.js';
import { frameToGridScale, gridSize } from './grids.js';

// Frames whose grey pyramids stay uploaded (a key and the frames that follow it).
export const MAX_UPLOADED_FRAMES = 4;
// The shaders' int-typed uniforms (the rest are float).
const INT_UNIFORMS = new Set(['step', 'radius']);

const VERTEX = `#version 300 es
in vec2 corner;
void main() { gl_Position = vec4(corner, 0.0, 1.0); }`;

const HEADER = `#version 300 es
precision highp float;
precision highp int;
precision highp sampler2D;
`;

// Bilinear read of a single-channel float texture at a point, each neighbour clamped to the image
// (cv2.remap with INTER_LINEAR and BORDER_REPLICATE).
const SAMPLE = `
float sampleAt(sampler2D image, vec2 at) {
  ivec2 last = textureSize(image, 0) - 1;
  vec2 base = floor(at);
  vec2 f = at - base;
  ivec2 i0 = ivec2(base);
  ivec2 a = clamp(i0, ivec2(0), last);
  ivec2 b = clamp(i0 + 1, ivec2(0), last);
  float top = mix(texelFetch(image, a, 0).r, texelFetch(image, ivec2(b.x, a.y), 0).r, f.x);
  float bottom = mix(texelFetch(image, ivec2(a.x, b.y), 0).r, texelFetch(image, b, 0).r, f.x);
  return mix(top, bottom, f.y);
}`;

// The reference warped along the flow at a pixel and its four neighbours (bilinear, borders
// replicated: what a warp pass would have stored), and the robust structure-tensor terms.
const TERMS = `${HEADER}${SAMPLE}
uniform sampler2D current;
uniform sampler2D reference;
uniform sampler2D flow;
layout(location = 0) out vec4 tensor;  // w ix ix, w ix iy, w iy iy, w ix it
layout(location = 1) out vec4 rest;    // w iy it
float warpedAt(ivec2 q) { return sampleAt(reference, vec2(q) + texelFetch(flow, q, 0).xy); }
void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  ivec2 last = textureSize(current, 0) - 1;
  ivec2 l = ivec2(max(p.x - 1, 0), p.y);
  ivec2 r = ivec2(min(p.x + 1, last.x), p.y);
  ivec2 u = ivec2(p.x, max(p.y - 1, 0));
  ivec2 d = ivec2(p.x, min(p.y + 1, last.y));
  float here = warpedAt(p);
  float ix = 0.25 * (warpedAt(r) - warpedAt(l) + texelFetch(current, r, 0).r - texelFetch(current, l, 0).r);
  float iy = 0.25 * (warpedAt(d) - warpedAt(u) + texelFetch(current, d, 0).r - texelFetch(current, u, 0).r);
  float it = here - texelFetch(current, p, 0).r;
  vec2 at = vec2(p) + texelFetch(flow, p, 0).xy;
  bool inside = all(greaterThanEqual(at, vec2(0.0))) && all(lessThanEqual(at, vec2(last)));
  float q = it / ${LK_RESIDUAL_SCALE.toFixed(4)};
  float weight = inside ? 1.0 / (1.0 + q * q) : 0.0;
  tensor = weight * vec4(ix * ix, ix * iy, iy * iy, ix * it);
  rest = vec4(weight * iy * it, 0.0, 0.0, 0.0);
}`;

// Window sums along x or y (borders replicated), of two textures at once, times `scale`.
const BOX = `${HEADER}
uniform sampler2D first;
uniform sampler2D second;
uniform ivec2 step;
uniform int radius;
uniform float scale;
layout(location = 0) out vec4 one;
layout(location = 1) out vec4 two;
void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  ivec2 last = textureSize(first, 0) - 1;
  vec4 a = vec4(0.0);
  vec4 b = vec4(0.0);
  for (int k = -radius; k <= radius; k++) {
    ivec2 q = clamp(p + k * step, ivec2(0), last);
    a += texelFetch(first, q, 0);
    b += texelFetch(second, q, 0);
  }
  one = a * scale;
  two = b * scale;
}`;

// The vertical window sums of the terms, and the ridge-regularised 2x2 solve: the flow's update.
const SOLVE = `${HEADER}
uniform sampler2D tensor;
uniform sampler2D rest;
uniform sampler2D flow;
out vec4 updated;
void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  ivec2 last = textureSize(tensor, 0) - 1;
  vec4 t = vec4(0.0);
  float ey = 0.0;
  for (int k = -${LK_RADIUS}; k <= ${LK_RADIUS}; k++) {
    ivec2 q = ivec2(p.x, clamp(p.y + k, 0, last.y));
    t += texelFetch(tensor, q, 0);
    ey += texelFetch(rest, q, 0).r;
  }
  float norm = 1.0 / float(${(2 * LK_RADIUS + 1) ** 2});
  t *= norm;
  ey *= norm;
  float a = t.x + ${LK_RIDGE.toFixed(4)};
  float b = t.y;
  float c = t.z + ${LK_RIDGE.toFixed(4)};
  float det = a * c - b * b;
  vec2 delta = -vec2(c * t.w - b * ey, a * ey - b * t.w) / det;
  // At most a pixel per step: the linearisation holds only that far.
  delta /= max(1.0, length(delta));
  updated = vec4(texelFetch(flow, p, 0).xy + delta, 0.0, 0.0);
}`;

// cv2.resize(INTER_LINEAR) of a flow (pixel centres aligned, edges clamped), its values times `gain`.
const RESIZE_FIELD = `${HEADER}
uniform sampler2D source;
uniform vec2 gain;
uniform vec2 ratio;  // source size / output size
out vec4 resized;
void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  ivec2 last = textureSize(source, 0) - 1;
  vec2 at = (vec2(p) + 0.5) * ratio - 0.5;
  vec2 base = floor(at);
  vec2 f = at - base;
  ivec2 i0 = ivec2(base);
  // As OpenCV's tables: a start below 0 or at the last pixel reads that pixel alone.
  f *= 1.0 - max(vec2(lessThan(i0, ivec2(0))), vec2(greaterThanEqual(i0, last)));
  i0 = clamp(i0, ivec2(0), last);
  ivec2 i1 = min(i0 + 1, last);
  vec2 top = mix(texelFetch(source, i0, 0).xy, texelFetch(source, ivec2(i1.x, i0.y), 0).xy, f.x);
  vec2 bottom = mix(texelFetch(source, ivec2(i0.x, i1.y), 0).xy, texelFetch(source, i1, 0).xy, f.x);
  resized = vec4(mix(top, bottom, f.y) * gain, 0.0, 0.0);
}`;

// The reference's grey warped by the flow (rounded to whole levels, as uint8 remap rounds), its
// difference from the current grey, and whether the flow points inside the reference.
const DIFFERENCE = `${HEADER}${SAMPLE}
uniform sampler2D current;
uniform sampler2D reference;
uniform sampler2D flow;
uniform vec2 toGrid;
out vec4 difference;
void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  vec2 size = vec2(textureSize(current, 0));
  vec2 at = vec2(p) + texelFetch(flow, p, 0).xy * toGrid;
  float warped = clamp(floor(sampleAt(reference, at) + 0.5), 0.0, 255.0);
  bool inside = all(greaterThanEqual(at, vec2(-0.5))) && all(lessThanEqual(at, size - 0.5));
  difference = vec4(abs(warped - texelFetch(current, p, 0).r), inside ? 1.0 : 0.0, 0.0, 0.0);
}`;

// 3x3 mean of the difference (borders reflected, cv2.blur's default), to a confidence.
const CONFIDENCE = `${HEADER}
uniform sampler2D difference;
uniform float inverseSigma;
out vec4 confidence;
int reflect101(int i, int last) { return last == 0 ? 0 : i < 0 ? -i : i > last ? 2 * last - i : i; }
void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  ivec2 last = textureSize(difference, 0) - 1;
  float sum = 0.0;
  for (int dy = -1; dy <= 1; dy++) {
    for (int dx = -1; dx <= 1; dx++) {
      sum += texelFetch(difference, ivec2(reflect101(p.x + dx, last.x), reflect101(p.y + dy, last.y)), 0).r;
    }
  }
  float e = sum / 9.0 * inverseSigma;
  confidence = vec4(texelFetch(difference, p, 0).g * exp(-(e * e)), 0.0, 0.0, 0.0);
}`;

/** Whether gl's GPU is emulated on the CPU (SwiftShader, llvmpipe): there the plain-JS
 * estimator and blend (flow.js, core.js) are the faster at grid sizes, and a page should pick them;
 * a real GPU runs the passes here faster. */
export function softwareRenderer(gl) {
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  const name = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  return /swiftshader|llvmpipe|softpipe|software/i.test(name);
}

/** GLSL: a function `name(from, to)` giving the mean of `fetch` (an expression of type `type` at
 * `ivec2 at`) over the source pixels of [from, to) (to within the source), partly covered pixels
 * weighted by their share: cv2.resize INTER_AREA's mean of one output pixel. */
export const AREA_MEAN = (name, type, fetch) => `${type} ${name}(vec2 from, vec2 to) {
  ivec2 first = ivec2(floor(from));
  ivec2 last = ivec2(ceil(to)) - 1;
  ${type} sum = ${type}(0.0);
  for (int y = first.y; y <= last.y; y++) {
    float wy = min(float(y + 1), to.y) - max(float(y), from.y);
    ${type} row = ${type}(0.0);
    for (int x = first.x; x <= last.x; x++) {
      float wx = min(float(x + 1), to.x) - max(float(x), from.x);
      ivec2 at = ivec2(x, y);
      row += wx * ${fetch};
    }
    sum += wy * row;
  }
  return sum / ((to.x - from.x) * (to.y - from.y));
}`;

// cv2.resize(INTER_AREA) of a picture to the grid: each output pixel the mean of the source area it
// covers, partly covered pixels weighted by their share. Bytes in and out (RGBA8).
export const AREA = `${HEADER}
uniform sampler2D picture;
uniform vec2 scale;  // source pixels per output pixel
out vec4 colour;
${AREA_MEAN('areaMean', 'vec3', 'round(texelFetch(picture, at, 0).rgb * 255.0)')}  // whole levels: exact sums
void main() {
  vec2 from = vec2(ivec2(gl_FragCoord.xy)) * scale;
  vec2 to = min(from + scale, vec2(textureSize(picture, 0)));
  // Levels rounded half to even, as OpenCV's saturate_cast does.
  vec3 levels = roundEven(areaMean(from, to));
  colour = vec4(clamp(levels, 0.0, 255.0) / 255.0, 1.0);
}`;

export class FlowGL {
  /** gl: a WebGL2 context with float render targets (EXT_color_buffer_float). */
  constructor(gl) {
    if (!gl.getExtension('EXT_color_buffer_float')) throw new Error('WebGL2 without float render targets (EXT_color_buffer_float)');
    this.gl = gl;
    this.programs = {};
    for (const [name, source] of Object.entries({
      terms: TERMS,
      box: BOX,
      solve: SOLVE,
      resize: RESIZE_FIELD,
      difference: DIFFERENCE,
      confidence: CONFIDENCE,
      area: AREA,
    })) {
      this.programs[name] = program(gl, source);
    }
    this.targets = new Map();
    // The grey pyramids of the last few frames, uploaded; the last flow made, left on the GPU.
    this.uploaded = new Map();
    this.lastFlow = null;
    this.framebuffer = gl.createFramebuffer();
    this.vao = viewportQuad(gl);
  }

  /** flow.prepare: { gray, frameWidth, frameHeight, small } for an H x W x 3 mat (on the CPU) or
   * a picture WebGL uploads (shrunk on the GPU; only the grid-sized frame is read back). */
  prepare(frame, longSide = DEFAULT_FLOW_LONG_SIDE) {
    if (frame.data?.BYTES_PER_ELEMENT) return prepareOnCpu(frame, longSide);
    if (!Number.isInteger(longSide) || longSide < 1) {
      throw new Error(`the flow grid's long side must be a whole number of pixels >= 1, got ${longSide}`);
    }
    const { gl } = this;
    const width = frame.videoWidth || frame.displayWidth || frame.width;
    const height = frame.videoHeight || frame.displayHeight || frame.height;
    const [gw, gh] = gridSize(width, height, longSide);
    this.picture ??= gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, this.picture);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, width, height, 0, gl.RGBA, gl.UNSIGNED_BYTE, frame);
    nearest(gl);
    let target = this.targets.get(`small ${gw}x${gh}`);
    if (!target) {
      const texture = gl.createTexture();
      gl.bindTexture(gl.TEXTURE_2D, texture);
      gl.texStorage2D(gl.TEXTURE_2D, 1, gl.RGBA8, gw, gh);
      nearest(gl);
      target = { texture, width: gw, height: gh };
      this.targets.set(`small ${gw}x${gh}`, target);
    }
    const scale = [width / gw, height / gh];
    this.pass('area', [target], { picture: { texture: this.picture } }, { scale });
    const rgba = new Uint8Array(gw * gh * 4);
    gl.readBuffer(gl.COLOR_ATTACHMENT0);
    gl.readPixels(0, 0, gw, gh, gl.RGBA, gl.UNSIGNED_BYTE, rgba);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    const data = new Uint8Array(gw * gh * 3);
    for (let i = 0; i < gw * gh; i++) {
      data[3 * i] = rgba[4 * i];
      data[3 * i + 1] = rgba[4 * i + 1];
      data[3 * i + 2] = rgba[4 * i + 2];
    }
    const small = { data, height: gh, width: gw, channels: 3 };
    return { gray: rgbToGray(small), frameWidth: width, frameHeight: height, small };
  }

  /** flow.estimateFlow on the GPU: gh x gw x 2 float mat in frame pixels. */
  estimateFlow(current, reference) {
    const { width: gw, height: gh } = current.gray;
    if (reference.gray.width !== gw || reference.gray.height !== gh) {
      throw new Error(`flow between grids of different sizes: ${gw}x${gh} and ${reference.gray.width}x${reference.gray.height}`);
    }
    const cur = this.pyramid(current);
    const ref = this.pyramid(reference);
    const finest = Math.min(finestLevel(gw), cur.length - 1);
    let flow = null;
    for (let level = cur.length - 1; level >= finest; level--) {
      const { width: w, height: h } = cur[level];
      const a = this.target(`flow a ${w}x${h}`, w, h);
      const b = this.target(`flow b ${w}x${h}`, w, h);
      if (flow === null) {
        this.clear(a);
      } else {
        this.resize(flow, a, [w / flow.width, h / flow.height]);
      }
      let [now, next] = [a, b];
      for (let step = 0; step < LK_ITERATIONS; step++) {
        this.step(cur[level], ref[level], now, next);
        [now, next] = [next, now];
      }
      // Smoothed before the next level, as flow.js does.
      const r = FLOW_SMOOTHING >> 1;
      const spare = this.target(`spare ${w}x${h}`, w, h);
      const scale = 1 / FLOW_SMOOTHING;
      this.pass('box', [next, spare], { first: now, second: now }, { step: [1, 0], radius: r, scale });
      this.pass('box', [now, spare], { first: next, second: next }, { step: [0, 1], radius: r, scale });
      flow = now;
    }
    const out = this.target(`grid flow ${gw}x${gh}`, gw, gh);
    this.resize(flow, out, [current.frameWidth / flow.width, current.frameHeight / flow.height]);
    const result = this.read(out, 2);
    this.lastFlow = result;
    this.gl.bindFramebuffer(this.gl.FRAMEBUFFER, null);
    return result;
  }

  /** flow.photometricConfidence on the GPU: gh x gw x 1 float mat in [0, 1]. */
  photometricConfidence(current, reference, flow, sigma = DEFAULT_PHOTOMETRIC_SIGMA) {
    const { width: gw, height: gh } = current.gray;
    const [cur] = this.pyramid(current);
    const [ref] = this.pyramid(reference);
    let field = this.targets.get(`grid flow ${gw}x${gh}`);
    if (flow !== this.lastFlow || !field) {
      this.givenFlow ??= this.gl.createTexture();
      field = { texture: this.givenFlow, width: gw, height: gh };
      upload(this.gl, field.texture, gw, gh, 2, flow.data);
    }
    const difference = this.target(`difference ${gw}x${gh}`, gw, gh);
    const confidence = this.target(`confidence ${gw}x${gh}`, gw, gh);
    const toGrid = frameToGridScale(gw, gh, current.frameWidth, current.frameHeight);
    this.pass('difference', [difference], { current: cur, reference: ref, flow: field }, { toGrid });
    this.pass('confidence', [confidence], { difference }, { inverseSigma: Math.fround(1 / sigma) });
    const result = this.read(confidence, 1);
    this.gl.bindFramebuffer(this.gl.FRAMEBUFFER, null);
    return result;
  }

  /** One Gauss-Newton step at a level: flow `now` refined into `next`. */
  step(cur, ref, now, next) {
    const { width: w, height: h } = cur;
    const tensor = this.target(`tensor ${w}x${h}`, w, h);
    const rest = this.target(`rest ${w}x${h}`, w, h);
    const rowTensor = this.target(`row tensor ${w}x${h}`, w, h);
    const rowRest = this.target(`row rest ${w}x${h}`, w, h);
    this.pass('terms', [tensor, rest], { current: cur, reference: ref, flow: now });
    this.pass('box', [rowTensor, rowRest], { first: tensor, second: rest }, { step: [1, 0], radius: LK_RADIUS, scale: 1 });
    this.pass('solve', [next], { tensor: rowTensor, rest: rowRest, flow: now });
  }

  resize(source, destination, gain) {
    const ratio = [source.width / destination.width, source.height / destination.height].map(Math.fround);
    this.pass('resize', [destination], { source }, { gain, ratio });
  }

  /** A frame's grey pyramid as float textures (uploaded once per frame). */
  pyramid(frame) {
    let levels = this.uploaded.get(frame);
    const { gl } = this;
    if (levels) {
      // Most recently used last: a key used by every frame stays.
      this.uploaded.delete(frame);
      this.uploaded.set(frame, levels);
    } else {
      levels = pyramidOf(frame).map((level) => {
        const texture = gl.createTexture();
        upload(gl, texture, level.width, level.height, 1, level.data);
        return { texture, width: level.width, height: level.height };
      });
      this.uploaded.set(frame, levels);
      // A live stream uses a frame in a flow or two: the oldest frames' textures are freed.
      for (const [old, textures] of this.uploaded) {
        if (this.uploaded.size <= MAX_UPLOADED_FRAMES) break;
        textures.forEach((level) => gl.deleteTexture(level.texture));
        this.uploaded.delete(old);
      }
    }
    return levels;
  }

  /** A float RGBA render target, made once per name and size. */
  target(name, width, height) {
    let target = this.targets.get(name);
    if (!target) {
      const { gl } = this;
      const texture = gl.createTexture();
      gl.bindTexture(gl.TEXTURE_2D, texture);
      gl.texStorage2D(gl.TEXTURE_2D, 1, gl.RGBA32F, width, height);
      nearest(gl);
      target = { texture, width, height };
      this.targets.set(name, target);
    }
    return target;
  }

  clear(target) {
    const { gl } = this;
    this.bindOutputs([target]);
    gl.clearColor(0, 0, 0, 0);
    gl.clear(gl.COLOR_BUFFER_BIT);
  }

  bindOutputs(outputs) {
    const { gl } = this;
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.framebuffer);
    outputs.forEach((t, k) => gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0 + k, gl.TEXTURE_2D, t.texture, 0));
    for (let k = outputs.length; k < 2; k++) gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0 + k, gl.TEXTURE_2D, null, 0);
    gl.drawBuffers(outputs.map((_, k) => gl.COLOR_ATTACHMENT0 + k));
    gl.viewport(0, 0, outputs[0].width, outputs[0].height);
  }

  /** Draw program `name` over outputs (one or two targets of one size). */
  pass(name, outputs, textures, uniforms = {}) {
    const { gl } = this;
    const { program: p, locations } = this.programs[name];
    this.bindOutputs(outputs);
    gl.useProgram(p);
    gl.bindVertexArray(this.vao);
    setInputs(gl, locations, textures, uniforms, INT_UNIFORMS);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  }

  /** A target's first `channels` channels as an h x w x channels float mat. */
  read(target, channels) {
    const { gl } = this;
    const { width, height } = target;
    this.bindOutputs([target]);
    gl.readBuffer(gl.COLOR_ATTACHMENT0);
    const rgba = new Float32Array(width * height * 4);
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.FLOAT, rgba);
    const data = new Float32Array(width * height * channels);
    for (let i = 0; i < width * height; i++) for (let c = 0; c < channels; c++) data[i * channels + c] = rgba[4 * i + c];
    return { data, height, width, channels };
  }
}

function upload(gl, texture, width, height, channels, data) {
  gl.bindTexture(gl.TEXTURE_2D, texture);
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
  const floats = data instanceof Float32Array ? data : Float32Array.from(data);
  if (channels === 1) {
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.R32F, width, height, 0, gl.RED, gl.FLOAT, floats);
  } else {
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RG32F, width, height, 0, gl.RG, gl.FLOAT, floats);
  }
  nearest(gl);
}

/** A linked program and a cached lookup of its uniforms. */
export function program(gl, fragment) {
  const p = link(gl, VERTEX, fragment, { corner: 0 });
  const cache = new Map();
  const locations = (name) => {
    if (!cache.has(name)) cache.set(name, gl.getUniformLocation(p, name));
    return cache.get(name);
  };
  return { program: p, locations };
}
