/**
 * The deployment verbs: deploy, deployments, status, logs, smoke, rollback, undeploy, proxy, and the pickers'
 * contexts and namespaces. Each takes --context,
 * --namespace (-n) and --kubeconfig, prints text or --json, and reports its phases on the CLI's event channel.
 */
import { Writable } from 'node:stream';
import { UserError } from '../core/errors';
import type { Logger } from '../core/log';
import type { DeployEvent, DeploymentInfo, DeployResult, ModelDelivery } from '../core/deploy/deploy';
import type { Failure } from '../core/deploy/explain';
import type { Kube } from '../core/deploy/kube';
import type { PreflightCheck } from '../core/deploy/preflight';
import type { SmokeResult } from '../core/deploy/smoke';
import { cliEvents, type Events } from './events';
import { parse, positiveInt } from './inference';
import { interruptSignal, withHost } from './model';

declare const MODELYARD_VERSION: string;

type Out = (s: string) => void;

export const TARGET = { context: { type: 'string' }, namespace: { type: 'string', short: 'n' }, kubeconfig: { type: 'string' } } as const;

/** The image Modelyard's release workflow publishes for this version. */
export const DEFAULT_IMAGE = `ghcr.io/modelyard/modelyard-server:${typeof MODELYARD_VERSION === 'string' ? MODELYARD_VERSION : '0.0.0'}`;

/** The onnxruntime inside Modelyard's image: the onnxruntime-node this CLI ships with. */
function ownOnnxruntime(): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a package beside the bundle, read at run time
    return (require('onnxruntime-node/package.json') as { version: string }).version;
  } catch {
    return '1.30.0';
  }
}

export async function connect(values: Record<string, unknown>, log: Logger): Promise<{ kube: Kube; namespace: string }> {
  const { Kube } = await import('../core/deploy/kube');
  const kube = await Kube.connect({ ...(values.kubeconfig ? { kubeconfig: values.kubeconfig as string } : {}), ...(values.context ? { context: values.context as string } : {}), log });
  return { kube, namespace: (values.namespace as string | undefined) ?? kube.defaultNamespace };
}

const QUANTITY = /^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/;

function quantity(v: unknown, what: string): string | undefined {
  if (v === undefined) return undefined;
  if (!QUANTITY.test(String(v))) throw new UserError(`${what} '${String(v)}' is not a Kubernetes quantity.`, what === '--cpu' ? 'For example 500m or 2.' : 'For example 512Mi or 2Gi.');
  return String(v);
}

/** Events of a deploy: on the channel, and (in text mode) as lines. */
function reporter(events: Events, out: Out, json: boolean): (e: DeployEvent) => void {
  let lastLine = '';
  return (e) => {
    events.emit({ event: 'phase', phase: e.phase, message: e.message, at: e.at, ...(e.pods ? { pods: e.pods.slice(0, 256) } : {}), ...(e.events ? { events: e.events.slice(-100) } : {}) });
    if (json) return;
    const line = `${new Date(e.at).toISOString().slice(11, 19)}  ${e.phase.padEnd(12)} ${e.message}`;
    if (line !== lastLine) out(line + '\n');
    lastLine = line;
  };
}

function preflightText(checks: PreflightCheck[]): string {
  const mark = { ok: '✓', warning: '!', error: '✗' } as const;
  return checks.map((c) => `  ${mark[c.severity]} ${c.check.padEnd(9)} ${c.message}${c.fix && c.severity !== 'ok' ? `\n              fix: ${c.fix}` : ''}`).join('\n') + '\n';
}

export function failureText(f: Failure): string {
  return `\n✗ ${f.title}\n  ${f.detail}\n  fix: ${f.fix}\n${f.logs?.length ? `  last log lines${f.pod ? ` of ${f.pod}${f.container ? `/${f.container}` : ''}` : ''}:\n${f.logs.map((l) => `    | ${l}`).join('\n')}\n` : ''}`;
}

export function smokeText(s: SmokeResult): string {
  let t = `\nsmoke test: ${s.pass ? 'passed' : 'FAILED'}${s.remoteMs !== undefined ? ` (remote inference ${s.remoteMs.toFixed(1)} ms through the API server)` : ''}\n`;
  t += `  ready ${s.ready ? 'yes' : 'no'}; metadata ${s.metadata.pass ? 'matches the model' : `differs: ${s.metadata.problems.join('; ')}`}\n`;
  if (s.comparison) {
    t += '  output                       cosine      max |error|  verdict\n';
    for (const o of s.comparison.outputs) t += `  ${o.name.padEnd(28)} ${(o.cosine !== null && Number.isFinite(o.cosine) ? o.cosine.toFixed(6) : String(o.cosine)).padEnd(11)} ${o.maxAbsError.toExponential(2).padEnd(12)} ${o.pass ? 'same' : 'DIFFERENT'}\n`;
  }
  if (!s.pass) t += s.reasons.map((r) => `  - ${r}\n`).join('');
  return t;
}

function resultText(r: DeployResult): string {
  let t = '';
  if (r.rollout?.failure) t += failureText(r.rollout.failure);
  else if (r.rollout?.timedOut) t += `\n✗ ${r.name} did not become ready in time; it keeps rolling out in the cluster.\n`;
  if (r.smoke) t += smokeText(r.smoke);
  const rollback = r.previous ? `modelyard rollback ${r.name} -n ${r.namespace} returns to ${r.previous.label}` : `modelyard undeploy ${r.name} -n ${r.namespace} removes it`;
  if (r.dryRun) t += `\ndry run: nothing was uploaded or applied${r.preflight.some((c) => c.severity === 'error') ? '; the deploy would be refused by the pre-flight checks above (--force deploys anyway)' : ''}.\n`;
  else if (r.rollout?.ready && (!r.smoke || r.smoke.pass)) t += `\n${r.model.label} is live as ${r.mode === 'kserve' ? 'InferenceService' : 'Deployment'} ${r.name} in ${r.namespace} on ${r.context}${r.recorded ? `; recorded as ${r.recorded.tag}` : ''}.\n`;
  else t += `\n${r.model.label} was applied as ${r.name} in ${r.namespace} and is not serving as it should; ${rollback}.\n`;
  return t;
}

/** How the model reaches the cluster, from --storage and the environment's keys. */
async function delivery(values: Record<string, unknown>): Promise<ModelDelivery> {
  const { createDelivery } = await import('../core/deploy/storage');
  const storage = values.storage as string | undefined;
  if (!storage) throw new UserError('--storage is required: where the cluster reads the model from.', 'Give --storage s3://BUCKET/PREFIX (with --s3-endpoint for a store other than AWS) or --storage pvc:CLAIM.');
  return createDelivery({
    storage,
    ...(values['s3-endpoint'] ? { endpoint: values['s3-endpoint'] as string } : {}),
    ...(values['s3-pod-endpoint'] ? { podEndpoint: values['s3-pod-endpoint'] as string } : {}),
    ...(values['s3-region'] ? { region: values['s3-region'] as string } : {}),
    ...(values['pvc-size'] ? { pvcSize: values['pvc-size'] as string } : {}),
    env: process.env,
    image: (values.image as string | undefined) ?? process.env.MODELYARD_IMAGE ?? DEFAULT_IMAGE,
  });
}

export const DEPLOY_USAGE =
  'modelyard deploy REF --storage s3://BUCKET/PREFIX|pvc:CLAIM [--context C] [-n NAMESPACE] [--kserve | --plain] [--replicas N | --min N --max N] [--cpu X] [--memory Y] [--image IMAGE] [--runtime NAME] [--stage S | --no-record] [--name NAME] [--dry-run] [--force] [--no-smoke] [--timeout SECONDS] [--json]';

export async function deployCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      ...TARGET,
      kserve: { type: 'boolean' },
      plain: { type: 'boolean' },
      replicas: { type: 'string' },
      min: { type: 'string' },
      max: { type: 'string' },
      cpu: { type: 'string' },
      memory: { type: 'string' },
      storage: { type: 'string' },
      's3-endpoint': { type: 'string' },
      's3-pod-endpoint': { type: 'string' },
      's3-region': { type: 'string' },
      'pvc-size': { type: 'string' },
      image: { type: 'string' },
      runtime: { type: 'string' },
      stage: { type: 'string' },
      'no-record': { type: 'boolean' },
      name: { type: 'string' },
      'dry-run': { type: 'boolean' },
      force: { type: 'boolean' },
      'no-smoke': { type: 'boolean' },
      timeout: { type: 'string' },
    },
    [1, 1],
    DEPLOY_USAGE,
  );
  if (values.kserve && values.plain) throw new UserError('give --kserve or --plain, not both.');
  const replicas = positiveInt(values.replicas as string | undefined, '--replicas', 1);
  const min = positiveInt(values.min as string | undefined, '--min', 0);
  const max = positiveInt(values.max as string | undefined, '--max', 1);
  if (replicas !== undefined && (min !== undefined || max !== undefined)) throw new UserError('give --replicas, or --min and --max, not both.');
  if ((min === undefined) !== (max === undefined)) throw new UserError('autoscaling needs both --min and --max.');
  if (min !== undefined && max !== undefined && min > max) throw new UserError(`--min ${min} is more than --max ${max}.`);
  const cpu = quantity(values.cpu, '--cpu');
  const memory = quantity(values.memory, '--memory');
  const timeout = positiveInt(values.timeout as string | undefined, '--timeout', 1);
  if (values.stage && values['no-record']) throw new UserError('give --stage or --no-record, not both.');
  const json = !!values.json;
  const events = cliEvents();
  const { deploy } = await import('../core/deploy/deploy');
  const deliveryFor = await delivery(values);
  const stop = interruptSignal();
  try {
    const run = (host?: Parameters<typeof deploy>[0]['host']) =>
      deploy({
        delivery: deliveryFor,
        ref: positionals[0]!,
        ...(values.repo ? { repo: values.repo as string } : {}),
        ...(values.kubeconfig ? { kubeconfig: values.kubeconfig as string } : {}),
        ...(values.context ? { context: values.context as string } : {}),
        ...(values.namespace ? { namespace: values.namespace as string } : {}),
        ...(values.kserve ? { mode: 'kserve' as const } : values.plain ? { mode: 'plain' as const } : {}),
        ...(values.name ? { name: values.name as string } : {}),
        ...(replicas !== undefined ? { replicas } : {}),
        ...(min !== undefined && max !== undefined ? { autoscale: { min, max } } : {}),
        ...(cpu || memory ? { resources: { ...(cpu ? { cpu } : {}), ...(memory ? { memory } : {}) } } : {}),
        image: (values.image as string | undefined) ?? process.env.MODELYARD_IMAGE ?? DEFAULT_IMAGE,
        onnxruntime: ownOnnxruntime(),
        ...(values.runtime ? { runtime: values.runtime as string } : {}),
        ...(values['no-record'] ? {} : { stage: (values.stage as string | undefined) ?? 'prod' }),
        dryRun: !!values['dry-run'],
        force: !!values.force,
        ...(timeout ? { timeoutMs: timeout * 1000 } : {}),
        ...(host ? { host } : {}),
        log,
        signal: stop.signal,
        onEvent: reporter(events, out, json),
      });
    const result = values['no-smoke'] || values['dry-run'] ? await run() : await withHost(log, (host) => run(host));
    if (result.rollout?.failure) {
      const f = result.rollout.failure;
      events.emit({ event: 'failure', kind: f.kind, title: f.title, detail: f.detail, fix: f.fix, ...(f.pod ? { pod: f.pod } : {}), ...(f.logs ? { logs: f.logs.slice(-50) } : {}) });
    }
    if (json) out(JSON.stringify(result, null, 2) + '\n');
    else {
      out(`\npre-flight (${result.probe.kserve.installed ? `KServe ${result.probe.kserve.mode ?? 'installed'}` : 'no KServe'}, Kubernetes ${result.probe.version}):\n${preflightText(result.preflight)}`);
      out(`\nchanges (server-side dry run):\n${result.diff}`);
      out(resultText(result));
    }
    const ok = result.dryRun ? result.preflight.every((c) => c.severity !== 'error') : !!result.rollout?.ready && (!result.smoke || result.smoke.pass);
    return ok ? 0 : 1;
  } finally {
    stop.dispose();
  }
}

/** The deployments as a table (text mode of `deployments`). */
function deploymentsTable(list: DeploymentInfo[]): string {
  let t = `${'NAMESPACE'.padEnd(14)}${'NAME'.padEnd(24)}${'MODEL'.padEnd(30)}${'STAGE'.padEnd(10)}${'READY'.padEnd(8)}STATE\n`;
  for (const d of list) {
    t += `${d.namespace.padEnd(14)}${d.name.padEnd(24)}${(d.model ? `${d.model}@${d.version ?? '?'}` : d.managed ? '?' : '(not Modelyard\'s)').padEnd(30)}${(d.stage ?? '').padEnd(10)}${`${d.ready ?? '?'}/${d.desired ?? '?'}`.padEnd(8)}${d.state}${d.kind === 'InferenceService' ? ' (KServe)' : ''}\n`;
  }
  return t;
}

export const DEPLOYMENTS_USAGE = 'modelyard deployments [--context C] [-n NAMESPACE | -A] [--watch] [--json]';

export async function deploymentsCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values } = parse(args, { ...TARGET, 'all-namespaces': { type: 'boolean', short: 'A' }, watch: { type: 'boolean', short: 'w' } }, [0, 0], DEPLOYMENTS_USAGE);
  const { kube, namespace } = await connect(values, log);
  const scope = values['all-namespaces'] ? undefined : namespace;
  const where = scope ? `namespace ${scope}` : 'any namespace';
  if (values.watch) {
    const { watchDeployments } = await import('../core/deploy/live');
    const events = cliEvents();
    const stop = interruptSignal();
    try {
      await watchDeployments(kube, scope, {
        signal: stop.signal,
        onUpdate: (u) => {
          events.emit({ event: 'deployments', context: kube.context, server: kube.server, namespace: scope ?? null, state: u.state, ...(u.message ? { message: u.message } : {}), items: u.items.slice(0, 2000) });
          if (values.json) return;
          const at = new Date().toISOString().slice(11, 19);
          if (u.state === 'reconnecting') out(`${at}  reconnecting: ${u.message ?? ''}\n`);
          else out(`\n${at}  ${kube.context}, ${where}:\n${u.items.length ? deploymentsTable(u.items) : `no deployments in ${where}.\n`}`);
        },
      });
    } finally {
      stop.dispose();
    }
    return 0;
  }
  const { listDeployments } = await import('../core/deploy/deploy');
  const list = await listDeployments(kube, scope);
  if (values.json) {
    out(JSON.stringify({ context: kube.context, server: kube.server, deployments: list }, null, 2) + '\n');
    return 0;
  }
  if (!list.length) {
    out(`no deployments in ${where} on ${kube.context}.\n`);
    return 0;
  }
  out(deploymentsTable(list));
  return 0;
}

export async function contextsCommand(args: string[], out: Out): Promise<number> {
  const { values } = parse(args, { kubeconfig: { type: 'string' } }, [0, 0], 'modelyard contexts [--kubeconfig FILE] [--json]');
  const { readContexts, kubeconfigFiles } = await import('../core/deploy/kube');
  const r = await readContexts({ ...(values.kubeconfig ? { kubeconfig: values.kubeconfig as string } : {}) });
  if (values.json) {
    out(JSON.stringify(r, null, 2) + '\n');
    return 0;
  }
  if (!r.files.length) {
    out(`no kubeconfig (looked at ${(values.kubeconfig ? [values.kubeconfig as string] : kubeconfigFiles()).join(', ')}). Get one from your cluster (aws eks update-kubeconfig, gcloud container clusters get-credentials, az aks get-credentials, or your admin), or set KUBECONFIG.\n`);
    return 0;
  }
  out(`${'CURRENT'.padEnd(9)}${'NAME'.padEnd(28)}${'SERVER'.padEnd(36)}${'NAMESPACE'.padEnd(14)}AUTH\n`);
  for (const c of r.contexts) {
    const auth = c.exec ? `exec ${c.exec.command}${c.exec.found ? '' : ' (not on PATH)'}` : c.auth;
    out(`${(c.name === r.current ? '*' : '').padEnd(9)}${c.name.padEnd(28)}${c.server.padEnd(36)}${(c.namespace ?? '').padEnd(14)}${auth}\n`);
  }
  return 0;
}

export async function namespacesCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values } = parse(args, { context: TARGET.context, kubeconfig: TARGET.kubeconfig }, [0, 0], 'modelyard namespaces [--context C] [--kubeconfig FILE] [--json]');
  const { kube } = await connect(values, log);
  const r = await kube.namespaces();
  const result = { context: kube.context, namespaces: r.namespaces, default: kube.defaultNamespace, listed: r.listed, ...(r.message ? { message: r.message } : {}) };
  if (values.json) out(JSON.stringify(result, null, 2) + '\n');
  else {
    if (r.message) process.stderr.write(`modelyard: ${r.message}\n`);
    for (const n of r.namespaces) out(`${n}${n === kube.defaultNamespace ? '  (the context\'s)' : ''}\n`);
  }
  return 0;
}

export async function proxyCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values, positionals } = parse(args, { ...TARGET, port: { type: 'string' } }, [1, 1], 'modelyard proxy NAME [--context C] [-n NAMESPACE] [--port N]');
  const { kube, namespace } = await connect(values, log);
  const { findDeployment } = await import('../core/deploy/deploy');
  const { startProxy } = await import('../core/deploy/proxy');
  const found = await findDeployment(kube, positionals[0]!, namespace);
  const port = positiveInt(values.port as string | undefined, '--port', 1);
  const events = cliEvents();
  const stop = interruptSignal();
  try {
    const proxy = await startProxy(kube, found.current, { ...(port ? { port } : {}), onRequest: (method, path, status, ms) => log.info(`[proxy] ${method} ${path.split('?')[0]} → ${status} (${ms.toFixed(0)} ms)`) });
    const spec = found.current;
    events.emit({ event: 'listening', url: proxy.url, model: spec.name, version: spec.model.version ?? spec.model.sha256.slice(0, 12) });
    out(`${proxy.url} forwards to ${found.mode === 'kserve' ? 'InferenceService' : 'Deployment'} ${spec.name} in ${namespace} on ${kube.context} through the API server (model name ${spec.name}). Ctrl-C stops it.\n`);
    await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
    await proxy.close();
    return 0;
  } finally {
    stop.dispose();
  }
}

export async function statusCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values, positionals } = parse(args, { ...TARGET, watch: { type: 'boolean', short: 'w' }, timeout: { type: 'string' } }, [1, 1], 'modelyard status NAME [--context C] [-n NAMESPACE] [--watch] [--json]');
  const { kube, namespace } = await connect(values, log);
  const { findDeployment } = await import('../core/deploy/deploy');
  const { followRollout } = await import('../core/deploy/rollout');
  const found = await findDeployment(kube, positionals[0]!, namespace);
  const events = cliEvents();
  const stop = interruptSignal();
  try {
    const r = await followRollout(kube, found.current, {
      timeoutMs: values.watch ? (positiveInt(values.timeout as string | undefined, '--timeout', 1) ?? 600) * 1000 : 5000,
      signal: stop.signal,
      onEvent: reporter(events, out, !!values.json),
    });
    const spec = found.current;
    if (values.json) out(JSON.stringify({ name: spec.name, namespace, mode: found.mode, model: spec.model, stage: spec.stage ?? null, storageUri: spec.storageUri, previous: found.previous ? `${found.previous.model.name}@${found.previous.model.version}` : null, ready: r.ready, pods: r.pods, failure: r.failure ?? null }, null, 2) + '\n');
    else {
      out(`\n${spec.name} (${found.mode === 'kserve' ? 'InferenceService' : 'Deployment'}) in ${namespace}: ${spec.model.name}@${spec.model.version ?? spec.model.sha256.slice(0, 12)}${spec.stage ? `, stage ${spec.stage}` : ''}${found.previous ? `; before it: ${found.previous.model.name}@${found.previous.model.version}` : ''}\n`);
      for (const p of r.pods) out(`  pod ${p.name}: ${p.phase}${p.ready ? ', ready' : ''}${p.restarts ? `, ${p.restarts} restarts` : ''}${p.reason ? ` (${p.reason})` : ''}\n`);
      if (r.failure) out(failureText(r.failure));
      else out(r.ready ? '  ready: the model answers.\n' : '  not ready yet.\n');
    }
    return r.ready ? 0 : 1;
  } finally {
    stop.dispose();
  }
}

export async function logsCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values, positionals } = parse(args, { ...TARGET, follow: { type: 'boolean', short: 'f' }, tail: { type: 'string' } }, [1, 1], 'modelyard logs NAME [--context C] [-n NAMESPACE] [--follow] [--tail N]');
  const { kube, namespace } = await connect(values, log);
  const { findDeployment } = await import('../core/deploy/deploy');
  const { workloadOf } = await import('../core/deploy/rollout');
  const found = await findDeployment(kube, positionals[0]!, namespace);
  const pods = (await kube.call('list the pods', () => kube.core.listNamespacedPod({ namespace, labelSelector: workloadOf(found.current).selector }))).items;
  if (!pods.length) throw new UserError(`${positionals[0]} has no pods in ${namespace}.`, `modelyard status ${positionals[0]} -n ${namespace} says why.`);
  const tail = positiveInt(values.tail as string | undefined, '--tail', 1) ?? 100;
  const container = found.mode === 'kserve' ? 'kserve-container' : 'server';
  if (!values.follow) {
    for (const p of pods) {
      const text = await kube.call(`read the log of ${p.metadata!.name}`, () => kube.core.readNamespacedPodLog({ name: p.metadata!.name!, namespace, container, tailLines: tail }));
      for (const l of String(text).split('\n').filter(Boolean)) out(`${pods.length > 1 ? `[${p.metadata!.name}] ` : ''}${l}\n`);
    }
    return 0;
  }
  const stop = interruptSignal();
  try {
    const streams = await Promise.all(
      pods.map((p) => {
        const prefix = pods.length > 1 ? `[${p.metadata!.name}] ` : '';
        let buf = '';
        const sink = new Writable({
          write(chunk: Buffer, _enc, cb) {
            buf += chunk.toString('utf8');
            const lines = buf.split('\n');
            buf = lines.pop()!;
            for (const l of lines) out(prefix + l + '\n');
            cb();
          },
        });
        return new kube.lib.Log(kube.kc).log(namespace, p.metadata!.name!, container, sink, { follow: true, tailLines: tail });
      }),
    );
    await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
    for (const s of streams) s.abort();
    return 0;
  } finally {
    stop.dispose();
  }
}

export async function smokeCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values, positionals } = parse(args, { ...TARGET, model: { type: 'string' } }, [1, 1], 'modelyard smoke NAME [--model REF] [--context C] [-n NAMESPACE] [--repo DIR] [--json]');
  const { kube, namespace } = await connect(values, log);
  const { findDeployment } = await import('../core/deploy/deploy');
  const { smokeTest } = await import('../core/deploy/smoke');
  const { resolveModel } = await import('../core/registry/modelRef');
  const found = await findDeployment(kube, positionals[0]!, namespace);
  const spec = found.current;
  const ref = (values.model as string | undefined) ?? (spec.model.version ? `${spec.model.name}@${spec.model.version}` : undefined);
  if (!ref) throw new UserError(`${spec.name} runs a model file that is not a registry version, so the local run has no reference.`, 'Give --model PATH_OR_REF of the same model.');
  const model = await resolveModel(ref, { ...(values.repo ? { repo: values.repo as string } : {}), log });
  if (model.sha256 && model.sha256 !== spec.model.sha256) throw new UserError(`${ref} is not what runs: its sha256 ${model.sha256.slice(0, 12)} differs from the deployed ${spec.model.sha256.slice(0, 12)}.`, 'Give --model the model that was deployed.');
  const stop = interruptSignal();
  try {
    const r = await withHost(log, (host) => smokeTest(kube, spec, model, host, { signal: stop.signal }));
    out(values.json ? JSON.stringify(r, null, 2) + '\n' : smokeText(r));
    return r.pass ? 0 : 1;
  } finally {
    stop.dispose();
  }
}

export async function rollbackCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values, positionals } = parse(args, { ...TARGET, timeout: { type: 'string' } }, [1, 1], 'modelyard rollback NAME [--context C] [-n NAMESPACE] [--repo DIR] [--json]');
  const { kube, namespace } = await connect(values, log);
  const { rollback } = await import('../core/deploy/deploy');
  const events = cliEvents();
  const stop = interruptSignal();
  try {
    const timeout = positiveInt(values.timeout as string | undefined, '--timeout', 1);
    const r = await rollback(kube, positionals[0]!, namespace, { ...(values.repo ? { repo: values.repo as string } : {}), ...(timeout ? { timeoutMs: timeout * 1000 } : {}), signal: stop.signal, log, onEvent: reporter(events, out, !!values.json) });
    if (values.json) out(JSON.stringify(r, null, 2) + '\n');
    else if (r.rollout.ready) out(`\nrolled ${r.name} back from ${r.from} to ${r.to}${r.recorded ? `; recorded as ${r.recorded.tag}` : ''}.\n`);
    else out((r.rollout.failure ? failureText(r.rollout.failure) : '') + `\nthe rollback to ${r.to} was applied but is not ready.\n`);
    return r.rollout.ready ? 0 : 1;
  } finally {
    stop.dispose();
  }
}

export async function undeployCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values, positionals } = parse(args, TARGET, [1, 1], 'modelyard undeploy NAME [--context C] [-n NAMESPACE] [--repo DIR] [--json]');
  const { kube, namespace } = await connect(values, log);
  const { undeploy } = await import('../core/deploy/deploy');
  const r = await undeploy(kube, positionals[0]!, namespace, { ...(values.repo ? { repo: values.repo as string } : {}), log });
  out(values.json ? JSON.stringify(r, null, 2) + '\n' : `removed ${r.removed.join(', ') || 'nothing (it was gone)'} from ${namespace}${r.recorded ? `; recorded as ${r.recorded}` : ''}. The stored model stays (rollbacks and re-deploys reuse it).\n`);
  return 0;
}


