// The full-size pass of affine.js in a WebGL2 shader: a frame under a grid's colour map, with the
// frame's own luma detail (affine.apply_detail), or under one global 3x4 map (the closed form,
// core.apply_colour_transform). The grid-sized work (offsets and gains, a few thousand cells) stays
// in JS; the shader does the per-pixel work at full size.
//
// The canvas shows the frame upright; readFrame() gives it back as an H x W x 3 uint8 mat, row 0 at
// the top, for tests and the automation hook.

import { offsetsAndGains } from './affine.js';
import { link, nearest } from './gl.js';

const VERTEX = `#version 300 es
in vec2 corner;
void main() { gl_Position = vec4(corner, 0.0, 1.0); }`;

// Bilinear reads of grid fields with pixel centres aligned and edges clamped (cv2.resize's
// INTER_LINEAR), by texelFetch: float textures need no filtering extension this way.
const FRAGMENT = `#version 300 es
precision highp float;
precision highp int;
uniform highp usampler2D frame;   // RGBA8UI, row 0 = top of the picture
uniform highp sampler2D offsets;  // grid RGB32F: offset_c in levels
uniform highp sampler2D gains;    // grid RGB32F: gain_c, the map's response to grey
uniform int mode;                 // 0: map with detail; 1: global transform
uniform mat3 matrix;              // global transform's gains (columns: input R, G, B)
uniform vec3 bias;                // global transform's offset, in levels
uniform ivec2 size;               // frame width, height
out vec4 colour;

vec3 gridAt(highp sampler2D field, vec2 pixel) {
  ivec2 grid = textureSize(field, 0);
  vec2 scale = vec2(grid) / vec2(size);
  vec2 at = (pixel + 0.5) * scale - 0.5;
  vec2 base = floor(at);
  vec2 f = at - base;
  ivec2 i0 = ivec2(base);
  vec2 edge = max(vec2(lessThan(i0, ivec2(0))), vec2(greaterThanEqual(i0, grid - 1)));
  f *= 1.0 - edge;
  i0 = clamp(i0, ivec2(0), grid - 1);
  ivec2 i1 = min(i0 + 1, grid - 1);
  vec3 top = texelFetch(field, i0, 0).rgb * (1.0 - f.x) + texelFetch(field, ivec2(i1.x, i0.y), 0).rgb * f.x;
  vec3 bottom = texelFetch(field, ivec2(i0.x, i1.y), 0).rgb * (1.0 - f.x) + texelFetch(field, i1, 0).rgb * f.x;
  return top * (1.0 - f.y) + bottom * f.y;
}

void main() {
  ivec2 pixel = ivec2(int(gl_FragCoord.x), size.y - 1 - int(gl_FragCoord.y));
  uvec3 rgb = texelFetch(frame, pixel, 0).rgb;
  vec3 value;
  if (mode == 0) {
    // OpenCV's RGB2GRAY in 15-bit fixed point, exactly.
    float luma = float((rgb.r * 9798u + rgb.g * 19235u + rgb.b * 3735u + 16384u) >> 15);
    value = gridAt(offsets, vec2(pixel)) + gridAt(gains, vec2(pixel)) * luma;
  } else {
    value = matrix * vec3(rgb) + bias;
  }
  colour = vec4(clamp(floor(value + 0.5), 0.0, 255.0) / 255.0, 1.0);
}`;

export class AffineApplier {
  /** gl: a WebGL2 context (its canvas is resized to each frame). */
  constructor(gl) {
    this.gl = gl;
    this.program = link(gl, VERTEX, FRAGMENT);
    this.uniforms = Object.fromEntries(
      ['frame', 'offsets', 'gains', 'mode', 'matrix', 'bias', 'size'].map((n) => [n, gl.getUniformLocation(this.program, n)]),
    );
    this.textures = { frame: gl.createTexture(), offsets: gl.createTexture(), gains: gl.createTexture() };
    const quad = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, quad);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    this.vao = gl.createVertexArray();
    gl.bindVertexArray(this.vao);
    const corner = gl.getAttribLocation(this.program, 'corner');
    gl.enableVertexAttribArray(corner);
    gl.vertexAttribPointer(corner, 2, gl.FLOAT, false, 0, 0);
  }

  /** affine.applyDetail on the GPU: frame under coeffs (grid x 12 mat). frame: a uint8 H x W x 3
   * mat, or, given small (the frame at the grid's size, as flow.prepare makes it), anything WebGL
   * uploads (a video, canvas, ImageBitmap or ImageData), which then never passes through JS. */
  applyDetail(coeffs, frame, small = null) {
    if (!frame.data?.BYTES_PER_ELEMENT && !small) throw new Error('applyDetail on a picture needs it at the grid size');
    const { offsets, gains } = offsetsAndGains(coeffs, frame, small);
    this.uploadGrid(this.textures.offsets, interleave(offsets), coeffs.width, coeffs.height);
    this.uploadGrid(this.textures.gains, interleave(gains), coeffs.width, coeffs.height);
    this.draw(frame, 0);
  }

  /** core.applyColourTransform on the GPU: one 3x4 map (rows, on [0, 1] colours) for every pixel. */
  applyColourTransform(frame, transform) {
    const { gl } = this;
    gl.useProgram(this.program);
    // mat3 uniforms are column-major: column k holds the gains of input channel k.
    const columns = [0, 1, 2].flatMap((k) => [0, 1, 2].map((c) => transform[c][k]));
    gl.uniformMatrix3fv(this.uniforms.matrix, false, new Float32Array(columns));
    gl.uniform3fv(this.uniforms.bias, new Float32Array([0, 1, 2].map((c) => transform[c][3] * 255)));
    this.draw(frame, 1);
  }

  /** The canvas's pixels as an H x W x 3 uint8 mat, row 0 at the top. */
  readFrame() {
    const { gl } = this;
    const { drawingBufferWidth: width, drawingBufferHeight: height } = gl;
    const rgba = new Uint8Array(width * height * 4);
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, rgba);
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      const from = (height - 1 - y) * width * 4;
      for (let x = 0; x < width; x++) data.set(rgba.subarray(from + 4 * x, from + 4 * x + 3), (y * width + x) * 3);
    }
    return { data, height, width, channels: 3 };
  }

  uploadGrid(texture, data, width, height) {
    const { gl } = this;
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGB32F, width, height, 0, gl.RGB, gl.FLOAT, data);
    nearest(gl);
  }

  draw(frame, mode) {
    const { gl } = this;
    const isMat = Boolean(frame.data?.BYTES_PER_ELEMENT);
    const width = frame.videoWidth || frame.displayWidth || frame.width;
    const height = frame.videoHeight || frame.displayHeight || frame.height;
    if (gl.canvas.width !== width || gl.canvas.height !== height) {
      gl.canvas.width = width;
      gl.canvas.height = height;
    }
    gl.bindTexture(gl.TEXTURE_2D, this.textures.frame);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    // Pictures are taken as their bytes: no colour-space conversion, no premultiplied alpha.
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    const pixels = isMat ? rgbaOf(frame) : frame;
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8UI, width, height, 0, gl.RGBA_INTEGER, gl.UNSIGNED_BYTE, pixels);
    nearest(gl);
    gl.useProgram(this.program);
    gl.bindVertexArray(this.vao);
    gl.viewport(0, 0, width, height);
    ['frame', 'offsets', 'gains'].forEach((name, unit) => {
      gl.activeTexture(gl.TEXTURE0 + unit);
      gl.bindTexture(gl.TEXTURE_2D, this.textures[name]);
      gl.uniform1i(this.uniforms[name], unit);
    });
    gl.uniform1i(this.uniforms.mode, mode);
    gl.uniform2i(this.uniforms.size, width, height);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  }
}

function interleave(planes) {
  const n = planes[0].length;
  const out = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[3 * i + c] = planes[c][i];
  return out;
}

function rgbaOf(frame) {
  const n = frame.width * frame.height;
  const out = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    out[4 * i] = frame.data[3 * i];
    out[4 * i + 1] = frame.data[3 * i + 1];
    out[4 * i + 2] = frame.data[3 * i + 2];
    out[4 * i + 3] = 255;
  }
  return out;
}

