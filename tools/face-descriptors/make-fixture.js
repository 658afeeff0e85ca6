// Reference descriptors for the face ResNet import test (tests/model/face_resnet_test.cpp):
// runs face-api.js@0.22.2's own FaceRecognitionNet, with the weights in
// ../shared/weights/face_recognition, on the central 150x150 pixels of a few
// training photos (150 is the net's input size, so face-api.js does no
// resizing), and writes the 128-d descriptors as JSON. Run once; the output
// is kept in the repository:
//   cd tools/face-descriptors && npm ci && node make-fixture.js [SHARED_DIR] > ../../tests/data/face_descriptors.json
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
const faceapi = require('face-api.js');
const jpeg = require('jpeg-js');

const shared = process.argv[2] || process.env.AGEGATE_SHARED_DIR || path.join(__dirname, '../../../shared');
const photos = ['000006.jpg', '000023.jpg', '000100.jpg', '000357.jpg', '001234.jpg', '004000.jpg'];
const kSide = 150;

async function main() {
  const weights = path.join(shared, 'weights/face_recognition');
  await faceapi.nets.faceRecognitionNet.loadFromDisk(weights);
  const out = {
    made_by: 'tools/face-descriptors/make-fixture.js',
    network: 'face-api.js@0.22.2 FaceRecognitionNet, tfjs-core@1.7.0 cpu backend, jpeg-js@0.4.4 decoding',
    weights_manifest_sha256: require('crypto').createHash('sha256')
      .update(fs.readFileSync(path.join(weights, 'face_recognition_model-weights_manifest.json'))).digest('hex'),
    input: 'the central 150x150 pixels of each 200x200 photo, RGB',
    photos: [],
  };
  for (const name of photos) {
    const img = jpeg.decode(fs.readFileSync(path.join(shared, 'data/faces/final_files', name)), { useTArray: true });
    const x0 = Math.floor((img.width - kSide) / 2), y0 = Math.floor((img.height - kSide) / 2);
    const rgb = new Int32Array(kSide * kSide * 3);
    const sum = [0, 0, 0];
    for (let y = 0; y < kSide; ++y) {
      for (let x = 0; x < kSide; ++x) {
        for (let c = 0; c < 3; ++c) {
          const v = img.data[((y0 + y) * img.width + (x0 + x)) * 4 + c];
          rgb[(y * kSide + x) * 3 + c] = v;
          sum[c] += v;
        }
      }
    }
    const input = tf.tensor3d(rgb, [kSide, kSide, 3], 'int32');
    const descriptor = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(input);
    input.dispose();
    out.photos.push({
      file: name,
      crop: [x0, y0, kSide, kSide],
      pixel_mean: sum.map((s) => s / (kSide * kSide)),  // shows a decoder difference apart from the network's
      descriptor: Array.from(descriptor),
    });
  }
  // One photo per line: a diff shows which descriptor moved.
  const head = JSON.stringify({ ...out, photos: undefined }, null, 1).replace(/\n}$/, '');
  process.stdout.write(head + ',\n "photos": [\n  ' + out.photos.map((p) => JSON.stringify(p)).join(',\n  ') + '\n ]\n}\n');
}

main().catch((e) => { console.error(e); process.exit(1); });
