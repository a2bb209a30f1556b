/**
 * Writing the registry: each action is one annotated tag that carries who (the user's git identity, as tagger) and
 * why (the message). Nothing here moves or deletes a tag: deregister and unassign add tags, as GTO does.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { UserError, firstLine } from '../errors';
import type { Logger } from '../log';
import { run } from '../util/proc';
import { loadRegistry, findModel, type Registry } from './registry';
import { bumpVersion, isVersion, parseVersion, type Bump } from './semver';
import { sortedVersions } from './state';
import { formatTag, isValidArtifact, isValidName, nextCounter, type ParsedTag } from './tags';

const LOCK_STALE_MS = 30_000;
const LOCK_WAIT_MS = 15_000;

/**
 * Runs `fn` holding the registry lock of the repository (a file created exclusively in the git directory), so that
 * two writers on this machine — the editor and a terminal, two CI steps — never take the same counter: their tag
 * names may differ (name#dev#5, name#qa#5), so git alone would accept both. A lock left by a crashed writer is
 * taken over after 30 s.
 */
export async function withRegistryLock<T>(root: string, fn: () => Promise<T>, log?: Logger): Promise<T> {
  const dir = (await run('git', ['rev-parse', '--path-format=absolute', '--git-common-dir'], { cwd: root, log, okCodes: [128] })).stdout.trim();
  if (!dir) throw new UserError(`${root} is not a git repository.`, 'Run `git init` first.');
  const lock = path.join(dir, 'modelyard-registry.lock');
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const h = await fs.open(lock, 'wx');
      await h.writeFile(`${process.pid}\n`);
      await h.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const age = await fs.stat(lock).then((st) => Date.now() - st.mtimeMs, () => 0);
      if (age > LOCK_STALE_MS) {
        log?.warn(`[registry] taking over a stale lock (${Math.round(age / 1000)} s old): ${lock}`);
        await fs.rm(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new UserError('another registry write is still running in this repository.', `Wait for it and try again; if none is, delete ${lock}.`);
      }
      await new Promise((r) => setTimeout(r, 10 + Math.random() * 40));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lock, { force: true });
  }
}

export interface WriteOptions {
  log?: Logger;
  include?: string;
  message?: string;
}

/** Resolves a revision to a commit sha, refusing anything that git could read as an option. */
export async function resolveCommit(root: string, ref: string, log?: Logger): Promise<string> {
  if (ref.startsWith('-')) throw new UserError(`'${ref}' is not a revision.`, 'Give a commit, branch or tag name.');
  const r = await run('git', ['rev-parse', '--verify', '-q', '--end-of-options', `${ref}^{commit}`], { cwd: root, log, okCodes: [1, 128] });
  if (r.code !== 0) {
    throw new UserError(`'${ref}' does not name a commit in ${root}.`, ref === 'HEAD' ? 'Commit the model first.' : 'Check the name with `git log`.');
  }
  return r.stdout.trim();
}

/** The tagger identity git will use; a clear error when none is configured. */
export async function gitIdentity(root: string, log?: Logger): Promise<{ name: string; email: string }> {
  const r = await run('git', ['var', 'GIT_COMMITTER_IDENT'], { cwd: root, log, okCodes: [128] });
  const m = /^(.*) <(.*)> \d+ [+-]\d{4}$/.exec(r.stdout.trim());
  if (r.code !== 0 || !m) {
    throw new UserError('git does not know who you are, and every registry tag records who made it.', 'Run `git config --global user.name "Your Name"` and `git config --global user.email you@example.com`.');
  }
  return { name: m[1]!, email: m[2]! };
}

/**
 * GTO orders events by tagger date, which git keeps to the second. So that actions taken within one second (a
 * script, a CI job) keep their order, a new tag is dated one second after the newest registry tag when needed.
 */
function tagDate(reg: Registry): number {
  // A loop, not Math.max(...dates): spreading one argument per tag overflows the stack in a large repository.
  let newest = 0;
  for (const e of reg.state.events) if (e.date > newest) newest = e.date;
  return Math.max(Math.floor(Date.now() / 1000), newest + 1);
}

async function createTag(root: string, tag: string, commit: string, message: string, date: number, log?: Logger): Promise<void> {
  // Names come from the grammar (they cannot start with "-"), the commit is a resolved sha.
  const r = await run('git', ['tag', '-a', '-m', message, tag, commit], {
    cwd: root,
    log,
    okCodes: [128],
    env: { ...process.env, GIT_COMMITTER_DATE: `${date} +0000` },
  });
  if (r.code === 128) {
    if (/already exists/.test(r.stderr)) {
      throw new TagExistsError(tag);
    }
    throw new UserError(`git refused to create tag ${tag}: ${firstLine(r.stderr)}`);
  }
}

export class TagExistsError extends UserError {
  constructor(readonly tag: string) {
    super(`tag ${tag} already exists: another process or person created it meanwhile.`, 'Refresh and try again.');
  }
}

const ATTEMPTS = 8;

/**
 * Creates a tag whose name carries a counter; when another process takes the same counter first (the tag then
 * exists), reads the tags again and retries with the next one: up to eight attempts, after a short random pause, so
 * that processes racing for the same counter spread out instead of colliding again.
 */
async function createCountedTag(reg: Registry, t: Omit<ParsedTag, 'counter'>, commit: string, message: string, log?: Logger): Promise<string> {
  const root = reg.root;
  const date = tagDate(reg);
  // The first attempt counts from the tags the registry just read (under the lock); only a retry reads them again.
  let names: Iterable<string> = reg.state.tagNames;
  for (let attempt = 0; ; attempt++) {
    if (attempt > 0) names = (await run('git', ['for-each-ref', '--format=%(refname:strip=2)', 'refs/tags'], { cwd: root, log })).stdout.split('\n');
    const tag = formatTag({ ...t, counter: nextCounter(t.artifact, names) });
    try {
      await createTag(root, tag, commit, message, date, log);
      return tag;
    } catch (e) {
      if (!(e instanceof TagExistsError) || attempt >= ATTEMPTS - 1) throw e;
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 40 * (attempt + 1)));
    }
  }
}

function messageFor(action: string, detail: string, message: string | undefined): string {
  return message?.trim() ? message.trim() : `${action} ${detail}`;
}

export interface RegisterOptions extends WriteOptions {
  version?: string;
  bump?: Bump;
  ref?: string;
}

/** The version a bump would register next: from the greatest registered version (deregistered ones count too). */
export function suggestVersion(reg: Registry, name: string, bump: Bump = 'patch'): string {
  const a = reg.models.find((m) => m.name === name)?.state;
  const all = a ? sortedVersions(a).filter((v) => v.registered && isVersion(v.version)) : [];
  return bumpVersion(all[0]?.version, bump);
}

export interface WriteResult {
  tag: string;
  commit: string;
  version?: string;
}

export function register(root: string, name: string, opts: RegisterOptions = {}): Promise<WriteResult> {
  return withRegistryLock(root, () => registerLocked(root, name, opts), opts.log);
}

async function registerLocked(root: string, name: string, opts: RegisterOptions = {}): Promise<WriteResult> {
  if (!isValidArtifact(name)) {
    throw new UserError(`'${name}' is not a valid model name.`, 'Use letters, digits, and "-", "_" or "/" inside (GTO\'s rule).');
  }
  if (opts.version && opts.bump) throw new UserError('give a version or --bump, not both.');
  const reg = await loadRegistry(root, opts);
  const version = opts.version ?? suggestVersion(reg, name, opts.bump ?? 'patch');
  if (!parseVersion(version)) {
    throw new UserError(`'${version}' is not a version.`, 'Versions are SemVer with a "v": v1.2.3, v2.0.0-rc.1.');
  }
  const commit = await resolveCommit(root, opts.ref ?? 'HEAD', opts.log);
  const a = reg.models.find((m) => m.name === name)?.state;
  const existing = a?.versions.find((v) => v.version === version);
  if (existing) {
    throw new UserError(
      `${name}@${version} is already registered${existing.active ? '' : ' (and deregistered)'} at commit ${existing.commit.slice(0, 8)}.`,
      `Register a new version, for example ${suggestVersion(reg, name, 'patch')}.`,
    );
  }
  const atCommit = a?.versions.find((v) => v.commit === commit && v.registered && v.active);
  if (atCommit) {
    throw new UserError(`commit ${commit.slice(0, 8)} is already registered as ${name}@${atCommit.version}.`, 'Commit a changed model, or register another commit with --ref.');
  }
  await gitIdentity(root, opts.log);
  const tag = formatTag({ artifact: name, action: 'register', version });
  await createTag(root, tag, commit, messageFor('Register', `${name}@${version}`, opts.message), tagDate(reg), opts.log);
  return { tag, commit, version };
}

export function deregister(root: string, name: string, version: string, opts: WriteOptions = {}): Promise<WriteResult> {
  return withRegistryLock(root, () => deregisterLocked(root, name, version, opts), opts.log);
}

async function deregisterLocked(root: string, name: string, version: string, opts: WriteOptions = {}): Promise<WriteResult> {
  const reg = await loadRegistry(root, opts);
  const a = findModel(reg, name).state;
  const v = a?.versions.find((x) => x.version === version && x.registered);
  if (!v) throw new UserError(`${name}@${version} is not registered.`, `See 'modelyard models' for its versions.`);
  if (!v.active) throw new UserError(`${name}@${version} is already deregistered.`);
  await gitIdentity(root, opts.log);
  const tag = await createCountedTag(reg, { artifact: name, action: 'deregister', version }, v.commit, messageFor('Deregister', `${name}@${version}`, opts.message), opts.log);
  return { tag, commit: v.commit, version };
}

export interface AssignOptions extends WriteOptions {
  version?: string;
  ref?: string;
}

function checkStage(reg: Registry, stage: string): void {
  if (!isValidName(stage)) throw new UserError(`'${stage}' is not a valid stage name.`, 'Use letters, digits, and "-", "_" or "/" inside.');
  const allowed = reg.config.stages;
  if (allowed.length && !allowed.includes(stage)) {
    throw new UserError(`stage '${stage}' is not allowed by .gto.`, `Allowed stages: ${allowed.join(', ')}.`);
  }
}

export function assign(root: string, name: string, stage: string, opts: AssignOptions = {}): Promise<WriteResult> {
  return withRegistryLock(root, () => assignLocked(root, name, stage, opts), opts.log);
}

async function assignLocked(root: string, name: string, stage: string, opts: AssignOptions = {}): Promise<WriteResult> {
  const reg = await loadRegistry(root, opts);
  checkStage(reg, stage);
  const model = findModel(reg, name);
  let commit: string;
  let version: string | undefined;
  if (opts.version && opts.ref) throw new UserError('give --version or --ref, not both.');
  if (opts.ref) {
    commit = await resolveCommit(root, opts.ref, opts.log);
    version = model.state?.versions.find((v) => v.commit === commit && v.registered && v.active)?.version;
  } else {
    const v = opts.version ? model.state?.versions.find((x) => x.version === opts.version && x.registered) : model.state?.latest;
    if (!v) {
      throw new UserError(
        opts.version ? `${name}@${opts.version} is not registered.` : `${name} has no registered version to assign.`,
        `Register one first ('modelyard register ${name}'), or name a commit with --ref.`,
      );
    }
    if (!v.active) throw new UserError(`${name}@${v.version} was deregistered and cannot be assigned.`);
    commit = v.commit;
    version = v.version;
  }
  if (model.state?.stages.get(stage)?.commit === commit) {
    throw new UserError(`${name}${version ? `@${version}` : ''} is already in stage '${stage}'.`);
  }
  await gitIdentity(root, opts.log);
  const what = `${name}${version ? `@${version}` : ` at ${commit.slice(0, 8)}`}`;
  const tag = await createCountedTag(reg, { artifact: name, action: 'assign', stage }, commit, messageFor(`Assign stage ${stage} to`, what, opts.message), opts.log);
  return { tag, commit, ...(version ? { version } : {}) };
}

export function unassign(root: string, name: string, stage: string, opts: WriteOptions = {}): Promise<WriteResult> {
  return withRegistryLock(root, () => unassignLocked(root, name, stage, opts), opts.log);
}

async function unassignLocked(root: string, name: string, stage: string, opts: WriteOptions = {}): Promise<WriteResult> {
  const reg = await loadRegistry(root, opts);
  if (!isValidName(stage)) throw new UserError(`'${stage}' is not a valid stage name.`);
  const v = findModel(reg, name).state?.stages.get(stage);
  if (!v) throw new UserError(`${name} has no version in stage '${stage}'.`);
  await gitIdentity(root, opts.log);
  const tag = await createCountedTag(reg, { artifact: name, action: 'unassign', stage }, v.commit, messageFor(`Unassign stage ${stage} from`, `${name}@${v.version}`, opts.message), opts.log);
  return { tag, commit: v.commit, version: v.version };
}

export function deprecate(root: string, name: string, opts: WriteOptions = {}): Promise<WriteResult> {
  return withRegistryLock(root, () => deprecateLocked(root, name, opts), opts.log);
}

async function deprecateLocked(root: string, name: string, opts: WriteOptions = {}): Promise<WriteResult> {
  const reg = await loadRegistry(root, opts);
  const model = findModel(reg, name);
  if (model.state?.deprecated) throw new UserError(`${name} is already deprecated.`);
  if (!model.state) throw new UserError(`${name} has no registry tags yet: there is nothing to deprecate.`, `Register a version first.`);
  await gitIdentity(root, opts.log);
  const commit = model.state.events.at(-1)!.commit;
  const message = messageFor('Deprecate', name, opts.message);
  // GTO writes name@deprecated; a second deprecation (after the model came back) needs a counter.
  const simple = formatTag({ artifact: name, action: 'deprecate' });
  try {
    await createTag(root, simple, commit, message, tagDate(reg), opts.log);
    return { tag: simple, commit };
  } catch (e) {
    if (!(e instanceof TagExistsError)) throw e;
  }
  const tag = await createCountedTag(reg, { artifact: name, action: 'deprecate' }, commit, message, opts.log);
  return { tag, commit };
}

/**
 * Reads git's --progress output ("Writing objects:  45% (9/20)") into an overall fraction: counting and compressing
 * are the first half of a push, writing the second.
 */
export function pushProgress(text: string): { fraction: number; phase: string } | undefined {
  let last: { fraction: number; phase: string } | undefined;
  for (const m of text.matchAll(/(Enumerating|Counting|Compressing|Writing) objects:\s+(\d{1,3})%/g)) {
    const pct = Math.min(100, Number(m[2])) / 100;
    const phase = m[1]!;
    last = { fraction: phase === 'Writing' ? 0.5 + pct / 2 : phase === 'Compressing' ? 0.25 + pct / 4 : pct / 4, phase: `${phase.toLowerCase()} objects` };
  }
  return last;
}
