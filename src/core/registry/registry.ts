import { UserError } from '../errors';
import type { Logger } from '../log';
import { run } from '../util/proc';
import { discoverModels, type GtoConfig, type ModelEntry } from './discover';
import { streamTags } from './refs';
import { StateBuilder, sortedVersions, type ArtifactState, type Problem, type RegistryState, type VersionState } from './state';
import { isVersion } from './semver';
import { isValidArtifact, isValidName } from './tags';

/** One model of the registry: what the repository declares about it, and what its tags say. */
export interface Model {
  name: string;
  /** Where its file lives now; undefined for an artifact known only from tags. */
  entry?: ModelEntry;
  state?: ArtifactState;
}

export interface Registry {
  root: string;
  models: Model[];
  config: GtoConfig;
  problems: Problem[];
  state: RegistryState;
  /** Milliseconds from the start: tags read, discovery done, state built; and in all. */
  timing: { tagsMs: number; discoverMs: number; buildMs: number; totalMs: number };
}

/** Loads a repository's registry: one `git for-each-ref` and one `git ls-files`, side by side. */
export async function loadRegistry(root: string, opts: { include?: string; log?: Logger } = {}): Promise<Registry> {
  const t0 = performance.now();
  let tagsMs = 0;
  let discoverMs = 0;
  // Each tag becomes its event as git streams it; the state is built once all have arrived.
  const builder = new StateBuilder();
  const [, discovery] = await Promise.all([
    streamTags(root, builder.addTag, opts.log).then(() => (tagsMs = performance.now() - t0)),
    discoverModels(root, opts).then((d) => ((discoverMs = performance.now() - t0), d)),
  ]);
  const state = builder.build();
  const buildMs = performance.now() - t0;
  const byName = new Map<string, Model>();
  for (const e of discovery.models) byName.set(e.name, { name: e.name, entry: e });
  for (const [name, a] of state.artifacts) {
    const m = byName.get(name);
    if (m) m.state = a;
    else byName.set(name, { name, state: a });
  }
  const models = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    root,
    models,
    config: discovery.config,
    problems: [...state.problems, ...discovery.problems],
    state,
    timing: { tagsMs, discoverMs, buildMs, totalMs: performance.now() - t0 },
  };
}

export function findModel(reg: Registry, name: string): Model {
  const m = reg.models.find((x) => x.name === name);
  if (!m) {
    const near = reg.models.filter((x) => x.name.toLowerCase().includes(name.toLowerCase())).map((x) => x.name);
    throw new UserError(
      `no model named '${name}' in ${reg.root}.`,
      near.length ? `Did you mean ${near.slice(0, 3).map((n) => `'${n}'`).join(', ')}?` : `Run 'modelyard models' to list them.`,
    );
  }
  return m;
}

export interface Resolved {
  model: Model;
  version?: VersionState;
  /** The commit the reference names: a version's, a stage's, or HEAD for a bare name. */
  commit: string;
  /** The model file's path at that commit. */
  path?: string;
}

/**
 * Resolves "name", "name@v1.2.3", "name@latest", "name@greatest" or "name#stage" (GTO's shortcuts).
 * A bare name resolves to the latest version when there is one, else to the file at HEAD.
 */
export async function resolveRef(reg: Registry, ref: string, log?: Logger): Promise<Resolved> {
  const m = /^(?<name>[^@#]+)(?:@(?<version>[^@#]+)|#(?<stage>[^@#]+))?$/.exec(ref);
  if (!m?.groups || !isValidArtifact(m.groups.name!)) {
    throw new UserError(`'${ref}' is not a model reference.`, 'Use name, name@v1.2.3, name@latest or name#stage.');
  }
  const { name, version, stage } = m.groups as { name: string; version?: string; stage?: string };
  const model = findModel(reg, name);
  const a = model.state;
  const pathOf = () => model.entry?.path;
  if (stage !== undefined) {
    if (!isValidName(stage)) throw new UserError(`'${stage}' is not a valid stage name.`);
    const v = a?.stages.get(stage);
    if (!v) {
      const stages = [...(a?.stages.keys() ?? [])];
      throw new UserError(`${name} has no version in stage '${stage}'.`, stages.length ? `Its stages: ${stages.join(', ')}.` : `Assign one with 'modelyard assign ${name} ${stage}'.`);
    }
    return { model, version: v, commit: v.commit, path: pathOf() };
  }
  if (version === 'latest' || version === 'greatest' || (version === undefined && a?.latest)) {
    if (!a?.latest) throw new UserError(`${name} has no registered version.`, `Register one with 'modelyard register ${name}'.`);
    return { model, version: a.latest, commit: a.latest.commit, path: pathOf() };
  }
  if (version !== undefined) {
    if (!isVersion(version)) throw new UserError(`'${version}' is not a version.`, 'Versions look like v1.2.3 (SemVer, with the "v").');
    const v = a?.versions.find((x) => x.version === version);
    if (!v) {
      const known = a ? sortedVersions(a).filter((x) => x.registered).map((x) => x.version) : [];
      throw new UserError(`${name}@${version} is not registered.`, known.length ? `Its versions: ${known.slice(0, 8).join(', ')}.` : '');
    }
    if (!v.active) throw new UserError(`${name}@${version} was deregistered.`, `See 'modelyard history ${name}'.`);
    return { model, version: v, commit: v.commit, path: pathOf() };
  }
  const head = await run('git', ['rev-parse', '--verify', '-q', 'HEAD^{commit}'], { cwd: reg.root, log, okCodes: [1] });
  if (head.code !== 0) throw new UserError(`${reg.root} has no commits yet.`, 'Commit the model first.');
  return { model, commit: head.stdout.trim(), path: pathOf() };
}
