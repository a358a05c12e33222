// The device page's per-frame GPU work in WebGL2 and in WebGPU, for benchmarks.webgpu (which
// drives window.runAll): upload a fresh RGBA8 frame, shrink it to the grid (cv2 INTER_AREA) and
// read that back, make the grid's offsets and gains in JS (affine.js), upload them as float
// textures, run the full-size pass onto a visible canvas, and wait for the GPU. The WebGL2 side
// runs the page's own shaders; the WebGPU side their WGSL ports (wgsl.js).
import { offsetsAndGains as pageOffsetsAndGains } from '../../client/browser/affine.js';
import { FRAGMENT, VERTEX } from '../../client/browser/affine_gl.js';
import { AREA } from '../../client/browser/flow_gl.js';
import { link, nearest, viewportQuad } from '../../client/browser/gl.js';
import { WGSL_APPLY_COMPUTE, WGSL_APPLY_FRAGMENT, WGSL_AREA } from './wgsl.js';

const GL_VERTEX = VERTEX;
const GL_APPLY = FRAGMENT(true, 0, 'rgb');
const GL_AREA = AREA;

const GW = 80;
const GH = 45;
const log = (...a) => {
  document.getElementById('log').textContent += a.join(' ') + '\n';
};
const now = () => performance.now();
const nextFrame = () => new Promise((r) => requestAnimationFrame(r));

// ---- frames -------------------------------------------------------------------------------------
// A fixed textured base (smooth gradient + noise, opaque) shifted each iteration, with a moving
// coloured box, drawn on an OffscreenCanvas; the source handed to both APIs is an ImageBitmap of it
// (or a VideoFrame made from it).
class FrameSource {
  constructor(w, h) {
    this.w = w;
    this.h = h;
    const img = new ImageData(w, h);
    let s = 12345;
    const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) / 16777216;
    for (let y = 0, i = 0; y < h; y++)
      for (let x = 0; x < w; x++, i += 4) {
        img.data[i] = Math.min(255, Math.max(0, (x / w) * 200 + 30 * rnd()));
        img.data[i + 1] = Math.min(255, Math.max(0, (y / h) * 220 + 30 * rnd()));
        img.data[i + 2] = Math.min(255, Math.max(0, 128 + 80 * Math.sin(x / 37 + y / 23) + 30 * rnd()));
        img.data[i + 3] = 255;
      }
    this.base = new OffscreenCanvas(w, h);
    this.base.getContext('2d').putImageData(img, 0, 0);
    this.canvas = new OffscreenCanvas(w, h);
    this.ctx = this.canvas.getContext('2d', { alpha: false });
  }
  draw(i) {
    const { ctx, w, h } = this;
    const dx = (i * 7) % w;
    ctx.drawImage(this.base, -dx, 0);
    ctx.drawImage(this.base, w - dx, 0);
    ctx.fillStyle = `hsl(${(i * 37) % 360} 80% 50%)`;
    ctx.fillRect(((i * 13) % w) * 0.8, ((i * 5) % h) * 0.8, w / 6, h / 5);
  }
  async make(i, kind) {
    this.draw(i);
    if (kind.startsWith('videoframe')) return new VideoFrame(this.canvas, { timestamp: i * 33333, alpha: 'discard' });
    return createImageBitmap(this.canvas, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  }
  pixels(i) {
    this.draw(i);
    return this.ctx.getImageData(0, 0, this.w, this.h).data;
  }
}
const release = (src) => src.close?.();

// ---- grid (JS, same for both APIs) --------------------------------------------------------------
// 12 coefficients a cell (a 3x4 affine on levels), smooth over the grid, changed each iteration.
function coeffsAt(t) {
  const data = new Float32Array(GW * GH * 12);
  for (let gy = 0, i = 0; gy < GH; gy++)
    for (let gx = 0; gx < GW; gx++, i++)
      for (let c = 0; c < 3; c++) {
        const a = 12 * i + 4 * c;
        for (let k = 0; k < 3; k++) data[a + k] = (k === c ? 0.8 : 0.1) + 0.15 * Math.sin(gx / 9 + gy / 7 + c + 2 * k + t / 10);
        data[a + 3] = 25 * Math.cos(gx / 11 - gy / 5 + c + t / 7);
      }
  return { data, width: GW, height: GH };
}
// affine.js offsetsAndGains of `small` (RGBA bytes, row 0 = top), interleaved as RGBA float planes
// (rgba32float for WebGPU; WebGL2 takes their RGB, as affine_gl.js's RGB32F).
function offsetsAndGains(coeffs, small) {
  const n = GW * GH;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) rgb.set(small.subarray(4 * i, 4 * i + 3), 3 * i);
  const { offsets, gains } = pageOffsetsAndGains(coeffs, null, { width: GW, height: GH, channels: 3, data: rgb });
  const off = new Float32Array(n * 4);
  const gain = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      off[4 * i + c] = offsets[c][i];
      gain[4 * i + c] = gains[c][i];
    }
  }
  return { off, gain };
}
const rgbOf = (rgba) => {
  const out = new Float32Array((rgba.length / 4) * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    out[j] = rgba[i];
    out[j + 1] = rgba[i + 1];
    out[j + 2] = rgba[i + 2];
  }
  return out;
};

// ---- WebGL2 -------------------------------------------------------------------------------------
class GLBench {
  constructor(canvas) {
    const t0 = now();
    const gl = (this.gl = canvas.getContext('webgl2', { preserveDrawingBuffer: true, antialias: false, premultipliedAlpha: false }));
    if (!gl) throw new Error('no webgl2');
    this.canvas = canvas;
    if (!gl.getExtension('OES_texture_float_linear')) throw new Error('no OES_texture_float_linear');
    this.timer = gl.getExtension('EXT_disjoint_timer_query_webgl2');
    this.apply = link(gl, GL_VERTEX, GL_APPLY, { corner: 0 });
    this.area = link(gl, GL_VERTEX, GL_AREA, { corner: 0 });
    const u = (p, n) => gl.getUniformLocation(p, n);
    this.uApply = { offsets: u(this.apply, 'offsets'), gains: u(this.apply, 'gains'), frame: u(this.apply, 'frame'), size: u(this.apply, 'size') };
    this.uArea = { picture: u(this.area, 'picture'), scale: u(this.area, 'scale') };
    this.frame = gl.createTexture();
    this.offsets = gl.createTexture();
    this.gains = gl.createTexture();
    this.small = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, this.small);
    gl.texStorage2D(gl.TEXTURE_2D, 1, gl.RGBA8, GW, GH);
    nearest(gl);
    this.fbSmall = gl.createFramebuffer();
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.fbSmall);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, this.small, 0);
    this.fbFrame = gl.createFramebuffer();
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    this.vao = viewportQuad(gl);
    this.smallBytes = new Uint8Array(GW * GH * 4);
    this.one = new Uint8Array(4);
    this.pending = [];
    this.setupMs = now() - t0;
  }
  upload(src) {
    const { gl } = this;
    const w = src.displayWidth || src.width;
    const h = src.displayHeight || src.height;
    gl.bindTexture(gl.TEXTURE_2D, this.frame);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, w, h, 0, gl.RGBA, gl.UNSIGNED_BYTE, src);
    nearest(gl);
    this.w = w;
    this.h = h;
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
  }
  syncUpload() {
    // 1-pixel read of the frame texture: waits for the upload.
    const { gl } = this;
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.fbFrame);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, this.frame, 0);
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, this.one);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
  }
  async shrink() {
    // affine_gl.js drawArea + shrink(): area pass to the grid target, readPixels (synchronous).
    const { gl } = this;
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.fbSmall);
    gl.viewport(0, 0, GW, GH);
    gl.bindVertexArray(this.vao);
    gl.useProgram(this.area);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, this.frame);
    gl.uniform1i(this.uArea.picture, 0);
    gl.uniform2f(this.uArea.scale, this.w / GW, this.h / GH);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    gl.readBuffer(gl.COLOR_ATTACHMENT0);
    gl.readPixels(0, 0, GW, GH, gl.RGBA, gl.UNSIGNED_BYTE, this.smallBytes);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    return this.smallBytes;
  }
  uploadGrids({ off, gain }) {
    const { gl } = this;
    for (const [tex, data] of [[this.offsets, off], [this.gains, gain]]) {
      gl.bindTexture(gl.TEXTURE_2D, tex);
      gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGB32F, GW, GH, 0, gl.RGB, gl.FLOAT, rgbOf(data));
      nearest(gl);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
    }
  }
  applyPass(timed = false) {
    // affine_gl.js draw(frame, 0, ...) onto the canvas.
    const { gl } = this;
    let q = null;
    if (timed && this.timer) {
      q = gl.createQuery();
      gl.beginQuery(this.timer.TIME_ELAPSED_EXT, q);
    }
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.useProgram(this.apply);
    gl.bindVertexArray(this.vao);
    gl.viewport(0, 0, this.w, this.h);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, this.frame);
    gl.uniform1i(this.uApply.frame, 0);
    gl.activeTexture(gl.TEXTURE1);
    gl.bindTexture(gl.TEXTURE_2D, this.offsets);
    gl.uniform1i(this.uApply.offsets, 1);
    gl.activeTexture(gl.TEXTURE2);
    gl.bindTexture(gl.TEXTURE_2D, this.gains);
    gl.uniform1i(this.uApply.gains, 2);
    gl.uniform2i(this.uApply.size, this.w, this.h);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    if (q) {
      gl.endQuery(this.timer.TIME_ELAPSED_EXT);
      this.pending.push(q);
    }
  }
  async done() {
    // 1-pixel readPixels of the canvas: waits for everything before it.
    const { gl } = this;
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, this.one);
  }
  async gpuTimes() {
    const { gl } = this;
    const out = [];
    for (let tries = 0; this.pending.length && tries < 200; tries++) {
      await nextFrame();
      while (this.pending.length && gl.getQueryParameter(this.pending[0], gl.QUERY_RESULT_AVAILABLE)) {
        const q = this.pending.shift();
        if (!gl.getParameter(this.timer.GPU_DISJOINT_EXT)) out.push(gl.getQueryParameter(q, gl.QUERY_RESULT) / 1e6);
        gl.deleteQuery(q);
      }
    }
    return out;
  }
  readOutput() {
    const { gl, w, h } = this;
    const rgba = new Uint8Array(w * h * 4);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, rgba);
    const out = new Uint8Array(w * h * 4); // row 0 = top
    for (let y = 0; y < h; y++) out.set(rgba.subarray((h - 1 - y) * w * 4, (h - y) * w * 4), y * w * 4);
    return out;
  }
}

// ---- WebGPU -------------------------------------------------------------------------------------
class GPUBench {
  async init(canvas, variant, external = false) {
    this.external = external; // frame by importExternalTexture (a VideoFrame) instead of a copy
    const t0 = now();
    this.canvas = canvas;
    this.variant = variant; // 'fragment' | 'compute'
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) throw new Error('no WebGPU adapter');
    this.adapterInfo = { vendor: adapter.info.vendor, architecture: adapter.info.architecture };
    const features = ['float32-filterable', 'timestamp-query'].filter((f) => adapter.features.has(f));
    if (!features.includes('float32-filterable')) throw new Error('no float32-filterable');
    this.hasTimestamps = features.includes('timestamp-query');
    const device = (this.device = await adapter.requestDevice({ requiredFeatures: features }));
    device.lost.then((i) => log('device lost', i.message));
    this.ctx = canvas.getContext('webgpu');
    this.format = 'rgba8unorm';
    const usage = GPUTextureUsage.RENDER_ATTACHMENT | GPUTextureUsage.COPY_SRC | (variant === 'compute' ? GPUTextureUsage.STORAGE_BINDING : 0);
    this.ctx.configure({ device, format: this.format, alphaMode: 'opaque', usage });
    const t1 = now();
    const applyModule = device.createShaderModule({ code: variant === 'compute' ? WGSL_APPLY_COMPUTE(external) : WGSL_APPLY_FRAGMENT(external) });
    const areaModule = device.createShaderModule({ code: WGSL_AREA(external) });
    for (const m of [applyModule, areaModule]) {
      const info = await m.getCompilationInfo();
      for (const msg of info.messages) if (msg.type === 'error') throw new Error(`WGSL: ${msg.lineNum}:${msg.linePos} ${msg.message}`);
    }
    this.applyPipeline =
      variant === 'compute'
        ? await device.createComputePipelineAsync({ layout: 'auto', compute: { module: applyModule, entryPoint: 'cs' } })
        : await device.createRenderPipelineAsync({
            layout: 'auto',
            vertex: { module: applyModule, entryPoint: 'vs' },
            fragment: { module: applyModule, entryPoint: 'fs', targets: [{ format: this.format }] },
            primitive: { topology: 'triangle-strip' },
          });
    this.areaPipeline = await device.createRenderPipelineAsync({
      layout: 'auto',
      vertex: { module: areaModule, entryPoint: 'vs' },
      fragment: { module: areaModule, entryPoint: 'fs', targets: [{ format: 'rgba8unorm' }] },
      primitive: { topology: 'triangle-strip' },
    });
    this.pipelineMs = now() - t1;
    this.sampler = device.createSampler({ magFilter: 'linear', minFilter: 'linear', addressModeU: 'clamp-to-edge', addressModeV: 'clamp-to-edge' });
    const gridTex = () => device.createTexture({ size: [GW, GH], format: 'rgba32float', usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST });
    this.offsets = gridTex();
    this.gains = gridTex();
    this.small = device.createTexture({ size: [GW, GH], format: 'rgba8unorm', usage: GPUTextureUsage.RENDER_ATTACHMENT | GPUTextureUsage.COPY_SRC });
    this.smallRow = Math.ceil((GW * 4) / 256) * 256;
    this.smallBuf = device.createBuffer({ size: this.smallRow * GH, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.smallBytes = new Uint8Array(GW * GH * 4);
    this.areaUniform = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    if (this.hasTimestamps) {
      this.qs = device.createQuerySet({ type: 'timestamp', count: 2 });
      this.qResolve = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
      this.qRead = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    }
    this.w = this.h = 0;
    this.setupMs = now() - t0;
    return this;
  }
  resize(w, h) {
    const { device } = this;
    this.w = w;
    this.h = h;
    this.canvas.width = w;
    this.canvas.height = h;
    device.queue.writeBuffer(this.areaUniform, 0, new Float32Array([w / GW, h / GH, 0, 0]));
    if (this.external) return;
    this.frame?.destroy();
    this.frame = device.createTexture({
      size: [w, h],
      format: 'rgba8unorm',
      usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST | GPUTextureUsage.RENDER_ATTACHMENT,
    });
    this.areaGroup = device.createBindGroup({
      layout: this.areaPipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: this.frame.createView() },
        { binding: 1, resource: { buffer: this.areaUniform } },
      ],
    });
    this.applyEntries = [
      { binding: 0, resource: this.frame.createView() },
      { binding: 1, resource: this.offsets.createView() },
      { binding: 2, resource: this.gains.createView() },
      { binding: 3, resource: this.sampler },
    ];
    if (this.variant === 'fragment') this.applyGroup = device.createBindGroup({ layout: this.applyPipeline.getBindGroupLayout(0), entries: this.applyEntries });
  }
  upload(src) {
    const w = src.displayWidth || src.width;
    const h = src.displayHeight || src.height;
    if (w !== this.w || h !== this.h) this.resize(w, h);
    if (this.external) {
      // Valid until the VideoFrame is closed; bind groups made per frame.
      const { device } = this;
      const ext = device.importExternalTexture({ source: src });
      this.areaGroup = device.createBindGroup({
        layout: this.areaPipeline.getBindGroupLayout(0),
        entries: [{ binding: 0, resource: ext }, { binding: 1, resource: { buffer: this.areaUniform } }],
      });
      this.applyEntries = [
        { binding: 0, resource: ext },
        { binding: 1, resource: this.offsets.createView() },
        { binding: 2, resource: this.gains.createView() },
        { binding: 3, resource: this.sampler },
      ];
      if (this.variant === 'fragment') this.applyGroup = device.createBindGroup({ layout: this.applyPipeline.getBindGroupLayout(0), entries: this.applyEntries });
      return;
    }
    this.device.queue.copyExternalImageToTexture({ source: src }, { texture: this.frame, premultipliedAlpha: false }, [w, h]);
  }
  async syncUpload() {
    await this.device.queue.onSubmittedWorkDone();
  }
  async shrink() {
    const { device } = this;
    const enc = device.createCommandEncoder();
    const pass = enc.beginRenderPass({ colorAttachments: [{ view: this.small.createView(), loadOp: 'clear', storeOp: 'store', clearValue: [0, 0, 0, 1] }] });
    pass.setPipeline(this.areaPipeline);
    pass.setBindGroup(0, this.areaGroup);
    pass.draw(4);
    pass.end();
    enc.copyTextureToBuffer({ texture: this.small }, { buffer: this.smallBuf, bytesPerRow: this.smallRow }, [GW, GH]);
    device.queue.submit([enc.finish()]);
    const t = now();
    await this.smallBuf.mapAsync(GPUMapMode.READ);
    this.mapMs = now() - t;
    const mapped = new Uint8Array(this.smallBuf.getMappedRange());
    for (let y = 0; y < GH; y++) this.smallBytes.set(mapped.subarray(y * this.smallRow, y * this.smallRow + GW * 4), y * GW * 4);
    this.smallBuf.unmap();
    return this.smallBytes;
  }
  uploadGrids({ off, gain }) {
    const q = this.device.queue;
    q.writeTexture({ texture: this.offsets }, off, { bytesPerRow: GW * 16 }, [GW, GH]);
    q.writeTexture({ texture: this.gains }, gain, { bytesPerRow: GW * 16 }, [GW, GH]);
  }
  applyPass(timed = false) {
    const { device } = this;
    const enc = device.createCommandEncoder();
    const target = this.ctx.getCurrentTexture();
    this.lastTarget = target;
    const tw = timed && this.hasTimestamps ? { querySet: this.qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } : undefined;
    if (this.variant === 'compute') {
      const group = device.createBindGroup({
        layout: this.applyPipeline.getBindGroupLayout(0),
        entries: [...this.applyEntries, { binding: 4, resource: target.createView() }],
      });
      const pass = enc.beginComputePass(tw ? { timestampWrites: tw } : {});
      pass.setPipeline(this.applyPipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(Math.ceil(this.w / 8), Math.ceil(this.h / 8));
      pass.end();
    } else {
      const pass = enc.beginRenderPass({
        colorAttachments: [{ view: target.createView(), loadOp: 'clear', storeOp: 'store', clearValue: [0, 0, 0, 1] }],
        ...(tw ? { timestampWrites: tw } : {}),
      });
      pass.setPipeline(this.applyPipeline);
      pass.setBindGroup(0, this.applyGroup);
      pass.draw(4);
      pass.end();
    }
    if (tw) {
      enc.resolveQuerySet(this.qs, 0, 2, this.qResolve, 0);
      enc.copyBufferToBuffer(this.qResolve, 0, this.qRead, 0, 16);
    }
    device.queue.submit([enc.finish()]);
    this.timedPending = Boolean(tw);
  }
  async done() {
    await this.device.queue.onSubmittedWorkDone();
  }
  async gpuTime() {
    // Read after the iteration's timer has stopped.
    if (!this.timedPending) return null;
    await this.qRead.mapAsync(GPUMapMode.READ);
    const t = new BigInt64Array(this.qRead.getMappedRange());
    const ms = Number(t[1] - t[0]) / 1e6;
    this.qRead.unmap();
    this.timedPending = false;
    return ms;
  }
  async readOutput() {
    // Copy of the canvas texture just drawn (same task as applyPass).
    const { device, w, h } = this;
    const row = Math.ceil((w * 4) / 256) * 256;
    const buf = device.createBuffer({ size: row * h, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = device.createCommandEncoder();
    enc.copyTextureToBuffer({ texture: this.lastTarget }, { buffer: buf, bytesPerRow: row }, [w, h]);
    device.queue.submit([enc.finish()]);
    await buf.mapAsync(GPUMapMode.READ);
    const m = new Uint8Array(buf.getMappedRange());
    const out = new Uint8Array(w * h * 4);
    for (let y = 0; y < h; y++) out.set(m.subarray(y * row, y * row + w * 4), y * w * 4);
    buf.unmap();
    buf.destroy();
    return out;
  }
}

// ---- CPU reference of the apply pass (float64; bilinear on the float32 grid values) --------------
// Pixel i's two grid taps along a side of n pixels over `cells` cells and the far tap's weight:
// centres aligned, edges clamped (cv2.resize's INTER_LINEAR).
function linearTaps(i, n, cells) {
  const at = (i + 0.5) * (cells / n) - 0.5;
  let first = Math.floor(at);
  let weight = at - first;
  if (first < 0) [first, weight] = [0, 0];
  if (first >= cells - 1) [first, weight] = [cells - 1, 0];
  return [first, Math.min(first + 1, cells - 1), weight];
}

function cpuApply(pixels, w, h, { off, gain }) {
  const out = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    const [y0, y1, ty] = linearTaps(y, h, GH);
    for (let x = 0; x < w; x++) {
      const [x0, x1, tx] = linearTaps(x, w, GW);
      const p = 4 * (y * w + x);
      const grey = (pixels[p] * 9798 + pixels[p + 1] * 19235 + pixels[p + 2] * 3735 + 16384) >> 15;
      for (let c = 0; c < 3; c++) {
        const at = (f, xx, yy) => f[4 * (yy * GW + xx) + c];
        const bil = (f) => (at(f, x0, y0) * (1 - tx) + at(f, x1, y0) * tx) * (1 - ty) + (at(f, x0, y1) * (1 - tx) + at(f, x1, y1) * tx) * ty;
        const v = bil(off) + bil(gain) * grey;
        out[p + c] = Math.min(255, Math.max(0, Math.floor(v + 0.5)));
      }
      out[p + 3] = 255;
    }
  }
  return out;
}
function maxDiff(a, b) {
  let m = 0, n = 0, sum = 0;
  for (let i = 0; i < a.length; i++) {
    if ((i & 3) === 3) continue;
    const d = Math.abs(a[i] - b[i]);
    if (d > m) m = d;
    if (d > 0) n++;
    sum += d;
  }
  return { max: m, differing: n, mean: sum / ((a.length / 4) * 3) };
}

// ---- loops --------------------------------------------------------------------------------------
const stats = (xs) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
  return { n: s.length, median: q(0.5), p99: q(0.99), min: s[0], max: s[s.length - 1], mean: s.reduce((a, b) => a + b, 0) / s.length };
};

// One iteration, the page's order: upload -> shrink + read back -> grid in JS + upload -> apply -> wait.
async function iteration(api, src, i, timed) {
  api.upload(src);
  const small = await api.shrink();
  api.uploadGrids(offsetsAndGains(coeffsAt(i), small));
  api.applyPass(timed);
  await api.done();
}

async function endToEnd(api, source, n, kind, pace) {
  const times = [], makeMs = [], gpu = [], maps = [];
  let first = null;
  for (let i = 0; i < n + 1; i++) {
    if (pace) await nextFrame();
    const t0 = now();
    const src = await source.make(i, kind);
    const t1 = now();
    await iteration(api, src, i, i > 0);
    const t2 = now();
    release(src);
    if (i === 0) first = t2 - t1; // first iteration at this size: allocation (+ compile the first time)
    else {
      times.push(t2 - t1);
      makeMs.push(t1 - t0);
      if (api.mapMs != null) maps.push(api.mapMs);
      if (api instanceof GPUBench) {
        const g = await api.gpuTime();
        if (g != null) gpu.push(g);
      }
    }
  }
  if (api instanceof GLBench) gpu.push(...(await api.gpuTimes()));
  return { iter: stats(times), first, makeSource: stats(makeMs), applyGpuTimer: stats(gpu), mapAsync: stats(maps) };
}

// Each step alone, waited for after it (the sync adds its own round trip).
async function split(api, source, n, kind) {
  const srcs = [];
  for (let i = 0; i < 4; i++) srcs.push(await source.make(1000 + i, kind));
  const r = { upload: [], shrinkRead: [], grid: [], apply: [] };
  api.upload(srcs[0]);
  let small = await api.shrink();
  for (let i = 0; i < n; i++) {
    let t = now();
    api.upload(srcs[i % 4]);
    await api.syncUpload();
    r.upload.push(now() - t);
    t = now();
    small = await api.shrink();
    r.shrinkRead.push(now() - t);
    t = now();
    api.uploadGrids(offsetsAndGains(coeffsAt(i), small));
    r.grid.push(now() - t);
    await api.done();
    t = now();
    api.applyPass(false);
    await api.done();
    r.apply.push(now() - t);
  }
  srcs.forEach(release);
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, stats(v)]));
}

async function correctness(gl, gpu, source, kind, w, h) {
  const i = 7;
  const src = await source.make(i, kind);
  const pixels = source.pixels(i);
  const outs = {};
  const smalls = {};
  let grids = null;
  for (const [name, api] of [['webgl2', gl], ['webgpu', gpu]]) {
    if (!api) continue;
    api.upload(src);
    const small = new Uint8Array(await api.shrink());
    smalls[name] = small;
    grids = offsetsAndGains(coeffsAt(i), smalls.webgl2 ?? small); // the same map for both
    api.uploadGrids(grids);
    api.applyPass(false);
    outs[name] = await api.readOutput();
  }
  release(src);
  const ref = cpuApply(pixels, w, h, grids);
  const r = {};
  if (outs.webgl2 && outs.webgpu) {
    r.webgl2_vs_webgpu = maxDiff(outs.webgl2, outs.webgpu);
    r.small_webgl2_vs_webgpu = maxDiff(smalls.webgl2, smalls.webgpu);
  }
  for (const k of Object.keys(outs)) r[`${k}_vs_cpu`] = maxDiff(outs[k], ref);
  return r;
}

window.runAll = async (cfg) => {
  const { sizes, n, splitN, kind, apis, pace, gpuVariant } = cfg;
  const res = { cfg, ua: navigator.userAgent, sizes: {} };
  const glCanvas = document.getElementById('gl');
  const gpuCanvas = document.getElementById('gpu');
  let gl = null, gpu = null;
  if (apis.includes('webgl2')) {
    gl = new GLBench(glCanvas);
    res.webgl2Setup = { setupMs: gl.setupMs, timerQuery: Boolean(gl.timer) };
    log('webgl2 ready');
  }
  if (apis.includes('webgpu')) {
    if (!navigator.gpu) throw new Error('navigator.gpu missing (secure context? flags?)');
    gpu = await new GPUBench().init(gpuCanvas, gpuVariant, kind === 'videoframe-external');
    res.webgpuSetup = { setupMs: gpu.setupMs, pipelineMs: gpu.pipelineMs, adapter: gpu.adapterInfo, timestamps: gpu.hasTimestamps, variant: gpuVariant, external: gpu.external };
    log('webgpu ready');
  }
  for (const [w, h] of sizes) {
    const source = new FrameSource(w, h);
    const r = (res.sizes[`${w}x${h}`] = {});
    for (const [name, api] of [['webgl2', gl], ['webgpu', gpu]]) {
      if (!api) continue;
      log(`${w}x${h} ${name} end-to-end`);
      r[name] = await endToEnd(api, source, n, kind, pace);
      if (splitN) {
        log(`${w}x${h} ${name} split`);
        r[name].split = await split(api, source, splitN, kind);
      }
    }
    r.correctness = await correctness(gl, gpu, source, kind, w, h);
    log(`${w}x${h} done`, JSON.stringify(r.correctness));
  }
  return res;
};
window.benchReady = true;
