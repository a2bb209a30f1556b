// Pure helpers of the History panel: no DOM, so that the unit tier can test them under Node.
import { describeEvent, shortVersion, type HistoryAction, type HistoryEvent } from '../../src/shared/protocol/history';

export type FilterGroup = 'registrations' | 'stages' | 'deprecations';

export const GROUPS: { id: FilterGroup; label: string; title: string }[] = [
  { id: 'registrations', label: 'Registrations', title: 'Versions registered and deregistered' },
  { id: 'stages', label: 'Stages', title: 'Stages assigned and unassigned' },
  { id: 'deprecations', label: 'Deprecations', title: 'The model deprecated' },
];

export const GROUP_OF: Record<HistoryAction, FilterGroup> = {
  register: 'registrations',
  deregister: 'registrations',
  create: 'registrations',
  assign: 'stages',
  unassign: 'stages',
  deprecate: 'deprecations',
};

/** A codicon per action (names checked against @vscode/codicons' codicon.css). */
export const ICON_OF: Record<HistoryAction, string> = {
  register: 'tag',
  deregister: 'tag-remove',
  create: 'add',
  assign: 'rocket',
  unassign: 'circle-slash',
  deprecate: 'archive',
};

export interface Filters {
  groups: Record<FilterGroup, boolean>;
  text: string;
}

export const ALL: Filters = { groups: { registrations: true, stages: true, deprecations: true }, text: '' };

/** Whether an event passes the filters: its group is on, and the text (any case) is in who, what or why. */
export function matches(e: HistoryEvent, f: Filters): boolean {
  if (!f.groups[GROUP_OF[e.action]]) return false;
  const q = f.text.trim().toLowerCase();
  if (!q) return true;
  const hay = [e.author, e.authorEmail, e.message, e.version ?? '', e.version ? shortVersion(e.version) : '', e.stage ?? '', e.tag, describeEvent(e)];
  return hay.some((s) => s.toLowerCase().includes(q));
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
];

const rtf = new Intl.RelativeTimeFormat('en', { numeric: 'always' });

/** "3 days ago", "2 months ago", "just now" (also for dates a few seconds ahead, as tag dates may be). */
export function relativeTime(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = (now - t) / 1000;
  if (Math.abs(s) < 45) return 'just now';
  for (const [unit, secs] of UNITS) {
    const n = Math.round(Math.abs(s) / secs);
    if (n >= 1 && Math.abs(s) >= secs * 0.95) return rtf.format(s > 0 ? -n : n, unit);
  }
  return rtf.format(s > 0 ? -1 : 1, 'minute');
}

/** The absolute date for a tooltip: "2026-11-18 14:03:07 UTC". */
export function absoluteTime(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(t).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}
