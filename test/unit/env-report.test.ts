import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildEnvReport, envReportToMarkdown, loadOnnxRuntimeInfo } from '../../src/core/env/report';
import { UserError } from '../../src/core/errors';
import { findRepositories } from '../../src/core/git/repos';
import { run } from '../../src/core/util/proc';

const gitEnv = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' };
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env: gitEnv, encoding: 'utf8' }).trim();

let tmp: string;
before(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-env-')));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function repo(dir: string, commits = 1): string {
  fs.mkdirSync(dir, { recursive: true });
  git(dir, 'init', '-q', '-b', 'main');
  for (let i = 0; i < commits; i++) {
    fs.writeFileSync(path.join(dir, `f${i}.txt`), String(i));
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', `c${i}`);
  }
  return dir;
}

describe('findRepositories (real git)', () => {
  it('finds the enclosing repository, nested ones, and skips node_modules', async () => {
    const outer = repo(path.join(tmp, 'outer'));
    const nested = repo(path.join(outer, 'sub', 'models-repo'));
    repo(path.join(outer, 'node_modules', 'pkg'));
    const found = await findRepositories([path.join(outer, 'sub')]);
    assert.deepEqual(
      found.map((r) => r.root),
      [outer, nested].sort(),
    );
    assert.equal(found.find((r) => r.root === outer)?.branch, 'main');
    assert.match(found[0]?.head ?? '', /^[0-9a-f]{40}$/);
  });

  it('describes a detached HEAD, a repository without commits, and a shallow clone', async () => {
    const a = repo(path.join(tmp, 'detached'), 2);
    git(a, 'checkout', '-q', '--detach', 'HEAD~1');
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty);
    git(empty, 'init', '-q', '-b', 'trunk');
    const shallow = path.join(tmp, 'shallow');
    git(tmp, 'clone', '-q', '--depth', '1', `file://${a}`, shallow);
    const [d, e, s] = await Promise.all([findRepositories([a]), findRepositories([empty]), findRepositories([shallow])]);
    assert.equal(d[0]?.detached, true);
    assert.equal(d[0]?.branch, undefined);
    assert.equal(e[0]?.branch, 'trunk');
    assert.equal(e[0]?.head, undefined);
    assert.equal(s[0]?.shallow, true);
  });

  it('finds nothing in a folder outside any repository', async () => {
    const plain = path.join(tmp, 'plain');
    fs.mkdirSync(plain);
    assert.deepEqual(await findRepositories([plain]), []);
  });
});

describe('run', () => {
  it('names a missing program and the way out', async () => {
    await assert.rejects(run('modelyard-no-such-program', []), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /'modelyard-no-such-program' was not found/);
      assert.match(e.hint ?? '', /Install/);
      return true;
    });
  });
  it('reports a failing exit with the first line of stderr', async () => {
    await assert.rejects(run('git', ['no-such-subcommand']), /failed \(exit 1\): git: 'no-such-subcommand' is not a git command/);
  });
  it('kills a program past its timeout', async () => {
    await assert.rejects(run('sleep', ['5'], { timeoutMs: 100 }), /stopped \(SIGKILL\) after 100 ms/);
  });
});

describe('buildEnvReport', () => {
  it('reports the real onnxruntime-node, git and repositories', async () => {
    const r = repo(path.join(tmp, 'report'));
    const report = await buildEnvReport({ version: '9.9.9', host: { application: 'test' }, folders: [r], loadOnnxRuntime: loadOnnxRuntimeInfo });
    assert.ok(report.onnxruntime.ok);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    assert.equal(report.onnxruntime.value.version, require('onnxruntime-node/package.json').version);
    assert.ok(report.onnxruntime.value.executionProviders.some((p) => p.name === 'cpu' && p.bundled));
    assert.ok(report.git.ok && /^\d+\.\d+/.test(report.git.value.version));
    assert.ok(report.repositories.ok && report.repositories.value.some((x) => x.root === r));
    assert.equal(report.node.version, process.versions.node);
  });

  it('keeps going when a part fails, saying which and why', async () => {
    const report = await buildEnvReport({
      version: '9.9.9',
      host: { application: 'test' },
      folders: [tmp],
      loadOnnxRuntime: async () => {
        throw new Error("Cannot find module 'onnxruntime-node'\nRequire stack: …");
      },
    });
    assert.equal(report.onnxruntime.ok, false);
    assert.ok(!report.onnxruntime.ok);
    assert.equal(report.onnxruntime.error, "Cannot find module 'onnxruntime-node'");
    assert.match(report.onnxruntime.hint ?? '', /Reinstall/);
    assert.ok(report.git.ok);
    const md = envReportToMarkdown(report);
    assert.match(md, /\| onnxruntime-node \| \*\*unavailable\*\*: Cannot find module 'onnxruntime-node' Reinstall/);
  });

  it('reports git as unavailable, with the way out, when git is not on PATH', async () => {
    const saved = process.env.PATH;
    process.env.PATH = path.join(tmp, 'empty-bin');
    try {
      const report = await buildEnvReport({ version: '1', host: { application: 'test' }, folders: [tmp], loadOnnxRuntime: loadOnnxRuntimeInfo });
      assert.equal(report.git.ok, false);
      assert.ok(!report.git.ok && /'git' was not found on PATH/.test(report.git.error));
      assert.equal(report.repositories.ok, false);
    } finally {
      process.env.PATH = saved;
    }
  });
});
