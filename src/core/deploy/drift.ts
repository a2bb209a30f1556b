/**
 * Drift: whether what runs is still what the registry's stage names. A deployment recorded as stage S of model M
 * drifts when S now names another version of M (someone promoted a newer one, or rolled the stage back), or names
 * nothing (the stage was withdrawn). Pure: the caller finds the model's stages in the workspace's registries.
 */

export type Drift =
  /** In step: the stage names the version that runs. */
  | { kind: 'none' }
  /** Nothing to compare: no stage recorded, no version, or the model is in no registry of the workspace. */
  | { kind: 'unknown'; reason: 'no-stage' | 'no-version' | 'no-registry' }
  /** The stage names another version now. */
  | { kind: 'moved'; stage: string; running: string; named: string }
  /** The stage names no version now. */
  | { kind: 'unassigned'; stage: string; running: string };

export interface DriftInput {
  model?: string;
  version?: string;
  stage?: string;
}

/**
 * Compares a deployment with its model's stages: `stages` maps each stage to the version it names now, and is
 * undefined when the model is in no registry of the workspace.
 */
export function driftOf(d: DriftInput, stages: ReadonlyMap<string, string> | undefined): Drift {
  if (!d.stage || !d.model) return { kind: 'unknown', reason: 'no-stage' };
  if (!d.version) return { kind: 'unknown', reason: 'no-version' };
  if (!stages) return { kind: 'unknown', reason: 'no-registry' };
  const named = stages.get(d.stage);
  if (named === undefined) return { kind: 'unassigned', stage: d.stage, running: d.version };
  if (named !== d.version) return { kind: 'moved', stage: d.stage, running: d.version, named };
  return { kind: 'none' };
}

/** The badge of a drift for a one-line description ("⚠ prod → v1.1.0"), or undefined when there is none. */
export function driftBadge(d: Drift): string | undefined {
  if (d.kind === 'moved') return `⚠ ${d.stage} → ${d.named}`;
  if (d.kind === 'unassigned') return `⚠ ${d.stage} unassigned`;
  return undefined;
}

/** The drift in a sentence, with what to do about it. */
export function driftText(d: Drift, model: string): string | undefined {
  if (d.kind === 'moved') return `The registry's stage ${d.stage} of ${model} names ${d.named} now, but ${d.running} runs here. Deploy ${model}@${d.named} (Deploy Stage's Version), or assign ${d.stage} back to ${d.running}.`;
  if (d.kind === 'unassigned') return `The registry's stage ${d.stage} of ${model} names no version now, but ${d.running} runs here. Undeploy it, or assign ${d.stage} to ${d.running} again.`;
  return undefined;
}
