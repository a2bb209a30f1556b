// core/registry/modelRef: the one way to turn a path or a registry reference into bytes and identity.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UserError } from '../../src/core/errors';
import { modelSha256, resolveModel } from '../../src/core/registry/modelRef';
import { fixture } from '../support/fixtures';

const log = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const HELLO = '67ac357640e53b9d4713433a8ab48be4333f7cb21d6816406be7660ebe6d7614';

describe('resolveModel', () => {
  let repo: string;
  let first: string;
  let second: string;
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd: repo, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' } }).trim();

  before(() => {
    repo = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-ref-'));
    fs.mkdirSync(path.join(repo, 'audio', 'models'), { recursive: true });
    git('init', '-q', '-b', 'main');
    fs.copyFileSync(fixture('hello_deepa.onnx'), path.join(repo, 'audio', 'models', 'wake.onnx'));
    // A model declared in a subfolder's dvc.yaml: named audio:wake, tagged audio=wake@… (GTO's monorepo form).
    fs.writeFileSync(path.join(repo, 'audio', 'dvc.yaml'), 'artifacts:\n  wake:\n    path: models/wake.onnx\n');
    git('add', '.');
    git('commit', '-q', '-m', 'v1');
    first = git('rev-parse', 'HEAD');
    git('tag', '-a', 'audio=wake@v1.0.0', '-m', 'first');
    fs.appendFileSync(path.join(repo, 'audio', 'models', 'wake.onnx'), Buffer.from([0]));
    git('commit', '-q', '-am', 'unregistered');
    second = git('rev-parse', 'HEAD');
  });
  after(() => fs.rmSync(repo, { recursive: true, force: true }));

  it('a file: its path, its name, and its sha256 when asked', async () => {
    const m = await resolveModel(fixture('hello_deepa.onnx'), { log });
    assert.deepEqual([m.name, m.path, m.source], ['hello_deepa', fixture('hello_deepa.onnx'), { path: fixture('hello_deepa.onnx') }]);
    assert.equal(m.sha256, undefined);
    assert.equal(await modelSha256(m), HELLO);
  });

  it('a registered version: name, version, commit, path in the repository, bytes and sha256, from git', async () => {
    const m = await resolveModel('audio:wake@v1.0.0', { repo, log });
    assert.equal(m.label, 'audio:wake@v1.0.0');
    assert.equal(m.name, 'audio-wake');
    assert.deepEqual([m.version, m.commit, m.root, m.registryName, m.relPath], ['v1.0.0', first, repo, 'audio:wake', 'audio/models/wake.onnx']);
    assert.equal(m.sha256, HELLO);
    assert.equal(sha(m.bytes!), HELLO);
  });

  it('name@<commit>: a registered commit reads as its version, any other commit by its short sha', async () => {
    const v = await resolveModel(`audio:wake@${first}`, { repo, log });
    assert.equal(v.version, 'v1.0.0');
    assert.equal(v.label, 'audio:wake@v1.0.0');
    const c = await resolveModel(`audio:wake@${second}`, { repo, log });
    assert.equal(c.version, undefined);
    assert.equal(c.label, `audio:wake@${second.slice(0, 8)}`);
    assert.equal(c.bytes!.length, fs.statSync(fixture('hello_deepa.onnx')).size + 1);
    await assert.rejects(resolveModel(`audio:wake@${'0'.repeat(40)}`, { repo, log }), UserError);
  });
});
