// Builds the git repositories the tests and the demo open: real git, real fixture models.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ensureFixtures, manifest } from './fixtures.mjs';

const IDENTITY = {
  GIT_AUTHOR_NAME: 'Ada Modeler',
  GIT_AUTHOR_EMAIL: 'ada@example.com',
  GIT_COMMITTER_NAME: 'Ada Modeler',
  GIT_COMMITTER_EMAIL: 'ada@example.com',
};

export function git(cwd, args, env = {}) {
  return execFileSync('git', args, { cwd, env: { ...process.env, ...IDENTITY, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Where each fixture lives in the workspaces, by file name. */
export const LAYOUT = {
  'hello_deepa.onnx': 'models/wakeword',
  'ch_ppocr_mobile_v2.0_cls_infer.onnx': 'models/ocr',
  'ch_PP-OCRv4_det_infer.onnx': 'models/ocr',
  'ch_PP-OCRv4_rec_infer.onnx': 'models/ocr',
  'silero_vad_legacy.onnx': 'models/vad',
  'silero_vad_v5.onnx': 'models/vad',
};

/** A little-endian 16-bit PCM mono WAV of `samples` (floats in [-1, 1]). */
function wav(samples, rate) {
  const b = Buffer.alloc(44 + samples.length * 2);
  b.write('RIFF', 0);
  b.writeUInt32LE(36 + samples.length * 2, 4);
  b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36);
  b.writeUInt32LE(samples.length * 2, 40);
  samples.forEach((v, i) => b.writeInt16LE(Math.round(Math.max(-1, Math.min(1, v)) * 32767), 44 + i * 2));
  return b;
}

/**
 * Sample inputs for the Playground and the model tests: a voiced sound (a 140 Hz pulse train through two formant
 * resonances, 32 ms at 16 kHz, the length Silero VAD takes) and a 192×48 picture of dark strokes on paper.
 */
export async function writeSamples(dir) {
  fs.mkdirSync(path.join(dir, 'samples'), { recursive: true });
  const rate = 16000;
  const n = 512;
  const voiced = Array.from({ length: n }, (_, i) => {
    const t = i / rate;
    const f0 = 140;
    let v = 0;
    for (let h = 1; h <= 20; h++) v += Math.sin(2 * Math.PI * f0 * h * t) * Math.exp(-(((f0 * h - 700) / 250) ** 2)) + 0.5 * Math.sin(2 * Math.PI * f0 * h * t) * Math.exp(-(((f0 * h - 1200) / 300) ** 2));
    return 0.3 * v;
  });
  fs.writeFileSync(path.join(dir, 'samples', 'voiced-32ms.wav'), wav(voiced, rate));
  const { PNG } = await import('pngjs');
  const png = new PNG({ width: 192, height: 48 });
  for (let y = 0; y < 48; y++) {
    for (let x = 0; x < 192; x++) {
      const stroke = y > 12 && y < 36 && (x % 24 < 4 || (y > 22 && y < 26 && x % 48 < 30));
      const v = stroke ? 30 : 235;
      const o = (y * 192 + x) * 4;
      png.data[o] = v;
      png.data[o + 1] = v;
      png.data[o + 2] = v;
      png.data[o + 3] = 255;
    }
  }
  fs.writeFileSync(path.join(dir, 'samples', 'text-line.png'), PNG.sync.write(png));
}

/** Model tests (*.modeltest.json) for the fixtures, by the paths or registry references given. */
export function writeModelTests(dir, models) {
  fs.mkdirSync(path.join(dir, 'tests'), { recursive: true });
  const write = (name, doc) => fs.writeFileSync(path.join(dir, 'tests', `${name}.modeltest.json`), JSON.stringify(doc, null, 2) + '\n');
  write('wakeword', {
    model: models.wakeword,
    tests: [
      { name: 'a score per window', inputs: { 'onnx::Flatten_0': { random: { seed: 1 } } }, expected: { 39: { shape: [1, 1] } } },
      { name: 'scores are probabilities', inputs: { 'onnx::Flatten_0': { random: { seed: 2, min: -3, max: 3 } } }, expected: { 39: { range: [0, 1] } } },
    ],
  });
  write('voice-activity', {
    model: models.vad,
    tests: [
      {
        name: 'voiced audio gives a speech probability',
        inputs: { input: { wav: '../samples/voiced-32ms.wav' }, state: { zeros: true }, sr: { value: 16000 } },
        shapes: { input: [1, 512], state: [2, 1, 128] },
        expected: { output: { range: [0, 1] }, stateN: { shape: [2, 1, 128] } },
      },
      {
        name: 'silence is not speech',
        inputs: { input: { zeros: true }, state: { zeros: true }, sr: { value: 16000 } },
        shapes: { input: [1, 512], state: [2, 1, 128] },
        expected: { output: { range: [0, 0.5] } },
      },
    ],
  });
  write('text-direction', {
    model: models.direction,
    tests: [
      {
        name: 'a text line has two direction scores',
        inputs: { x: { image: '../samples/text-line.png', scale: 0.00392156862745098, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] } },
        shapes: { x: [1, 3, 48, 192] },
        expected: { 'softmax_0.tmp_0': { shape: [1, 2] } },
      },
    ],
  });
}

/** The integration suite's workspace: a git repository with every fixture model, and a decoy under node_modules. */
export function makeTestWorkspace(dir) {
  const fixtures = ensureFixtures({ quiet: true });
  fs.mkdirSync(dir, { recursive: true });
  git(dir, ['init', '-q', '-b', 'main']);
  for (const m of manifest.models) {
    const to = path.join(dir, LAYOUT[m.file], m.file);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(path.join(fixtures, m.file), to);
  }
  fs.mkdirSync(path.join(dir, 'node_modules', 'dep'), { recursive: true });
  fs.copyFileSync(path.join(fixtures, 'hello_deepa.onnx'), path.join(dir, 'node_modules', 'dep', 'ignored.onnx'));
  fs.writeFileSync(path.join(dir, '.gitignore'), 'node_modules/\n');
  git(dir, ['add', '-A']);
  git(dir, ['commit', '-q', '-m', 'Add fixture models']);
  return dir;
}

/** The test workspace, with sample inputs and model tests (committed) for the Playground and the Testing view. */
export async function makeTestWorkspaceWithTests(dir) {
  makeTestWorkspace(dir);
  await writeSamples(dir);
  writeModelTests(dir, { wakeword: '../models/wakeword/hello_deepa.onnx', vad: '../models/vad/silero_vad_v5.onnx', direction: '../models/ocr/ch_ppocr_mobile_v2.0_cls_infer.onnx' });
  git(dir, ['add', '-A']);
  git(dir, ['commit', '-q', '-m', 'Add sample inputs and model tests']);
  return dir;
}

/**
 * The demo model repository: the fixture models committed over several commits, as a team's history would have
 * them (a model replaced by a newer one at the same path, so that it has several versions).
 */
export async function makeDemoRepository(dir) {
  const fixtures = ensureFixtures({ quiet: true });
  fs.mkdirSync(dir, { recursive: true });
  git(dir, ['init', '-q', '-b', 'main']);
  const put = (file, to) => {
    fs.mkdirSync(path.dirname(path.join(dir, to)), { recursive: true });
    fs.copyFileSync(path.join(fixtures, file), path.join(dir, to));
  };
  const commit = (message, date) => {
    git(dir, ['add', '-A']);
    git(dir, ['commit', '-q', '-m', message], { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date });
  };
  fs.writeFileSync(
    path.join(dir, 'README.md'),
    '# Demo model repository\n\nModels a team ships, versioned in git. Made by `npm start` in the Modelyard repository.\n',
  );
  put('hello_deepa.onnx', 'models/wakeword/wakeword.onnx');
  commit('Add the wake-word classifier', '2026-09-01T09:00:00Z');
  put('ch_ppocr_mobile_v2.0_cls_infer.onnx', 'models/ocr/direction.onnx');
  put('ch_PP-OCRv4_det_infer.onnx', 'models/ocr/detector.onnx');
  commit('Add the OCR direction classifier and text detector', '2026-09-08T10:30:00Z');
  put('ch_PP-OCRv4_rec_infer.onnx', 'models/ocr/recognizer.onnx');
  commit('Add the OCR text recogniser', '2026-09-15T14:00:00Z');
  put('silero_vad_legacy.onnx', 'models/vad/vad.onnx');
  commit('Add the voice activity detector', '2026-10-01T08:15:00Z');
  put('silero_vad_v5.onnx', 'models/vad/vad.onnx');
  commit('Upgrade the voice activity detector to v5', '2026-10-20T16:45:00Z');
  fs.writeFileSync(
    path.join(dir, 'dvc.yaml'),
    [
      'artifacts:',
      '  voice-activity:',
      '    path: models/vad/vad.onnx',
      '    type: model',
      '    desc: Silero voice activity detector, 16 kHz audio in, speech probability out',
      '    labels: [audio, vad]',
      '  text-recognizer:',
      '    path: models/ocr/recognizer.onnx',
      '    type: model',
      '    desc: PP-OCRv4 text line recogniser (CTC)',
      '    labels: [ocr]',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(dir, '.gto'), 'stages: [dev, staging, prod]\ntypes: [model]\n');
  commit('Declare the registry artifacts in dvc.yaml', '2026-10-21T09:00:00Z');
  seedDemoRegistry(dir);
  // Model tests read the models through the registry: what is in production is what is tested.
  await writeSamples(dir);
  writeModelTests(dir, { wakeword: 'wakeword#prod', vad: 'voice-activity#prod', direction: '../models/ocr/direction.onnx' });
  commit('Add model tests and sample inputs', '2026-11-12T10:00:00Z');
  return dir;
}

/** The demo's registry history: GTO tags by several people over two months, as git would hold them. */
function seedDemoRegistry(dir) {
  const rev = (message) => git(dir, ['log', '--format=%H', '-n', '1', '--grep', message]);
  const people = {
    ada: ['Ada Modeler', 'ada@example.com'],
    grace: ['Grace Ops', 'grace@example.com'],
    linus: ['Linus Review', 'linus@example.com'],
  };
  const tag = (name, commit, date, who, message) => {
    const [n, e] = people[who];
    git(dir, ['tag', '-a', '-m', message, name, commit], { GIT_COMMITTER_NAME: n, GIT_COMMITTER_EMAIL: e, GIT_COMMITTER_DATE: date });
  };
  const wake = rev('wake-word');
  const ocr1 = rev('direction classifier');
  const rec = rev('text recogniser');
  const vad1 = rev('Add the voice activity');
  const vad2 = rev('Upgrade the voice');
  tag('wakeword@v0.1.0', wake, '2026-09-02T10:00:00Z', 'ada', 'First wake-word model: 96.1% recall on the office set');
  tag('wakeword#dev#1', wake, '2026-09-02T10:05:00Z', 'ada', 'Try it on the dev boards');
  tag('wakeword#prod#2', wake, '2026-09-05T15:00:00Z', 'grace', 'Passed the on-device latency budget (4 ms)');
  tag('direction@v1.0.0', ocr1, '2026-09-09T11:00:00Z', 'ada', 'Upstream PP-OCR direction classifier');
  tag('detector@v0.9.0-rc.1', ocr1, '2026-09-09T11:05:00Z', 'ada', 'Release candidate of the text detector');
  tag('detector#dev#1', ocr1, '2026-09-09T11:10:00Z', 'ada', 'For the pipeline tests');
  tag('text-recognizer@v4.0.0', rec, '2026-09-16T09:30:00Z', 'ada', 'PP-OCRv4 recogniser: 0.4% CER on the invoice set');
  tag('text-recognizer#staging#1', rec, '2026-09-16T09:40:00Z', 'linus', 'Reads the invoice test set');
  tag('text-recognizer#prod#2', rec, '2026-09-18T14:00:00Z', 'grace', 'Promoted after two days in staging');
  tag('voice-activity@v1.0.0', vad1, '2026-10-01T09:00:00Z', 'ada', 'Silero VAD (legacy LSTM)');
  tag('voice-activity#prod#1', vad1, '2026-10-02T08:00:00Z', 'grace', 'Replaces the energy-based detector');
  tag('voice-activity@v2.0.0', vad2, '2026-10-20T17:00:00Z', 'ada', 'Silero VAD v5: fewer false triggers on music');
  tag('voice-activity#staging#2', vad2, '2026-10-21T10:00:00Z', 'linus', 'Canary on 5% of the calls');
  tag('voice-activity#prod#3', vad2, '2026-11-02T09:00:00Z', 'grace', 'Canary clean for 12 days');
  tag('direction@deprecated', ocr1, '2026-11-10T12:00:00Z', 'linus', 'The recogniser now handles rotated text itself');
}
