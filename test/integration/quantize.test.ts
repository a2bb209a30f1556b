// Quantize Model… inside the real extension host: the command on a registry version opens the panel, Auto runs in
// the `modelyard quantize` child process with the real inference worker, the report arrives, one click registers
// the result with its lineage, and the registry shows the new model. Also Cancel (nothing left behind) and an
// already-quantized model (a clear error). Panels are driven through the validated message path (receive).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import type { QuantizePanel } from '../../src/extension/quantize/quantizePanel';
import { gitUri } from '../../src/extension/registry/gitContent';
import type { QuantizeOptionsView, QuantizeToWebview } from '../../src/shared/protocol/quantize';
import { activateModelyard, waitFor, workspaceRoot } from './helpers';

const WAKE = 'models/wakeword/hello_deepa.onnx';
const CLS = 'models/ocr/ch_ppocr_mobile_v2.0_cls_infer.onnx';
const git = (args: string[]) => execFileSync('git', args, { cwd: workspaceRoot(), encoding: 'utf8' }).trim();

const OPTIONS: QuantizeOptionsView = {
  mode: 'auto',
  perChannel: true,
  exclude: '',
  blockSize: 32,
  symmetric: true,
  method: 'minmax',
  sensitivity: true,
  keepIoTypes: true,
  calibration: '',
};

function follow(p: QuantizePanel) {
  const seen: QuantizeToWebview[] = [];
  const sub = p.onDidPost((m) => seen.push(m));
  return {
    seen,
    dispose: () => sub.dispose(),
    next: <T extends QuantizeToWebview['type']>(types: T[], timeoutMs = 120_000, from = seen.length) =>
      waitFor(`a ${types.join(' or ')} message`, () => seen.slice(from).find((m): m is Extract<QuantizeToWebview, { type: T }> => (types as string[]).includes(m.type)), timeoutMs),
  };
}

describe('Quantization: the command, the panel, the report, one-click registration', function () {
  this.timeout(300_000);
  let head: string;
  const created: string[] = [];

  before(() => {
    head = git(['rev-parse', 'HEAD']);
    git(['tag', '-a', '-m', 'Wake word for the integration suite', 'hello_deepa@v1.0.0', head]);
  });

  after(async () => {
    // Leave the workspace as the other suites expect it: no new tags, commits or files.
    for (const t of git(['tag', '--list', 'hello_deepa*']).split('\n').filter(Boolean)) git(['tag', '-d', t]);
    git(['reset', '-q', '--hard', head]);
    for (const f of created) fs.rmSync(f, { force: true });
    (await activateModelyard()).registries.invalidate(workspaceRoot());
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('quantizes a registry version with Auto, reports, and registers the result with its lineage', async () => {
    const root = workspaceRoot();
    const uri = gitUri(root, head, WAKE, 'hello_deepa@v1.0.0');
    const panel = (await vscode.commands.executeCommand<QuantizePanel>('modelyard.model.quantize', uri))!;
    const api = await activateModelyard();
    assert.ok(api.quantizePanels().includes(panel), 'the command returns the open panel');
    const f = follow(panel);
    await panel.receive({ type: 'start', options: OPTIONS });
    const done = await f.next(['report', 'error', 'cancelled'], 240_000, 0);
    assert.equal(done.type, 'report', JSON.stringify(done));
    const r = (done as Extract<QuantizeToWebview, { type: 'report' }>).report;
    created.push(r.output.file);
    assert.equal(r.requestedMode, 'auto');
    assert.equal(r.profile.kind, 'matmul-heavy', 'a Gemm MLP');
    assert.ok(r.auto && r.auto.candidates.length >= 2, 'Auto tried several forms');
    assert.ok(r.verdict.pass, `the chosen form passes: ${r.verdict.reasons.join('; ')}`);
    assert.ok(r.sizeRatio < 0.6, `smaller: ×${r.sizeRatio}`);
    assert.ok(fs.existsSync(r.output.file), 'written beside the original');
    assert.equal(path.dirname(r.output.file), path.join(root, path.dirname(WAKE)));
    assert.ok(f.seen.some((m) => m.type === 'progress'), 'progress was shown');
    assert.deepEqual(fs.readdirSync(path.dirname(r.output.file)).filter((n) => n.endsWith('.tmp')), [], 'no temporary file left');

    const mark = f.seen.length;
    await panel.receive({ type: 'register', as: 'model', name: 'hello_deepa-quant' });
    const reg = await f.next(['registered', 'error'], 60_000, mark);
    assert.equal(reg.type, 'registered', JSON.stringify(reg));
    const { tag, version } = reg as Extract<QuantizeToWebview, { type: 'registered' }>;
    assert.equal(version, 'v1.0.0', 'the version follows the source version');
    const message = git(['tag', '-l', '--format=%(contents)', tag]);
    assert.match(message, /quantized-from: hello_deepa@v1\.0\.0 \(commit [0-9a-f]{12}\)/);
    assert.match(message, new RegExp(`mode: ${r.mode}`));
    assert.match(message, /fidelity: worst cosine/);
    assert.match(fs.readFileSync(path.join(root, 'dvc.yaml'), 'utf8'), /hello_deepa-quant:\s+path: models\/wakeword\/hello_deepa\.[\w-]+\.onnx/);
    assert.equal(git(['status', '--porcelain', '--', 'dvc.yaml', path.relative(root, r.output.file)]), '', 'the file and its declaration are committed');
    const model = await waitFor('the new model in the registry', async () => (await api.registries.registry(root)).models.find((m) => m.name === 'hello_deepa-quant' && m.state?.latest));
    assert.equal(model.state!.latest!.version, 'v1.0.0');

    // Compare in Playground: the source and the quantized file side by side.
    await panel.receive({ type: 'compare' });
    const pg = await waitFor('a Playground comparing the two', () => api.playgrounds().find((p) => p.target.uri.toString() === uri.toString()));
    assert.ok(pg, 'the Playground of the source version is open on its Compare tab');

    // The same result as the next version of hello_deepa itself: a commit only its tag points at.
    const headBefore = git(['rev-parse', 'HEAD']);
    const mark2 = f.seen.length;
    await panel.receive({ type: 'register', as: 'version', name: 'v1.0.1' });
    const reg2 = await f.next(['registered', 'error'], 60_000, mark2);
    assert.equal(reg2.type, 'registered', JSON.stringify(reg2));
    assert.equal((reg2 as Extract<QuantizeToWebview, { type: 'registered' }>).tag, 'hello_deepa@v1.0.1');
    assert.equal(git(['rev-parse', 'HEAD']), headBefore, 'the branch did not move');
    const atVersion = execFileSync('git', ['show', `hello_deepa@v1.0.1:${WAKE}`], { cwd: root, maxBuffer: 1 << 26 });
    assert.ok(atVersion.equals(fs.readFileSync(r.output.file)), 'the version holds the quantized bytes');
    f.dispose();
  });

  it('refuses an already-quantized model with a clear error, and writes nothing', async () => {
    const root = workspaceRoot();
    const quantized = fs.readdirSync(path.join(root, 'models/wakeword')).find((n) => /^hello_deepa\.[\w-]+\.onnx$/.test(n));
    assert.ok(quantized, 'the first test wrote a quantized model');
    const panel = (await vscode.commands.executeCommand<QuantizePanel>('modelyard.model.quantize', vscode.Uri.file(path.join(root, 'models/wakeword', quantized))))!;
    const f = follow(panel);
    const before = fs.readdirSync(path.join(root, 'models/wakeword')).sort();
    await panel.receive({ type: 'start', options: { ...OPTIONS, mode: 'int8-dynamic' } });
    const done = await f.next(['report', 'error', 'cancelled'], 120_000, 0);
    assert.equal(done.type, 'error', JSON.stringify(done));
    const e = done as Extract<QuantizeToWebview, { type: 'error' }>;
    assert.match(e.message, /already quantized/);
    assert.match(e.hint ?? '', /float original/);
    assert.deepEqual(fs.readdirSync(path.join(root, 'models/wakeword')).sort(), before);
    f.dispose();
  });

  it('cancels a running quantization and leaves no file behind', async () => {
    const root = workspaceRoot();
    const panel = (await vscode.commands.executeCommand<QuantizePanel>('modelyard.model.quantize', vscode.Uri.file(path.join(root, CLS))))!;
    const f = follow(panel);
    const before = fs.readdirSync(path.join(root, 'models/ocr')).sort();
    const run = panel.receive({ type: 'start', options: { ...OPTIONS, mode: 'int8-static' } });
    await f.next(['progress'], 60_000, 0);
    await panel.receive({ type: 'cancel' });
    await run;
    const done = await f.next(['report', 'error', 'cancelled'], 60_000, 0);
    assert.equal(done.type, 'cancelled', JSON.stringify(done));
    assert.equal(panel.running, false);
    assert.deepEqual(fs.readdirSync(path.join(root, 'models/ocr')).sort(), before, 'no output, no temporary file');
    f.dispose();
  });
});
