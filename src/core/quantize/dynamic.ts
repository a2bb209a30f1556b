/**
 * int8 dynamic quantization of MatMul and Gemm: weights become int8 once, here; activations are quantized to uint8
 * at run time by the model itself.
 *
 * Each converted node becomes the standard-op pattern that onnxruntime's graph optimizer fuses into one
 * `com.microsoft.DynamicQuantizeMatMul` (MatMulIntegerToFloatFusion, then DynamicQuantizeMatMulFusion):
 *
 *     A ─ DynamicQuantizeLinear ─┬ A_q ──┐
 *                                ├ A_zp ─┤
 *                                │       MatMulInteger(A_q, W_q, A_zp, W_zp) ─ Cast(FLOAT) ─┐
 *                                └ A_scale ─ Mul(A_scale, W_scale) ─────────────────────── Mul ─ [Add(·, bias)] ─ Y
 *
 * What the fusions require, and so what this file keeps to:
 *   - one DynamicQuantizeLinear per converted node: the fusion wants its three outputs to have exactly one reader
 *     each. (When several MatMuls read the same activation, onnxruntime's common-subexpression elimination merges
 *     their DynamicQuantizeLinear nodes back into one before the fusions run; they then fuse into
 *     MatMulIntegerToFloat, the same integer kernel reading A quantized once, instead of DynamicQuantizeMatMul.)
 *   - Mul(A_scale, W_scale) in that order (the fused node takes the Mul's first input as A's scale);
 *   - W_q, W_scale, W_zp and the bias constant initializers (outer-scope ones count), and the bias 1-D [N] (or
 *     [1, …, N]) with N > 1 as the Add's second input; any other bias stays a separate Add, still correct.
 *
 * Models below opset 11 have no DynamicQuantizeLinear: there the contrib op DynamicQuantizeMatMul(A, B, b_scale,
 * b_zero_point, bias) is written directly (onnxruntime runs it at any opset).
 *
 * Conv is left alone on purpose: onnxruntime's ConvInteger is slower than float Conv on CPU (measured with
 * onnxruntime 1.30: 1.2–1.4× with uint8 weights, 5× with int8 weights) and refuses per-channel weights; int8-static
 * (QDQ, fused into QLinearConv) is the form for Conv models.
 *
 * The helpers that find a MatMul/Gemm's constant weight and build Gemm's bias are shared with weightonly.ts.
 */
import { create } from '@bufbuild/protobuf';
import { ValueInfoProtoSchema, type NodeProto, type TensorProto } from '../onnx/gen/onnx_pb';
import {
  attrFloat,
  attrInt,
  DT,
  elemTypeName,
  makeNode,
  makeTensor,
  nodeLabel,
  toFloat32,
  type QModel,
  type Scope,
  type Weight,
} from './graph';
import { INT8_SYMMETRIC, quantizeArray } from './math';
import { formatBytes } from '../util/format';
import { excludedBy, throwIfCancelled, type DynamicOptions, type Exclusions, type FormCommon, type FormResult, type NodeDecision } from './types';

// ---------------------------------------------------------------------------------------------------------------
// Already-quantized models

/** Op types that only a quantized model holds (QLinear* are matched by prefix). */
const QUANTIZED_OPS = new Set([
  'MatMulInteger',
  'ConvInteger',
  'DynamicQuantizeLinear',
  'QuantizeLinear',
  'DequantizeLinear',
  'DynamicQuantizeMatMul',
  'MatMulIntegerToFloat',
  'MatMulNBits',
  'MatMulBnb4',
  'MatMulFpQ4',
  'QGemm',
  'QAttention',
  'DynamicQuantizeLSTM',
  'GatherBlockQuantized',
  'QOrderedMatMul',
]);

function isQuantizedOp(opType: string): boolean {
  return QUANTIZED_OPS.has(opType) || opType.startsWith('QLinear');
}

/** Quantization ops the model already holds, in every graph: op type → count (empty for a float model). */
export function quantizedOps(m: QModel): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of m.scopes()) {
    for (const n of s.graph.node) if (isQuantizedOp(n.opType)) counts[n.opType] = (counts[n.opType] ?? 0) + 1;
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------------------------
// Finding the MatMul/Gemm nodes whose weight is a constant 2-D float32 matrix (shared with weightonly.ts)

/** A MatMul or Gemm that can be converted: Y = alpha · op(A) · op(W) + beta · C. */
export interface LinearNode {
  scope: Scope;
  node: NodeProto;
  weight: Weight;
  /** The activation input. */
  a: string;
  /** Rows of W as multiplied (the reduction dimension) and columns (outputs). */
  k: number;
  n: number;
  /** Gemm transA: A is [K, M] and needs a Transpose. */
  transA: boolean;
  /** Gemm transB: W is stored [N, K]. */
  transB: boolean;
  alpha: number;
  beta: number;
  /** Gemm's C, when present and beta ≠ 0. */
  c?: string;
}

export type LinearCheck = { linear: LinearNode } | { keep: string };

const isDefaultDomain = (n: NodeProto): boolean => n.domain === '' || n.domain === 'ai.onnx';

/**
 * For a MatMul or Gemm: the node as a LinearNode when its weight (MatMul input 1, Gemm input B) is a constant 2-D
 * float32 matrix, else the reason to keep it. Undefined for any other node.
 */
export function checkLinear(m: QModel, scope: Scope, node: NodeProto, exclude: Exclusions | undefined): LinearCheck | undefined {
  if (!isDefaultDomain(node) || (node.opType !== 'MatMul' && node.opType !== 'Gemm')) return undefined;
  const excluded = excludedBy(exclude, node.opType, node.name);
  if (excluded) return { keep: excluded };
  const a = node.input[0];
  const b = node.input[1];
  if (!a || !b) return { keep: 'the node lacks an input' };
  const w = scope.weight(b, m.irVersion);
  if (!w) return { keep: whyNotConstant(m, scope, b) };
  if (w.proto.dataType !== DT.FLOAT) {
    const t = elemTypeName(w.proto.dataType);
    return { keep: w.proto.dataType === DT.FLOAT16 || w.proto.dataType === DT.BFLOAT16 || w.proto.dataType === DT.DOUBLE ? `weight is ${t}` : `weight is ${t}, not float32` };
  }
  const dims = w.proto.dims.map(Number);
  if (dims.length !== 2) return { keep: `weight is not 2-D (shape [${dims.join(', ')}])` };
  if (dims[0] === 0 || dims[1] === 0) return { keep: 'weight is empty' };
  const gemm = node.opType === 'Gemm';
  const transB = gemm && attrInt(node, 'transB', 0) !== 0;
  const beta = gemm ? attrFloat(node, 'beta', 1) : 1;
  const c = gemm && beta !== 0 ? node.input[2] || undefined : undefined;
  return {
    linear: {
      scope,
      node,
      weight: w,
      a,
      k: transB ? dims[1]! : dims[0]!,
      n: transB ? dims[0]! : dims[1]!,
      transA: gemm && attrInt(node, 'transA', 0) !== 0,
      transB,
      alpha: gemm ? attrFloat(node, 'alpha', 1) : 1,
      beta,
      c,
    },
  };
}

/** Why a weight input is not a constant, in a user's words. */
function whyNotConstant(m: QModel, scope: Scope, name: string): string {
  const producer = scope.producers.get(name);
  if (producer && (producer.opType === 'DequantizeLinear' || isQuantizedOp(producer.opType))) return `already quantized: the weight comes from ${producer.opType}`;
  let s: Scope | undefined = scope;
  while (s && !s.defines(name)) s = s.parent;
  if (s && !s.parent && s.inputs.has(name) && s.initializers.has(name)) {
    return 'weight is a graph input with a default value (IR ≥ 4: a caller may feed another, so it is not a constant)';
  }
  if (s?.inputs.has(name)) return 'weight is a graph input (activation × activation)';
  return 'weight is computed (activation × activation)';
}

/** Why a Conv stays in float with int8 dynamic. */
export const CONV_KEPT_DYNAMIC =
  "kept in float: onnxruntime's ConvInteger runs 1.2–1.4× slower (uint8 weights) and 5× slower (int8 weights) than float Conv on CPU, and refuses per-channel weights; int8-static quantizes Conv";

/** The decision for a node that stays as it is. */
export function kept(scope: Scope, node: NodeProto, reason: string): NodeDecision {
  return { node: nodeLabel(node), opType: node.opType, graph: scope.path, action: 'kept', reason };
}

export function convertedDecision(scope: Scope, node: NodeProto, form: string, reason: string): NodeDecision {
  return { node: nodeLabel(node), opType: node.opType, graph: scope.path, action: 'converted', form, reason };
}

/** Why a converted node was convertible, and what was folded (Gemm's attributes). */
export function convertedReason(l: LinearNode): string {
  const parts = [`constant float32 weight ${l.k}×${l.n}`];
  if (l.transB) parts.push('transB folded into the stored weight');
  if (l.alpha !== 1) parts.push(`alpha ${l.alpha} folded into the weight scale`);
  if (l.c && l.beta !== 1) parts.push(`beta ${l.beta} applied to C`);
  if (l.c) parts.push('C added as bias');
  if (l.transA) parts.push('transA by a Transpose of A');
  return parts.join('; ');
}

// ---------------------------------------------------------------------------------------------------------------
// Edits shared by the forms

/**
 * Adds a constant the rewritten nodes read. It goes into `scope` (the graph of the weight it replaces, so every
 * graph that read that weight sees it), except in IR < 4 models: there onnx.checker wants every initializer to be
 * a graph input too, which a subgraph cannot have, so it goes into the main graph and is declared as its input
 * (onnxruntime treats IR < 4 initializers as constants, input or not).
 */
export function addConstant(m: QModel, main: Scope, scope: Scope, t: TensorProto): void {
  if (m.irVersion >= 4) {
    scope.addInitializer(t);
    return;
  }
  main.addInitializer(t);
  const dim = t.dims.map((d) => ({ value: { case: 'dimValue' as const, value: d } }));
  main.graph.input.push(create(ValueInfoProtoSchema, { name: t.name, type: { value: { case: 'tensorType', value: { elemType: t.dataType, shape: { dim } } } } }));
  main.inputs.add(t.name);
}

/** W as [K, N] float32 (transposed when stored [N, K]); a view of the tensor when no transpose is needed. */
export function weightKN(m: QModel, l: LinearNode): Float32Array {
  const data = toFloat32(m.tensor(l.weight))!;
  return l.transB ? transpose(data, l.n, l.k) : data;
}

/** W as [N, K] float32 (each output's weights contiguous, as block quantization along K wants). */
export function weightNK(m: QModel, l: LinearNode): Float32Array {
  const data = toFloat32(m.tensor(l.weight))!;
  return l.transB ? data : transpose(data, l.k, l.n);
}

/** Transposes a row-major [rows, cols] matrix, in tiles so that both sides stay in cache. */
export function transpose(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const T = 32;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = Math.min(rows, r0 + T);
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = Math.min(cols, c0 + T);
      for (let r = r0; r < r1; r++) {
        const base = r * cols;
        for (let c = c0; c < c1; c++) out[c * rows + r] = src[base + c]!;
      }
    }
  }
  return out;
}

/** Gemm's beta·C, ready to add: `vector` when it is a constant [N] (what the fusions and bias inputs take). */
export interface Bias {
  name: string;
  vector: boolean;
  /** Nodes computing it (a Mul by beta for a computed C), to place before the rest. */
  nodes: NodeProto[];
}

/**
 * Gemm's beta·C as one value. A constant C is folded with beta into a new float32 initializer (reshaped to [N]
 * when it holds one value per output: [N] or [1, N]); C itself is reused when beta is 1 and it is already a 1-D
 * float32 [N]. A computed C gets a Mul by beta when beta ≠ 1.
 */
export function gemmBias(m: QModel, main: Scope, l: LinearNode): Bias | undefined {
  if (!l.c) return undefined;
  const base = l.node.name || l.node.output[0] || 'gemm';
  const cw = l.scope.weight(l.c, m.irVersion);
  const cdata = cw && cw.proto.dataType === DT.FLOAT ? toFloat32(m.tensor(cw)) : undefined;
  if (cw && cdata) {
    const dims = cw.proto.dims.map(Number);
    const perOutput = cdata.length === l.n && dims.at(-1) === l.n && l.n > 1;
    if (l.beta === 1 && perOutput && dims.length === 1) return { name: l.c, vector: true, nodes: [] };
    const folded = new Float32Array(cdata.length);
    for (let i = 0; i < cdata.length; i++) folded[i] = l.beta * cdata[i]!;
    const name = m.names.fresh(`${l.c}_bias`);
    addConstant(m, main, l.scope, makeTensor(name, 'float32', perOutput ? [l.n] : dims, folded));
    return { name, vector: perOutput, nodes: [] };
  }
  if (l.beta === 1) return { name: l.c, vector: false, nodes: [] };
  const betaName = m.names.fresh(`${base}_beta`);
  addConstant(m, main, l.scope, makeTensor(betaName, 'float32', [], new Float32Array([l.beta])));
  const scaled = m.names.fresh(`${l.c}_scaled`);
  return { name: scaled, vector: false, nodes: [makeNode('Mul', [l.c, betaName], [scaled], { name: m.names.fresh(`${base}_beta_mul`) })] };
}

/** Gemm transA: a Transpose of A (2-D, so perm [1, 0]); returns the name to read A from. */
export function transposedA(m: QModel, l: LinearNode, nodes: NodeProto[]): string {
  if (!l.transA) return l.a;
  const base = l.node.name || l.node.output[0] || 'gemm';
  const t = m.names.fresh(`${l.a}_transposed`);
  nodes.push(makeNode('Transpose', [l.a], [t], { name: m.names.fresh(`${base}_transpose_a`), attrs: { perm: [1, 0] } }));
  return t;
}

/** The float32 bytes of the weights a list of nodes reads (each weight once), for progress. */
export function weightBytes(list: LinearNode[]): number {
  const seen = new Set<TensorProto>();
  let bytes = 0;
  for (const l of list) {
    if (seen.has(l.weight.proto)) continue;
    seen.add(l.weight.proto);
    bytes += 4 * l.k * l.n;
  }
  return bytes;
}

/** Splits the model's MatMul/Gemm/Conv nodes into convertible ones and decisions for the rest. */
export function collectLinear(m: QModel, scopes: Scope[], exclude: Exclusions | undefined, convReason: string): { todo: LinearNode[]; decisions: NodeDecision[]; convs: number } {
  const todo: LinearNode[] = [];
  const decisions: NodeDecision[] = [];
  let convs = 0;
  for (const scope of scopes) {
    for (const node of scope.graph.node) {
      if (node.opType === 'Conv' && isDefaultDomain(node)) {
        convs++;
        decisions.push(kept(scope, node, excludedBy(exclude, node.opType, node.name) ?? convReason));
        continue;
      }
      const c = checkLinear(m, scope, node, exclude);
      if (!c) continue;
      if ('keep' in c) decisions.push(kept(scope, node, c.keep));
      else todo.push(c.linear);
    }
  }
  return { todo, decisions, convs };
}

/** A note when the model already holds quantization ops (the orchestrator decides whether to go on at all). */
export function notesOnQuantizedModel(m: QModel): string[] {
  const q = quantizedOps(m);
  const list = Object.entries(q).map(([op, n]) => `${n} ${op}`);
  return list.length ? [`the model was already quantized in part (${list.join(', ')}); only float MatMul/Gemm weights were considered`] : [];
}

/** A weight a form quantized: shared by every node that reads it (the same TensorProto, the same transB). */
export interface QuantizedLinearWeight {
  /** One scale (per tensor), one per output column, or one per block. */
  scales: Float32Array;
}

/** What a form of MatMul/Gemm weight quantization says to rewriteLinear. */
export interface LinearRewrite<W extends QuantizedLinearWeight> {
  /** The decision's form, the same for every node. */
  form: string;
  /** Quantizes one weight and adds its initializers (called once per TensorProto and transB); undefined for NaN or ±Infinity. */
  quantize(l: LinearNode): W | undefined;
  /** The scale initializer (alpha folded in): its name suffix ("scale") and shape. */
  scaleSuffix: string;
  scaleShape(l: LinearNode, scales: Float32Array): number[];
  /**
   * Appends the nodes that compute the node's output `y` from `a` (A, transposed when transA), the quantized weight
   * and its `scale`, and Gemm's `bias`; `nodes` already holds what the bias and A need first.
   */
  emit(l: LinearNode, w: W, io: { a: string; scale: string; bias: Bias | undefined; y: string; base: string; nodes: NodeProto[] }): void;
}

/**
 * The loop both MatMul/Gemm forms share: each weight quantized once (progress by its bytes), a scale initializer per
 * alpha, Gemm's bias and transA prepared, the node replaced where it stood by what the form emits, and a decision
 * for every node. Returns how many nodes were converted.
 */
export function rewriteLinear<W extends QuantizedLinearWeight>(m: QModel, main: Scope, todo: LinearNode[], decisions: NodeDecision[], opts: FormCommon, r: LinearRewrite<W>): number {
  const total = weightBytes(todo) || 1;
  let done = 0;
  let converted = 0;
  const cache = new Map<TensorProto, Map<boolean, W | undefined>>();
  const scaleNames = new Map<W, Map<number, string>>();
  const quantized = (l: LinearNode): W | undefined => {
    let byTrans = cache.get(l.weight.proto);
    if (!byTrans) cache.set(l.weight.proto, (byTrans = new Map()));
    if (byTrans.has(l.transB)) return byTrans.get(l.transB);
    const w = r.quantize(l);
    byTrans.set(l.transB, w);
    done += 4 * l.k * l.n;
    opts.progress?.(Math.min(1, done / total));
    return w;
  };
  const scaleFor = (l: LinearNode, w: W): string => {
    let names = scaleNames.get(w);
    if (!names) scaleNames.set(w, (names = new Map()));
    const known = names.get(l.alpha);
    if (known) return known;
    const values = l.alpha === 1 ? w.scales : w.scales.map((v) => v * l.alpha);
    const name = m.names.fresh(`${l.weight.name}_${r.scaleSuffix}${l.alpha === 1 ? '' : '_alpha'}`);
    addConstant(m, main, l.weight.scope, makeTensor(name, 'float32', r.scaleShape(l, values), values));
    names.set(l.alpha, name);
    return name;
  };
  for (const l of todo) {
    throwIfCancelled(opts.signal);
    const w = quantized(l);
    if (!w) {
      decisions.push(kept(l.scope, l.node, NON_FINITE));
      continue;
    }
    converted++;
    const scale = scaleFor(l, w);
    const bias = gemmBias(m, main, l);
    const nodes: NodeProto[] = [...(bias?.nodes ?? [])];
    const a = transposedA(m, l, nodes);
    const y = l.node.output[0]!;
    r.emit(l, w, { a, scale, bias, y, base: l.node.name || y, nodes });
    l.scope.replace(l.node, nodes);
    decisions.push(convertedDecision(l.scope, l.node, r.form, convertedReason(l)));
  }
  return converted;
}

// ---------------------------------------------------------------------------------------------------------------
// int8 dynamic

interface QuantizedWeight extends QuantizedLinearWeight {
  q: string;
  zp: string;
}

/** int8 dynamic quantization of MatMul and Gemm, in place. */
export function quantizeDynamic(m: QModel, opts: DynamicOptions = {}): FormResult {
  const perChannel = opts.perChannel ?? false;
  const scopes = m.scopes();
  const main = scopes[0]!;
  // Below opset 11 the standard ops do not exist; the contrib op does at any opset (onnxruntime only).
  const opset = m.opset('');
  const contrib = opset < 11;
  const { todo, decisions, convs } = collectLinear(m, scopes, opts.exclude, CONV_KEPT_DYNAMIC);
  const notes = notesOnQuantizedModel(m);
  const converted = rewriteLinear<QuantizedWeight>(m, main, todo, decisions, opts, {
    form: contrib ? `com.microsoft.DynamicQuantizeMatMul (int8 ${perChannel ? 'per-channel' : 'per-tensor'} weights)` : `DynamicQuantizeLinear+MatMulInteger (int8 ${perChannel ? 'per-channel' : 'per-tensor'} weights)`,
    quantize: (l) => {
      const w = weightKN(m, l);
      const q = new Int8Array(l.k * l.n);
      const scales = perChannel ? quantizeColumnsInt8(w, l.k, l.n, q) : quantizeTensorInt8(w, q);
      if (!scales) return undefined;
      const qName = m.names.fresh(`${l.weight.name}_quantized`);
      const zpName = m.names.fresh(`${l.weight.name}_zero_point`);
      addConstant(m, main, l.weight.scope, makeTensor(qName, 'int8', [l.k, l.n], q));
      addConstant(m, main, l.weight.scope, makeTensor(zpName, 'int8', perChannel ? [l.n] : [], new Int8Array(perChannel ? l.n : 1)));
      return { q: qName, zp: zpName, scales };
    },
    scaleSuffix: 'scale',
    scaleShape: (l) => (perChannel ? [l.n] : []),
    emit: (_l, qw, { a, scale, bias, y, base, nodes }) => {
      const fresh = (x: string): string => m.names.fresh(`${base}_${x}`);
      // The last node writes the original output, so readers downstream are untouched.
      const addAfter = bias && !(contrib && bias.vector);
      const product = addAfter ? fresh('unbiased') : y;
      if (contrib) {
        const inputs = [a, qw.q, scale, qw.zp];
        if (bias?.vector) inputs.push(bias.name);
        nodes.push(makeNode('DynamicQuantizeMatMul', inputs, [product], { name: fresh('quant'), domain: 'com.microsoft' }));
      } else {
        const [aq, as, azp, yi, yf, sc] = ['a_quantized', 'a_scale', 'a_zero_point', 'int32', 'float', 'scale'].map((x) => m.names.fresh(`${base}_${x}`)) as [string, string, string, string, string, string];
        nodes.push(
          makeNode('DynamicQuantizeLinear', [a], [aq, as, azp], { name: fresh('quantize_a') }),
          makeNode('MatMulInteger', [aq, qw.q, azp, qw.zp], [yi], { name: fresh('matmul_integer') }),
          makeNode('Cast', [yi], [yf], { name: fresh('cast'), attrs: { to: DT.FLOAT } }),
          makeNode('Mul', [as, scale], [sc], { name: fresh('scales') }),
          makeNode('Mul', [yf, sc], [product], { name: fresh('rescale') }),
        );
      }
      if (addAfter) nodes.push(makeNode('Add', [product, bias.name], [y], { name: fresh('bias') }));
    },
  });
  if (converted && contrib) {
    m.ensureOpset('com.microsoft', 1);
    notes.push(
      `opset ${opset} is below 11, which DynamicQuantizeLinear needs: ${converted} node(s) became com.microsoft.DynamicQuantizeMatMul, an onnxruntime contrib op (the model now runs in onnxruntime only)`,
    );
  }
  if (convs) notes.push(`${convs} Conv node(s) kept in float: int8 dynamic would make them slower on CPU; int8-static quantizes Conv`);
  const pruned = m.pruneUnusedWeights();
  if (converted) notes.push(`${converted} MatMul/Gemm node(s) converted; ${formatBytes(weightBytes(todo))} of float32 weights became int8; ${pruned} unused float weight(s) dropped`);
  else notes.push('no MatMul or Gemm with a constant float32 weight: nothing was quantized');
  opts.progress?.(1);
  return { decisions, notes };
}

/** Per-tensor symmetric int8 ([-127, 127], zero point 0); returns the one scale (undefined for NaN or ±Infinity). */
function quantizeTensorInt8(w: Float32Array, out: Int8Array): Float32Array | undefined {
  let amax = 0;
  let finite = true;
  for (let i = 0; i < w.length; i++) {
    const v = w[i]!;
    const a = v < 0 ? -v : v;
    if (a > amax) amax = a;
    else if (!(a <= amax)) finite = false; // NaN
  }
  if (!finite || amax === Infinity) return undefined;
  const scale = amax > 0 ? Math.fround(amax / INT8_SYMMETRIC.max) : 1;
  quantizeArray(w, { scale, zeroPoint: 0 }, INT8_SYMMETRIC, out);
  return new Float32Array([scale]);
}

/**
 * Per-column symmetric int8 of a row-major [K, N] matrix: one scale per output column, in two row-major passes
 * (undefined for NaN or ±Infinity).
 */
function quantizeColumnsInt8(w: Float32Array, k: number, n: number, out: Int8Array): Float32Array | undefined {
  const amax = new Float32Array(n);
  let finite = true;
  for (let r = 0; r < k; r++) {
    const base = r * n;
    for (let c = 0; c < n; c++) {
      const v = w[base + c]!;
      const a = v < 0 ? -v : v;
      if (a > amax[c]!) amax[c] = a;
      else if (!(a <= amax[c]!)) finite = false; // NaN
    }
  }
  if (!finite) return undefined;
  const scales = new Float32Array(n);
  const inv = new Float32Array(n);
  for (let c = 0; c < n; c++) {
    if (amax[c] === Infinity) return undefined;
    scales[c] = amax[c]! > 0 ? Math.fround(amax[c]! / INT8_SYMMETRIC.max) : 1;
    inv[c] = 1 / scales[c]!;
  }
  for (let r = 0; r < k; r++) {
    const base = r * n;
    for (let c = 0; c < n; c++) {
      const t = w[base + c]! * inv[c]!;
      let q = Math.round(t);
      if (q - t === 0.5 && q % 2 !== 0) q -= 1; // half to even, as QuantizeLinear rounds
      out[base + c] = q < -127 ? -127 : q > 127 ? 127 : q;
    }
  }
  return scales;
}

/** Why a node whose weight cannot be quantized stays. */
export const NON_FINITE = 'weight holds NaN or Infinity, which have no quantized value';
