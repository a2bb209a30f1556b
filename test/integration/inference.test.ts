// Local testing inside the real extension host: the model card, the Playground (run, benchmark, compare, remote),
// Serve Model Locally and the model tests of the Testing view, on the fixture models, with the real inference
// worker. Panels are driven through the same validated message path the webview uses (ContractPanel.receive).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import type { PlaygroundToWebview, RunView, CompareView } from '../../src/shared/protocol/playground';
import type { PlaygroundPanel } from '../../src/extension/playground/playgroundPanel';
import { gitUri } from '../../src/extension/registry/gitContent';
import { activateModelyard, waitFor, workspaceRoot } from './helpers';

const model = (rel: string) => vscode.Uri.file(path.join(workspaceRoot(), rel));
const WAKE = 'models/wakeword/hello_deepa.onnx';
const VAD = 'models/vad/silero_vad_v5.onnx';
const CLS = 'models/ocr/ch_ppocr_mobile_v2.0_cls_infer.onnx';

/** Collects what a panel sends its webview, and waits for a message of a type. */
function follow(p: PlaygroundPanel) {
  const seen: PlaygroundToWebview[] = [];
  const sub = p.onDidPost((m) => seen.push(m));
  return {
    seen,
    dispose: () => sub.dispose(),
    next: <T extends PlaygroundToWebview['type']>(type: T, timeoutMs = 60_000, from = seen.length) =>
      waitFor(`a '${type}' message`, () => {
        const error = seen.slice(from).find((m) => m.type === 'error' || m.type === 'sessionError');
        if (error) throw new Error(`the panel reported ${JSON.stringify(error)}`);
        return seen.slice(from).find((m): m is Extract<PlaygroundToWebview, { type: T }> => m.type === type);
      }, timeoutMs),
  };
}

const OPTIONS = { intraOpThreads: 1, graphOptimizationLevel: 'all', executionProvider: 'cpu' } as const;
const random = (seed: number) => ({ kind: 'random', seed, distribution: 'uniform', min: -1, max: 1, mean: 0, std: 1 }) as const;

async function openPlayground(rel: string): Promise<{ panel: PlaygroundPanel; f: ReturnType<typeof follow> }> {
  const panel = (await vscode.commands.executeCommand<PlaygroundPanel>('modelyard.playground.open', model(rel)))!;
  const api = await activateModelyard();
  assert.ok(api.playgrounds().includes(panel), 'the command returns the open panel');
  const f = follow(panel);
  // The real webview loads and says 'ready'; the session arrives after the model loaded in the worker.
  await waitFor('the session', () => panel.sessionInfo, 60_000);
  return { panel, f };
}

describe('Local testing: card, Playground, serve, model tests', function () {
  this.timeout(180_000);
  after(async () => {
    const api = await activateModelyard();
    await api.serve.stop();
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('opens an .onnx file as a model card with its summary', async () => {
    await vscode.commands.executeCommand('vscode.open', model(WAKE));
    const card = await waitFor('the card', async () => (await activateModelyard()).modelCards.get(model(WAKE).toString()));
    const s = await waitFor('the summary', () => card.summary ?? (card.error ? Promise.reject(new Error(card.error)) : undefined));
    assert.equal(s.nodeCount, 29);
    assert.equal(s.parameters.count, 78_053);
    assert.deepEqual(s.inputs.map((i) => [i.name, i.dtype, i.shape]), [['onnx::Flatten_0', 'float32', [1, 25, 96]]]);
    assert.equal(s.sha256, '67ac357640e53b9d4713433a8ab48be4333f7cb21d6816406be7660ebe6d7614');
    assert.ok(s.ops.some((o) => o.op === 'Gemm' && o.count === 3));
  });

  it('opens a version read from git as a card, and a corrupt file as a clear error', async () => {
    const root = workspaceRoot();
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const uri = gitUri(root, head, VAD, `vad@${head.slice(0, 8)}`);
    await vscode.commands.executeCommand('vscode.open', uri);
    const card = await waitFor('the card of a version', async () => (await activateModelyard()).modelCards.get(uri.toString()));
    const s = await waitFor('its summary', () => card.summary ?? (card.error ? Promise.reject(new Error(card.error)) : undefined));
    assert.equal(s.subgraphs, 50, 'silero v5 holds its weights in If branches');

    const bad = path.join(root, 'broken.onnx');
    fs.writeFileSync(bad, fs.readFileSync(path.join(root, WAKE)).subarray(0, 5000));
    try {
      await vscode.commands.executeCommand('vscode.open', vscode.Uri.file(bad));
      const broken = await waitFor('the card of a truncated file', async () => (await activateModelyard()).modelCards.get(vscode.Uri.file(bad).toString()));
      const error = await waitFor('its error', () => broken.error);
      assert.match(error, /broken\.onnx/);
      assert.match(error, /truncat|ends/i);
      assert.equal(broken.summary, undefined);
    } finally {
      fs.rmSync(bad, { force: true });
    }
  });

  it('runs a model in the Playground, in the inference worker, and keeps the extension host out of onnxruntime', async () => {
    const api = await activateModelyard();
    const { panel, f } = await openPlayground(WAKE);
    const from = f.seen.length;
    await panel.receive({ type: 'run', inputs: { 'onnx::Flatten_0': { shape: [1, 25, 96], source: random(3) } }, options: OPTIONS });
    const run = (await f.next('run', 60_000, from)).run as RunView;
    const out = run.outputs[0]!;
    assert.equal(out.name, '39');
    assert.deepEqual(out.shape, [1, 1]);
    assert.ok(out.stats && out.stats.min! >= 0 && out.stats.max! <= 1, 'a sigmoid score');
    const host = await api.inference.get();
    assert.ok(host.pid && host.pid !== process.pid, 'onnxruntime runs in its own process');
    assert.ok(!Object.keys(require.cache).some((k) => k.includes(`${path.sep}onnxruntime-node${path.sep}`) && !k.endsWith('package.json')), 'onnxruntime-node is not loaded in the extension host');
    f.dispose();
  });

  it('refuses an input of the wrong shape before onnxruntime, naming the input and the expected shape', async () => {
    const { panel, f } = await openPlayground(WAKE);
    const from = f.seen.length;
    await panel.receive({ type: 'run', inputs: { 'onnx::Flatten_0': { shape: [1, 24, 96], source: random(1) } }, options: OPTIONS });
    const e = await waitFor('the error', () => f.seen.slice(from).find((m) => m.type === 'error'));
    assert.equal(e.type, 'error');
    if (e.type === 'error') {
      assert.match(e.error.message, /onnx::Flatten_0/);
      assert.match(e.error.message, /\[1,\s?25,\s?96\]/);
    }
    f.dispose();
  });

  it('feeds a WAV file to the voice activity detector and survives a worker killed mid-way', async () => {
    const api = await activateModelyard();
    const { panel, f } = await openPlayground(VAD);
    const wav = path.join(workspaceRoot(), 'samples', 'voiced-32ms.wav');
    const inputs = {
      input: { shape: [1, 512], source: { kind: 'wav', path: wav } },
      state: { shape: [2, 1, 128], source: { kind: 'zeros' } },
      sr: { shape: [], source: { kind: 'json', text: '16000' } },
    };
    let from = f.seen.length;
    await panel.receive({ type: 'run', inputs, options: OPTIONS });
    const run = (await f.next('run', 60_000, from)).run as RunView;
    const p = run.outputs.find((o) => o.name === 'output')!;
    assert.ok(p.stats!.min! >= 0 && p.stats!.max! <= 1);
    // A native crash of the worker: the next run starts a new one, the editor never notices.
    const host = await api.inference.get();
    const pid = host.pid!;
    process.kill(pid, 'SIGKILL');
    await waitFor('the worker to die', () => {
      try {
        process.kill(pid, 0);
        return undefined;
      } catch {
        return true;
      }
    });
    from = f.seen.length;
    await panel.receive({ type: 'run', inputs, options: OPTIONS });
    const again = (await f.next('run', 60_000, from)).run as RunView;
    assert.deepEqual(again.outputs.find((o) => o.name === 'output')!.first, p.first, 'same answer from a new worker');
    assert.notEqual(host.pid, pid);
    f.dispose();
  });

  it('benchmarks, with a thread sweep, in the worker', async () => {
    const { panel, f } = await openPlayground(WAKE);
    const from = f.seen.length;
    await panel.receive({ type: 'benchmark', inputs: { 'onnx::Flatten_0': { shape: [1, 25, 96], source: random(1) } }, options: OPTIONS, warmup: 5, runs: 50, threads: [1, 2] });
    const b = await f.next('benchmark', 120_000, from);
    assert.equal(b.type, 'benchmark');
    if (b.type === 'benchmark') {
      assert.deepEqual(b.results.map((r) => [r.threads, r.runs]), [[1, 50], [2, 50]]);
      for (const r of b.results) {
        assert.ok(r.p50 > 0 && r.p50 <= r.p90 && r.p90 <= r.p99);
        assert.equal(r.histogram.reduce((a, h) => a + h.count, 0), 50);
      }
    }
    f.dispose();
  });

  it('compares a model with another file on the same inputs', async () => {
    const { panel, f } = await openPlayground(CLS);
    const copy = path.join(workspaceRoot(), 'cls-copy.onnx');
    fs.copyFileSync(path.join(workspaceRoot(), CLS), copy);
    try {
      await panel.setCompareTarget({ uri: vscode.Uri.file(copy), label: 'cls-copy.onnx', detail: 'cls-copy.onnx' });
      const from = f.seen.length;
      await panel.receive({ type: 'compare', inputs: { x: { shape: [1, 3, 48, 192], source: random(5) } }, options: OPTIONS, tolerances: { atol: 1e-5, rtol: 1e-4, minCosine: 0.9999 } });
      const c = (await f.next('compare', 60_000, from)) as { result: CompareView };
      assert.equal(c.result.verdict.ok, true, c.result.verdict.reasons.join('; '));
      assert.equal(c.result.outputs[0]!.maxAbs, 0);
      assert.equal(c.result.outputs[0]!.top1Agreement, 1);
    } finally {
      fs.rmSync(copy, { force: true });
    }
    f.dispose();
  });

  it('serves a model locally over the Open Inference Protocol and checks its answer against a local run', async () => {
    const api = await activateModelyard();
    const url = (await vscode.commands.executeCommand<string>('modelyard.serve.start', model(WAKE)))!;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const served = api.serve.running.find((s) => s.url === url)!;
    assert.ok((await fetch(`${url}/v2/health/ready`)).ok);
    const meta = (await (await fetch(`${url}/v2/models/${served.name}`)).json()) as { inputs: { name: string; datatype: string; shape: number[] }[] };
    assert.deepEqual(meta.inputs, [{ name: 'onnx::Flatten_0', datatype: 'FP32', shape: [1, 25, 96] }]);
    const { panel, f } = await openPlayground(WAKE);
    const from = f.seen.length;
    await panel.receive({ type: 'remote', url, model: served.name, inputs: { 'onnx::Flatten_0': { shape: [1, 25, 96], source: random(9) } }, options: OPTIONS });
    const r = (await f.next('remote', 60_000, from)) as { result: CompareView };
    assert.equal(r.result.verdict.ok, true, r.result.verdict.reasons.join('; '));
    f.dispose();
    await vscode.commands.executeCommand('modelyard.serve.stop');
    await waitFor('the server to stop', () => (api.serve.running.length ? undefined : true));
    await assert.rejects(fetch(`${url}/v2/health/live`));
  });

  it('finds the model tests and runs them in the Testing view', async () => {
    const api = await activateModelyard();
    await api.modelTests.discover();
    const files: string[] = [];
    api.modelTests.controller.items.forEach((i) => files.push(i.label));
    assert.deepEqual(files.sort(), ['text-direction', 'voice-activity', 'wakeword']);
    await api.modelTests.runTests();
    const results = [...api.modelTests.results.values()];
    assert.equal(results.length, 5);
    assert.deepEqual(results.filter((r) => r.status !== 'passed').map((r) => `${r.name}: ${r.message ?? r.failures.map((x) => x.message).join('; ')}`), []);
  });

  it('reports a failing model test with the difference', async () => {
    const api = await activateModelyard();
    const file = path.join(workspaceRoot(), 'tests', 'failing.modeltest.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        model: `../${WAKE}`,
        tests: [{ name: 'impossible range', inputs: { 'onnx::Flatten_0': { random: { seed: 1 } } }, expected: { 39: { range: [2, 3] } } }],
      }),
    );
    try {
      const item = await api.modelTests.update(vscode.Uri.file(file));
      await api.modelTests.runTests([item]);
      const r = await waitFor('the result', () => api.modelTests.results.get(`${vscode.Uri.file(file).toString()}#impossible range`));
      assert.equal(r.status, 'failed');
      assert.match(r.failures[0]!.message!, /outside the expected range \[2, 3\]/);
    } finally {
      fs.rmSync(file, { force: true });
      api.modelTests.controller.items.delete(vscode.Uri.file(file).toString());
    }
  });
});
