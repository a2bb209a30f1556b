/**
 * The registry as GTO computes it from its tags (iterative/gto base.py): artifacts, their versions and stages.
 * Events are ordered by tag date; only annotated tags count.
 */
import type { TagRef, TagSink } from './refs';
import { compareVersions, isVersion } from './semver';
import { parseTag, type Action } from './tags';

export interface RegistryEvent {
  action: Action;
  artifact: string;
  /** The version the event concerns: a SemVer for registrations, the registered version (or commit) for stages. */
  version?: string;
  stage?: string;
  tag: string;
  commit: string;
  /** Seconds since the epoch (the tagger date). */
  date: number;
  author: string;
  authorEmail: string;
  message: string;
  counter?: number;
}

export interface StageState {
  stage: string;
  /** Assigned and not unassigned since. */
  active: boolean;
  /** The most recent assignment or unassignment. */
  last: RegistryEvent;
}

export interface VersionState {
  /** "v1.2.3", or the commit sha for a commit that was assigned a stage without being registered. */
  version: string;
  commit: string;
  /** Explicitly registered (a register tag exists), even if deregistered later. */
  registered: boolean;
  /** Registered and not deregistered since (or, unregistered, with stage events). */
  active: boolean;
  /** The first event that created it. */
  createdBy: RegistryEvent;
  events: RegistryEvent[];
  /** Its stages, assigned or unassigned: most versions have none, and share one empty map. */
  stages: ReadonlyMap<string, StageState>;
}

const NO_STAGES: ReadonlyMap<string, StageState> = new Map();

export interface ArtifactState {
  name: string;
  versions: VersionState[];
  events: RegistryEvent[];
  deprecated: boolean;
  /** Highest SemVer among active registered versions. */
  latest?: VersionState;
  /** Stage → the version with the most recent active assignment. */
  stages: Map<string, VersionState>;
}

export interface Problem {
  tag: string;
  reason: string;
}

export interface RegistryState {
  artifacts: Map<string, ArtifactState>;
  /** Tags that look like GTO tags but do not count, with the reason. */
  problems: Problem[];
  /** Every event: artifact by artifact (by name), each artifact's in date order. */
  events: RegistryEvent[];
  /** The name of every tag read, GTO's or not, annotated or not (what a new tag's counter must step over). */
  tagNames: string[];
}

/** Tags that GTO would not recognise at all but that a person may have meant as registry tags. */
function looksLikeRegistryTag(name: string): boolean {
  return name.includes('@') || name.includes('#');
}

/** Tag date first; the counter, then the name, break ties so that the order never depends on git's listing. */
function byDate(a: RegistryEvent, b: RegistryEvent): number {
  return a.date - b.date || (a.counter ?? 0) - (b.counter ?? 0) || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0);
}

/**
 * Collects events tag by tag (streamTags calls `addTag` for each tag git lists), each into its artifact's draft,
 * then builds each artifact's state. Each tag becomes its event directly, with no object in between: this runs for
 * every tag of the repository. The order tags arrive in does not matter.
 */
export class StateBuilder {
  private readonly drafts = new Map<string, Draft>();
  private readonly problems: Problem[] = [];
  private readonly names: string[] = [];

  addTag: TagSink = (name, objectType, commit, targetType, tagger, taggerEmail, date, message) => {
    this.names.push(name);
    const p = parseTag(name);
    if (!p) {
      if (looksLikeRegistryTag(name)) this.problems.push({ tag: name, reason: 'not a valid GTO tag name' });
      return;
    }
    if (objectType !== 'tag') {
      this.problems.push({ tag: name, reason: 'lightweight tag: GTO counts only annotated tags (git tag -a)' });
      return;
    }
    if (targetType !== 'commit') {
      this.problems.push({ tag: name, reason: `points at a ${targetType}, not a commit` });
      return;
    }
    const e: RegistryEvent = { action: p.action, artifact: p.artifact, tag: name, commit, date, author: tagger, authorEmail: taggerEmail, message };
    if (p.version) e.version = p.version;
    if (p.stage) e.stage = p.stage;
    if (p.counter !== undefined) e.counter = p.counter;
    let d = this.drafts.get(e.artifact);
    if (!d) {
      d = { a: { name: e.artifact, versions: [], events: [], deprecated: false, stages: new Map() }, byVersion: new Map(), byCommit: new Map() };
      this.drafts.set(e.artifact, d);
    }
    d.a.events.push(e);
  };

  add(t: TagRef): void {
    this.addTag(t.name, t.objectType, t.commit, t.targetType, t.tagger, t.taggerEmail, t.date, t.message);
  }

  build(): RegistryState {
    const problems = this.problems;
    const artifacts = new Map<string, ArtifactState>();
    const events: RegistryEvent[] = [];
    // By name, so that the result never depends on the order git (or its parallel listings) gave the tags in.
    for (const name of [...this.drafts.keys()].sort(byString)) {
      const d = this.drafts.get(name)!;
      buildArtifact(d, problems);
      artifacts.set(name, d.a);
      for (const e of d.a.events) events.push(e);
    }
    problems.sort((x, y) => byString(x.tag, y.tag));
    return { artifacts, problems, events, tagNames: this.names };
  }
}

function byString(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The state of a list of tags read at once (loadRegistry streams them into a StateBuilder instead). */
export function buildState(tags: readonly TagRef[]): RegistryState {
  const builder = new StateBuilder();
  for (const t of tags) builder.add(t);
  return builder.build();
}

/** An artifact's state while it is built, with its indexes. */
interface Draft {
  a: ArtifactState;
  byVersion: Map<string, VersionState>;
  byCommit: Map<string, VersionState[]>;
}

function newVersion(d: Draft, version: string, e: RegistryEvent, registered: boolean): VersionState {
  const v: VersionState = { version, commit: e.commit, registered, active: true, createdBy: e, events: [], stages: NO_STAGES };
  d.a.versions.push(v);
  if (registered) d.byVersion.set(version, v);
  const same = d.byCommit.get(e.commit);
  if (same) same.push(v);
  else d.byCommit.set(e.commit, [v]);
  return v;
}

/** One artifact's state from its events: sorted by date, then three passes, with no search through lists. */
function buildArtifact(d: Draft, problems: Problem[]): void {
  const a = d.a;
  const events = a.events.sort(byDate);
  // The version each event belongs to (undefined for deprecations and refused tags), by event index.
  const owner = new Array<VersionState | undefined>(events.length);

  // Pass 1: versions, from registrations and deregistrations.
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.action !== 'register' && e.action !== 'deregister') continue;
    let v = d.byVersion.get(e.version!);
    if (v && v.commit !== e.commit && e.action === 'register') {
      problems.push({ tag: e.tag, reason: `${e.version} is already registered at commit ${v.commit.slice(0, 8)}` });
      continue;
    }
    if (!v) {
      if (e.action === 'deregister') {
        problems.push({ tag: e.tag, reason: `deregisters ${e.version}, which was never registered` });
        continue;
      }
      v = newVersion(d, e.version!, e, true);
    }
    owner[i] = v;
    v.active = e.action === 'register';
  }

  // Pass 2: stages. As in GTO, a stage tag names a commit and binds to the version registered there, whenever that
  // registration happened (before or after the assignment); a commit never registered stands as its own version.
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.action !== 'assign' && e.action !== 'unassign') continue;
    let v: VersionState | undefined;
    for (const x of d.byCommit.get(e.commit) ?? []) {
      if (x.registered && x.active) {
        v = x;
        break;
      }
      if (!v || (x.registered && !v.registered)) v = x;
    }
    v ??= newVersion(d, e.commit, e, false);
    e.version = v.version;
    owner[i] = v;
    if (v.stages === NO_STAGES) v.stages = new Map();
    (v.stages as Map<string, StageState>).set(e.stage!, { stage: e.stage!, active: e.action === 'assign', last: e });
  }

  // Pass 3: each version's events, in date order.
  for (let i = 0; i < events.length; i++) owner[i]?.events.push(events[i]!);

  // GTO: an artifact is deprecated while its most recent event is a deprecation.
  a.deprecated = events.at(-1)?.action === 'deprecate';
  let latest: VersionState | undefined;
  // The version in a stage: the one whose active assignment is the most recent.
  const best = new Map<string, { v: VersionState; s: StageState }>();
  for (const v of a.versions) {
    if (!v.active) continue;
    if (v.registered && isVersion(v.version) && (!latest || compareVersions(v.version, latest.version) > 0)) latest = v;
    for (const s of v.stages.values()) {
      if (!s.active) continue;
      const cur = best.get(s.stage);
      if (!cur || s.last.date > cur.s.last.date || (s.last.date === cur.s.last.date && (s.last.counter ?? 0) > (cur.s.last.counter ?? 0))) {
        best.set(s.stage, { v, s });
      }
    }
  }
  a.latest = latest;
  a.stages = new Map([...best].sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, { v }]) => [k, v]));
}

/** Versions newest first: registered SemVer versions by precedence, then unregistered commits by date. */
export function sortedVersions(a: ArtifactState): VersionState[] {
  return [...a.versions].sort((x, y) => {
    const sx = isVersion(x.version);
    const sy = isVersion(y.version);
    if (sx && sy) return compareVersions(y.version, x.version);
    if (sx !== sy) return sx ? -1 : 1;
    return y.createdBy.date - x.createdBy.date;
  });
}
