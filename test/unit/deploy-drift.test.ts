// Drift: a deployment against what its registry stage names now (pure; the view finds the stages).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { driftBadge, driftOf, driftText } from '../../src/core/deploy/drift';

const stages = (o: Record<string, string>) => new Map(Object.entries(o));

describe('drift', () => {
  it('none when the stage names the version that runs', () => {
    assert.deepEqual(driftOf({ model: 'wake', version: 'v1.0.0', stage: 'prod' }, stages({ prod: 'v1.0.0', staging: 'v1.1.0' })), { kind: 'none' });
  });

  it('moved when the stage names another version now (either way: a promotion or a stage set back)', () => {
    const up = driftOf({ model: 'wake', version: 'v1.0.0', stage: 'prod' }, stages({ prod: 'v1.1.0' }));
    assert.deepEqual(up, { kind: 'moved', stage: 'prod', running: 'v1.0.0', named: 'v1.1.0' });
    assert.equal(driftBadge(up), '⚠ prod → v1.1.0');
    assert.match(driftText(up, 'wake')!, /stage prod of wake names v1\.1\.0 now, but v1\.0\.0 runs here\. Deploy wake@v1\.1\.0/);
    const down = driftOf({ model: 'wake', version: 'v1.1.0', stage: 'prod' }, stages({ prod: 'v1.0.0' }));
    assert.equal(driftBadge(down), '⚠ prod → v1.0.0');
  });

  it('unassigned when the stage names nothing now', () => {
    const d = driftOf({ model: 'wake', version: 'v1.0.0', stage: 'prod' }, stages({ staging: 'v1.0.0' }));
    assert.deepEqual(d, { kind: 'unassigned', stage: 'prod', running: 'v1.0.0' });
    assert.equal(driftBadge(d), '⚠ prod unassigned');
    assert.match(driftText(d, 'wake')!, /names no version now/);
  });

  it('unknown (no badge) without a stage, a version, or a registry that has the model', () => {
    assert.deepEqual(driftOf({ model: 'wake', version: 'v1.0.0' }, stages({ prod: 'v1.0.0' })), { kind: 'unknown', reason: 'no-stage' });
    assert.deepEqual(driftOf({ model: 'wake', stage: 'prod' }, stages({ prod: 'v1.0.0' })), { kind: 'unknown', reason: 'no-version' });
    const d = driftOf({ model: 'wake', version: 'v1.0.0', stage: 'prod' }, undefined);
    assert.deepEqual(d, { kind: 'unknown', reason: 'no-registry' });
    assert.equal(driftBadge(d), undefined);
    assert.equal(driftText(d, 'wake'), undefined);
  });
});
