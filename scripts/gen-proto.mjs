// Generates the protobuf-es code (target ts) of the two schemas Modelyard speaks. The generated files are committed:
// builds and tests never run this.
//
//   src/core/onnx/gen/onnx_pb.ts            from src/core/onnx/proto/onnx.proto: the official onnx.proto of the onnx
//                                           1.23.2 wheel (site-packages/onnx/onnx.proto, Apache-2.0, kept verbatim
//                                           with its header). onnx-ml.proto differs from it only in a comment, so one
//                                           schema reads both kinds of model. To update: copy the newer wheel's
//                                           onnx.proto over the vendored one.
//   src/core/serve/gen/grpc_predict_v2_pb.ts
//                                           from src/core/serve/proto/grpc_predict_v2.binpb: the Open Inference
//                                           Protocol's gRPC schema (package inference, service GRPCInferenceService) as
//                                           KServe ships it compiled in its wheel (kserve 0.21.0 from PyPI, Apache-2.0:
//                                           kserve/protocol/grpc/grpc_predict_v2_pb2.py), taken as a FileDescriptorSet
//                                           with `node scripts/gen-proto.mjs --dump-v2` (needs `node scripts/pyrefs.mjs
//                                           kserve` once). The wheel carries no .proto text, only this descriptor.
//
//   node scripts/gen-proto.mjs
//
// protoc-gen-es comes from node_modules; buf (@bufbuild/buf, pinned below) is fetched from npm by npx when this runs.
// It is not a devDependency: its per-platform binaries are optional dependencies that npm leaves out of the lock file
// on any one platform, which breaks `npm ci` everywhere else. Both work offline once fetched: the only inputs are
// local, and the template is given inline, so there is no buf.yaml or buf.gen.yaml to keep.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'node_modules', '.bin');
const BUF = '@bufbuild/buf@1.75.0';
const V2_DESCRIPTOR = 'src/core/serve/proto/grpc_predict_v2.binpb';

if (process.argv.includes('--dump-v2')) {
  const python = path.join(process.env.MODELYARD_CACHE ?? path.join(os.homedir(), '.cache', 'modelyard-test'), 'py-kserve', 'bin', 'python');
  const code = [
    'import sys',
    'from kserve.protocol.grpc import grpc_predict_v2_pb2 as m',
    'from google.protobuf import descriptor_pb2',
    's = descriptor_pb2.FileDescriptorSet()',
    's.file.add().MergeFromString(m.DESCRIPTOR.serialized_pb)',
    'open(sys.argv[1], "wb").write(s.SerializeToString())',
  ].join('\n');
  const r = spawnSync(python, ['-c', code, path.join(root, V2_DESCRIPTOR)], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(1);
}

/** buf generate INPUT → OUT (one schema), then the file's lint directive dropped. */
function generate(input, outDir, file) {
  const template = {
    version: 'v2',
    clean: true,
    plugins: [{ local: path.join(bin, 'protoc-gen-es'), out: outDir, opt: ['target=ts'], include_imports: false }],
  };
  const r = spawnSync('npx', ['--yes', '--package', BUF, 'buf', 'generate', '--template', JSON.stringify(template), input], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`buf generate ${input} failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
  const out = path.join(root, outDir, file);
  // protoc-gen-es opens the file with `/* eslint-disable */`; the code passes this project's lint as it is, and the
  // unused directive would be a warning on every lint run.
  fs.writeFileSync(out, fs.readFileSync(out, 'utf8').replace(/^\/\* eslint-disable \*\/\n/m, ''));
  console.log(`wrote ${path.relative(root, out)} (${fs.statSync(out).size} bytes)`);
}

generate('src/core/onnx/proto', 'src/core/onnx/gen', 'onnx_pb.ts');
generate(V2_DESCRIPTOR, 'src/core/serve/gen', 'grpc_predict_v2_pb.ts');
