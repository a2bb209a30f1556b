import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

// The CLI as users run it: the built bundle (scripts/test.mjs builds before the unit tier).
const root = path.resolve(__dirname, '..', '..');
const cli = path.join(root, 'dist', 'cli.js');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

function modelyard(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, MODELYARD_DEBUG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('modelyard CLI', () => {
  it('every verb answers --help (and -h) with its own entry, its section and the exit codes, and runs nothing', () => {
    const verbs = ['env', 'models', 'show', 'register', 'assign', 'unassign', 'deregister', 'deprecate', 'history', 'inspect', 'run', 'bench', 'compare', 'test', 'serve', 'quantize'];
    const cloud = ['deploy', 'deployments', 'status', 'logs', 'smoke', 'rollback', 'undeploy', 'proxy', 'contexts', 'namespaces', 'metrics', 'fetch-model', 'image'];
    for (const v of [...verbs, ...cloud]) {
      const r = modelyard(v, '--help');
      assert.equal(r.code, 0, `${v} --help: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: modelyard ${v} `), v);
      assert.match(r.stdout, new RegExp(`^  ${v}\\b`, 'm'), `${v}: its own entry`);
      assert.match(r.stdout, /^Exit codes:/m, v);
      // Only its entry: no other verb's line.
      const others = [...verbs, ...cloud].filter((o) => o !== v && !o.startsWith(v) && !v.startsWith(o));
      assert.ok(!others.some((o) => new RegExp(`^  ${o} `, 'm').test(r.stdout)), `${v}: only its own entry\n${r.stdout}`);
    }
    assert.equal(modelyard('quantize', '-h').stdout, modelyard('quantize', '--help').stdout);
    // Help wins over everything else on the line: nothing runs, nothing is checked.
    const r = modelyard('quantize', 'no-such-model.onnx', '--mode', 'int8-dynamic', '--help');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /--mode MODE/);
  });

  it('modelyard help VERB prints the same; an unknown verb says so', () => {
    assert.equal(modelyard('help', 'serve').stdout, modelyard('serve', '--help').stdout);
    const r = modelyard('help', 'frobnicate');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown command 'frobnicate'\. Run 'modelyard --help' to see the commands\./);
  });

  it('prints its version', () => {
    const r = modelyard('--version');
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), pkg.version);
  });

  it('env --json reports onnxruntime-node, git and this repository', () => {
    const r = modelyard('env', '--json');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.modelyard.version, pkg.version);
    assert.equal(report.onnxruntime.ok, true);
    assert.equal(report.onnxruntime.value.version, pkg.dependencies['onnxruntime-node']);
    assert.equal(report.git.ok, true);
    assert.ok(report.repositories.value.some((x: { root: string }) => x.root === fs.realpathSync(root)));
  });

  it('env --markdown prints the report for a bug report', () => {
    const r = modelyard('env', '--markdown');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\| Part \| Value \|$/m);
    assert.match(r.stdout, /^\| onnxruntime-node \| \d+\.\d+\.\d+; providers: cpu/m);
  });

  it('env prints a readable table', () => {
    const r = modelyard('env');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^onnxruntime-node\s+\d+\.\d+\.\d+ \(providers: cpu/m);
  });

  it('exits 1 with one line for an unknown command or option', () => {
    for (const args of [['deploy-everything'], ['constructor'], ['__proto__'], ['env', '--jsn'], ['env', '--json', '--markdown']]) {
      const r = modelyard(...args);
      assert.equal(r.code, 1, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^modelyard: /);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });

  it('exits 1 and shows help when run without a command', () => {
    const r = modelyard();
    assert.equal(r.code, 1);
    assert.match(r.stdout, /Usage: modelyard/);
  });
});
