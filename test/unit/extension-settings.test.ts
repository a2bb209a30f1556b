// Every modelyard.* setting is read through src/extension/settings.ts, whose table (src/shared/settings.ts) must
// match package.json's contributes.configuration: the defaults live only there.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { SETTING_TYPES, hasSettingType, type SettingKey } from '../../src/shared/settings';

const root = path.resolve(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { contributes: { configuration: { properties: Record<string, { type: string | string[]; default: unknown; items?: { type: string } }> } | { properties: Record<string, { type: string | string[]; default: unknown }> }[] } };

function contributed(): Record<string, { type: string | string[]; default: unknown; items?: { type: string } }> {
  const c = pkg.contributes.configuration;
  return Object.assign({}, ...(Array.isArray(c) ? c : [c]).map((x) => x.properties));
}

describe('settings', () => {
  it('the table names exactly the contributed settings, with their types', () => {
    const props = contributed();
    assert.deepEqual(Object.keys(SETTING_TYPES).map((k) => `modelyard.${k}`).sort(), Object.keys(props).sort());
    for (const [k, t] of Object.entries(SETTING_TYPES)) {
      const p = props[`modelyard.${k}`]!;
      const want = t === 'string[]' ? 'array' : t === 'number|null' ? ['number', 'null'] : t === 'deployTargets' ? 'object' : t;
      assert.deepEqual(p.type, want, k);
      assert.ok(hasSettingType(k as SettingKey, p.default), `${k}: the default ${JSON.stringify(p.default)} has the type ${t}`);
    }
  });

  it('no adapter reads a setting on its own or repeats a default', () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const f = path.join(dir, e.name);
        if (e.isDirectory()) walk(f);
        else if (f.endsWith('.ts') && !f.endsWith(path.join('extension', 'settings.ts')) && /getConfiguration\(\s*'modelyard/.test(fs.readFileSync(f, 'utf8'))) offenders.push(path.relative(root, f));
      }
    };
    walk(path.join(root, 'src'));
    assert.deepEqual(offenders, []);
  });

  it('a value of the wrong type is not taken', () => {
    assert.equal(hasSettingType('serve.port', '8080'), false);
    assert.equal(hasSettingType('registry.stages', ['dev', 1]), false);
    assert.equal(hasSettingType('quantize.maxLatencyRatio', null), true);
    assert.equal(hasSettingType('inference.threads', Number.NaN), false);
    assert.equal(hasSettingType('deploy.targets', { ctx: { namespace: 'ml', storage: 's3://b/p' } }), true);
    assert.equal(hasSettingType('deploy.targets', { ctx: { namespace: 3 } }), false);
    assert.equal(hasSettingType('deploy.targets', { ctx: { password: 'x' } }), false, 'no key beyond the declared ones (a secret has no place here)');
    assert.equal(hasSettingType('deploy.targets', { ctx: { mode: 'knative' } }), false);
  });
});
