import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UserError } from '../../src/core/errors';
import { blobInfo, fileHistory, parseLfsPointer, readBlob } from '../../src/core/registry/blobs';
import { readTags, tagPartitions } from '../../src/core/registry/refs';
import { loadRegistry, resolveRef } from '../../src/core/registry/registry';
import { assign, deprecate, deregister, register, unassign } from '../../src/core/registry/write';

const root = path.resolve(__dirname, '..', '..');
const ID = { GIT_AUTHOR_NAME: 'Ada', GIT_AUTHOR_EMAIL: 'ada@example.com', GIT_COMMITTER_NAME: 'Ada', GIT_COMMITTER_EMAIL: 'ada@example.com' };
Object.assign(process.env, ID);
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();

let tmp: string;
before(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-reg-')));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/** A repository with one model file committed `commits` times (different bytes each time). */
function repo(commits = 1, file = 'models/wake.onnx'): string {
  const dir = path.join(tmp, `r${n++}`);
  fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
  git(dir, 'init', '-q', '-b', 'main');
  for (let i = 0; i < commits; i++) {
    fs.writeFileSync(path.join(dir, file), crypto.randomBytes(2048 + i));
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', `train ${i}`);
  }
  return dir;
}

const tags = (dir: string) => git(dir, 'for-each-ref', '--format=%(refname:strip=2) %(objectname) %(*objectname)', 'refs/tags').split('\n').filter(Boolean);

async function rejectsWith(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof UserError, `not a UserError: ${String(e)}`);
    assert.match(`${e.message} ${e.hint ?? ''}`, re);
    return true;
  });
}

describe('registry on real git', () => {
  it('reads every tag exactly once through the parallel listings, whatever the names end with', async () => {
    // The parts split by a name's last character, with git's own pattern matching: check it against this git.
    const dir = repo(1);
    const names = [
      '1', 'a', 'b1', 'c2', 'x.y', 'nn@deprecated', 'nn@v1.0.0-rc.1', 'nn@v1.0.0+build.7', 'team/x@v1.0.0', 'team/x#prod#3',
      'deep/a/b#dev#4', 'deep/a/b@v0.0.5', 'dir=nn@v1.2.3', 'dir/sub=nn#qa#18', 'ü@v1.0.1', 'end-ß', 'v9', 'rel_ease/8',
      ...Array.from({ length: 10 }, (_, d) => `nn@v0.0.${d}`),
    ];
    for (const t of names) git(dir, 'tag', '-a', '-m', t, t);
    git(dir, 'tag', 'light7');
    const all = [...names, 'light7'].sort();
    for (const parts of [1, 2, 3, 4]) {
      const patterns = tagPartitions(parts);
      assert.equal(patterns.length, parts);
      const listed = patterns.flatMap((p) => git(dir, 'for-each-ref', '--format=%(refname:strip=2)', p).split('\n').filter(Boolean));
      assert.deepEqual([...listed].sort(), all, `${parts} parts: ${patterns.join(' ')}`);
      const read = await readTags(dir, undefined, parts);
      assert.deepEqual(read.map((t) => t.name).sort(), all);
      assert.equal(read.find((t) => t.name === 'light7')?.objectType, 'commit');
      assert.equal(read.find((t) => t.name === 'dir/sub=nn#qa#18')?.message, 'dir/sub=nn#qa#18');
    }
  });

  it('registers, assigns, unassigns, deregisters and deprecates with annotated tags GTO reads', async () => {
    const dir = repo(3);
    const commits = git(dir, 'rev-list', 'HEAD').split('\n');
    const r1 = await register(dir, 'wake', { ref: 'HEAD~2' });
    assert.deepEqual(r1, { tag: 'wake@v0.0.1', commit: commits[2], version: 'v0.0.1' });
    const r2 = await register(dir, 'wake', { ref: 'HEAD~1', bump: 'minor', message: 'Retrained on more data' });
    assert.equal(r2.tag, 'wake@v0.1.0');
    assert.equal((await register(dir, 'wake')).tag, 'wake@v0.1.1');
    assert.equal((await assign(dir, 'wake', 'prod', { version: 'v0.1.0' })).tag, 'wake#prod#1');
    assert.equal((await assign(dir, 'wake', 'staging')).tag, 'wake#staging#2');
    assert.equal((await assign(dir, 'wake', 'prod')).tag, 'wake#prod#3');
    let reg = await loadRegistry(dir);
    let a = reg.models.find((m) => m.name === 'wake')!.state!;
    assert.equal(a.latest?.version, 'v0.1.1');
    assert.deepEqual(Object.fromEntries([...a.stages].map(([s, v]) => [s, v.version])), { prod: 'v0.1.1', staging: 'v0.1.1' });
    // Every tag is annotated, made by the user's identity, with the message given.
    assert.equal(git(dir, 'cat-file', '-t', 'wake@v0.1.0'), 'tag');
    assert.match(git(dir, 'cat-file', '-p', 'wake@v0.1.0'), /^tagger Ada <ada@example.com> \d+ [+-]\d{4}$/m);
    assert.match(git(dir, 'cat-file', '-p', 'wake@v0.1.0'), /Retrained on more data/);

    assert.equal((await unassign(dir, 'wake', 'prod')).tag, 'wake#prod!#4');
    reg = await loadRegistry(dir);
    a = reg.models[0]!.state!;
    // prod falls back to nothing: v0.1.0's assignment is older than the unassigned one, but still active, so it returns.
    assert.equal(a.stages.get('prod')?.version, 'v0.1.0');
    assert.equal((await deregister(dir, 'wake', 'v0.1.1')).tag, 'wake@v0.1.1!#5');
    reg = await loadRegistry(dir);
    a = reg.models[0]!.state!;
    assert.equal(a.latest?.version, 'v0.1.0', 'latest skips a deregistered version');
    assert.equal(a.stages.get('staging'), undefined, 'a deregistered version leaves its stages');
    assert.equal((await deprecate(dir, 'wake')).tag, 'wake@deprecated');
    reg = await loadRegistry(dir);
    assert.equal(reg.models[0]!.state!.deprecated, true);
    // A later registration brings the model back (GTO: deprecated while the last event is a deprecation).
    fs.writeFileSync(path.join(dir, 'models/wake.onnx'), crypto.randomBytes(999));
    git(dir, 'commit', '-qam', 'revive');
    await register(dir, 'wake', { version: 'v1.0.0' });
    assert.equal((await loadRegistry(dir)).models[0]!.state!.deprecated, false);
    assert.equal((await deprecate(dir, 'wake')).tag, 'wake@deprecated#6', 'a second deprecation needs a counter');
  });

  it('resolves name, name@version, name@latest and name#stage, and reads bytes without a checkout', async () => {
    const dir = repo(2);
    const first = git(dir, 'rev-parse', 'HEAD~1');
    const firstBytes = execFileSync('git', ['cat-file', 'blob', `${first}:models/wake.onnx`], { cwd: dir });
    await register(dir, 'wake', { ref: 'HEAD~1', version: 'v1.0.0' });
    await register(dir, 'wake', { version: 'v1.1.0' });
    await assign(dir, 'wake', 'prod', { version: 'v1.0.0' });
    const reg = await loadRegistry(dir);
    assert.equal((await resolveRef(reg, 'wake')).version?.version, 'v1.1.0');
    assert.equal((await resolveRef(reg, 'wake@latest')).version?.version, 'v1.1.0');
    assert.equal((await resolveRef(reg, 'wake@greatest')).version?.version, 'v1.1.0');
    const prod = await resolveRef(reg, 'wake#prod');
    assert.equal(prod.commit, first);
    assert.deepEqual(await readBlob(dir, prod.commit, prod.path!), firstBytes);
    assert.equal((await blobInfo(dir, prod.commit, prod.path!)).size, firstBytes.length);
    await rejectsWith(resolveRef(reg, 'wake#dev'), /no version in stage 'dev'.*Its stages: prod/);
    await rejectsWith(resolveRef(reg, 'wake@v9.0.0'), /not registered.*v1\.1\.0, v1\.0\.0/);
    await rejectsWith(resolveRef(reg, 'wak'), /no model named 'wak'.*Did you mean 'wake'/);
    await rejectsWith(resolveRef(reg, 'wake@1.0.0'), /not a version/);
    const history = await fileHistory(dir, 'models/wake.onnx');
    assert.deepEqual(history.map((c) => c.subject), ['train 1', 'train 0']);
    assert.equal(history[1]!.size, firstBytes.length);
  });

  it('refuses what would be wrong, with the way out, and leaves no stray tag', async () => {
    const dir = repo(2);
    await register(dir, 'wake', { version: 'v1.0.0' });
    const before = tags(dir);
    await rejectsWith(register(dir, 'wake', { version: 'v1.0.0', ref: 'HEAD~1' }), /already registered.*v1\.0\.1/);
    await rejectsWith(register(dir, 'wake', { version: 'v2.0.0' }), /already registered as wake@v1\.0\.0/);
    await rejectsWith(register(dir, 'wake', { version: '2.0.0', ref: 'HEAD~1' }), /not a version/);
    await rejectsWith(register(dir, '--force', {}), /not a valid model name/);
    await rejectsWith(register(dir, 'wake', { ref: '--all' }), /not a revision/);
    await rejectsWith(register(dir, 'wake', { ref: 'no-such-branch' }), /does not name a commit/);
    await rejectsWith(assign(dir, 'wake', 'pro d'), /not a valid stage/);
    await rejectsWith(assign(dir, 'nope', 'prod'), /no model named 'nope'/);
    await rejectsWith(deregister(dir, 'wake', 'v3.0.0'), /not registered/);
    await rejectsWith(unassign(dir, 'wake', 'prod'), /no version in stage 'prod'/);
    fs.writeFileSync(path.join(dir, '.gto'), 'stages: [dev, staging, prod]\n');
    await rejectsWith(assign(dir, 'wake', 'qa'), /not allowed by \.gto.*dev, staging, prod/);
    assert.deepEqual(tags(dir), before);
  });

  it('asks for a git identity instead of writing an anonymous tag', async () => {
    const dir = repo(1);
    const saved = { ...process.env };
    try {
      for (const k of Object.keys(ID)) delete process.env[k];
      process.env.GIT_CONFIG_GLOBAL = '/dev/null';
      process.env.GIT_CONFIG_NOSYSTEM = '1';
      process.env.HOME = tmp;
      process.env.EMAIL = '';
      await rejectsWith(register(dir, 'wake'), /git does not know who you are.*user\.name/);
      assert.deepEqual(tags(dir), []);
    } finally {
      process.env = saved;
    }
  });

  it('takes the next counter when another process assigns at the same moment', async () => {
    const dir = repo(1);
    await register(dir, 'wake');
    const cli = path.join(root, 'dist', 'cli.js');
    const runCli = (...args: string[]) =>
      new Promise<number>((resolve) => spawn(process.execPath, [cli, ...args, '--repo', dir], { stdio: 'ignore' }).on('close', (c) => resolve(c ?? 1)));
    const codes = await Promise.all(['dev', 'staging', 'qa', 'prod', 'canary', 'shadow'].map((s) => runCli('assign', 'wake', s)));
    assert.deepEqual(codes, [0, 0, 0, 0, 0, 0]);
    const counters = tags(dir).map((t) => /#(\d+) /.exec(t)?.[1]).filter(Boolean).map(Number).sort((a, b) => a - b);
    assert.deepEqual(counters, [1, 2, 3, 4, 5, 6], 'each counter taken once, even by tags of different stages');
    const reg = await loadRegistry(dir);
    assert.deepEqual([...reg.models[0]!.state!.stages.keys()], ['canary', 'dev', 'prod', 'qa', 'shadow', 'staging']);
  });

  it('takes over a registry lock left by a crashed writer, and removes its own', async () => {
    const dir = repo(1);
    const lock = path.join(dir, '.git', 'modelyard-registry.lock');
    fs.writeFileSync(lock, '99999\n');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(lock, old, old);
    assert.equal((await register(dir, 'wake')).tag, 'wake@v0.0.1');
    assert.ok(!fs.existsSync(lock));
  });

  it('lists lightweight and malformed tags as problems, and never crashes on them', async () => {
    const dir = repo(1);
    await register(dir, 'wake');
    git(dir, 'tag', 'wake@v2.0.0'); // lightweight
    git(dir, 'tag', '-a', '-m', 'x', 'wake@v1'); // malformed
    git(dir, 'tag', '-a', '-m', 'x', 'wake#prod#-1');
    git(dir, 'tag', '-a', '-m', 'x', 'release-2024'); // not meant as a registry tag: ignored silently
    git(dir, 'tag', '-a', '-m', 'x', `wake@v3.0.0`, git(dir, 'rev-parse', 'HEAD^{tree}'));
    const reg = await loadRegistry(dir);
    const problems = Object.fromEntries(reg.problems.map((p) => [p.tag, p.reason]));
    assert.match(problems['wake@v2.0.0']!, /lightweight/);
    assert.match(problems['wake@v1']!, /not a valid GTO tag/);
    assert.match(problems['wake#prod#-1']!, /not a valid GTO tag/);
    assert.match(problems['wake@v3.0.0']!, /points at a tree/);
    assert.equal(problems['release-2024'], undefined);
    assert.deepEqual(reg.models[0]!.state!.versions.map((v) => v.version), ['v0.0.1']);
  });

  it('reads detached HEADs, shallow clones, and repositories without commits', async () => {
    const dir = repo(3);
    await register(dir, 'wake', { ref: 'HEAD~2' });
    git(dir, 'checkout', '-q', '--detach', 'HEAD~1');
    assert.equal((await register(dir, 'wake')).commit, git(dir, 'rev-parse', 'HEAD'));
    const shallow = path.join(tmp, `shallow${n++}`);
    git(tmp, 'clone', '-q', '--depth', '1', '--no-single-branch', `file://${dir}`, shallow);
    git(shallow, 'fetch', '-q', '--depth', '1', 'origin', 'refs/tags/*:refs/tags/*');
    const reg = await loadRegistry(shallow);
    assert.deepEqual(reg.models[0]!.state!.versions.map((v) => v.version).sort(), ['v0.0.1', 'v0.0.2']);
    const empty = path.join(tmp, `empty${n++}`);
    fs.mkdirSync(path.join(empty, 'm'), { recursive: true });
    git(empty, 'init', '-q');
    fs.writeFileSync(path.join(empty, 'm', 'a.onnx'), 'x');
    const r = await loadRegistry(empty);
    assert.deepEqual(r.models.map((m) => m.name), ['a']);
    await rejectsWith(register(empty, 'a'), /does not name a commit.*Commit the model first/);
  });

  it('discovers artifacts in dvc.yaml (root and subfolders), artifacts.yaml, and .onnx files', async () => {
    const dir = repo(1, 'models/ocr/rec.onnx');
    fs.mkdirSync(path.join(dir, 'models/vad'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'models/vad/model.onnx'), 'v');
    fs.writeFileSync(path.join(dir, 'models/ocr/model.onnx'), 'o');
    fs.mkdirSync(path.join(dir, 'node_modules/x'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'node_modules/x/skip.onnx'), 's');
    fs.writeFileSync(
      path.join(dir, 'dvc.yaml'),
      'artifacts:\n  text-recognizer:\n    path: models/ocr/rec.onnx\n    type: model\n    desc: Reads text lines\n    labels: [ocr, cnn]\n  bad name:\n    path: x.onnx\n  nopath:\n    type: model\n',
    );
    fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'sub/dvc.yaml'), 'artifacts:\n  det:\n    path: det.onnx\n');
    fs.writeFileSync(path.join(dir, 'sub/det.onnx'), 'd');
    fs.writeFileSync(path.join(dir, 'artifacts.yaml'), 'legacy:\n  type: model\n  path: old/legacy.onnx\n');
    fs.writeFileSync(path.join(dir, '.gto'), 'stages: [dev, prod]\ntypes: [model]\n');
    fs.writeFileSync(path.join(dir, 'artifacts.yaml'), 'legacy:\n  type: model\n  path: old/legacy.onnx\nnotes:\n  type: dataset\n  path: data/notes.onnx\n');
    const reg = await loadRegistry(dir);
    const byName = Object.fromEntries(reg.models.map((m) => [m.name, m.entry]));
    assert.deepEqual(Object.keys(byName).sort(), ['legacy', 'models/ocr/model', 'models/vad/model', 'notes', 'sub:det', 'text-recognizer']);
    assert.deepEqual(byName['text-recognizer'], { name: 'text-recognizer', path: 'models/ocr/rec.onnx', type: 'model', description: 'Reads text lines', labels: ['ocr', 'cnn'], source: 'dvc.yaml' });
    assert.equal(byName['sub:det']!.path, 'sub/det.onnx');
    assert.deepEqual(reg.config, { stages: ['dev', 'prod'], types: ['model'] });
    assert.deepEqual(reg.problems.map((p) => p.tag).sort(), ['artifacts.yaml: notes', 'dvc.yaml: bad name', 'dvc.yaml: nopath']);
    assert.match(reg.problems.find((p) => p.tag === 'artifacts.yaml: notes')!.reason, /type 'dataset' is not allowed by \.gto \(types: model\)/);
    // A monorepo artifact is registered as dir=name in the tag, as GTO writes it.
    git(dir, 'add', '-A');
    git(dir, 'commit', '-qm', 'declare');
    assert.equal((await register(dir, 'sub:det')).tag, 'sub=det@v0.0.1');
    assert.equal((await loadRegistry(dir)).models.find((m) => m.name === 'sub:det')?.state?.latest?.version, 'v0.0.1');
  });

  it('smudges Git LFS pointers through git-lfs, and explains when git-lfs is missing', async (t) => {
    if (spawnSync('git', ['lfs', 'version']).status !== 0) {
      t.skip('git-lfs is not installed here');
      return;
    }
    const dir = path.join(tmp, `lfs${n++}`);
    fs.mkdirSync(dir);
    git(dir, 'init', '-q', '-b', 'main');
    git(dir, 'lfs', 'install', '--local');
    git(dir, 'lfs', 'track', '*.onnx');
    const bytes = crypto.randomBytes(50_000);
    fs.writeFileSync(path.join(dir, 'big.onnx'), bytes);
    git(dir, 'add', '-A');
    git(dir, 'commit', '-qm', 'lfs model');
    const head = git(dir, 'rev-parse', 'HEAD');
    const pointer = execFileSync('git', ['cat-file', 'blob', `${head}:big.onnx`], { cwd: dir });
    assert.deepEqual(parseLfsPointer(pointer), { oid: crypto.createHash('sha256').update(bytes).digest('hex'), size: bytes.length });
    const info = await blobInfo(dir, head, 'big.onnx');
    assert.equal(info.size, bytes.length);
    assert.ok(info.lfs && info.storedSize < 200);
    assert.deepEqual(await readBlob(dir, head, 'big.onnx'), bytes);
    // Without git-lfs on PATH (git itself still there): a clear message, not a pointer passed off as a model.
    const bin = path.join(tmp, `bin${n++}`);
    fs.mkdirSync(bin);
    fs.symlinkSync(execFileSync('which', ['git'], { encoding: 'utf8' }).trim(), path.join(bin, 'git'));
    const saved = process.env.PATH;
    process.env.PATH = bin;
    try {
      await rejectsWith(readBlob(dir, head, 'big.onnx'), /stored with Git LFS.*git-lfs is not installed.*Install Git LFS/);
    } finally {
      process.env.PATH = saved;
    }
  });
});

describe('modelyard CLI over the registry', () => {
  const cli = path.join(root, 'dist', 'cli.js');
  const modelyard = (cwd: string, ...args: string[]) => {
    const r = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8' });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  it('prints models --json in the documented shape', async () => {
    const dir = repo(2);
    assert.equal(modelyard(dir, 'register', 'wake', 'v1.0.0', '--ref', 'HEAD~1', '-m', 'first').code, 0);
    assert.equal(modelyard(dir, 'register', 'wake', '--bump', 'major').code, 0);
    assert.equal(modelyard(dir, 'assign', 'wake', 'prod', '--version', 'v1.0.0').code, 0);
    const models = JSON.parse(modelyard(dir, 'models', '--json').out);
    assert.equal(models.length, 1);
    const m = models[0];
    assert.deepEqual(Object.keys(m).sort(), ['deprecated', 'description', 'latest', 'name', 'path', 'stages', 'type', 'versions']);
    assert.equal(m.name, 'wake');
    assert.equal(m.latest, 'v2.0.0');
    assert.deepEqual(m.stages, { prod: 'v1.0.0' });
    assert.deepEqual(m.versions.map((v: { version: string }) => v.version), ['v2.0.0', 'v1.0.0']);
    assert.deepEqual(Object.keys(m.versions[0]).sort(), ['author', 'commit', 'date', 'version']);
    const shown = JSON.parse(modelyard(dir, 'show', 'wake#prod', '--json').out);
    assert.deepEqual(Object.keys(shown).sort(), ['commit', 'name', 'path', 'size', 'version']);
    assert.equal(shown.version, 'v1.0.0');
    const history = JSON.parse(modelyard(dir, 'history', 'wake', '--json').out);
    assert.deepEqual(history.map((e: { action: string }) => e.action), ['assign', 'register', 'register']);
    assert.equal(history[2].message, 'first');
  });

  it('exits 1 with one line for user errors, and outside a repository', () => {
    const dir = repo(1);
    const plain = fs.mkdtempSync(path.join(tmp, 'plain-'));
    for (const [cwd, args] of [
      [dir, ['show', 'nope']],
      [dir, ['register', 'wake', 'v1']],
      [dir, ['register', 'wake', '--bump', 'huge']],
      [dir, ['assign', 'wake']],
      [plain, ['models']],
    ] as const) {
      const r = modelyard(cwd, ...args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.err}`);
      assert.equal(r.err.trim().split('\n').length, 1, r.err);
      assert.match(r.err, /^modelyard: /);
    }
    assert.match(modelyard(plain, 'models').err, /not in a git repository.*--repo/);
  });
});
