/** A model summary for people: Markdown for the clipboard and the CLI's text output. */
import { formatBytes } from '../util/format';
import { formatShape } from '../inference/tensor';
import type { ModelSummary } from './summary';

const opsetText = (s: ModelSummary) => s.opsets.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ');

function io(t: ModelSummary['inputs'][number]): string {
  return `${t.name}: ${t.dtype ?? t.kind ?? '?'} ${t.shape ? formatShape(t.shape) : '(unknown shape)'}`;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function summaryToMarkdown(s: ModelSummary, title = s.file): string {
  const lines = [
    `## ${title}`,
    '',
    '| | |',
    '|---|---|',
    `| Size | ${formatBytes(s.size)} |`,
    ...(s.sha256 ? [`| SHA-256 | \`${s.sha256}\` |`] : []),
    `| IR version | ${s.irVersion} |`,
    `| Opsets | ${cell(opsetText(s))} |`,
    ...(s.producer.name ? [`| Producer | ${cell(`${s.producer.name} ${s.producer.version}`.trim())} |`] : []),
    `| Parameters | ${s.parameters.count.toLocaleString('en-US')} (${formatBytes(s.parameters.bytes)}) |`,
    `| Nodes | ${s.nodeCount.toLocaleString('en-US')} (${s.ops.length} operator types${s.subgraphCount ? `, ${s.subgraphCount} subgraphs` : ''}) |`,
    ...(s.docString ? [`| Description | ${cell(s.docString)} |`] : []),
    '',
    '**Inputs**',
    '',
    ...s.inputs.map((t) => `- \`${io(t)}\``),
    '',
    '**Outputs**',
    '',
    ...s.outputs.map((t) => `- \`${io(t)}\``),
    '',
    '**Operators**',
    '',
    s.ops.map((o) => `${o.domain && o.domain !== 'ai.onnx' ? `${o.domain}::` : ''}${o.opType} ×${o.count}`).join(', '),
  ];
  if (s.metadata.length) lines.push('', '**Metadata**', '', ...s.metadata.map((m) => `- ${m.key}: ${cell(m.value)}`));
  if (s.externalData.length) lines.push('', '**External data**', '', ...s.externalData.map((x) => `- ${x.location}: ${x.tensors} tensors, ${formatBytes(x.bytes)}`));
  if (s.warnings.length) lines.push('', '**Warnings**', '', ...s.warnings.map((w) => `- ${w}`));
  return lines.join('\n') + '\n';
}

/** The CLI's `inspect` without --json: aligned, plain text. */
export function summaryToText(s: ModelSummary): string {
  const rows: [string, string][] = [
    ['file', `${s.file} (${formatBytes(s.size)})`],
    ...(s.sha256 ? [['sha256', s.sha256] as [string, string]] : []),
    ['ir version', String(s.irVersion)],
    ['opsets', opsetText(s)],
    ...(s.producer.name ? [['producer', `${s.producer.name} ${s.producer.version}`.trim()] as [string, string]] : []),
    ['parameters', `${s.parameters.count.toLocaleString('en-US')} (${formatBytes(s.parameters.bytes)}; ${s.parameters.byDtype.map((d) => `${d.dtype} ${d.count.toLocaleString('en-US')}`).join(', ')})`],
    ['nodes', `${s.nodeCount} in ${s.ops.length} operator types${s.subgraphCount ? `, ${s.subgraphCount} subgraphs` : ''}`],
    ...s.inputs.map((t) => ['input', io(t)] as [string, string]),
    ...s.outputs.map((t) => ['output', io(t)] as [string, string]),
    ['operators', s.ops.map((o) => `${o.opType}×${o.count}`).join(' ')],
    ...s.metadata.map((m) => ['metadata', `${m.key}=${m.value}`] as [string, string]),
    ...s.externalData.map((x) => ['external data', `${x.location}: ${x.tensors} tensors, ${formatBytes(x.bytes)}`] as [string, string]),
    ...s.warnings.map((w) => ['warning', w] as [string, string]),
  ];
  return rows.map(([k, v]) => `${k.padEnd(14)}${v}`).join('\n') + '\n';
}
