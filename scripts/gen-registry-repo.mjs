// Generates a git repository that looks like a busy GTO model registry, for benchmarks and sanity checks:
//
//   node scripts/gen-registry-repo.mjs DIR [--commits 2000] [--models 200] [--tags 5000] [--seed 1] [--force]
//
// One `git fast-import` stream writes everything: `--commits` commits over `--models` model files
// (models/m001/m001.onnx …, pseudo-random blobs of 1–4 KB; the first commit adds them all, each later one changes
// 1–3), a root dvc.yaml declaring every tenth model under `artifacts:`, and `--tags` ANNOTATED tags in GTO's grammar
// (about 55% register with increasing SemVer per model and some pre-releases, 30% assign, 8% unassign,
// 5% deregister, 2% deprecate), each by one of a few taggers, at increasing tagger dates, on a commit that touched
// its model. A few stages go to commits that have no version, and some of those commits are registered later. On top of those: 20 lightweight GTO-shaped tags, 10 annotated malformed ones, 2 ordinary release tags.
//
// The model files are named after their model (mNNN.onnx, not model.onnx) so that the name Modelyard derives from
// an undeclared file is the artifact name its tags use: every model is then one entry, with a file and a state.
//
// Beside the repository, DIR/.git/modelyard-gen.json records the parameters, what was written and the registry
// state GTO's rules give for it (computed here, independently of src/), which test/bench/registry.bench.ts checks.
// The same seed gives the same repository, commit for commit.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
export const MANIFEST = 'modelyard-gen.json';

// ---------------------------------------------------------------------------------------------------------------
// Arguments

function usage(msg) {
  if (msg) console.error(`gen-registry-repo: ${msg}`);
  console.error('usage: node scripts/gen-registry-repo.mjs DIR [--commits 2000] [--models 200] [--tags 5000] [--seed 1] [--force]');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { commits: 2000, models: 200, tags: 5000, seed: 1, force: false };
  let dir;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--force') opts.force = true;
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('--')) {
      const [key, inline] = a.slice(2).split('=', 2);
      if (!['commits', 'models', 'tags', 'seed'].includes(key)) usage(`unknown option ${a}`);
      const v = Number(inline ?? argv[++i]);
      if (!Number.isSafeInteger(v) || v < (key === 'seed' ? 0 : 1)) usage(`--${key} needs a whole number`);
      opts[key] = v;
    } else if (dir === undefined) dir = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!dir) usage('DIR is required');
  if (opts.models > 999) usage('--models is at most 999');
  if (opts.commits < 2) usage('--commits is at least 2');
  return { dir: path.resolve(dir), opts };
}

// ---------------------------------------------------------------------------------------------------------------
// Deterministic randomness

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------------------------
// SemVer, written here again on purpose: the expected state must not come from the code it checks.

function semver(v) {
  const m = /^v(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(v);
  if (!m) throw new Error(`generator wrote a bad version ${v}`);
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] ? m[4].split('.') : [] };
}

function cmpSemver(a, b) {
  const x = semver(a);
  const y = semver(b);
  for (let i = 0; i < 3; i++) if (x.core[i] !== y.core[i]) return x.core[i] - y.core[i];
  if (!x.pre.length || !y.pre.length) return (y.pre.length ? 1 : 0) - (x.pre.length ? 1 : 0);
  for (let i = 0; i < Math.max(x.pre.length, y.pre.length); i++) {
    const p = x.pre[i];
    const q = y.pre[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    if (p === q) continue;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    if (pn && qn) return Number(p) - Number(q);
    if (pn !== qn) return pn ? -1 : 1;
    return p < q ? -1 : 1;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------------------------
// The history

const PEOPLE = [
  ['Ada Lovelace', 'ada@modelyard.test'],
  ['Grace Hopper', 'grace@modelyard.test'],
  ['Alan Turing', 'alan@modelyard.test'],
  ['Katherine Johnson', 'katherine@modelyard.test'],
  ['Edsger Dijkstra', 'edsger@modelyard.test'],
  ['Barbara Liskov', 'barbara@modelyard.test'],
  ['CI Bot', 'ci-bot@modelyard.test'],
];
const STAGES = ['dev', 'staging', 'prod'];
const T0 = Date.UTC(2022, 0, 3, 9, 0, 0) / 1000;
const COMMIT_GAP = 3600;

function plan(opts) {
  const rnd = mulberry32(opts.seed * 2654435761 + 12345);
  const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  const chance = (p) => rnd() < p;

  const models = [];
  for (let i = 1; i <= opts.models; i++) {
    const id = `m${String(i).padStart(3, '0')}`;
    models.push({
      id,
      path: `models/${id}/${id}.onnx`,
      declared: i % 10 === 0,
      touches: [], // commit indexes, increasing
      versions: [], // { name, commit, registered, active, stages: Map(stage → { active, date }) }
      used: new Set(), // commits that carry a version (or a refused duplicate) of this model
      counter: 0,
      events: 0,
      lastEvent: undefined,
      retired: false,
      rc: undefined,
      tagged: false,
    });
  }

  // Commits: the first adds every model, each later one changes 1–3 of them.
  const commits = [];
  for (let c = 0; c < opts.commits; c++) {
    const changed = c === 0 ? models.map((_, i) => i) : [];
    if (c > 0) {
      const k = int(1, Math.min(3, models.length));
      while (changed.length < k) {
        const i = int(0, models.length - 1);
        if (!changed.includes(i)) changed.push(i);
      }
    }
    for (const i of changed) models[i].touches.push(c);
    const who = c === 0 ? PEOPLE[0] : pick(PEOPLE);
    const names = changed.map((i) => models[i].id);
    const message =
      c === 0
        ? `Add ${models.length} models and their dvc.yaml`
        : `${pick(['Retrain', 'Fine-tune', 'Re-export', 'Quantize', 'Prune'])} ${names.join(', ')}${chance(0.3) ? ` (${pick(['more data', 'opset 17', 'fp16', 'bigger batch', 'new tokenizer'])})` : ''}`;
    commits.push({ date: T0 + c * COMMIT_GAP, author: who, message, changed });
  }

  // The tag kinds, in a deterministic shuffled order; a kind that cannot apply at its turn falls back to another.
  const nReg = Math.round(opts.tags * 0.55);
  const nAsg = Math.round(opts.tags * 0.3);
  const nUna = Math.round(opts.tags * 0.08);
  const nDer = Math.round(opts.tags * 0.05);
  const nDep = Math.max(0, opts.tags - nReg - nAsg - nUna - nDer);
  const kinds = [
    ...Array(nReg).fill('register'),
    ...Array(nAsg).fill('assign'),
    ...Array(nUna).fill('unassign'),
    ...Array(nDer).fill('deregister'),
    ...Array(nDep).fill('deprecate'),
  ];
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j], kinds[i]];
  }
  // Deprecations mostly late: swap each one in the first half with a random non-deprecation of the second half.
  for (let i = 0; i < kinds.length / 2; i++) {
    if (kinds[i] !== 'deprecate' || chance(0.25)) continue;
    const j = int(Math.ceil(kinds.length / 2), kinds.length - 1);
    if (kinds[j] !== 'deprecate') [kinds[i], kinds[j]] = [kinds[j], kinds[i]];
  }

  const span = (opts.commits - 1) * COMMIT_GAP;
  const step = Math.max(2, Math.floor(span / Math.max(1, opts.tags)));
  const tags = []; // { name, commit, date, tagger, message, kind, annotated, model }
  const newestCommitBy = (m, date) => {
    let lo = 0;
    let hi = m.touches.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (commits[m.touches[mid]].date <= date) {
        best = m.touches[mid];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best;
  };
  const activeRegistered = (m) => m.versions.filter((v) => v.registered && v.active);
  const latestOf = (m) => activeRegistered(m).sort((a, b) => cmpSemver(b.name, a.name))[0];
  const holder = (m, stage) => {
    let best;
    for (const v of m.versions) {
      if (!v.active) continue;
      const s = v.stages.get(stage);
      if (s?.active && (!best || s.date > best.s.date)) best = { v, s };
    }
    return best?.v;
  };
  const nextVersion = (m) => {
    const latest = m.versions.filter((v) => v.registered).sort((a, b) => cmpSemver(b.name, a.name))[0];
    if (m.rc) {
      if (chance(0.35)) {
        m.rc.n++;
        return `v${m.rc.base}-${m.rc.label}.${m.rc.n}`;
      }
      const v = `v${m.rc.base}`;
      m.rc = undefined;
      return v;
    }
    if (!latest) return chance(0.7) ? 'v0.1.0' : 'v1.0.0';
    const [maj, min, pat] = semver(latest.name).core;
    const r = rnd();
    const bump = r < 0.55 ? 'patch' : r < 0.87 ? 'minor' : 'major';
    const base = bump === 'patch' ? `${maj}.${min}.${pat + 1}` : bump === 'minor' ? `${maj}.${min + 1}.0` : `${maj + 1}.0.0`;
    if (bump !== 'patch' && chance(0.2)) {
      m.rc = { base, label: pick(['rc', 'rc', 'beta', 'alpha']), n: 1 };
      return `v${base}-${m.rc.label}.1`;
    }
    return chance(0.01) ? `v${base}+build.${int(100, 999)}` : `v${base}`;
  };
  const counted = (m) => `#${++m.counter}`;
  const touchEvent = (m, action) => {
    m.events++;
    m.lastEvent = action;
    m.tagged = true;
  };
  const byKind = { register: 0, registerAfterAssign: 0, duplicateRegister: 0, assign: 0, assignCommit: 0, unassign: 0, deregister: 0, deprecate: 0 };
  const alive = () => models.filter((m) => !m.retired);

  const attempt = {
    register(date) {
      // Now and then, a version for a commit that was given a stage before it was registered (assign first, register
      // once it passed): GTO binds the stage tags of that commit to the version registered there, whenever registered.
      if (chance(0.01)) {
        const pending = alive().filter((m) => m.versions.some((v) => !v.registered));
        if (pending.length) {
          const m = pick(pending);
          const v = pick(m.versions.filter((x) => !x.registered));
          v.name = nextVersion(m);
          v.registered = true;
          v.active = true;
          touchEvent(m, 'register');
          byKind.registerAfterAssign++;
          return { name: `${m.id}@${v.name}`, commit: v.commit, model: m, kind: 'registerAfterAssign', version: v.name, message: `Registering artifact ${m.id} version ${v.name}` };
        }
      }
      // The newest commit of a model that carries no version yet: register it, as a person registers a new build.
      const ready = alive().filter((m) => {
        const c = newestCommitBy(m, date);
        return c >= 0 && !m.used.has(c);
      });
      if (!ready.length) return undefined;
      const m = pick(ready);
      const c = newestCommitBy(m, date);
      const active = activeRegistered(m);
      if (active.length && chance(0.01)) {
        // A second register tag for a version that already exists, elsewhere: GTO's tag grammar allows the name with
        // a counter; Modelyard must refuse it (and list it as a problem).
        const v = pick(active);
        m.used.add(c);
        touchEvent(m, 'register');
        byKind.duplicateRegister++;
        return { name: `${m.id}@${v.name}${counted(m)}`, commit: c, model: m, kind: 'duplicateRegister', version: v.name, message: `Registering ${m.id} ${v.name} again` };
      }
      const name = nextVersion(m);
      m.used.add(c);
      m.versions.push({ name, commit: c, registered: true, active: true, stages: new Map() });
      touchEvent(m, 'register');
      byKind.register++;
      return { name: `${m.id}@${name}`, commit: c, model: m, kind: 'register', version: name, message: `Registering artifact ${m.id} version ${name}` };
    },
    assign(date) {
      if (chance(0.02)) {
        // A stage on a commit that was never registered: GTO names that version by the commit.
        const ready = alive().filter((m) => {
          const c = newestCommitBy(m, date);
          return c >= 0 && !m.used.has(c);
        });
        if (ready.length) {
          const m = pick(ready);
          const c = newestCommitBy(m, date);
          const stage = pick(STAGES.slice(0, 2));
          m.used.add(c);
          m.versions.push({ name: undefined, commit: c, registered: false, active: true, stages: new Map([[stage, { active: true, date }]]) });
          touchEvent(m, 'assign');
          byKind.assignCommit++;
          return { name: `${m.id}#${stage}${counted(m)}`, commit: c, model: m, kind: 'assignCommit', stage, message: `Assigning stage ${stage} to artifact ${m.id} at an unregistered commit` };
        }
      }
      const ready = alive().filter((m) => activeRegistered(m).length);
      if (!ready.length) return undefined;
      const m = pick(ready);
      const v = chance(0.6) ? latestOf(m) : pick(activeRegistered(m));
      const r = rnd();
      const stage = r < 0.45 ? 'dev' : r < 0.75 ? 'staging' : 'prod';
      v.stages.set(stage, { active: true, date });
      touchEvent(m, 'assign');
      byKind.assign++;
      return { name: `${m.id}#${stage}${counted(m)}`, commit: v.commit, model: m, kind: 'assign', stage, version: v.name, message: `Assigning stage ${stage} to artifact ${m.id} version ${v.name}` };
    },
    unassign(date) {
      const ready = alive().filter((m) => m.versions.some((v) => v.active && [...v.stages.values()].some((s) => s.active)));
      if (!ready.length) return undefined;
      const m = pick(ready);
      const pairs = m.versions.flatMap((v) => (v.active ? [...v.stages].filter(([, s]) => s.active).map(([stage]) => ({ v, stage })) : []));
      let { v, stage } = pick(pairs);
      if (chance(0.8)) v = holder(m, stage); // usually: take the stage from the version that holds it
      v.stages.set(stage, { active: false, date });
      touchEvent(m, 'unassign');
      byKind.unassign++;
      return { name: `${m.id}#${stage}!${counted(m)}`, commit: v.commit, model: m, kind: 'unassign', stage, version: v.name ?? null, message: `Unassigning stage ${stage} from artifact ${m.id}` };
    },
    deregister() {
      const ready = alive().filter((m) => activeRegistered(m).length >= 2);
      if (!ready.length) return undefined;
      const m = pick(ready);
      const latest = latestOf(m);
      const others = activeRegistered(m).filter((v) => v !== latest);
      const v = chance(0.3) ? latest : pick(others);
      v.active = false;
      touchEvent(m, 'deregister');
      byKind.deregister++;
      return { name: `${m.id}@${v.name}!${counted(m)}`, commit: v.commit, model: m, kind: 'deregister', version: v.name, message: `Deregistering artifact ${m.id} version ${v.name}` };
    },
    deprecate(date) {
      const ready = alive().filter((m) => m.events >= 3 && m.lastEvent !== 'deprecate');
      if (!ready.length) return undefined;
      const m = pick(ready);
      const c = newestCommitBy(m, date);
      touchEvent(m, 'deprecate');
      // Usually a deprecated model gets no more tags; sometimes it comes back (a later tag reactivates it in GTO).
      if (chance(0.6)) m.retired = true;
      byKind.deprecate++;
      return { name: `${m.id}@deprecated${counted(m)}`, commit: c, model: m, kind: 'deprecate', message: `Deprecating artifact ${m.id}` };
    },
  };
  const FALLBACK = ['register', 'assign', 'unassign', 'deregister', 'deprecate'];
  for (let k = 0; k < kinds.length; k++) {
    const date = T0 + 600 + k * step + int(0, Math.floor(step / 2));
    let t;
    for (const kind of [kinds[k], ...FALLBACK.filter((x) => x !== kinds[k])]) {
      t = attempt[kind](date);
      if (t) break;
    }
    if (!t) throw new Error(`no tag could be written at step ${k}`);
    tags.push({ ...t, date, annotated: true, tagger: pick(PEOPLE) });
  }

  // Tags the registry must list as problems, and tags it must leave alone.
  const lightweight = [];
  for (let i = 0; i < 20; i++) {
    const m = models[(i * 37 + 11) % models.length];
    const name = [`${m.id}@v${90 + i}.0.0`, `${m.id}#qa`, `${m.id}#prod#${900 + i}`, `${m.id}@deprecated`][i % 4];
    if (tags.some((t) => t.name === name) || lightweight.some((t) => t.name === name)) continue;
    lightweight.push({ name, commit: m.touches.at(-1), model: m, kind: 'lightweight', annotated: false });
  }
  const malformedNames = ['@v1', '@0.0.1', '#prod@v1.2.3', '@v1.2.3#prod', '#prod#-1', '@v1.02.3', '@v1.2', '#prod!!#3', '@latest', '#staging#2#3'];
  const malformed = malformedNames.map((suffix, i) => {
    const m = models[(i * 53 + 7) % models.length];
    return { name: `${m.id}${suffix}`, commit: m.touches[0], model: m, kind: 'malformed', annotated: true, tagger: PEOPLE[i % PEOPLE.length], date: T0 + 300 + i, message: `hand-made tag ${i + 1}` };
  });
  const plain = [
    { name: 'release-2022.06', commit: Math.floor(opts.commits / 4), kind: 'plain', annotated: true, tagger: PEOPLE[0], date: T0 + 200, message: 'Release 2022.06' },
    { name: 'v1.0', commit: Math.floor(opts.commits / 2), kind: 'plain', annotated: false },
  ];

  return { models, commits, tags, lightweight, malformed, plain, byKind };
}

// ---------------------------------------------------------------------------------------------------------------
// The registry GTO's rules give for the plan (gto/base.py: latest = highest SemVer among active registered versions;
// a stage = the active version whose active assignment is the most recent; deprecated = the last event deprecates).

function expectedState(p, sha) {
  const perArtifact = {};
  let registeredVersions = 0;
  let commitVersions = 0;
  let activeRegistered = 0;
  let deprecated = 0;
  let stagesOccupied = 0;
  for (const m of p.models) {
    if (!m.tagged) continue;
    const latest = m.versions.filter((v) => v.registered && v.active).sort((a, b) => cmpSemver(b.name, a.name))[0];
    const stages = {};
    for (const stage of STAGES) {
      let best;
      for (const v of m.versions) {
        if (!v.active) continue;
        const s = v.stages.get(stage);
        if (s?.active && (!best || s.date > best.date)) best = { v, date: s.date };
      }
      if (best) stages[stage] = best.v.name ?? sha[best.v.commit];
    }
    const isDeprecated = m.lastEvent === 'deprecate';
    perArtifact[m.id] = {
      latest: latest?.name ?? null,
      stages,
      deprecated: isDeprecated,
      registered: m.versions.filter((v) => v.registered).length,
      activeRegistered: m.versions.filter((v) => v.registered && v.active).length,
      commitVersions: m.versions.filter((v) => !v.registered).length,
    };
    registeredVersions += perArtifact[m.id].registered;
    activeRegistered += perArtifact[m.id].activeRegistered;
    commitVersions += perArtifact[m.id].commitVersions;
    stagesOccupied += Object.keys(stages).length;
    if (isDeprecated) deprecated++;
  }
  const problems = [
    ...p.lightweight.map((t) => ({ tag: t.name, why: 'lightweight' })),
    ...p.malformed.map((t) => ({ tag: t.name, why: 'malformed' })),
    ...p.tags.filter((t) => t.kind === 'duplicateRegister').map((t) => ({ tag: t.name, why: 'duplicate' })),
  ];
  return { artifacts: Object.keys(perArtifact).length, registeredVersions, activeRegistered, commitVersions, deprecated, stagesOccupied, problems, perArtifact };
}

// ---------------------------------------------------------------------------------------------------------------
// The fast-import stream

function dvcYaml(models) {
  const lines = ['# Artifacts of this repository (GTO reads `artifacts:`; generated by scripts/gen-registry-repo.mjs)', 'artifacts:'];
  const tasks = ['intent classifier', 'speech detector', 'OCR recognizer', 'OCR detector', 'wake word', 'ranker', 'embedder'];
  for (const [i, m] of models.filter((x) => x.declared).entries()) {
    lines.push(
      `  ${m.id}:`,
      `    path: ${m.path}`,
      '    type: model',
      `    desc: ${tasks[i % tasks.length]} ${m.id}, exported to ONNX`,
      `    labels: [${['onnx', i % 2 ? 'cv' : 'nlp', ...(i % 3 ? [] : ['edge'])].join(', ')}]`,
      '    meta:',
      `      owner: team-${'abc'[i % 3]}`,
      `      opset: ${13 + (i % 5)}`,
    );
  }
  return lines.join('\n') + '\n';
}

function buildStream(p, seed) {
  const rnd = mulberry32(seed ^ 0x5eed);
  const chunks = [];
  let mark = 0;
  const str = (s) => chunks.push(Buffer.from(s, 'utf8'));
  const data = (buf) => {
    const b = typeof buf === 'string' ? Buffer.from(buf, 'utf8') : buf;
    str(`data ${b.length}\n`);
    chunks.push(b);
    str('\n');
  };
  const who = ([name, email], date) => `${name} <${email}> ${date} +0000`;
  const blob = (buf) => {
    const m = ++mark;
    str(`blob\nmark :${m}\n`);
    data(buf);
    return m;
  };
  const modelBlob = (m, c) => {
    const size = 1024 + Math.floor(rnd() * 3072);
    const buf = Buffer.alloc(size);
    const head = Buffer.from(`\x08\x08\x12\x07modelyard:${m.id}:${c}\n`, 'latin1');
    head.copy(buf);
    for (let i = head.length; i + 4 <= size; i += 4) buf.writeUInt32LE((rnd() * 4294967296) >>> 0, i);
    return buf;
  };

  const commitMarks = [];
  for (const [c, commit] of p.commits.entries()) {
    const files = commit.changed.map((i) => [p.models[i].path, blob(modelBlob(p.models[i], c))]);
    if (c === 0) {
      files.push(['dvc.yaml', blob(Buffer.from(dvcYaml(p.models)))]);
      files.push(['.gitattributes', blob(Buffer.from('*.onnx binary\n'))]);
      files.push(['README.md', blob(Buffer.from('# Model registry (generated)\n\nTags follow GTO: name@vX.Y.Z, name#stage#N.\n'))]);
    }
    const m = ++mark;
    commitMarks.push(m);
    str(`commit refs/heads/main\nmark :${m}\nauthor ${who(commit.author, commit.date)}\ncommitter ${who(commit.author, commit.date)}\n`);
    data(commit.message + '\n');
    if (c > 0) str(`from :${commitMarks[c - 1]}\n`);
    for (const [file, b] of files) str(`M 100644 :${b} ${file}\n`);
    str('\n');
  }
  for (const t of [...p.plain, ...p.malformed, ...p.tags, ...p.lightweight]) {
    if (t.annotated) {
      str(`tag ${t.name}\nfrom :${commitMarks[t.commit]}\ntagger ${who(t.tagger, t.date)}\n`);
      data(t.message + '\n');
    } else {
      str(`reset refs/tags/${t.name}\nfrom :${commitMarks[t.commit]}\n\n`);
    }
  }
  str('done\n');
  return { stream: Buffer.concat(chunks), commitMarks };
}

// ---------------------------------------------------------------------------------------------------------------

function git(cwd, args, input) {
  const r = spawnSync('git', args, { cwd, input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

function fastImport(dir, stream, marksFile) {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['fast-import', '--quiet', '--done', `--export-marks=${marksFile}`], { cwd: dir, stdio: ['pipe', 'inherit', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b) => (err += b));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`git fast-import failed (${code}): ${err}`))));
    child.stdin.end(stream);
  });
}

export function sourceHash() {
  return crypto.createHash('sha256').update(fs.readFileSync(SELF)).digest('hex').slice(0, 16);
}

export async function generate(dir, opts) {
  const t0 = performance.now();
  if (fs.existsSync(dir) && fs.readdirSync(dir).length) {
    const ours = fs.existsSync(path.join(dir, '.git', MANIFEST));
    if (!opts.force || !ours) {
      throw new Error(`${dir} is not empty${ours ? ' (a generated repository: pass --force to write it again)' : ''}`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  fs.mkdirSync(dir, { recursive: true });
  const p = plan(opts);
  const { stream, commitMarks } = buildStream(p, opts.seed);
  const tPlan = performance.now();

  git(dir, ['init', '-q', '-b', 'main']);
  // A fixed identity, so that nothing of the machine's configuration leaks into the repository.
  git(dir, ['config', 'user.name', 'Modelyard Generator']);
  git(dir, ['config', 'user.email', 'generator@modelyard.test']);
  const marksFile = path.join(dir, '.git', 'modelyard-gen.marks');
  await fastImport(dir, stream, marksFile);
  const tImport = performance.now();

  const byMark = new Map();
  for (const line of fs.readFileSync(marksFile, 'utf8').split('\n')) {
    const [m, oid] = line.split(' ');
    if (m && oid) byMark.set(Number(m.slice(1)), oid);
  }
  fs.rmSync(marksFile);
  const sha = commitMarks.map((m) => byMark.get(m));
  git(dir, ['reset', '-q', '--hard', 'main']);
  // As a clone has them: tags in packed-refs, not one file each.
  git(dir, ['pack-refs', '--all']);
  const tDone = performance.now();

  const all = [...p.plain, ...p.malformed, ...p.tags, ...p.lightweight];
  const manifest = {
    generator: { script: 'scripts/gen-registry-repo.mjs', sourceHash: sourceHash() },
    params: { commits: opts.commits, models: opts.models, tags: opts.tags, seed: opts.seed },
    head: sha.at(-1),
    timing: { planMs: Math.round(tPlan - t0), fastImportMs: Math.round(tImport - tPlan), totalMs: Math.round(tDone - t0), streamBytes: stream.length },
    written: {
      commits: p.commits.length,
      models: p.models.length,
      declared: p.models.filter((m) => m.declared).map((m) => m.id),
      refs: all.length,
      gtoAnnotated: p.tags.length,
      byKind: p.byKind,
      prerelease: p.tags.filter((t) => t.kind.startsWith('register') && t.version.includes('-')).length,
      lightweight: p.lightweight.length,
      malformed: p.malformed.length,
      plain: p.plain.length,
    },
    expected: expectedState(p, sha),
    samples: {
      register: p.tags.find((t) => t.kind === 'register')?.name,
      assign: p.tags.find((t) => t.kind === 'assign')?.name,
      lightweight: p.lightweight[0]?.name,
      malformed: p.malformed[0]?.name,
    },
  };
  fs.writeFileSync(path.join(dir, '.git', MANIFEST), JSON.stringify(manifest, null, 1) + '\n');
  return manifest;
}

async function main() {
  const { dir, opts } = parseArgs(process.argv.slice(2));
  const m = await generate(dir, opts);
  const w = m.written;
  console.log(
    `generated ${dir}: ${w.commits} commits, ${w.models} models (${w.declared.length} in dvc.yaml), ${w.refs} tags ` +
      `in ${(m.timing.totalMs / 1000).toFixed(2)} s (plan ${m.timing.planMs} ms, fast-import ${m.timing.fastImportMs} ms of ${(m.timing.streamBytes / 2 ** 20).toFixed(1)} MiB)`,
  );
  console.log(
    `  GTO annotated tags ${w.gtoAnnotated}: ${Object.entries(w.byKind).map(([k, n]) => `${k} ${n}`).join(', ')} (${w.prerelease} pre-releases); ` +
      `lightweight ${w.lightweight}, malformed ${w.malformed}, plain ${w.plain}`,
  );
  // Verification, as a person would do it.
  const refs = git(dir, ['for-each-ref', 'refs/tags']).split('\n').filter(Boolean);
  const types = {};
  for (const line of git(dir, ['for-each-ref', '--format=%(objecttype)', 'refs/tags']).split('\n').filter(Boolean)) types[line] = (types[line] ?? 0) + 1;
  console.log(`  git for-each-ref refs/tags | wc -l → ${refs.length} (${Object.entries(types).map(([k, n]) => `${n} ${k}`).join(', ')})`);
  for (const [kind, name] of Object.entries(m.samples)) {
    if (name) console.log(`  git cat-file -t ${name} → ${git(dir, ['cat-file', '-t', `refs/tags/${name}`]).trim()} (${kind})`);
  }
  if (refs.length !== w.refs) {
    console.error(`  expected ${w.refs} tags, git lists ${refs.length}`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  main().catch((e) => {
    console.error(`gen-registry-repo: ${e.message}`);
    process.exit(1);
  });
}
