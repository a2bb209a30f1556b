/**
 * A model's registry history as the History panel shows it: who did what, when and why, newest first.
 *
 * This file is bundled into the webview too (through src/shared/protocol/history.ts, which reads its limits and
 * action words), so it must stay free of Node modules: type-only imports from the rest of the registry, and
 * nothing that reaches child_process or fs.
 */
import { UserError } from '../errors';
import type { Registry } from './registry';
import type { Problem, RegistryEvent } from './state';
import { artifactToTag, type Action } from './tags';

export type HistoryAction = Action;

export interface HistoryEvent {
  /** The tagger date, ISO 8601 in UTC. */
  date: string;
  action: HistoryAction;
  /** The version the event concerns: "v1.2.3", or a commit sha for a stage on an unregistered commit. */
  version?: string;
  stage?: string;
  author: string;
  authorEmail: string;
  /** Why: the tag's message. */
  message: string;
  tag: string;
  commit: string;
}

export interface HistoryModel {
  name: string;
  /** Where its file lives now; undefined for a model known only from its tags. */
  path?: string;
  description?: string;
  type?: string;
  /** The latest active registered version. */
  latest?: string;
  deprecated: boolean;
  /** Stage → the version in it now. */
  stages: Record<string, string>;
}

export interface HistoryView {
  repoRoot: string;
  model: HistoryModel;
  /** Newest first; at most HISTORY_LIMITS.events of them. */
  events: HistoryEvent[];
  /** Older events left out to keep the view within HISTORY_LIMITS.events (0 almost always). */
  omittedEvents: number;
  /** Tags that look like this model's registry tags but do not count, with the reason. */
  problems: Problem[];
}

/** The bounds the contract checks; historyView clips to them so that a real repository never breaks the panel. */
export const HISTORY_LIMITS = {
  /** Names, paths, emails, tag names. */
  text: 4096,
  /** A tag message (the "why"), which people sometimes make long. */
  message: 16_384,
  events: 5000,
  problems: 1000,
  stages: 256,
} as const;

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

const text = (s: string) => clip(s, HISTORY_LIMITS.text);

function eventOf(e: RegistryEvent): HistoryEvent {
  return {
    date: new Date(e.date * 1000).toISOString(),
    action: e.action,
    ...(e.version !== undefined ? { version: text(e.version) } : {}),
    ...(e.stage !== undefined ? { stage: text(e.stage) } : {}),
    author: text(e.author),
    authorEmail: text(e.authorEmail),
    message: clip(e.message, HISTORY_LIMITS.message),
    tag: text(e.tag),
    commit: e.commit,
  };
}

/** True when `tag` names the artifact whose tag form is `tagName`: "wake@…" or "wake#…", not "wakeword@…". */
function isTagOf(tag: string, tagName: string): boolean {
  return tag.startsWith(tagName) && (tag.length === tagName.length || tag[tagName.length] === '@' || tag[tagName.length] === '#');
}

/** The history of one model of a loaded registry. Throws a UserError when the registry has no such model. */
export function historyView(reg: Registry, name: string): HistoryView {
  const model = reg.models.find((m) => m.name === name);
  if (!model) {
    throw new UserError(
      `there is no model named '${name}' in ${reg.root} any more.`,
      'It may have been renamed, moved out of the repository, or its tags deleted. Open its history again from the Models view.',
    );
  }
  const a = model.state;
  const all = a ? [...a.events].reverse() : [];
  const events = all.slice(0, HISTORY_LIMITS.events).map(eventOf);
  const tagName = artifactToTag(name);
  const problems = reg.problems
    .filter((p) => isTagOf(p.tag, tagName))
    .slice(0, HISTORY_LIMITS.problems)
    .map((p) => ({ tag: text(p.tag), reason: text(p.reason) }));
  const entry = model.entry;
  return {
    repoRoot: text(reg.root),
    model: {
      name: text(model.name),
      ...(entry?.path !== undefined ? { path: text(entry.path) } : {}),
      ...(entry?.description !== undefined ? { description: text(entry.description) } : {}),
      ...(entry?.type !== undefined ? { type: text(entry.type) } : {}),
      ...(a?.latest ? { latest: text(a.latest.version) } : {}),
      deprecated: a?.deprecated ?? false,
      stages: Object.fromEntries(
        (a ? [...a.stages] : []).slice(0, HISTORY_LIMITS.stages).map(([stage, v]) => [text(stage), text(v.version)]),
      ),
    },
    events,
    omittedEvents: all.length - events.length,
    problems,
  };
}

/** A version as people read it: "v1.2.3", or the short commit of an unregistered one. */
export function shortVersion(version: string): string {
  return /^[0-9a-f]{40,64}$/.test(version) ? `commit ${version.slice(0, 8)}` : version;
}

/** What an event did, in words: "registered v1.2.0", "assigned prod to v1.2.0", "deprecated the model". */
export function describeEvent(e: Pick<HistoryEvent, 'action' | 'version' | 'stage'>): string {
  const v = e.version !== undefined ? shortVersion(e.version) : 'an unknown version';
  const s = e.stage ?? 'a stage';
  switch (e.action) {
    case 'register':
      return `registered ${v}`;
    case 'deregister':
      return `deregistered ${v}`;
    case 'assign':
      return `assigned ${s} to ${v}`;
    case 'unassign':
      return `unassigned ${s} from ${v}`;
    case 'deprecate':
      return 'deprecated the model';
    case 'create':
      return 'created the model';
  }
}
