// The device page's full-size pass (affine_gl.js FRAGMENT(filtered, mode 0, 'rgb')) and its shrink
// to the grid (flow_gl.js AREA) in WGSL, line for line, for benchmarks.webgpu. WebGPU's framebuffer
// y points down, so the pixel is position.xy as it is (the GLSL flips y because gl_FragCoord.y
// points up); both show the frame upright.

const WGSL_VERTEX = `
@vertex fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4f {
  let corner = array(vec2f(-1.0, -1.0), vec2f(1.0, -1.0), vec2f(-1.0, 1.0), vec2f(1.0, 1.0));
  return vec4f(corner[i], 0.0, 1.0);
}`;

const WGSL_APPLY_COMMON = (ext) => `
@group(0) @binding(0) var frame: ${ext ? 'texture_external' : 'texture_2d<f32>'};    // rgba8unorm (or a VideoFrame imported), row 0 = top
@group(0) @binding(1) var offsets: texture_2d<f32>;  // grid rgba32float (rgb used): offset_c in levels
@group(0) @binding(2) var gains: texture_2d<f32>;    // grid rgba32float (rgb used): gain_c
@group(0) @binding(3) var lin: sampler;              // linear, clamp to edge (float32-filterable)

fn levelsAt(pixel: vec2i) -> vec3u {
  return vec3u(textureLoad(frame, pixel${ext ? '' : ', 0'}).rgb * 255.0 + 0.5);
}
fn greyAt(pixel: vec2i) -> f32 {
  let rgb = levelsAt(pixel);
  return f32((rgb.r * 9798u + rgb.g * 19235u + rgb.b * 3735u + 16384u) >> 15u);
}
fn gridAt(field: texture_2d<f32>, pixel: vec2f, size: vec2f) -> vec3f {
  return textureSampleLevel(field, lin, (pixel + 0.5) / size, 0.0).rgb;
}
fn shade(pixel: vec2i) -> vec4f {
  let size = vec2f(textureDimensions(frame));
  let p = vec2f(pixel);
  let value = gridAt(offsets, p, size) + gridAt(gains, p, size) * greyAt(pixel);
  return vec4f(clamp(floor(value + 0.5), vec3f(0.0), vec3f(255.0)) / 255.0, 1.0);
}`;

export const WGSL_APPLY_FRAGMENT = (ext = false) => `${WGSL_VERTEX}
${WGSL_APPLY_COMMON(ext)}
@fragment fn fs(@builtin(position) position: vec4f) -> @location(0) vec4f {
  return shade(vec2i(position.xy));
}`;

export const WGSL_APPLY_COMPUTE = (ext = false) => `
${WGSL_APPLY_COMMON(ext)}
@group(0) @binding(4) var outTex: texture_storage_2d<rgba8unorm, write>;
@compute @workgroup_size(8, 8) fn cs(@builtin(global_invocation_id) id: vec3u) {
  let d = textureDimensions(frame);
  if (id.x >= d.x || id.y >= d.y) { return; }
  textureStore(outTex, vec2i(id.xy), shade(vec2i(id.xy)));
}`;

export const WGSL_AREA = (ext = false) => `${WGSL_VERTEX}
@group(0) @binding(0) var picture: ${ext ? 'texture_external' : 'texture_2d<f32>'};
struct Area { scale: vec2f }  // source pixels per output pixel
@group(0) @binding(1) var<uniform> area: Area;
fn areaMean(lo: vec2f, hi: vec2f) -> vec3f {
  let first = vec2i(floor(lo));
  let last = vec2i(ceil(hi)) - 1;
  var sum = vec3f(0.0);
  for (var y = first.y; y <= last.y; y++) {
    let wy = min(f32(y + 1), hi.y) - max(f32(y), lo.y);
    var row = vec3f(0.0);
    for (var x = first.x; x <= last.x; x++) {
      let wx = min(f32(x + 1), hi.x) - max(f32(x), lo.x);
      row += wx * round(textureLoad(picture, vec2i(x, y)${ext ? '' : ', 0'}).rgb * 255.0);
    }
    sum += wy * row;
  }
  return sum / ((hi.x - lo.x) * (hi.y - lo.y));
}
@fragment fn fs(@builtin(position) position: vec4f) -> @location(0) vec4f {
  let lo = vec2f(vec2i(position.xy)) * area.scale;
  let hi = min(lo + area.scale, vec2f(textureDimensions(picture)));
  let levels = round(areaMean(lo, hi));  // WGSL round() is half to even, as GLSL roundEven
  return vec4f(clamp(levels, vec3f(0.0), vec3f(255.0)) / 255.0, 1.0);
}`;
