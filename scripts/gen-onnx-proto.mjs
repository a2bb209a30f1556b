// Generates src/core/onnx/gen/onnx_pb.ts (protobuf-es, target ts) from the vendored ONNX schema
// src/core/onnx/proto/onnx.proto. The generated file is committed: builds and tests never run this.
//
// The schema is the official onnx.proto of the onnx 1.23.2 wheel (site-packages/onnx/onnx.proto, Apache-2.0, kept
// verbatim with its header). onnx-ml.proto differs from it only in a comment, so one schema reads both kinds of
// model. To update: copy the newer wheel's onnx.proto over the vendored one, then run
//
//   node scripts/gen-onnx-proto.mjs
//
// protoc-gen-es comes from node_modules; buf (@bufbuild/buf, pinned below) is fetched from npm by npx when this runs.
// It is not a devDependency: its per-platform binaries are optional dependencies that npm leaves out of the lock file
// on any one platform, which breaks `npm ci` everywhere else. Both work offline once fetched: the only input is the
// local proto folder, and the template is given inline, so there is no buf.yaml or buf.gen.yaml to keep.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'node_modules', '.bin');
const protoDir = 'src/core/onnx/proto';
const outDir = 'src/core/onnx/gen';

const template = {
  version: 'v2',
  clean: true,
  plugins: [{ local: path.join(bin, 'protoc-gen-es'), out: outDir, opt: ['target=ts'], include_imports: false }],
};

const BUF = '@bufbuild/buf@1.75.0';
const r = spawnSync('npx', ['--yes', '--package', BUF, 'buf', 'generate', '--template', JSON.stringify(template), protoDir], {
  cwd: root,
  stdio: 'inherit',
});
if (r.status !== 0) {
  console.error(`buf generate failed (exit ${r.status ?? r.signal})`);
  process.exit(1);
}
const out = path.join(root, outDir, 'onnx_pb.ts');
// protoc-gen-es opens the file with `/* eslint-disable */`; the code passes this project's lint as it is, and the
// unused directive would be a warning on every lint run.
fs.writeFileSync(out, fs.readFileSync(out, 'utf8').replace(/^\/\* eslint-disable \*\/\n/m, ''));
console.log(`wrote ${path.relative(root, out)} (${fs.statSync(out).size} bytes)`);
