// The CLI's one event channel (src/shared/cli/events.ts) as the editor reads it: MODELYARD_EVENTS=fd:3 and a pipe on
// file descriptor 3, every line a valid event; MODELYARD_EVENTS=stderr for scripts; failures as an error event with
// message and hint apart.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { parseCliEvent, type CliEvent } from '../../src/shared/cli/events';
import { cliPath, modelyard } from '../support/cli';
import { fixture } from '../support/fixtures';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-events-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs the CLI as the editor does, and collects the events of file descriptor 3 (each must pass the schema). */
function withChannel(args: string[], onEvent: (e: CliEvent, child: ReturnType<typeof spawn>) => void = () => undefined) {
  const child = spawn(process.execPath, [cliPath(), ...args], { env: { ...process.env, MODELYARD_EVENTS: 'fd:3', MODELYARD_DEBUG: '' }, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  const events: CliEvent[] = [];
  const invalid: string[] = [];
  readline.createInterface({ input: child.stdio[3] as Readable }).on('line', (line) => {
    const v = parseCliEvent(line);
    if (!v.ok) invalid.push(`${line}: ${v.error}`);
    else {
      events.push(v.value);
      onEvent(v.value, child);
    }
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  return new Promise<{ code: number | null; events: CliEvent[]; invalid: string[]; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, events, invalid, stdout, stderr })),
  );
}

describe('the CLI event channel', () => {
  it('serve reports listening, requests and stopped on fd 3, and keeps stdout for people', async () => {
    let url = '';
    const r = await withChannel(['serve', fixture('hello_deepa.onnx'), '--port', '0', '--name', 'hello'], (e, child) => {
      if (e.event === 'listening') {
        url = e.url;
        void fetch(`${url}/v2/health/ready`).then(async () => {
          await new Promise((res) => setTimeout(res, 1100));
          child.kill('SIGTERM');
        });
      }
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.invalid, []);
    assert.deepEqual(
      r.events.map((e) => e.event).filter((e, i, a) => a.indexOf(e) === i),
      ['listening', 'request', 'stopped'],
    );
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(r.stdout, /^Serving .* as 'hello'/m, 'stdout keeps the human-readable text');
    assert.doesNotMatch(r.stdout, /"event"/, 'no event on stdout without --json');
  });

  it('a failure is one error event with the message and hint apart, and exit 1', async () => {
    const r = await withChannel(['inspect', path.join(tmp, 'missing.onnx')]);
    assert.equal(r.code, 1);
    assert.deepEqual(r.invalid, []);
    assert.equal(r.events.length, 1);
    const e = r.events[0]!;
    assert.equal(e.event, 'error');
    assert.ok(e.event === 'error' && /missing\.onnx does not exist/.test(e.message) && e.hint === 'Check the path, or give a registry reference (name, name@v1.2.3, name#stage).', JSON.stringify(e));
    assert.ok(e.event === 'error' && !e.cancelled && !e.internal);
  });

  it('quantize reports progress on fd 3, and Ctrl-C ends it with a cancelled error event and exit 130', async () => {
    let stopped = false;
    const r = await withChannel(['quantize', fixture('hello_deepa.onnx'), '--mode', 'auto', '-o', path.join(tmp, 'q.onnx')], (e, child) => {
      if (e.event === 'progress' && !stopped) {
        stopped = true;
        child.kill('SIGINT');
      }
    });
    assert.equal(r.code, 130, r.stderr);
    assert.deepEqual(r.invalid, []);
    assert.equal(r.events[0]!.event, 'progress');
    const last = r.events.at(-1)!;
    assert.ok(last.event === 'error' && last.cancelled === true, JSON.stringify(last));
    assert.ok(!fs.existsSync(path.join(tmp, 'q.onnx')), 'no output');
  });

  it('MODELYARD_EVENTS=stderr writes the same lines to standard error; a bad destination is named', () => {
    const r = modelyard(['inspect', path.join(tmp, 'missing.onnx')], { env: { ...process.env, MODELYARD_EVENTS: 'stderr' } });
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('{'));
    assert.equal(lines.length, 1, r.stderr);
    const v = parseCliEvent(lines[0]!);
    assert.ok(v.ok && v.value.event === 'error');
    const bad = modelyard(['inspect', path.join(tmp, 'missing.onnx')], { env: { ...process.env, MODELYARD_EVENTS: 'fd:1' } });
    assert.match(bad.stderr, /MODELYARD_EVENTS='fd:1' is not a destination/);
  });

  it('drops what is not an event of the contract', () => {
    assert.equal(parseCliEvent('not json').ok, false);
    assert.equal(parseCliEvent('{"event":"progress"}').ok, false);
    assert.equal(parseCliEvent('{"event":"unknown","message":"x"}').ok, false);
    assert.equal(parseCliEvent('{"event":"progress","message":"x","fraction":2}').ok, false);
    assert.ok(parseCliEvent('{"event":"progress","message":"x","fraction":0.5}').ok);
  });
});
