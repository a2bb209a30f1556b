// Starts a real VS Code (code-server: VS Code's server and workbench) for tests, the demo and benchmarks, with all
// its state in a throw-away folder. See ../shared/REFERENCE.md §1 for why code-server, and README "Testing".
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ensureCodeServer } from './testenv.mjs';

export const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const USER_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'chat.disableAIFeatures': true,
  'update.mode': 'none',
  'telemetry.telemetryLevel': 'off',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'security.workspace.trust.enabled': false,
  'git.openRepositoryInParentFolders': 'never',
  'window.commandCenter': false,
  'workbench.colorTheme': 'Default Dark Modern',
};

/**
 * Starts code-server on a free loopback port. Returns { url, port, dirs, env, stop, waitForExit }.
 * options: { extensionsDir?, installVsix?, settings?, log?: (line) => void, keepState?: dir }
 */
export async function startCodeServer(options = {}) {
  const cs = ensureCodeServer();
  const base = options.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-vscode-'));
  const dirs = {
    base,
    home: path.join(base, 'home'),
    userData: path.join(base, 'user-data'),
    extensions: options.extensionsDir ?? path.join(base, 'extensions'),
    tmp: path.join(base, 'tmp'),
  };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  const settingsDir = path.join(dirs.userData, 'User');
  fs.mkdirSync(settingsDir, { recursive: true });
  const settingsFile = path.join(settingsDir, 'settings.json');
  if (!fs.existsSync(settingsFile)) {
    fs.writeFileSync(settingsFile, JSON.stringify({ ...USER_SETTINGS, ...(options.settings ?? {}) }, null, 2));
  }
  const config = path.join(base, 'config.yaml');
  fs.writeFileSync(config, 'auth: none\ncert: false\n');
  const env = {
    ...process.env,
    ...(options.env ?? {}),
    HOME: dirs.home,
    XDG_CONFIG_HOME: path.join(dirs.home, '.config'),
    XDG_DATA_HOME: path.join(dirs.home, '.local', 'share'),
    XDG_CACHE_HOME: path.join(dirs.home, '.cache'),
    TMPDIR: dirs.tmp,
    PATH: `${cs.nodeBin}${path.delimiter}${process.env.PATH}`,
    // git in the extension host needs an identity, even though HOME is a fresh folder.
    GIT_AUTHOR_NAME: process.env.GIT_AUTHOR_NAME ?? 'Modelyard Test',
    GIT_AUTHOR_EMAIL: process.env.GIT_AUTHOR_EMAIL ?? 'test@modelyard.invalid',
    GIT_COMMITTER_NAME: process.env.GIT_COMMITTER_NAME ?? 'Modelyard Test',
    GIT_COMMITTER_EMAIL: process.env.GIT_COMMITTER_EMAIL ?? 'test@modelyard.invalid',
  };
  delete env.VSCODE_IPC_HOOK_CLI;
  delete env.ELECTRON_RUN_AS_NODE;
  const common = ['--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions, '--config', config];
  for (const vsix of options.installVsix ?? []) {
    await runToEnd(cs.node, [cs.codeServerEntry, ...common, '--install-extension', vsix], env, options.log);
  }
  const port = options.port ?? (await freePort());
  const args = [
    cs.codeServerEntry,
    '--auth', 'none',
    '--bind-addr', `127.0.0.1:${port}`,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--disable-proxy',
    '--ignore-last-opened',
    ...common,
  ];
  if (options.smokeTestDriver !== false) args.push('--vscode-option', 'enable-smoke-test-driver');
  const child = spawn(cs.node, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: process.platform !== 'win32' });
  const lines = [];
  const onData = (buf) => {
    for (const line of buf.toString().split('\n')) {
      if (!line.trim()) continue;
      lines.push(line);
      options.log?.(line);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig)));
  const url = `http://127.0.0.1:${port}/`;
  await waitForHttp(url, 60_000, exited, lines);
  let stopped = false;
  async function stop() {
    if (stopped) return;
    stopped = true;
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      child.kill('SIGTERM');
    }
    const t = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 5000);
    await exited;
    clearTimeout(t);
    if (!options.stateDir && !options.keep) fs.rmSync(base, { recursive: true, force: true, maxRetries: 3 });
  }
  return { url, port, dirs, env, child, stop, exited, lines, node: cs.node, entry: cs.codeServerEntry };
}

async function waitForHttp(url, timeoutMs, exited, lines) {
  const deadline = Date.now() + timeoutMs;
  let done = false;
  exited.then(() => (done = true));
  while (Date.now() < deadline) {
    if (done) throw new Error(`code-server exited before it was ready:\n${lines.slice(-20).join('\n')}`);
    try {
      const r = await fetch(url + 'healthz');
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`code-server did not answer on ${url} within ${timeoutMs / 1000} s:\n${lines.slice(-20).join('\n')}`);
}

function runToEnd(cmd, args, env, log) {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (b) => (out += b));
    c.stderr.on('data', (b) => (out += b));
    c.on('exit', (code) => {
      log?.(out.trim());
      if (code === 0) resolve(out);
      else reject(new Error(`${path.basename(args[0])} ${args.slice(1).join(' ')} failed (${code}):\n${out}`));
    });
  });
}

/** The workbench URL that opens `folder` with the extension at `extensionPath` under development and, optionally, runs a test suite. */
export function workbenchUrl(server, { folder, extensionPath, testsPath }) {
  const authority = `127.0.0.1:${server.port}`;
  const payload = [];
  if (extensionPath) payload.push(['extensionDevelopmentPath', `vscode-remote://${authority}${extensionPath}`]);
  if (testsPath) payload.push(['extensionTestsPath', `vscode-remote://${authority}${testsPath}`]);
  const q = new URLSearchParams();
  if (folder) q.set('folder', folder);
  if (payload.length) q.set('payload', JSON.stringify(payload));
  return `${server.url}?${q.toString()}`;
}

/** Chromium through playwright-core: Debian's binary, never a downloaded one. */
export async function launchChromium(executablePath) {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}
