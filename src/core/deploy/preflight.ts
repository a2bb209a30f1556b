/**
 * Pre-flight: before anything is written to a cluster, the model is checked against the runtime that will serve it
 * — IR version, opsets and operators against the runtime's onnxruntime; inputs and outputs the Open Inference
 * Protocol can carry; storage credentials present. Each problem names its fix.
 */
import { DTYPES } from '../onnx/dtypes';
import type { ModelSummary } from '../onnx/summary';
import { CONTRIB_OPS_SINCE, ortAtLeast, ortLimits, type RuntimeInfo } from './runtimes';

export interface PreflightCheck {
  check: 'runtime' | 'ir' | 'opset' | 'operator' | 'io' | 'storage';
  /** error: the deploy would fail, so it is refused; warning: it may work, the user is told why it may not. */
  severity: 'ok' | 'warning' | 'error';
  message: string;
  fix?: string;
}

export interface PreflightInput {
  model: Pick<ModelSummary, 'irVersion' | 'opsets' | 'ops' | 'inputs' | 'outputs'>;
  label: string;
  runtime: RuntimeInfo;
  /** The onnxruntime Modelyard's own runtime carries, offered as the fix. */
  ownOnnxruntime: string;
  storage?: { kind: 's3' | 'pvc'; credentials: boolean; uri: string };
}

export function preflight(p: PreflightInput): PreflightCheck[] {
  const out: PreflightCheck[] = [];
  const { model, runtime } = p;
  const useOwn = `Deploy with Modelyard's runtime (onnxruntime ${p.ownOnnxruntime}, the one you tested locally)`;
  const ort = runtime.onnxruntime;
  const limits = ort ? ortLimits(ort) : undefined;
  if (!ort || !limits) {
    out.push({
      check: 'runtime',
      severity: 'warning',
      message: `the onnxruntime inside ${runtime.name} (${runtime.image}) is not known, so the model cannot be checked against it.`,
      fix: `${useOwn}, or annotate the runtime with modelyard.dev/onnxruntime: VERSION.`,
    });
  } else {
    out.push({ check: 'runtime', severity: 'ok', message: `${runtime.name} runs onnxruntime ${ort} (from its ${runtime.source}): IR ≤ ${limits.maxIr}, opset ≤ ${limits.maxOpset}${limits.exact ? '' : ' at least'}.` });
    const reExport = (what: string) => `${useOwn}; or raise the runtime's version (runtimeVersion) to one with onnxruntime that loads ${what}; or re-export the model for it.`;
    if (model.irVersion > limits.maxIr) {
      out.push({ check: 'ir', severity: limits.exact ? 'error' : 'warning', message: `${p.label} is ONNX IR version ${model.irVersion}; onnxruntime ${ort} loads IR ${limits.maxIr} at most.`, fix: reExport(`IR ${model.irVersion}`) });
    } else out.push({ check: 'ir', severity: 'ok', message: `IR version ${model.irVersion} ≤ ${limits.maxIr}.` });
    const main = model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version;
    if (main !== undefined && main > limits.maxOpset) {
      out.push({ check: 'opset', severity: limits.exact ? 'error' : 'warning', message: `${p.label} uses opset ${main}; onnxruntime ${ort} implements opsets up to ${limits.maxOpset}.`, fix: reExport(`opset ${main}`) });
    } else if (main !== undefined) out.push({ check: 'opset', severity: 'ok', message: `opset ${main} ≤ ${limits.maxOpset}.` });
    const tooNew = model.ops.filter((o) => o.domain === 'com.microsoft' && CONTRIB_OPS_SINCE[o.opType] && !ortAtLeast(ort, CONTRIB_OPS_SINCE[o.opType]!));
    for (const o of tooNew) {
      out.push({
        check: 'operator',
        severity: 'error',
        message: `${p.label} uses com.microsoft.${o.opType} (${o.count}×), which onnxruntime runs from ${CONTRIB_OPS_SINCE[o.opType]} on; the runtime has ${ort}.`,
        fix: `${useOwn}, or quantize to a form this runtime runs (for example int8 instead of int4).`,
      });
    }
    if (!tooNew.length) out.push({ check: 'operator', severity: 'ok', message: `every operator is one onnxruntime ${ort} has.` });
  }
  const io = [...model.inputs.map((t) => ({ t, what: 'input' })), ...model.outputs.map((t) => ({ t, what: 'output' }))];
  const bad = io.filter(({ t }) => t.kind && t.kind !== 'tensor');
  const noV2 = io.filter(({ t }) => t.dtype && !DTYPES[t.dtype].v2);
  for (const { t, what } of bad) out.push({ check: 'io', severity: 'error', message: `${what} '${t.name}' is a ${t.kind}, which the Open Inference Protocol cannot carry.`, fix: 'Re-export the model with tensor inputs and outputs.' });
  for (const { t, what } of noV2) out.push({ check: 'io', severity: 'error', message: `${what} '${t.name}' is ${t.dtype}, which has no Open Inference Protocol datatype.`, fix: 'Cast it to float32 (or float16) in the model.' });
  if (!bad.length && !noV2.length) out.push({ check: 'io', severity: 'ok', message: `${model.inputs.length} inputs and ${model.outputs.length} outputs the Open Inference Protocol carries.` });
  if (p.storage) {
    if (p.storage.kind === 's3' && !p.storage.credentials) {
      out.push({ check: 'storage', severity: 'error', message: `no credentials for ${p.storage.uri}.`, fix: 'Give the access key (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or in the editor the Deploy panel, which keeps it in VS Code\'s secret storage).' });
    } else out.push({ check: 'storage', severity: 'ok', message: `the model goes to ${p.storage.uri}.` });
  }
  return out;
}

/** Whether the checks let a deploy go on. */
export function preflightPasses(checks: readonly PreflightCheck[]): boolean {
  return !checks.some((c) => c.severity === 'error');
}
