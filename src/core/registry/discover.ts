import fs from 'node:fs/promises';
import path from 'node:path';
import { describeError } from '../errors';
import type { Logger } from '../log';
import { run } from '../util/proc';
import type { Problem } from './state';
import { isValidArtifact, isValidName, nameFromPath } from './tags';

/** A model the repository declares (dvc.yaml, artifacts.yaml) or holds as a file matching the include glob. */
export interface ModelEntry {
  /** GTO's full name: "name", or "dir:name" when declared in a subfolder's dvc.yaml. */
  name: string;
  /** Repository-relative path, with forward slashes. */
  path: string;
  type?: string;
  description?: string;
  labels?: string[];
  meta?: unknown;
  /** Where it was declared: "dvc.yaml", "sub/dvc.yaml", "artifacts.yaml", or "file" for a found file. */
  source: string;
}

/** The `.gto` file's allowlists; empty means anything goes. */
export interface GtoConfig {
  stages: string[];
  types: string[];
}

export interface Discovery {
  models: ModelEntry[];
  config: GtoConfig;
  problems: Problem[];
}

const SKIP_SEGMENT = /(^|\/)(node_modules|\.git)\//;

/** Files in the work tree (tracked, or untracked and not ignored) that match the pathspecs. */
async function listFiles(root: string, pathspecs: string[], log?: Logger): Promise<string[]> {
  const r = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--deduplicate', '--', ...pathspecs], {
    cwd: root,
    log,
  });
  return r.stdout.split('\0').filter((f) => f && !SKIP_SEGMENT.test(f));
}

interface ArtifactDecl {
  path?: unknown;
  type?: unknown;
  desc?: unknown;
  description?: unknown;
  labels?: unknown;
  meta?: unknown;
}

function entryFrom(name: string, decl: ArtifactDecl, dir: string, source: string, problems: Problem[]): ModelEntry | undefined {
  if (typeof decl?.path !== 'string' || !decl.path) {
    problems.push({ tag: `${source}: ${name}`, reason: 'artifact has no `path`' });
    return undefined;
  }
  const full = dir ? `${dir}:${name}` : name;
  if (!isValidName(name) || !isValidArtifact(full)) {
    problems.push({ tag: `${source}: ${name}`, reason: 'not a valid artifact name (letters, digits, "-", "_", "/" inside)' });
    return undefined;
  }
  const desc = decl.desc ?? decl.description;
  return {
    name: full,
    path: path.posix.normalize(dir ? `${dir}/${decl.path}` : decl.path),
    ...(typeof decl.type === 'string' ? { type: decl.type } : {}),
    ...(typeof desc === 'string' ? { description: desc } : {}),
    ...(Array.isArray(decl.labels) ? { labels: decl.labels.map(String) } : {}),
    ...(decl.meta !== undefined ? { meta: decl.meta } : {}),
    source,
  };
}

/** The YAML parser, loaded on first use: a third of the extension's bundle, needed only where a dvc.yaml exists. */
async function parseYaml(text: string): Promise<unknown> {
  const { parse } = await import('yaml');
  return parse(text);
}

/** The last parse of each YAML file read, by path: the registry reloads on every tag change, its dvc.yaml rarely. */
const parsedYaml = new Map<string, { text: string; doc: unknown }>();

/** A YAML file's document, parsed again only when its text changed. Callers must not change what it returns. */
async function readYaml(file: string): Promise<unknown> {
  const text = await fs.readFile(file, 'utf8');
  const hit = parsedYaml.get(file);
  if (hit?.text === text) return hit.doc;
  const doc = await parseYaml(text);
  if (parsedYaml.size >= 256) parsedYaml.clear();
  parsedYaml.set(file, { text, doc });
  return doc;
}

/**
 * The models of one repository: artifacts declared in every dvc.yaml (and the legacy artifacts.yaml), then the files
 * matching `include` that no declaration names, each under a name derived from its path.
 */
export async function discoverModels(root: string, opts: { include?: string; log?: Logger } = {}): Promise<Discovery> {
  const include = opts.include ?? '**/*.onnx';
  const problems: Problem[] = [];
  const files = await listFiles(root, [':(glob)**/dvc.yaml', 'artifacts.yaml', `:(glob)${include}`], opts.log);
  const models: ModelEntry[] = [];
  const declaredPaths = new Set<string>();

  for (const f of files.filter((x) => x === 'dvc.yaml' || x.endsWith('/dvc.yaml')).sort()) {
    const dir = path.posix.dirname(f) === '.' ? '' : path.posix.dirname(f);
    try {
      const doc = (await readYaml(path.join(root, f))) as { artifacts?: Record<string, ArtifactDecl> } | null;
      for (const [name, decl] of Object.entries(doc?.artifacts ?? {})) {
        const e = entryFrom(name, decl, dir, f, problems);
        if (e) models.push(e);
      }
    } catch (e) {
      problems.push({ tag: f, reason: `cannot be read: ${describeError(e)}` });
    }
  }
  if (files.includes('artifacts.yaml')) {
    try {
      const doc = (await readYaml(path.join(root, 'artifacts.yaml'))) as Record<string, ArtifactDecl> | null;
      for (const [name, decl] of Object.entries(doc ?? {})) {
        if (models.some((m) => m.name === name)) continue; // dvc.yaml wins
        const e = entryFrom(name, decl, '', 'artifacts.yaml', problems);
        if (e) models.push(e);
      }
    } catch (e) {
      problems.push({ tag: 'artifacts.yaml', reason: `cannot be read: ${describeError(e)}` });
    }
  }
  for (const m of models) declaredPaths.add(m.path);

  const found = files.filter((f) => !f.endsWith('dvc.yaml') && f !== 'artifacts.yaml' && !declaredPaths.has(f)).sort();
  const taken = new Set(models.map((m) => m.name));
  const stems = new Map<string, number>();
  const stemOf = found.map((f) => nameFromPath(f));
  for (const stem of stemOf) stems.set(stem, (stems.get(stem) ?? 0) + 1);
  for (const [i, f] of found.entries()) {
    // The file's stem when it is unique, otherwise its path: "detector", or "models/ocr/model" beside "models/vad/model".
    let name = stemOf[i]!;
    if ((stems.get(name) ?? 0) > 1 || taken.has(name)) name = nameFromPath(f, true);
    if (taken.has(name)) continue;
    taken.add(name);
    models.push({ name, path: f, source: 'file' });
  }

  const config = await readGtoConfig(root, problems);
  if (config.types.length) {
    for (const m of models) {
      if (m.type !== undefined && !config.types.includes(m.type)) {
        problems.push({ tag: `${m.source}: ${m.name}`, reason: `type '${m.type}' is not allowed by .gto (types: ${config.types.join(', ')})` });
      }
    }
  }
  return { models, config, problems };
}

async function readGtoConfig(root: string, problems: Problem[]): Promise<GtoConfig> {
  const config: GtoConfig = { stages: [], types: [] };
  let text: string;
  try {
    text = await fs.readFile(path.join(root, '.gto'), 'utf8');
  } catch {
    return config;
  }
  try {
    const doc = ((await parseYaml(text)) ?? {}) as { stages?: unknown; types?: unknown };
    if (Array.isArray(doc.stages)) config.stages = doc.stages.map(String);
    if (Array.isArray(doc.types)) config.types = doc.types.map(String);
    for (const s of config.stages) if (!isValidName(s)) problems.push({ tag: '.gto', reason: `stage '${s}' is not a valid name` });
  } catch (e) {
    problems.push({ tag: '.gto', reason: `cannot be read: ${describeError(e)}` });
  }
  return config;
}
