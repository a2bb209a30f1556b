/**
 * The heavy half of the extension, bundled apart as dist/heavy.js and loaded on first use (see ../heavy.ts): the
 * ONNX codec and summary, the inference client, input decoders. No `vscode` here: adapters stay in the extension.
 */
import type { SummaryView } from '../../shared/protocol/card';
import type { ModelSummary } from '../../core/onnx/summary';

export { summarizeBytes, summarizeFile, type ModelSummary } from '../../core/onnx/summary';
export { summaryToMarkdown } from '../../core/onnx/report';
export { InferenceHost, InferenceError, type SessionInfo, type Source } from '../../core/inference/host';
export { resolveShapes } from '../../core/inference/inputs';
export { sweepThreads } from '../../core/inference/bench';
export { compareSessions } from '../../core/inference/compare';
export { tensorFromJson, tensorToJson } from '../../core/inference/json';
export { writeNpy } from '../../core/inference/npy';
export * from './playground';
export { checkEndpoint } from '../../core/serve/check';
export { modelTestDeps } from '../../core/modeltest/deps';
export { runModelTest } from '../../core/modeltest/runner';

/** The card's view of a summary: what the webview's schema allows, and the time it took. */
export function summaryView(s: ModelSummary, ms: number): SummaryView {
  return {
    fileSize: s.size,
    sha256: s.sha256 ?? '',
    irVersion: s.irVersion,
    opsets: s.opsets,
    producer: s.producer,
    domain: s.domain,
    modelVersion: s.modelVersion,
    docString: s.docString,
    metadata: s.metadata,
    inputs: s.inputs,
    outputs: s.outputs,
    ops: s.ops.map((o) => ({ op: o.opType, domain: o.domain, count: o.count })),
    nodeCount: s.nodeCount,
    parameters: { count: s.parameters.count, bytes: s.parameters.bytes, byDtype: s.parameters.byDtype.map(({ dtype, count, bytes }) => ({ dtype, count, bytes })) },
    subgraphs: s.subgraphCount,
    functions: s.functions.length,
    externalData: s.externalData,
    warnings: s.warnings,
    summaryMs: ms,
  };
}
