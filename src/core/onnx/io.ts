/**
 * Reading and writing ONNX model files: whole or not at all (a temporary file renamed into place), with external
 * data past the protobuf limit, and clear messages for what cannot be read. Quantization writes its results here.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { create } from '@bufbuild/protobuf';
import { firstLine, UserError } from '../errors';
import { writeAtomic } from '../util/files';
import { StringStringEntryProtoSchema, TensorProto_DataLocation, type GraphProto, type NodeProto, type TensorProto } from './gen/onnx_pb';
import { sha256Hex } from '../util/hash';
import { encodeModel, tensorFromProto, type ModelProto } from './model';

/** Models above this many bytes of weights are written with external data (protobuf's hard limit is 2 GiB). */
export const EXTERNAL_DATA_THRESHOLD = 1_800_000_000;

/** The graphs a node holds in its attributes (If branches, Loop and Scan bodies), with the attribute's name. */
export function subgraphsOf(n: NodeProto): { name: string; graph: GraphProto }[] {
  const out: { name: string; graph: GraphProto }[] = [];
  for (const a of n.attribute) {
    if (a.g) out.push({ name: a.name, graph: a.g });
    a.graphs.forEach((g, i) => out.push({ name: `${a.name}[${i}]`, graph: g }));
  }
  return out;
}

/** A model file's bytes; a missing, oversized or unreadable file is a UserError that says which. */
export async function readModelFile(file: string): Promise<Uint8Array> {
  try {
    return await fsp.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`${file} does not exist.`, 'Check the path.');
    if (code === 'ERR_FS_FILE_TOO_LARGE') throw new UserError(`${file} is over 2 GiB, which no ONNX file can be (protobuf's limit).`, 'Models this large keep their weights in external data files beside a small .onnx file.');
    throw new UserError(`${file} could not be read: ${firstLine((e as Error).message)}.`, 'Check the file and its permissions.');
  }
}


/**
 * Writes the model whole or not at all. Weights still kept in the source's external data are read in; when the
 * model's weights pass EXTERNAL_DATA_THRESHOLD they go to "<output>.data" beside it (written first, so a model file
 * never points to data that is not there yet).
 */
export async function writeModel(model: ModelProto, output: string, threshold = EXTERNAL_DATA_THRESHOLD, baseDir?: string): Promise<{ bytes: number; sha256: string; externalData?: string }> {
  const tensors = allTensors(model);
  // Materialise external weights (of the source) so the output owns all its data.
  for (const t of tensors) {
    if (t.dataLocation === TensorProto_DataLocation.EXTERNAL) {
      const data = tensorFromProto(t, baseDir).data as ArrayBufferView;
      t.rawData = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      t.dataLocation = TensorProto_DataLocation.DEFAULT;
      t.externalData = [];
    }
  }
  const total = tensors.reduce((n, t) => n + t.rawData.length, 0);
  if (total <= threshold) {
    const bytes = encodeModel(model);
    await writeAtomic(output, bytes);
    return { bytes: bytes.length, sha256: sha256Hex(bytes) };
  }
  const dataName = `${path.basename(output)}.data`;
  const dataFile = path.join(path.dirname(output), dataName);
  const tmp = `${dataFile}.${process.pid}.tmp`;
  const fd = await fsp.open(tmp, 'w');
  let offset = 0;
  try {
    for (const t of tensors) {
      if (t.rawData.length < 1024) continue;
      // ONNX external data: 4 KiB alignment lets runtimes map the file.
      const pad = (4096 - (offset % 4096)) % 4096;
      if (pad) await fd.write(new Uint8Array(pad), 0, pad, offset);
      offset += pad;
      await fd.write(t.rawData, 0, t.rawData.length, offset);
      t.externalData = [
        { key: 'location', value: dataName },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(t.rawData.length) },
      ].map((kv) => create(StringStringEntryProtoSchema, kv));
      offset += t.rawData.length;
      t.rawData = new Uint8Array(0);
      t.dataLocation = TensorProto_DataLocation.EXTERNAL;
    }
    await fd.close();
    await fsp.rename(tmp, dataFile);
  } catch (e) {
    await fd.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true });
    throw new UserError(`${dataFile} could not be written: ${firstLine((e as Error).message)}.`, 'Check the free disk space and the folder\'s permissions.');
  }
  const bytes = encodeModel(model);
  await writeAtomic(output, bytes);
  return { bytes: bytes.length + offset, sha256: sha256Hex(bytes), externalData: dataName };
}

/** Every TensorProto holding weights: initializers and Constant values, in every graph. */
function allTensors(model: ModelProto): TensorProto[] {
  const out: TensorProto[] = [];
  const visit = (g: GraphProto): void => {
    out.push(...g.initializer);
    for (const n of g.node) {
      if (n.opType === 'Constant') for (const a of n.attribute) if (a.t) out.push(a.t);
      for (const sg of subgraphsOf(n)) visit(sg.graph);
    }
  };
  visit(model.graph!);
  return out;
}

/** Exists for tests: whether a path has a leftover temporary file of an interrupted write. */
export function strayTemporaries(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));
}
