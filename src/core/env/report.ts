import os from 'node:os';
import { describeError } from '../errors';
import { findRepositories, type RepositoryInfo } from '../git/repos';
import type { Logger } from '../log';
import { run } from '../util/proc';

/** A part of the report that may fail on its own: either its value, or why it is missing and what to do. */
export type Part<T> = { ok: true; value: T; ms: number } | { ok: false; error: string; hint?: string; ms: number };

export interface ExecutionProvider {
  name: string;
  /** Shipped inside the onnxruntime-node package (as opposed to downloaded separately, like CUDA). */
  bundled: boolean;
}

export interface OnnxRuntimeInfo {
  version: string;
  executionProviders: ExecutionProvider[];
  /** Where the package was loaded from. */
  location: string;
}

export interface HostInfo {
  /** Who produced the report: "VS Code 1.100.0 (Web)", "modelyard CLI". */
  application: string;
  appVersion?: string;
  uiKind?: string;
  remoteName?: string;
}

export interface EnvReport {
  generatedAt: string;
  modelyard: { version: string };
  host: HostInfo;
  node: { version: string; platform: string; arch: string; cpus: number; memoryGiB: number; modules: string };
  onnxruntime: Part<OnnxRuntimeInfo>;
  git: Part<{ version: string; path: string }>;
  gitLfs: Part<{ version: string }>;
  repositories: Part<RepositoryInfo[]>;
}

export interface EnvReportOptions {
  version: string;
  host: HostInfo;
  folders: readonly string[];
  log?: Logger;
  /** Loads onnxruntime-node. Injected so that the caller decides when, and from where, the addon is loaded. */
  loadOnnxRuntime: () => Promise<OnnxRuntimeInfo>;
}

async function part<T>(fn: () => Promise<T>, hint?: (e: unknown) => string | undefined): Promise<Part<T>> {
  const t0 = performance.now();
  try {
    const value = await fn();
    return { ok: true, value, ms: performance.now() - t0 };
  } catch (e) {
    const h = hint?.(e);
    return { ok: false, error: describeError(e), ...(h ? { hint: h } : {}), ms: performance.now() - t0 };
  }
}

/** Everything a user checks when something does not work. Each part fails on its own; the report never throws. */
export async function buildEnvReport(opts: EnvReportOptions): Promise<EnvReport> {
  const log = opts.log;
  const [onnxruntime, git, gitLfs, repositories] = await Promise.all([
    part(opts.loadOnnxRuntime, () => 'Reinstall Modelyard, or run `npm ci` in a development checkout.'),
    part(async () => {
      const r = await run('git', ['--version'], { log, timeoutMs: 10_000 });
      const m = /git version (\S+)/.exec(r.stdout);
      if (!m?.[1]) throw new Error(`unexpected answer from git --version: ${r.stdout.trim()}`);
      return { version: m[1], path: await which('git') };
    }),
    part(
      async () => {
        const r = await run('git', ['lfs', 'version'], { log, timeoutMs: 10_000 });
        const m = /git-lfs\/(\S+)/.exec(r.stdout);
        if (!m?.[1]) throw new Error(`unexpected answer from git lfs version: ${r.stdout.trim()}`);
        return { version: m[1] };
      },
      () => 'Git LFS is needed only for models stored with LFS: install it from your package manager (git-lfs).',
    ),
    part(() => findRepositories(opts.folders, { log })),
  ]);
  return {
    generatedAt: new Date().toISOString(),
    modelyard: { version: opts.version },
    host: opts.host,
    node: {
      version: process.versions.node,
      platform: process.platform,
      arch: process.arch,
      cpus: os.availableParallelism?.() ?? os.cpus().length,
      memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      modules: process.versions.modules ?? '',
    },
    onnxruntime,
    git,
    gitLfs,
    repositories,
  };
}

async function which(cmd: string): Promise<string> {
  const finder = process.platform === 'win32' ? 'where' : 'which';
  try {
    const r = await run(finder, [cmd], { timeoutMs: 5_000 });
    return r.stdout.split(/\r?\n/)[0]?.trim() || cmd;
  } catch {
    return cmd;
  }
}

/**
 * Loads onnxruntime-node with `require` (it is a native addon and is never bundled) and lists its execution
 * providers. Callers keep the import lazy: nothing loads the addon until a report or a run asks for it.
 */
export async function loadOnnxRuntimeInfo(): Promise<OnnxRuntimeInfo> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
  const backends = (ort as unknown as { listSupportedBackends?: () => ExecutionProvider[] }).listSupportedBackends?.() ?? [];
  return {
    version: ort.env.versions.node ?? ort.env.versions.common ?? 'unknown',
    executionProviders: backends.map((b) => ({ name: b.name, bundled: b.bundled })),
    location: require.resolve('onnxruntime-node'),
  };
}

/** The report as Markdown, for the clipboard and for bug reports. */
export function envReportToMarkdown(r: EnvReport): string {
  const show = <T>(p: Part<T>, f: (v: T) => string) => (p.ok ? f(p.value) : `**unavailable**: ${p.error}${p.hint ? ` ${p.hint}` : ''}`);
  const lines = [
    `| Part | Value |`,
    `| --- | --- |`,
    `| Modelyard | ${r.modelyard.version} |`,
    `| Host | ${r.host.application}${r.host.appVersion ? ` ${r.host.appVersion}` : ''}${r.host.uiKind ? ` (${r.host.uiKind}${r.host.remoteName ? `, remote ${r.host.remoteName}` : ''})` : ''} |`,
    `| Node.js | ${r.node.version} (${r.node.platform}-${r.node.arch}, ABI ${r.node.modules}, ${r.node.cpus} CPUs, ${r.node.memoryGiB} GiB) |`,
    `| onnxruntime-node | ${show(r.onnxruntime, (v) => `${v.version}; providers: ${v.executionProviders.map((p) => p.name + (p.bundled ? '' : ' (not bundled)')).join(', ')}`)} |`,
    `| git | ${show(r.git, (v) => v.version)} |`,
    `| git-lfs | ${show(r.gitLfs, (v) => v.version)} |`,
    `| Repositories | ${show(r.repositories, (v) => (v.length ? v.map((x) => `${x.root} (${x.branch ?? (x.detached ? 'detached' : 'no commits')})`).join('<br>') : 'none'))} |`,
  ];
  return lines.join('\n') + '\n';
}
