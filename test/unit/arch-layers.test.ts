import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

const root = path.resolve(__dirname, '..', '..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(rel));
    else if (/\.(ts|mts|js|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** Module specifiers a file imports, requires or imports dynamically (type-only imports included). */
function imports(file: string): string[] {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const specs: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm)) specs.push(m[1]!);
  return specs;
}

/**
 * The imports of a webview file that reach outside webview/ and src/shared/ (relative specifiers resolved from the
 * file; a bare specifier is an npm package). The webviews run in the browser: what they need of the core comes to
 * them re-exported by src/shared, where the extension ↔ webview contracts live.
 */
function outsideShared(file: string): string[] {
  const allowed = ['webview', path.join('src', 'shared')].map((d) => path.join(root, d) + path.sep);
  return imports(file).filter((s) => s.startsWith('.') && !allowed.some((a) => path.resolve(root, path.dirname(file), s).startsWith(a)));
}

describe('layers', () => {
  // src/extension/heavy is bundled apart as dist/heavy.js and must load without VS Code too.
  for (const layer of ['src/core', 'src/shared', 'src/cli', 'webview', 'src/extension/heavy']) {
    it(`${layer} does not import vscode`, () => {
      const files = sources(layer);
      assert.ok(files.length > 0, `${layer} has no sources`);
      const offenders = files.filter((f) => imports(f).some((s) => s === 'vscode' || s.startsWith('vscode/')));
      assert.deepEqual(offenders, []);
    });
  }

  it('src/core does not import the extension, the CLI or the webviews', () => {
    const offenders = sources('src/core').filter((f) =>
      imports(f).some((s) => /(^|\/)(extension|cli)\//.test(s) || s.includes('webview/')),
    );
    assert.deepEqual(offenders, []);
  });

  it('webview imports only from src/shared (and its own folder, and npm packages)', () => {
    const files = sources('webview');
    assert.ok(files.length > 0, 'webview has no sources');
    assert.deepEqual(Object.fromEntries(files.map((f) => [f, outsideShared(f)]).filter(([, o]) => o!.length)), {});
  });

  it('the webview check itself sees an import from outside src/shared', () => {
    const tmp = path.join(root, 'test-results', 'layers-probe-webview.ts');
    fs.mkdirSync(path.dirname(tmp), { recursive: true });
    fs.writeFileSync(
      tmp,
      [
        "import { formatBytes } from '../src/core/util/format';",
        "import type { EnvReport } from '../src/shared/protocol/environment';",
        "import { el } from '../webview/shared/host';",
        "import '@vscode-elements/elements/dist/vscode-button/index.js';",
        "const history = await import('../src/core/registry/history');",
      ].join('\n'),
    );
    try {
      assert.deepEqual(outsideShared(path.relative(root, tmp)), ['../src/core/util/format', '../src/core/registry/history']);
    } finally {
      fs.rmSync(tmp);
    }
  });

  it('the check itself sees an import of vscode', () => {
    const tmp = path.join(root, 'test-results', 'layers-probe.ts');
    fs.mkdirSync(path.dirname(tmp), { recursive: true });
    fs.writeFileSync(tmp, "import type * as vscode from 'vscode';\nconst x = await import('vscode');\n");
    try {
      assert.deepEqual(imports(path.relative(root, tmp)), ['vscode', 'vscode']);
    } finally {
      fs.rmSync(tmp);
    }
  });

  it('onnxruntime-node is loaded only on demand, never at activation', () => {
    // Activation must stay cheap: no static import of the native addon anywhere in the extension's graph.
    const statics = [...sources('src/extension'), ...sources('src/core'), ...sources('src/shared')].filter((f) =>
      /^\s*import\s+(?!type\b)[^;]*from\s*['"]onnxruntime-node['"]/m.test(fs.readFileSync(path.join(root, f), 'utf8')),
    );
    assert.deepEqual(statics, []);
  });
});
