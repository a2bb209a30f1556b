// The CLI as PID 1 of a container: a signal with no handler does not stop PID 1, so the CLI catches SIGTERM and
// SIGINT from its first module on (src/cli/earlySignals.ts). Each test runs it in a PID namespace of its own
// (util-linux `unshare`, as root: CI and this machine run as root), as containerd runs a container's command.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { cliPath, modelyard } from '../support/cli';
import { freePort } from '../support/net';
import { fixture } from '../support/fixtures';

/** Runs the CLI as PID 1 of a new PID namespace; resolves with the CLI's own pid (as seen from here) and its exit. */
function asPid1(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn('unshare', ['--pid', '--fork', '--kill-child', process.execPath, cliPath(), ...args], { env: { ...process.env, MODELYARD_DEBUG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stderr })));
  const pid = () => Number(execFileSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).trim().split('\n')[0]);
  return { child, exit, pid };
}

const within = <T>(p: Promise<T>, ms: number, what: string) => Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms`)), ms).unref())]);

describe('the CLI as PID 1 (a container): SIGTERM stops it at once, before any command handles it', () => {
  it('runs as root in a PID namespace of its own (what the tests below need)', () => {
    assert.equal(process.getuid?.(), 0, 'these tests need root for unshare --pid');
    assert.equal(execFileSync('unshare', ['--pid', '--fork', 'sh', '-c', 'echo $$'], { encoding: 'utf8' }).trim(), '1');
  });

  /** A black hole: an S3 endpoint that takes the connection and never answers. */
  async function blackHole(): Promise<{ endpoint: string; reached: Promise<void>; close(): void }> {
    const sockets: net.Socket[] = [];
    let connected!: () => void;
    const reached = new Promise<void>((r) => (connected = r));
    const server = net.createServer((s) => {
      sockets.push(s);
      connected();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      endpoint: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
      reached,
      close: () => {
        for (const s of sockets) s.destroy();
        server.close();
      },
    };
  }
  const s3Env = (endpoint: string) => ({ S3_ENDPOINT: endpoint, S3_USE_HTTPS: '0', AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's', AWS_REGION: 'us-east-1' });

  it('serve s3://… still fetching its model (no handler of its own yet): exit 143 on SIGTERM, at once', async () => {
    const hole = await blackHole();
    const run = asPid1(['serve', 's3://models/wake/sha256/abc', '--port', '0', '--log', 'json'], s3Env(hole.endpoint));
    try {
      await within(hole.reached, 30_000, 'serve never reached the endpoint');
      process.kill(run.pid(), 'SIGTERM');
      const r = await within(run.exit, 5000, 'serve ignored SIGTERM as PID 1');
      assert.equal(r.code, 143, r.stderr);
    } finally {
      run.child.kill('SIGKILL');
      hole.close();
    }
  });

  it('fetch-model (the storage initializer) waiting on a silent endpoint: SIGTERM cancels the request, exit 130, no file', async () => {
    const hole = await blackHole();
    const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-pid1-'));
    const run = asPid1(['fetch-model', 's3://models/wake/sha256/abc', dest], s3Env(hole.endpoint));
    try {
      await within(hole.reached, 30_000, 'fetch-model never reached the endpoint');
      process.kill(run.pid(), 'SIGTERM');
      const r = await within(run.exit, 5000, 'fetch-model ignored SIGTERM as PID 1');
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stderr, /modelyard: cancelled\./);
      assert.deepEqual(fs.readdirSync(dest), [], 'nothing written');
    } finally {
      run.child.kill('SIGKILL');
      hole.close();
      fs.rmSync(dest, { recursive: true, force: true });
    }
  });

  it('fetch-model against a closed port: one line naming the endpoint and the errno, exit 1', async () => {
    const port = await freePort();
    const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-pid1-'));
    try {
      const r = modelyard(['fetch-model', 's3://models/wake/sha256/abc', dest], { env: s3Env(`127.0.0.1:${port}`) });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^modelyard: cannot reach the S3 endpoint http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
      assert.doesNotMatch(r.stderr, /internal error|at .*\.js:\d+/);
    } finally {
      fs.rmSync(dest, { recursive: true, force: true });
    }
  });

  it('serve, once up, still drains on SIGTERM (its own handler replaces the early one): exit 0 with its stop line', async () => {
    const run = asPid1(['serve', fixture('hello_deepa.onnx'), '--port', '0', '--log', 'json'], {});
    try {
      let log = '';
      const listening = new Promise<void>((resolve) => run.child.stderr.on('data', (d: Buffer) => ((log += d), / at http:\/\//.test(log) && resolve())));
      await within(listening, 30_000, 'serve never listened');
      process.kill(run.pid(), 'SIGTERM');
      const r = await within(run.exit, 10_000, 'serve ignored SIGTERM as PID 1');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /stopped after 0 requests/);
    } finally {
      run.child.kill('SIGKILL');
    }
  });
});
