// The data tables the panels show (`table.grid`, styled by grid.css): a header row, then one row per item, each
// cell made by its column.
import { el, type Child } from './host';

/** One column: its header, and its cell in each row. */
export interface Column<R> {
  head: string;
  cell: (row: R) => Child | Child[];
  /** The body cells' class ('num' aligns figures, 'name' a name), the same for every row or given the row. */
  class?: string | ((row: R) => string);
  /** The header cell's class. */
  headClass?: string;
}

/** A table of `rows`, one column each of `columns`; `rowAttrs` gives a row its attributes (data-*, class). */
export function table<R>(cls: string, columns: readonly Column<R>[], rows: readonly R[], rowAttrs?: (row: R) => Record<string, string | number>): HTMLTableElement {
  return el(
    'table',
    { class: cls },
    el('thead', {}, el('tr', {}, ...columns.map((c) => el('th', { class: c.headClass }, c.head)))),
    el(
      'tbody',
      {},
      rows.map((r) => el('tr', rowAttrs?.(r) ?? {}, ...columns.map((c) => el('td', { class: typeof c.class === 'function' ? c.class(r) : c.class }, c.cell(r))))),
    ),
  );
}
