// Calls one function of a client/browser module on inputs written by tests/client/browser/jsbridge.py.
//
// usage: node run_js.mjs DIR. DIR/call.json: { module, function, args }, where any
// { "__mat__": i, dtype, shape } stands for the array in DIR/in_i.bin: a mat for H x W (x C), a bare
// typed array for a 1-D one. The result is written the same way: DIR/result.json, with arrays in
// DIR/out_i.bin. With "inplace": [indices], the result is [returned value, those arguments after the
// call] (for functions that change their arguments). With "steps": [{ method, args }], `function` is
// a class: one instance is made from args, each step calls a method on it, and the result is the
// list of answers; a step's argument { "__result__": k } is step k's answer.

import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const TYPES = { uint8: Uint8Array, int16: Int16Array, float32: Float32Array, float64: Float64Array };
const dir = process.argv[2];
const call = JSON.parse(readFileSync(join(dir, 'call.json'), 'utf8'));

const answers = [];

function load(node) {
  if (Array.isArray(node)) return node.map(load);
  if (node === null || typeof node !== 'object') return node;
  if ('__result__' in node) return answers[node.__result__];
  if ('__mat__' in node) {
    const bytes = readFileSync(join(dir, `in_${node.__mat__}.bin`));
    const Type = TYPES[node.dtype];
    const data = new Type(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    if (node.shape.length === 1) return data;
    const [height, width, channels = 1] = node.shape;
    return { data, height, width, channels };
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, load(v)]));
}

let written = 0;
function save(node) {
  if (Array.isArray(node)) return node.map(save);
  if (node === null || node === undefined || typeof node !== 'object') return node ?? null;
  const bare = ArrayBuffer.isView(node);
  if (bare || (ArrayBuffer.isView(node.data) && 'height' in node)) {
    const data = bare ? node : node.data;
    const dtype = Object.keys(TYPES).find((k) => data instanceof TYPES[k]);
    const i = written++;
    writeFileSync(join(dir, `out_${i}.bin`), Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    return { __mat__: i, dtype, shape: bare ? [data.length] : [node.height, node.width, node.channels] };
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, save(v)]));
}

const root = resolve(new URL('.', import.meta.url).pathname, '../../../client/browser');
const module = await import(pathToFileURL(join(root, call.module)).href);
const fn = call.function.split('.').reduce((obj, name) => obj[name], module);
let result;
if (call.steps) {
  const instance = new fn(...load(call.args));
  for (const step of call.steps) answers.push(instance[step.method](...load(step.args)));
  result = answers;
} else {
  const args = load(call.args);
  result = fn(...args);
  if (call.inplace) result = [result, call.inplace.map((i) => args[i])];
}
writeFileSync(join(dir, 'result.json'), JSON.stringify(save(result)));
