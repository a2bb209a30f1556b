/**
 * The Open Inference Protocol's gRPC service, `inference.GRPCInferenceService` (KServe's grpc_predict_v2.proto, the
 * one KServe's and Triton's clients speak), beside the REST server on a second port: ServerLive, ServerReady,
 * ModelReady, ServerMetadata, ModelMetadata and ModelInfer. The repository calls (load, unload) answer UNIMPLEMENTED:
 * this server serves one model, loaded at start.
 *
 * gRPC transport by @grpc/grpc-js (the gRPC project's own Node implementation, pure JS), given by the caller: the
 * CLI loads it from a bundle of its own (dist/grpc-js.js) only when --grpc-port asks for it. The messages by
 * protobuf-es, generated from the protocol's descriptor (gen/grpc_predict_v2_pb.ts, scripts/gen-proto.mjs), the
 * runtime that already reads ONNX files. A request's bytes are decoded in the handler, so that a malformed message is
 * the client's INVALID_ARGUMENT, as a malformed REST body is a 400 (grpc-js would call it INTERNAL).
 *
 * Tensors come as typed `contents` (fp32_contents, int_contents …, checked against the datatype and the shape) or
 * as `raw_input_contents` (little-endian bytes, one entry per input, BYTES as 4-byte length-prefixed strings): a
 * request with raw inputs gets raw outputs (`raw_output_contents`), as Triton answers; one with typed contents gets
 * typed contents, as KServe's Python server does.
 *
 * The checks, the limit on requests in flight, readiness while draining and the metrics are the REST server's
 * (v2.ts): one Admission and one ServeMetrics per process, so /metrics counts both protocols.
 */
import type * as GrpcJs from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type DescMessage, type DescService, type MessageShape } from '@bufbuild/protobuf';
import { UserError, describeError } from '../errors';
import type { Logger } from '../log';
import type { DType } from '../onnx/dtypes';
import { tensorFromJson } from '../inference/json';
import { elementCount, type Tensor } from '../inference/tensor';
import {
  GRPCInferenceService,
  InferTensorContentsSchema,
  ModelInferRequestSchema,
  ModelInferResponseSchema,
  ModelMetadataResponseSchema,
  ModelReadyResponseSchema,
  ServerLiveResponseSchema,
  ServerMetadataResponseSchema,
  ServerReadyResponseSchema,
  type InferTensorContents,
  type ModelInferRequest,
  type ModelInferResponse_InferOutputTensor,
} from './gen/grpc_predict_v2_pb';
import { ServeMetrics } from './metrics';
import { Admission, checkInput, checkModel, checkOutputs, closeWithin, inferFailure, modelMetadata, ServeError, SERVER_NAME, tensorBytes, tensorFromBytes, utf8, utf8Encoder, v2Datatype, type V2Backend } from './v2';

export interface GrpcServerOptions {
  /** The @grpc/grpc-js module. */
  grpc: typeof GrpcJs;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  log?: Logger;
  /** Largest request message accepted, in bytes (default 64 MiB): more is RESOURCE_EXHAUSTED. */
  maxMessageBytes?: number;
  /** The gate shared with the REST server (limit on requests in flight, draining). */
  admission?: Admission;
  serverVersion?: string;
  /** Called when each inference call has been answered; status is the HTTP status the answer maps to. */
  onRequest?: (e: { method: string; path: string; status: number; ms: number }) => void;
}

export interface GrpcServer {
  /** host:port, as gRPC clients take it. */
  address: string;
  port: number;
  readonly served: number;
  /** Stops accepting, lets calls in flight finish (for up to `graceMs`), then resolves. */
  close(graceMs?: number): Promise<void>;
}

/** gRPC's code for each HTTP status a ServeError carries. */
function grpcCode(grpc: typeof GrpcJs, status: number): GrpcJs.status {
  switch (status) {
    case 400:
      return grpc.status.INVALID_ARGUMENT;
    case 404:
      return grpc.status.NOT_FOUND;
    case 413:
      return grpc.status.RESOURCE_EXHAUSTED;
    case 501:
      return grpc.status.UNIMPLEMENTED;
    case 503:
      return grpc.status.UNAVAILABLE;
    default:
      return grpc.status.INTERNAL;
  }
}

/**
 * grpc-js's service definition for a protobuf-es service. Requests stay bytes here (decoded by the handler, see the
 * top of this file); responses are encoded by protobuf-es, into a Buffer over the same memory.
 */
function definitionOf(service: DescService): GrpcJs.ServiceDefinition {
  const def: Record<string, GrpcJs.MethodDefinition<Uint8Array, MessageShape<DescMessage>>> = {};
  for (const m of service.methods) {
    def[m.localName] = {
      path: `/${service.typeName}/${m.name}`,
      requestStream: false,
      responseStream: false,
      originalName: m.name,
      requestSerialize: (v: Uint8Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength),
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (v: MessageShape<DescMessage>) => {
        const bytes = toBinary(m.output, v);
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      },
      responseDeserialize: (b: Buffer) => fromBinary(m.output, b),
    };
  }
  return def;
}

function decode<D extends DescMessage>(schema: D, bytes: Buffer): MessageShape<D> {
  try {
    return fromBinary(schema, bytes);
  } catch (e) {
    throw new ServeError(400, `the request is not a valid ${schema.typeName} message: ${describeError(e)}`);
  }
}

type ContentsField = keyof Omit<InferTensorContents, '$typeName' | '$unknown'>;

/** The typed `contents` field that carries each dtype, as the protocol assigns them (float16: raw bytes only). */
const CONTENTS_FIELD: Partial<Record<DType, ContentsField>> = {
  bool: 'boolContents',
  int8: 'intContents',
  int16: 'intContents',
  int32: 'intContents',
  int64: 'int64Contents',
  uint8: 'uintContents',
  uint16: 'uintContents',
  uint32: 'uintContents',
  uint64: 'uint64Contents',
  float32: 'fp32Contents',
  float64: 'fp64Contents',
  string: 'bytesContents',
};
const ALL_FIELDS = [...new Set(Object.values(CONTENTS_FIELD))];

/** A tensor from an input's typed contents, checked: the field its datatype names, and as many values as its shape. */
function tensorFromContents(name: string, dtype: DType, shape: number[], contents: InferTensorContents | undefined): Tensor {
  const field = CONTENTS_FIELD[dtype];
  if (!field) throw new ServeError(400, `input '${name}': ${v2Datatype(dtype)} travels only as raw_input_contents over gRPC`);
  const filled = contents ? ALL_FIELDS.filter((f) => contents[f].length > 0) : [];
  if (!contents || filled.length === 0) {
    if (elementCount(shape) === 0) return { dtype, shape, data: tensorFromJson({ dtype, shape, data: [] }, { name, dtype, shape }).data };
    throw new ServeError(400, `input '${name}' has no contents: give its values in contents.${snake(field)}, or every input's bytes in raw_input_contents`);
  }
  if (filled.length > 1 || filled[0] !== field) {
    throw new ServeError(400, `input '${name}' is ${v2Datatype(dtype)}, whose values go in contents.${snake(field)}, but the request fills ${filled.map((f) => `contents.${snake(f)}`).join(', ')}`);
  }
  const values = contents[field] as ArrayLike<unknown>;
  const count = elementCount(shape);
  if (values.length !== count) throw new ServeError(400, `input '${name}' has ${values.length} values but its shape [${shape.join(',')}] needs ${count}`);
  switch (dtype) {
    case 'float32':
      return { dtype, shape, data: Float32Array.from(values as number[]) };
    case 'float64':
      return { dtype, shape, data: Float64Array.from(values as number[]) };
    case 'int64':
      return { dtype, shape, data: BigInt64Array.from(values as bigint[]) };
    case 'uint64':
      return { dtype, shape, data: BigUint64Array.from(values as bigint[]) };
    case 'string':
      try {
        return { dtype, shape, data: Array.from(values as Uint8Array[], (b) => utf8.decode(b)) };
      } catch {
        throw new ServeError(400, `input '${name}': contents.bytes_contents holds bytes that are not UTF-8 text, which onnxruntime's strings need`);
      }
    default:
      // Narrow integers and bool: range-checked as JSON values are.
      try {
        return tensorFromJson({ dtype, shape, data: Array.from(values as (number | boolean)[]) }, { name, dtype, shape });
      } catch (e) {
        throw new ServeError(400, describeError(e));
      }
  }
}

const snake = (f: string) => f.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** An output as typed contents (requests that sent typed contents). */
function contentsOf(t: Tensor): InferTensorContents {
  const field = CONTENTS_FIELD[t.dtype];
  const c = create(InferTensorContentsSchema);
  if (!field) return c; // float16: answered raw by the caller
  const d = t.data;
  if (t.dtype === 'string') c.bytesContents = (d as string[]).map((s) => utf8Encoder.encode(s));
  else if (t.dtype === 'bool') c.boolContents = Array.from(d as Uint8Array, (v) => v !== 0);
  else (c[field] as unknown) = Array.from(d as ArrayLike<number | bigint>);
  return c;
}

function shapeOf(dims: bigint[]): number[] {
  return dims.map((d) => (d >= 0n && d <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(d) : -1));
}

/** Starts the gRPC server; resolves once it listens. A port in use is a UserError naming it and the way out. */
export function startGrpcServer(backend: V2Backend, opts: GrpcServerOptions): Promise<GrpcServer> {
  const grpc = opts.grpc;
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 8081;
  const limit = opts.maxMessageBytes ?? 64 * 2 ** 20;
  const admission = opts.admission ?? new Admission();
  const metrics = backend.metrics ?? new ServeMetrics(backend.name, backend.version);
  let served = 0;

  const infer = async (r: ModelInferRequest) => {
    checkModel(backend, r.modelName, r.modelVersion || undefined);
    if (r.inputs.length === 0) throw new ServeError(400, 'the request has no inputs');
    const raw = r.rawInputContents;
    if (raw.length > 0 && raw.length !== r.inputs.length) {
      throw new ServeError(400, `the request has ${r.inputs.length} inputs but ${raw.length} raw_input_contents: give every input's bytes there, in the order of the inputs, or none`);
    }
    const feeds: Record<string, Tensor> = {};
    for (const [i, input] of r.inputs.entries()) {
      const { name, shape, dtype } = checkInput(backend, input.name || undefined, shapeOf(input.shape), input.datatype, feeds, `inputs[${i}]`);
      if (raw.length > 0) {
        if (input.contents && ALL_FIELDS.some((f) => input.contents![f].length > 0)) {
          throw new ServeError(400, `input '${name}' has both contents and raw_input_contents: give one`);
        }
        feeds[name] = tensorFromBytes(name, dtype, shape, raw[i]!);
      } else feeds[name] = tensorFromContents(name, dtype, shape, input.contents);
    }
    const outputs = r.outputs.length ? checkOutputs(backend, r.outputs.map((o) => o.name || undefined)) : undefined;
    let results: Record<string, Tensor>;
    try {
      results = await backend.infer(feeds, outputs);
    } catch (e) {
      throw inferFailure(e);
    }
    // Raw answers for raw requests (Triton's way); float16 has no typed field, so it is always raw — and then, as
    // the protocol wants, so is every output of that answer.
    const asRaw = raw.length > 0 || Object.values(results).some((t) => !CONTENTS_FIELD[t.dtype]);
    const rawOut: Uint8Array[] = [];
    const out: Omit<ModelInferResponse_InferOutputTensor, '$typeName'>[] = Object.entries(results).map(([n, t]) => {
      const tensor = { name: n, datatype: v2Datatype(t.dtype), shape: t.shape.map(BigInt), parameters: {} };
      if (asRaw) {
        rawOut.push(tensorBytes(t));
        return tensor;
      }
      return { ...tensor, contents: contentsOf(t) };
    });
    return create(ModelInferResponseSchema, { modelName: backend.name, modelVersion: backend.version, id: r.id, outputs: out, rawOutputContents: rawOut });
  };

  type Handler = (bytes: Buffer) => unknown;
  const unary =
    (name: string, run: Handler): GrpcJs.handleUnaryCall<Buffer, unknown> =>
    (call, callback) => {
      const t0 = performance.now();
      const isInfer = name === 'ModelInfer';
      const done = (status: number) => opts.onRequest?.({ method: 'gRPC', path: `/${GRPCInferenceService.typeName}/${name}`, status, ms: performance.now() - t0 });
      let entered = false;
      Promise.resolve()
        .then(() => {
          if (isInfer) {
            admission.enter();
            entered = true;
          }
          return run(call.request);
        })
        .then(
          (answer) => {
            if (isInfer) {
              served++;
              metrics.requestSucceeded((performance.now() - t0) / 1000);
            }
            callback(null, answer);
            done(200);
          },
          (e: unknown) => {
            const status = e instanceof ServeError ? e.status : 500;
            if (isInfer) metrics.requestFailed();
            if (status >= 500 && !(e instanceof ServeError)) opts.log?.error(`[serve] gRPC ${name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
            callback({ code: grpcCode(grpc, status), details: e instanceof Error ? e.message : String(e) });
            done(status);
          },
        )
        .finally(() => {
          if (entered) admission.leave();
        });
    };

  const m = GRPCInferenceService.method;
  const meta = modelMetadata(backend);
  const impl: GrpcJs.UntypedServiceImplementation = {
    [m.serverLive.localName]: unary('ServerLive', () => create(ServerLiveResponseSchema, { live: true })),
    [m.serverReady.localName]: unary('ServerReady', () => create(ServerReadyResponseSchema, { ready: !admission.draining })),
    [m.modelReady.localName]: unary('ModelReady', (b) => {
      const r = decode(m.modelReady.input, b);
      checkModel(backend, r.name, r.version || undefined);
      return create(ModelReadyResponseSchema, { ready: !admission.draining });
    }),
    [m.serverMetadata.localName]: unary('ServerMetadata', () => create(ServerMetadataResponseSchema, { name: SERVER_NAME, version: opts.serverVersion ?? '0', extensions: [] })),
    [m.modelMetadata.localName]: unary('ModelMetadata', (b) => {
      const r = decode(m.modelMetadata.input, b);
      checkModel(backend, r.name, r.version || undefined);
      const tm = (t: (typeof meta.inputs)[number]) => ({ name: t.name, datatype: t.datatype, shape: t.shape.map(BigInt) });
      return create(ModelMetadataResponseSchema, { ...meta, inputs: meta.inputs.map(tm), outputs: meta.outputs.map(tm) });
    }),
    [m.modelInfer.localName]: unary('ModelInfer', (b) => infer(decode(ModelInferRequestSchema, b))),
    [m.repositoryModelLoad.localName]: unary('RepositoryModelLoad', () => {
      throw new ServeError(501, `this server serves one model, '${backend.name}', loaded at start: it does not load others`);
    }),
    [m.repositoryModelUnload.localName]: unary('RepositoryModelUnload', () => {
      throw new ServeError(501, `this server serves one model, '${backend.name}', loaded at start: it does not unload it`);
    }),
  };

  const server = new grpc.Server({
    'grpc.max_receive_message_length': limit,
    'grpc.max_send_message_length': -1,
    // Clients that ping an idle connection to keep it (Triton's, KServe's) are not cut off for it.
    'grpc.keepalive_permit_without_calls': 1,
  });
  server.addService(definitionOf(GRPCInferenceService), impl);

  return new Promise((resolve, reject) => {
    const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    server.bindAsync(where, grpc.ServerCredentials.createInsecure(), (err, bound) => {
      if (err) {
        const text = err.message;
        if (/EADDRINUSE/.test(text)) reject(new UserError(`gRPC port ${port} on ${host} is already in use.`, 'Stop what uses it, or choose another port (--grpc-port N, 0 for a free one).'));
        else if (/EACCES/.test(text)) reject(new UserError(`this user may not listen on port ${port}.`, 'Choose a gRPC port above 1023.'));
        else if (/EADDRNOTAVAIL|ENOTFOUND/.test(text)) reject(new UserError(`cannot listen on ${host}: no such address on this machine.`, 'Give --host an address of this machine.'));
        else reject(new UserError(`the gRPC server could not listen on ${where}: ${text}`));
        return;
      }
      const address = `${host.includes(':') ? `[${host}]` : host}:${bound}`;
      opts.log?.info(`[serve] ${backend.name} ${backend.version} over gRPC at ${address} (${GRPCInferenceService.typeName})`);
      resolve({
        address,
        port: bound,
        get served() {
          return served;
        },
        close: (graceMs = 25_000) => {
          admission.draining = true;
          return closeWithin(
            graceMs,
            (done) => server.tryShutdown(() => done()),
            () => server.forceShutdown(),
          );
        },
      });
    });
  });
}
