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

/**
 * The demo model repository: the fixture models committed over several commits, as a team's history would have
 * them (a model replaced by a newer one at the same path, so that it has several versions).
 */
export function makeDemoRepository(dir) {
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
  return dir;
}
