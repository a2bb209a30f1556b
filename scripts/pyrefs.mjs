// The Python references for tests and benchmarks (never a runtime dependency of Modelyard), installed from PyPI into
// a virtual environment cached outside the git tree (REFERENCE.md §8):
//   onnx                  its checker, and the node conformance suite shipped inside its wheel
//   onnxruntime           its Python quantizer, the peer Modelyard's quantizer is measured against
//   onnxconverter-common  its fp16 converter, the same for fp16
//   onnx-ir, sympy        undeclared imports of onnxruntime.quantization: its MatMulNBits quantizer imports onnx_ir,
//                         quant_pre_process's symbolic shape inference imports sympy
// Idempotent: a finished install leaves a `.ok` marker naming the pinned versions; anything else is redone.
//   node scripts/pyrefs.mjs [kserve|mlserver|triton-client]
//                                   installs if needed and prints the venv's python (the references', a peer model
//                                   server's: see PEER_SERVERS, or Triton's client: see TRITON_CLIENT)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cacheRoot } from './testenv.mjs';

export const PY_REFS = { onnx: '1.23.2', onnxruntime: '1.31.1', 'onnxconverter-common': '1.16.0', 'onnx-ir': '1.1.0', sympy: '1.14.0' };

function log(msg) {
  process.stderr.write(`[pyrefs] ${msg}\n`);
}

/** The venv's python, with the pinned references installed; throws with the reason when they cannot be. */
export function ensurePythonRefs() {
  return ensureVenv('py-refs', PY_REFS);
}

/**
 * The model servers Modelyard's V2 server is measured against (test/bench/serve-peers.bench.ts), each in its own venv
 * (their web stacks pin different FastAPI and Pydantic versions), with the same onnxruntime.
 */
export const PEER_SERVERS = {
  kserve: { kserve: '0.21.0', onnxruntime: '1.31.1' },
  mlserver: { mlserver: '1.7.1', onnxruntime: '1.31.1' },
};

/** The python of a peer server's venv ('kserve' or 'mlserver'), installed if needed. */
export function ensurePeerServer(which) {
  return ensureVenv(`py-${which}`, PEER_SERVERS[which]);
}

/**
 * NVIDIA Triton's Python client with its gRPC stack (grpcio, the C core), the client many users call a V2 server with:
 * test/unit/serve-grpc.test.ts speaks to Modelyard's gRPC server through it. A venv of its own: it pins protobuf 6,
 * the references have 7.
 */
export const TRITON_CLIENT = { 'tritonclient[grpc]': '2.73.0' };

export function ensureTritonClient() {
  return ensureVenv('py-triton-client', TRITON_CLIENT);
}

/** A venv under the test cache named `name` with `pins` ({package: version}) installed; returns its python. */
function ensureVenv(name, pins) {
  const dir = path.join(cacheRoot(), name);
  const py = path.join(dir, 'bin', 'python');
  const want = JSON.stringify(pins);
  const ok = path.join(dir, '.ok');
  if (fs.existsSync(ok) && fs.readFileSync(ok, 'utf8') === want && fs.existsSync(py)) return py;
  const t0 = Date.now();
  const base = ['python3', 'python'].find((p) => spawnSync(p, ['--version']).status === 0);
  if (!base) throw new Error('no python3 on PATH: install Debian packages python3 and python3-venv');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const sh = (cmd, args, timeout = 900_000) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout });
    if (r.status !== 0) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`${path.basename(cmd)} ${args.join(' ')} failed: ${(r.stderr || r.stdout || String(r.error)).trim().split('\n').at(-1)}`);
    }
  };
  sh(base, ['-m', 'venv', dir]);
  const specs = Object.entries(pins).map(([k, v]) => `${k}==${v}`);
  sh(py, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', '--no-input', ...specs]);
  fs.writeFileSync(ok, want);
  log(`installed ${specs.join(' ')} into ${dir} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return py;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const which = process.argv[2];
  console.log(which === 'triton-client' ? ensureTritonClient() : which && which in PEER_SERVERS ? ensurePeerServer(which) : ensurePythonRefs());
}
