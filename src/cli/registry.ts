import { parseArgs } from 'node:util';
import { UserError } from '../core/errors';
import type { Logger } from '../core/log';
import { blobInfo } from '../core/registry/blobs';
import { findModel, loadRegistry, resolveRef, type Model, type Registry } from '../core/registry/registry';
import { sortedVersions, type RegistryEvent } from '../core/registry/state';
import { assign, deprecate, deregister, register, unassign, type WriteResult } from '../core/registry/write';
import { formatBytes } from '../core/util/format';
import { run } from '../core/util/proc';

type Out = (s: string) => void;

/** The repository a command works on: --repo, or the one holding the current folder. */
async function repoRoot(dir: string | undefined, log: Logger): Promise<string> {
  const cwd = dir ?? process.cwd();
  const r = await run('git', ['rev-parse', '--show-toplevel'], { cwd, log, okCodes: [128] }).catch((e: unknown) => {
    if (e instanceof UserError) throw e;
    throw new UserError(`${cwd} cannot be read: ${(e as Error).message}`);
  });
  if (r.code !== 0) throw new UserError(`${cwd} is not in a git repository.`, 'Run it inside one, or pass --repo DIR (create one with `git init`).');
  return r.stdout.trim();
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

export function modelJson(m: Model) {
  const a = m.state;
  return {
    name: m.name,
    path: m.entry?.path ?? null,
    type: m.entry?.type ?? null,
    description: m.entry?.description ?? null,
    latest: a?.latest?.version ?? null,
    deprecated: a?.deprecated ?? false,
    versions: a
      ? sortedVersions(a)
          .filter((v) => v.registered && v.active)
          .map((v) => ({ version: v.version, commit: v.commit, date: iso(v.createdBy.date), author: v.createdBy.author }))
      : [],
    stages: Object.fromEntries([...(a?.stages ?? [])].map(([s, v]) => [s, v.version])) as Record<string, string>,
  };
}

function eventJson(e: RegistryEvent) {
  return {
    date: iso(e.date),
    action: e.action,
    version: e.version ?? null,
    stage: e.stage ?? null,
    author: e.author,
    authorEmail: e.authorEmail,
    message: e.message,
    tag: e.tag,
    commit: e.commit,
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

const common = {
  json: { type: 'boolean' },
  repo: { type: 'string' },
} as const;

function parse<T extends Record<string, { type: 'string' | 'boolean'; short?: string }>>(args: string[], options: T, positionals: [number, number], usage: string) {
  const r = parseArgs({ args, options: { ...common, ...options }, allowPositionals: true, strict: true });
  if (r.positionals.length < positionals[0] || r.positionals.length > positionals[1]) {
    throw new UserError(`wrong number of arguments.`, `Usage: ${usage}`);
  }
  return r;
}

export async function modelsCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values } = parse(args, { include: { type: 'string' } }, [0, 0], 'modelyard models [--repo DIR] [--json]');
  const root = await repoRoot(values.repo, log);
  const reg = await loadRegistry(root, { log, ...(values.include ? { include: values.include } : {}) });
  if (values.json) {
    out(JSON.stringify(reg.models.map(modelJson), null, 2) + '\n');
    return 0;
  }
  if (!reg.models.length) {
    out(`No models in ${root}: no artifacts in dvc.yaml and no .onnx files.\n`);
    return 0;
  }
  const rows = [['MODEL', 'LATEST', 'STAGES', 'PATH']];
  for (const m of reg.models) {
    const j = modelJson(m);
    rows.push([
      m.name + (j.deprecated ? ' (deprecated)' : ''),
      j.latest ?? '-',
      Object.entries(j.stages).map(([s, v]) => `${s}=${v.startsWith('v') ? v : v.slice(0, 8)}`).join(' ') || '-',
      j.path ?? '(no file)',
    ]);
  }
  out(table(rows));
  if (reg.problems.length) {
    out(`\n${reg.problems.length} tag(s) or file(s) ignored:\n`);
    for (const p of reg.problems.slice(0, 20)) out(`  ${p.tag}: ${p.reason}\n`);
    if (reg.problems.length > 20) out(`  … and ${reg.problems.length - 20} more\n`);
  }
  return 0;
}

export async function showCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values, positionals } = parse(args, {}, [1, 1], 'modelyard show REF [--repo DIR] [--json]   (REF: name, name@v1.2.3, name@latest, name#stage)');
  const root = await repoRoot(values.repo, log);
  const reg = await loadRegistry(root, { log });
  const r = await resolveRef(reg, positionals[0]!, log);
  if (!r.path) throw new UserError(`${r.model.name} has no model file in ${root}.`, 'Declare its path in dvc.yaml (artifacts: NAME: path: …).');
  const info = await blobInfo(root, r.commit, r.path, log);
  const result = { name: r.model.name, version: r.version?.version ?? null, commit: r.commit, path: r.path, size: info.size, ...(info.lfs ? { lfs: true } : {}) };
  out(values.json ? JSON.stringify(result, null, 2) + '\n' : `${result.name}${result.version ? `@${result.version}` : ''}  ${result.commit.slice(0, 12)}  ${result.path}  ${formatBytes(result.size)}${info.lfs ? ' (Git LFS)' : ''}\n`);
  return 0;
}

function printWrite(r: WriteResult, json: boolean | undefined, out: Out, what: string): number {
  out(json ? JSON.stringify(r, null, 2) + '\n' : `${what}: created tag ${r.tag} at ${r.commit.slice(0, 12)}\n`);
  return 0;
}

export async function registerCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const usage = 'modelyard register NAME [VERSION | --bump major|minor|patch] [--ref REF] [-m MSG]';
  const { values, positionals } = parse(args, { bump: { type: 'string' }, ref: { type: 'string' }, message: { type: 'string', short: 'm' } }, [1, 2], usage);
  if (values.bump && !['major', 'minor', 'patch'].includes(values.bump)) throw new UserError(`--bump takes major, minor or patch, not '${values.bump}'.`);
  const root = await repoRoot(values.repo, log);
  const r = await register(root, positionals[0]!, {
    log,
    ...(positionals[1] ? { version: positionals[1] } : {}),
    ...(values.bump ? { bump: values.bump as 'major' | 'minor' | 'patch' } : {}),
    ...(values.ref ? { ref: values.ref } : {}),
    ...(values.message ? { message: values.message } : {}),
  });
  return printWrite(r, values.json, out, `Registered ${positionals[0]}@${r.version}`);
}

export async function assignCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const usage = 'modelyard assign NAME STAGE [--version V | --ref REF] [-m MSG]';
  const { values, positionals } = parse(args, { version: { type: 'string' }, ref: { type: 'string' }, message: { type: 'string', short: 'm' } }, [2, 2], usage);
  const root = await repoRoot(values.repo, log);
  const r = await assign(root, positionals[0]!, positionals[1]!, {
    log,
    ...(values.version ? { version: values.version } : {}),
    ...(values.ref ? { ref: values.ref } : {}),
    ...(values.message ? { message: values.message } : {}),
  });
  return printWrite(r, values.json, out, `Assigned ${positionals[1]} to ${positionals[0]}${r.version ? `@${r.version}` : ''}`);
}

export async function unassignCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values, positionals } = parse(args, { message: { type: 'string', short: 'm' } }, [2, 2], 'modelyard unassign NAME STAGE [-m MSG]');
  const root = await repoRoot(values.repo, log);
  const r = await unassign(root, positionals[0]!, positionals[1]!, { log, ...(values.message ? { message: values.message } : {}) });
  return printWrite(r, values.json, out, `Unassigned ${positionals[1]} from ${positionals[0]}@${r.version}`);
}

export async function deregisterCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values, positionals } = parse(args, { message: { type: 'string', short: 'm' } }, [2, 2], 'modelyard deregister NAME VERSION [-m MSG]');
  const root = await repoRoot(values.repo, log);
  const r = await deregister(root, positionals[0]!, positionals[1]!, { log, ...(values.message ? { message: values.message } : {}) });
  return printWrite(r, values.json, out, `Deregistered ${positionals[0]}@${positionals[1]}`);
}

export async function deprecateCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values, positionals } = parse(args, { message: { type: 'string', short: 'm' } }, [1, 1], 'modelyard deprecate NAME [-m MSG]');
  const root = await repoRoot(values.repo, log);
  const r = await deprecate(root, positionals[0]!, { log, ...(values.message ? { message: values.message } : {}) });
  return printWrite(r, values.json, out, `Deprecated ${positionals[0]}`);
}

export async function historyCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values, positionals } = parse(args, {}, [1, 1], 'modelyard history NAME [--repo DIR] [--json]');
  const root = await repoRoot(values.repo, log);
  const reg: Registry = await loadRegistry(root, { log });
  const m = findModel(reg, positionals[0]!);
  const events = [...(m.state?.events ?? [])].reverse();
  if (values.json) {
    out(JSON.stringify(events.map(eventJson), null, 2) + '\n');
    return 0;
  }
  if (!events.length) {
    out(`${m.name} has no registry events yet. Register a version with 'modelyard register ${m.name}'.\n`);
    return 0;
  }
  const rows = [['DATE', 'ACTION', 'VERSION', 'STAGE', 'BY', 'MESSAGE']];
  for (const e of events) {
    rows.push([iso(e.date).replace('T', ' ').slice(0, 16), e.action, e.version ? (e.version.startsWith('v') ? e.version : e.version.slice(0, 8)) : '-', e.stage ?? '-', e.author, e.message.split('\n')[0] ?? '']);
  }
  out(table(rows));
  return 0;
}
