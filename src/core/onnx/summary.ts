/**
 * What a model is, at a glance and without running it: its interface, operators, opsets, weights by type, external
 * data, and what looks wrong. Two ways in, one summariser:
 *
 * - summarizeBytes decodes the whole model (protobuf-es) and summarises the ModelProto;
 * - summarizeFile walks the file (wire.ts), reading fields but seeking past weights, so a model over 2 GB or with
 *   external data is summarised without loading its weights; the SHA-256 is computed from the same reads.
 *
 * Both give the summariser the same shapes (the walker builds protobuf-es-like objects, with byte lengths instead of
 * bytes), so they agree by construction; a test holds them to it on every fixture, and a Python onnx script to the
 * counts.
 *
 * Definitions:
 * - ops: every node of the main graph, of every subgraph (If/Loop/Scan bodies and any graph attribute,
 *   recursively) and of every model-local function, by domain ("" is the default ONNX domain) and op type.
 * - parameters: the elements of initializers, of sparse initializers (their stored values), and of the values of
 *   Constant nodes (value, sparse_value, value_float(s), value_int(s), value_string(s)) wherever they are;
 *   bytes as the element type packs them (strings: their UTF-8 bytes).
 * - inputs: graph inputs that are not initializers (models before IR 4 list initializers as inputs).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors';
import type { TensorInfo } from '../inference/tensor';
import { byteSize, dtypeFromOnnx } from './dtypes';
import { ModelProtoSchema, TensorProto_DataLocation, Version } from './gen/onnx_pb';
import { decodeModel, externalPath, NO_GRAPH, notOnnx } from './model';
import { walkFile, WireError, type WalkSpec } from './wire';

export interface ModelSummary {
  /** The file's name as given (a base name for summarizeFile). */
  file: string;
  size: number;
  /** Hex SHA-256 of the file; null when not asked for. */
  sha256: string | null;
  /** 0 when the model does not say (a warning says so too). */
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producer: { name: string; version: string };
  domain: string;
  /** 0 when not set. */
  modelVersion: number;
  docString: string;
  metadata: { key: string; value: string }[];
  graphName: string;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** Most used first. */
  ops: { opType: string; domain: string; count: number }[];
  /** Nodes of all graphs and functions (the sum of ops). */
  nodeCount: number;
  /** Nodes of the main graph alone. */
  graphNodeCount: number;
  /** Graphs held by node attributes, at any depth. */
  subgraphCount: number;
  functions: { domain: string; name: string }[];
  parameters: {
    count: number;
    bytes: number;
    tensors: number;
    /** Largest first. `dtype` is a dtypes.ts name, or "type N" for an element type Modelyard does not know. */
    byDtype: { dtype: string; count: number; bytes: number; tensors: number }[];
  };
  /** Files the weights live in, in order of first use; bytes as the tensors declare them. */
  externalData: { location: string; tensors: number; bytes: number }[];
  warnings: string[];
}

export interface SummaryOptions {
  /** The model's folder, to check its external data files; without it they are listed but not checked. */
  baseDir?: string;
  /** Compute the SHA-256 (default true). Without it, summarizeFile reads only the structure, never the weights. */
  sha256?: boolean;
}

/** Summarises a model held in memory (decoded whole). Throws OnnxFormatError when it is not an ONNX model. */
export function summarizeBytes(bytes: Uint8Array, name = 'the file', options: SummaryOptions = {}): ModelSummary {
  const m = decodeModel(bytes, name);
  const sha256 = options.sha256 === false ? null : createHash('sha256').update(bytes).digest('hex');
  return summarize(m, { file: name, size: bytes.length, sha256 }, options.baseDir);
}

/**
 * Summarises a model file by walking it, never holding its weights: fit for models over 2 GB and with external
 * data. `baseDir` defaults to the file's folder. Throws OnnxFormatError when it is not an ONNX model.
 */
export async function summarizeFile(file: string, options: SummaryOptions = {}): Promise<ModelSummary> {
  const name = path.basename(file);
  const fh = await open(file);
  try {
    const stat = await fh.stat();
    if (!stat.isFile()) throw new UserError(`${file} is not a file.`, 'Choose an .onnx model file.');
    const size = stat.size;
    const hash = options.sha256 === false ? undefined : createHash('sha256');
    let root: Record<string, unknown>;
    try {
      root = await walkFile(fh, size, ModelProtoSchema, SUMMARY_SPEC, hash && ((b) => hash.update(b)));
    } catch (e) {
      if (e instanceof WireError) throw notOnnx(await head(fh), name, 'model', '', e, size);
      throw e;
    }
    const m = root as unknown as ModelView;
    if (!m.graph) throw notOnnx(await head(fh), name, 'model', NO_GRAPH, undefined, size);
    return summarize(m, { file: name, size, sha256: hash ? hash.digest('hex') : null }, options.baseDir ?? path.dirname(file));
  } finally {
    await fh.close();
  }
}

async function open(file: string): Promise<fs.promises.FileHandle> {
  try {
    return await fs.promises.open(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`${file} does not exist.`, 'Check the path: the model may have been moved, renamed or not fetched yet.');
    if (code === 'EACCES' || code === 'EPERM') throw new UserError(`${file} cannot be read: permission denied.`, 'Check the file\'s permissions.');
    throw e;
  }
}

/** The first KB, for recognising other formats. */
async function head(fh: fs.promises.FileHandle): Promise<Uint8Array> {
  const b = new Uint8Array(1024);
  const { bytesRead } = await fh.read(b, 0, b.length, 0);
  return b.subarray(0, bytesRead);
}

/**
 * What the walker keeps: everything the summary reads, with bulk data replaced by its length (raw_data, strings)
 * or skipped (typed data, value_info, doc strings of nodes …). Skipped messages are still walked and checked.
 */
const SUMMARY_SPEC: WalkSpec = {
  'onnx.ModelProto': { configuration: 'skip' },
  'onnx.GraphProto': { value_info: 'skip', quantization_annotation: 'skip', metadata_props: 'skip', doc_string: 'skip' },
  'onnx.NodeProto': { input: 'skip', output: 'skip', name: 'skip', doc_string: 'skip', metadata_props: 'skip', device_configurations: 'skip' },
  'onnx.AttributeProto': { s: 'length', strings: 'length', doc_string: 'skip', ref_attr_name: 'skip', tp: 'skip', type_protos: 'skip' },
  'onnx.TensorProto': {
    raw_data: 'length',
    string_data: 'length',
    float_data: 'skip',
    int32_data: 'skip',
    int64_data: 'skip',
    double_data: 'skip',
    uint64_data: 'skip',
    segment: 'skip',
    doc_string: 'skip',
    metadata_props: 'skip',
  },
  'onnx.FunctionProto': { input: 'skip', output: 'skip', attribute: 'skip', attribute_proto: 'skip', value_info: 'skip', doc_string: 'skip', metadata_props: 'skip' },
  'onnx.TrainingInfoProto': { initialization: 'skip', algorithm: 'skip', initialization_binding: 'skip', update_binding: 'skip' },
};

// The shapes the summariser reads: subsets of the protobuf-es types, which the walker's objects also satisfy.
interface Sized {
  readonly length: number;
}
interface KV {
  key: string;
  value: string;
}
interface TensorView {
  name: string;
  dims: readonly bigint[];
  dataType: number;
  dataLocation: number;
  externalData: readonly KV[];
  rawData: Sized;
  stringData: readonly Sized[];
}
interface SparseView {
  values?: TensorView;
  indices?: TensorView;
}
interface AttrView {
  name: string;
  t?: TensorView;
  g?: GraphView;
  sparseTensor?: SparseView;
  graphs: readonly GraphView[];
  floats: Sized;
  ints: Sized;
  strings: readonly Sized[];
  s: Sized;
}
interface NodeView {
  opType: string;
  domain: string;
  attribute: readonly AttrView[];
}
interface DimView {
  value: { case: 'dimValue'; value: bigint } | { case: 'dimParam'; value: string } | { case: undefined; value?: undefined };
}
interface TensorTypeView {
  elemType: number;
  shape?: { dim: readonly DimView[] };
}
interface TypeView {
  value:
    | { case: 'tensorType' | 'sparseTensorType'; value: TensorTypeView }
    | { case: 'sequenceType' | 'mapType' | 'optionalType' | 'opaqueType'; value: unknown }
    | { case: undefined; value?: undefined };
}
interface ValueInfoView {
  name: string;
  docString: string;
  type?: TypeView;
}
interface GraphView {
  name: string;
  node: readonly NodeView[];
  initializer: readonly TensorView[];
  sparseInitializer: readonly SparseView[];
  input: readonly ValueInfoView[];
  output: readonly ValueInfoView[];
}
interface ModelView {
  irVersion: bigint;
  opsetImport: readonly { domain: string; version: bigint }[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: bigint;
  docString: string;
  metadataProps: readonly KV[];
  graph?: GraphView;
  functions: readonly { name: string; domain: string; node: readonly NodeView[] }[];
  trainingInfo: readonly unknown[];
}

/** The newest IR version of the vendored schema. */
const KNOWN_IR = Version.IR_VERSION;

interface Tally {
  count: number;
  bytes: number;
  tensors: number;
}

/** The walk over graphs, subgraphs and functions, gathering everything the summary counts. */
class Gatherer {
  readonly ops = new Map<string, { opType: string; domain: string; count: number }>();
  readonly params = new Map<string, Tally>();
  readonly external = new Map<string, { tensors: number; bytes: number; end: number }>();
  readonly warnings: string[] = [];
  nodes = 0;
  subgraphs = 0;
  private badSize = 0;
  private unknownTypes = new Set<number>();

  graph(g: GraphView): void {
    for (const t of g.initializer) this.tensor(t);
    for (const s of g.sparseInitializer) this.sparse(s);
    this.nodeList(g.node);
  }

  nodeList(nodes: readonly NodeView[]): void {
    for (const n of nodes) {
      this.nodes++;
      const key = `${n.domain}\u0000${n.opType}`;
      const op = this.ops.get(key);
      if (op) op.count++;
      else this.ops.set(key, { opType: n.opType, domain: n.domain, count: 1 });
      const constant = n.opType === 'Constant' && (n.domain === '' || n.domain === 'ai.onnx');
      for (const a of n.attribute) {
        if (constant) this.constantValue(a);
        for (const sub of a.g ? [a.g, ...a.graphs] : a.graphs) {
          this.subgraphs++;
          this.graph(sub);
        }
      }
    }
  }

  private constantValue(a: AttrView): void {
    switch (a.name) {
      case 'value':
        if (a.t) this.tensor(a.t);
        break;
      case 'sparse_value':
        if (a.sparseTensor) this.sparse(a.sparseTensor);
        break;
      case 'value_float':
        this.tally('float32', 1, 4);
        break;
      case 'value_floats':
        this.tally('float32', a.floats.length, 4 * a.floats.length);
        break;
      case 'value_int':
        this.tally('int64', 1, 8);
        break;
      case 'value_ints':
        this.tally('int64', a.ints.length, 8 * a.ints.length);
        break;
      case 'value_string':
        this.tally('string', 1, a.s.length);
        break;
      case 'value_strings':
        this.tally('string', a.strings.length, a.strings.reduce((n, s) => n + s.length, 0));
        break;
    }
  }

  private sparse(s: SparseView): void {
    if (s.values) this.tensor(s.values);
    if (s.indices?.dataLocation === TensorProto_DataLocation.EXTERNAL) this.externalRef(s.indices, elements(s.indices.dims));
  }

  private tensor(t: TensorView): void {
    const dtype = dtypeFromOnnx(t.dataType);
    let count = elements(t.dims);
    if (count === undefined) {
      this.warn(`tensor '${t.name}' has an impossible shape [${t.dims.join(', ')}]; it is not counted`);
      count = 0;
    }
    let bytes = 0;
    if (!dtype) this.unknownTypes.add(t.dataType);
    else if (dtype === 'string') bytes = t.stringData.reduce((n, s) => n + s.length, 0);
    else bytes = byteSize(dtype, count)!;
    this.tally(dtype ?? `type ${t.dataType}`, count, bytes);
    if (t.dataLocation === TensorProto_DataLocation.EXTERNAL) this.externalRef(t, count);
    else if (dtype && dtype !== 'string' && t.rawData.length > 0 && t.rawData.length !== bytes) this.badSize++;
  }

  private externalRef(t: TensorView, count: number | undefined): void {
    const kv = new Map(t.externalData.map((e) => [e.key, e.value]));
    const location = kv.get('location') ?? '';
    const dtype = dtypeFromOnnx(t.dataType);
    const length = kv.has('length') ? Number(kv.get('length')) : dtype && count !== undefined ? (byteSize(dtype, count) ?? 0) : 0;
    const offset = Number(kv.get('offset') ?? 0);
    const ref = this.external.get(location) ?? { tensors: 0, bytes: 0, end: 0 };
    ref.tensors++;
    ref.bytes += Number.isFinite(length) ? length : 0;
    ref.end = Math.max(ref.end, Number.isFinite(offset + length) ? offset + length : 0);
    this.external.set(location, ref);
  }

  private tally(dtype: string, count: number, bytes: number): void {
    const p = this.params.get(dtype) ?? { count: 0, bytes: 0, tensors: 0 };
    p.count += count;
    p.bytes += bytes;
    p.tensors++;
    this.params.set(dtype, p);
  }

  warn(w: string): void {
    if (!this.warnings.includes(w)) this.warnings.push(w);
  }

  finish(): void {
    if (this.badSize) this.warn(`${this.badSize} tensor(s) hold a raw_data size that does not match their shape`);
    if (this.unknownTypes.size) {
      this.warn(`tensors of element type ${[...this.unknownTypes].join(', ')}, which Modelyard does not know, are counted without bytes`);
    }
  }
}

/** Elements of a shape; undefined when a dim is negative or the product is not a safe integer. */
function elements(dims: readonly bigint[]): number | undefined {
  let n = 1;
  for (const d of dims) {
    if (d < 0n) return undefined;
    n *= Number(d);
  }
  return Number.isSafeInteger(n) ? n : undefined;
}

function tensorInfo(v: ValueInfoView): TensorInfo {
  const info: TensorInfo = { name: v.name };
  const t = v.type?.value;
  switch (t?.case) {
    case 'tensorType':
    case 'sparseTensorType': {
      info.kind = t.case === 'tensorType' ? 'tensor' : 'sparse';
      const dtype = dtypeFromOnnx(t.value.elemType);
      if (dtype) info.dtype = dtype;
      if (t.value.shape) {
        info.shape = t.value.shape.dim.map((d) => (d.value.case === 'dimValue' ? Number(d.value.value) : d.value.case === 'dimParam' && d.value.value ? d.value.value : null));
      }
      break;
    }
    case 'sequenceType':
      info.kind = 'sequence';
      break;
    case 'mapType':
      info.kind = 'map';
      break;
    case 'optionalType':
      info.kind = 'optional';
      break;
  }
  if (v.docString) info.doc = v.docString;
  return info;
}

function summarize(m: ModelView, file: { file: string; size: number; sha256: string | null }, baseDir: string | undefined): ModelSummary {
  const g = m.graph!;
  const gather = new Gatherer();
  const irVersion = Number(m.irVersion);
  if (!irVersion) gather.warn('the model states no IR version (ONNX requires one)');
  else if (irVersion > KNOWN_IR) gather.warn(`IR version ${irVersion} is newer than this reader's schema (IR ${KNOWN_IR}): fields it added are kept but not read`);
  if (!m.opsetImport.length) gather.warn('the model imports no opset (ONNX requires the default domain\'s)');
  gather.graph(g);
  const graphNodeCount = g.node.length;
  for (const f of m.functions) gather.nodeList(f.node);
  if (m.trainingInfo.length) gather.warn(`the model carries ${m.trainingInfo.length} training-info record(s), which are not summarised`);
  gather.finish();

  const externalData = [...gather.external].map(([location, r]) => ({ location, tensors: r.tensors, bytes: r.bytes }));
  if (baseDir !== undefined) for (const [location, r] of gather.external) checkExternal(location, r, baseDir, gather);

  const initNames = new Set(g.initializer.map((t) => t.name));
  const byDtype = [...gather.params]
    .map(([dtype, p]) => ({ dtype, ...p }))
    .sort((a, b) => b.bytes - a.bytes || b.count - a.count || (a.dtype < b.dtype ? -1 : 1));
  const ops = [...gather.ops.values()].sort(
    (a, b) => b.count - a.count || (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0) || (a.opType < b.opType ? -1 : a.opType > b.opType ? 1 : 0),
  );
  return {
    ...file,
    irVersion,
    opsets: m.opsetImport.map((o) => ({ domain: o.domain, version: Number(o.version) })),
    producer: { name: m.producerName, version: m.producerVersion },
    domain: m.domain,
    modelVersion: Number(m.modelVersion),
    docString: m.docString,
    metadata: m.metadataProps.map((p) => ({ key: p.key, value: p.value })),
    graphName: g.name,
    inputs: g.input.filter((v) => !initNames.has(v.name)).map(tensorInfo),
    outputs: g.output.map(tensorInfo),
    ops,
    nodeCount: gather.nodes,
    graphNodeCount,
    subgraphCount: gather.subgraphs,
    functions: m.functions.map((f) => ({ domain: f.domain, name: f.name })),
    parameters: {
      count: byDtype.reduce((n, p) => n + p.count, 0),
      bytes: byDtype.reduce((n, p) => n + p.bytes, 0),
      tensors: byDtype.reduce((n, p) => n + p.tensors, 0),
      byDtype,
    },
    externalData,
    warnings: gather.warnings,
  };
}

function checkExternal(location: string, r: { tensors: number; bytes: number; end: number }, baseDir: string, gather: Gatherer): void {
  const file = location ? externalPath(baseDir, location) : undefined;
  if (!location) return gather.warn(`${r.tensors} tensor(s) keep their data outside the model but name no location`);
  if (!file) return gather.warn(`external data file ${location} lies outside the model's folder, where ONNX does not look`);
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    return gather.warn(`external data file ${location} is missing (${r.tensors} tensor(s), ${r.bytes} bytes)`);
  }
  if (size < r.end) gather.warn(`external data file ${location} holds ${size} bytes, but its tensors need ${r.end}`);
}
