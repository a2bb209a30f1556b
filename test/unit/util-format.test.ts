import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBytes, formatDuration } from '../../src/core/util/format';

describe('formatBytes', () => {
  it('uses powers of 1024 and sensible precision', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1536), '1.50 KB');
    assert.equal(formatBytes(316022), '309 KB');
    assert.equal(formatBytes(10822323), '10.3 MB');
    assert.equal(formatBytes(2 ** 40 * 3), '3.00 TB');
  });
  it('refuses what is not a size', () => {
    assert.equal(formatBytes(-1), '?');
    assert.equal(formatBytes(Number.NaN), '?');
  });
});

describe('formatDuration', () => {
  it('picks a unit', () => {
    assert.equal(formatDuration(0.4213), '0.42 ms');
    assert.equal(formatDuration(12.345), '12.3 ms');
    assert.equal(formatDuration(1240), '1.24 s');
  });
});
