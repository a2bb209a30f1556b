// The Remote tab: the same inputs sent to an Open Inference Protocol (KServe V2) endpoint, its answer compared with a
// local run; or this model served locally to be that endpoint.
import { button, field, textfield } from '../shared/controls';
import { el } from '../shared/host';
import { compareResult } from './compare';
import { errorBox, feeds, setter, start, type View } from './view';

export function remoteTab(v: View): HTMLElement {
  const r = v.state.remote;
  const set = setter(v, r);
  const { busy, inputs, serving } = v.session;
  const send = () => start(v, { type: 'remote', url: r.url, model: r.model, inputs: feeds(v), options: v.state.options });
  return el(
    'div',
    { class: 'tab-body' },
    el(
      'p',
      { class: 'lead' },
      'Send the same inputs to an Open Inference Protocol (KServe V2) endpoint and compare its answer with a local run.',
    ),
    el(
      'div',
      { class: 'input-row' },
      field('Endpoint', textfield(r.url, (x) => set({ url: x.trim() }), { class: 'wide' }), 'base URL, e.g. http://127.0.0.1:8080'),
      field('Model name', textfield(r.model, (x) => set({ model: x.trim() }))),
    ),
    el(
      'div',
      { class: 'toolbar' },
      button('Send and Compare', send, { id: 'remote', icon: 'cloud', disabled: !inputs || !!busy || !r.url }),
      serving
        ? el('span', { class: 'serving' }, el('vscode-icon', { name: 'broadcast' }), ' serving at ', el('code', {}, serving))
        : button('Serve This Model Locally', () => v.post({ type: 'serve' }), { id: 'serve', icon: 'broadcast', secondary: true, disabled: !!busy }),
    ),
    errorBox(v, 'remote'),
    r.result ? compareResult(r.result, true) : null,
  );
}
