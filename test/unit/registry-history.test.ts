import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UserError } from '../../src/core/errors';
import { HISTORY_LIMITS, describeEvent, historyView, type HistoryView } from '../../src/core/registry/history';
import { loadRegistry } from '../../src/core/registry/registry';
import { assign, deprecate, deregister, register, unassign } from '../../src/core/registry/write';
import { validate } from '../../src/shared/contract';
import { historyContract, historyInitial, historyPersisted, historyToHost, historyToWebview } from '../../src/shared/protocol/history';
import { ALL, matches, relativeTime } from '../../webview/history/format';

const ADA = { GIT_AUTHOR_NAME: 'Ada', GIT_AUTHOR_EMAIL: 'ada@example.com', GIT_COMMITTER_NAME: 'Ada', GIT_COMMITTER_EMAIL: 'ada@example.com' };
const GRACE = { GIT_COMMITTER_NAME: 'Grace Hopper', GIT_COMMITTER_EMAIL: 'grace@example.com' };
Object.assign(process.env, ADA);
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();

/** Runs a registry write as someone else: the tagger of the tag it creates. */
async function as<T>(who: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(who).map((k) => [k, process.env[k]]));
  Object.assign(process.env, who);
  try {
    return await fn();
  } finally {
    Object.assign(process.env, saved);
  }
}

let tmp: string;
let n = 0;
/** A repository with models/wake.onnx committed `commits` times (different bytes each time). */
function repo(commits = 1): string {
  const dir = path.join(tmp, `r${n++}`);
  fs.mkdirSync(path.join(dir, 'models'), { recursive: true });
  git(dir, 'init', '-q', '-b', 'main');
  for (let i = 0; i < commits; i++) {
    fs.writeFileSync(path.join(dir, 'models', 'wake.onnx'), crypto.randomBytes(1024 + i));
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', `train ${i}`);
  }
  return dir;
}

before(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-history-')));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('historyView on real git tags', () => {
  let dir: string;
  let view: HistoryView;
  let commits: string[];

  before(async () => {
    dir = repo(2);
    commits = git(dir, 'rev-list', 'HEAD').split('\n'); // newest first
    await register(dir, 'wake', { ref: 'HEAD~1', version: 'v1.0.0', message: 'First model that wakes on "hello"' });
    await as(GRACE, () => register(dir, 'wake', { version: 'v1.1.0', message: 'Retrained with 2x data\n\nFalse accepts down 30%.' }));
    await assign(dir, 'wake', 'prod', { message: 'Ship it' });
    await assign(dir, 'wake', 'staging', { version: 'v1.0.0' });
    await as(GRACE, () => unassign(dir, 'wake', 'prod', { message: 'Rollback: regression on accents' }));
    await deregister(dir, 'wake', 'v1.0.0');
    await deprecate(dir, 'wake', { message: 'Replaced by wake2' });
    view = historyView(await loadRegistry(dir), 'wake');
  });

  it('lists every event newest first, with who, when, what and why', () => {
    assert.deepEqual(
      view.events.map((e) => [e.action, e.version, e.stage]),
      [
        ['deprecate', undefined, undefined],
        ['deregister', 'v1.0.0', undefined],
        ['unassign', 'v1.1.0', 'prod'],
        ['assign', 'v1.0.0', 'staging'],
        ['assign', 'v1.1.0', 'prod'],
        ['register', 'v1.1.0', undefined],
        ['register', 'v1.0.0', undefined],
      ],
    );
    const dates = view.events.map((e) => Date.parse(e.date));
    assert.ok(dates.every((d, i) => i === 0 || d <= dates[i - 1]!), `dates descend: ${view.events.map((e) => e.date).join(', ')}`);
    assert.ok(view.events.every((e) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/.test(e.date)), 'ISO dates');
    assert.ok(Math.abs(dates.at(-1)! - Date.now()) < 120_000, 'dated now (to the tag second)');

    const first = view.events.at(-1)!;
    assert.deepEqual(
      { author: first.author, email: first.authorEmail, message: first.message, tag: first.tag, commit: first.commit },
      { author: 'Ada', email: 'ada@example.com', message: 'First model that wakes on "hello"', tag: 'wake@v1.0.0', commit: commits[1] },
    );
    const second = view.events.at(-2)!;
    assert.equal(second.author, 'Grace Hopper');
    assert.equal(second.authorEmail, 'grace@example.com');
    assert.equal(second.message, 'Retrained with 2x data\n\nFalse accepts down 30%.', 'the whole message, body included');
    assert.equal(second.commit, commits[0]);
    assert.equal(view.events[2]!.author, 'Grace Hopper');
    assert.equal(view.events[2]!.tag, 'wake#prod!#3');
    // Without -m, the write functions say what they did.
    assert.equal(view.events[1]!.message, 'Deregister wake@v1.0.0');
  });

  it('says what each event did in words', () => {
    assert.deepEqual(view.events.map(describeEvent), [
      'deprecated the model',
      'deregistered v1.0.0',
      'unassigned prod from v1.1.0',
      'assigned staging to v1.0.0',
      'assigned prod to v1.1.0',
      'registered v1.1.0',
      'registered v1.0.0',
    ]);
    assert.equal(describeEvent({ action: 'assign', stage: 'dev', version: 'a'.repeat(40) }), 'assigned dev to commit aaaaaaaa');
    assert.equal(describeEvent({ action: 'create' }), 'created the model');
  });

  it('describes the model: file, latest version, stages, deprecation', () => {
    assert.equal(view.repoRoot, dir);
    assert.deepEqual(view.model, { name: 'wake', path: 'models/wake.onnx', latest: 'v1.1.0', deprecated: true, stages: {} });
    assert.equal(view.omittedEvents, 0);
    assert.deepEqual(view.problems, []);
  });

  it('is what the contract accepts, unchanged', () => {
    const v = validate(historyToWebview, { type: 'history', history: view });
    assert.ok(v.ok, v.ok ? '' : v.error);
    assert.deepEqual(v.value, { type: 'history', history: view });
    assert.equal(historyContract.viewType, 'modelyard.history');
  });
});

describe('historyView: stages, problems, limits', () => {
  it('shows the stages in effect and the latest version', async () => {
    const dir = repo(2);
    await register(dir, 'wake', { ref: 'HEAD~1', version: 'v0.9.0' });
    await register(dir, 'wake', { version: 'v1.0.0' });
    await assign(dir, 'wake', 'prod', { version: 'v0.9.0' });
    await assign(dir, 'wake', 'staging');
    const view = historyView(await loadRegistry(dir), 'wake');
    assert.deepEqual(view.model.stages, { prod: 'v0.9.0', staging: 'v1.0.0' });
    assert.equal(view.model.latest, 'v1.0.0');
    assert.equal(view.model.deprecated, false);
  });

  it("keeps only the problems of this model's tags, not those of a model whose name starts the same", async () => {
    const dir = repo(1);
    await register(dir, 'wake', { version: 'v1.0.0' });
    git(dir, 'tag', 'wake@v2.0.0'); // lightweight: GTO ignores it
    git(dir, 'tag', 'wake#prod'); // lightweight too
    git(dir, 'tag', '-a', '-m', 'typo', 'wake@1.0'); // annotated, but not GTO's grammar
    git(dir, 'tag', 'wakeword@v1.0.0'); // another model's problem
    git(dir, 'tag', 'other#prod');
    git(dir, 'tag', 'release-1.0'); // not registry-shaped: no problem at all
    const reg = await loadRegistry(dir);
    assert.ok(reg.problems.some((p) => p.tag === 'wakeword@v1.0.0'), 'the registry does report the other model');
    const view = historyView(reg, 'wake');
    assert.deepEqual(view.problems.map((p) => p.tag).sort(), ['wake#prod', 'wake@1.0', 'wake@v2.0.0']);
    assert.match(view.problems.find((p) => p.tag === 'wake@v2.0.0')!.reason, /lightweight/);
    assert.deepEqual(view.events.map((e) => e.tag), ['wake@v1.0.0']);
  });

  it('gives a model with no tags an empty timeline the contract accepts', async () => {
    const dir = repo(1);
    const view = historyView(await loadRegistry(dir), 'wake');
    assert.deepEqual(view.events, []);
    assert.deepEqual(view.model, { name: 'wake', path: 'models/wake.onnx', deprecated: false, stages: {} });
    assert.ok(validate(historyToWebview, { type: 'history', history: view }).ok);
  });

  it('refuses a model that is not there, with the way out', async () => {
    const dir = repo(1);
    const reg = await loadRegistry(dir);
    assert.throws(
      () => historyView(reg, 'gone'),
      (e: unknown) => e instanceof UserError && /no model named 'gone'/.test(e.message) && /Models view/.test(e.hint ?? ''),
    );
  });

  it('clips a message longer than the contract allows instead of failing the whole view', async () => {
    const dir = repo(1);
    await register(dir, 'wake', { version: 'v1.0.0', message: 'x'.repeat(HISTORY_LIMITS.message + 500) });
    const view = historyView(await loadRegistry(dir), 'wake');
    assert.equal(view.events[0]!.message.length, HISTORY_LIMITS.message);
    assert.ok(view.events[0]!.message.endsWith('…'));
    assert.ok(validate(historyToWebview, { type: 'history', history: view }).ok);
  });
});

describe('history contract', () => {
  const sha = 'a'.repeat(40);

  it('accepts every declared message from the webview', () => {
    for (const m of [{ type: 'ready' }, { type: 'refresh' }, { type: 'showLog' }, { type: 'copyTag', tag: 'wake@v1.0.0' }, { type: 'openCommit', commit: sha }]) {
      assert.deepEqual(validate(historyToHost, m), { ok: true, value: m });
    }
    assert.ok(validate(historyToHost, { type: 'openCommit', commit: 'b'.repeat(64) }).ok, 'SHA-256 repositories');
  });

  it('rejects unknown, incomplete, oversized and hostile messages', () => {
    const bad: unknown[] = [
      { type: 'runShell', cmd: 'rm -rf /' },
      { type: 'copyTag' },
      { type: 'copyTag', tag: 42 },
      { type: 'copyTag', tag: 'x'.repeat(HISTORY_LIMITS.text + 1) },
      { type: 'openCommit' },
      { type: 'openCommit', commit: '--output=/tmp/pwned' },
      { type: 'openCommit', commit: 'HEAD' },
      { type: 'openCommit', commit: 'abc1234' },
      { type: 'openCommit', commit: `${sha}\n` },
      { type: 'openCommit', commit: sha.toUpperCase() },
      null,
      'ready',
      [{ type: 'ready' }],
    ];
    for (const raw of bad) {
      const v = validate(historyToHost, raw);
      assert.equal(v.ok, false, `accepted ${JSON.stringify(raw)?.slice(0, 80)}`);
    }
  });

  it('rejects a malformed or oversized history sent to the webview, naming where', () => {
    const event = { date: '2026-11-20T10:00:00.000Z', action: 'register', version: 'v1.0.0', author: 'Ada', authorEmail: 'ada@example.com', message: 'm', tag: 'wake@v1.0.0', commit: sha };
    const history = { repoRoot: '/r', model: { name: 'wake', deprecated: false, stages: {} }, events: [event], omittedEvents: 0, problems: [] };
    assert.ok(validate(historyToWebview, { type: 'history', history }).ok);
    const cases: [unknown, RegExp][] = [
      [{ ...history, events: [{ ...event, action: 'delete' }] }, /history\.events\.0\.action/],
      [{ ...history, events: [{ ...event, commit: 'nope' }] }, /history\.events\.0\.commit/],
      [{ ...history, events: [{ ...event, message: 'x'.repeat(HISTORY_LIMITS.message + 1) }] }, /history\.events\.0\.message/],
      [{ ...history, model: { ...history.model, name: 'x'.repeat(HISTORY_LIMITS.text + 1) } }, /history\.model\.name/],
      [{ ...history, events: Array.from({ length: HISTORY_LIMITS.events + 1 }, () => event) }, /history\.events/],
      [{ ...history, model: { ...history.model, stages: Object.fromEntries(Array.from({ length: HISTORY_LIMITS.stages + 1 }, (_, i) => [`s${i}`, 'v1.0.0'])) } }, /history\.model\.stages/],
      [{ ...history, model: { ...history.model, deprecated: 'no' } }, /history\.model\.deprecated/],
    ];
    for (const [h, where] of cases) {
      const v = validate(historyToWebview, { type: 'history', history: h });
      assert.equal(v.ok, false);
      assert.match(v.ok ? '' : v.error, where);
    }
    assert.ok(validate(historyToWebview, { type: 'error', message: 'git was not found', hint: 'Install git' }).ok);
    assert.equal(validate(historyToWebview, { type: 'error' }).ok, false);
  });

  it('reads the target back from the persisted webview state, and nothing else', () => {
    const target = { root: '/repo', model: 'wake' };
    assert.deepEqual(validate(historyPersisted, { __v: 1, data: { target, history: {}, filters: ALL } }), { ok: true, value: { __v: 1, data: { target } } });
    for (const s of [undefined, {}, { __v: 2, data: { target } }, { __v: 1, data: {} }, { __v: 1, data: { target: { root: '/repo' } } }]) {
      assert.equal(validate(historyPersisted, s).ok, false, JSON.stringify(s));
    }
    assert.ok(validate(historyInitial, { target }).ok);
  });
});

describe('history webview helpers', () => {
  const now = Date.parse('2026-11-20T12:00:00Z');
  it('says how long ago, in words', () => {
    const ago = (s: number) => relativeTime(new Date(now - s * 1000).toISOString(), now);
    assert.equal(ago(5), 'just now');
    assert.equal(ago(-5), 'just now', 'a tag dated a few seconds ahead');
    assert.equal(ago(120), '2 minutes ago');
    assert.equal(ago(3 * 3600), '3 hours ago');
    assert.equal(ago(3 * 86400), '3 days ago');
    assert.equal(ago(14 * 86400), '2 weeks ago');
    assert.equal(ago(90 * 86400), '3 months ago');
    assert.equal(ago(800 * 86400), '2 years ago');
    assert.equal(relativeTime('not a date', now), 'not a date');
  });

  it('filters by kind of event and by text in who, what or why', () => {
    const e = { date: '', action: 'assign' as const, version: 'v1.2.0', stage: 'prod', author: 'Grace Hopper', authorEmail: 'grace@example.com', message: 'Ship it', tag: 'wake#prod#1', commit: 'c'.repeat(40) };
    assert.ok(matches(e, ALL));
    assert.ok(!matches(e, { ...ALL, groups: { ...ALL.groups, stages: false } }));
    assert.ok(matches(e, { ...ALL, groups: { registrations: false, stages: true, deprecations: false } }));
    for (const q of ['grace', 'GRACE@', 'ship', 'v1.2', 'assigned prod', 'wake#prod']) assert.ok(matches(e, { ...ALL, text: q }), q);
    assert.ok(!matches(e, { ...ALL, text: 'ada' }));
    assert.ok(!matches({ ...e, action: 'deprecate' }, { ...ALL, groups: { ...ALL.groups, deprecations: false } }));
  });
});
