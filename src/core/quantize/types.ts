/**
 * The contract between the quantization forms (dynamic.ts, weightonly.ts, static.ts, fp16.ts) and the orchestrator
 * (quantize.ts) that reads the model, runs a form, writes the result and builds the report.
 *
 * A form edits a QModel in place, synchronously, and says what it did to each node it looked at. It throws a
 * UserError for input it cannot take (and leaves nothing half-written: the orchestrator writes only at the end).
 */
import { CancelledError } from '../errors';

export type QuantMode = 'int8-dynamic' | 'int8-static' | 'int4' | 'int8-weight' | 'fp16' | 'fp32' | 'auto';

export const MODES: readonly QuantMode[] = ['int8-dynamic', 'int8-static', 'int4', 'int8-weight', 'fp16', 'fp32', 'auto'];

/** Human names, for the panel and reports. */
export const MODE_LABELS: Record<QuantMode, string> = {
  'int8-dynamic': 'int8 dynamic (MatMul/Gemm)',
  'int8-static': 'int8 static QDQ (calibrated)',
  int4: 'int4 weight-only (MatMulNBits)',
  'int8-weight': 'int8 weight-only (MatMulNBits)',
  fp16: 'float16',
  fp32: 'float16 → float32',
  auto: 'Auto (profile, try, recommend)',
};

/** Nodes the user keeps in float: by op type (`Conv`) or by node name. */
export interface Exclusions {
  opTypes: ReadonlySet<string>;
  nodeNames: ReadonlySet<string>;
}

export const NO_EXCLUSIONS: Exclusions = { opTypes: new Set(), nodeNames: new Set() };

/** What a form did with one node it considered. */
export interface NodeDecision {
  /** The node's name, or OpType(first output) when it has none. */
  node: string;
  opType: string;
  /** 'main', or the path of the subgraph ("If_3/then_branch"). */
  graph: string;
  action: 'converted' | 'kept';
  /** For 'converted': what it became ("DynamicQuantizeLinear+MatMulInteger", "MatMulNBits 4-bit block 32" …). */
  form?: string;
  /** Why it was converted or kept, in a user's words ("excluded by --exclude Conv", "weight is computed, not a constant" …). */
  reason: string;
}

export interface FormResult {
  decisions: NodeDecision[];
  /** Model-wide remarks ("opset upgraded from 11 to 13", "3 Constant weights converted" …). */
  notes: string[];
}

export interface FormCommon {
  exclude?: Exclusions;
  signal?: AbortSignal;
  /** Called now and then with the fraction of weights done. */
  progress?: (fraction: number) => void;
}

export interface DynamicOptions extends FormCommon {
  /** Per-channel weight scales (off by default: ORT's DynamicQuantizeMatMul fusion takes both). */
  perChannel?: boolean;
}

export interface WeightOnlyOptions extends FormCommon {
  bits: 4 | 8;
  blockSize: 16 | 32 | 64 | 128 | 256;
  /** Symmetric (no zero points) or asymmetric with zero points. Default symmetric. */
  symmetric?: boolean;
  /** MatMulNBits accuracy_level (4 = int8 compute, the fast path on x86). Default 4. */
  accuracyLevel?: number;
}

export interface Fp16Options extends FormCommon {
  /** Keep the model's float32 inputs and outputs (Casts at the edges). Default true. */
  keepIoTypes?: boolean;
  /** Extra op types kept in float32, beyond the default block list. */
  blockOps?: readonly string[];
  /** Clamp weights into ±[min, max] before converting (values in (0, min) become min). Default [1e-7, 1e4]. */
  clamp?: { min: number; max: number } | false;
  /** Keep BatchNormalization in float32 (its variances overflow float16). Default true. */
  keepBatchNorm?: boolean;
}

/** Ranges of activations measured during calibration: value name → [min, max]. */
export type Ranges = Map<string, { min: number; max: number }>;

export interface StaticOptions extends FormCommon {
  ranges: Ranges;
  perChannel?: boolean;
  /** Activations' type. Default uint8 (U8S8, the fast x86 path). */
  activationType?: 'uint8' | 'int8';
  /** Node names kept in float by the sensitivity pass (in addition to `exclude`). */
  keepFloat?: ReadonlySet<string>;
}

/** Whether a node is excluded by the user, and the reason to report. */
export function excludedBy(ex: Exclusions | undefined, opType: string, name: string): string | undefined {
  if (!ex) return undefined;
  if (ex.opTypes.has(opType)) return `excluded: op type ${opType} is on the exclusion list`;
  if (name && ex.nodeNames.has(name)) return `excluded: node ${name} is on the exclusion list`;
  return undefined;
}

/** A quantization stopped by its signal (or by a cancelled run it made): nothing was written. */
export function quantizationCancelled(): CancelledError {
  return new CancelledError('Quantization was cancelled.', 'Nothing was written.');
}

export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw quantizationCancelled();
}

/** Parses "Conv,MatMul,node_name" into exclusions: names starting with a capital and known as op types are op types. */
export function parseExclusions(list: string | readonly string[] | undefined, knownOpTypes: ReadonlySet<string>): Exclusions {
  const items = (typeof list === 'string' ? list.split(',') : (list ?? [])).map((s) => s.trim()).filter(Boolean);
  const opTypes = new Set<string>();
  const nodeNames = new Set<string>();
  for (const i of items) (knownOpTypes.has(i) ? opTypes : nodeNames).add(i);
  return { opTypes, nodeNames };
}
