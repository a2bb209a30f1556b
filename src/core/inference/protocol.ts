/**
 * The messages between InferenceHost (parent) and the inference worker (child). They travel over Node's IPC channel
 * with `serialization: 'advanced'` (the V8 serializer), so typed arrays cross as raw bytes, bigints stay bigints and
 * no tensor is ever turned into JSON text; large tensors go through a shared scratch file instead (transport.ts).
 * Everything here is plain data.
 */
import type { BenchProgress, BenchResult, BenchSettings } from './latency';
import type { TensorInfo } from './tensor';
import type { WireTensor } from './transport';

export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

/** Session settings that change how onnxruntime runs a model (and so are part of a session's identity). */
export interface SessionOptions {
  /** Threads inside one operator; onnxruntime's default is one per core. */
  intraOpThreads?: number;
  /** Threads across independent operators (used only in parallel execution mode). */
  interOpThreads?: number;
  /** Default 'all', as onnxruntime's. */
  graphOptimizationLevel?: GraphOptimizationLevel;
  /** onnxruntime-node's names, in order of preference: 'cpu', 'cuda', 'tensorrt', 'webgpu', 'dml', 'coreml'. Default ['cpu']. */
  executionProviders?: string[];
  /** Where onnxruntime writes the graph as optimized (fused) for this session: to see which fusions happened. */
  optimizedModelFilePath?: string;
}

export interface RuntimeInfo {
  /** onnxruntime-node's version (and onnxruntime-common's, which is the same in a healthy install). */
  ortVersion: string;
  ortCommonVersion: string;
  node: string;
  platform: string;
  arch: string;
  /** The worker's pid. */
  pid: number;
  cpus: number;
  /** The onnxruntime-node module the worker loaded. */
  location: string;
}

export interface ProviderInfo {
  name: string;
  /** Shipped inside onnxruntime-node; otherwise it needs libraries installed apart (CUDA, TensorRT). */
  bundled: boolean;
}

export interface LoadedSession {
  session: number;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  loadMs: number;
}

export interface RunReply {
  outputs: Record<string, WireTensor>;
  /** onnxruntime's run alone, measured inside the worker. */
  ms: number;
  /** The whole request inside the worker: unpacking the feeds, the run, packing the outputs. */
  workerMs: number;
}

/** Parent → worker. `id` pairs a request with its reply. */
export type Request =
  | { op: 'load'; id: number; source: { path: string } | { bytes: Uint8Array }; options: SessionOptions; label: string }
  | { op: 'run'; id: number; session: number; feeds: Record<string, WireTensor>; outputs?: string[] }
  | { op: 'bench'; id: number; session: number; feeds: Record<string, WireTensor>; outputs?: string[]; settings: BenchSettings; progressEveryMs?: number }
  | { op: 'release'; id: number; session: number }
  | { op: 'providers'; id: number }
  /** Stops the benchmark `target` at its next iteration (a run itself cannot be stopped: that takes a kill). */
  | { op: 'cancel'; id: number; target: number };

/** An error as it crosses the process boundary. `user`: its message is for people (an onnxruntime or input error). */
export interface WireError {
  message: string;
  hint?: string;
  user: boolean;
  cancelled?: boolean;
  stack?: string;
}

/** Worker → parent. */
export type Reply =
  /** `shared`: the worker holds the scratch file for large tensors (transport.ts). */
  | { kind: 'ready'; runtime: RuntimeInfo; shared: boolean }
  | { kind: 'fatal'; error: WireError }
  | { kind: 'ok'; id: number; result: LoadedSession | RunReply | BenchResult | ProviderInfo[] | null }
  | { kind: 'error'; id: number; error: WireError }
  | { kind: 'progress'; id: number; progress: BenchProgress };
