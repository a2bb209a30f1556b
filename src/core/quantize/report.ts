/** A quantization report for people: the CLI's text, and the Markdown saved beside a report's JSON. */
import { formatBytes, formatDuration } from '../util/format';
import type { QuantizeReport } from './quantize';
import { MODE_LABELS } from './types';

const n4 = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toFixed(4));
const pct = (v: number | undefined) => (v === undefined ? '–' : `${(v * 100).toFixed(1)}%`);

/** The verdict line: "PASS: …" or "FAIL: reasons". */
export function verdictLine(r: QuantizeReport): string {
  if (r.verdict.pass && r.fidelity.samples === 0) return 'WRITTEN: fidelity not measured (--no-eval)';
  return r.verdict.pass ? `PASS: worst cosine ${n4(r.fidelity.worstCosine)} ≥ ${r.thresholds.minCosine}` : `FAIL: ${r.verdict.reasons.join('; ')}`;
}

/** Grouped decisions: "converted 12 MatMul (DynamicQuantizeLinear+MatMulInteger)", "kept 3 Conv: reason". */
export function decisionGroups(r: QuantizeReport): { action: 'converted' | 'kept'; opType: string; form?: string; reason: string; count: number; nodes: string[] }[] {
  const groups = new Map<string, { action: 'converted' | 'kept'; opType: string; form?: string; reason: string; count: number; nodes: string[] }>();
  for (const d of r.decisions) {
    // Converted nodes differ only by their weights' shapes ("constant float32 weight 2400×32"): one line per op and form.
    const reason = d.action === 'converted' ? d.reason.replace(/ \d+(?:×\d+)+/g, '') : d.reason;
    const key = `${d.action}\u0000${d.opType}\u0000${d.form ?? ''}\u0000${reason}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { action: d.action, opType: d.opType, ...(d.form ? { form: d.form } : {}), reason, count: 0, nodes: [] }));
    const m = /^(\d+) nodes?$/.exec(d.node);
    g.count += m ? Number(m[1]) : 1;
    if (!m) g.nodes.push(d.node);
  }
  return [...groups.values()].sort((a, b) => (a.action === b.action ? b.count - a.count : a.action === 'converted' ? -1 : 1));
}

export function reportToText(r: QuantizeReport): string {
  const lines: string[] = [];
  lines.push(`${r.source.label} → ${r.output.file}`);
  lines.push(`  form       ${MODE_LABELS[r.mode]}${r.requestedMode === 'auto' ? ' (chosen by Auto)' : ''}`);
  lines.push(`  size       ${formatBytes(r.source.bytes)} → ${formatBytes(r.output.bytes)} (×${r.sizeRatio.toFixed(3)})`);
  // MB/s says something only for megabytes of weights; below, fixed costs are all it measures.
  const speed = r.source.weightBytes >= 1e6 && Number.isFinite(r.mbPerSecond) ? ` (${r.mbPerSecond.toFixed(0)} MB/s of float weights)` : '';
  lines.push(`  time       ${r.seconds.toFixed(2)} s${speed}`);
  if (r.calibration) lines.push(`  calibrated ${r.calibration.method} on ${r.calibration.source} in ${r.calibration.seconds.toFixed(2)} s`);
  if (r.latency) lines.push(`  latency    ${formatDuration(r.latency.originalMs)} → ${formatDuration(r.latency.quantizedMs)} (×${r.latency.ratio.toFixed(2)}, medians of ${r.latency.runs} interleaved runs)`);
  lines.push(`  fidelity   on ${r.fidelity.source}`);
  for (const o of r.fidelity.outputs) {
    lines.push(`    ${o.name.padEnd(16)} cosine ${n4(o.cosine)}  max |err| ${o.maxAbsError.toPrecision(3)}${o.top1 !== undefined ? `  top-1 ${pct(o.top1)}` : ''}${o.pass ? '' : '  ✗'}`);
  }
  lines.push(`  nodes      ${r.converted} converted, ${r.kept} kept`);
  for (const g of decisionGroups(r)) {
    lines.push(`    ${g.action === 'converted' ? '✓' : '·'} ${g.count} ${g.opType}${g.form ? ` → ${g.form}` : ''}: ${g.reason}${g.action === 'kept' && g.nodes.length && g.nodes.length <= 4 ? ` (${g.nodes.join(', ')})` : ''}`);
  }
  if (r.sensitivity?.keptFloat.length) lines.push(`  sensitivity kept in float: ${r.sensitivity.keptFloat.join(', ')}`);
  if (r.auto) {
    lines.push(`  auto       ${r.auto.why}`);
    for (const c of r.auto.candidates) {
      lines.push(
        `    ${c.mode === r.auto.chosen ? '➜' : ' '} ${c.mode.padEnd(12)} ${c.error ? `failed: ${c.error}` : `size ×${c.sizeRatio.toFixed(2)}  cosine ${n4(c.worstCosine)}  latency ×${c.latencyRatio?.toFixed(2) ?? '–'}  ${c.pass ? 'pass' : `fail: ${c.reasons.join('; ')}`}`}`,
      );
    }
  }
  for (const n of r.notes) lines.push(`  note       ${n}`);
  lines.push(verdictLine(r));
  return lines.join('\n') + '\n';
}

/** The lineage written into a registration tag's message: where it came from and how, in key: value lines. */
export function lineage(r: QuantizeReport, source: { ref?: string; commit?: string }): string {
  const s = r.settings;
  const settings = Object.entries(s)
    .filter(([k, v]) => k !== 'tool' && k !== 'mode' && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
    .join(' ');
  return [
    `quantized-from: ${source.ref ?? r.source.label}${source.commit ? ` (commit ${source.commit.slice(0, 12)})` : ''}`,
    `source-sha256: ${r.source.sha256}`,
    `mode: ${r.mode}${r.requestedMode === 'auto' ? ' (auto)' : ''}`,
    ...(settings ? [`settings: ${settings}`] : []),
    ...(r.calibration ? [`calibration: ${r.calibration.method}, ${r.calibration.source}`] : []),
    `fidelity: worst cosine ${n4(r.fidelity.worstCosine)} on ${r.fidelity.source}`,
    `size: ${formatBytes(r.source.bytes)} -> ${formatBytes(r.output.bytes)} (x${r.sizeRatio.toFixed(3)})`,
    ...(r.latency ? [`latency: x${r.latency.ratio.toFixed(2)}`] : []),
    `tool: ${s.tool}`,
  ].join('\n');
}
