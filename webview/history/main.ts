import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-toolbar-button/index.js';
import {
  HISTORY_STATE_VERSION,
  describeEvent,
  historyInitial,
  historyToWebview,
  type HistoryEvent,
  type HistoryView,
  type HistoryTarget,
  type HistoryToHost,
  type HistoryToWebview,
} from '../../src/shared/protocol/history';
import { Host, el, readInitial } from '../shared/host';
import { ALL, GROUPS, GROUP_OF, ICON_OF, absoluteTime, matches, relativeTime, type FilterGroup, type Filters } from './format';
import '../shared/base.css';
import './style.css';

interface State {
  /** Which history this panel shows: the host reads it back to restore the panel after a reload. */
  target?: HistoryTarget;
  history?: HistoryView;
  filters: Filters;
}

const host = new Host<HistoryToHost, HistoryToWebview, State>(historyToWebview, HISTORY_STATE_VERSION);
const app = document.getElementById('app')!;
const initial = readInitial(historyInitial);
const kept = host.state;

const target = initial?.target ?? kept?.target;
let history = initial?.history ?? (sameTarget(kept?.target, target) ? kept?.history : undefined);
let filters: Filters = kept?.filters ?? structuredClone(ALL);
let error: { message: string; hint?: string } | undefined;
let loading = true;

function sameTarget(a: HistoryTarget | undefined, b: HistoryTarget | undefined): boolean {
  return !!a && !!b && a.root === b.root && a.model === b.model;
}

function save(): void {
  host.state = { ...(target ? { target } : {}), ...(history ? { history } : {}), filters };
}

// ------------------------------------------------------------------------------------------------------------------
// Header and toolbar

function header(): HTMLElement {
  const m = history?.model;
  const name = m?.name ?? target?.model ?? 'Model';
  const stages = Object.entries(m?.stages ?? {});
  return el(
    'header',
    {},
    el(
      'div',
      { class: 'title' },
      el('vscode-icon', { name: 'history', size: 22, class: 'title-icon' }),
      el('h1', {}, name),
      m?.latest ? el('vscode-badge', { variant: 'default', class: 'latest', title: 'The latest registered version' }, `latest ${m.latest}`) : null,
      m?.deprecated
        ? el('span', { class: 'chip deprecated', title: 'The last registry event of this model is a deprecation' }, el('vscode-icon', { name: 'archive', size: 12 }), 'deprecated')
        : null,
    ),
    el(
      'div',
      { class: 'meta' },
      m?.path ? el('span', { class: 'path', title: `${history?.repoRoot ?? ''}/${m.path}` }, m.path) : m ? el('span', { class: 'muted' }, 'known only from its tags') : null,
      m?.type ? el('span', { class: 'muted' }, `type: ${m.type}`) : null,
      m?.description ? el('span', { class: 'description' }, m.description) : null,
    ),
    stages.length
      ? el(
          'div',
          { class: 'stages', 'aria-label': 'Stages' },
          stages.map(([stage, version]) =>
            el('span', { class: 'chip stage', title: `Stage ${stage} holds ${version}` }, el('span', { class: 'stage-name' }, stage), `: ${shortVersion(version)}`),
          ),
        )
      : m
        ? el('div', { class: 'stages muted' }, 'In no stage.')
        : null,
  );
}

function shortVersion(v: string): string {
  return /^[0-9a-f]{40,64}$/.test(v) ? v.slice(0, 8) : v;
}

function toolbar(): HTMLElement {
  return el(
    'div',
    { class: 'toolbar', role: 'toolbar', 'aria-label': 'History actions' },
    el('vscode-button', { id: 'refresh', icon: 'refresh', disabled: loading, title: 'Read the registry tags again' }, 'Refresh'),
    el('vscode-button', { id: 'log', icon: 'output', secondary: true, title: 'Open the Modelyard log' }, 'Show Log'),
    loading ? el('vscode-progress-ring', { class: 'ring', 'aria-label': 'Reading the registry' }) : null,
  );
}

function filterBar(events: HistoryEvent[]): HTMLElement {
  const counts = Object.fromEntries(GROUPS.map((g) => [g.id, 0])) as Record<FilterGroup, number>;
  for (const e of events) counts[GROUP_OF[e.action]]++;
  return el(
    'div',
    { class: 'filters', role: 'group', 'aria-label': 'Filter events' },
    el(
      'div',
      { class: 'groups' },
      GROUPS.map((g) =>
        el(
          'vscode-checkbox',
          { 'data-group': g.id, checked: filters.groups[g.id], title: g.title, label: `${g.label} (${counts[g.id]})` },
        ),
      ),
    ),
    el('vscode-textfield', {
      id: 'filter-text',
      placeholder: 'Filter by author, message or version',
      'aria-label': 'Filter by author, message or version',
      value: filters.text,
    }, el('vscode-icon', { slot: 'content-before', name: 'filter', size: 14 })),
    el('span', { id: 'count', class: 'muted', 'aria-live': 'polite' }),
  );
}

// ------------------------------------------------------------------------------------------------------------------
// Timeline

function eventRow(e: HistoryEvent, ignored: string | undefined): HTMLElement {
  const what = describeEvent(e);
  const firstLine = e.message.split('\n', 1)[0] ?? '';
  const rest = e.message.slice(firstLine.length).trim();
  return el(
    'li',
    { class: `event ${e.action}${ignored ? ' ignored' : ''}`, 'data-action': e.action, 'data-tag': e.tag },
    el('div', { class: 'marker', 'aria-hidden': 'true' }, el('vscode-icon', { name: ICON_OF[e.action], size: 14 })),
    el(
      'div',
      { class: 'body' },
      el(
        'div',
        { class: 'line' },
        el('span', { class: 'author', title: e.authorEmail ? `${e.author} <${e.authorEmail}>` : e.author }, e.author || 'unknown'),
        ' ',
        el('span', { class: 'what' }, what),
        el('time', { datetime: e.date, title: absoluteTime(e.date), 'data-iso': e.date }, relativeTime(e.date)),
      ),
      firstLine ? el('div', { class: 'message' }, firstLine, rest ? el('div', { class: 'message-rest' }, rest) : null) : null,
      ignored
        ? el('div', { class: 'ignored-reason' }, el('vscode-icon', { name: 'warning', size: 14 }), ` Not counted: ${ignored}`)
        : null,
      el(
        'div',
        { class: 'refs' },
        el('span', { class: 'tag', title: 'Registry tag' }, el('vscode-icon', { name: 'tag', size: 12 }), ' ', e.tag),
        el('vscode-toolbar-button', { class: 'copy', icon: 'copy', label: `Copy tag ${e.tag}`, title: 'Copy the tag name', 'data-copy': e.tag }),
        el(
          'button',
          { class: 'commit', type: 'button', title: `Show commit ${e.commit}`, 'data-commit': e.commit },
          el('vscode-icon', { name: 'git-commit', size: 12 }),
          ' ',
          e.commit.slice(0, 8),
        ),
      ),
    ),
  );
}

function timeline(): HTMLElement {
  const events = history?.events ?? [];
  const ignored = new Map((history?.problems ?? []).map((p) => [p.tag, p.reason]));
  const shown = events.filter((e) => matches(e, filters));
  if (!events.length) {
    return el(
      'div',
      { id: 'timeline', class: 'empty' },
      el('vscode-icon', { name: 'history', size: 32 }),
      el('p', {}, 'No registry events yet — register a version from the Models view.'),
    );
  }
  if (!shown.length) {
    return el('div', { id: 'timeline', class: 'empty' }, el('p', {}, 'No event matches the filters.'), el('vscode-button', { id: 'clear', secondary: true, icon: 'clear-all' }, 'Clear Filters'));
  }
  return el(
    'ol',
    { id: 'timeline', class: 'timeline', 'aria-label': `Registry events of ${history?.model.name ?? ''}, newest first` },
    shown.map((e) => eventRow(e, ignored.get(e.tag))),
    history?.omittedEvents ? el('li', { class: 'omitted muted' }, `${history.omittedEvents} older events are not shown.`) : null,
  );
}

function problemsBox(): HTMLElement | null {
  const problems = (history?.problems ?? []).filter((p) => !history?.events.some((e) => e.tag === p.tag));
  if (!problems.length) return null;
  return el(
    'details',
    { class: 'problems' },
    el('summary', {}, el('vscode-icon', { name: 'warning', size: 14 }), problems.length === 1 ? ' 1 tag of this model does not count' : ` ${problems.length} tags of this model do not count`),
    el('ul', {}, problems.map((p) => el('li', {}, el('code', {}, p.tag), ` — ${p.reason}`))),
  );
}

// ------------------------------------------------------------------------------------------------------------------

function render(): void {
  if (error) {
    app.replaceChildren(
      header(),
      toolbar(),
      el(
        'div',
        { class: 'error', role: 'alert' },
        el('vscode-icon', { name: 'error', size: 16 }),
        el('div', {}, el('div', { class: 'error-message' }, error.message), error.hint ? el('div', { class: 'hint' }, error.hint) : null),
      ),
    );
    return;
  }
  if (!history) {
    app.replaceChildren(header(), toolbar(), el('p', { class: 'muted placeholder' }, 'Reading the registry…'));
    return;
  }
  app.replaceChildren(header(), toolbar(), problemsBox() ?? '', history.events.length ? filterBar(history.events) : '', timeline());
  updateCount();
}

function renderTimeline(): void {
  document.getElementById('timeline')?.replaceWith(timeline());
  updateCount();
}

function updateCount(): void {
  const count = document.getElementById('count');
  const events = history?.events ?? [];
  const shown = events.filter((e) => matches(e, filters)).length;
  if (count) count.textContent = shown === events.length ? `${events.length} event${events.length === 1 ? '' : 's'}` : `${shown} of ${events.length} events`;
}

// One set of listeners on the app: the DOM under it is rebuilt, the listeners stay.
app.addEventListener('click', (ev) => {
  const t = ev.target as HTMLElement;
  const copy = t.closest<HTMLElement>('[data-copy]');
  if (copy) {
    host.post({ type: 'copyTag', tag: copy.dataset.copy! });
    copy.setAttribute('icon', 'check');
    setTimeout(() => copy.setAttribute('icon', 'copy'), 1500);
    return;
  }
  const commit = t.closest<HTMLElement>('[data-commit]');
  if (commit) {
    host.post({ type: 'openCommit', commit: commit.dataset.commit! });
    return;
  }
  const button = t.closest('vscode-button');
  if (!button || button.hasAttribute('disabled')) return;
  switch (button.id) {
    case 'refresh':
      loading = true;
      render();
      host.post({ type: 'refresh' });
      break;
    case 'log':
      host.post({ type: 'showLog' });
      break;
    case 'clear':
      filters = structuredClone(ALL);
      save();
      render();
      break;
  }
});

app.addEventListener('change', (ev) => {
  const box = (ev.target as HTMLElement).closest<HTMLElement & { checked: boolean }>('vscode-checkbox[data-group]');
  if (!box) return;
  filters = { ...filters, groups: { ...filters.groups, [box.dataset.group as FilterGroup]: box.checked } };
  save();
  renderTimeline();
});

app.addEventListener('input', (ev) => {
  const field = (ev.target as HTMLElement).closest<HTMLElement & { value: string }>('#filter-text');
  if (!field) return;
  filters = { ...filters, text: field.value };
  save();
  renderTimeline();
});

// Relative dates age while the panel is open.
setInterval(() => {
  for (const t of document.querySelectorAll<HTMLElement>('time[data-iso]')) t.textContent = relativeTime(t.dataset.iso!);
}, 60_000);

host.listen((message) => {
  loading = false;
  switch (message.type) {
    case 'history':
      history = message.history;
      error = undefined;
      break;
    case 'error':
      error = { message: message.message, ...(message.hint ? { hint: message.hint } : {}) };
      history = undefined;
      break;
  }
  save();
  render();
});

// First paint from the initial state, or from what this webview kept before it was hidden or reloaded; the target
// is saved at once so that a reload before the first history can still restore the panel.
save();
render();
host.post({ type: 'ready' });
