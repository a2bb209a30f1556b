import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-divider/index.js';
import {
  environmentInitial,
  environmentToWebview,
  type EnvReport,
  type EnvironmentToHost,
  type EnvironmentToWebview,
  type Part,
} from '../../src/shared/protocol/environment';
import { Host, el, readInitial } from '../shared/host';
import '../shared/base.css';
import './style.css';

interface State {
  report?: EnvReport;
}

const host = new Host<EnvironmentToHost, EnvironmentToWebview, State>(environmentToWebview, 1);
const app = document.getElementById('app')!;
let loading = true;

function status<T>(p: Part<T>): HTMLElement {
  return p.ok
    ? el('vscode-icon', { name: 'pass-filled', class: 'ok', title: 'available' })
    : el('vscode-icon', { name: 'error', class: 'bad', title: 'unavailable' });
}

function row<T>(label: string, p: Part<T>, value: (v: T) => Node | string): HTMLElement {
  return el(
    'tr',
    { 'data-part': label },
    el('td', { class: 'status' }, status(p)),
    el('th', { scope: 'row' }, label),
    el(
      'td',
      {},
      p.ok
        ? value(p.value)
        : el('div', { class: 'error' }, el('div', {}, p.error), p.hint ? el('div', { class: 'hint' }, p.hint) : null),
    ),
    el('td', { class: 'ms', title: 'time to gather' }, p.ms > 0 ? `${p.ms.toFixed(0)} ms` : ''),
  );
}

const always = <T>(value: T): Part<T> => ({ ok: true, value, ms: 0 });

function render(report: EnvReport | undefined): void {
  const toolbar = el(
    'div',
    { class: 'toolbar' },
    el('vscode-button', { id: 'refresh', icon: 'refresh', disabled: loading }, 'Refresh'),
    el('vscode-button', { id: 'copy', icon: 'copy', secondary: true, disabled: !report }, 'Copy as Markdown'),
    el('vscode-button', { id: 'log', icon: 'output', secondary: true }, 'Show Log'),
    loading ? el('vscode-progress-ring', { class: 'ring', 'aria-label': 'Gathering the report' }) : null,
  );
  const header = el(
    'header',
    {},
    el('h1', {}, 'Modelyard Environment'),
    el('p', { class: 'lead' }, 'What Modelyard found in this editor. Copy it into a bug report when something does not work.'),
    toolbar,
  );
  if (!report) {
    app.replaceChildren(header, el('p', { class: 'placeholder' }, 'Gathering versions…'));
    wire();
    return;
  }
  const ort = report.onnxruntime;
  const table = el(
    'table',
    { class: 'report' },
    el('tbody', {},
      row('Modelyard', always(report.modelyard), (v) => v.version),
      row('Editor', always(report.host), (v) =>
        el('span', {}, `${v.application} ${v.appVersion ?? ''}`, v.uiKind ? el('vscode-badge', { variant: 'default' }, v.uiKind) : null,
          v.remoteName ? el('vscode-badge', { variant: 'default' }, `remote: ${v.remoteName}`) : null),
      ),
      row('Extension host', always(report.node), (v) => `Node.js ${v.version} · ${v.platform}-${v.arch} · ABI ${v.modules} · ${v.cpus} CPUs · ${v.memoryGiB} GiB`),
      row('onnxruntime-node', ort, (v) =>
        el('div', {},
          el('div', { class: 'version', id: 'ort-version' }, v.version),
          el('div', { class: 'providers' }, 'Execution providers: ',
            v.executionProviders.map((p) => el('vscode-badge', { variant: 'default', class: p.bundled ? 'ep' : 'ep missing', title: p.bundled ? 'shipped with onnxruntime-node' : 'not shipped: needs a separate install' }, p.bundled ? p.name : `${p.name} (not installed)`)),
          ),
          el('div', { class: 'path' }, v.location),
        ),
      ),
      row('git', report.git, (v) => el('span', {}, v.version, el('span', { class: 'path' }, ` ${v.path}`))),
      row('git-lfs', report.gitLfs, (v) => v.version),
      row('Repositories', report.repositories, (repos) =>
        repos.length
          ? el('ul', { class: 'repos' }, repos.map((r) =>
              el('li', {}, el('vscode-icon', { name: 'repo' }), ' ', el('span', { class: 'path' }, r.root), ' ',
                el('vscode-badge', { variant: 'default' }, r.branch ?? (r.detached ? 'detached HEAD' : 'no commits')),
                r.head ? el('span', { class: 'sha' }, ` ${r.head.slice(0, 8)}`) : null,
                r.shallow ? el('vscode-badge', { variant: 'default' }, 'shallow') : null,
              )))
          : el('span', { class: 'muted' }, 'No git repository in the workspace. The registry needs one: run "git init" in the model folder.'),
      ),
    ),
  );
  const failed = [ort, report.git, report.gitLfs, report.repositories].filter((p) => !p.ok).length;
  const summary = el('p', { class: failed ? 'summary warn' : 'summary' },
    el('vscode-icon', { name: failed ? 'warning' : 'check-all' }),
    failed ? ` ${failed} part${failed > 1 ? 's' : ''} could not be loaded: see below.` : ' Everything Modelyard needs is available.',
  );
  app.replaceChildren(header, summary, table, el('p', { class: 'muted small' }, `Gathered ${new Date(report.generatedAt).toLocaleString()}`));
  wire();
}

function wire(): void {
  document.getElementById('refresh')?.addEventListener('click', () => {
    if (loading) return;
    host.post({ type: 'refresh' });
  });
  document.getElementById('copy')?.addEventListener('click', () => host.post({ type: 'copyMarkdown' }));
  document.getElementById('log')?.addEventListener('click', () => host.post({ type: 'showLog' }));
}

host.listen((message) => {
  switch (message.type) {
    case 'loading':
      loading = true;
      render(host.state?.report);
      break;
    case 'report':
      loading = false;
      host.state = { report: message.report };
      render(message.report);
      break;
    case 'copied': {
      const b = document.getElementById('copy');
      if (b) {
        b.textContent = 'Copied';
        setTimeout(() => (b.textContent = 'Copy as Markdown'), 1500);
      }
      break;
    }
  }
});

// First paint from the initial state, or from what this webview kept before it was hidden or reloaded.
render(readInitial(environmentInitial)?.report ?? host.state?.report);
host.post({ type: 'ready' });
