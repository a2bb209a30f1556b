// The live figures of a deployment as two small line charts: requests per second, and p50 / p99 latency.
import type { MetricsEvent } from '../../src/shared/cli/events';

const NS = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, ...children: (SVGElement | string)[]): SVGElementTagNameMap[K] {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children) e.append(c);
  return e;
}

const W = 260;
const H = 90;
const PAD = { l: 36, r: 6, t: 14, b: 14 };

/** One chart: a line per series over the samples, the y axis from 0 to the largest value. */
function lineChart(title: string, unit: string, series: { name: string; cls: string; values: (number | null)[] }[]): SVGSVGElement {
  const n = Math.max(...series.map((s) => s.values.length), 2);
  const seen = series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  // Nothing measured yet (or only zeros): a scale of 1, not of a rounding error.
  const max = Math.max(...seen, 0) > 0 ? Math.max(...seen) : 1;
  const x = (i: number) => PAD.l + (i * (W - PAD.l - PAD.r)) / (n - 1);
  const y = (v: number) => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
  const paths = series.map((s) => {
    let d = '';
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null) return void (pen = false);
      d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    return svg('path', { d, class: `line ${s.cls}`, fill: 'none' });
  });
  const top = max >= 100 ? max.toFixed(0) : max >= 1 ? max.toFixed(1) : max.toPrecision(2);
  return svg(
    'svg',
    { class: 'chart', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': title },
    svg('text', { x: PAD.l, y: 10, class: 'chart-title' }, `${title} ${series.length > 1 ? series.map((s) => s.name).join(' / ') : ''}`),
    svg('line', { x1: PAD.l, y1: H - PAD.b, x2: W - PAD.r, y2: H - PAD.b, class: 'axis' }),
    svg('line', { x1: PAD.l, y1: PAD.t, x2: PAD.l, y2: H - PAD.b, class: 'axis' }),
    svg('text', { x: PAD.l - 4, y: PAD.t + 4, class: 'tick', 'text-anchor': 'end' }, `${top}${unit}`),
    svg('text', { x: PAD.l - 4, y: H - PAD.b, class: 'tick', 'text-anchor': 'end' }, '0'),
    svg('text', { x: W - PAD.r, y: H - 2, class: 'tick', 'text-anchor': 'end' }, `last ${Math.round(series[0]!.values.length * 2)} s`),
    ...paths,
  );
}

export function figuresChart(samples: readonly MetricsEvent[]): HTMLElement {
  const box = document.createElement('div');
  box.className = 'charts';
  box.append(
    lineChart('requests/s', '', [{ name: 'rps', cls: 'rps', values: samples.map((m) => m.rps) }]),
    lineChart('latency', ' ms', [
      { name: 'p50', cls: 'p50', values: samples.map((m) => m.p50Ms) },
      { name: 'p99', cls: 'p99', values: samples.map((m) => m.p99Ms) },
    ]),
  );
  return box;
}
