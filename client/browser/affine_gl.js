// The full-size pass of affine.js in a WebGL2 shader: a frame under a grid's colour map, with the
// frame's own luma detail (affine.apply_detail), or under one global 3x4 map (the closed form,
// core.apply_colour_transform). The grid-sized work (offsets and gains, a few thousand cells) stays
// in JS; the shader does the per-pixel work at full size.
//
// The canvas shows the frame upright; readFrame() gives it back as an H x W x 3 uint8 mat, row 0 at
// the top, for tests and the automation hook.
//
// A camera frame is uploaded once and then both shrunk to the planning grid on the GPU (shrink():
// cv2.resize INTER_AREA, only the grid-sized pixels read back) and rendered from the same texture:
// its full-size pixels never pass through JS, and it is not uploaded twice. uploadVideoFrame() takes
// a VideoFrame's 4:2:0 planes as they are (a memory copy) and turns them into RGB in a shader: on
// SwiftShader the browser's own upload of a 640x360 video frame (upload()) costs about 25 ms, the
// planes' copy and upload about 2.4 ms.

import { offsetsAndGains } from './affine.js';
import { AREA } from './flow_gl.js';
import { link, nearest } from './gl.js';

const VERTEX = `#version 300 es
in vec2 corner;
void main() { gl_Position = vec4(corner, 0.0, 1.0); }`;

// Bilinear reads of grid fields with pixel centres aligned and edges clamped (cv2.resize's
// INTER_LINEAR): by the texture unit's own filtering where float textures may be filtered
// (one read a field, the cheap path on an emulated GPU), else by texelFetch.
const FRAGMENT = (filtered) => `#version 300 es
precision highp float;
precision highp int;
uniform highp sampler2D frame;    // RGBA8 (levels / 255, exact), row 0 = top of the picture
uniform highp sampler2D offsets;  // grid RGB32F (RGBA16F): offset_c in levels
uniform highp sampler2D gains;    // grid RGB32F (RGBA16F): gain_c, the map's response to grey
uniform int mode;                 // 0: map with detail; 1: global transform
uniform mat3 matrix;              // global transform's gains (columns: input R, G, B)
uniform vec3 bias;                // global transform's offset, in levels
uniform ivec2 size;               // frame width, height
out vec4 colour;

vec3 gridAt(highp sampler2D field, vec2 pixel) {
${
  filtered
    ? `  return texture(field, (pixel + 0.5) / vec2(size)).rgb;`
    : `  ivec2 grid = textureSize(field, 0);
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
  return top * (1.0 - f.y) + bottom * f.y;`
}
}

void main() {
  ivec2 pixel = ivec2(int(gl_FragCoord.x), size.y - 1 - int(gl_FragCoord.y));
  uvec3 rgb = uvec3(texelFetch(frame, pixel, 0).rgb * 255.0 + 0.5);
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

// A camera frame's planes (VideoFrame.copyTo: NV12 or I420, 8 bits) to RGBA8 levels: the browser's
// own video upload converts on the CPU and costs ten times as much on an emulated GPU.
const YUV = `#version 300 es
precision highp float;
uniform sampler2D luma;    // R8, row 0 = top
uniform sampler2D chromaU; // RG8 (NV12: U, V) or R8 (I420: U), half size, filtered
uniform sampler2D chromaV; // R8 (I420: V)
uniform bool interleaved;
uniform mat3 toRgb;        // columns: Y, U, V (levels / 255) -> R, G, B (levels / 255)
uniform vec3 lift;
out vec4 colour;
void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  vec2 at = (vec2(p) + 0.5) / vec2(textureSize(luma, 0));
  vec2 uv = interleaved ? texture(chromaU, at).rg : vec2(texture(chromaU, at).r, texture(chromaV, at).r);
  vec3 rgb = toRgb * vec3(texelFetch(luma, p, 0).r, uv) + lift;
  colour = vec4(clamp(floor(rgb * 255.0 + 0.5), 0.0, 255.0) / 255.0, 1.0);
}`;

/** [toRgb (column-major mat3), lift] for a VideoFrame's colour space, on levels / 255. */
export function yuvToRgb(colorSpace) {
  const matrix = colorSpace?.matrix ?? 'smpte170m';
  const [kr, kb] = matrix === 'bt709' ? [0.2126, 0.0722] : matrix === 'bt2020-ncl' ? [0.2627, 0.0593] : [0.299, 0.114];
  const kg = 1 - kr - kb;
  const full = colorSpace?.fullRange === true;
  const ys = full ? 1 : 255 / 219;
  const cs = full ? 1 : 255 / 224;
  const rv = 2 * (1 - kr) * cs;
  const bu = 2 * (1 - kb) * cs;
  const gu = -((2 * (1 - kb) * kb) / kg) * cs;
  const gv = -((2 * (1 - kr) * kr) / kg) * cs;
  const y0 = full ? 0 : 16 / 255;
  const c0 = 128 / 255;
  // rgb = ys (y - y0) + [rv (v - c0), gu (u - c0) + gv (v - c0), bu (u - c0)]
  const columns = [ys, ys, ys, 0, gu, bu, rv, gv, 0];
  const lift = [-ys * y0 - rv * c0, -ys * y0 - (gu + gv) * c0, -ys * y0 - bu * c0];
  return [columns, lift];
}

export class AffineApplier {
  /** gl: a WebGL2 context (its canvas is resized to each frame). */
  constructor(gl) {
    this.gl = gl;
    // Float grids filtered by the texture unit where the GPU allows it (OES_texture_float_linear).
    this.filtered = Boolean(gl.getExtension('OES_texture_float_linear'));
    this.program = link(gl, VERTEX, FRAGMENT(this.filtered));
    this.uniforms = Object.fromEntries(
      ['frame', 'offsets', 'gains', 'mode', 'matrix', 'bias', 'size'].map((n) => [n, gl.getUniformLocation(this.program, n)]),
    );
    this.textures = { frame: gl.createTexture(), offsets: gl.createTexture(), gains: gl.createTexture() };
    this.area = link(gl, VERTEX, AREA, { corner: gl.getAttribLocation(this.program, 'corner') });
    this.areaUniforms = { picture: gl.getUniformLocation(this.area, 'picture'), scale: gl.getUniformLocation(this.area, 'scale') };
    this.framebuffer = gl.createFramebuffer();
    this.smallTarget = null;
    this.yuv = link(gl, VERTEX, YUV, { corner: gl.getAttribLocation(this.program, 'corner') });
    this.yuvUniforms = Object.fromEntries(
      ['luma', 'chromaU', 'chromaV', 'interleaved', 'toRgb', 'lift'].map((n) => [n, gl.getUniformLocation(this.yuv, n)]),
    );
    this.planes = [gl.createTexture(), gl.createTexture(), gl.createTexture()];
    this.planeBuffer = null;
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

  /** Uploads a picture WebGL takes (a video, canvas, ImageBitmap, ImageData) or an H x W x 3 uint8
   * mat once: the handle returned stands for it in shrink(), applyDetail() and
   * applyColourTransform() until the next upload. */
  upload(frame) {
    const { gl } = this;
    const isMat = Boolean(frame.data?.BYTES_PER_ELEMENT);
    const width = frame.videoWidth || frame.displayWidth || frame.width;
    const height = frame.videoHeight || frame.displayHeight || frame.height;
    if (this.frameSize) {
      // The frame texture was a render target of fixed size (uploadVideoFrame): a new one.
      gl.deleteTexture(this.textures.frame);
      this.textures.frame = gl.createTexture();
      this.frameSize = null;
    }
    gl.bindTexture(gl.TEXTURE_2D, this.textures.frame);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    // Pictures are taken as their bytes: no colour-space conversion, no premultiplied alpha.
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    const pixels = isMat ? rgbaOf(frame) : frame;
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, width, height, 0, gl.RGBA, gl.UNSIGNED_BYTE, pixels);
    nearest(gl);
    this.uploaded = { uploaded: true, width, height };
    return this.uploaded;
  }

  /** upload() for a camera frame (a VideoFrame, which the caller closes): its planes copied out
   * (NV12 or I420) and turned into RGB on the GPU. Other formats take upload()'s path. */
  async uploadVideoFrame(frame) {
    const { gl } = this;
    const { format } = frame;
    const rect = frame.visibleRect;
    if (!['NV12', 'I420'].includes(format) || !rect || rect.x % 2 || rect.y % 2) return this.upload(frame);
    const size = frame.allocationSize();
    if (!this.planeBuffer || this.planeBuffer.length < size) this.planeBuffer = new Uint8Array(size);
    const buffer = this.planeBuffer.subarray(0, size);
    const layout = await frame.copyTo(buffer);
    const nv12 = format === 'NV12';
    const cw = Math.ceil(rect.width / 2);
    const ch = Math.ceil(rect.height / 2);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    const plane = (texture, k, w, h, channels, filter) => {
      gl.bindTexture(gl.TEXTURE_2D, texture);
      gl.pixelStorei(gl.UNPACK_ROW_LENGTH, layout[k].stride / channels);
      const [internal, type] = channels === 2 ? [gl.RG8, gl.RG] : [gl.R8, gl.RED];
      gl.texImage2D(gl.TEXTURE_2D, 0, internal, w, h, 0, type, gl.UNSIGNED_BYTE, buffer.subarray(layout[k].offset));
      nearest(gl);
      if (filter) {
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
      }
    };
    plane(this.planes[0], 0, rect.width, rect.height, 1, false);
    plane(this.planes[1], 1, cw, ch, nv12 ? 2 : 1, true);
    if (!nv12) plane(this.planes[2], 2, cw, ch, 1, true);
    gl.pixelStorei(gl.UNPACK_ROW_LENGTH, 0);
    // The converted frame: the frame texture, made a render target of the frame's size.
    if (this.frameSize?.[0] !== rect.width || this.frameSize?.[1] !== rect.height) {
      this.textures.frame = gl.createTexture();
      gl.bindTexture(gl.TEXTURE_2D, this.textures.frame);
      gl.texStorage2D(gl.TEXTURE_2D, 1, gl.RGBA8, rect.width, rect.height);
      nearest(gl);
      this.frameSize = [rect.width, rect.height];
    }
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, this.textures.frame, 0);
    gl.drawBuffers([gl.COLOR_ATTACHMENT0]);
    gl.viewport(0, 0, rect.width, rect.height);
    gl.useProgram(this.yuv);
    gl.bindVertexArray(this.vao);
    ['luma', 'chromaU', 'chromaV'].forEach((name, unit) => {
      gl.activeTexture(gl.TEXTURE0 + unit);
      gl.bindTexture(gl.TEXTURE_2D, this.planes[unit]);
      gl.uniform1i(this.yuvUniforms[name], unit);
    });
    const [toRgb, lift] = yuvToRgb(frame.colorSpace);
    gl.uniform1i(this.yuvUniforms.interleaved, nv12 ? 1 : 0);
    gl.uniformMatrix3fv(this.yuvUniforms.toRgb, false, new Float32Array(toRgb));
    gl.uniform3fv(this.yuvUniforms.lift, new Float32Array(lift));
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    this.uploaded = { uploaded: true, width: rect.width, height: rect.height };
    return this.uploaded;
  }

  /** The uploaded frame shrunk to width x height (cv2.resize INTER_AREA, on the GPU), as an
   * H x W x 3 uint8 mat: only these pixels are read back. */
  shrink(width, height) {
    const { gl } = this;
    if (!this.uploaded) throw new Error('shrink() needs a frame upload()ed first');
    if (this.smallTarget?.width !== width || this.smallTarget?.height !== height) {
      if (this.smallTarget) gl.deleteTexture(this.smallTarget.texture);
      const texture = gl.createTexture();
      gl.bindTexture(gl.TEXTURE_2D, texture);
      gl.texStorage2D(gl.TEXTURE_2D, 1, gl.RGBA8, width, height);
      nearest(gl);
      this.smallTarget = { texture, width, height };
    }
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, this.smallTarget.texture, 0);
    gl.drawBuffers([gl.COLOR_ATTACHMENT0]);
    gl.viewport(0, 0, width, height);
    gl.useProgram(this.area);
    gl.bindVertexArray(this.vao);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, this.textures.frame);
    gl.uniform1i(this.areaUniforms.picture, 0);
    gl.uniform2f(this.areaUniforms.scale, this.uploaded.width / width, this.uploaded.height / height);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    const rgba = new Uint8Array(width * height * 4);
    gl.readBuffer(gl.COLOR_ATTACHMENT0);
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, rgba);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    const data = new Uint8Array(width * height * 3);
    for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
      data[j] = rgba[i];
      data[j + 1] = rgba[i + 1];
      data[j + 2] = rgba[i + 2];
    }
    return { data, height, width, channels: 3 };
  }

  /** The canvas's pixels as an H x W x 3 uint8 mat, row 0 at the top. */
  readFrame() {
    const { gl } = this;
    const { drawingBufferWidth: width, drawingBufferHeight: height } = gl;
    const rgba = new Uint8Array(width * height * 4);
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, rgba);
    const data = new Uint8Array(width * height * 3);
    for (let y = 0, j = 0; y < height; y++) {
      for (let i = (height - 1 - y) * width * 4, end = i + width * 4; i < end; i += 4, j += 3) {
        data[j] = rgba[i];
        data[j + 1] = rgba[i + 1];
        data[j + 2] = rgba[i + 2];
      }
    }
    return { data, height, width, channels: 3 };
  }

  uploadGrid(texture, data, width, height) {
    const { gl } = this;
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGB32F, width, height, 0, gl.RGB, gl.FLOAT, data);
    nearest(gl);
    if (this.filtered) {
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
    }
  }

  draw(frame, mode) {
    const { gl } = this;
    const { width, height } = frame.uploaded ? frame : this.upload(frame);
    if (gl.canvas.width !== width || gl.canvas.height !== height) {
      gl.canvas.width = width;
      gl.canvas.height = height;
    }
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

