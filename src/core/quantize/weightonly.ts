/**
 * Weight-only quantization of MatMul and Gemm to 4 or 8 bits with onnxruntime's `com.microsoft.MatMulNBits`:
 * each weight column is cut into blocks along K, each block gets its own scale (and, asymmetric, its own zero
 * point), and the kernel dequantizes on the fly (accuracy_level 4: it quantizes A to int8 per block and multiplies
 * in integers, the fast path on x86). Activations stay float; only the weights shrink.
 *
 * MatMulNBits's layout (onnxruntime docs/ContribOperators.md, and matmul_nbits_quantizer.py which writes it):
 *   B            uint8 [N, n_blocks, blob_size]: output column n's K values, block by block, `bits` each, packed
 *                little end first (4-bit: element 2i in the low nibble, 2i+1 in the high one); K is padded with
 *                zeros to whole blocks. n_blocks = ceil(K / block_size), blob_size = block_size · bits / 8.
 *   scales       float [N · n_blocks], column-major by block (n, then block).
 *   zero_points  uint8 [N · ceil(n_blocks · bits / 8)], packed like B, each column starting on a byte; absent when
 *                symmetric, where the kernel uses 2^(bits−1) (8 for 4-bit, 128 for 8-bit).
 *   attributes   K, N, bits, block_size, accuracy_level.
 *
 * Symmetric blocks are quantized as onnxruntime's own quantizer does: the block's value of largest magnitude, m,
 * gets scale m / −2^(bits−1), so it lands exactly on the end of the range (0) and the whole [0, 2^bits − 1] is
 * used (the scale is negative when m is positive: the kernel just multiplies). Asymmetric blocks use [min, max]
 * widened to include 0, scale (max − min) / (2^bits − 1) and zero point round(−min / scale).
 *
 * Gemm is handled as in dynamic.ts: transB means the stored [N, K] is already the layout B wants; alpha is folded
 * into the scales; beta·C goes into MatMulNBits's bias input when it is a constant [N], else into an Add; transA
 * gets a Transpose.
 */
import { UserError } from '../errors';
import { formatBytes } from '../util/format';
import { makeNode, makeTensor, type QModel } from './graph';
import { addConstant, collectLinear, notesOnQuantizedModel, rewriteLinear, weightBytes, weightNK, type QuantizedLinearWeight } from './dynamic';
import type { FormResult, WeightOnlyOptions } from './types';

const BLOCK_SIZES = [16, 32, 64, 128, 256];

/** Why a Conv stays in float with weight-only quantization. */
export const CONV_KEPT_WEIGHT_ONLY = 'kept in float: MatMulNBits quantizes MatMul weights only; int8-static quantizes Conv';

/** A weight in MatMulNBits's layout. */
export interface BlockQuantized {
  /** uint8 [N, n_blocks, blob_size]. */
  b: Uint8Array;
  /** [N · n_blocks], before any Gemm alpha. */
  scales: Float32Array;
  /** Packed zero points [N · ceil(n_blocks · bits / 8)], asymmetric only. */
  zeroPoints?: Uint8Array;
  blocks: number;
  blobSize: number;
}

/**
 * Block-wise quantization of W given as [N, K] (each output's K weights contiguous) into MatMulNBits's layout.
 * Undefined when W holds NaN or ±Infinity. One pass to find each block's range and one to quantize and pack, over
 * typed arrays, with no allocation per element or block.
 */
export function quantizeBlockwise(w: Float32Array, n: number, k: number, bits: 4 | 8, blockSize: number, symmetric: boolean): BlockQuantized | undefined {
  const blocks = Math.ceil(k / blockSize);
  const blobSize = (blockSize * bits) / 8;
  const b = new Uint8Array(n * blocks * blobSize);
  const scales = new Float32Array(n * blocks);
  const zpRow = Math.ceil((blocks * bits) / 8);
  const zeroPoints = symmetric ? undefined : new Uint8Array(n * zpRow);
  const qmax = (1 << bits) - 1;
  const mid = 1 << (bits - 1);
  for (let col = 0; col < n; col++) {
    const row = col * k;
    for (let blk = 0; blk < blocks; blk++) {
      const start = row + blk * blockSize;
      const end = row + Math.min(k, (blk + 1) * blockSize);
      let scale: number;
      let zp: number;
      if (symmetric) {
        let amax = 0;
        let m = 0;
        for (let i = start; i < end; i++) {
          const v = w[i]!;
          const a = v < 0 ? -v : v;
          if (a > amax) {
            amax = a;
            m = v;
          } else if (!(a <= amax)) return undefined; // NaN
        }
        scale = Math.fround(m / -mid);
        zp = mid;
      } else {
        let min = 0;
        let max = 0;
        for (let i = start; i < end; i++) {
          const v = w[i]!;
          if (v < min) min = v;
          else if (v > max) max = v;
          else if (v !== v) return undefined; // NaN
        }
        // In float32 throughout, as onnxruntime computes it (a double difference can land one ulp away).
        scale = Math.fround(Math.fround(max - min) / qmax);
        const z = scale ? Math.round(Math.fround(-min / scale)) : 0;
        zp = z < 0 ? 0 : z > qmax ? qmax : z;
      }
      if (!Number.isFinite(scale)) return undefined;
      scales[col * blocks + blk] = scale;
      // q = round(v · (1 / scale) + zp) in float32, as onnxruntime's quantizer computes it, for the same bytes.
      const inv = scale ? Math.fround(1 / scale) : 0;
      const out = (col * blocks + blk) * blobSize;
      // Values past K (the last block's padding) get the zero point, so they dequantize to exactly 0 (onnxruntime's
      // quantizer leaves them 0; the kernel multiplies them by A's zero padding either way).
      const len = end - start;
      if (bits === 8) {
        for (let j = 0; j < len; j++) {
          const q = Math.round(Math.fround(Math.fround(w[start + j]! * inv) + zp));
          b[out + j] = q < 0 ? 0 : q > qmax ? qmax : q;
        }
        for (let j = len; j < blockSize; j++) b[out + j] = zp;
      } else {
        const pairs = len >> 1;
        for (let p = 0; p < pairs; p++) {
          const i = start + 2 * p;
          let q0 = Math.round(Math.fround(Math.fround(w[i]! * inv) + zp));
          let q1 = Math.round(Math.fround(Math.fround(w[i + 1]! * inv) + zp));
          q0 = q0 < 0 ? 0 : q0 > qmax ? qmax : q0;
          q1 = q1 < 0 ? 0 : q1 > qmax ? qmax : q1;
          b[out + p] = q0 | (q1 << 4);
        }
        let p = pairs;
        if (len & 1) {
          let q0 = Math.round(Math.fround(Math.fround(w[end - 1]! * inv) + zp));
          q0 = q0 < 0 ? 0 : q0 > qmax ? qmax : q0;
          b[out + p++] = q0 | (zp << 4);
        }
        for (; p < blobSize; p++) b[out + p] = zp | (zp << 4);
      }
      if (zeroPoints) {
        if (bits === 8) zeroPoints[col * zpRow + blk] = zp;
        else zeroPoints[col * zpRow + (blk >> 1)]! |= zp << ((blk & 1) * 4);
      }
    }
    // 4-bit with an odd number of blocks: the column's last zero-point byte has a spare high nibble, which
    // onnxruntime's quantizer fills with 8 (the default zero point); the same here, so the bytes are the same.
    if (zeroPoints && bits === 4 && blocks & 1) zeroPoints[col * zpRow + zpRow - 1]! |= mid << 4;
  }
  return { b, scales, zeroPoints, blocks, blobSize };
}

interface QuantizedWeight extends QuantizedLinearWeight {
  b: string;
  zp?: string;
}

/** Weight-only quantization of MatMul and Gemm to MatMulNBits, in place. */
export function quantizeWeightOnly(m: QModel, opts: WeightOnlyOptions): FormResult {
  const { bits, blockSize } = opts;
  if (bits !== 4 && bits !== 8) throw new UserError(`weight-only quantization takes 4 or 8 bits, not ${String(bits)}.`, 'Choose int4 or int8-weight.');
  if (!BLOCK_SIZES.includes(blockSize)) throw new UserError(`block size ${String(blockSize)} is not one MatMulNBits takes.`, `Choose one of ${BLOCK_SIZES.join(', ')} (32 is the usual choice).`);
  const symmetric = opts.symmetric ?? true;
  const accuracyLevel = opts.accuracyLevel ?? 4;
  if (!Number.isInteger(accuracyLevel) || accuracyLevel < 0 || accuracyLevel > 4) {
    throw new UserError(`accuracy level ${accuracyLevel} is not one MatMulNBits takes.`, 'Choose 0 (unset), 1 (fp32), 2 (fp16), 3 (bf16) or 4 (int8 compute, the fast path on x86).');
  }
  const scopes = m.scopes();
  const main = scopes[0]!;
  const { todo, decisions, convs } = collectLinear(m, scopes, opts.exclude, CONV_KEPT_WEIGHT_ONLY);
  const notes = notesOnQuantizedModel(m);
  let storedBytes = 0;
  const converted = rewriteLinear<QuantizedWeight>(m, main, todo, decisions, opts, {
    form: `MatMulNBits ${bits}-bit block ${blockSize} (${symmetric ? 'symmetric' : 'asymmetric'}, accuracy_level ${accuracyLevel})`,
    quantize: (l) => {
      const bq = quantizeBlockwise(weightNK(m, l), l.n, l.k, bits, blockSize, symmetric);
      if (!bq) return undefined;
      const bName = m.names.fresh(`${l.weight.name}_Q${bits}`);
      addConstant(m, main, l.weight.scope, makeTensor(bName, 'uint8', [l.n, bq.blocks, bq.blobSize], bq.b));
      storedBytes += bq.b.length + 4 * bq.scales.length + (bq.zeroPoints?.length ?? 0);
      let zpName: string | undefined;
      if (bq.zeroPoints) {
        zpName = m.names.fresh(`${l.weight.name}_zero_points`);
        addConstant(m, main, l.weight.scope, makeTensor(zpName, 'uint8', [bq.zeroPoints.length], bq.zeroPoints));
      }
      return { b: bName, zp: zpName, scales: bq.scales };
    },
    scaleSuffix: 'scales',
    scaleShape: (_l, scales) => [scales.length],
    emit: (l, qw, { a, scale, bias, y, base, nodes }) => {
      // A constant [N] bias rides in MatMulNBits's bias input (input 5, after zero_points and the deprecated g_idx);
      // any other goes into an Add that writes the original output.
      const inputs = [a, qw.b, scale];
      if (qw.zp || bias?.vector) inputs.push(qw.zp ?? '');
      if (bias?.vector) inputs.push('', bias.name);
      const addAfter = bias && !bias.vector;
      const product = addAfter ? m.names.fresh(`${base}_unbiased`) : y;
      nodes.push(
        makeNode('MatMulNBits', inputs, [product], {
          name: m.names.fresh(`${base}_Q${bits}`),
          domain: 'com.microsoft',
          attrs: { K: l.k, N: l.n, bits, block_size: blockSize, accuracy_level: accuracyLevel },
        }),
      );
      if (addAfter) nodes.push(makeNode('Add', [product, bias.name], [y], { name: m.names.fresh(`${base}_bias`) }));
    },
  });
  if (converted) m.ensureOpset('com.microsoft', 1);
  if (convs) notes.push(`${convs} Conv node(s) kept in float: MatMulNBits covers MatMul weights only; int8-static quantizes Conv`);
  const pruned = m.pruneUnusedWeights();
  if (converted) {
    notes.push(
      `${converted} MatMul/Gemm node(s) became com.microsoft.MatMulNBits (an onnxruntime contrib op: the model now runs in onnxruntime only); ` +
        `${formatBytes(weightBytes(todo))} of float32 weights now take ${formatBytes(storedBytes)}; ${pruned} unused float weight(s) dropped`,
    );
  } else notes.push('no MatMul or Gemm with a constant float32 weight: nothing was quantized');
  opts.progress?.(1);
  return { decisions, notes };
}
