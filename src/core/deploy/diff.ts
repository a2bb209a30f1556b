/**
 * What an apply would change: the server-side dry run's result against the object as it runs now, as one line per
 * changed field. Server-filled bookkeeping (managedFields, resourceVersion, status …) is left out, and so is the
 * content of a Secret: only its keys are named.
 */

export interface DiffLine {
  op: '+' | '-' | '~';
  path: string;
  before?: string;
  after?: string;
}

const IGNORED = new Set(['metadata.managedFields', 'metadata.resourceVersion', 'metadata.generation', 'metadata.uid', 'metadata.creationTimestamp', 'metadata.selfLink', 'status']);

function show(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > 200 ? `${s.slice(0, 199)}…` : s;
}

function walk(a: unknown, b: unknown, path: string, out: DiffLine[], secret: boolean): void {
  if (IGNORED.has(path)) return;
  if (secret && (path === 'data' || path === 'stringData')) {
    const ka = Object.keys((a as object) ?? {}).sort();
    const kb = Object.keys((b as object) ?? {}).sort();
    if (JSON.stringify(ka) !== JSON.stringify(kb)) out.push({ op: '~', path, before: `keys ${ka.join(', ') || '(none)'}`, after: `keys ${kb.join(', ')} (values not shown)` });
    return;
  }
  const isObj = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    const keys = [...new Set([...Object.keys(a as object), ...Object.keys(b as object)])].sort();
    for (const k of keys) walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k, out, secret);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((x, i) => walk(x, b[i], `${path}[${i}]`, out, secret));
    return;
  }
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  if (a === undefined) out.push({ op: '+', path, after: show(b) });
  else if (b === undefined) out.push({ op: '-', path, before: show(a) });
  else out.push({ op: '~', path, before: show(a), after: show(b) });
}

/** The changes from `current` (undefined: the object does not exist yet) to `next` (the dry run's answer). */
export function diffObjects(current: unknown, next: unknown, opts: { secret?: boolean } = {}): DiffLine[] {
  const out: DiffLine[] = [];
  walk(current ?? {}, next, '', out, !!opts.secret);
  return out;
}

export function diffText(kind: string, name: string, lines: DiffLine[], created: boolean): string {
  if (!lines.length) return `  ${kind} ${name}: unchanged\n`;
  const head = `${created ? '+' : '~'} ${kind} ${name}${created ? ' (new)' : ''}\n`;
  if (created) return head;
  return head + lines.map((l) => `    ${l.op} ${l.path}${l.op === '~' ? `: ${l.before} → ${l.after}` : l.op === '+' ? `: ${l.after}` : `: ${l.before}`}`).join('\n') + '\n';
}
