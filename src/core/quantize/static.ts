/**
 * int8 static quantization in the QDQ form, as onnxruntime.quantization.quantize_static writes it by default:
 * QuantizeLinear→DequantizeLinear pairs on the float activations around Conv, MatMul and Gemm (ranges from
 * calibrate.ts), int8 symmetric weights behind a DequantizeLinear, and int32 biases whose scale is
 * x_scale·w_scale. onnxruntime's QDQ transformers then fold each DQ→Conv→Q group into QLinearConv (MatMul into
 * QLinearMatMul, Gemm into QGemm), which is where the speed comes from: a DQ'd weight alone is not folded and is
 * slower than float.
 *
 * Beyond Python's quantizer (which leaves these to onnxruntime's preprocessing step), two rewrites keep the int8
 * groups whole: a BatchNormalization that follows a Conv is folded into its weights and bias (otherwise the float BN
 * would sit between the Conv and its output Q, and the Conv's range would be the pre-BN one), and a Relu, or a Clip
 * from 0, after a quantized node is dropped, its range taken by the node's output Q (a range starting at 0 clamps
 * exactly as Relu does; Clip's top is within the range too).
 *
 * Between the Convs, the ops onnxruntime's CPU QDQ transformers run in 8 bits are wrapped too (Add, Mul,
 * GlobalAveragePool, … : see UNARY_OPS and the sets after it), so that a chain Conv → Add → Mul → Conv stays in 8 bits instead of paying a
 * DQ→float→Q round trip per op; a Conv's scale and shift by constants (Mul, Add after it, as PP-OCRv4 has) are folded
 * like BN, and a Div or Mul by a positive scalar (hardswish's /6) goes into the scale of the DQ after the node.
 *
 * Opsets below 13 have no per-channel QuantizeLinear (`axis` came in 13) and opset 9 has no QuantizeLinear at all,
 * so those models get the com.microsoft QuantizeLinear/DequantizeLinear contrib ops instead, which onnxruntime's QDQ
 * selectors accept as well (test/unit/quantize-static.test.ts checks QLinearConv forms from them).
 */
import { create } from '@bufbuild/protobuf';
import { UserError } from '../errors';
import { ValueInfoProtoSchema, type NodeProto, type TensorProto } from '../onnx/gen/onnx_pb';
import { attrFloat, attrInt, attrInts, DT, getAttr, makeNode, makeTensor, nodeLabel, type QModel, type Scope, type Weight } from './graph';
import { INT8_SYMMETRIC, minMax, qparams, quantizeArray, quantizePerChannel, QRANGE, rint, type QParams, type QType } from './math';
import { excludedBy, throwIfCancelled, type Exclusions, type FormResult, type NodeDecision, type StaticOptions } from './types';

/** The op types quantized with their weights (inputs, weights and outputs). */
export const STATIC_OP_TYPES: ReadonlySet<string> = new Set(['Conv', 'MatMul', 'Gemm']);

/**
 * The weightless ops wrapped in Q/DQ too, each one that onnxruntime's CPU QDQ transformers (1.30,
 * qdq_selector_action_transformer.cc) run in 8 bits: UnaryOpQDQRules fold DQ→op→Q into QLinearAveragePool,
 * QLinearLeakyRelu, QLinearGlobalAveragePool, QLinearSigmoid; BinaryOpQDQRules Add and Mul into QLinearAdd and
 * QLinearMul; VariadicOpQDQRules Concat into QLinearConcat; DropQDQNodesRules drop the Q/DQ around the data movers
 * (Reshape, Transpose, Squeeze, Unsqueeze, Flatten, Resize; MaxPool only from opset 12, where it takes uint8).
 * Without these, every float op between two quantized Convs costs a DQ→op→Q round trip, which made the PP-OCR
 * models slower in int8 than in float. Only ops between quantized ones are wrapped (see betweenQuantized()).
 *
 * Left out: HardSigmoid, HardSwish, Div, Sub, Clip as an op of its own: onnxruntime has no 8-bit kernel or QDQ rule
 * for them on CPU (Clip and Relu right after a quantized op are absorbed into its output range instead, and a Div or
 * Mul by a positive scalar into the scale of its DQ). Softmax (UnaryOpQDQRules has it): in the models here it is the
 * last op, where 8 bits only add error to the output (1/255 steps of probability) and save nothing.
 */
const UNARY_OPS: ReadonlySet<string> = new Set(['GlobalAveragePool', 'AveragePool', 'Sigmoid', 'LeakyRelu']);
const BINARY_OPS: ReadonlySet<string> = new Set(['Add', 'Mul']);
const VARIADIC_OPS: ReadonlySet<string> = new Set(['Concat']);
const DROP_OPS: ReadonlySet<string> = new Set(['Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Flatten', 'Resize', 'MaxPool']);

const MS = 'com.microsoft';

/** What the quantizer means to do with one candidate node, before ranges are known. */
interface Plan {
  node: NodeProto;
  label: string;
  /**
   * weighted: Conv, MatMul, Gemm (int8 weights). unary, binary, variadic: ops onnxruntime turns into com.microsoft
   * QLinear* kernels when every input comes from a DQ and the output goes to a Q. drop: ops that move data without
   * changing it, whose DQ→op→Q onnxruntime drops (the op runs on the 8-bit values; the output shares the input's
   * scale and zero point, which the drop needs).
   */
  kind: 'weighted' | 'unary' | 'binary' | 'variadic' | 'drop';
  /** Activation inputs to quantize (A; and B for a MatMul of two activations; every float input of the others). */
  acts: string[];
  /** Constant float inputs of Add, Mul and Concat, quantized as activations are (the QLinear kernels want 8-bit). */
  consts?: { index: number; weight: Weight }[];
  /** Mul and Add by per-channel or scalar constants after a Conv (and its BatchNormalization), folded into it. */
  folds?: NodeProto[];
  /**
   * Div or Mul by positive scalar constants after the node (and its Relu/Clip), absorbed into the DQ: the Q quantizes
   * the node's output y with scale s/factor and the DQ reads the codes with scale s, so it writes y·factor.
   */
  scaled?: { nodes: NodeProto[]; factor: number };
  /** The constant B input (input 1); absent for a MatMul of two activations. */
  weight?: Weight;
  /** Conv's bias or Gemm's C (input 2). */
  bias?: Weight;
  /** A BatchNormalization folded into this Conv. */
  bn?: NodeProto;
  /** A Relu or Clip(0, max) dropped into this node's output range. */
  act?: { node: NodeProto; max: number };
  /** The value the rewritten node writes (the BN's or activation's output when those are absorbed). */
  out: string;
  /** Why the node stays float (decided before ranges). */
  keep?: string;
}

/**
 * Names every unnamed node of the model, subgraphs included (`Conv_12`: op type and position), so that reports,
 * exclusions and the sensitivity pass can refer to each. Deterministic: the same model gets the same names, which the
 * sensitivity pass relies on when it rebuilds the model. Returns how many nodes were named.
 */
export function ensureNodeNames(m: QModel): number {
  let named = 0;
  for (const s of m.scopes()) {
    s.graph.node.forEach((n, i) => {
      if (n.name) return;
      n.name = m.names.fresh(s.parent ? `${s.path.replace(/[^\w]+/g, '_')}_${n.opType}_${i}` : `${n.opType}_${i}`);
      named++;
    });
  }
  return named;
}

/**
 * The activation values calibration must measure for quantizeStatic with these options: the float inputs and the
 * (BN-, Relu- and scale-absorbed) outputs of every node that would be quantized, in the main graph and in If, Loop
 * and Scan bodies (a data mover's output takes its input's range, so only its input is measured).
 */
export function calibrationTargets(m: QModel, opts: { exclude?: Exclusions; keepFloat?: ReadonlySet<string> }): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const scope of m.scopes()) {
    for (const p of planNodes(m, scope, opts)) {
      if (p.keep) continue;
      for (const v of p.kind === 'drop' ? p.acts : [...p.acts, p.out]) {
        if (!seen.has(v)) {
          seen.add(v);
          out.push(v);
        }
      }
    }
  }
  return out;
}

/**
 * Rewrites `m` in place into the QDQ form: the main graph and every If/Loop/Scan body (onnxruntime's QDQ
 * transformers fold the groups inside subgraphs too), each with the ranges calibration measured there.
 */
export function quantizeStatic(m: QModel, opts: StaticOptions): FormResult {
  const decisions: NodeDecision[] = [];
  const notes: string[] = [];
  const scopes = m.scopes();
  const opset = m.opset('');
  if (opset < 7) throw new UserError(`the model imports ONNX opset ${opset}; static quantization needs opset 7 or later.`, 'Convert the model to a newer opset first (onnx.version_converter).');
  const contrib = opset < 13;
  const actType: QType = opts.activationType ?? 'uint8';
  const perChannel = opts.perChannel ?? false;
  const ranges = opts.ranges;

  const planned = scopes.map((scope) => ({ scope, plans: planNodes(m, scope, opts) }));
  // Ranges decide last: a node whose values were not measured stays float (in a body that never ran on the
  // calibration samples, such as the 8 kHz branch of a VAD calibrated at 16 kHz, every node).
  for (const { plans } of planned) {
    for (const p of plans) {
      if (p.keep) continue;
      const missing = (p.kind === 'drop' ? p.acts : [...p.acts, p.out]).filter((v) => !ranges.has(v));
      if (missing.length) p.keep = `no calibrated range for ${missing.map((v) => `'${v}'`).join(', ')} (calibration did not measure ${missing.length > 1 ? 'them' : 'it'}${planned[0]!.plans === plans ? '' : ': the samples may not reach this subgraph'})`;
    }
  }

  // onnxruntime folds Q/DQ groups into default-domain QLinearConv/QLinearMatMul, which exist from opset 10: in an
  // opset-9 model that fold fails session creation ("No Op registered for QLinearConv with domain_version of 9"),
  // contrib Q/DQ or not. So opset 9 goes to 10 when its nodes allow it, or stays float.
  const all = planned.flatMap((x) => x.plans);
  if (opset < 10 && all.some((p) => !p.keep)) {
    const blocker = opset10Blocker(m);
    if (blocker) {
      for (const p of all) p.keep ??= `the model's opset ${opset} cannot hold int8 groups (onnxruntime forms QLinearConv, which needs opset 10), and ${blocker}, so the opset was not upgraded`;
    } else {
      const changed = upgradeTo10(m);
      notes.push(`ONNX opset upgraded from ${opset} to 10 (onnxruntime's QLinearConv needs it)${changed ? `: ${changed} Slice/TopK node${changed > 1 ? 's' : ''} now take their attributes as inputs` : ''}.`);
    }
  }
  let folded = 0;
  let fused = 0;
  let scaledBy = 0;
  let convertedCount = 0;
  let inBodies = 0;
  const total = all.filter((p) => !p.keep).length;
  for (const { scope, plans } of planned) {
    const q = new Rewriter(m, scope, contrib, actType);
    const converted = plans.filter((p) => !p.keep);
    for (const p of plans) {
      if (p.keep) decisions.push({ node: p.label, opType: p.node.opType, graph: scope.path, action: 'kept', reason: p.keep });
    }
    // The producer of a value decides its Q: outputs first, in graph order (a data mover's output takes its input's
    // scale and zero point, so its input must be settled before it), then the inputs no converted node writes.
    const order = new Map(scope.graph.node.map((n, i) => [n, i]));
    converted.sort((a, b) => order.get(a.node)! - order.get(b.node)!);
    for (const p of converted) {
      if (p.kind === 'drop') {
        q.activation(p.acts[0]!, ranges.get(p.acts[0]!)!);
        q.alias(p.out, p.acts[0]!);
        continue;
      }
      const r = ranges.get(p.out)!;
      const f = p.scaled?.factor ?? 1;
      // An absorbed Relu/Clip starts the range at 0 (so that Q clamps as Relu does) and ends it at Clip's top (scaled
      // by what follows it).
      q.activation(p.out, p.act ? { min: 0, max: Math.max(0, Math.min(r.max, p.act.max * f)) } : r, f);
    }
    for (const p of converted) {
      throwIfCancelled(opts.signal);
      for (const a of p.acts) q.activation(a, ranges.get(a)!);
      const how = q.quantizeNode(p, perChannel);
      if (p.bn) folded++;
      if (p.folds) folded += p.folds.length;
      if (p.act) fused++;
      if (p.scaled) scaledBy += p.scaled.nodes.length;
      if (scope.parent && p.kind === 'weighted') inBodies++;
      const extras = [
        p.bn ? '+BatchNormalization folded' : '',
        p.folds ? `+${p.folds.map((n) => n.opType).join(', ')} by constants folded` : '',
        p.act ? `+${p.act.node.opType} fused` : '',
        p.scaled ? `+${p.scaled.nodes.map((n) => n.opType).join(', ')} by a constant taken into the scale` : '',
      ].filter(Boolean);
      const form =
        p.kind === 'weighted'
          ? `QDQ ${actType} activations, int8 ${how} weights`
          : p.kind === 'drop'
            ? `QDQ ${actType}, sharing its input's scale (onnxruntime drops the pair and runs it on ${actType})`
            : `QDQ ${actType}${p.consts?.length ? ` (constant input${p.consts.length > 1 ? 's' : ''} ${actType})` : ''}, for onnxruntime's ${qlinearName(p.node.opType)}`;
      decisions.push({
        node: p.label,
        opType: p.node.opType,
        graph: scope.path,
        action: 'converted',
        form: `${form}${extras.length ? ` (${extras.join('; ')})` : ''}`,
        reason: `calibrated ranges for ${(p.kind === 'drop' ? p.acts : [...p.acts, p.out]).map((v) => `'${v}'`).join(', ')}`,
      });
      convertedCount++;
      opts.progress?.(convertedCount / total);
    }
    q.finish();
  }
  if (convertedCount) {
    if (contrib) {
      m.ensureOpset(MS, 1);
      notes.push(
        `QuantizeLinear/DequantizeLinear from the com.microsoft domain: the model's ONNX opset ${m.opset('')} has no per-channel QuantizeLinear (axis needs opset 13), and upgrading to 13 would touch many other nodes; onnxruntime folds the contrib Q/DQ into QLinearConv the same way.`,
      );
    }
    if (inBodies) notes.push(`${inBodies} Conv/MatMul/Gemm node${inBodies > 1 ? 's' : ''} inside If/Loop/Scan bodies quantized, with ranges measured where they run.`);
    if (folded) notes.push(`${folded} BatchNormalization or Mul/Add-by-constant node${folded > 1 ? 's' : ''} folded into the preceding Conv's weights and bias.`);
    if (fused) notes.push(`${fused} Relu/Clip node${fused > 1 ? 's' : ''} absorbed into the output range of the node before.`);
    if (scaledBy) notes.push(`${scaledBy} Div/Mul node${scaledBy > 1 ? 's' : ''} by a positive constant taken into the scale of the DequantizeLinear before.`);
    const dropped = m.pruneUnusedWeights();
    if (dropped) notes.push(`${dropped} float weight${dropped > 1 ? 's' : ''} no longer read were dropped.`);
  }
  return { decisions, notes };
}

// ---------------------------------------------------------------------------------------------------------------
// Planning

function planNodes(m: QModel, scope: Scope, opts: { exclude?: Exclusions; keepFloat?: ReadonlySet<string> }): Plan[] {
  const plans: Plan[] = [];
  const ir = m.irVersion;
  const isFloat = (name: string) => {
    const t = scope.elemType(name);
    return t === undefined || t === DT.FLOAT;
  };
  const floatWeight = (name: string | undefined) => {
    const w = name ? scope.weight(name, ir) : undefined;
    return w && w.proto.dataType === DT.FLOAT ? w : undefined;
  };
  /** Nodes folded or absorbed into a plan: not candidates of their own. */
  const absorbed = new Set<NodeProto>();
  /** Relu/Clip, then Div/Mul by positive scalars, after the plan's output. */
  const absorbTail = (plan: Plan) => {
    const next = soleConsumer(scope, plan.out);
    if (next && next.domain === '' && next.input[0] === plan.out) {
      const max = reluLikeMax(m, scope, next);
      if (max !== undefined) {
        plan.act = { node: next, max };
        plan.out = next.output[0]!;
        absorbed.add(next);
      }
    }
    const nodes: NodeProto[] = [];
    let factor = 1;
    for (let n = soleConsumer(scope, plan.out); n; n = soleConsumer(scope, plan.out)) {
      const f = positiveScale(m, scope, n, plan.out);
      if (f === undefined) break;
      nodes.push(n);
      factor *= f;
      plan.out = n.output[0]!;
      absorbed.add(n);
    }
    if (nodes.length) plan.scaled = { nodes, factor };
  };
  for (const n of scope.graph.node) {
    if (!STATIC_OP_TYPES.has(n.opType) || n.domain !== '') continue;
    const label = nodeLabel(n);
    const plan: Plan = { node: n, label, kind: 'weighted', acts: [n.input[0]!], out: n.output[0]! };
    plans.push(plan);
    const keep = (why: string) => (plan.keep = why);
    const ex = excludedBy(opts.exclude, n.opType, n.name);
    if (ex) {
      keep(ex);
      continue;
    }
    if (n.name && opts.keepFloat?.has(n.name)) {
      keep('kept in float: it hurt fidelity most (sensitivity pass)');
      continue;
    }
    const a = n.input[0];
    if (!a || scope.weight(a, ir)) {
      keep('its first input is a constant, not an activation');
      continue;
    }
    if (!isFloat(a)) {
      keep(`its input is ${scope.elemType(a)}, not float32`);
      continue;
    }
    const wName = n.input[1];
    const w = floatWeight(wName);
    if (n.opType === 'MatMul' && wName && !scope.weight(wName, ir)) {
      // Two activations (attention scores × values): both get Q/DQ, as quantize_static does; QLinearMatMul takes them.
      if (!isFloat(wName)) {
        keep(`its second input is ${scope.elemType(wName)}, not float32`);
        continue;
      }
      plan.acts.push(wName);
    } else if (!w) {
      keep(wName && scope.weight(wName, ir) ? 'its weight is not float32' : 'its weight is computed, not a constant');
      continue;
    } else {
      plan.weight = w;
      const rank = w.proto.dims.length;
      if ((n.opType === 'Conv' && rank < 3) || (n.opType !== 'Conv' && rank < 2)) {
        keep(`its weight has rank ${rank}`);
        continue;
      }
    }
    if (n.opType === 'Conv' && n.input[2]) {
      const b = floatWeight(n.input[2]);
      if (!b) {
        keep('its bias is computed, not a float constant');
        continue;
      }
      plan.bias = b;
    }
    if (n.opType === 'Gemm' && n.input[2]) {
      // QGemm takes an int32 bias of scale x_scale·w_scale: only a 1-D C, added as is (alpha = beta = 1).
      const c = floatWeight(n.input[2]);
      const cols = Number(plan.weight!.proto.dims[attrInt(n, 'transB', 0) ? 0 : 1]);
      if (c && c.proto.dims.length === 1 && Number(c.proto.dims[0]) === cols && attrFloat(n, 'alpha', 1) === 1 && attrFloat(n, 'beta', 1) === 1) plan.bias = c;
      else {
        keep('its C input is not a 1-D constant bias with alpha = beta = 1');
        continue;
      }
    }
    // Absorb what follows into the output: BatchNormalization, then Mul/Add by per-channel constants (Conv only;
    // PP-OCRv4's detector scales and shifts every Conv so), then Relu or Clip from 0, then Div/Mul by positive scalars.
    if (n.opType === 'Conv') {
      const channels = Number(plan.weight!.proto.dims[0]);
      const rank = plan.weight!.proto.dims.length;
      let next = soleConsumer(scope, plan.out);
      if (next && next.opType === 'BatchNormalization' && next.domain === '' && next.input[0] === plan.out && foldableBn(m, scope, next, channels)) {
        plan.bn = next;
        plan.out = next.output[0]!;
        absorbed.add(next);
        next = soleConsumer(scope, plan.out);
      }
      while (next && next.domain === '' && (next.opType === 'Mul' || next.opType === 'Add') && channelConstant(m, scope, next, plan.out, channels, rank)) {
        (plan.folds ??= []).push(next);
        plan.out = next.output[0]!;
        absorbed.add(next);
        next = soleConsumer(scope, plan.out);
      }
    }
    absorbTail(plan);
  }

  // The weightless ops, each with every float input and its output quantized.
  const opset = m.opset('');
  for (const n of scope.graph.node) {
    if (n.domain !== '' || absorbed.has(n)) continue;
    const kind = UNARY_OPS.has(n.opType) ? 'unary' : BINARY_OPS.has(n.opType) ? 'binary' : VARIADIC_OPS.has(n.opType) ? 'variadic' : DROP_OPS.has(n.opType) ? 'drop' : undefined;
    if (!kind || !n.output[0] || n.output.slice(1).some(Boolean)) continue;
    // MaxPool takes 8-bit input from opset 12; below, onnxruntime keeps DQ→MaxPool→Q as it stands.
    if (n.opType === 'MaxPool' && opset < 12) continue;
    const inputs = kind === 'unary' || kind === 'drop' ? [n.input[0] ?? ''] : n.input;
    if (!inputs.length || inputs.some((i) => !i) || new Set(inputs).size !== inputs.length) continue;
    const plan: Plan = { node: n, label: nodeLabel(n), kind, acts: [], out: n.output[0] };
    let ok = true;
    inputs.forEach((i, index) => {
      const w = scope.weight(i, ir);
      if (w) {
        if (kind === 'binary' || kind === 'variadic') {
          if (w.proto.dataType === DT.FLOAT) (plan.consts ??= []).push({ index, weight: w });
          else ok = false;
        } else ok = false;
      } else if (isFloat(i)) plan.acts.push(i);
      else ok = false;
    });
    // All-constant nodes are constant folding's business, and an int shape computation is no activation.
    if (!ok || !plan.acts.length || !isFloat(plan.out)) continue;
    const ex = excludedBy(opts.exclude, n.opType, n.name);
    if (ex) plan.keep = ex;
    else if (n.name && opts.keepFloat?.has(n.name)) plan.keep = 'kept in float: it hurt fidelity most (sensitivity pass)';
    if (kind !== 'drop') absorbTail(plan);
    plans.push(plan);
  }

  keepAfterFloatConvs(m, scope, plans);
  betweenQuantized(plans);
  return plans;
}

/**
 * onnxruntime's WeightBiasQuantization quantizes a float Conv, ConvTranspose or Gemm itself (per tensor) when its
 * input comes from a DQ and its output goes, through Relu/Clip at most, to a Q; for a bias it inserts Round, which
 * needs opset 11 ("No Op registered for Round with domain_version of 10" in an opset-10 model). So no Q goes right
 * after a node that stays float while its input is quantized (every reader of a quantized value reads its DQ): a
 * node reading such a node's output stays float too (and so on, for a Conv kept so). A float Conv whose input stays
 * float (the first layer after a spectrogram, kept float by the sensitivity pass) blocks nothing.
 */
function keepAfterFloatConvs(m: QModel, scope: Scope, plans: Plan[]): void {
  const planOf = new Map(plans.map((p) => [p.node, p]));
  const fusedAfter = (c: NodeProto, out: string) =>
    c.domain === '' &&
    (c.opType === 'Relu' || c.opType === 'Clip' || c.opType === 'BatchNormalization' || ((c.opType === 'Add' || c.opType === 'Mul') && c.input.some((i) => i !== out && !!scope.weight(i, m.irVersion))));
  /** The value a float node's output reaches through what onnxruntime fuses into it (BN, Add/Mul by constants, Relu, Clip). */
  const reach = (n: NodeProto) => {
    let out = n.output[0]!;
    for (let c = soleConsumer(scope, out); c && fusedAfter(c, out); c = soleConsumer(scope, out)) out = c.output[0]!;
    return out;
  };
  const floatConvs = scope.graph.node.filter((n) => {
    if (n.domain !== '' || !['Conv', 'ConvTranspose', 'Gemm'].includes(n.opType) || !n.input[1] || !scope.weight(n.input[1], m.irVersion)) return false;
    const p = planOf.get(n);
    return !p || !!p.keep;
  });
  for (let changed = true; changed; ) {
    changed = false;
    const quantized = new Set<string>();
    for (const p of plans) if (!p.keep) for (const v of [...p.acts, p.out]) quantized.add(v);
    const floatOut = new Map<string, string>();
    for (const n of floatConvs) if (quantized.has(n.input[0] ?? '')) floatOut.set(reach(n), nodeLabel(n));
    for (const p of plans) {
      if (p.keep) continue;
      const from = p.acts.find((a) => floatOut.has(a));
      if (from === undefined) continue;
      p.keep = `its input '${from}' comes from ${floatOut.get(from)}, which stays float: a QuantizeLinear after that node would make onnxruntime quantize it after all (and, below opset 11, fail on the Round it inserts for the bias)`;
      if (p.kind === 'weighted' && p.node.opType !== 'MatMul') floatConvs.push(p.node);
      changed = true;
    }
  }
}

/**
 * Keeps float the weightless ops that do not sit between quantized nodes: one is wrapped only when a quantized node
 * reads its output and one of its inputs is quantized anyway (written or read by another quantized node). Elsewhere
 * a QLinear op saves no Q/DQ and only adds error: before a Log, say (an Add of a small epsilon quantized to exactly
 * 0 makes log(0)), or as the last op of the model (the final Sigmoid of a detector).
 */
function betweenQuantized(plans: Plan[]): void {
  const chosen = new Set(plans.filter((p) => !p.keep));
  for (let changed = true; changed; ) {
    changed = false;
    const reads = new Map<string, number>();
    const writes = new Set<string>();
    for (const p of chosen) {
      for (const a of p.acts) reads.set(a, (reads.get(a) ?? 0) + 1);
      writes.add(p.out);
    }
    for (const p of chosen) {
      if (p.kind === 'weighted') continue;
      const fed = p.acts.some((a) => writes.has(a) || reads.get(a)! > 1);
      if (fed && reads.has(p.out)) continue;
      chosen.delete(p);
      p.keep = fed
        ? 'no quantized node reads its output: wrapped, it would only add error to a float consumer'
        : 'none of its inputs is quantized: wrapped, it would only move the QuantizeLinear, not save it';
      changed = true;
    }
  }
}

/** For a Div(value, c) or Mul(value, c) / Mul(c, value) with c a positive scalar constant: the factor it applies. */
function positiveScale(m: QModel, scope: Scope, n: NodeProto, value: string): number | undefined {
  if (n.domain !== '' || (n.opType !== 'Div' && n.opType !== 'Mul')) return undefined;
  const other = n.opType === 'Div' ? (n.input[0] === value ? n.input[1] : undefined) : n.input[0] === value ? n.input[1] : n.input[1] === value ? n.input[0] : undefined;
  const c = other !== undefined && other !== value ? scalarConstant(m, scope, other) : undefined;
  if (c === undefined || !(c > 0) || !Number.isFinite(c)) return undefined;
  const f = n.opType === 'Div' ? 1 / c : c;
  return Number.isFinite(f) && f > 0 ? f : undefined;
}

function scalarConstant(m: QModel, scope: Scope, name: string): number | undefined {
  const w = scope.weight(name, m.irVersion);
  const v = w && w.proto.dataType === DT.FLOAT ? m.floatWeight(w) : undefined;
  return v && v.length === 1 ? v[0]! : undefined;
}

/**
 * For a Mul or Add of a Conv's output `value` [N, C, …] (rank `rank`) and a float constant that broadcasts along the
 * channel axis only (a scalar, or [C, 1, …] / [1, C, 1, …]): that constant, one value per channel.
 */
function channelConstant(m: QModel, scope: Scope, n: NodeProto, value: string, channels: number, rank: number): Float32Array | undefined {
  if (n.input.length !== 2 || n.input[0] === n.input[1]) return undefined;
  const other = n.input[0] === value ? n.input[1] : n.input[1] === value ? n.input[0] : undefined;
  const w = other ? scope.weight(other, m.irVersion) : undefined;
  if (!w || w.proto.dataType !== DT.FLOAT) return undefined;
  const dims = w.proto.dims.map(Number);
  if (dims.length > rank) return undefined;
  const aligned = [...Array<number>(rank - dims.length).fill(1), ...dims];
  if (!aligned.every((d, i) => d === 1 || (i === 1 && d === channels))) return undefined;
  const v = m.floatWeight(w);
  if (!v || v.some((x) => !Number.isFinite(x))) return undefined;
  return v.length === channels ? v : v.length === 1 ? new Float32Array(channels).fill(v[0]!) : undefined;
}

/** The com.microsoft kernel onnxruntime forms from a weightless op's QDQ group. */
function qlinearName(opType: string): string {
  return `QLinear${opType}`;
}

/** The node that alone reads `name` in this graph (not a graph output, not read by a subgraph), if any. */
function soleConsumer(scope: Scope, name: string): NodeProto | undefined {
  const c = scope.consumers.get(name);
  if (!c || c.length !== 1 || scope.outputs.has(name) || scope.capturedBySubgraphs.has(name)) return undefined;
  const n = c[0]!;
  return n.input.filter((i) => i === name).length === 1 ? n : undefined;
}

function foldableBn(m: QModel, scope: Scope, bn: NodeProto, channels: number): boolean {
  if (bn.output.slice(1).some(Boolean)) return false; // training outputs in use
  if (getAttr(bn, 'spatial') && attrInt(bn, 'spatial', 1) !== 1) return false;
  if (getAttr(bn, 'training_mode') && attrInt(bn, 'training_mode', 0) !== 0) return false;
  return bn.input.slice(1, 5).length === 4 && bn.input.slice(1, 5).every((i) => {
    const w = scope.weight(i, m.irVersion);
    return w && w.proto.dataType === DT.FLOAT && w.proto.dims.length === 1 && Number(w.proto.dims[0]) === channels;
  });
}

/** For a Relu, or a Clip whose minimum is exactly 0: the top of its range (Infinity for Relu); else undefined. */
function reluLikeMax(m: QModel, scope: Scope, n: NodeProto): number | undefined {
  if (n.opType === 'Relu') return Infinity;
  if (n.opType !== 'Clip') return undefined;
  let lo: number | undefined;
  let hi = Infinity;
  if (m.opset('') < 11) {
    lo = getAttr(n, 'min') ? attrFloat(n, 'min', 0) : undefined;
    if (getAttr(n, 'max')) hi = attrFloat(n, 'max', Infinity);
  } else {
    const scalar = (name: string | undefined) => {
      const w = name ? scope.weight(name, m.irVersion) : undefined;
      const v = w && w.proto.dataType === DT.FLOAT ? m.floatWeight(w) : undefined;
      return v && v.length === 1 ? v[0]! : undefined;
    };
    lo = scalar(n.input[1]);
    if (n.input[2]) {
      const v = scalar(n.input[2]);
      if (v === undefined) return undefined;
      hi = v;
    }
  }
  return lo === 0 && hi > 0 ? hi : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Opset 9 → 10

/**
 * Ops whose opset-10 version differs from opset 9 in a way that matters: Slice and TopK move attributes to inputs
 * (converted here), Upsample is deprecated (Resize replaces it with other inputs), Dropout's mask becomes bool.
 * AveragePool and MaxPool only gain ceil_mode (default 0: unchanged).
 */
function opset10Blocker(m: QModel): string | undefined {
  if (m.proto.functions.length) return 'it has model-local functions';
  for (const s of m.scopes()) {
    for (const n of s.graph.node) {
      if (n.domain !== '' && n.domain !== 'ai.onnx') continue;
      if (n.opType === 'Upsample') return `it uses Upsample (${nodeLabel(n)}), deprecated in opset 10`;
      if (n.opType === 'Dropout' && n.output[1]) return `its Dropout ${nodeLabel(n)} outputs a mask (bool from opset 10)`;
    }
  }
  return undefined;
}

/** Sets the default opset to 10, moving Slice's and TopK's attributes to int64 inputs. Returns how many nodes changed. */
function upgradeTo10(m: QModel): number {
  let changed = 0;
  for (const s of m.scopes()) {
    for (const n of s.graph.node) {
      if (n.domain !== '' && n.domain !== 'ai.onnx') continue;
      const input = (base: string, values: number[]): string => {
        const name = m.names.fresh(`${n.name || n.opType}_${base}`);
        s.addInitializer(makeTensor(name, 'int64', [values.length], BigInt64Array.from(values, BigInt)));
        return name;
      };
      if (n.opType === 'Slice') {
        const starts = attrInts(n, 'starts') ?? [];
        const ends = attrInts(n, 'ends') ?? [];
        const axes = attrInts(n, 'axes');
        n.attribute = [];
        n.input = [n.input[0]!, input('starts', starts), input('ends', ends), ...(axes ? [input('axes', axes)] : [])];
        changed++;
      } else if (n.opType === 'TopK') {
        const k = attrInt(n, 'k', 1);
        n.attribute = n.attribute.filter((a) => a.name !== 'k');
        n.input = [n.input[0]!, input('k', [k])];
        changed++;
      }
    }
  }
  const o = m.proto.opsetImport.find((x) => x.domain === '' || x.domain === 'ai.onnx');
  if (o) o.version = 10n;
  return changed;
}

// ---------------------------------------------------------------------------------------------------------------
// Rewriting

interface ActQ {
  scale: string;
  zp: string;
  params: QParams;
  /** The Q's scale when it differs from the DQ's (scale / factor: see Plan.scaled). */
  qScale?: string;
}

/** Collects the new nodes and tensors, then rebuilds the main graph's node list in one pass (finish). */
class Rewriter {
  /** Activation value → its Q/DQ parameters (one pair per value, shared by all its readers). */
  private readonly acts = new Map<string, ActQ>();
  /** Node → the nodes to put just before it (weight and bias DQs) and its replacement inputs/outputs. */
  private readonly before = new Map<NodeProto, NodeProto[]>();
  private readonly dropped = new Set<NodeProto>();
  private readonly weightCache = new Map<string, { q: string; scale: string; zp: string; params: QParams[]; axis?: number }>();
  private readonly newInputs: TensorProto[] = [];
  /** Constant input → the output of its DQ (one per constant, placed before its first reader). */
  private readonly constCache = new Map<string, string>();
  private readonly constDq = new Map<string, NodeProto>();

  constructor(
    private readonly m: QModel,
    private readonly scope: Scope,
    private readonly contrib: boolean,
    private readonly actType: QType,
  ) {}

  private init(t: TensorProto): void {
    this.scope.addInitializer(t);
    this.newInputs.push(t);
  }

  /** Q/DQ parameters for a value of range `r`; `factor` ≠ 1: its producer writes value / factor (Plan.scaled). */
  activation(name: string, r: { min: number; max: number }, factor = 1): void {
    if (this.acts.has(name)) return;
    const params = qparams(r.min, r.max, QRANGE[this.actType], false);
    const scale = this.m.names.fresh(`${name}_scale`);
    const zp = this.m.names.fresh(`${name}_zero_point`);
    this.init(makeTensor(scale, 'float32', [], new Float32Array([params.scale])));
    this.init(makeTensor(zp, this.actType, [], this.actType === 'uint8' ? new Uint8Array([params.zeroPoint]) : new Int8Array([params.zeroPoint])));
    const a: ActQ = { scale, zp, params };
    if (factor !== 1) {
      a.qScale = this.m.names.fresh(`${name}_pre_scale`);
      this.init(makeTensor(a.qScale, 'float32', [], new Float32Array([params.scale / factor])));
    }
    this.acts.set(name, a);
  }

  /** `name` quantized with the parameters of `from` (a data mover's output: onnxruntime drops the pair only so). */
  alias(name: string, from: string): void {
    const a = this.acts.get(from)!;
    if (!this.acts.has(name)) this.acts.set(name, { scale: a.scale, zp: a.zp, params: a.params });
  }

  /** A constant input of Add/Mul/Concat as an 8-bit initializer of its own range behind a DQ. */
  private constant(w: Weight): string {
    const hit = this.constCache.get(w.name);
    if (hit) return hit;
    const values = this.m.floatWeight(w)!;
    const q = QRANGE[this.actType];
    const r = minMax(values);
    const params = qparams(r.min, r.max, q, false);
    const data = this.actType === 'uint8' ? new Uint8Array(values.length) : new Int8Array(values.length);
    quantizeArray(values, params, q, data);
    const qn = this.m.names.fresh(`${w.name}_quantized`);
    const scale = this.m.names.fresh(`${w.name}_scale`);
    const zp = this.m.names.fresh(`${w.name}_zero_point`);
    this.init(makeTensor(qn, this.actType, w.proto.dims.map(Number), data));
    this.init(makeTensor(scale, 'float32', [], new Float32Array([params.scale])));
    this.init(makeTensor(zp, this.actType, [], this.actType === 'uint8' ? new Uint8Array([params.zeroPoint]) : new Int8Array([params.zeroPoint])));
    const out = this.m.names.fresh(`${qn}_dequantized`);
    this.constCache.set(w.name, out);
    this.constDq.set(out, this.dq(qn, scale, zp, out));
    return out;
  }

  private dq(input: string, scale: string, zp: string, output: string, axis?: number): NodeProto {
    return makeNode('DequantizeLinear', [input, scale, zp], [output], {
      name: this.m.names.fresh(`${output}_node`),
      ...(this.contrib ? { domain: MS } : {}),
      ...(axis !== undefined ? { attrs: { axis } } : {}),
    });
  }

  /** The weight (BN-folded when asked) as int8 initializers; per-channel along `axis` when given. */
  private weight(p: Plan, axis: number | undefined, values: Float32Array, shape: number[], cacheable: boolean) {
    const key = `${p.weight!.name}|${axis ?? ''}`;
    const hit = cacheable ? this.weightCache.get(key) : undefined;
    if (hit) return hit;
    const base = p.bn || p.folds ? `${p.label}_weight` : p.weight!.name;
    const data = new Int8Array(values.length);
    let params: QParams[];
    if (axis !== undefined) params = quantizePerChannel(values, shape, axis, INT8_SYMMETRIC, true, data);
    else {
      const r = minMax(values);
      params = [qparams(r.min, r.max, INT8_SYMMETRIC, true)];
      quantizeArray(values, params[0]!, INT8_SYMMETRIC, data);
    }
    const q = this.m.names.fresh(`${base}_quantized`);
    const scale = this.m.names.fresh(`${base}_scale`);
    const zp = this.m.names.fresh(`${base}_zero_point`);
    const pshape = axis !== undefined ? [params.length] : [];
    this.init(makeTensor(q, 'int8', shape, data));
    this.init(makeTensor(scale, 'float32', pshape, Float32Array.from(params, (x) => x.scale)));
    this.init(makeTensor(zp, 'int8', pshape, new Int8Array(params.length)));
    const out = { q, scale, zp, params, ...(axis !== undefined ? { axis } : {}) };
    if (cacheable) this.weightCache.set(key, out);
    return out;
  }

  /** Quantizes a planned node's weight and bias; returns "per-channel" or "per-tensor". */
  quantizeNode(p: Plan, perChannel: boolean): string {
    const n = p.node;
    const pre: NodeProto[] = [];
    let how = 'per-tensor';
    for (const c of p.consts ?? []) {
      const out = this.constant(c.weight);
      const dq = this.constDq.get(out);
      if (dq) {
        pre.push(dq);
        this.constDq.delete(out);
      }
      n.input[c.index] = out;
    }
    if (p.weight) {
      const shape = p.weight.proto.dims.map(Number);
      let values = this.m.floatWeight(p.weight)!;
      let bias = p.bias ? this.m.floatWeight(p.bias)! : undefined;
      if (p.bn) ({ values, bias } = foldBn(this.m, this.scope, p.bn, values, shape, bias));
      if (p.folds) ({ values, bias } = foldAffine(this.m, this.scope, p.folds, values, shape, bias));
      // The output-channel axis: Conv's weight is [M, C/g, k…]; MatMul's B is [K, N]; Gemm's B is [K, N] or, transposed, [N, K].
      let axis: number | undefined;
      if (perChannel) {
        if (n.opType === 'Conv') axis = 0;
        else if (shape.length === 2) axis = n.opType === 'Gemm' && attrInt(n, 'transB', 0) ? 0 : 1;
      }
      if (axis !== undefined) how = 'per-channel';
      const w = this.weight(p, axis, values, shape, !p.bn && !p.folds);
      const wOut = this.m.names.fresh(`${w.q}_dequantized`);
      pre.push(this.dq(w.q, w.scale, w.zp, wOut, w.axis));
      n.input[1] = wOut;
      if (bias) {
        const x = this.acts.get(p.acts[0]!)!.params.scale;
        const scales = Float32Array.from(bias, (_, c) => Math.fround(x * w.params[w.params.length === 1 ? 0 : c]!.scale));
        const data = new Int32Array(bias.length);
        for (let c = 0; c < bias.length; c++) {
          const s = scales[c]!;
          data[c] = s > 0 ? Math.max(-2147483648, Math.min(2147483647, rint(bias[c]! / s))) : 0;
        }
        const base = p.bias && !p.bn && !p.folds ? p.bias.name : `${p.label}_bias`;
        const bq = this.m.names.fresh(`${base}_quantized`);
        const bs = this.m.names.fresh(`${bq}_scale`);
        const bz = this.m.names.fresh(`${bq}_zero_point`);
        const perC = w.params.length > 1;
        this.init(makeTensor(bq, 'int32', [bias.length], data));
        this.init(makeTensor(bs, 'float32', perC ? [bias.length] : [], perC ? scales : new Float32Array([scales[0] ?? 1])));
        this.init(makeTensor(bz, 'int32', perC ? [bias.length] : [], new Int32Array(perC ? bias.length : 1)));
        const bOut = this.m.names.fresh(`${bq}_dequantized`);
        pre.push(this.dq(bq, bs, bz, bOut, perC ? 0 : undefined));
        n.input[2] = bOut;
      }
    }
    if (p.bn) this.dropped.add(p.bn);
    for (const f of p.folds ?? []) this.dropped.add(f);
    if (p.act) this.dropped.add(p.act.node);
    for (const s of p.scaled?.nodes ?? []) this.dropped.add(s);
    n.output[0] = p.out;
    this.before.set(n, pre);
    return how;
  }

  /** Rebuilds the node list: weight DQs before their node, a Q→DQ pair after each quantized activation's producer. */
  finish(): void {
    const g = this.scope.graph;
    const domain = this.contrib ? { domain: MS } : {};
    const pair = (from: string, name: string, to: string): NodeProto[] => {
      const a = this.acts.get(name)!;
      const qOut = this.m.names.fresh(`${name}_QuantizeLinear_Output`);
      return [makeNode('QuantizeLinear', [from, a.qScale ?? a.scale, a.zp], [qOut], { name: this.m.names.fresh(`${name}_QuantizeLinear`), ...domain }), this.dq(qOut, a.scale, a.zp, to)];
    };
    const nodes: NodeProto[] = [];
    // A graph input, or in a subgraph a value of the graphs around it, keeps its name: its readers here are moved
    // to the DQ's output (readers elsewhere keep the float value).
    const produced = new Set(g.node.flatMap((n) => n.output));
    const inputDq = new Map<string, string>();
    const inputQ = new Set<NodeProto>();
    const fromOutside = [...g.input.map((i) => i.name), ...[...this.acts.keys()].filter((a) => !produced.has(a) && !g.input.some((i) => i.name === a))];
    for (const name of fromOutside) {
      if (!this.acts.has(name)) continue;
      const to = this.m.names.fresh(`${name}_DequantizeLinear_Output`);
      const [qn, dqn] = pair(name, name, to);
      inputDq.set(name, to);
      inputQ.add(qn!);
      nodes.push(qn!, dqn!);
    }
    // A node's output is renamed, and the DQ writes the old name, as quantize_static does: every reader (a graph
    // output and subgraphs included) reads the DQ, and the producer's only reader is the Q, which onnxruntime needs
    // to fold the group.
    const done = new Set<string>();
    for (const n of g.node) {
      if (this.dropped.has(n)) continue;
      nodes.push(...(this.before.get(n) ?? []), n);
      n.output.forEach((o, k) => {
        if (!o || !this.acts.has(o) || done.has(o)) return;
        done.add(o);
        const pre = this.m.names.fresh(`${o}_float`);
        n.output[k] = pre;
        nodes.push(...pair(pre, o, o));
      });
    }
    if (inputDq.size) {
      for (const n of nodes) if (!inputQ.has(n)) n.input = n.input.map((i) => inputDq.get(i) ?? i);
    }
    g.node = nodes;
    if (this.m.irVersion < 4 && !this.scope.parent) {
      // Before IR 4 every initializer of the main graph must also be declared as a graph input.
      for (const t of this.newInputs) {
        g.input.push(create(ValueInfoProtoSchema, { name: t.name, type: { value: { case: 'tensorType', value: { elemType: t.dataType, shape: { dim: t.dims.map((d) => ({ value: { case: 'dimValue' as const, value: d } })) } } } } }));
      }
    }
    this.scope.reindex();
  }
}

/** Mul and Add by per-channel constants (channelConstant) folded into a Conv's weight [M, …] and bias [M], in order. */
function foldAffine(m: QModel, scope: Scope, folds: NodeProto[], w: Float32Array, shape: number[], b: Float32Array | undefined): { values: Float32Array; bias: Float32Array } {
  const channels = shape[0]!;
  const inner = w.length / channels;
  const values = Float32Array.from(w);
  const bias = b ? Float32Array.from(b) : new Float32Array(channels);
  for (const n of folds) {
    const other = n.input[0] && scope.weight(n.input[0], m.irVersion) ? n.input[0] : n.input[1]!;
    const c = channelConstant(m, scope, n, n.input[0] === other ? n.input[1]! : n.input[0]!, channels, shape.length)!;
    for (let k = 0; k < channels; k++) {
      if (n.opType === 'Mul') {
        for (let i = 0; i < inner; i++) values[k * inner + i]! *= c[k]!;
        bias[k]! *= c[k]!;
      } else bias[k]! += c[k]!;
    }
  }
  return { values, bias };
}

/** BatchNormalization folded into a Conv's weight [M, …] and bias [M]: w·γ/√(σ²+ε), (b − μ)·γ/√(σ²+ε) + β. */
function foldBn(m: QModel, scope: Scope, bn: NodeProto, w: Float32Array, shape: number[], b: Float32Array | undefined): { values: Float32Array; bias: Float32Array } {
  const get = (i: number) => m.floatWeight(scope.weight(bn.input[i]!, m.irVersion)!)!;
  const [gamma, beta, mean, variance] = [get(1), get(2), get(3), get(4)];
  const eps = attrFloat(bn, 'epsilon', 1e-5);
  const channels = shape[0]!;
  const inner = w.length / channels;
  const values = new Float32Array(w.length);
  const bias = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const s = gamma[c]! / Math.sqrt(variance[c]! + eps);
    for (let i = 0; i < inner; i++) values[c * inner + i] = w[c * inner + i]! * s;
    bias[c] = ((b ? b[c]! : 0) - mean[c]!) * s + beta[c]!;
  }
  return { values, bias };
}
