import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import type { Tensor } from '../../src/core/inference/tensor';
import { INLINE_MAX_BYTES, isShared, openSharedFile, SharedFile } from '../../src/core/inference/transport';

const big = (n: number, fill: number): Tensor => ({ dtype: 'float32', shape: [n], data: new Float32Array(n).fill(fill) });

describe('the shared scratch file', { skip: process.platform !== 'linux' && 'Linux only (/dev/shm)' }, () => {
  it('is created without a name left behind', () => {
    const before = fs.readdirSync('/dev/shm').filter((f) => f.startsWith('modelyard-'));
    const fd = openSharedFile();
    assert.ok(fd !== undefined);
    assert.deepEqual(fs.readdirSync('/dev/shm').filter((f) => f.startsWith('modelyard-')), before);
    fs.closeSync(fd);
  });

  it('carries large numeric tensors by offset and small or string ones in the message', () => {
    const file = new SharedFile(openSharedFile());
    const n = INLINE_MAX_BYTES / 4;
    // A view into a larger buffer: only its own bytes travel.
    const backing = new Float32Array(n + 10).fill(7);
    backing.set(new Float32Array(n).fill(2.5), 5);
    const tensors: Record<string, Tensor> = {
      a: big(n, 1.5),
      view: { dtype: 'float32', shape: [n], data: backing.subarray(5, 5 + n) },
      ids: { dtype: 'int64', shape: [n], data: new BigInt64Array(n).fill(-3n) },
      small: big(4, 9),
      text: { dtype: 'string', shape: [2], data: ['a', 'b'] },
    };
    const wire = file.pack(tensors);
    assert.deepEqual(Object.entries(wire).filter(([, t]) => isShared(t)).map(([k]) => k), ['a', 'view', 'ids']);
    assert.equal(wire.small, tensors.small);
    const reuse = new Map<string, Tensor['data']>();
    const back = file.unpack(wire, reuse);
    assert.deepEqual(back, tensors);
    assert.ok(back.ids!.data instanceof BigInt64Array);
    // The next call of the same sizes reads into the same buffers.
    const first = back.a!.data;
    const again = file.unpack(file.pack({ ...tensors, a: big(n, -1) }), reuse);
    assert.equal(again.a!.data, first);
    assert.equal((again.a!.data as Float32Array)[n - 1], -1);
    file.close();
  });

  it('falls back to the message when the file cannot take the bytes', () => {
    const readOnly = fs.openSync(__filename, 'r'); // writes fail (EBADF), as they would with ENOSPC
    const file = new SharedFile(readOnly);
    const t = { a: big(INLINE_MAX_BYTES, 1) };
    assert.equal(file.pack(t), t);
    assert.deepEqual(new SharedFile(undefined).pack(t), t);
    file.close();
  });
});
