/** Formatting for the Playground: numbers, shapes, latencies, and the latency histogram as inline SVG. */

export function formatDims(shape: readonly (number | string | null)[]): string {
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}

/** Up to 6 significant digits, exponent notation for very large or small magnitudes; '–' when there is none. */
export function formatNumber(x: number | null | undefined): string {
  if (x === null || x === undefined) return '–';
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '−∞';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e6 || a < 1e-4) return x.toExponential(3);
  return String(Number(x.toPrecision(6)));
}

export function formatMs(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 100) return `${ms.toFixed(2)} ms`;
  if (ms < 10_000) return `${ms.toFixed(0)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

const SVG = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  if (text !== undefined) n.textContent = text;
  return n;
}

/** Bars for each bin, the latency range under them, the count on hover. Colours come from the theme (CSS). */
export function histogramSvg(bins: readonly { from: number; to: number; count: number }[]): SVGSVGElement {
  const W = 640;
  const H = 160;
  const pad = { l: 36, r: 8, t: 8, b: 28 };
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'histogram-svg', role: 'img', 'aria-label': 'latency histogram' });
  if (!bins.length) return root;
  const max = Math.max(...bins.map((b) => b.count), 1);
  const bw = (W - pad.l - pad.r) / bins.length;
  const ih = H - pad.t - pad.b;
  root.append(svg('line', { x1: pad.l, y1: H - pad.b, x2: W - pad.r, y2: H - pad.b, class: 'axis' }));
  root.append(svg('text', { x: pad.l - 4, y: pad.t + 10, 'text-anchor': 'end', class: 'label' }, String(max)));
  root.append(svg('text', { x: pad.l - 4, y: H - pad.b, 'text-anchor': 'end', class: 'label' }, '0'));
  bins.forEach((b, i) => {
    const h = (b.count / max) * ih;
    const bar = svg('rect', { x: pad.l + i * bw + 1, y: H - pad.b - h, width: Math.max(1, bw - 2), height: h, class: 'bar' });
    bar.append(svg('title', {}, `${formatMs(b.from)} – ${formatMs(b.to)}: ${b.count} runs`));
    root.append(bar);
  });
  const first = bins[0]!;
  const last = bins[bins.length - 1]!;
  root.append(svg('text', { x: pad.l, y: H - 8, class: 'label' }, formatMs(first.from)));
  root.append(svg('text', { x: W - pad.r, y: H - 8, 'text-anchor': 'end', class: 'label' }, formatMs(last.to)));
  return root;
}
