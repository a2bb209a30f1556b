/**
 * float16 conversion (and its reverse), over the ONNX protobuf.
 *
 * One engine does both directions: it turns the `src` float type into `dst` (float32 → float16, or float16 →
 * float32 for a model that was saved as fp16) everywhere it can, and keeps some nodes in `src` with Casts around
 * them. It works on types, not on nodes:
 *
 *  1. every value's element type is inferred (elemtypes.ts): Casts go on float edges only;
 *  2. each node is converted or kept (block list, BatchNorm protection, unknown domain, user exclusions), and a kept
 *     region grows backwards over light nodes whose results only kept nodes read (a Div that computes Resize's
 *     scales stays float32 instead of rounding the scales to float16);
 *  3. each float value gets the type its producer gives it, each reader says which type it needs, and the missing
 *     variants are made once per value (one Cast, or for a weight a float16 copy), right after the producer, so
 *     that readers in subgraphs see them too;
 *  4. Casts that became no-ops are removed (the reverse direction relies on this to undo the edge Casts).
 *
 * onnxconverter-common's `convert_float_to_float16` is the reference; this differs where it breaks: Casts only on
 * float inputs of blocked nodes (it casts int64 shapes too, or forgets inputs without value_info), weights shared
 * by a converted and a blocked node (it leaves them float32 for both, an invalid model), outer-scope weights read
 * inside If branches, and one Cast per value rather than one per reader.
 */
import { UserError } from '../errors';
import { TensorProto_DataLocation, type GraphProto, type NodeProto, type TensorProto } from '../onnx/gen/onnx_pb';
import { tensorToProto } from '../onnx/model';
import { inferElemTypes } from './elemtypes';
import { DT, getAttr, halfArrayToFloat, makeAttr, makeNode, nodeLabel, type QModel, type Scope, type Weight } from './graph';
import { subgraphsOf } from '../onnx/io';
import { excludedBy, throwIfCancelled, type FormCommon, type FormResult, type Fp16Options, type NodeDecision } from './types';

/** onnxconverter-common's DEFAULT_OP_BLOCK_LIST (float16.py): ops kept in float32 by default. */
export const DEFAULT_OP_BLOCK_LIST: readonly string[] = [
  'ArrayFeatureExtractor', 'Binarizer', 'CastMap', 'CategoryMapper', 'DictVectorizer', 'FeatureVectorizer', 'Imputer',
  'LabelEncoder', 'LinearClassifier', 'LinearRegressor', 'Normalizer', 'OneHotEncoder', 'RandomUniformLike',
  'SVMClassifier', 'SVMRegressor', 'Scaler', 'TreeEnsembleClassifier', 'TreeEnsembleRegressor', 'ZipMap',
  'NonMaxSuppression', 'TopK', 'RoiAlign', 'Resize', 'Range', 'CumSum', 'Min', 'Max', 'Upsample',
];

export const DEFAULT_CLAMP = { min: 1e-7, max: 1e4 } as const;

/** Inputs that must stay float32 whatever the node: Resize's roi and scales (rounded scales change the output size). */
const FLOAT32_INPUTS: Record<string, readonly number[]> = { Resize: [1, 2], Upsample: [1] };

/** Ops whose scales and zero points are float32 by definition (before opset 19): left as they are. */
const QUANT_OPS = new Set(['QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear', 'QLinearConv', 'QLinearMatMul', 'MatMulInteger', 'ConvInteger']);

/** Attributes that name an output element type, and the type they mean when absent (undefined: follows an input). */
const DTYPE_ATTRS: Record<string, { attr: string; absent?: number }> = {
  RandomNormal: { attr: 'dtype', absent: DT.FLOAT },
  RandomUniform: { attr: 'dtype', absent: DT.FLOAT },
  RandomNormalLike: { attr: 'dtype' },
  RandomUniformLike: { attr: 'dtype' },
  EyeLike: { attr: 'dtype' },
  Bernoulli: { attr: 'dtype' },
  HannWindow: { attr: 'output_datatype', absent: DT.FLOAT },
  HammingWindow: { attr: 'output_datatype', absent: DT.FLOAT },
  BlackmanWindow: { attr: 'output_datatype', absent: DT.FLOAT },
  MelWeightMatrix: { attr: 'output_datatype', absent: DT.FLOAT },
};

/**
 * A light node (weights up to this many elements: scalars, a per-channel bias) may stay in float32 when only float32
 * nodes read its results. Heavier ones, and the ops that carry a model's weights, convert whatever reads them:
 * keeping the Conv before every kept BatchNormalization would keep a MobileNet's weights float32.
 */
const LIGHT_NODE_WEIGHT = 64;
const HEAVY_OPS = new Set(['Conv', 'ConvTranspose', 'MatMul', 'Gemm', 'LSTM', 'GRU', 'RNN', 'Einsum', 'Attention', 'DeformConv']);
/** A weight read in both types gets a second, converted copy up to this size; a larger one is converted once and Cast back. */
const COPY_LIMIT = 1 << 20;

// ---------------------------------------------------------------------------------------------------------------
// Bulk float32 ⇄ float16

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bitsOf = (v: number): number => {
  f32[0] = v;
  return u32[0]!;
};

/**
 * float32 → float16 bits over a whole array, rounding to nearest even exactly as NumPy's astype(float16) (NaN
 * payloads kept, overflow to ±Infinity). With `clamp`, magnitudes in (0, min) become min and finite ones above max
 * become max before rounding (onnxconverter-common's convert_np_to_float16); `raised` and `lowered` count them.
 * Works on the bits through a Uint32Array view: no per-element function call, ~10× the speed of calling floatToHalf per element.
 */
export function floatsToHalf(src: Float32Array, clamp?: { min: number; max: number }): { half: Uint16Array; raised: number; lowered: number } {
  const n = src.length;
  const bits = new Uint32Array(src.buffer, src.byteOffset, n);
  const out = new Uint16Array(n);
  const lo = clamp ? bitsOf(clamp.min) & 0x7fffffff : 0;
  const hi = clamp ? bitsOf(clamp.max) & 0x7fffffff : 0x7f800000;
  let raised = 0;
  let lowered = 0;
  for (let i = 0; i < n; i++) {
    const x = bits[i]!;
    let a = x & 0x7fffffff;
    if (clamp) {
      if (a < lo && a !== 0) {
        a = lo;
        raised++;
      } else if (a > hi && a < 0x7f800000) {
        a = hi;
        lowered++;
      }
    }
    let h: number;
    if (a >= 0x38800000) {
      if (a >= 0x47800000) {
        // ≥ 65536 (or Inf/NaN): Infinity, or a NaN that keeps the top of its payload (never turning into Infinity).
        h = a > 0x7f800000 ? 0x7c00 | ((a >>> 13) & 0x3ff || 1) : 0x7c00;
      } else {
        // Normal: rebias the exponent (127 → 15) and keep 10 mantissa bits, rounding the 13 dropped ones to nearest
        // even without a branch (a data-dependent branch here mispredicts half the time): adding 0xfff, plus 1 when
        // the kept part is odd, carries exactly when the dropped part is above half, or half on an odd mantissa.
        // A carry out of the mantissa bumps the exponent, up to Infinity for [65520, 65536): as NumPy does.
        h = (a - 0x38000000 + 0xfff + ((a >>> 13) & 1)) >>> 13;
      }
    } else if (a > 0x33000000) {
      // Subnormal half: the 24-bit significand shifted down, rounded to nearest even.
      const shift = 126 - (a >>> 23);
      const mant = (a & 0x7fffff) | 0x800000;
      h = mant >>> shift;
      const rest = mant & ((1 << shift) - 1);
      const half = 1 << (shift - 1);
      if (rest > half || (rest === half && h & 1)) h++;
    } else {
      h = 0; // ≤ 2^-25 rounds to zero (exactly 2^-25 is a tie, to the even zero)
    }
    out[i] = ((x >>> 16) & 0x8000) | h;
  }
  return { half: out, raised, lowered };
}

// ---------------------------------------------------------------------------------------------------------------
// The engine

interface Kept {
  reason: string;
  /** Kept because only float32 nodes read its results (not a block list or a user's choice). */
  grown?: boolean;
  /** Kept because an element type around it is unknown. */
  unknown?: boolean;
}

type Use = { kind: 'node'; node: NodeProto; index: number; scope: Scope } | { kind: 'output'; scope: Scope; index: number };

type Def =
  | { kind: 'node'; scope: Scope; node: NodeProto }
  | { kind: 'input'; scope: Scope }
  | { kind: 'weight'; scope: Scope; weight: Weight }
  /** Something left as it is (a sparse initializer). */
  | { kind: 'fixed'; scope: Scope };

interface Direction {
  src: number;
  dst: number;
  /** Why a node stays in `src` (beyond user exclusions and nodes inside kept ones), or undefined. */
  blocked: (n: NodeProto) => string | undefined;
  /** Whether the main graph's inputs and outputs change type too. */
  io: boolean;
  clamp?: { min: number; max: number };
  /** Grow kept regions backwards over light nodes (float16 only: in float32 nothing is kept for precision). */
  grow: boolean;
}

interface Stats {
  weights: number;
  bytesBefore: number;
  bytesAfter: number;
  raised: number;
  lowered: number;
  copies: number;
  castBacks: number;
  castsAdded: number;
  ioCasts: number;
  castsRetargeted: number;
  castsRemoved: number;
  /** Initializers also listed as main-graph inputs (treated as weights). */
  inputWeights: number;
  ms: number;
}

const typeName = (t: number): string => (t === DT.FLOAT16 ? 'float16' : t === DT.FLOAT ? 'float32' : `type ${t}`);
const suffix = (t: number): string => (t === DT.FLOAT16 ? 'fp16' : 'fp32');
const elements = (t: TensorProto): number => t.dims.reduce((a, d) => a * Number(d), 1);
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 1)} MB`;

/**
 * float32 → float16: weights, Constant values, value types and type attributes, with Casts around the nodes that
 * stay float32 (block list, BatchNormalization, unknown domains, exclusions) and, by default, at the model's inputs
 * and outputs so that callers keep feeding float32.
 */
export function convertFp16(m: QModel, opts: Fp16Options = {}): FormResult {
  throwIfCancelled(opts.signal);
  const census = weightCensus(m);
  if (census.get(DT.FLOAT16)! > 0 && census.get(DT.FLOAT16)! >= census.get(DT.FLOAT)!) {
    throw new UserError(
      `the model's weights are already float16 (${census.get(DT.FLOAT16)!.toLocaleString('en-US')} float16 values, ${census.get(DT.FLOAT)!.toLocaleString('en-US')} float32).`,
      'To get a float32 model back, use fp32 (float16 → float32); converting twice only adds Casts.',
    );
  }
  if (!census.get(DT.FLOAT) && !hasValueOfType(m, DT.FLOAT)) {
    throw new UserError('the model holds no float32 weights or values: there is nothing to convert to float16.', 'float16 conversion applies to float32 models.');
  }
  const userBlocked = new Set(opts.blockOps ?? []);
  const defaults = new Set(DEFAULT_OP_BLOCK_LIST);
  const keepBn = opts.keepBatchNorm ?? true;
  const functions = new Set(m.proto.functions.map((f) => `${f.domain}:${f.name}`));
  const blocked = (n: NodeProto): string | undefined => {
    const domain = n.domain === 'ai.onnx' ? '' : n.domain;
    if (functions.has(`${n.domain}:${n.opType}`)) return `${n.opType} is a function of the model: its body stays float32`;
    if (userBlocked.has(n.opType)) return `${n.opType} is on the block list you gave`;
    if (defaults.has(n.opType) && (domain === '' || domain === 'ai.onnx.ml')) return `${n.opType} is on the float16 block list (onnxconverter-common's default)`;
    if (domain !== '') return `op ${n.domain}.${n.opType}: Modelyard does not know whether it takes float16, so it stays float32`;
    if (n.opType === 'BatchNormalization' && keepBn) return 'BatchNormalization stays float32 (keepBatchNorm): its running variances can overflow float16';
    if (QUANT_OPS.has(n.opType)) return `${n.opType} is a quantization op: its scales stay float32`;
    if (n.opType === 'TfIdfVectorizer') return 'TfIdfVectorizer only outputs float32';
    return undefined;
  };
  const clamp = opts.clamp === false ? undefined : (opts.clamp ?? DEFAULT_CLAMP);
  const dir: Direction = { src: DT.FLOAT, dst: DT.FLOAT16, blocked, io: !(opts.keepIoTypes ?? true), grow: true, ...(clamp ? { clamp } : {}) };
  const { decisions, stats } = run(m, dir, opts);
  const notes = [
    `${plural(stats.weights, 'float32 weight')} converted to float16 (${mb(stats.bytesBefore)} → ${mb(stats.bytesAfter)}) in ${stats.ms.toFixed(0)} ms (${(stats.bytesBefore / 1e6 / Math.max(stats.ms / 1000, 1e-6)).toFixed(0)} MB/s)`,
  ];
  if (clamp) {
    notes.push(
      stats.raised + stats.lowered
        ? `clamped ${stats.raised + stats.lowered} weight values into ±[${clamp.min}, ${clamp.max}] before converting (${stats.raised} tiny ones raised, ${stats.lowered} large ones lowered): float16 would have flushed or overflowed them`
        : `no weight value needed clamping into ±[${clamp.min}, ${clamp.max}]`,
    );
  } else notes.push('weights not clamped (clamp: false): values below 6e-8 become 0 and above 65504 become Infinity');
  notes.push(
    dir.io
      ? 'inputs and outputs are float16 now (keepIoTypes false): feed float16 tensors'
      : `inputs and outputs stay float32 (keepIoTypes), with ${plural(stats.ioCasts, 'Cast')} at the edges`,
  );
  if (stats.copies + stats.castBacks) {
    notes.push(`${plural(stats.copies + stats.castBacks, 'weight')} read by both converted and float32 nodes: ${stats.copies} kept in float32 with a float16 copy, ${stats.castBacks} converted and Cast back`);
  }
  if (stats.inputWeights) notes.push(`${plural(stats.inputWeights, 'initializer')} also listed as graph inputs were treated as weights: their declared input type changed with them`);
  if (stats.castsAdded) notes.push(`${plural(stats.castsAdded, 'Cast node')} added (${stats.ioCasts} at the inputs and outputs, the rest around float32 nodes)`);
  if (stats.castsRetargeted) notes.push(`${plural(stats.castsRetargeted, 'Cast node')} to float32 now cast to float16`);
  if (stats.castsRemoved) notes.push(`${plural(stats.castsRemoved, 'Cast')} that became no-ops removed`);
  return { decisions, notes };
}

/** float16 → float32, for a model that was saved as float16: weights, value types and Casts back to float32. */
export function convertFp32(m: QModel, opts: FormCommon = {}): FormResult {
  throwIfCancelled(opts.signal);
  const census = weightCensus(m);
  if (!census.get(DT.FLOAT16) && !hasValueOfType(m, DT.FLOAT16)) {
    throw new UserError(
      'the model holds no float16 weights or values: there is nothing to convert back to float32.',
      'fp32 (float16 → float32) is for models saved as float16; this one is float32 already.',
    );
  }
  const functions = new Set(m.proto.functions.map((f) => `${f.domain}:${f.name}`));
  const blocked = (n: NodeProto): string | undefined => {
    if (functions.has(`${n.domain}:${n.opType}`)) return `${n.opType} is a function of the model: its body stays float16`;
    if (n.domain !== '' && n.domain !== 'ai.onnx') return `op ${n.domain}.${n.opType}: Modelyard does not know its float32 form, so it stays float16`;
    return undefined;
  };
  const { decisions, stats } = run(m, { src: DT.FLOAT16, dst: DT.FLOAT, blocked, io: true, grow: false }, opts);
  const notes = [`${plural(stats.weights, 'float16 weight')} converted to float32 (${mb(stats.bytesBefore)} → ${mb(stats.bytesAfter)}) in ${stats.ms.toFixed(0)} ms`];
  if (stats.castsRemoved) notes.push(`${plural(stats.castsRemoved, 'Cast')} that became no-ops removed (the float16 model's edge and block-list Casts)`);
  if (stats.castsRetargeted) notes.push(`${plural(stats.castsRetargeted, 'Cast node')} to float16 now cast to float32`);
  if (stats.castsAdded) notes.push(`${plural(stats.castsAdded, 'Cast node')} added around nodes that stay float16`);
  return { decisions, notes };
}

/** Elements of float32 and float16 weights (initializers and Constant values) across all graphs. */
function weightCensus(m: QModel): Map<number, number> {
  const count = new Map<number, number>([
    [DT.FLOAT, 0],
    [DT.FLOAT16, 0],
  ]);
  for (const s of m.scopes()) {
    const tensors = [...s.initializers.values(), ...[...s.constants.values()].map((c) => getAttr(c, 'value')!.t!)];
    for (const t of tensors) if (count.has(t.dataType)) count.set(t.dataType, count.get(t.dataType)! + elements(t));
  }
  return count;
}

function hasValueOfType(m: QModel, t: number): boolean {
  for (const v of inferElemTypes(m).values()) if (v === t) return true;
  return false;
}

function run(m: QModel, dir: Direction, opts: FormCommon): { decisions: NodeDecision[]; stats: Stats } {
  const { src, dst } = dir;
  const types = inferElemTypes(m);
  const scopes = m.scopes();
  const main = scopes[0]!;
  const nodeScope = new Map<NodeProto, Scope>();
  for (const s of scopes) for (const n of s.graph.node) nodeScope.set(n, s);

  const stats: Stats = { weights: 0, bytesBefore: 0, bytesAfter: 0, raised: 0, lowered: 0, copies: 0, castBacks: 0, castsAdded: 0, ioCasts: 0, castsRetargeted: 0, castsRemoved: 0, inputWeights: 0, ms: 0 };

  // --- where each value comes from, and who reads it
  const defs = new Map<string, Def>();
  const uses = new Map<string, Use[]>();
  const addUse = (name: string, u: Use): void => {
    let list = uses.get(name);
    if (!list) uses.set(name, (list = []));
    list.push(u);
  };
  const outputNames = new Set<string>();
  for (const s of scopes) {
    const isMain = s === main;
    for (const i of s.graph.input) {
      // An initializer also listed as an input is a weight: IR 3 requires the listing, and exporters that keep
      // initializers as inputs (PyTorch's keep_initializers_as_inputs) do not mean callers to feed them. Its
      // declared type follows the weight's.
      if (s.initializers.has(i.name)) {
        if (isMain && types.get(i.name) === src) stats.inputWeights++;
        continue;
      }
      defs.set(i.name, { kind: 'input', scope: s });
    }
    for (const t of s.graph.initializer) if (!defs.has(t.name)) defs.set(t.name, { kind: 'weight', scope: s, weight: { name: t.name, proto: t, scope: s, kind: 'initializer' } });
    for (const sp of s.graph.sparseInitializer) if (sp.values?.name) defs.set(sp.values.name, { kind: 'fixed', scope: s });
    for (const n of s.graph.node) {
      const c = s.constants.get(n.output[0] ?? '');
      if (c === n) defs.set(n.output[0]!, { kind: 'weight', scope: s, weight: { name: n.output[0]!, proto: getAttr(n, 'value')!.t!, scope: s, kind: 'constant', node: n } });
      else for (const o of n.output) if (o) defs.set(o, { kind: 'node', scope: s, node: n });
      n.input.forEach((name, index) => name && addUse(name, { kind: 'node', node: n, index, scope: s }));
    }
    s.graph.output.forEach((o, index) => {
      addUse(o.name, { kind: 'output', scope: s, index });
      outputNames.add(o.name);
    });
  }
  const isSrc = (name: string): boolean => !!name && types.get(name) === src;
  const touchesSrc = (n: NodeProto): boolean => n.input.some(isSrc) || n.output.some(isSrc);

  // --- decisions: which nodes stay in src
  const kept = new Map<NodeProto, Kept>();
  for (const s of scopes) {
    const ownerKept = s.owner ? kept.get(s.owner) : undefined;
    for (const n of s.graph.node) {
      let reason: string | undefined;
      if (ownerKept) reason = `inside ${nodeLabel(s.owner!)}, which stays ${typeName(src)}`;
      reason ??= excludedBy(opts.exclude, n.opType, n.name) ?? dir.blocked(n);
      if (!reason && n.opType !== 'Constant') {
        const unknown = [...n.input, ...n.output].find((x) => x && !types.has(x));
        if (unknown) {
          kept.set(n, { reason: `the element type of '${unknown}' is not known, so the node is left as it is`, unknown: true });
          continue;
        }
      }
      if (reason) kept.set(n, { reason });
    }
  }

  // The type each reader needs. Undefined: any type does (a Cast's or Shape's input).
  const need = (u: Use): number | undefined => {
    if (u.kind === 'output') {
      if (!u.scope.owner) return dir.io ? dst : src;
      return kept.has(u.scope.owner) ? src : dst;
    }
    const n = u.node;
    if (u.index === 0 && (n.opType === 'Cast' || n.opType === 'CastLike' || n.opType === 'Shape' || n.opType === 'Size') && (n.domain === '' || n.domain === 'ai.onnx')) return undefined;
    if (kept.has(n)) return src;
    if (FLOAT32_INPUTS[n.opType]?.includes(u.index)) return DT.FLOAT;
    return dst;
  };

  // Grow kept regions backwards: a light node whose float results only float32 readers take gains nothing from
  // float16 and loses precision (Resize's scales computed by a Div, a Cast to float feeding TopK). Repeated until
  // nothing changes, since keeping one node can make its producers qualify.
  if (dir.grow) {
    const weightElems = (n: NodeProto): number => {
      let total = 0;
      for (const i of n.input) {
        const d = defs.get(i);
        if (d?.kind === 'weight' && d.weight.proto.dataType === src) total += elements(d.weight.proto);
      }
      return total;
    };
    for (let changed = true; changed; ) {
      changed = false;
      for (let k = scopes.length - 1; k >= 0; k--) {
        const nodes = scopes[k]!.graph.node;
        for (let j = nodes.length - 1; j >= 0; j--) {
          const n = nodes[j]!;
          if (kept.has(n) || subgraphsOf(n).length || defs.get(n.output[0] ?? '')?.kind === 'weight') continue;
          const outs = n.output.filter(isSrc);
          if (!outs.length || HEAVY_OPS.has(n.opType) || weightElems(n) > LIGHT_NODE_WEIGHT) continue;
          // Graph outputs are no reason to grow: the model's tail would stay float32 all the way to its last weights.
          const reads = outs.flatMap((o) => uses.get(o) ?? []);
          if (!reads.length || reads.some((u) => u.kind === 'output') || !reads.every((u) => need(u) === src || need(u) === undefined) || reads.every((u) => need(u) === undefined)) continue;
          const by = reads.find((u) => need(u) === src)!;
          const what = by.kind === 'node' ? `${by.node.opType} ${nodeLabel(by.node)}` : '';
          kept.set(n, { reason: `only ${typeName(src)} nodes read its results (${what}), so it stays ${typeName(src)}`, grown: true });
          changed = true;
        }
      }
    }
  }


  // --- each src value's type after conversion, and the names of its variants (type → name)
  const variants = new Map<string, Map<number, string>>();
  const finalTypes = new Map<string, number>();
  const after = new Map<GraphProto, Map<NodeProto | null, NodeProto[]>>();
  const insert = (g: GraphProto, anchor: NodeProto | null, n: NodeProto): void => {
    let byAnchor = after.get(g);
    if (!byAnchor) after.set(g, (byAnchor = new Map()));
    let list = byAnchor.get(anchor);
    if (!list) byAnchor.set(anchor, (list = []));
    list.push(n);
  };
  const anchorOf = (d: Def): NodeProto | null => (d.kind === 'node' ? d.node : d.kind === 'weight' && d.weight.node ? d.weight.node : null);

  const toConvert: TensorProto[] = [];
  const produced = (name: string, d: Def | undefined): number => {
    if (!d) return src;
    switch (d.kind) {
      case 'node': {
        if (kept.has(d.node)) return src;
        // LayerNormalization's mean and inverse std have the stash type, which stays float32.
        if (d.node.opType === 'LayerNormalization' && d.node.output.indexOf(name) > 0) return types.get(name)!;
        return dst;
      }
      case 'input':
        if (d.scope === main) return dir.io ? dst : src;
        return d.scope.owner && kept.has(d.scope.owner) ? src : dst;
      case 'fixed':
        return src;
      case 'weight':
        return src; // decided below
    }
  };

  // Weights: converted in place when every reader wants dst, left alone when none does; when both, the smaller ones
  // get a converted copy (each reader gets its exact type), the large ones are converted once and Cast back.
  for (const [name, d] of defs) {
    if (!isSrc(name) || d.kind === 'node') continue;
    const readers = uses.get(name) ?? [];
    const needs = new Set(readers.map(need).filter((t) => t !== undefined));
    let p = produced(name, d);
    const vars = new Map<number, string>();
    if (d.kind === 'weight') {
      const w = d.weight;
      const pinned = w.node && kept.has(w.node);
      const wantsDst = !pinned && needs.has(dst);
      const wantsSrc = pinned || needs.has(src);
      if (wantsDst && !wantsSrc) {
        toConvert.push(w.proto);
        p = dst;
      } else if (wantsDst && wantsSrc) {
        const mainOutDst = readers.some((u) => u.kind === 'output' && !u.scope.owner && need(u) === dst);
        if (elements(w.proto) <= COPY_LIMIT || readers.some((u) => u.kind === 'output')) {
          // The original name keeps the type the model output needs (src unless inputs/outputs convert too).
          const copy = m.names.fresh(`${name}_${suffix(mainOutDst ? src : dst)}`);
          const proto = tensorToProto(m.tensor(w), w.kind === 'initializer' ? copy : undefined);
          if (mainOutDst) {
            toConvert.push(w.proto);
            p = dst;
            vars.set(src, copy);
          } else {
            toConvert.push(proto);
            vars.set(dst, copy);
          }
          if (w.kind === 'initializer') w.scope.graph.initializer.push(proto);
          else insert(w.scope.graph, w.node!, makeNode('Constant', [], [copy], { attrs: { value: proto } }));
          finalTypes.set(copy, mainOutDst ? src : dst);
          stats.copies++;
        } else {
          toConvert.push(w.proto);
          p = dst;
          stats.castBacks++;
        }
      }
    }
    vars.set(p, name);
    variants.set(name, vars);
    finalTypes.set(name, p);
  }

  // Node outputs: renamed when a graph output of the same graph needs the other type (the output keeps its name,
  // the producer writes a fresh one and a Cast joins them).
  const castNode = (from: string, to: string, type: number): NodeProto => {
    stats.castsAdded++;
    return makeNode('Cast', [from], [to], { name: m.names.fresh(`${to}_cast`), attrs: { to: type } });
  };
  for (const [name, d] of defs) {
    if (!isSrc(name) || d.kind !== 'node') continue;
    const p = produced(name, d);
    const vars = new Map<number, string>([[p, name]]);
    const outNeed = (uses.get(name) ?? []).filter((u) => u.kind === 'output' && u.scope === d.scope).map(need).find((t) => t !== undefined && t !== p);
    if (outNeed !== undefined) {
      const fresh = m.names.fresh(`${name}_${suffix(p)}`);
      d.node.output[d.node.output.indexOf(name)] = fresh;
      vars.set(p, fresh).set(outNeed, name);
      finalTypes.set(fresh, p);
      finalTypes.set(name, outNeed);
      insert(d.scope.graph, d.node, castNode(fresh, name, outNeed));
      if (d.scope === main) stats.ioCasts++;
    } else finalTypes.set(name, p);
    variants.set(name, vars);
  }

  // Readers: each gets the variant of the type it needs, made once per value and type.
  const variant = (name: string, t: number): string => {
    const vars = variants.get(name)!;
    const have = vars.get(t);
    if (have) return have;
    const d = defs.get(name);
    const fromType = vars.has(dst) ? dst : src;
    const fresh = m.names.fresh(`${name}_${suffix(t)}`);
    const scope = d?.scope ?? main;
    insert(scope.graph, d ? anchorOf(d) : null, castNode(vars.get(fromType)!, fresh, t));
    if (d?.kind === 'input' && d.scope === main) stats.ioCasts++;
    vars.set(t, fresh);
    finalTypes.set(fresh, t);
    return fresh;
  };
  for (const [name, list] of uses) {
    if (!isSrc(name) || !variants.has(name)) continue;
    for (const u of list) {
      const t = need(u);
      if (t === undefined) continue;
      const v = variant(name, t);
      if (v === name) continue;
      if (u.kind === 'node') u.node.input[u.index] = v;
      else u.scope.graph.output[u.index]!.name = v; // a subgraph output (a main output always keeps its name and type)
    }
  }

  // --- convert the weights
  throwIfCancelled(opts.signal);
  const total = toConvert.reduce((a, w) => a + elements(w), 0) || 1;
  const t0 = performance.now();
  let done = 0;
  for (const w of toConvert) {
    throwIfCancelled(opts.signal);
    const count = elements(w);
    convertTensor(m, w, dst, dir.clamp, stats);
    done += count;
    opts.progress?.(done / total);
  }
  stats.ms = performance.now() - t0;

  // --- node attributes of converted nodes: Cast targets, ConstantOfShape values, Constant values, dtype attributes
  for (const s of scopes) {
    for (const n of s.graph.node) {
      if (kept.has(n) || (n.domain !== '' && n.domain !== 'ai.onnx')) continue;
      retype(m, n, dir, stats);
    }
  }

  // --- splice the new nodes in (each right after its anchor), and set the declared types
  for (const [g, byAnchor] of after) {
    const nodes: NodeProto[] = [...(byAnchor.get(null) ?? [])];
    for (const n of g.node) {
      nodes.push(n);
      const more = byAnchor.get(n);
      if (more) nodes.push(...more);
    }
    g.node = nodes;
  }
  const finalType = (name: string): number | undefined => finalTypes.get(name) ?? types.get(name);
  removeNoopCasts(m, finalType, outputNames, stats);
  for (const s of scopes) {
    for (const v of [...s.graph.input, ...s.graph.output, ...s.graph.valueInfo]) {
      const t = finalTypes.get(v.name);
      if (t !== undefined && v.type?.value.case === 'tensorType') v.type.value.value.elemType = t;
    }
  }

  return { decisions: report(scopes, kept, touchesSrc, dst), stats };
}

/** Converts a float tensor (initializer or attribute) in place to `dst`, clamping when going to float16. */
function convertTensor(m: QModel, t: TensorProto, dst: number, clamp: { min: number; max: number } | undefined, stats: Stats): void {
  const data = m.tensor(t).data as Float32Array | Uint16Array;
  const before = data.byteLength;
  let raw: Uint8Array;
  if (dst === DT.FLOAT16) {
    const r = floatsToHalf(data as Float32Array, clamp);
    stats.raised += r.raised;
    stats.lowered += r.lowered;
    raw = new Uint8Array(r.half.buffer);
  } else {
    raw = new Uint8Array(halfArrayToFloat(data as Uint16Array).buffer);
  }
  t.dataType = dst;
  t.rawData = raw;
  t.floatData = [];
  t.int32Data = [];
  t.externalData = [];
  t.dataLocation = TensorProto_DataLocation.DEFAULT;
  stats.weights++;
  stats.bytesBefore += before;
  stats.bytesAfter += raw.byteLength;
}

/** The attributes that fix a converted node's output type: Cast's `to`, ConstantOfShape's value, dtype attributes. */
function retype(m: QModel, n: NodeProto, dir: Direction, stats: Stats): void {
  const { src, dst } = dir;
  if (n.opType === 'Cast') {
    const to = getAttr(n, 'to');
    if (to && Number(to.i) === src) {
      to.i = BigInt(dst);
      stats.castsRetargeted++;
    }
    return;
  }
  if (n.opType === 'ConstantOfShape') {
    const v = getAttr(n, 'value');
    // A one-value attribute, converted like a weight but not counted among them (a throwaway Stats).
    if (v?.t && v.t.dataType === src) convertTensor(m, v.t, dst, dir.clamp, { ...stats });
    else if (!v && src === DT.FLOAT) n.attribute.push(makeAttr('value', tensorToProto({ dtype: 'float16', shape: [1], data: new Uint16Array(1) })));
    return;
  }
  if (n.opType === 'Constant' && src === DT.FLOAT) {
    // value_float / value_floats (a `value` tensor is a weight, converted with the others).
    const a = getAttr(n, 'value_float') ?? getAttr(n, 'value_floats');
    if (!a) return;
    const scalar = a.name === 'value_float';
    const values = Float32Array.from(scalar ? [a.f] : a.floats);
    const { half } = floatsToHalf(values, dir.clamp);
    n.attribute = [makeAttr('value', tensorToProto({ dtype: 'float16', shape: scalar ? [] : [values.length], data: half }))];
    return;
  }
  const spec = DTYPE_ATTRS[n.opType];
  if (spec) {
    const a = getAttr(n, spec.attr);
    if (a && Number(a.i) === src) a.i = BigInt(dst);
    else if (!a && spec.absent === src) n.attribute.push(makeAttr(spec.attr, dst));
  }
}

/**
 * Removes Casts whose input already has the target type: the reverse conversion's edge and block-list Casts, and
 * Casts to float16 that a mixed model had before conversion. A Cast whose output is a graph output is removed
 * by renaming its producer's output, when that is safe; otherwise it stays (a no-op).
 */
function removeNoopCasts(m: QModel, typeOf: (name: string) => number | undefined, outputNames: Set<string>, stats: Stats): void {
  const alias = new Map<string, string>();
  const resolve = (name: string): string => {
    let n = name;
    for (let next = alias.get(n); next !== undefined; next = alias.get(n)) n = next;
    return n;
  };
  const graphs: GraphProto[] = [];
  const collect = (g: GraphProto): void => {
    graphs.push(g);
    for (const n of g.node) for (const sg of subgraphsOf(n)) collect(sg.graph);
  };
  collect(m.graph);
  const inputs = new Set(graphs.flatMap((g) => g.input.map((i) => i.name)));
  const dropped = new Set<string>();
  for (const g of graphs) {
    const producer = new Map<string, NodeProto>();
    for (const n of g.node) for (const o of n.output) if (o) producer.set(o, n);
    const keep: NodeProto[] = [];
    for (const n of g.node) {
      const to = n.opType === 'Cast' && n.domain === '' ? getAttr(n, 'to') : undefined;
      const x = n.input[0] ? resolve(n.input[0]) : '';
      const y = n.output[0] ?? '';
      if (!to || !x || !y || typeOf(x) !== Number(to.i)) {
        keep.push(n);
        continue;
      }
      if (!outputNames.has(y)) {
        alias.set(y, x);
        dropped.add(y);
      } else {
        const p = producer.get(x);
        // Rename x to y at its producer: only for a value of this graph that no graph exposes under its own name.
        if (!p || outputNames.has(x) || inputs.has(x)) {
          keep.push(n);
          continue;
        }
        p.output[p.output.indexOf(x)] = y;
        producer.set(y, p);
        alias.set(x, y);
        dropped.add(x);
      }
      stats.castsRemoved++;
    }
    g.node = keep;
  }
  if (!alias.size) return;
  for (const g of graphs) {
    for (const n of g.node) n.input.forEach((name, i) => name && alias.has(name) && (n.input[i] = resolve(name)));
    if (g !== m.graph) for (const o of g.output) if (alias.has(o.name)) o.name = resolve(o.name);
    g.valueInfo = g.valueInfo.filter((v) => !dropped.has(v.name));
  }
}

/** Kept nodes one by one; converted ones summarised per op type. */
function report(scopes: Scope[], kept: Map<NodeProto, Kept>, touches: (n: NodeProto) => boolean, dst: number): NodeDecision[] {
  const out: NodeDecision[] = [];
  const converted = new Map<string, { count: number; graphs: Set<string> }>();
  for (const s of scopes) {
    for (const n of s.graph.node) {
      const k = kept.get(n);
      if (k) {
        // Nodes that never see a float value (shape arithmetic) are not worth a line, whatever keeps them.
        if (touches(n) || subgraphsOf(n).length || k.unknown) out.push({ node: nodeLabel(n), opType: n.opType, graph: s.path, action: 'kept', reason: k.reason });
      } else if (touches(n)) {
        let c = converted.get(n.opType);
        if (!c) converted.set(n.opType, (c = { count: 0, graphs: new Set() }));
        c.count++;
        c.graphs.add(s.path);
      }
    }
  }
  for (const [opType, c] of [...converted].sort((a, b) => b[1].count - a[1].count)) {
    const graph = c.graphs.size === 1 ? [...c.graphs][0]! : `${c.graphs.size} graphs`;
    out.push({ node: `${c.count} node${c.count === 1 ? '' : 's'}`, opType, graph, action: 'converted', form: typeName(dst), reason: `weights and values converted to ${typeName(dst)}` });
  }
  return out;
}
