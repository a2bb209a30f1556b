// Tiny ONNX models built in code, for the tests of src/core/onnx: each exercises something the fixture models do not
// (subgraphs in Loop and If, local functions, sparse initializers, every kind of Constant value, external data, a
// 100 MB file, a file over 2 GB).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType as AT,
  GraphProtoSchema,
  ModelProtoSchema,
  TensorProto_DataLocation,
  TensorProto_DataType as DT,
  TensorProtoSchema,
  type ModelProto,
} from '../../src/core/onnx/gen/onnx_pb';

type GraphInit = MessageInitShape<typeof GraphProtoSchema>;
type ModelInit = Exclude<MessageInitShape<typeof ModelProtoSchema>, ModelProto>;
type TensorInit = MessageInitShape<typeof TensorProtoSchema>;
type NodeInit = NonNullable<GraphInit['node']>[number];
type AttrInit = NonNullable<NodeInit['attribute']>[number];
type ValueInfoInit = NonNullable<GraphInit['input']>[number];

export function valueInfo(name: string, elemType: number, dims?: (number | string | null)[]): ValueInfoInit {
  const shape = dims && {
    dim: dims.map((d) => ({ value: typeof d === 'number' ? { case: 'dimValue' as const, value: BigInt(d) } : d === null ? { case: undefined } : { case: 'dimParam' as const, value: d } })),
  };
  return { name, type: { value: { case: 'tensorType', value: { elemType, ...(shape ? { shape } : {}) } } } };
}

export function floatTensor(name: string, dims: number[], fill = (i: number) => i * 0.001): TensorInit {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = fill(i);
  return { name, dims: dims.map(BigInt), dataType: DT.FLOAT, rawData: new Uint8Array(data.buffer) };
}

export function node(opType: string, inputs: string[], outputs: string[], attribute: AttrInit[] = [], domain?: string): NodeInit {
  return { opType, input: inputs, output: outputs, attribute, ...(domain !== undefined ? { domain } : {}) };
}

export function model(graph: GraphInit, extra: ModelInit = {}): ModelProto {
  return create(ModelProtoSchema, {
    irVersion: 10n,
    producerName: 'modelyard-test',
    producerVersion: '1',
    opsetImport: [{ domain: '', version: 21n }],
    graph,
    ...extra,
  });
}

export function encode(m: ModelProto): Uint8Array {
  return toBinary(ModelProtoSchema, m);
}

/** X[batch, dim] → MatMul with `layers` weights of dim × dim floats → Y: 4·layers·dim² bytes of initializers. */
export function matmulChain(layers: number, dim: number): ModelProto {
  const nodes: NodeInit[] = [];
  const inits: TensorInit[] = [];
  for (let i = 0; i < layers; i++) {
    inits.push(floatTensor(`w${i}`, [dim, dim], (k) => ((k * 7 + i) % 13) / 13));
    nodes.push(node('MatMul', [i ? `h${i}` : 'X', `w${i}`], [i === layers - 1 ? 'Y' : `h${i + 1}`]));
  }
  return model({
    name: 'matmul_chain',
    node: nodes,
    initializer: inits,
    input: [valueInfo('X', DT.FLOAT, ['batch', dim])],
    output: [valueInfo('Y', DT.FLOAT, ['batch', dim])],
  });
}

/**
 * One model with what the summary must count beyond a flat graph: an If whose branches hold Constant nodes, a Loop
 * whose body holds another If, a model-local function with a Constant, a sparse initializer, a string initializer,
 * Constant nodes of each value kind, an IR-3 style input that is also an initializer, metadata, and a sequence output.
 */
export function richModel(): ModelProto {
  const constant = (out: string, attr: AttrInit): NodeInit => node('Constant', [], [out], [attr]);
  const branch = (name: string, v: number): GraphInit => ({
    name,
    node: [constant(`${name}_c`, { name: 'value', type: AT.TENSOR, t: floatTensor('', [2, 3], () => v) }), node('Add', [`${name}_c`, 'X'], [`${name}_y`])],
    output: [valueInfo(`${name}_y`, DT.FLOAT, [2, 3])],
  });
  const loopBody: GraphInit = {
    name: 'body',
    node: [
      node('Identity', ['cond_in'], ['cond_out']),
      node('If', ['cond_in'], ['inner'], [
        { name: 'then_branch', type: AT.GRAPH, g: branch('inner_then', 1) },
        { name: 'else_branch', type: AT.GRAPH, g: branch('inner_else', 2) },
      ]),
    ],
    input: [valueInfo('iter', DT.INT64, []), valueInfo('cond_in', DT.BOOL, [])],
    output: [valueInfo('cond_out', DT.BOOL, []), valueInfo('inner', DT.FLOAT, [2, 3])],
    initializer: [floatTensor('body_w', [4])],
  };
  return model(
    {
      name: 'rich',
      node: [
        constant('c_float', { name: 'value_float', type: AT.FLOAT, f: 1.5 }),
        constant('c_floats', { name: 'value_floats', type: AT.FLOATS, floats: [1, 2, 3] }),
        constant('c_int', { name: 'value_int', type: AT.INT, i: 7n }),
        constant('c_ints', { name: 'value_ints', type: AT.INTS, ints: [1n, 2n, 3n, 4n] }),
        constant('c_str', { name: 'value_string', type: AT.STRING, s: new TextEncoder().encode('hello') }),
        constant('c_strs', { name: 'value_strings', type: AT.STRINGS, strings: [new TextEncoder().encode('a'), new TextEncoder().encode('bcd')] }),
        constant('c_sparse', {
          name: 'sparse_value',
          type: AT.SPARSE_TENSOR,
          sparseTensor: { dims: [10n], values: floatTensor('sv', [3]), indices: { name: 'si', dims: [3n], dataType: DT.INT64, int64Data: [1n, 4n, 7n] } },
        }),
        node('If', ['cond'], ['y_if'], [
          { name: 'then_branch', type: AT.GRAPH, g: branch('then', 1) },
          { name: 'else_branch', type: AT.GRAPH, g: branch('else', 2) },
        ]),
        node('Loop', ['trip', 'cond'], ['y_loop'], [{ name: 'body', type: AT.GRAPH, g: loopBody }]),
        node('Scale2', ['X'], ['y_fn'], [], 'local'),
        node('Relu', ['X'], ['y_relu']),
        node('SequenceConstruct', ['X', 'y_relu'], ['seq']),
      ],
      initializer: [
        floatTensor('W', [3, 4]),
        { name: 'vocab', dims: [2n], dataType: DT.STRING, stringData: [new TextEncoder().encode('yes'), new TextEncoder().encode('no')] },
        { name: 'ids', dims: [5n], dataType: DT.INT64, int64Data: [1n, 2n, 3n, 4n, 5n] },
      ],
      sparseInitializer: [{ dims: [100n], values: floatTensor('sp', [4]), indices: { name: 'sp_i', dims: [4n], dataType: DT.INT64, int64Data: [0n, 10n, 20n, 30n] } }],
      input: [valueInfo('X', DT.FLOAT, [2, 3]), valueInfo('cond', DT.BOOL, []), valueInfo('trip', DT.INT64, []), valueInfo('W', DT.FLOAT, [3, 4])],
      output: [
        valueInfo('y_if', DT.FLOAT, ['n', null]),
        valueInfo('y_fn', DT.FLOAT, [2, 3]),
        { name: 'seq', type: { value: { case: 'sequenceType', value: { elemType: { value: { case: 'tensorType', value: { elemType: DT.FLOAT } } } } } } },
      ],
    },
    {
      opsetImport: [
        { domain: '', version: 21n },
        { domain: 'local', version: 1n },
      ],
      metadataProps: [{ key: 'author', value: 'modelyard' }],
      docString: 'a model with everything',
      modelVersion: 3n,
      functions: [
        {
          name: 'Scale2',
          domain: 'local',
          input: ['x'],
          output: ['y'],
          opsetImport: [{ domain: '', version: 21n }],
          node: [node('Constant', [], ['two'], [{ name: 'value', type: AT.TENSOR, t: floatTensor('', [1], () => 2) }]), node('Mul', ['x', 'two'], ['y'])],
        },
      ],
    },
  );
}

/**
 * A MatMul chain whose weights live in `weights.bin` beside the model (data_location EXTERNAL), written into `dir`.
 * Returns the model's path and the weights' size.
 */
export function writeExternalDataModel(dir: string, layers = 2, dim = 8): { file: string; weightBytes: number } {
  const m = matmulChain(layers, dim);
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of m.graph!.initializer) {
    const raw = t.rawData;
    chunks.push(raw);
    t.rawData = new Uint8Array(0);
    t.dataLocation = TensorProto_DataLocation.EXTERNAL;
    t.externalData = [
      { $typeName: 'onnx.StringStringEntryProto', key: 'location', value: 'weights.bin' },
      { $typeName: 'onnx.StringStringEntryProto', key: 'offset', value: String(offset) },
      { $typeName: 'onnx.StringStringEntryProto', key: 'length', value: String(raw.length) },
    ];
    offset += raw.length;
  }
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat(chunks));
  const file = path.join(dir, 'external.onnx');
  fs.writeFileSync(file, encode(m));
  return { file, weightBytes: offset };
}

/**
 * A one-initializer model whose raw_data is `rawBytes` of zeros, written as a sparse file (the zeros take no disk):
 * the way to have a model over 2 GB in a test. The initializer comes last in the file, so the bytes on disk are
 * the model's structure, then a hole.
 */
export function writeSparseBigModel(file: string, rawBytes: number): void {
  const count = rawBytes / 4;
  const init = toBinary(TensorProtoSchema, create(TensorProtoSchema, { name: 'big', dims: [BigInt(count)], dataType: DT.FLOAT }));
  const initHead = concat(init, tag(9, 2), varint(rawBytes));
  const graphHead = toBinary(
    GraphProtoSchema,
    create(GraphProtoSchema, {
      name: 'big',
      node: [node('Identity', ['big'], ['Y'])],
      output: [valueInfo('Y', DT.FLOAT, [count])],
    }),
  );
  const graph = concat(graphHead, tag(5, 2), varint(initHead.length + rawBytes), initHead);
  const m = model({});
  m.graph = undefined;
  const prefix = concat(encode(m), tag(7, 2), varint(graph.length + rawBytes), graph);
  fs.writeFileSync(file, prefix);
  fs.truncateSync(file, prefix.length + rawBytes);
}

function tag(no: number, wt: number): Uint8Array {
  return varint(no * 8 + wt);
}

function varint(n: number): Uint8Array {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return new Uint8Array(out);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** A fresh temporary folder; remove it with fs.rmSync(dir, { recursive: true, force: true }). */
export function tempDir(prefix = 'modelyard-onnx-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A model onnxruntime cannot load: an operator of a domain it has never heard of (pre-flight cannot know that). */
export function unloadableModel(): Uint8Array {
  return encode(model({ name: 'g', node: [node('Frobnicate', ['x'], ['y'], [], 'com.example')], input: [valueInfo('x', DT.FLOAT, [1, 4])], output: [valueInfo('y', DT.FLOAT, [1, 4])] }, { irVersion: 8n, opsetImport: [{ domain: '', version: 17n }, { domain: 'com.example', version: 1n }] }));
}
