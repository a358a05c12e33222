// The full-size pass of affine.js in a WebGL2 shader: a frame under a grid's colour map, with the
// frame's own luma detail (affine.apply_detail), or under one global 3x4 map (the closed form,
// core.apply_colour_transform). The grid-sized work (offsets and gains, a few thousand cells) stays
// in JS; the shader does the per-pixel work at full size.
//
// The canvas shows the frame upright; readFrame() gives it back as an H x W x 3 uint8 mat, row 0 at
// the top, for tests and the automation hook.
//
// A camera frame is uploaded once and then both shrunk to the planning grid on the GPU (shrink():
// cv2.resize INTER_AREA, only the grid-sized pixels read back) and rendered from the same upload: its
// full-size pixels never pass through JS, and it is not uploaded twice. uploadVideoFrame() takes a
// VideoFrame's 4:2:0 planes as they are (a memory copy), and every pass that reads the frame turns
// them into RGB as it reads: on SwiftShader the browser's own upload of a 640x360 video frame
// (upload()) costs about 25 ms, a pass of its own that converts the planes about 9 ms of CPU, the
// conversion inside the render pass about 1.

import { offsetsAndGains } from './affine.js';
import { copyPlanes, hasPlanes } from './camera_planes.js';
import { AREA, AREA_MEAN } from './flow_gl.js';
import { link, nearest, viewportQuad } from './gl.js';

export const VERTEX = `#version 300 es
in vec2 corner;
void main() { gl_Position = vec4(corner, 0.0, 1.0); }`;

// Bilinear reads of grid fields with pixel centres aligned and edges clamped (cv2.resize's
// INTER_LINEAR): by the texture unit's own filtering where float textures may be filtered
// (one read a field, the cheap path on an emulated GPU), else by texelFetch.
const GRID_AT = (filtered) => `vec3 gridAt(highp sampler2D field, vec2 pixel) {
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
}`;

// The frame's pixels as the passes read them, by where the frame came from: 'rgb' (an RGBA8
// texture), or a camera frame's planes, 'I420' or 'NV12' (VideoFrame.copyTo, 8 bits), turned into
// RGB levels here as a conversion pass would store them: BT.601/709/2020 by toRgb and lift, the
// chroma brought up bilinearly (centred samples), rounded and clipped to whole levels.
// greyAt is OpenCV's RGB2GRAY of those levels (15-bit fixed point). With 'luma' (a camera frame
// whose matrix's grey takes no chroma: BT.601's, whose luma weights are RGB2GRAY's), the grey comes
// from the luma plane alone, a fetch instead of three: it differs from the levels' grey by at most a
// level (their rounding), and more only where the frame's colour lies outside RGB and clips.
const SOURCE = (source, greyFromLuma) => `
uniform highp sampler2D frame;    // 'rgb': RGBA8 (levels / 255, exact), row 0 = top of the picture
uniform highp sampler2D luma;     // R8, row 0 = top
uniform highp sampler2D chromaU;  // RG8 (NV12: U, V) or R8 (I420: U), half size, filtered
uniform highp sampler2D chromaV;  // R8 (I420: V)
uniform mat3 toRgb;               // columns: Y, U, V (levels / 255) -> R, G, B (levels / 255)
uniform vec3 lift;
uniform vec2 greyOfLuma;          // 'luma': grey levels = Y (levels / 255) * x + y
uvec3 levelsAt(ivec2 pixel) {
${
  source === 'rgb'
    ? `  return uvec3(texelFetch(frame, pixel, 0).rgb * 255.0 + 0.5);`
    : `  vec2 at = (vec2(pixel) + 0.5) / vec2(textureSize(luma, 0));
  vec2 uv = ${source === 'NV12' ? 'texture(chromaU, at).rg' : 'vec2(texture(chromaU, at).r, texture(chromaV, at).r)'};
  vec3 rgb = toRgb * vec3(texelFetch(luma, pixel, 0).r, uv) + lift;
  return uvec3(clamp(floor(rgb * 255.0 + 0.5), 0.0, 255.0));`
}
}
float greyAt(ivec2 pixel) {
${
  greyFromLuma
    ? `  return clamp(floor(texelFetch(luma, pixel, 0).r * greyOfLuma.x + greyOfLuma.y + 0.5), 0.0, 255.0);`
    : `  uvec3 rgb = levelsAt(pixel);
  return float((rgb.r * 9798u + rgb.g * 19235u + rgb.b * 3735u + 16384u) >> 15);`
}
}`;

// mode 0: the grid's map with the pixel's own luma detail; mode 1: one global 3x4 transform. Each
// (mode, source) is a program of its own: an emulated GPU pays for both sides of a branch.
export const FRAGMENT = (filtered, mode, source, greyFromLuma = false) => `#version 300 es
precision highp float;
precision highp int;
uniform highp sampler2D offsets;  // grid RGB32F (RGBA16F): offset_c in levels
uniform highp sampler2D gains;    // grid RGB32F (RGBA16F): gain_c, the map's response to grey
uniform mat3 matrix;              // global transform's gains (columns: input R, G, B)
uniform vec3 bias;                // global transform's offset, in levels
uniform ivec2 size;               // frame width, height
out vec4 colour;
${SOURCE(source, greyFromLuma)}
${GRID_AT(filtered)}

void main() {
  ivec2 pixel = ivec2(int(gl_FragCoord.x), size.y - 1 - int(gl_FragCoord.y));
${
  mode === 0
    ? `  vec3 value = gridAt(offsets, vec2(pixel)) + gridAt(gains, vec2(pixel)) * greyAt(pixel);`
    : `  vec3 value = matrix * vec3(levelsAt(pixel)) + bias;`
}
  colour = vec4(clamp(floor(value + 0.5), 0.0, 255.0) / 255.0, 1.0);
}`;

// cv2.resize(INTER_AREA) of a camera frame's planes to the grid, converted once per output pixel:
// the luma's area mean (partly covered pixels weighted by their share), the chroma's mean over the
// same area at half size, then to RGB. Not the area mean of the converted pixels only where that
// clips, and by the chroma's filtering at the area's edges: a level or two in a strong colour edge.
const AREA_PLANES = (source) => `#version 300 es
precision highp float;
precision highp int;
uniform highp sampler2D luma;
uniform highp sampler2D chromaU;
uniform highp sampler2D chromaV;
uniform mat3 toRgb;
uniform vec3 lift;
uniform vec2 scale;  // source pixels per output pixel
out vec4 colour;
${AREA_MEAN('lumaMean', 'float', 'round(texelFetch(luma, at, 0).r * 255.0)')}
${AREA_MEAN('chromaMean', 'vec2', source === 'NV12' ? 'texelFetch(chromaU, at, 0).rg' : 'vec2(texelFetch(chromaU, at, 0).r, texelFetch(chromaV, at, 0).r)')}
void main() {
  vec2 from = vec2(ivec2(gl_FragCoord.xy)) * scale;
  vec2 to = min(from + scale, vec2(textureSize(luma, 0)));
  float y = lumaMean(from, to);
  vec2 uv = chromaMean(from * 0.5, min(to * 0.5, vec2(textureSize(chromaU, 0))));
  vec3 rgb = toRgb * vec3(y / 255.0, uv) + lift;
  // Levels rounded half to even, as OpenCV's saturate_cast does.
  colour = vec4(clamp(roundEven(rgb * 255.0), 0.0, 255.0) / 255.0, 1.0);
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

// OpenCV's RGB2GRAY weights, as its 15-bit fixed point has them.
const GREY_WEIGHTS = [9798 / 32768, 19235 / 32768, 3735 / 32768];

/** [scale, offset] that give grey levels from luma (levels / 255) when a conversion's grey takes no
 * chroma (its U and V weights below 1e-4 of a level per level: BT.601's), else null. */
export function greyOfLuma(toRgb, lift) {
  const column = (k) => GREY_WEIGHTS.reduce((sum, w, c) => sum + w * toRgb[3 * k + c], 0);
  if (Math.abs(column(1)) > 1e-4 || Math.abs(column(2)) > 1e-4) return null;
  return [column(0) * 255, GREY_WEIGHTS.reduce((sum, w, c) => sum + w * lift[c], 0) * 255];
}

const PLANE_UNITS = { luma: 3, chromaU: 4, chromaV: 5 };

export class AffineApplier {
  /** gl: a WebGL2 context (its canvas is resized to each frame). */
  constructor(gl) {
    this.gl = gl;
    // Float grids filtered by the texture unit where the GPU allows it (OES_texture_float_linear).
    this.filtered = Boolean(gl.getExtension('OES_texture_float_linear'));
    this.programs = new Map(); // `${mode} ${source}` or `area ${source}` -> { program, uniforms }
    this.textures = { frame: gl.createTexture(), offsets: gl.createTexture(), gains: gl.createTexture() };
    this.area = link(gl, VERTEX, AREA, { corner: 0 });
    this.areaUniforms = { picture: gl.getUniformLocation(this.area, 'picture'), scale: gl.getUniformLocation(this.area, 'scale') };
    this.framebuffer = gl.createFramebuffer();
    this.smallTarget = null;
    // Two sets of plane textures, used in turns: a camera frame can still be rendered while the next
    // one is uploaded and shrunk (the page plans a frame while the GPU shrinks the next).
    this.planeSets = [0, 1].map(() => [gl.createTexture(), gl.createTexture(), gl.createTexture()]);
    this.nextPlaneSet = 0;
    this.planeBuffer = null;
    // Targets and pixel buffers of the shrinks read back later (shrinkLater), used in turns.
    this.laterTargets = [];
    this.nextLater = 0;
    this.vao = viewportQuad(gl);
  }

  /** The program of a pass ('0' map, '1' transform, 'area') over frames from `source`, made once
   * (greyFromLuma: a map's grey from the luma plane alone). */
  programFor(pass, source, greyFromLuma = false) {
    const name = `${pass} ${source}${greyFromLuma ? ' luma' : ''}`;
    if (!this.programs.has(name)) {
      const fragment = pass === 'area' ? AREA_PLANES(source) : FRAGMENT(this.filtered, Number(pass), source, greyFromLuma);
      const program = link(this.gl, VERTEX, fragment, { corner: 0 });
      const names = ['frame', 'offsets', 'gains', 'matrix', 'bias', 'size', 'luma', 'chromaU', 'chromaV', 'toRgb', 'lift', 'greyOfLuma', 'scale'];
      this.programs.set(name, { program, uniforms: Object.fromEntries(names.map((n) => [n, this.gl.getUniformLocation(program, n)])) });
    }
    return this.programs.get(name);
  }

  /** affine.applyDetail on the GPU: frame under coeffs (grid x 12 mat). frame: a uint8 H x W x 3
   * mat, or, given small (the frame at the grid's size, as flow.prepare makes it), anything WebGL
   * uploads (a video, canvas, ImageBitmap or ImageData), which then never passes through JS. */
  applyDetail(coeffs, frame, small = null) {
    if (!frame.data?.BYTES_PER_ELEMENT && !small) throw new Error('applyDetail on a picture needs it at the grid size');
    const { offsets, gains } = offsetsAndGains(coeffs, frame, small);
    this.uploadGrid(this.textures.offsets, interleave(offsets), coeffs.width, coeffs.height);
    this.uploadGrid(this.textures.gains, interleave(gains), coeffs.width, coeffs.height);
    this.draw(frame, 0, (gl, uniforms) => {
      ['offsets', 'gains'].forEach((name, k) => {
        gl.activeTexture(gl.TEXTURE1 + k);
        gl.bindTexture(gl.TEXTURE_2D, this.textures[name]);
        gl.uniform1i(uniforms[name], 1 + k);
      });
    });
  }

  /** core.applyColourTransform on the GPU: one 3x4 map (rows, on [0, 1] colours) for every pixel. */
  applyColourTransform(frame, transform) {
    this.draw(frame, 1, (gl, uniforms) => {
      // mat3 uniforms are column-major: column k holds the gains of input channel k.
      const columns = [0, 1, 2].flatMap((k) => [0, 1, 2].map((c) => transform[c][k]));
      gl.uniformMatrix3fv(uniforms.matrix, false, new Float32Array(columns));
      gl.uniform3fv(uniforms.bias, new Float32Array([0, 1, 2].map((c) => transform[c][3] * 255)));
    });
  }

  /** Uploads a picture WebGL takes (a video, canvas, ImageBitmap, ImageData) or an H x W x 3 uint8
   * mat once: the handle returned stands for it in shrink(), applyDetail() and
   * applyColourTransform() until the next upload. */
  upload(frame) {
    const { gl } = this;
    const isMat = Boolean(frame.data?.BYTES_PER_ELEMENT);
    const width = frame.videoWidth || frame.displayWidth || frame.width;
    const height = frame.videoHeight || frame.displayHeight || frame.height;
    gl.bindTexture(gl.TEXTURE_2D, this.textures.frame);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    // Pictures are taken as their bytes: no colour-space conversion, no premultiplied alpha.
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    const pixels = isMat ? rgbaOf(frame) : frame;
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, width, height, 0, gl.RGBA, gl.UNSIGNED_BYTE, pixels);
    nearest(gl);
    this.uploaded = { uploaded: true, width, height, source: 'rgb' };
    return this.uploaded;
  }

  /** upload() for a camera frame (a VideoFrame, which the caller closes): its planes copied out
   * (NV12 or I420) and uploaded as they are; the passes that read the frame convert them. Other
   * formats take upload()'s path. A frame whose planes were copied out already (camera_queue.js's
   * CameraPlanes) is uploaded from those. The handle stays good for one more upload of a camera frame. */
  async uploadVideoFrame(frame) {
    if (frame.planes) return this.uploadPlanes(frame.planes);
    if (!hasPlanes(frame)) return this.upload(frame);
    const planes = await copyPlanes(frame, this.planeBuffer);
    this.planeBuffer = planes.data.buffer;
    return this.uploadPlanes(planes);
  }

  /** A camera frame's 4:2:0 planes, as VideoFrame.copyTo gives them ({ format: 'NV12' or 'I420',
   * width, height (the visible rectangle's), layout, data, colorSpace }: camera_planes.js), uploaded
   * as they are. */
  uploadPlanes({ format, width, height, layout, data, colorSpace }) {
    const { gl } = this;
    const nv12 = format === 'NV12';
    const cw = Math.ceil(width / 2);
    const ch = Math.ceil(height / 2);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    const plane = (texture, k, w, h, channels, filter) => {
      gl.bindTexture(gl.TEXTURE_2D, texture);
      gl.pixelStorei(gl.UNPACK_ROW_LENGTH, layout[k].stride / channels);
      const [internal, type] = channels === 2 ? [gl.RG8, gl.RG] : [gl.R8, gl.RED];
      gl.texImage2D(gl.TEXTURE_2D, 0, internal, w, h, 0, type, gl.UNSIGNED_BYTE, data.subarray(layout[k].offset));
      nearest(gl);
      if (filter) {
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
      }
    };
    const planes = this.planeSets[this.nextPlaneSet];
    this.nextPlaneSet = 1 - this.nextPlaneSet;
    plane(planes[0], 0, width, height, 1, false);
    plane(planes[1], 1, cw, ch, nv12 ? 2 : 1, true);
    if (!nv12) plane(planes[2], 2, cw, ch, 1, true);
    gl.pixelStorei(gl.UNPACK_ROW_LENGTH, 0);
    const [toRgb, lift] = yuvToRgb(colorSpace);
    this.uploaded = {
      uploaded: true,
      width,
      height,
      source: format,
      planes,
      toRgb,
      lift,
      greyOfLuma: greyOfLuma(toRgb, lift),
    };
    return this.uploaded;
  }

  /** Binds an uploaded camera frame's planes and colour conversion for `program`. */
  bindPlanes(uniforms, picture) {
    const { gl } = this;
    Object.entries(PLANE_UNITS).forEach(([name, unit], k) => {
      gl.activeTexture(gl.TEXTURE0 + unit);
      gl.bindTexture(gl.TEXTURE_2D, picture.planes[k]);
      gl.uniform1i(uniforms[name], unit);
    });
    gl.uniformMatrix3fv(uniforms.toRgb, false, new Float32Array(picture.toRgb));
    gl.uniform3fv(uniforms.lift, new Float32Array(picture.lift));
  }

  /** The uploaded frame (or `picture`, a handle still good) shrunk to width x height
   * (cv2.resize INTER_AREA, on the GPU), as an H x W x 3 uint8 mat: only these pixels are read back. */
  shrink(width, height, picture = this.uploaded) {
    const { gl } = this;
    if (this.smallTarget?.width !== width || this.smallTarget?.height !== height) {
      if (this.smallTarget) gl.deleteTexture(this.smallTarget.texture);
      this.smallTarget = { texture: this.target(width, height), width, height };
    }
    this.drawArea(picture, this.smallTarget.texture, width, height);
    const rgba = new Uint8Array(width * height * 4);
    gl.readBuffer(gl.COLOR_ATTACHMENT0);
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, rgba);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    return rgbOfRgba(rgba, width, height);
  }

  /** shrink() without waiting for the GPU: the pixels land in a buffer, and read() (a later task)
   * takes them, by then made (else it waits for them). Two may be pending at once. */
  shrinkLater(width, height, picture = this.uploaded) {
    const { gl } = this;
    let slot = this.laterTargets[this.nextLater];
    if (slot?.width !== width || slot?.height !== height) {
      if (slot) {
        gl.deleteTexture(slot.texture);
        gl.deleteBuffer(slot.buffer);
      }
      const buffer = gl.createBuffer();
      gl.bindBuffer(gl.PIXEL_PACK_BUFFER, buffer);
      gl.bufferData(gl.PIXEL_PACK_BUFFER, width * height * 4, gl.STREAM_READ);
      gl.bindBuffer(gl.PIXEL_PACK_BUFFER, null);
      slot = this.laterTargets[this.nextLater] = { texture: this.target(width, height), buffer, width, height };
    }
    this.nextLater = 1 - this.nextLater;
    this.drawArea(picture, slot.texture, width, height);
    gl.readBuffer(gl.COLOR_ATTACHMENT0);
    gl.bindBuffer(gl.PIXEL_PACK_BUFFER, slot.buffer);
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, 0);
    gl.bindBuffer(gl.PIXEL_PACK_BUFFER, null);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    const fence = gl.fenceSync(gl.SYNC_GPU_COMMANDS_COMPLETE, 0);
    gl.flush();
    return {
      read: () => {
        const rgba = new Uint8Array(width * height * 4);
        gl.clientWaitSync(fence, 0, 0);
        gl.deleteSync(fence);
        gl.bindBuffer(gl.PIXEL_PACK_BUFFER, slot.buffer);
        gl.getBufferSubData(gl.PIXEL_PACK_BUFFER, 0, rgba);
        gl.bindBuffer(gl.PIXEL_PACK_BUFFER, null);
        return rgbOfRgba(rgba, width, height);
      },
    };
  }

  /** An RGBA8 render target of width x height. */
  target(width, height) {
    const { gl } = this;
    const texture = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.texStorage2D(gl.TEXTURE_2D, 1, gl.RGBA8, width, height);
    nearest(gl);
    return texture;
  }

  /** The area pass of `picture` into `texture` (width x height), left bound as the read framebuffer. */
  drawArea(picture, texture, width, height) {
    const { gl } = this;
    if (!picture) throw new Error('shrink() needs a frame upload()ed first');
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, texture, 0);
    gl.drawBuffers([gl.COLOR_ATTACHMENT0]);
    gl.viewport(0, 0, width, height);
    gl.bindVertexArray(this.vao);
    if (picture.source === 'rgb') {
      gl.useProgram(this.area);
      gl.activeTexture(gl.TEXTURE0);
      gl.bindTexture(gl.TEXTURE_2D, this.textures.frame);
      gl.uniform1i(this.areaUniforms.picture, 0);
      gl.uniform2f(this.areaUniforms.scale, picture.width / width, picture.height / height);
    } else {
      const { program, uniforms } = this.programFor('area', picture.source);
      gl.useProgram(program);
      this.bindPlanes(uniforms, picture);
      gl.uniform2f(uniforms.scale, picture.width / width, picture.height / height);
    }
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
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

  /** A full-size pass of `mode` over the frame onto the canvas; setInputs(gl, uniforms) sets the
   * mode's own inputs. */
  draw(frame, mode, setInputs) {
    const { gl } = this;
    const picture = frame.uploaded ? frame : this.upload(frame);
    const { width, height } = picture;
    if (gl.canvas.width !== width || gl.canvas.height !== height) {
      gl.canvas.width = width;
      gl.canvas.height = height;
    }
    const greyFromLuma = mode === 0 && picture.greyOfLuma != null;
    const { program, uniforms } = this.programFor(mode, picture.source, greyFromLuma);
    gl.useProgram(program);
    if (greyFromLuma) gl.uniform2f(uniforms.greyOfLuma, ...picture.greyOfLuma);
    gl.bindVertexArray(this.vao);
    gl.viewport(0, 0, width, height);
    if (picture.source === 'rgb') {
      gl.activeTexture(gl.TEXTURE0);
      gl.bindTexture(gl.TEXTURE_2D, this.textures.frame);
      gl.uniform1i(uniforms.frame, 0);
    } else {
      this.bindPlanes(uniforms, picture);
    }
    setInputs(gl, uniforms);
    gl.uniform2i(uniforms.size, width, height);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  }
}

/** RGBA bytes (row 0 first, as read) as an H x W x 3 uint8 mat. */
export function rgbOfRgba(rgba, width, height) {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    data[j] = rgba[i];
    data[j + 1] = rgba[i + 1];
    data[j + 2] = rgba[i + 2];
  }
  return { data, height, width, channels: 3 };
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

