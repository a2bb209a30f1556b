/**
 * The editable view of an ONNX model that every quantization form works on: each graph (the main one and every
 * If/Loop/Scan body, with a link to the graph around it), where each value is produced and consumed, where each
 * weight lives (an initializer, a `Constant` node, or either in an outer graph), fresh names, opsets, attributes,
 * and the edits the forms need (replace a node by several, add an initializer, drop weights nobody reads).
 *
 * Node order stays topological: replacements go where the replaced node was, and everything they read was already
 * defined before it.
 */
import { create } from '@bufbuild/protobuf';
import { UserError } from '../errors';
import { elementCount, halfToFloat, type Tensor } from '../inference/tensor';
import { DTYPES, dtypeFromOnnx } from '../onnx/dtypes';
import {
  AttributeProto_AttributeType as AT,
  AttributeProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProto_DataType as DT,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from '../onnx/gen/onnx_pb';
import { subgraphsOf } from '../onnx/io';
import { tensorFromProto, tensorToProto } from '../onnx/model';

export { DT };

/** Where a constant tensor lives. */
export interface Weight {
  name: string;
  proto: TensorProto;
  /** The graph that holds it (an outer one when a subgraph reads it from outside). */
  scope: Scope;
  kind: 'initializer' | 'constant';
  /** The Constant node, for kind 'constant'. */
  node?: NodeProto;
}

/** One graph, indexed. Rebuild the index (`reindex`) after editing the graph's node list by hand. */
export class Scope {
  readonly initializers = new Map<string, TensorProto>();
  /** Output name → the Constant node whose `value` attribute holds a tensor. */
  readonly constants = new Map<string, NodeProto>();
  readonly producers = new Map<string, NodeProto>();
  readonly consumers = new Map<string, NodeProto[]>();
  readonly inputs = new Set<string>();
  readonly outputs = new Set<string>();
  /** Names used inside this graph's subgraphs but defined here or further out (outer-scope reads). */
  readonly capturedBySubgraphs = new Set<string>();

  constructor(
    readonly graph: GraphProto,
    readonly parent?: Scope,
    /** The If/Loop/Scan node that holds this graph as an attribute. */
    readonly owner?: NodeProto,
    /** 'main', or a path such as "If_3/then_branch". */
    readonly path = 'main',
  ) {
    this.reindex();
  }

  reindex(): void {
    this.initializers.clear();
    this.constants.clear();
    this.producers.clear();
    this.consumers.clear();
    this.inputs.clear();
    this.outputs.clear();
    this.capturedBySubgraphs.clear();
    for (const t of this.graph.initializer) this.initializers.set(t.name, t);
    for (const i of this.graph.input) this.inputs.add(i.name);
    for (const o of this.graph.output) this.outputs.add(o.name);
    for (const n of this.graph.node) {
      for (const o of n.output) if (o) this.producers.set(o, n);
      for (const i of n.input) {
        if (!i) continue;
        let list = this.consumers.get(i);
        if (!list) this.consumers.set(i, (list = []));
        if (!list.includes(n)) list.push(n);
      }
      if (n.opType === 'Constant' && n.domain === '' && n.output[0]) {
        const v = n.attribute.find((a) => a.name === 'value');
        if (v?.t) this.constants.set(n.output[0], n);
      }
      for (const sg of subgraphsOf(n)) for (const name of freeNames(sg.graph)) this.capturedBySubgraphs.add(name);
    }
  }

  /** Whether `name` is defined in this graph itself (input, initializer or node output). */
  defines(name: string): boolean {
    return this.inputs.has(name) || this.initializers.has(name) || this.producers.has(name);
  }

  /**
   * The constant tensor behind `name` as seen from this graph: an initializer or Constant node here or in an outer
   * graph. Undefined for anything computed, and for an initializer that is also a graph input of the main graph in
   * IR 4 and later (a caller may override it, so it is not a constant).
   */
  weight(name: string, irVersion = 8): Weight | undefined {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- walks outwards from this scope
    for (let s: Scope | undefined = this; s; s = s.parent) {
      const init = s.initializers.get(name);
      if (init) {
        if (s.inputs.has(name) && !s.parent && irVersion >= 4) return undefined;
        return { name, proto: init, scope: s, kind: 'initializer' };
      }
      const c = s.constants.get(name);
      if (c) return { name, proto: c.attribute.find((a) => a.name === 'value')!.t!, scope: s, kind: 'constant', node: c };
      if (s.producers.has(name) || s.inputs.has(name)) return undefined;
    }
    return undefined;
  }

  /** The index of a node in this graph's node list (-1 when it is not there). */
  indexOf(node: NodeProto): number {
    return this.graph.node.indexOf(node);
  }

  /** Replaces `node` by `replacement` (in order) where it stood, and reindexes. */
  replace(node: NodeProto, replacement: NodeProto[]): void {
    const i = this.indexOf(node);
    if (i < 0) throw new Error(`node ${node.name || node.opType} is not in graph ${this.path}`);
    this.graph.node.splice(i, 1, ...replacement);
    this.reindex();
  }

  addInitializer(t: TensorProto): void {
    this.graph.initializer.push(t);
    this.initializers.set(t.name, t);
  }

  /** The declared element type and shape of a value (graph input/output, value_info, initializer), if known. */
  valueInfo(name: string): ValueInfoProto | undefined {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- walks outwards from this scope
    for (let s: Scope | undefined = this; s; s = s.parent) {
      const g = s.graph;
      const v = g.valueInfo.find((x) => x.name === name) ?? g.input.find((x) => x.name === name) ?? g.output.find((x) => x.name === name);
      if (v) return v;
      if (s.defines(name)) return undefined;
    }
    return undefined;
  }

  /** ONNX element type of a value when known: from its declaration, or from the initializer/Constant behind it. */
  elemType(name: string): number | undefined {
    const v = this.valueInfo(name);
    if (v?.type?.value.case === 'tensorType') return v.type.value.value.elemType;
    return this.weight(name, 3)?.proto.dataType;
  }
}

/** Names a graph (and its nested graphs) read without defining them: its outer-scope references. */
export function freeNames(g: GraphProto): Set<string> {
  const defined = new Set<string>([...g.input.map((i) => i.name), ...g.initializer.map((t) => t.name)]);
  for (const n of g.node) for (const o of n.output) defined.add(o);
  const free = new Set<string>();
  for (const n of g.node) {
    for (const i of n.input) if (i && !defined.has(i)) free.add(i);
    for (const sg of subgraphsOf(n)) for (const f of freeNames(sg.graph)) if (!defined.has(f)) free.add(f);
  }
  for (const o of g.output) if (!defined.has(o.name)) free.add(o.name);
  return free;
}

/** A model being quantized: its scopes, names, opsets and weights. */
export class QModel {
  readonly names: NameAllocator;

  constructor(
    readonly proto: ModelProto,
    /** The folder of the model file, for external data. */
    readonly baseDir?: string,
  ) {
    if (!proto.graph) throw new UserError('the model holds no graph.', 'Open an ONNX model file.');
    this.names = new NameAllocator(proto);
  }

  get graph(): GraphProto {
    return this.proto.graph!;
  }

  get irVersion(): number {
    return Number(this.proto.irVersion);
  }

  /** Every graph of the model, the main one first, each before the graphs nested in it. */
  scopes(): Scope[] {
    const out: Scope[] = [];
    const visit = (s: Scope): void => {
      out.push(s);
      for (const n of s.graph.node) {
        for (const sg of subgraphsOf(n)) visit(new Scope(sg.graph, s, n, `${s.path === 'main' ? '' : `${s.path}/`}${n.name || n.opType}/${sg.name}`));
      }
    };
    visit(new Scope(this.graph));
    return out;
  }

  /** The opset version imported for a domain ('' is the default ONNX domain), 0 when not imported. */
  opset(domain = ''): number {
    const d = domain === 'ai.onnx' ? '' : domain;
    const o = this.proto.opsetImport.find((x) => (x.domain === 'ai.onnx' ? '' : x.domain) === d);
    return o ? Number(o.version) : 0;
  }

  /** Imports `domain` at `version` at least. */
  ensureOpset(domain: string, version: number): void {
    const o = this.proto.opsetImport.find((x) => x.domain === domain);
    if (!o) this.proto.opsetImport.push(create(OperatorSetIdProtoSchema, { domain, version: BigInt(version) }));
    else if (Number(o.version) < version) o.version = BigInt(version);
  }

  /** The tensor of a weight (external data read from the model's folder). */
  tensor(w: Weight | TensorProto): Tensor {
    return tensorFromProto('proto' in w ? w.proto : w, this.baseDir);
  }

  /** A floating-point weight as float32 (float16, bfloat16 and float64 converted); undefined for other types. */
  floatWeight(w: Weight): Float32Array | undefined {
    const dt = w.proto.dataType;
    if (dt !== DT.FLOAT && dt !== DT.FLOAT16 && dt !== DT.DOUBLE && dt !== DT.BFLOAT16) return undefined;
    return toFloat32(this.tensor(w));
  }

  /**
   * Drops initializers and Constant nodes that no node, subgraph or graph output reads any more (with the graph
   * inputs that only declared such initializers). Returns how many were dropped.
   */
  pruneUnusedWeights(): number {
    const used = new Set<string>();
    const collect = (g: GraphProto): void => {
      for (const n of g.node) {
        for (const i of n.input) if (i) used.add(i);
        for (const sg of subgraphsOf(n)) collect(sg.graph);
      }
      for (const o of g.output) used.add(o.name);
    };
    collect(this.graph);
    let dropped = 0;
    const prune = (g: GraphProto, main: boolean): void => {
      const before = g.initializer.length;
      const gone = new Set(g.initializer.filter((t) => !used.has(t.name)).map((t) => t.name));
      g.initializer = g.initializer.filter((t) => used.has(t.name));
      if (main && gone.size) g.input = g.input.filter((i) => !gone.has(i.name));
      dropped += before - g.initializer.length;
      const nodes = g.node.filter((n) => !(n.opType === 'Constant' && n.domain === '' && n.output.every((o) => !used.has(o))));
      dropped += g.node.length - nodes.length;
      g.node = nodes;
      for (const n of g.node) for (const sg of subgraphsOf(n)) prune(sg.graph, false);
    };
    prune(this.graph, true);
    return dropped;
  }
}

/** Fresh, model-wide unique names for new values, nodes and initializers. */
export class NameAllocator {
  private readonly used = new Set<string>();

  constructor(m: ModelProto) {
    const visit = (g: GraphProto): void => {
      for (const v of [...g.input, ...g.output, ...g.valueInfo]) this.used.add(v.name);
      for (const t of g.initializer) this.used.add(t.name);
      for (const n of g.node) {
        if (n.name) this.used.add(n.name);
        for (const x of [...n.input, ...n.output]) if (x) this.used.add(x);
        for (const sg of subgraphsOf(n)) visit(sg.graph);
      }
    };
    if (m.graph) visit(m.graph);
  }

  /** `base` if unused, else base_1, base_2 …; the name is reserved. */
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Nodes and attributes

export type AttrValue = number | bigint | string | number[] | bigint[] | TensorProto | { float: number } | { floats: number[] };

/**
 * A node. Attribute values: a JS integer number or bigint → INT, { float } → FLOAT (so 1.0 is not taken for an
 * int), string → STRING, number[] / bigint[] → INTS, { floats } → FLOATS, TensorProto → TENSOR.
 */
export function makeNode(opType: string, inputs: string[], outputs: string[], opts: { name?: string; domain?: string; attrs?: Record<string, AttrValue> } = {}): NodeProto {
  const attribute: AttributeProto[] = [];
  for (const [name, v] of Object.entries(opts.attrs ?? {})) attribute.push(makeAttr(name, v));
  return create(NodeProtoSchema, { opType, input: inputs, output: outputs, name: opts.name ?? '', domain: opts.domain ?? '', attribute });
}

export function makeAttr(name: string, v: AttrValue): AttributeProto {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an integer; pass { float: ${v} }`);
    return create(AttributeProtoSchema, { name, type: AT.INT, i: BigInt(v) });
  }
  if (typeof v === 'bigint') return create(AttributeProtoSchema, { name, type: AT.INT, i: v });
  if (typeof v === 'string') return create(AttributeProtoSchema, { name, type: AT.STRING, s: new TextEncoder().encode(v) });
  if (Array.isArray(v)) return create(AttributeProtoSchema, { name, type: AT.INTS, ints: (v as (number | bigint)[]).map((x) => BigInt(x)) });
  if ('float' in v) return create(AttributeProtoSchema, { name, type: AT.FLOAT, f: v.float });
  if ('floats' in v) return create(AttributeProtoSchema, { name, type: AT.FLOATS, floats: v.floats });
  return create(AttributeProtoSchema, { name, type: AT.TENSOR, t: v });
}

export function getAttr(n: NodeProto, name: string): AttributeProto | undefined {
  return n.attribute.find((a) => a.name === name);
}

export function attrInt(n: NodeProto, name: string, dflt: number): number {
  const a = getAttr(n, name);
  return a ? Number(a.i) : dflt;
}

export function attrFloat(n: NodeProto, name: string, dflt: number): number {
  const a = getAttr(n, name);
  return a ? a.f : dflt;
}

export function attrInts(n: NodeProto, name: string): number[] | undefined {
  const a = getAttr(n, name);
  return a ? a.ints.map(Number) : undefined;
}

/** How a node is named in reports: its name, or its op type and first output. */
export function nodeLabel(n: NodeProto): string {
  return n.name || `${n.opType}(${n.output[0] ?? ''})`;
}

// ---------------------------------------------------------------------------------------------------------------
// Tensors

/** A named initializer from a typed array. */
export function makeTensor(name: string, dtype: Tensor['dtype'], shape: number[], data: Tensor['data']): TensorProto {
  const bits = DTYPES[dtype].bits;
  const want = bits < 8 ? Math.ceil((elementCount(shape) * bits) / 8) : elementCount(shape);
  if (data.length !== want) throw new Error(`tensor ${name}: ${data.length} elements for shape [${shape.join(', ')}]`);
  return tensorToProto({ dtype, shape, data }, name);
}

/** A float tensor's values as float32 (float16/bfloat16 bits and float64 converted). */
export function toFloat32(t: Tensor): Float32Array | undefined {
  switch (t.dtype) {
    case 'float32':
      return t.data as Float32Array;
    case 'float64':
      return Float32Array.from(t.data as Float64Array);
    case 'float16':
      return halfArrayToFloat(t.data as Uint16Array);
    case 'bfloat16': {
      const src = t.data as Uint16Array;
      const u = new Uint32Array(src.length);
      for (let i = 0; i < src.length; i++) u[i] = src[i]! << 16;
      return new Float32Array(u.buffer);
    }
    default:
      return undefined;
  }
}

const HALF_TABLE = (() => {
  const t = new Float32Array(65536);
  for (let i = 0; i < 65536; i++) t[i] = halfToFloat(i);
  return t;
})();

export function halfArrayToFloat(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = HALF_TABLE[h[i]!]!;
  return out;
}

/** The ONNX element type name of a number, for reports. */
export function elemTypeName(t: number | undefined): string {
  return (t !== undefined && dtypeFromOnnx(t)) || `type ${t}`;
}
