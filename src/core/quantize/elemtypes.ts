/**
 * Element-type inference (types only, no shapes). Most models declare the types of their inputs and outputs and
 * nothing in between, and the fp16 conversion must know, for every edge, whether it carries float32: a Cast goes on
 * float edges only, never on the int64 shape arithmetic that runs beside the weights.
 *
 * Declared types win (graph inputs, outputs, value_info, initializers, Constant values); the rules below fill the
 * rest, one node at a time in graph order, each subgraph when its node is reached so that the outer values it reads
 * are known. A value whose type the rules cannot tell is left out of the map: callers treat it as unknown rather
 * than guess.
 */
import type { GraphProto, NodeProto, TypeProto } from '../onnx/gen/onnx_pb';
import { attrInt, DT, getAttr, type QModel } from './graph';

/** Ops whose every output has the type of their first input. */
const SAME_AS_FIRST = new Set([
  'Abs', 'Acos', 'Acosh', 'Add', 'AffineGrid', 'Asin', 'Asinh', 'Atan', 'Atanh', 'Attention', 'AveragePool', 'BitShift',
  'BitwiseAnd', 'BitwiseNot', 'BitwiseOr', 'BitwiseXor', 'Ceil', 'Celu', 'CenterCropPad', 'Clip', 'Col2Im', 'Compress',
  'Concat', 'Conv', 'ConvTranspose', 'Cos', 'Cosh', 'CumSum', 'DFT', 'DeformConv', 'DepthToSpace', 'Det', 'Div', 'Einsum',
  'Elu', 'Erf', 'Exp', 'Expand', 'Flatten', 'Floor', 'GRU', 'Gather', 'GatherElements', 'GatherND', 'Gelu', 'Gemm',
  'GlobalAveragePool', 'GlobalLpPool', 'GlobalMaxPool', 'GridSample', 'GroupNormalization', 'HardSigmoid', 'HardSwish',
  'Hardmax', 'Identity', 'InstanceNormalization', 'LRN', 'LSTM', 'LeakyRelu', 'Log', 'LogSoftmax', 'LpNormalization',
  'LpPool', 'MatMul', 'Max', 'MaxRoiPool', 'MaxUnpool', 'Mean', 'MeanVarianceNormalization', 'Min', 'Mish', 'Mod', 'Mul',
  'Neg', 'NegativeLogLikelihoodLoss', 'PRelu', 'Pad', 'Pow', 'RMSNormalization', 'RNN', 'Range', 'Reciprocal',
  'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceProd',
  'ReduceSum', 'ReduceSumSquare', 'Relu', 'Reshape', 'Resize', 'ReverseSequence', 'RoiAlign', 'RotaryEmbedding', 'Round',
  'STFT', 'Scatter', 'ScatterElements', 'ScatterND', 'Selu', 'Shrink', 'Sigmoid', 'Sign', 'Sin', 'Sinh', 'Slice',
  'Softmax', 'SoftmaxCrossEntropyLoss', 'Softplus', 'Softsign', 'SpaceToDepth', 'Split', 'Sqrt', 'Squeeze', 'Sub', 'Sum',
  'Swish', 'Tan', 'Tanh', 'ThresholdedRelu', 'Tile', 'Transpose', 'Trilu', 'Unsqueeze', 'Upsample', 'TensorScatter',
]);

const INT64_OUT = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin', 'NonMaxSuppression', 'SequenceLength']);
const BOOL_OUT = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf', 'RegexFullMatch']);
const WINDOWS = new Set(['HannWindow', 'HammingWindow', 'BlackmanWindow', 'MelWeightMatrix']);

/** onnxruntime contrib ops (com.microsoft) whose outputs have their first input's type: enough to see through them. */
const MS_SAME_AS_FIRST = new Set([
  'Gelu', 'FastGelu', 'BiasGelu', 'QuickGelu', 'FusedConv', 'FusedGemm', 'FusedMatMul', 'BiasAdd', 'BiasSplitGelu',
  'NhwcConv', 'Attention', 'MultiHeadAttention', 'GroupQueryAttention', 'RotaryEmbedding', 'MatMulNBits', 'GemmFastGelu',
  'BiasSoftmax', 'Inverse', 'SkipLayerNormalization', 'SkipSimplifiedLayerNormalization', 'LayerNormalization',
  'SimplifiedLayerNormalization', 'EmbedLayerNormalization', 'QLinearAdd', 'QLinearMul', 'QLinearSigmoid',
  'QLinearLeakyRelu', 'QLinearAveragePool', 'QLinearGlobalAveragePool', 'QLinearConcat', 'NhwcMaxPool', 'GridSample',
]);

type Lookup = (name: string) => number | undefined;

/**
 * The ONNX element type (TensorProto.DataType) of every value of every graph whose type is declared or can be told
 * from the ops: value name → type. Names are unique model-wide in valid ONNX, so one map serves all graphs.
 */
export function inferElemTypes(m: QModel): Map<string, number> {
  const types = new Map<string, number>();
  /** Element types of sequence values (SequenceConstruct …), kept apart: they are not tensor types. */
  const seqTypes = new Map<string, number>();
  const functions = new Map(m.proto.functions.map((f) => [`${f.domain}:${f.name}`, f]));
  const opset = m.opset('');

  const declare = (name: string, t: TypeProto | undefined): void => {
    const v = t?.value;
    if (!name || !v) return;
    if (v.case === 'tensorType' && v.value.elemType) types.set(name, v.value.elemType);
    else if (v.case === 'sequenceType' && v.value.elemType?.value.case === 'tensorType' && v.value.elemType.value.value.elemType) {
      seqTypes.set(name, v.value.elemType.value.value.elemType);
    }
  };

  const declareGraph = (g: GraphProto): void => {
    for (const v of [...g.input, ...g.output, ...g.valueInfo]) declare(v.name, v.type);
    for (const t of g.initializer) if (t.dataType) types.set(t.name, t.dataType);
    for (const s of g.sparseInitializer) if (s.values?.dataType) types.set(s.values.name, s.values.dataType);
  };

  /** The types of a subgraph's outputs after inferring it; its formal inputs get `inputTypes` unless declared. */
  const inferGraph = (g: GraphProto, inputTypes: (number | undefined)[]): (number | undefined)[] => {
    declareGraph(g);
    g.input.forEach((v, i) => {
      const t = inputTypes[i];
      if (t !== undefined && !types.has(v.name)) types.set(v.name, t);
    });
    for (const n of g.node) inferNode(n);
    return g.output.map((o) => types.get(o.name));
  };

  const inferNode = (n: NodeProto): void => {
    const get: Lookup = (name) => (name ? types.get(name) : undefined);
    let outs: (number | undefined)[];
    if (n.domain === '' || n.domain === 'ai.onnx') {
      outs = controlFlow(n, get) ?? sequenceOp(n, get, seqTypes) ?? defaultDomain(n, get, opset);
    } else if (functions.has(`${n.domain}:${n.opType}`)) {
      outs = localFunction(n, get);
    } else if (n.domain === 'com.microsoft') {
      outs = microsoft(n, get);
    } else if (n.domain === 'ai.onnx.ml') {
      outs = onnxMl(n, get);
    } else {
      outs = [];
    }
    n.output.forEach((o, i) => {
      const t = outs[i];
      if (o && t !== undefined && t !== 0 && !types.has(o)) types.set(o, t);
    });
  };

  /** If, Loop and Scan: infer their bodies (with the outer values visible) and take their outputs' types. */
  const controlFlow = (n: NodeProto, get: Lookup): (number | undefined)[] | undefined => {
    if (n.opType === 'If') {
      const then = getAttr(n, 'then_branch')?.g;
      const els = getAttr(n, 'else_branch')?.g;
      const a = then ? inferGraph(then, []) : [];
      const b = els ? inferGraph(els, []) : [];
      return n.output.map((_, i) => a[i] ?? b[i]);
    }
    if (n.opType === 'Loop') {
      const body = getAttr(n, 'body')?.g;
      if (!body) return [];
      // Body inputs: iteration number, condition, then the loop-carried values (the Loop's inputs from the third on).
      const carried = n.input.slice(2).map(get);
      const outs = inferGraph(body, [DT.INT64, DT.BOOL, ...carried]);
      // Body outputs: the condition, then the carried values and the scan outputs — the Loop's outputs, in order.
      return outs.slice(1);
    }
    if (n.opType === 'Scan') {
      const body = getAttr(n, 'body')?.g;
      if (!body) return [];
      // Opset 8 has an optional sequence_lens input first; from opset 9 the inputs are the states, then the scanned.
      const ins = opset < 9 ? n.input.slice(1) : n.input;
      const outs = inferGraph(body, ins.map(get));
      return outs;
    }
    return undefined;
  };

  /** A call of a model-local function: its body, inferred on a private map (its names are not the model's). */
  const localFunction = (n: NodeProto, get: Lookup): (number | undefined)[] => {
    const f = functions.get(`${n.domain}:${n.opType}`)!;
    const local = new Map<string, number>();
    f.input.forEach((name, i) => {
      const t = get(n.input[i] ?? '');
      if (t !== undefined) local.set(name, t);
    });
    const lookup: Lookup = (name) => (name ? local.get(name) : undefined);
    for (const fn of f.node) {
      const outs = fn.domain === '' || fn.domain === 'ai.onnx' ? defaultDomain(fn, lookup, opset) : fn.domain === 'com.microsoft' ? microsoft(fn, lookup) : [];
      fn.output.forEach((o, i) => {
        const t = outs[i];
        if (o && t !== undefined) local.set(o, t);
      });
    }
    return f.output.map((o) => local.get(o));
  };

  declareGraph(m.graph);
  for (const n of m.graph.node) inferNode(n);
  return types;
}

/** The element type a Constant's value attribute holds. */
function constantType(n: NodeProto): number | undefined {
  for (const a of n.attribute) {
    switch (a.name) {
      case 'value':
        return a.t?.dataType;
      case 'sparse_value':
        return a.sparseTensor?.values?.dataType;
      case 'value_float':
      case 'value_floats':
        return DT.FLOAT;
      case 'value_int':
      case 'value_ints':
        return DT.INT64;
      case 'value_string':
      case 'value_strings':
        return DT.STRING;
    }
  }
  return undefined;
}

/** A `dtype`-like attribute's value, or `dflt` when the node has none. */
function dtypeAttr(n: NodeProto, name: string, dflt: number | undefined): number | undefined {
  const a = getAttr(n, name);
  return a ? Number(a.i) : dflt;
}

function defaultDomain(n: NodeProto, get: Lookup, opset: number): (number | undefined)[] {
  const op = n.opType;
  const first = get(n.input[0] ?? '');
  const all = (t: number | undefined) => n.output.map(() => t);
  if (SAME_AS_FIRST.has(op)) return all(first);
  if (INT64_OUT.has(op)) return all(DT.INT64);
  if (BOOL_OUT.has(op)) return all(DT.BOOL);
  if (WINDOWS.has(op)) return [dtypeAttr(n, 'output_datatype', DT.FLOAT)];
  switch (op) {
    case 'Cast':
      return [attrInt(n, 'to', 0) || undefined];
    case 'CastLike':
      return [get(n.input[1] ?? '')];
    case 'Constant':
      return [constantType(n)];
    case 'ConstantOfShape':
      return [getAttr(n, 'value')?.t?.dataType ?? DT.FLOAT];
    case 'Where':
      return [get(n.input[1] ?? '') ?? get(n.input[2] ?? '')];
    case 'TopK':
      return [first, DT.INT64];
    case 'MaxPool':
      return [first, DT.INT64];
    case 'Dropout':
      // The mask is bool from opset 10; before, it had the data's type.
      return [first, opset >= 10 ? DT.BOOL : first];
    case 'BatchNormalization':
      // Y, then (training) running mean and variance — typed like the mean and var inputs from opset 15 — and
      // (opset < 14) saved mean and variance.
      return [first, get(n.input[3] ?? '') ?? first, get(n.input[4] ?? '') ?? first, first, first];
    case 'LayerNormalization':
      return [first, dtypeAttr(n, 'stash_type', DT.FLOAT), dtypeAttr(n, 'stash_type', DT.FLOAT)];
    case 'RandomNormal':
    case 'RandomUniform':
      return [dtypeAttr(n, 'dtype', DT.FLOAT)];
    case 'RandomNormalLike':
    case 'RandomUniformLike':
    case 'EyeLike':
    case 'Bernoulli':
      return [dtypeAttr(n, 'dtype', first)];
    case 'Multinomial':
      return [dtypeAttr(n, 'dtype', DT.INT32)];
    case 'OneHot':
      return [get(n.input[2] ?? '')];
    case 'Unique':
      return [first, DT.INT64, DT.INT64, DT.INT64];
    case 'QuantizeLinear': {
      // The zero point's type; without one, opset 21's output_dtype, else uint8.
      return [get(n.input[2] ?? '') ?? (dtypeAttr(n, 'output_dtype', 0) || DT.UINT8)];
    }
    case 'DequantizeLinear':
      return [get(n.input[1] ?? '')];
    case 'DynamicQuantizeLinear':
      return [DT.UINT8, DT.FLOAT, DT.UINT8];
    case 'MatMulInteger':
    case 'ConvInteger':
      return [DT.INT32];
    case 'QLinearConv':
    case 'QLinearMatMul':
      return [get(n.input[7] ?? '')];
    case 'TfIdfVectorizer':
      return [DT.FLOAT];
    case 'StringNormalizer':
    case 'StringConcat':
      return [DT.STRING];
    case 'StringSplit':
      return [DT.STRING, DT.INT64];
    case 'ImageDecoder':
      return [DT.UINT8];
    case 'Optional':
    case 'OptionalGetElement':
    case 'OptionalHasElement':
      return op === 'OptionalHasElement' ? [DT.BOOL] : [];
    default:
      return [];
  }
}

/** Sequence ops: their tensor outputs' types, from the element types of the sequences they read. */
function sequenceOp(n: NodeProto, get: Lookup, seq: Map<string, number>): (number | undefined)[] | undefined {
  const set = (t: number | undefined): void => {
    if (t !== undefined && n.output[0]) seq.set(n.output[0], t);
  };
  switch (n.opType) {
    case 'SequenceConstruct':
    case 'SplitToSequence':
      set(get(n.input[0] ?? ''));
      return [];
    case 'SequenceEmpty':
      set(dtypeAttr(n, 'dtype', DT.FLOAT));
      return [];
    case 'SequenceInsert':
    case 'SequenceErase':
      set(seq.get(n.input[0] ?? '') ?? get(n.input[1] ?? ''));
      return [];
    case 'SequenceAt':
    case 'ConcatFromSequence':
      return [seq.get(n.input[0] ?? '')];
    default:
      return undefined;
  }
}

function microsoft(n: NodeProto, get: Lookup): (number | undefined)[] {
  const first = get(n.input[0] ?? '');
  if (MS_SAME_AS_FIRST.has(n.opType)) return n.output.map(() => first);
  switch (n.opType) {
    case 'QuantizeLinear':
      return [get(n.input[2] ?? '') ?? DT.UINT8];
    case 'DequantizeLinear':
      return [get(n.input[1] ?? '')];
    case 'DynamicQuantizeMatMul':
    case 'MatMulIntegerToFloat':
      return [get(n.input[2] ?? '')];
    default:
      return [];
  }
}

/** ai.onnx.ml: the classic ML ops' outputs (labels are strings when the classifier has string class labels). */
function onnxMl(n: NodeProto, get: Lookup): (number | undefined)[] {
  const label = (): number => (getAttr(n, 'classlabels_strings') ? DT.STRING : DT.INT64);
  switch (n.opType) {
    case 'LinearClassifier':
    case 'SVMClassifier':
    case 'TreeEnsembleClassifier':
      return [label(), DT.FLOAT];
    case 'LinearRegressor':
    case 'SVMRegressor':
    case 'TreeEnsembleRegressor':
    case 'Scaler':
    case 'Normalizer':
    case 'OneHotEncoder':
    case 'FeatureVectorizer':
      return [DT.FLOAT];
    case 'Binarizer':
    case 'Imputer':
    case 'ArrayFeatureExtractor':
      return [get(n.input[0] ?? '')];
    case 'CategoryMapper':
      return [get(n.input[0] ?? '') === DT.STRING ? DT.INT64 : DT.STRING];
    default:
      return [];
  }
}
