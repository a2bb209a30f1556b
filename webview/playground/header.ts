// The page header: the model, how its session loaded (or why not), and the work in hand.
import { el } from '../shared/host';
import { formatMs } from './format';
import type { View } from './view';

function busyText(busy: { what: string; detail?: string } | undefined): string {
  switch (busy?.what) {
    case 'load':
      return 'loading the model…';
    case 'run':
      return 'running…';
    case 'benchmark':
      return 'benchmarking…';
    case 'compare':
      return 'comparing…';
    case 'remote':
      return 'asking the endpoint…';
    default:
      return busy?.detail ?? '';
  }
}

export function header(v: View): HTMLElement {
  const { model } = v.state;
  const s = v.session;
  return el(
    'header',
    {},
    el('div', { class: 'title' }, el('vscode-icon', { name: 'beaker', size: 22, class: 'title-icon' }), el('h1', {}, model.label)),
    el(
      'div',
      { class: 'meta' },
      model.detail ? el('span', { class: 'path' }, model.detail) : null,
      s.error
        ? el('span', { class: 'bad' }, el('vscode-icon', { name: 'error' }), ` ${s.error.message}`)
        : s.loadMs !== undefined
          ? el('span', { class: 'muted' }, `loaded in ${formatMs(s.loadMs)} · ${s.inputs?.length ?? 0} inputs · ${s.outputs.length} outputs · providers: ${s.providers.join(', ')}`)
          : null,
      s.busy ? el('span', { class: 'busy' }, el('vscode-progress-ring', {}), ` ${busyText(s.busy)}`) : null,
    ),
    s.error?.hint ? el('p', { class: 'hint' }, s.error.hint) : null,
  );
}
