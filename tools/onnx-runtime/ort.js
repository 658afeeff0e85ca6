// Shared by make-fixture.js and bench.js: an ONNX Runtime CPU session with
// a fixed thread count, and the prepared photos written by agegate_onnx_bench.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function session(file, threads) {
  return ort.InferenceSession.create(file, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
}

// inputs.bin: [n,3,s,s] float32 little-endian.
function readInputs(file, side) {
  const buf = fs.readFileSync(file);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const per = 3 * side * side;
  if (all.length % per !== 0) throw new Error(`${file}: ${all.length} floats is not a whole number of ${per}`);
  return { all, per, count: all.length / per };
}

function batch(inputs, side, from, n) {
  const data = inputs.all.slice(from * inputs.per, (from + n) * inputs.per);
  return new ort.Tensor('float32', data, [n, 3, side, side]);
}

module.exports = { ort, session, readInputs, batch };
