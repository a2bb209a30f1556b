import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonForAttribute, validate } from '../../src/shared/contract';
import { environmentInitial, environmentToHost, environmentToWebview } from '../../src/shared/protocol/environment';
import type { EnvReport } from '../../src/core/env/report';

const report: EnvReport = {
  generatedAt: '2026-11-21T10:00:00.000Z',
  modelyard: { version: '0.1.0' },
  host: { application: 'Code - OSS', appVersion: '1.100.0', uiKind: 'Web' },
  node: { version: '24.21.0', platform: 'linux', arch: 'x64', cpus: 2, memoryGiB: 23.5, modules: '137' },
  onnxruntime: { ok: true, value: { version: '1.30.0', executionProviders: [{ name: 'cpu', bundled: true }], location: '/x' }, ms: 12 },
  git: { ok: true, value: { version: '2.39.5', path: '/usr/bin/git' }, ms: 3 },
  gitLfs: { ok: false, error: "'git-lfs' was not found", hint: 'install it', ms: 2 },
  repositories: { ok: true, value: [{ root: '/repo', branch: 'main', head: 'abc', detached: false, shallow: false }], ms: 5 },
};

/** Decodes an attribute value as an HTML parser would, for the five entities jsonForAttribute writes. */
function decodeAttribute(s: string): string {
  return s.replace(/&(amp|quot|#39|lt|gt);/g, (_, e: string) => ({ amp: '&', quot: '"', '#39': "'", lt: '<', gt: '>' })[e]!);
}

describe('panel contract: messages from the webview', () => {
  it('accepts every declared message', () => {
    for (const type of ['ready', 'refresh', 'copyMarkdown', 'showLog']) {
      assert.deepEqual(validate(environmentToHost, { type }), { ok: true, value: { type } });
    }
  });
  it('rejects unknown, malformed and hostile messages with a reason', () => {
    for (const raw of [undefined, null, 42, 'ready', {}, { type: 'runShell', cmd: 'rm -rf /' }, { type: 7 }, [{ type: 'ready' }]]) {
      const v = validate(environmentToHost, raw);
      assert.equal(v.ok, false, `accepted ${JSON.stringify(raw)}`);
      assert.ok(!v.ok && v.error.length > 0);
    }
  });
  it('strips fields a message does not declare', () => {
    const v = validate(environmentToHost, { type: 'refresh', extra: '<script>' });
    assert.deepEqual(v, { ok: true, value: { type: 'refresh' } });
  });
});

describe('panel contract: messages to the webview', () => {
  it('accepts a full report and a report with failed parts', () => {
    assert.equal(validate(environmentToWebview, { type: 'report', report }).ok, true);
  });
  it('rejects a report with a missing or mistyped field, naming where', () => {
    const broken = { ...report, node: { ...report.node, cpus: 'two' } };
    const v = validate(environmentToWebview, { type: 'report', report: broken });
    assert.equal(v.ok, false);
    assert.match(!v.ok ? v.error : '', /report\.node\.cpus/);
  });
  it('bounds string sizes', () => {
    const huge = { ...report, modelyard: { version: 'x'.repeat(5000) } };
    assert.equal(validate(environmentToWebview, { type: 'report', report: huge }).ok, false);
  });
});

describe('initial state in a data attribute', () => {
  it('cannot break out of the attribute or the page', () => {
    const hostile = { report: { ...report, host: { application: `"></div><script>alert(1)</script><div x='` } } };
    const attr = jsonForAttribute(hostile);
    assert.doesNotMatch(attr, /[<>"']/);
    assert.deepEqual(JSON.parse(decodeAttribute(attr)), hostile);
    assert.equal(validate(environmentInitial, JSON.parse(decodeAttribute(attr))).ok, true);
  });
});
