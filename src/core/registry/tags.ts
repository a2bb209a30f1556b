/**
 * GTO's tag grammar (Git Tag Ops, iterative/gto constants.py and tag.py), which Modelyard reads and writes tag for
 * tag so that GTO, DVC and their CI actions read what Modelyard writes:
 *
 *   register    name@v1.2.3[#N]        deregister  name@v1.2.3![#N]
 *   assign      name#stage[#N]         unassign    name#stage![#N]
 *   deprecate   name@deprecated[#N]    create      name@created[#N]
 *
 * N is a counter shared by all of an artifact's tags: one more than the highest on any of them. A name of an
 * artifact declared in a subfolder's dvc.yaml is "dir:name", written "dir=name" in tags.
 */
import { isVersion } from './semver';

export type Action = 'register' | 'deregister' | 'assign' | 'unassign' | 'deprecate' | 'create';

export interface ParsedTag {
  /** The artifact's full name as GTO shows it: "name", or "dir/sub:name" for a monorepo artifact. */
  artifact: string;
  action: Action;
  version?: string;
  stage?: string;
  counter?: number;
}

// GTO ≥ 1.4 (iterative/gto#398): letters of either case, digits, and "-", "_", "/" inside.
const NAME = '[A-Za-z0-9](?:[A-Za-z0-9\\-/_]*[A-Za-z0-9])?';
const DIRNAME = '[a-z0-9\\-_./]+';
const SEMVER =
  '(?:0|[1-9]\\d*)\\.(?:0|[1-9]\\d*)\\.(?:0|[1-9]\\d*)(?:-(?:(?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\\.(?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\\+(?:[0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*))?';

// Numbered groups (not named ones, which cost an object per match): 1 artifact, 2 stage, 3 version, 4 "!",
// 5 "deprecated", 6 "created", 7 counter.
const TAG_RE = new RegExp(
  `^((?:${DIRNAME}=)?${NAME})` +
    `(?:(?:#(${NAME})|@(v${SEMVER}))(!?)|@(?:(deprecated)|(created)))` +
    `(?:#([0-9]+))?$`,
);
const NAME_RE = new RegExp(`^${NAME}$`);
const FULLNAME_RE = new RegExp(`^(?:${DIRNAME}:)?${NAME}$`);

/**
 * What git accepts in a tag name (git check-ref-format) that GTO's patterns would let through: "//", "..", a
 * component starting with "." or ending in ".lock", a trailing "." or "/".
 */
function gitAccepts(s: string): boolean {
  return !/\/\/|\.\.|(^|\/)\.|\.lock(\/|$)|[./]$|^\//.test(s);
}

/** A valid artifact name or stage name: "nn", "my-model", "team/vision_v2" (GTO's rule, as far as git can store it). */
export function isValidName(s: string): boolean {
  return NAME_RE.test(s) && gitAccepts(s);
}

/** A valid artifact full name, with an optional "dir:" prefix for artifacts declared in a subfolder. */
export function isValidArtifact(s: string): boolean {
  return FULLNAME_RE.test(s) && gitAccepts(s.replace(':', '='));
}

export function artifactToTag(artifact: string): string {
  return artifact.replace(':', '=');
}

/** Parses a tag name; undefined when it is not a GTO tag. */
export function parseTag(tag: string): ParsedTag | undefined {
  const m = TAG_RE.exec(tag);
  if (!m || !gitAccepts(tag)) return undefined;
  const [, artifact, stage, version, cancel, deprecated, created, counter] = m;
  // Built field by field, not with spreads: this runs for every tag of the repository (5,000 in the benchmark).
  let action: Action;
  if (deprecated) action = 'deprecate';
  else if (created) action = 'create';
  else if (version) action = cancel ? 'deregister' : 'register';
  else if (stage) action = cancel ? 'unassign' : 'assign';
  else return undefined;
  const r: ParsedTag = { artifact: artifact!.includes('=') ? artifact!.replace('=', ':') : artifact!, action };
  if (version) r.version = version;
  if (stage) r.stage = stage;
  if (counter !== undefined) {
    const n = Number(counter);
    if (!Number.isSafeInteger(n)) return undefined;
    r.counter = n;
  }
  return r;
}

/** Writes a tag name; throws on a name, stage or version the grammar does not allow. */
export function formatTag(t: ParsedTag): string {
  if (!isValidArtifact(t.artifact)) throw new Error(`invalid artifact name '${t.artifact}'`);
  const a = artifactToTag(t.artifact);
  const n = t.counter !== undefined ? `#${t.counter}` : '';
  switch (t.action) {
    case 'register':
    case 'deregister':
      if (!t.version || !isVersion(t.version)) throw new Error(`invalid version '${t.version}'`);
      return `${a}@${t.version}${t.action === 'deregister' ? '!' : ''}${n}`;
    case 'assign':
    case 'unassign':
      if (!t.stage || !isValidName(t.stage)) throw new Error(`invalid stage '${t.stage}'`);
      return `${a}#${t.stage}${t.action === 'unassign' ? '!' : ''}${n}`;
    case 'deprecate':
      return `${a}@deprecated${n}`;
    case 'create':
      return `${a}@created${n}`;
  }
}

/** The counter for an artifact's next tag: one more than the highest counter on any of its tags. */
export function nextCounter(artifact: string, tags: Iterable<string>): number {
  let max = 0;
  for (const t of tags) {
    const p = parseTag(t);
    if (p && p.artifact === artifact && p.counter !== undefined && p.counter > max) max = p.counter;
  }
  return max + 1;
}

/** Turns a file path into a name GTO accepts: "models/OCR v2/rec.onnx" → "rec" (or "models/ocr-v2/rec" with the folder). */
export function nameFromPath(filePath: string, withFolder = false): string {
  const noExt = filePath.replace(/\\/g, '/').replace(/\.[^/.]+$/, '');
  const raw = withFolder ? noExt : noExt.slice(noExt.lastIndexOf('/') + 1);
  const cleaned = raw
    .replace(/[^A-Za-z0-9\-_/]+/g, '-')
    .replace(/\/+/g, '/')
    .replace(/-{2,}/g, '-')
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return cleaned || 'model';
}
