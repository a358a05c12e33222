// WebGL2 pieces the shader modules share (affine_gl.js, flow_gl.js, core_gl.js).

/** The bound 2D texture read texel by texel: nearest, clamped at the borders. */
export function nearest(gl) {
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
}

/** A vertex array of the quad that covers the viewport (a triangle strip of 4 corners at attribute
 * location 0, the passes' `corner`); left unbound. */
export function viewportQuad(gl) {
  const corners = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, corners);
  gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
  const vao = gl.createVertexArray();
  gl.bindVertexArray(vao);
  gl.enableVertexAttribArray(0);
  gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
  gl.bindVertexArray(null);
  return vao;
}

/** A linked program of the two shaders; attributes: {name: location}, bound before linking. */
export function link(gl, vertex, fragment, attributes = {}) {
  const program = gl.createProgram();
  for (const [type, source] of [
    [gl.VERTEX_SHADER, vertex],
    [gl.FRAGMENT_SHADER, fragment],
  ]) {
    const shader = gl.createShader(type);
    gl.shaderSource(shader, source);
    gl.compileShader(shader);
    if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(`shader: ${gl.getShaderInfoLog(shader)}`);
    gl.attachShader(program, shader);
  }
  for (const [name, location] of Object.entries(attributes)) gl.bindAttribLocation(program, location, name);
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(`shader program: ${gl.getProgramInfoLog(program)}`);
  return program;
}

/** Binds `textures` ({uniform: target with .texture}) to units 0, 1, ... and sets `uniforms`:
 * numbers as float, pairs as vec2, or as int and ivec2 for the names in `ints`. */
export function setInputs(gl, locations, textures, uniforms, ints) {
  Object.entries(textures).forEach(([uniform, target], unit) => {
    gl.activeTexture(gl.TEXTURE0 + unit);
    gl.bindTexture(gl.TEXTURE_2D, target.texture);
    gl.uniform1i(locations(uniform), unit);
  });
  for (const [uniform, value] of Object.entries(uniforms)) {
    const at = locations(uniform);
    const pair = Array.isArray(value);
    if (ints.has(uniform)) pair ? gl.uniform2i(at, ...value) : gl.uniform1i(at, value);
    else pair ? gl.uniform2f(at, ...value) : gl.uniform1f(at, value);
  }
}
