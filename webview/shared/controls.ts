// The form controls the panels build from @vscode-elements/elements (each panel imports the elements it uses).
import { el } from './host';

type Attrs = Record<string, string | boolean | number | undefined>;

/** A labelled field: the label above the control, an optional hint below it. */
export function field(label: string, control: Node, hint?: string): HTMLElement {
  return el('label', { class: 'field' }, el('span', { class: 'field-label' }, label), control, hint ? el('span', { class: 'field-hint' }, hint) : null);
}

export function select<T extends string>(value: T, options: readonly (readonly [T, string])[], onChange: (v: T) => void, attrs: Record<string, string | undefined> = {}): HTMLElement {
  const s = el('vscode-single-select', attrs, ...options.map(([v, label]) => el('vscode-option', { value: v, selected: v === value }, label)));
  s.addEventListener('change', () => onChange((s as unknown as { value: T }).value));
  return s;
}

export function textfield(value: string | number, onChange: (v: string) => void, attrs: Attrs = {}): HTMLElement {
  const f = el('vscode-textfield', { value: String(value), ...attrs });
  f.addEventListener('change', () => onChange((f as unknown as { value: string }).value));
  return f;
}

export function checkbox(label: string, checked: boolean, onChange: (v: boolean) => void, attrs: Record<string, string | undefined> = {}): HTMLElement {
  const c = el('vscode-checkbox', { checked, label, ...attrs });
  c.addEventListener('change', () => onChange((c as unknown as { checked: boolean }).checked));
  return c;
}

export function button(label: string, onClick: () => void, attrs: Attrs = {}): HTMLElement {
  const b = el('vscode-button', attrs, label);
  b.addEventListener('click', onClick);
  return b;
}
