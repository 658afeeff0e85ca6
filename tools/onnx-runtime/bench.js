// p50 per face at batch 1 under ONNX Runtime, over the prepared photos of a
// job made by agegate_onnx_bench inputs (bench/onnx-speed.sh):
//   node bench.js JOB_DIR one_pass|flip_average THREADS REPS   -> "ort_ms X"
'use strict';
const fs = require('fs');
const path = require('path');
const { session, readInputs, batch } = require('./ort');

async function main() {
  const [dir, which, threads, reps] = process.argv.slice(2);
  const job = JSON.parse(fs.readFileSync(path.join(dir, 'job.json'), 'utf8'));
  const side = job.input_size;
  const inputs = readInputs(path.join(dir, job.inputs), side);
  const sess = await session(path.join(dir, job.exports[which].file), Number(threads));
  const feeds = [];
  for (let i = 0; i < inputs.count; ++i) feeds.push({ image: batch(inputs, side, i, 1) });
  for (let i = 0; i < 5; ++i) await sess.run(feeds[i % feeds.length]);
  const t = [];
  for (let i = 0; i < Number(reps); ++i) {
    const start = process.hrtime.bigint();
    await sess.run(feeds[i % feeds.length]);
    t.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  t.sort((a, b) => a - b);
  console.log(`ort_ms ${t[Math.floor(t.length / 2)].toFixed(3)}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
