// ONNX Runtime's answers for agegate's exported model on real photos, the
// reference tests/export/onnx_export_test.cpp checks LibTorch against. Run
// by make-fixture.sh (which makes the job with agegate_onnx_bench inputs):
//   node make-fixture.js JOB_DIR > ../../tests/data/onnx_runtime_outputs.json
'use strict';
const fs = require('fs');
const path = require('path');
const { ort, session, readInputs, batch } = require('./ort');

async function run(sess, inputs, side, from, n) {
  const out = await sess.run({ image: batch(inputs, side, from, n) });
  const k = out.logits.dims[1];
  const logits = [];
  for (let i = 0; i < n; ++i) logits.push(Array.from(out.logits.data.slice(i * k, (i + 1) * k)));
  return { logits, age: Array.from(out.age.data) };
}

async function main() {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: node make-fixture.js JOB_DIR');
  const job = JSON.parse(fs.readFileSync(path.join(dir, 'job.json'), 'utf8'));
  const side = job.input_size;
  const inputs = readInputs(path.join(dir, job.inputs), side);
  const result = {
    made_by: 'tools/onnx-runtime/make-fixture.sh',
    runtime: `onnxruntime-node ${ort.env.versions.node}, CPU execution provider, all graph optimisations`,
    model: path.basename(job.model),
    input: `the first ${inputs.count} photos of labels.csv prepared as agegate prepares them, float32 RGB 0..255`,
    photos: job.photos,
  };
  for (const [name, e] of Object.entries(job.exports)) {
    const sess = await session(path.join(dir, e.file), 2);
    const runtime = `onnxruntime-node ${ort.env.versions.node}`;
    const eight = await run(sess, inputs, side, 0, inputs.count);
    // Batch 1: each photo alone.
    const one = { logits: [], age: [] };
    for (let i = 0; i < inputs.count; ++i) {
      const r = await run(sess, inputs, side, i, 1);
      one.logits.push(r.logits[0]);
      one.age.push(r.age[0]);
    }
    result[name] = {
      graph_sha256: e.graph_sha256,
      batch_8: { runtime, ...eight },
      batch_1: { runtime, ...one },
    };
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => { console.error(e); process.exit(1); });
