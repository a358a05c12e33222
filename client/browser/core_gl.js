// core.js's per-frame grid work in WebGL2: each key's colour map moved along the flow, the keys'
// confidences smoothed and turned into weights, and the maps blended.
//
// Interface (the same as core.js's blendMaps, so session.js or a page picks either):
//   const coreGl = new CoreGL(gl);   // gl: a WebGL2 context (may be affine_gl.js's or flow_gl.js's)
//   const coeffs = coreGl.blendMaps(index, prev, next, frameWidth, frameHeight, currentSmall, colourTransform);
// prev, next: { key, flow, confidence } links as core.blendMaps takes them (next may be null);
// the answer is the grid x 12 map core.blendMaps gives. The blend is read back and the few
// untrusted cells are filled on the CPU (core.finishBlend, as core.js fills them). A key's map is
// uploaded once and kept while the key is among the last MAX_KEYS used. Needs
// EXT_color_buffer_float. The default framebuffer is bound again after each call.
//
// A map's 12 coefficients and the guide luma (13 channels) travel as four RGBA32F textures; the
// blend's 16th channel carries the trust (the larger of the smoothed confidences).

import { program } from './flow_gl.js';
import { CONFIDENCE_BLUR, CONFIDENCE_FLOOR, finishBlend, mapWithGuide } from './core.js';
import { gaussianKernel } from './cv.js';
import { nearest, setInputs, viewportQuad } from './gl.js';
import { frameToGridScale, resizeField } from './grids.js';

export const MAX_KEYS = 3;
// The shaders' int-typed uniforms (the rest are float).
const INT_UNIFORMS = new Set(['step', 'twoKeys']);

const HEADER = `#version 300 es
precision highp float;
precision highp int;
precision highp sampler2D;
`;

// cv2.GaussianBlur of the two confidences (R: prev, G: next) along one axis, borders reflected;
// the kernel written into the shader as constants (a uniform array indexed in a loop is several
// times slower on SwiftShader).
function gaussSource(kernel) {
  const radius = (kernel.length - 1) >> 1;
  const taps = Array.from(kernel, (w, k) => {
    const offset = k - radius;
    return `  sum += ${w.toPrecision(9)} * texelFetch(source, reflected(p + ${offset} * step, last), 0);`;
  });
  return `${HEADER}
uniform sampler2D source;
uniform ivec2 step;
out vec4 blurred;
int reflect101(int i, int last) { return last == 0 ? 0 : i < 0 ? -i : i > last ? 2 * last - i : i; }
ivec2 reflected(ivec2 q, ivec2 last) { return ivec2(reflect101(q.x, last.x), reflect101(q.y, last.y)); }
void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  ivec2 last = textureSize(source, 0) - 1;
  vec4 sum = vec4(0.0);
${taps.join('\n')}
  blurred = sum;
}`;
}

// Both keys' maps sampled at x + flow(x) (cv2.remap's bilinear at 1/32 pixel, borders
// replicated), weighted by confidence and time, and blended.
const BLEND = `${HEADER}
uniform sampler2D prev0;
uniform sampler2D prev1;
uniform sampler2D prev2;
uniform sampler2D prev3;
uniform sampler2D next0;
uniform sampler2D next1;
uniform sampler2D next2;
uniform sampler2D next3;
uniform sampler2D flows;       // prev flow in xy, next flow in zw, frame pixels
uniform sampler2D confidence;  // prev in r, next in g, smoothed
uniform vec2 toGrid;
uniform float alpha;
uniform bool twoKeys;
layout(location = 0) out vec4 out0;
layout(location = 1) out vec4 out1;
layout(location = 2) out vec4 out2;
layout(location = 3) out vec4 out3;

struct Taps { ivec2 a; ivec2 b; ivec2 c; ivec2 d; vec4 w; };

Taps tapsAt(vec2 at, ivec2 last) {
  ivec2 q = ivec2(roundEven(at * 32.0));
  ivec2 s = q >> 5;
  vec2 f = vec2(q & 31) / 32.0;
  ivec2 s0 = clamp(s, ivec2(0), last);
  ivec2 s1 = clamp(s + 1, ivec2(0), last);
  Taps t;
  t.a = s0;
  t.b = ivec2(s1.x, s0.y);
  t.c = ivec2(s0.x, s1.y);
  t.d = s1;
  t.w = vec4((1.0 - f.y) * (1.0 - f.x), (1.0 - f.y) * f.x, f.y * (1.0 - f.x), f.y * f.x);
  return t;
}

vec4 sampleTaps(sampler2D m, Taps t) {
  return texelFetch(m, t.a, 0) * t.w.x + texelFetch(m, t.b, 0) * t.w.y + texelFetch(m, t.c, 0) * t.w.z
    + texelFetch(m, t.d, 0) * t.w.w;
}

void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  ivec2 last = textureSize(prev0, 0) - 1;
  vec4 flow = texelFetch(flows, p, 0);
  vec2 conf = texelFetch(confidence, p, 0).rg;
  Taps tp = tapsAt(vec2(p) + flow.xy * toGrid, last);
  vec4 p0 = sampleTaps(prev0, tp);
  vec4 p1 = sampleTaps(prev1, tp);
  vec4 p2 = sampleTaps(prev2, tp);
  vec4 p3 = sampleTaps(prev3, tp);
  float trust = conf.r;
  if (twoKeys) {
    Taps tn = tapsAt(vec2(p) + flow.zw * toGrid, last);
    float wPrev = (conf.r + ${CONFIDENCE_FLOOR.toFixed(4)} * (1.0 - conf.g) * (1.0 - conf.g)) * (1.0 - alpha);
    float wNext = (conf.g + ${CONFIDENCE_FLOOR.toFixed(4)} * (1.0 - conf.r) * (1.0 - conf.r)) * alpha;
    float share = wNext / (wPrev + wNext);
    p0 += (sampleTaps(next0, tn) - p0) * share;
    p1 += (sampleTaps(next1, tn) - p1) * share;
    p2 += (sampleTaps(next2, tn) - p2) * share;
    p3 += (sampleTaps(next3, tn) - p3) * share;
    trust = max(conf.r, conf.g);
  }
  out0 = p0;
  out1 = p1;
  out2 = p2;
  out3 = vec4(p3.xyz, trust);
}`;

export class CoreGL {
  /** gl: a WebGL2 context with float render targets (EXT_color_buffer_float). */
  constructor(gl) {
    if (!gl.getExtension('EXT_color_buffer_float')) throw new Error('WebGL2 without float render targets (EXT_color_buffer_float)');
    this.gl = gl;
    this.gauss = new Map();
    this.blend = program(gl, BLEND);
    this.framebuffer = gl.createFramebuffer();
    this.keys = new Map();
    this.targets = new Map();
    this.inputs = { flows: gl.createTexture(), confidence: gl.createTexture() };
    this.vao = viewportQuad(gl);
  }

  /** core.blendMaps with the warp, weights and blend on the GPU. */
  blendMaps(index, prev, next, frameWidth, frameHeight, currentSmall = null, colourTransform = null) {
    const { gl } = this;
    const { height: gh, width: gw } = prev.key.localMap;
    const n = gw * gh;
    const keys = next ? [prev.key, next.key] : [prev.key];
    const guided = currentSmall !== null && keys.every((key) => key.guideLuma);
    const channels = guided ? 13 : 12;
    const mapsPrev = this.keyTextures(prev.key, guided);
    const mapsNext = next ? this.keyTextures(next.key, guided) : mapsPrev;
    let alpha = 0;
    if (next) {
      const span = next.key.index - prev.key.index;
      alpha = span > 0 ? (index - prev.key.index) / span : 0;
    }
    // Flows and confidences on the map's grid, packed two by two.
    const flows = new Float32Array(4 * n);
    const confidences = new Float32Array(4 * n).fill(1);
    [prev, next].forEach((link, k) => {
      if (!link) return;
      const f = resizeField(link.flow, gw, gh).data;
      for (let i = 0; i < n; i++) {
        flows[4 * i + 2 * k] = f[2 * i];
        flows[4 * i + 2 * k + 1] = f[2 * i + 1];
      }
      if (link.confidence) {
        const c = resizeField(link.confidence, gw, gh).data;
        for (let i = 0; i < n; i++) confidences[4 * i + k] = c[i];
      }
    });
    uploadRgba(gl, this.inputs.flows, gw, gh, flows);
    uploadRgba(gl, this.inputs.confidence, gw, gh, confidences);
    let confidence = { texture: this.inputs.confidence, width: gw, height: gh };
    const sigma = (CONFIDENCE_BLUR * Math.max(gw, gh)) / 320;
    // core.confidenceOnGrid: links without a confidence are all ones, which the blur keeps.
    if (sigma >= 0.5) {
      if (!this.gauss.has(sigma)) this.gauss.set(sigma, program(gl, gaussSource(Float32Array.from(gaussianKernel(sigma)))));
      const gauss = this.gauss.get(sigma);
      const across = this.target('across', gw, gh, 1)[0];
      const smoothed = this.target('smoothed', gw, gh, 1)[0];
      this.draw(gauss, [across], { source: confidence }, { step: [1, 0] });
      this.draw(gauss, [smoothed], { source: across }, { step: [0, 1] });
      confidence = smoothed;
    }
    const outputs = this.target('blend', gw, gh, 4);
    const textures = { flows: { texture: this.inputs.flows }, confidence };
    mapsPrev.forEach((t, k) => (textures[`prev${k}`] = { texture: t }));
    mapsNext.forEach((t, k) => (textures[`next${k}`] = { texture: t }));
    const toGrid = frameToGridScale(gw, gh, frameWidth, frameHeight);
    this.draw(this.blend, outputs, textures, { toGrid, alpha: Math.fround(alpha), twoKeys: next ? 1 : 0 });
    const planes = outputs.map((t) => this.read(t));
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    const blended = { data: new Float32Array(n * channels), height: gh, width: gw, channels };
    const trust = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < channels; c++) blended.data[i * channels + c] = planes[c >> 2][4 * i + (c & 3)];
      trust[i] = planes[3][4 * i + 3];
    }
    return finishBlend(blended, trust, alpha, prev, next, guided ? currentSmall : null, colourTransform);
  }

  /** A key's map (with its guide luma when guided) as four RGBA32F textures, uploaded once. */
  keyTextures(key, guided) {
    const id = guided ? 'guided' : 'plain';
    let held = this.keys.get(key);
    if (!held) {
      held = {};
      this.keys.set(key, held);
      for (const [old, textures] of this.keys) {
        if (this.keys.size <= MAX_KEYS) break;
        Object.values(textures)
          .flat()
          .forEach((t) => this.gl.deleteTexture(t));
        this.keys.delete(old);
      }
    }
    if (!held[id]) {
      const map = guided ? mapWithGuide(key) : key.localMap;
      const { width, height, channels } = map;
      const n = width * height;
      held[id] = [0, 1, 2, 3].map((k) => {
        const plane = new Float32Array(4 * n);
        for (let i = 0; i < n; i++) {
          for (let c = 0; c < 4 && 4 * k + c < channels; c++) plane[4 * i + c] = map.data[i * channels + 4 * k + c];
        }
        const texture = this.gl.createTexture();
        uploadRgba(this.gl, texture, width, height, plane);
        return texture;
      });
    }
    return held[id];
  }

  /** `count` RGBA32F render targets of one size, made once per name and size. */
  target(name, width, height, count) {
    const id = `${name} ${width}x${height}`;
    let targets = this.targets.get(id);
    if (!targets) {
      const { gl } = this;
      targets = Array.from({ length: count }, () => {
        const texture = gl.createTexture();
        gl.bindTexture(gl.TEXTURE_2D, texture);
        gl.texStorage2D(gl.TEXTURE_2D, 1, gl.RGBA32F, width, height);
        nearest(gl);
        return { texture, width, height };
      });
      this.targets.set(id, targets);
    }
    return targets;
  }

  draw({ program: p, locations }, outputs, textures, uniforms) {
    const { gl } = this;
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.framebuffer);
    for (let k = 0; k < 4; k++) {
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0 + k, gl.TEXTURE_2D, outputs[k]?.texture ?? null, 0);
    }
    gl.drawBuffers(outputs.map((_, k) => gl.COLOR_ATTACHMENT0 + k));
    gl.viewport(0, 0, outputs[0].width, outputs[0].height);
    gl.useProgram(p);
    gl.bindVertexArray(this.vao);
    setInputs(gl, locations, textures, uniforms, INT_UNIFORMS);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  }

  read(target) {
    const { gl } = this;
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, target.texture, 0);
    for (let k = 1; k < 4; k++) gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0 + k, gl.TEXTURE_2D, null, 0);
    gl.readBuffer(gl.COLOR_ATTACHMENT0);
    const rgba = new Float32Array(target.width * target.height * 4);
    gl.readPixels(0, 0, target.width, target.height, gl.RGBA, gl.FLOAT, rgba);
    return rgba;
  }
}


function uploadRgba(gl, texture, width, height, data) {
  gl.bindTexture(gl.TEXTURE_2D, texture);
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA32F, width, height, 0, gl.RGBA, gl.FLOAT, data);
  nearest(gl);
}

