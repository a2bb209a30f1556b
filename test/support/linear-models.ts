// The small MatMul/Gemm graphs the int8 dynamic and weight-only tests share (quantize-dynamic.test.ts,
// quantize-weightonly.test.ts): random weights scaled by 1/√K, so activations stay near 1 through a chain.
import type { Tensor } from '../../src/core/inference/tensor';
import { AttributeProto_AttributeType as AT, TensorProto_DataType as DT } from '../../src/core/onnx/gen/onnx_pb';
import type { ModelProto } from '../../src/core/onnx/model';
import { pseudoRandom } from './inference';
import { floatTensor, model, node, valueInfo } from './onnx-models';

export type NodeInit = ReturnType<typeof node>;
export const named = (name: string, n: NodeInit): NodeInit => ({ ...n, name });
export const weight = (name: string, dims: number[], seed: number, scale = 1 / Math.sqrt(dims[0]!)) => {
  const r = pseudoRandom(dims.reduce((a, b) => a * b, 1), seed);
  return floatTensor(name, dims, (i) => r[i]! * scale);
};
export const f32 = (shape: number[], seed: number): Tensor => ({ dtype: 'float32', shape, data: pseudoRandom(shape.reduce((a, b) => a * b, 1), seed) });
const attrF = (name: string, f: number) => ({ name, type: AT.FLOAT, f });
const attrI = (name: string, i: number) => ({ name, type: AT.INT, i: BigInt(i) });

/** X[batch, 64] → MatMul → Relu → MatMul → Relu → MatMul → Y[batch, 32]. */
export function mlp(opset = 17): ModelProto {
  return model(
    {
      name: 'mlp',
      node: [
        named('mm0', node('MatMul', ['X', 'W0'], ['h0'])),
        node('Relu', ['h0'], ['r0']),
        named('mm1', node('MatMul', ['r0', 'W1'], ['h1'])),
        node('Relu', ['h1'], ['r1']),
        named('mm2', node('MatMul', ['r1', 'W2'], ['Y'])),
      ],
      initializer: [weight('W0', [64, 96], 11), weight('W1', [96, 96], 12), weight('W2', [96, 32], 13)],
      input: [valueInfo('X', DT.FLOAT, ['batch', 64])],
      output: [valueInfo('Y', DT.FLOAT, ['batch', 32])],
    },
    { opsetImport: [{ domain: '', version: BigInt(opset) }] },
  );
}

/** MatMul of 3-D activations [batch, seq, 48] by a [48, 40] weight. */
export function matmul3d(): ModelProto {
  return model({
    name: 'mm3d',
    node: [named('mm', node('MatMul', ['X', 'W'], ['Y']))],
    initializer: [weight('W', [48, 40], 21)],
    input: [valueInfo('X', DT.FLOAT, ['batch', 'seq', 48])],
    output: [valueInfo('Y', DT.FLOAT, ['batch', 'seq', 40])],
  });
}

/**
 * Every Gemm variant: g1 transB=1, alpha 0.5, beta 2, constant C [N]; g2 transA=1 with a computed C (a graph
 * input) and beta 0.5; g3 a constant C [1, N] with beta 1 and alpha −1.5; g4 no C.
 */
export function gemms(opset = 13): ModelProto {
  return model(
    {
      name: 'gemms',
      node: [
        named('g1', node('Gemm', ['X', 'W1', 'C1'], ['Y1'], [attrI('transB', 1), attrF('alpha', 0.5), attrF('beta', 2)])),
        named('g2', node('Gemm', ['XT', 'W2', 'C2'], ['Y2'], [attrI('transA', 1), attrF('beta', 0.5)])),
        named('g3', node('Gemm', ['X', 'W3', 'C3'], ['Y3'], [attrF('alpha', -1.5)])),
        ...(opset >= 11 ? [named('g4', node('Gemm', ['X', 'W4'], ['Y4']))] : []),
      ],
      initializer: [
        weight('W1', [24, 40], 31, 1 / Math.sqrt(40)),
        weight('C1', [24], 32, 1),
        weight('W2', [40, 16], 33),
        weight('W3', [40, 8], 34),
        weight('C3', [1, 8], 35, 1),
        weight('W4', [40, 12], 36),
      ],
      input: [valueInfo('X', DT.FLOAT, [4, 40]), valueInfo('XT', DT.FLOAT, [40, 4]), valueInfo('C2', DT.FLOAT, [4, 16])],
      output: [valueInfo('Y1', DT.FLOAT, [4, 24]), valueInfo('Y2', DT.FLOAT, [4, 16]), valueInfo('Y3', DT.FLOAT, [4, 8]), ...(opset >= 11 ? [valueInfo('Y4', DT.FLOAT, [4, 12])] : [])],
    },
    { opsetImport: [{ domain: '', version: BigInt(opset) }] },
  );
}
export const gemmFeeds = (): Record<string, Tensor> => ({ X: f32([4, 40], 1), XT: f32([40, 4], 2), C2: f32([4, 16], 3) });

/** The weight in a Constant node (as exporters such as Paddle's write them). */
export function constantWeight(): ModelProto {
  return model({
    name: 'constant_weight',
    node: [node('Constant', [], ['W'], [{ name: 'value', type: AT.TENSOR, t: weight('', [32, 24], 41) }]), named('mm', node('MatMul', ['X', 'W'], ['Y']))],
    input: [valueInfo('X', DT.FLOAT, ['batch', 32])],
    output: [valueInfo('Y', DT.FLOAT, ['batch', 24])],
  });
}

/** An If whose then-branch multiplies by an outer-scope weight and whose else-branch by its own Constant. */
export function ifBranches(): ModelProto {
  const branch = (name: string, nodes: NodeInit[]) => ({ name, node: nodes, output: [valueInfo(`${name}_y`, DT.FLOAT, ['batch', 24])] });
  return model({
    name: 'if_branches',
    node: [
      named('if', node('If', ['cond'], ['Y'], [
        { name: 'then_branch', type: AT.GRAPH, g: branch('then', [named('mm_then', node('MatMul', ['X', 'W_outer'], ['then_y']))]) },
        {
          name: 'else_branch',
          type: AT.GRAPH,
          g: branch('else', [node('Constant', [], ['W_inner'], [{ name: 'value', type: AT.TENSOR, t: weight('', [32, 24], 52) }]), named('mm_else', node('MatMul', ['X', 'W_inner'], ['else_y']))]),
        },
      ])),
    ],
    initializer: [weight('W_outer', [32, 24], 51)],
    input: [valueInfo('X', DT.FLOAT, ['batch', 32]), valueInfo('cond', DT.BOOL, [])],
    output: [valueInfo('Y', DT.FLOAT, ['batch', 24])],
  });
}

/** IR 3: every initializer is also a graph input (as old exporters wrote); a Gemm and a MatMul. */
export function ir3(): ModelProto {
  return model(
    {
      name: 'ir3',
      node: [named('g', node('Gemm', ['X', 'W', 'B'], ['H'], [attrI('transB', 1)])), named('mm', node('MatMul', ['H', 'W2'], ['Y']))],
      initializer: [weight('W', [48, 32], 61), weight('B', [48], 62, 0.5), weight('W2', [48, 16], 63)],
      input: [valueInfo('X', DT.FLOAT, [2, 32]), valueInfo('W', DT.FLOAT, [48, 32]), valueInfo('B', DT.FLOAT, [48]), valueInfo('W2', DT.FLOAT, [48, 16])],
      output: [valueInfo('Y', DT.FLOAT, [2, 16])],
    },
    { irVersion: 3n, opsetImport: [{ domain: '', version: 9n }] },
  );
}

/**
 * W is read by two MatMuls (quantized once); W3 by a MatMul and by an Add (stays for the Add); the last MatMul
 * multiplies two activations (kept).
 */
export function shared(): ModelProto {
  return model({
    name: 'shared',
    node: [
      named('mm_x', node('MatMul', ['X', 'W'], ['A'])),
      named('mm_z', node('MatMul', ['Z', 'W'], ['B'])),
      named('mm_w3', node('MatMul', ['A', 'W3'], ['C'])),
      node('Add', ['B', 'W3'], ['D']),
      named('mm_act', node('MatMul', ['C', 'D'], ['Y'])),
    ],
    initializer: [weight('W', [32, 32], 71), weight('W3', [32, 32], 72)],
    input: [valueInfo('X', DT.FLOAT, [32, 32]), valueInfo('Z', DT.FLOAT, [32, 32])],
    output: [valueInfo('Y', DT.FLOAT, [32, 32]), valueInfo('A', DT.FLOAT, [32, 32])],
  });
}
