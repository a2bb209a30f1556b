/**
 * A local Open Inference Protocol (KServe V2) REST server over Modelyard's inference core (REFERENCE.md §6):
 *
 *   GET  /v2/health/live · /v2/health/ready         live: 200 while the process answers; ready: 200 while it takes
 *                                                   inference requests, 503 once it drains (SIGTERM) so that a
 *                                                   load balancer stops sending before the port closes
 *   GET  /v2                                        server metadata
 *   GET  /v2/models/{m}[/versions/{v}]              model metadata: inputs and outputs, -1 for dynamic dims
 *   GET  /v2/models/{m}[/versions/{v}]/ready        200 when ready
 *   POST /v2/models/{m}[/versions/{v}]/infer        {id?, inputs:[{name, shape, datatype, data}], outputs?:[{name}]}
 *   GET  /metrics                                   Prometheus text format 0.0.4: requests, durations, batches
 *                                                   (metrics.ts)
 *
 * The binary tensor data extension (KServe / Triton) is understood: with an Inference-Header-Content-Length header,
 * the body is that many bytes of JSON, then raw little-endian tensors for the inputs whose parameters give a
 * "binary_data_size"; "binary_data_output": true in the request's parameters (or "binary_data": true in an
 * output's) answers outputs the same way.
 *
 * Errors are `{"error": "…"}` with a 4xx status for what the client sent, 5xx for what went wrong here. Limits
 * answer before any work: a body over `maxBodyBytes` 413, more than `maxInflight` inference requests at once 503
 * with Retry-After (the queue stays bounded, and its wait with it). While draining, a request that still arrives
 * on an open connection is answered.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { UserError, describeError, isUserError } from '../errors';
import type { Logger } from '../log';
import { DTYPES, dtypeFromV2, type DType } from '../onnx/dtypes';
import { tensorFromJson, tensorToJson } from '../inference/json';
import { InferenceError, type InferenceFailure } from '../inference/worker-process';
import { arrayTypeOf, elementCount, formatShape, type Tensor, type TensorInfo } from '../inference/tensor';
import { decodeRun, materialize, NotJson, NumberRun, parseJsonFast, RunDecodeError } from './fastjson';
import { ServeMetrics } from './metrics';
import { PROMETHEUS_CONTENT_TYPE } from './prometheus';

/** What the server serves: one model, loaded, with a way to run it. */
export interface V2Backend {
  name: string;
  version: string;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  infer(feeds: Record<string, Tensor>, outputs?: string[]): Promise<Record<string, Tensor>>;
  /** Where the backend counts its runs; the server adds its requests to it (else it keeps its own). */
  metrics?: ServeMetrics;
}

export interface V2ServerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  log?: Logger;
  /** Largest request body accepted, in bytes (default 64 MiB). */
  maxBodyBytes?: number;
  /** Most inference requests in flight (read, queued or running) at once; more get 503 (default 1024). */
  maxInflight?: number;
  /** The gate shared with the gRPC server of the same process (else one of its own, of `maxInflight`). */
  admission?: Admission;
  /** Modelyard's version, for GET /v2. */
  serverVersion?: string;
  /** The text of GET /metrics, when it is more than this process's figures (`serve --processes`: all of them). */
  renderMetrics?: () => Promise<string>;
  /** Called when each response has been sent (for `modelyard serve --json` and the editor's status). */
  onRequest?: (e: { method: string; path: string; status: number; ms: number }) => void;
}

export interface V2Server {
  url: string;
  port: number;
  /** Requests answered so far (for the status shown in the editor). */
  readonly served: number;
  /** Inference requests being read, queued or run now. */
  readonly inflight: number;
  /** Stops accepting, lets requests in flight finish (for up to `graceMs`), then resolves. */
  close(graceMs?: number): Promise<void>;
}

export const SERVER_NAME = 'modelyard';

/** Failures of the inference worker rather than of the request. */
const WORKER_DOWN: ReadonlySet<InferenceFailure> = new Set(['worker-exit', 'worker-start', 'timeout', 'disposed']);

/**
 * A request answered with an error: the HTTP status it maps to (the gRPC server maps it to its codes, grpc.ts), and
 * whether the client should try again in a moment (Retry-After; gRPC's UNAVAILABLE).
 */
export class ServeError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retry = false,
  ) {
    super(message);
  }
}

/**
 * The gate both protocols pass through: inference requests in flight (read, queued or run) against the limit, and
 * whether the server drains. One per `modelyard serve`, shared by its REST and gRPC servers, so that the limit is
 * the process's and readiness says the same on both ports.
 */
export class Admission {
  inflight = 0;
  draining = false;
  constructor(readonly max = 1024) {}

  /** Takes a place, or throws the 503 that says the server is full. Give it back with leave(). */
  enter(): void {
    if (this.inflight >= this.max) throw new ServeError(503, `the server has ${this.inflight} inference requests in flight, its limit (--max-inflight); try again in a moment`, true);
    this.inflight++;
  }

  leave(): void {
    this.inflight--;
  }
}

/**
 * Checks one input of a request against the model, as both protocols name it: its declared name, shape and V2
 * datatype. Returns them checked; a ServeError 400 says what does not fit. `given` holds the inputs already read.
 */
export function checkInput(b: V2Backend, name: unknown, shape: unknown, datatype: unknown, given: Record<string, unknown>, where: string): { name: string; shape: number[]; dtype: DType } {
  if (typeof name !== 'string') throw new ServeError(400, `${where} has no "name"`);
  const info = b.inputs.find((x) => x.name === name);
  if (!info) throw new ServeError(400, `unexpected input '${name}': the model's inputs are ${b.inputs.map((x) => x.name).join(', ')}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new ServeError(400, `input '${name}' needs a "shape" of non-negative integers`);
  if (typeof datatype !== 'string' || !datatype) throw new ServeError(400, `input '${name}' needs a "datatype"`);
  const dtype = dtypeFromV2(datatype);
  if (!dtype) throw new ServeError(400, `input '${name}': unknown datatype '${datatype}'`);
  if (info.dtype && dtype !== info.dtype) throw new ServeError(400, `input '${name}' is ${datatype} but the model expects ${v2Datatype(info.dtype)}`);
  if (given[name]) throw new ServeError(400, `input '${name}' is given twice`);
  return { name, shape: shape as number[], dtype };
}

/** Checks that a request names the served model (and its version, when it names one): ServeError 404 otherwise. */
export function checkModel(b: V2Backend, name: string, version: string | undefined): void {
  if (name !== b.name) throw new ServeError(404, `unknown model '${name}': this server serves '${b.name}'`);
  if (version !== undefined && version !== b.version) throw new ServeError(404, `unknown version '${version}' of '${b.name}': it has ${b.version}`);
}

/** Checks the outputs a request asks for by name (ServeError 400 for one the model does not have). */
export function checkOutputs(b: V2Backend, names: unknown[]): string[] {
  return names.map((n, i) => {
    if (typeof n !== 'string') throw new ServeError(400, `outputs[${i}] has no "name"`);
    if (!b.outputs.some((x) => x.name === n)) throw new ServeError(400, `unknown output '${n}': the model's outputs are ${b.outputs.map((x) => x.name).join(', ')}`);
    return n;
  });
}

/**
 * What a failed run of the model answers. An input the model refuses is the client's to fix (400). The inference
 * worker gone (killed, out of memory, a run past its time) is this server's, and passing: 503 with a retry, and a
 * fresh worker answers the next request. Anything else is ours (500).
 */
export function inferFailure(e: unknown): ServeError {
  if (e instanceof InferenceError && WORKER_DOWN.has(e.reason)) return new ServeError(503, describeError(e), true);
  return new ServeError(isUserError(e) ? 400 : 500, describeError(e));
}

interface TensorMeta {
  name: string;
  datatype: string;
  shape: number[];
}

/** V2's datatype for a dtype; BYTES for strings. */
export function v2Datatype(dtype: DType | undefined): string {
  return (dtype && DTYPES[dtype].v2) || 'BYTES';
}

function v2Shape(shape: TensorInfo['shape']): number[] {
  return (shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
}

/** The model's metadata as both protocols answer it: -1 for dynamic dims. */
export function modelMetadata(b: V2Backend): { name: string; versions: string[]; platform: string; inputs: TensorMeta[]; outputs: TensorMeta[] } {
  const io = (t: TensorInfo) => ({ name: t.name, datatype: v2Datatype(t.dtype), shape: v2Shape(t.shape) });
  return { name: b.name, versions: [b.version], platform: 'onnxruntime_onnx', inputs: b.inputs.map(io), outputs: b.outputs.map(io) };
}

interface InferRequest {
  id?: string;
  inputs: { name: string; shape: number[]; datatype: string; data: unknown; parameters?: unknown }[];
  outputs?: { name: string; parameters?: unknown }[];
  parameters?: unknown;
}

interface ParsedRequest {
  id?: string;
  feeds: Record<string, Tensor>;
  outputs?: string[];
  /** Outputs to answer as raw bytes after the JSON (the binary tensor data extension). */
  binaryOutputs: Set<string> | 'all' | undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/**
 * A tensor from raw bytes (the binary tensor data extension, gRPC's raw contents), copied into an aligned typed
 * array: numbers little-endian, BYTES as a 4-byte little-endian length before each string.
 */
export function tensorFromBytes(name: string, dtype: DType, shape: number[], bytes: Uint8Array, role: 'input' | 'output' = 'input'): Tensor {
  const what = `${role} '${name}'`;
  const count = elementCount(shape);
  if (dtype === 'string') return { dtype, shape, data: stringsFromBytes(what, bytes, count) };
  const Ctor = arrayTypeOf(dtype);
  if (!Ctor) throw new ServeError(400, `${what}: binary data for ${v2Datatype(dtype)} is not supported here`);
  if (bytes.length !== count * Ctor.BYTES_PER_ELEMENT) {
    throw new ServeError(400, `${what} has ${bytes.length} bytes of binary data but its shape ${formatShape(shape)} of ${v2Datatype(dtype)} needs ${count * Ctor.BYTES_PER_ELEMENT}`);
  }
  const data = new Ctor(count);
  new Uint8Array(data.buffer).set(bytes);
  return { dtype, shape, data: data as Tensor['data'] };
}

/** UTF-8 both ways, for BYTES tensors (the decoder refuses bytes that are not UTF-8). */
export const utf8 = new TextDecoder('utf-8', { fatal: true });
export const utf8Encoder = new TextEncoder();

function stringsFromBytes(what: string, bytes: Uint8Array, count: number): string[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: string[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 4 > bytes.length) throw new ServeError(400, `${what}: the BYTES data ends inside the length of element ${out.length}`);
    const n = view.getUint32(at, true);
    if (at + 4 + n > bytes.length) throw new ServeError(400, `${what}: element ${out.length} is ${n} bytes long but only ${bytes.length - at - 4} are left`);
    try {
      out.push(utf8.decode(bytes.subarray(at + 4, at + 4 + n)));
    } catch {
      throw new ServeError(400, `${what}: element ${out.length} is not UTF-8 text, which onnxruntime's strings need`);
    }
    if (out.length > count) break;
    at += 4 + n;
  }
  if (out.length !== count) throw new ServeError(400, `${what} has ${out.length > count ? 'more than ' + count : out.length} BYTES elements but its shape ${formatShape([count])} needs ${count}`);
  return out;
}

/** A tensor's raw bytes, as tensorFromBytes reads them: a view of a numeric tensor's memory, strings encoded. */
export function tensorBytes(t: Tensor): Uint8Array {
  const d = t.data;
  if (!Array.isArray(d)) return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  const parts = d.map((s) => utf8Encoder.encode(s));
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of parts) {
    view.setUint32(at, p.length, true);
    out.set(p, at + 4);
    at += 4 + p.length;
  }
  return out;
}

function parseRequest(body: unknown, b: V2Backend, binary?: Uint8Array): ParsedRequest {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ServeError(400, 'the request body must be a JSON object with "inputs"');
  const r = body as Partial<InferRequest>;
  if ((r.inputs as unknown) instanceof NumberRun || !Array.isArray(r.inputs) || r.inputs.length === 0) throw new ServeError(400, 'the request has no "inputs" array of objects');
  if (r.id !== undefined && typeof r.id !== 'string') throw new ServeError(400, '"id" must be a string');
  if (r.outputs !== undefined && !Array.isArray(r.outputs) && !((r.outputs as unknown) instanceof NumberRun)) throw new ServeError(400, '"outputs" must be an array of {"name"}');
  const feeds: Record<string, Tensor> = {};
  let binaryAt = 0;
  for (const [i, input] of r.inputs.entries()) {
    if (!input || typeof input !== 'object' || (input as unknown) instanceof NumberRun) throw new ServeError(400, `inputs[${i}] is not an object`);
    // Only "data" may stay a NumberRun (decoded below, once the dtype is known); the rest as JSON.parse gives it.
    const given = materialize({ ...input, data: undefined }) as Partial<InferRequest['inputs'][number]>;
    const data = input.data;
    const { name, shape, dtype } = checkInput(b, given.name, given.shape, given.datatype, feeds, `inputs[${i}]`);
    const parameters = given.parameters;
    const binarySize = isObject(parameters) ? parameters.binary_data_size : undefined;
    if (binarySize !== undefined) {
      if (!binary) throw new ServeError(400, `input '${name}' has "binary_data_size" but the request has no Inference-Header-Content-Length header`);
      if (!Number.isInteger(binarySize) || (binarySize as number) < 0 || binaryAt + (binarySize as number) > binary.length) {
        throw new ServeError(400, `input '${name}': "binary_data_size" ${JSON.stringify(binarySize)} does not fit the ${binary.length - binaryAt} bytes left after the JSON header`);
      }
      feeds[name] = tensorFromBytes(name, dtype, shape, binary.subarray(binaryAt, binaryAt + (binarySize as number)));
      binaryAt += binarySize as number;
      continue;
    }
    if (data instanceof NumberRun) {
      // The fast path: the numbers decoded straight into the typed array (fastjson.ts).
      try {
        feeds[name] = { dtype, shape, data: decodeRun(data, dtype, elementCount(shape)) };
        continue;
      } catch (e) {
        if (!(e instanceof RunDecodeError)) throw e;
        // the general path below says what is wrong with which value
      }
    }
    try {
      feeds[name] = tensorFromJson({ dtype, shape, data: materialize(data) }, { name, dtype, shape });
    } catch (e) {
      throw new ServeError(400, describeError(e));
    }
  }
  if (binary && binaryAt !== binary.length) throw new ServeError(400, `the request carries ${binary.length} bytes of binary data but its inputs name ${binaryAt}`);
  let outputs: string[] | undefined;
  if ((r.outputs as unknown) instanceof NumberRun) r.outputs = materialize(r.outputs) as InferRequest['outputs'];
  const params = materialize(r.parameters);
  let binaryOutputs: ParsedRequest['binaryOutputs'] = isObject(params) && params.binary_data_output === true ? 'all' : undefined;
  if (Array.isArray(r.outputs)) {
    for (const o of materialize(r.outputs) as unknown[]) {
      if (isObject(o) && typeof o.name === 'string' && isObject(o.parameters) && o.parameters.binary_data === true) {
        if (binaryOutputs === 'all') continue;
        binaryOutputs ??= new Set<string>();
        binaryOutputs.add(o.name);
      }
    }
  }
  if (r.outputs !== undefined) {
    if (!Array.isArray(r.outputs)) throw new ServeError(400, '"outputs" must be an array of {"name"}');
    outputs = checkOutputs(
      b,
      r.outputs.map((o) => (o as { name?: unknown } | null)?.name),
    );
  }
  return { ...(r.id !== undefined ? { id: r.id } : {}), feeds, ...(outputs ? { outputs } : {}), binaryOutputs };
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      reject(new ServeError(413, `the request body is ${declared} bytes, more than the ${limit} this server accepts`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new ServeError(413, `the request body is more than the ${limit} bytes this server accepts`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ServeError(400, `'${part}' is not a valid URL path segment`);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Stops a server gracefully: `close` stops accepting and calls back once what is in flight is answered; `cut` ends
 * what is still open after `graceMs` (a stuck client). Resolves when `close` calls back.
 */
export function closeWithin(graceMs: number, close: (done: () => void) => void, cut: () => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(cut, graceMs);
    timer.unref();
    close(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Starts the server; resolves once it listens. A port in use is a UserError naming the port and the way out. */
export function startV2Server(backend: V2Backend, opts: V2ServerOptions = {}): Promise<V2Server> {
  const host = opts.host ?? '127.0.0.1';
  const limit = opts.maxBodyBytes ?? 64 * 2 ** 20;
  const admission = opts.admission ?? new Admission(Math.max(1, opts.maxInflight ?? 1024));
  const port = opts.port ?? 8080;
  let served = 0;
  const metrics = backend.metrics ?? new ServeMetrics(backend.name, backend.version);
  const modelPath = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer)?\/?$/;

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const t0 = performance.now();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const p = url.pathname;
    if (req.method === 'GET' && p === '/v2/health/live') return send(res, 200, { live: true });
    if (req.method === 'GET' && p === '/v2/health/ready') return send(res, admission.draining ? 503 : 200, { ready: !admission.draining });
    if (req.method === 'GET' && (p === '/v2' || p === '/v2/')) return send(res, 200, { name: SERVER_NAME, version: opts.serverVersion ?? '0', extensions: [] });
    if (req.method === 'GET' && p === '/metrics') {
      const text = opts.renderMetrics ? await opts.renderMetrics() : metrics.render();
      res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    const m = modelPath.exec(p);
    if (!m) throw new ServeError(404, `no such endpoint: ${req.method} ${p}`);
    const [, rawName, rawVersion, action] = m;
    const name = decode(rawName!);
    const version = rawVersion === undefined ? undefined : decode(rawVersion);
    checkModel(backend, name, version);
    if (action === '/infer') {
      if (req.method !== 'POST') throw new ServeError(405, 'infer takes POST');
      try {
        admission.enter();
      } catch (e) {
        metrics.requestFailed();
        throw e;
      }
      // Counted as this model's: a failure is any error answer (4xx or 5xx) from here on.
      try {
        const body = await readBody(req, limit);
        // The binary tensor data extension: the JSON header is the first N bytes, raw tensors follow.
        const headerLength = req.headers['inference-header-content-length'];
        let binary: Uint8Array | undefined;
        let raw = body;
        if (headerLength !== undefined) {
          const n = Number(headerLength);
          if (!/^\d+$/.test(String(headerLength)) || n > body.length) throw new ServeError(400, `Inference-Header-Content-Length ${String(headerLength)} is not a length within the ${body.length}-byte body`);
          raw = body.subarray(0, n);
          binary = body.subarray(n);
        }
        let r: ParsedRequest | undefined;
        const fast = parseJsonFast(raw);
        if (fast !== undefined) {
          try {
            r = parseRequest(fast, backend, binary);
          } catch (e) {
            if (!(e instanceof NotJson)) throw e;
          }
        }
        if (!r) {
          // Not the fast parser's kind of JSON, or not JSON at all: JSON.parse decides, and words the error.
          let json: unknown;
          try {
            json = JSON.parse(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8'));
          } catch (e) {
            throw new ServeError(400, `the request body is not JSON: ${describeError(e)}`);
          }
          r = parseRequest(json, backend, binary);
        }
        let outputs: Record<string, Tensor>;
        try {
          outputs = await backend.infer(r.feeds, r.outputs);
        } catch (e) {
          throw inferFailure(e);
        }
        served++;
        const wantsBinary = r.binaryOutputs;
        const raws: Uint8Array[] = [];
        const answer = {
          model_name: backend.name,
          model_version: backend.version,
          ...(r.id !== undefined ? { id: r.id } : {}),
          outputs: Object.entries(outputs).map(([n, t]) => {
            if (wantsBinary && (wantsBinary === 'all' || wantsBinary.has(n))) {
              const bytes = tensorBytes(t);
              raws.push(bytes);
              return { name: n, datatype: v2Datatype(t.dtype), shape: t.shape, parameters: { binary_data_size: bytes.byteLength } };
            }
            const j = tensorToJson(t);
            return { name: n, datatype: v2Datatype(t.dtype), shape: j.shape, data: j.data };
          }),
        };
        if (!raws.length) send(res, 200, answer);
        else {
          const header = Buffer.from(JSON.stringify(answer));
          const bytes = Buffer.concat([header, ...raws]);
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'inference-header-content-length': header.length, 'content-length': bytes.length });
          res.end(bytes);
        }
      } catch (e) {
        metrics.requestFailed();
        throw e;
      } finally {
        admission.leave();
      }
      metrics.requestSucceeded((performance.now() - t0) / 1000);
      return;
    }
    if (req.method !== 'GET') throw new ServeError(405, `${req.method} is not allowed here`);
    if (action === '/ready') return send(res, admission.draining ? 503 : 200, { name: backend.name, ready: !admission.draining });
    return send(res, 200, modelMetadata(backend));
  };

  const server = http.createServer((req, res) => {
    if (opts.onRequest) {
      const t0 = performance.now();
      res.once('finish', () => opts.onRequest!({ method: req.method ?? '', path: req.url ?? '', status: res.statusCode, ms: performance.now() - t0 }));
    }
    handle(req, res).catch((e: unknown) => {
      const status = e instanceof ServeError ? e.status : 500;
      if (status >= 500) opts.log?.error(`[serve] ${req.method} ${req.url}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      if (!res.headersSent) {
        if (e instanceof ServeError && e.retry) res.setHeader('retry-after', '1');
        send(res, status, { error: e instanceof Error ? e.message : String(e) });
      }
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;

  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') reject(new UserError(`port ${port} on ${host} is already in use.`, 'Stop what uses it, or choose another port (--port N, 0 for a free one, or the setting modelyard.serve.port).'));
      else if (e.code === 'EACCES') reject(new UserError(`this user may not listen on port ${port}.`, 'Choose a port above 1023.'));
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') reject(new UserError(`cannot listen on ${host}: no such address on this machine.`, 'Give --host an address of this machine (127.0.0.1 for this machine only, 0.0.0.0 for every interface).'));
      else reject(e);
    });
    server.listen(port, host, () => {
      const bound = (server.address() as AddressInfo).port;
      const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
      opts.log?.info(`[serve] ${backend.name} ${backend.version} at ${url}/v2/models/${encodeURIComponent(backend.name)}`);
      resolve({
        url,
        port: bound,
        get served() {
          return served;
        },
        get inflight() {
          return admission.inflight;
        },
        // Graceful: no new connection is accepted, idle keep-alive connections are closed, requests in flight
        // are answered; what is still open after the grace period (a stuck client) is cut.
        close: (graceMs = 25_000) => {
          admission.draining = true;
          return closeWithin(
            graceMs,
            (done) => {
              server.close(() => done());
              server.closeIdleConnections();
            },
            () => server.closeAllConnections(),
          );
        },
      });
    });
  });
}
