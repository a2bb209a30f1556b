/**
 * Feeds checked against the model's declared inputs before they reach onnxruntime. ORT's own messages name C++
 * internals ("Got invalid dimensions for input: x for the following indices index: 2 Got: 3 Expected: 48"); these
 * name the input, what it got and what the model expects, in the words of the model's declaration.
 */
import { UserError } from '../errors';
import { dataMatchesDType, dataTypeName, elementCount, formatShape, isTensorDType, TENSOR_DTYPES, type Tensor, type TensorInfo } from './tensor';

function describeInfo(i: TensorInfo): string {
  return i.dtype ? `${i.name} (${i.dtype} ${formatShape(i.shape)})` : `${i.name} (${i.kind ?? 'non-tensor'})`;
}

function listInputs(inputs: readonly TensorInfo[]): string {
  return inputs.map(describeInfo).join(', ');
}

/** Throws a UserError for the first problem of `feeds` against `inputs`: names, types, shapes, data length. */
export function checkFeeds(inputs: readonly TensorInfo[], feeds: Record<string, Tensor>): void {
  const declared = new Map(inputs.map((i) => [i.name, i]));
  for (const name of Object.keys(feeds)) {
    if (!declared.has(name)) {
      throw new UserError(`'${name}' is not an input of the model; its inputs are ${listInputs(inputs)}.`, 'Remove it, or check the spelling of the input name.');
    }
  }
  const missing = inputs.filter((i) => !(i.name in feeds));
  if (missing.length) {
    throw new UserError(
      `input${missing.length > 1 ? 's' : ''} ${missing.map((i) => `'${i.name}'`).join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing: the model expects ${listInputs(inputs)}.`,
      'Give a value for every input.',
    );
  }
  for (const info of inputs) checkTensor(info, feeds[info.name]!);
}

/** Checks one tensor against its declaration. */
export function checkTensor(info: TensorInfo, t: Tensor): void {
  const what = `input '${info.name}'`;
  if (!info.dtype) {
    throw new UserError(`${what} is a ${info.kind ?? 'non-tensor value'}; Modelyard feeds tensors only.`, 'Run this model from code that builds the value (onnxruntime in Python or Node).');
  }
  if (!t || typeof t !== 'object' || !Array.isArray(t.shape) || t.data == null) {
    throw new UserError(`${what} is not a tensor (it needs a dtype, a shape and data).`, 'Give {dtype, shape, data}.');
  }
  if (!isTensorDType(info.dtype)) {
    throw new UserError(
      `${what} is ${info.dtype}, an element type onnxruntime-node has no tensor for (it takes ${TENSOR_DTYPES.join(', ')}).`,
      `Run this model with onnxruntime in Python, or give it a ${info.dtype.startsWith('float') || info.dtype === 'bfloat16' ? 'float32 or float16' : 'uint8 or int8'} input and a Cast node in the graph.`,
    );
  }
  if (t.dtype !== info.dtype) {
    throw new UserError(`${what} is ${t.dtype} but the model expects ${info.dtype}.`, `Convert the values to ${info.dtype} (NumPy: a.astype(np.${info.dtype === 'bool' ? 'bool_' : info.dtype})).`);
  }
  if (!dataMatchesDType(t.dtype, t.data)) {
    throw new UserError(`${what} says ${t.dtype} but its data is a ${dataTypeName(t.data)}.`, 'This is a bug in the caller: the data array must match the dtype (float16 as Uint16Array bits, bool as Uint8Array).');
  }
  const bad = t.shape.find((d) => !Number.isInteger(d) || d < 0);
  if (bad !== undefined) throw new UserError(`${what} has shape ${formatShape(t.shape)}, and ${bad} is not a size.`, 'Every dim must be a whole number, 0 or more.');
  const expected = info.shape;
  if (expected) {
    const why = shapeMismatch(expected, t.shape);
    if (why) {
      throw new UserError(
        `${what} has shape ${formatShape(t.shape)} but the model expects ${formatShape(expected)}: ${why}.`,
        'Named dims (batch, sequence …) take any size from 1; numbers are fixed by the model.',
      );
    }
  }
  const need = elementCount(t.shape);
  if (t.data.length !== need) {
    throw new UserError(`${what} holds ${t.data.length} values but its shape ${formatShape(t.shape)} needs ${need}.`, 'Make the data and the shape agree.');
  }
}

/** Why a shape does not fit a declared one, or undefined when it does. */
function shapeMismatch(expected: readonly (number | string | null)[], shape: readonly number[]): string | undefined {
  if (expected.length !== shape.length) return `${shape.length} dim${shape.length === 1 ? '' : 's'} where the model expects ${expected.length}`;
  const k = expected.findIndex((d, i) => !dimAccepts(d, shape[i]!));
  if (k < 0) return undefined;
  const d = expected[k];
  return typeof d === 'number' ? `dim ${k} must be ${d}` : `dim ${k} (${d || 'unknown'}) must be at least 1`;
}

/** A fixed dim accepts its size only; a symbolic or unknown one any positive size. */
function dimAccepts(declared: number | string | null, size: number): boolean {
  return typeof declared === 'number' ? declared === size : size >= 1;
}

/** Throws when `requested` names an output the model does not have. */
export function checkOutputNames(outputs: readonly TensorInfo[], requested: readonly string[] | undefined): void {
  for (const name of requested ?? []) {
    if (!outputs.some((o) => o.name === name)) {
      throw new UserError(`'${name}' is not an output of the model; its outputs are ${outputs.map((o) => o.name).join(', ')}.`, 'Check the spelling of the output name.');
    }
  }
}
