/**
 * The registry as GTO computes it from its tags (iterative/gto base.py): artifacts, their versions and stages.
 * Events are ordered by tag date; only annotated tags count.
 */
import type { TagRef } from './refs';
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
  stages: Map<string, StageState>;
}

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
  /** How many tags were read in all. */
  tagCount: number;
}

/** Tags that GTO would not recognise at all but that a person may have meant as registry tags. */
function looksLikeRegistryTag(name: string): boolean {
  return /[@#]/.test(name);
}

/** One tag's event, or undefined (with the reason added to `problems` when it looks meant as a registry tag). */
export function eventFromTag(t: TagRef, problems: Problem[]): RegistryEvent | undefined {
  const p = parseTag(t.name);
  if (!p) {
    if (looksLikeRegistryTag(t.name)) problems.push({ tag: t.name, reason: 'not a valid GTO tag name' });
    return undefined;
  }
  if (t.objectType !== 'tag') {
    problems.push({ tag: t.name, reason: 'lightweight tag: GTO counts only annotated tags (git tag -a)' });
    return undefined;
  }
  if (t.targetType !== 'commit') {
    problems.push({ tag: t.name, reason: `points at a ${t.targetType}, not a commit` });
    return undefined;
  }
  // Built field by field, not with spreads: this runs for every tag of the repository.
  const e: RegistryEvent = {
    action: p.action,
    artifact: p.artifact,
    tag: t.name,
    commit: t.commit,
    date: t.date,
    author: t.tagger,
    authorEmail: t.taggerEmail,
    message: t.message,
  };
  if (p.version) e.version = p.version;
  if (p.stage) e.stage = p.stage;
  if (p.counter !== undefined) e.counter = p.counter;
  return e;
}

/** Tag date first; the counter, then the name, break ties so that the order never depends on git's listing. */
function byDate(a: RegistryEvent, b: RegistryEvent): number {
  return a.date - b.date || (a.counter ?? 0) - (b.counter ?? 0) || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0);
}

/** Collects events tag by tag, as the tags arrive (readTags calls it while git streams), then builds the state. */
export class StateBuilder {
  private readonly events: RegistryEvent[] = [];
  private readonly problems: Problem[] = [];
  private count = 0;

  add = (t: TagRef): void => {
    this.count++;
    const e = eventFromTag(t, this.problems);
    if (e) this.events.push(e);
  };

  build(): RegistryState {
    return stateFromEvents(this.events.sort(byDate), this.problems, this.count);
  }
}

/** The state of a list of tags read at once (loadRegistry streams them into a StateBuilder instead). */
export function buildState(tags: readonly TagRef[]): RegistryState {
  const builder = new StateBuilder();
  for (const t of tags) builder.add(t);
  return builder.build();
}

/** The state from events in date order. */
function stateFromEvents(events: RegistryEvent[], problems: Problem[], tagCount: number): RegistryState {
  const artifacts = new Map<string, ArtifactState>();
  const artifact = (name: string): ArtifactState => {
    let a = artifacts.get(name);
    if (!a) {
      a = { name, versions: [], events: [], deprecated: false, stages: new Map() };
      artifacts.set(name, a);
    }
    return a;
  };

  // Pass 1: versions, from registrations and deregistrations.
  for (const e of events) {
    const a = artifact(e.artifact);
    a.events.push(e);
    if (e.action !== 'register' && e.action !== 'deregister') continue;
    let v = a.versions.find((x) => x.version === e.version);
    if (v && v.commit !== e.commit && e.action === 'register') {
      problems.push({ tag: e.tag, reason: `${e.version} is already registered at commit ${v.commit.slice(0, 8)}` });
      continue;
    }
    if (!v) {
      if (e.action === 'deregister') {
        problems.push({ tag: e.tag, reason: `deregisters ${e.version}, which was never registered` });
        continue;
      }
      v = { version: e.version!, commit: e.commit, registered: true, active: true, createdBy: e, events: [], stages: new Map() };
      a.versions.push(v);
    }
    v.events.push(e);
    v.active = e.action === 'register';
  }

  // Pass 2: stages. As in GTO, a stage tag names a commit and binds to the version registered there, whenever that
  // registration happened (before or after the assignment); a commit never registered stands as its own version.
  for (const e of events) {
    if (e.action !== 'assign' && e.action !== 'unassign') continue;
    const a = artifacts.get(e.artifact)!;
    let v: VersionState | undefined;
    for (const x of a.versions) {
      if (x.commit !== e.commit) continue;
      if (x.registered && x.active) {
        v = x;
        break;
      }
      if (!v || (x.registered && !v.registered)) v = x;
    }
    if (!v) {
      v = { version: e.commit, commit: e.commit, registered: false, active: true, createdBy: e, events: [], stages: new Map() };
      a.versions.push(v);
    }
    e.version = v.version;
    v.events.push(e);
    v.stages.set(e.stage!, { stage: e.stage!, active: e.action === 'assign', last: e });
  }
  const order = new Map(events.map((e, i) => [e, i]));
  for (const a of artifacts.values()) for (const v of a.versions) v.events.sort((x, y) => order.get(x)! - order.get(y)!);

  for (const a of artifacts.values()) {
    // GTO: an artifact is deprecated while its most recent event is a deprecation.
    a.deprecated = a.events.at(-1)?.action === 'deprecate';
    const registered = a.versions.filter((v) => v.registered && v.active && isVersion(v.version));
    registered.sort((x, y) => compareVersions(y.version, x.version));
    a.latest = registered[0];
    // The version in a stage: the one whose active assignment is the most recent.
    const best = new Map<string, { v: VersionState; s: StageState }>();
    for (const v of a.versions) {
      if (!v.active) continue;
      for (const s of v.stages.values()) {
        if (!s.active) continue;
        const cur = best.get(s.stage);
        if (!cur || s.last.date > cur.s.last.date || (s.last.date === cur.s.last.date && (s.last.counter ?? 0) > (cur.s.last.counter ?? 0))) {
          best.set(s.stage, { v, s });
        }
      }
    }
    a.stages = new Map([...best].sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, { v }]) => [k, v]));
  }
  return { artifacts, problems, tagCount };
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
