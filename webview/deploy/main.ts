import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import type { ContextsResult, NamespacesResult, SmokeResultJson, StatusResultJson } from '../../src/shared/cli/deploy';
import type { MetricsEvent } from '../../src/shared/cli/events';
import {
  deployInitial,
  deployRequests,
  deployToWebview,
  type DeployForm,
  type DeploymentRef,
  type DeployToHost,
  type DeployToWebview,
  type Outcome,
  type PhaseView,
  type Plan,
} from '../../src/shared/protocol/deploy';
import { button, checkbox, field, select, textfield } from '../shared/controls';
import { Host, RequestError, el, readInitial, type Child } from '../shared/host';
import { table, type Column } from '../shared/table';
import { figuresChart } from './chart';
import '../shared/base.css';
import '../shared/page.css';
import '../shared/grid.css';
import './style.css';

type Failure = Extract<DeployToWebview, { type: 'failure' }>['failure'];

interface State {
  ref: string;
  form: DeployForm;
  view: 'form' | 'run';
  attached?: DeploymentRef;
  runLabel?: string;
  timeline: PhaseView[];
  pods: NonNullable<PhaseView['pods']>;
  /** The cluster's events about the rollout. */
  events?: NonNullable<PhaseView['events']>;
  failure?: Failure;
  outcome?: Outcome;
  smoke?: SmokeResultJson;
  status?: StatusResultJson;
  figuresOn: boolean;
  /** The context whose saved target filled the form (once per context: what the user types afterwards wins). */
  filledFor?: string;
  /** The deploy the timeline is of ("name@v1.1.0"). */
  timelineOf?: string;
  /** The last lines of the server log streamed into the panel. */
  log?: string[];
}

const STATE_VERSION = 1;
const host = new Host<DeployToHost, DeployToWebview, State, typeof deployRequests>(deployToWebview, STATE_VERSION, deployRequests);
const app = document.getElementById('app')!;
const initial = readInitial(deployInitial);

const EMPTY_FORM: DeployForm = {
  context: '',
  namespace: '',
  name: '',
  mode: 'auto',
  runtime: '',
  scaling: 'fixed',
  replicas: 1,
  min: 1,
  max: 3,
  cpu: '',
  memory: '',
  storage: '',
  s3Endpoint: '',
  s3PodEndpoint: '',
  s3AccessKeyId: '',
  stage: initial?.defaults.stage ?? 'prod',
  force: false,
};

const kept = host.state;
const state: State =
  kept && kept.ref === initial?.model.ref
    ? kept
    : {
        ref: initial?.model.ref ?? '',
        form: { ...EMPTY_FORM, ...initial?.preset },
        view: initial?.attach ? 'run' : 'form',
        ...(initial?.attach ? { attached: initial.attach } : {}),
        timeline: [],
        pods: [],
        figuresOn: true,
      };

/** What is only on screen: the kubeconfig's contexts, the namespaces, the plan, and what is under way. */
let contexts: ContextsResult | undefined;
let namespaces: NamespacesResult | undefined;
let plan: Plan | undefined;
let planning = false;
let planError: { message: string; hint?: string } | undefined;
let running = false;
let smokeRunning = false;
let error: { message: string; hint?: string } | undefined;
let secretDraft = '';
let tokenDraft = '';
let tokenStored = false;
let metrics: MetricsEvent[] = [];

function save(): void {
  host.state = state;
}

// ---- the form ------------------------------------------------------------------------------------------------------

let planTimer: ReturnType<typeof setTimeout> | undefined;
let planSeq = 0;

/** Plans again (a server-side dry run) a moment after the form last changed. */
function replan(delay = 350): void {
  if (planTimer) clearTimeout(planTimer);
  planTimer = setTimeout(() => void runPlan(), delay);
}

async function runPlan(): Promise<void> {
  if (!state.form.context || !state.form.storage.trim()) {
    plan = undefined;
    planError = undefined;
    return render();
  }
  const seq = ++planSeq;
  planning = true;
  render();
  try {
    const p = await host.request('plan', { form: state.form });
    if (seq !== planSeq) return;
    plan = p;
    planError = undefined;
  } catch (e) {
    if (seq !== planSeq) return;
    plan = undefined;
    planError = { message: e instanceof Error ? e.message : String(e), ...(e instanceof RequestError && e.hint ? { hint: e.hint } : {}) };
  } finally {
    if (seq === planSeq) planning = false;
  }
  render();
}

function setForm(next: Partial<DeployForm>, again = true): void {
  Object.assign(state.form, next);
  save();
  render();
  if (again) replan();
}

async function loadContexts(): Promise<void> {
  try {
    contexts = await host.request('contexts', {});
    if (!state.form.context || !contexts.contexts.some((c) => c.name === state.form.context)) {
      const pick = contexts.current && contexts.contexts.some((c) => c.name === contexts!.current) ? contexts.current : contexts.contexts[0]?.name;
      if (pick) await pickContext(pick);
      else render();
    } else await pickContext(state.form.context, state.filledFor !== state.form.context);
  } catch (e) {
    planError = { message: e instanceof Error ? e.message : String(e), ...(e instanceof RequestError && e.hint ? { hint: e.hint } : {}) };
    render();
  }
}

/** A context picked: its saved target fills the form (what the user typed wins when `fill` is false), then its namespaces. */
async function pickContext(context: string, fill = true): Promise<void> {
  state.form.context = context;
  if (fill) {
    const saved = await host.request('target', { context }).catch(() => ({}));
    Object.assign(state.form, { namespace: '', ...saved }, initial?.preset ?? {});
    state.filledFor = context;
  }
  save();
  render();
  namespaces = undefined;
  try {
    namespaces = await host.request('namespaces', { context });
    if (!state.form.namespace) state.form.namespace = namespaces.default;
  } catch (e) {
    namespaces = { context, namespaces: [state.form.namespace || 'default'], default: state.form.namespace || 'default', listed: false, message: e instanceof Error ? e.message : String(e) };
    if (!state.form.namespace) state.form.namespace = namespaces.default;
  }
  save();
  render();
  replan(0);
}

function formView(): HTMLElement {
  const f = state.form;
  const ctxOptions = (contexts?.contexts ?? []).map((c) => [c.name, `${c.name}${c.name === contexts?.current ? ' (current)' : ''} — ${c.server}`] as const);
  const ctx = contexts?.contexts.find((c) => c.name === f.context);
  const nsList = [...new Set([...(namespaces?.namespaces ?? []), ...(f.namespace ? [f.namespace] : [])])].sort();
  const kserve = plan?.kserve.installed;
  const runtimes: (readonly [string, string])[] = [['', "Modelyard's runtime"], ...(plan?.runtimes ?? []).filter((r) => r.kind !== 'modelyard').map((r) => [r.name, `${r.name}${r.onnxruntime ? ` (onnxruntime ${r.onnxruntime})` : ''}`] as const)];
  const stages: (readonly [string, string])[] = [...(initial?.stages ?? []).map((s) => [s, s] as const), ['', "don't record"]];
  if (f.stage && !stages.some(([s]) => s === f.stage)) stages.unshift([f.stage, f.stage]);

  const target = el(
    'section',
    { class: 'form-row' },
    field(
      'Cluster',
      contexts && !contexts.contexts.length
        ? el('span', { class: 'muted' }, 'no kubeconfig context')
        : select(f.context, ctxOptions.length ? ctxOptions : [[f.context, f.context || 'loading…']], (v) => void pickContext(v), { class: 'wide', 'data-field': 'context' }),
      ctx?.exec && !ctx.exec.found ? `Its credential plugin ${ctx.exec.command} is not on the editor's PATH: add its folder to the setting modelyard.deploy.extraPath.` : undefined,
    ),
    ctx?.auth === 'none' &&
      field(
        'Token',
        el(
          'span',
          { class: 'inline' },
          textfield('', (v) => (tokenDraft = v), { type: 'password', placeholder: tokenStored ? '•••••••• (stored)' : 'a bearer token', 'data-field': 'token' }),
          button('Store', () => void storeToken(), { secondary: true, 'data-action': 'store-token' }),
        ),
        tokenStored ? 'kept in the OS keychain for this context' : 'This context’s user has no credentials in the kubeconfig: give a token (kept in the OS keychain).',
      ),
    field('Namespace', select(f.namespace, nsList.map((n) => [n, n] as const), (v) => setForm({ namespace: v }), { 'data-field': 'namespace' }), namespaces && !namespaces.listed ? namespaces.message : undefined),
    field('Name', textfield(f.name, (v) => setForm({ name: v.trim() }), { placeholder: initial ? initial.model.name.toLowerCase().replace(/[^a-z0-9-]+/g, '-') : '', 'data-field': 'name' })),
  );
  const path = el(
    'section',
    { class: 'form-row' },
    field(
      'Serve as',
      select(
        f.mode,
        [
          ['auto', kserve === undefined ? 'Auto' : kserve ? `Auto: KServe InferenceService${plan?.kserve.mode ? ` (${plan.kserve.mode})` : ''}` : 'Auto: Deployment + Service (no KServe)'],
          ['kserve', 'KServe InferenceService'],
          ['plain', 'Deployment + Service'],
        ],
        (v) => setForm({ mode: v }),
        { 'data-field': 'mode', class: 'wide' },
      ),
    ),
    (f.mode === 'kserve' || (f.mode === 'auto' && kserve)) && field('Runtime', select(f.runtime, runtimes, (v) => setForm({ runtime: v }), { 'data-field': 'runtime', class: 'wide' })),
    field('Scaling', select(f.scaling, [['fixed', 'Fixed replicas'], ['auto', 'Autoscale']], (v) => setForm({ scaling: v }), { 'data-field': 'scaling', class: 'narrow' })),
    f.scaling === 'fixed'
      ? field('Replicas', textfield(f.replicas, (v) => setForm({ replicas: Math.max(1, Math.trunc(Number(v)) || 1) }), { type: 'number', min: 1, class: 'num', 'data-field': 'replicas' }))
      : [
          field('Min', textfield(f.min, (v) => setForm({ min: Math.max(0, Math.trunc(Number(v)) || 0) }), { type: 'number', min: 0, class: 'num' })),
          field('Max', textfield(f.max, (v) => setForm({ max: Math.max(1, Math.trunc(Number(v)) || 1) }), { type: 'number', min: 1, class: 'num' })),
        ],
    field('CPU', textfield(f.cpu, (v) => setForm({ cpu: v.trim() }), { placeholder: '500m', class: 'num', 'data-field': 'cpu' })),
    field('Memory', textfield(f.memory, (v) => setForm({ memory: v.trim() }), { placeholder: '512Mi', class: 'num', 'data-field': 'memory' })),
  );
  const s3 = !f.storage.trim().startsWith('pvc:');
  const credentialNote =
    plan?.credentials === 'stored' ? 'secret key kept in the OS keychain' : plan?.credentials === 'environment' ? "keys from the editor's environment" : plan?.credentials === 'missing' ? 'no secret key yet: type it and Store' : undefined;
  const storage = el(
    'section',
    { class: 'form-row' },
    field('Storage', textfield(f.storage, (v) => setForm({ storage: v.trim() }), { placeholder: 's3://BUCKET/PREFIX or pvc:CLAIM', class: 'wide', 'data-field': 'storage' }), 'Where pods read the model. Content-addressed: a version is uploaded once.'),
    s3 && field('S3 endpoint', textfield(f.s3Endpoint, (v) => setForm({ s3Endpoint: v.trim() }), { placeholder: 'empty: AWS', 'data-field': 's3Endpoint' })),
    s3 && field('Endpoint for pods', textfield(f.s3PodEndpoint, (v) => setForm({ s3PodEndpoint: v.trim() }), { placeholder: 'if it differs', 'data-field': 's3PodEndpoint' })),
  );
  const keys =
    s3 &&
    el(
      'section',
      { class: 'form-row' },
      field('Access key ID', textfield(f.s3AccessKeyId, (v) => setForm({ s3AccessKeyId: v.trim() }), { placeholder: 'empty: the environment’s', 'data-field': 's3AccessKeyId' })),
      field(
        'Secret key',
        el(
          'span',
          { class: 'inline' },
          textfield('', (v) => (secretDraft = v), { type: 'password', placeholder: plan?.credentials === 'stored' ? '•••••••• (stored)' : '', 'data-field': 'secret' }),
          button('Store', () => void storeSecret(), { secondary: true, disabled: !f.s3AccessKeyId, 'data-action': 'store-secret' }),
        ),
        credentialNote,
      ),
      field('Record as stage', select(f.stage, stages, (v) => setForm({ stage: v }, false), { 'data-field': 'stage' }), 'A GTO stage tag names cluster, namespace and object.'),
    );
  const blocked = !!plan && plan.preflight.some((c) => c.severity === 'error') && !f.force;
  const canDeploy = !!plan && !planning && !blocked && !running;
  return el(
    'div',
    { class: 'form' },
    error && banner('error', error.message, error.hint),
    target,
    path,
    storage,
    keys,
    !s3 && el('section', { class: 'form-row' }, field('Record as stage', select(f.stage, stages, (v) => setForm({ stage: v }, false), { 'data-field': 'stage' }))),
    el('h2', {}, 'Pre-flight', planning ? el('vscode-progress-ring', { class: 'ring' }) : null),
    planError ? banner('error', planError.message, planError.hint) : plan ? preflightList(plan) : el('p', { class: 'muted' }, f.context ? 'Give the storage to check the model against the cluster.' : 'Pick a cluster.'),
    plan && el('h2', {}, 'Changes', el('span', { class: 'muted small' }, ` server-side dry run on ${plan.context}, Kubernetes ${plan.kubernetes}`)),
    plan && diffView(plan.diff),
    el(
      'div',
      { class: 'actions' },
      button(`Deploy ${initial?.model.ref ?? ''}`, () => deploy(), { icon: 'cloud-upload', disabled: !canDeploy, 'data-action': 'deploy' }),
      plan?.preflight.some((c) => c.severity === 'error') && checkbox('Deploy anyway (ignore the pre-flight errors)', f.force, (v) => setForm({ force: v }, false)),
      plan && el('span', { class: 'muted' }, `${plan.mode === 'kserve' ? 'InferenceService' : 'Deployment'} ${plan.name} in ${plan.namespace}${plan.previous ? `, replacing ${plan.previous}` : ''}`),
      state.attached && button('Back to the deployment', () => ((state.view = 'run'), save(), render()), { secondary: true }),
    ),
  );
}

async function storeSecret(): Promise<void> {
  if (!secretDraft || !state.form.s3AccessKeyId) return;
  try {
    await host.request('storeSecret', { endpoint: state.form.s3Endpoint, accessKeyId: state.form.s3AccessKeyId, secret: secretDraft });
    secretDraft = '';
    replan(0);
  } catch (e) {
    error = { message: e instanceof Error ? e.message : String(e) };
    render();
  }
}

async function storeToken(): Promise<void> {
  if (!tokenDraft || !state.form.context) return;
  try {
    await host.request('storeToken', { context: state.form.context, token: tokenDraft });
    tokenDraft = '';
    tokenStored = true;
    await pickContext(state.form.context, false);
  } catch (e) {
    error = { message: e instanceof Error ? e.message : String(e) };
    render();
  }
}

/** A new deploy: what the panel said of the last one goes. */
function clearRun(): void {
  state.timeline = [];
  state.pods = [];
  for (const k of ['failure', 'outcome', 'smoke', 'status', 'events', 'log'] as const) delete state[k];
}

function deploy(): void {
  state.view = 'run';
  clearRun();
  error = undefined;
  metrics = [];
  running = true;
  save();
  render();
  host.post({ type: 'deploy', form: state.form });
}

const MARK = { ok: ['pass', 'ok'], warning: ['warning', 'warning'], error: ['error', 'error'] } as const;

function preflightList(p: Plan): HTMLElement {
  return el(
    'ul',
    { class: 'checks' },
    p.preflight.map((c) =>
      el('li', { class: `check ${MARK[c.severity][1]}` }, el('vscode-icon', { name: MARK[c.severity][0] }), el('span', {}, el('strong', {}, c.check), ' ', c.message, c.fix && c.severity !== 'ok' ? el('div', { class: 'fix' }, 'Fix: ', c.fix) : null)),
    ),
  );
}

function diffView(text: string): HTMLElement {
  const lines = text.replace(/\n$/, '').split('\n');
  return el('pre', { class: 'diff' }, lines.map((l) => el('div', { class: /^\s*\+/.test(l) ? 'add' : /^\s*-/.test(l) ? 'del' : /^\S/.test(l) ? 'obj' : '' }, l || ' ')));
}

// ---- the run -------------------------------------------------------------------------------------------------------

function banner(kind: 'error' | 'warning' | 'ok', title: string, ...body: Child[]): HTMLElement {
  return el('div', { class: `banner ${kind}`, role: kind === 'ok' ? 'status' : 'alert' }, el('vscode-icon', { name: kind === 'ok' ? 'pass' : kind }), el('div', {}, el('strong', {}, title), ...body.map((b) => (typeof b === 'string' ? el('div', {}, b) : b))));
}

const clock = (at: number) => new Date(at).toTimeString().slice(0, 8);

function timelineView(): HTMLElement | null {
  if (!state.timeline.length) return null;
  const t0 = state.timeline[0]!.at;
  // Repeated phases (upload progress, pods waiting) collapse to their last message.
  const rows: PhaseView[] = [];
  for (const p of state.timeline) {
    const last = rows[rows.length - 1];
    if (last && last.phase === p.phase) rows[rows.length - 1] = { ...p, at: last.at };
    else rows.push(p);
  }
  const cols: Column<PhaseView>[] = [
    { head: 'At', cell: (p) => clock(p.at), class: 'num' },
    { head: '+s', cell: (p) => ((p.at - t0) / 1000).toFixed(1), class: 'num' },
    { head: 'Phase', cell: (p) => el('span', { class: `phase phase-${p.phase}` }, p.phase) },
    { head: '', cell: (p) => p.message },
  ];
  return table('grid timeline', cols, rows);
}

function podsView(pods: State['pods']): HTMLElement | null {
  if (!pods.length) return null;
  return table(
    'grid pods',
    [
      { head: 'Pod', cell: (p) => p.name, class: 'name' },
      { head: 'Phase', cell: (p) => p.phase },
      { head: 'Ready', cell: (p) => (p.ready ? 'yes' : 'no') },
      { head: 'Restarts', cell: (p) => p.restarts, class: 'num' },
      { head: 'Reason', cell: (p) => p.reason ?? '' },
    ],
    pods,
  );
}

function failureView(f: Failure): HTMLElement {
  return banner(
    'error',
    f.title,
    el('div', { class: 'detail' }, f.detail),
    el('div', { class: 'fix' }, el('strong', {}, 'Fix: '), f.fix),
    f.logs?.length ? el('div', {}, el('div', { class: 'muted small' }, `Last log lines${f.pod ? ` of ${f.pod}${f.container ? `/${f.container}` : ''}` : ''}:`), el('pre', { class: 'logs' }, f.logs.join('\n'))) : null,
  );
}

const fmt = (v: number | null, digits = 6) => (v === null ? '—' : Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(2) : v.toFixed(digits));

function smokeView(s: SmokeResultJson): HTMLElement {
  type Row = NonNullable<SmokeResultJson['comparison']>['outputs'][number];
  const cols: Column<Row>[] = [
    { head: 'Output', cell: (o) => o.name, class: 'name' },
    { head: 'Shape', cell: (o) => `[${o.shapeB.join(', ')}]` },
    { head: 'Cosine', cell: (o) => fmt(o.cosine), class: 'num' },
    { head: 'Max |error|', cell: (o) => fmt(o.maxAbsError, 3), class: 'num' },
    { head: 'Verdict', cell: (o) => el('span', { class: o.pass ? 'pass' : 'fail' }, o.pass ? 'same' : 'different') },
  ];
  return el(
    'section',
    { class: 'smoke' },
    el('h2', {}, 'Smoke test ', el('vscode-badge', { variant: 'counter', class: s.pass ? 'badge-pass' : 'badge-fail' }, s.pass ? 'passed' : 'failed')),
    el(
      'p',
      { class: 'muted' },
      `Endpoint ${s.ready ? 'ready' : 'not ready'}; V2 metadata ${s.metadata.pass ? 'matches the model’s signature' : `differs: ${s.metadata.problems.join('; ')}`}.`,
      s.remoteMs !== undefined ? ` One inference took ${s.remoteMs.toFixed(1)} ms seen from the editor (through the API server).` : '',
    ),
    s.comparison ? table('grid smoke-table', cols, s.comparison.outputs, (o) => ({ class: o.pass ? '' : 'bad' })) : null,
    !s.pass && s.reasons.length ? el('ul', { class: 'reasons' }, s.reasons.map((r) => el('li', {}, r))) : null,
  );
}

function statusView(s: StatusResultJson): HTMLElement {
  return el(
    'p',
    { class: 'status-line' },
    el('vscode-icon', { name: s.ready ? 'pass' : s.failure ? 'error' : 'sync' }),
    ` ${s.model.name}@${s.model.version ?? s.model.sha256.slice(0, 12)} `,
    s.stage ? el('vscode-badge', {}, s.stage) : null,
    ` ${s.mode === 'kserve' ? 'InferenceService' : 'Deployment'} · ${s.ready ? 'ready' : 'not ready'} · ${s.pods.filter((p) => p.ready).length}/${s.pods.length} pods ready`,
    s.previous ? el('span', { class: 'muted' }, ` · before it: ${s.previous}`) : null,
  );
}

function runView(): HTMLElement {
  const a = state.attached;
  const f = state.failure ?? state.status?.failure ?? undefined;
  const o = state.outcome;
  const gone = o?.kind === 'undeployed';
  const canAct = !!a && !running && !gone;
  return el(
    'div',
    { class: 'run' },
    state.status && statusView(state.status),
    error && banner('error', error.message, error.hint),
    f && failureView(f),
    o && !f && banner(o.kind === 'deployed' || o.kind === 'rolled-back' ? 'ok' : 'warning', o.message, o.recorded ? `Recorded in the registry as ${o.recorded}.` : '', o.uploadedBytes !== undefined ? `${o.uploadedBytes ? `${o.uploadedBytes} bytes uploaded` : 'Nothing uploaded (the model was in storage)'}${o.seconds !== undefined ? `, ${o.seconds.toFixed(1)} s in all` : ''}.` : ''),
    el(
      'div',
      { class: 'actions' },
      running && button('Cancel', () => host.post({ type: 'cancel' }), { secondary: true, icon: 'close', 'data-action': 'cancel' }),
      button('Smoke Test', () => host.post({ type: 'smoke' }), { secondary: true, icon: 'pass', disabled: !canAct || smokeRunning, 'data-action': 'smoke' }),
      button('Logs', () => host.post({ type: 'logs' }), { secondary: true, icon: 'output', disabled: !a || gone, 'data-action': 'logs' }),
      button('Open in Playground', () => host.post({ type: 'playground' }), { secondary: true, icon: 'beaker', disabled: !canAct, 'data-action': 'playground' }),
      button('Roll Back…', () => host.post({ type: 'rollback' }), { secondary: true, icon: 'discard', disabled: !canAct || !(state.status?.previous ?? o?.previous), 'data-action': 'rollback' }),
      button('Undeploy…', () => host.post({ type: 'undeploy' }), { secondary: true, icon: 'trash', disabled: !canAct, 'data-action': 'undeploy' }),
      button('History', () => host.post({ type: 'history' }), { secondary: true, icon: 'history', 'data-action': 'history' }),
      button('New Deploy…', () => ((state.view = 'form'), save(), render(), contexts ? replan(0) : void loadContexts()), { secondary: true, icon: 'cloud', disabled: running, 'data-action': 'new' }),
    ),
    smokeRunning ? el('p', { class: 'muted' }, el('vscode-progress-ring', { class: 'ring' }), ' Smoke test: the endpoint against a local run…') : state.smoke ? smokeView(state.smoke) : null,
    a && !gone && !running && figuresView(),
    state.timeline.length ? el('h2', {}, 'Rollout', state.timelineOf ? el('span', { class: 'muted small' }, ` of ${state.timelineOf}`) : null, running ? el('vscode-progress-ring', { class: 'ring' }) : null) : null,
    timelineView(),
    state.pods.length || state.status?.pods.length ? el('h2', {}, 'Pods') : null,
    podsView(state.pods.length ? state.pods : (state.status?.pods ?? [])),
    state.events?.length ? el('h2', {}, 'Events', el('span', { class: 'muted small' }, ' the cluster’s, about this rollout')) : null,
    state.events?.length ? eventsView(state.events) : null,
    state.log?.length ? el('h2', {}, 'Server log', el('span', { class: 'muted small' }, ' streamed from the cluster')) : null,
    state.log?.length ? logView(state.log) : null,
  );
}

function eventsView(events: NonNullable<State['events']>): HTMLElement {
  return table(
    'grid events',
    [
      { head: 'At', cell: (e) => (e.at ? clock(e.at) : ''), class: 'num' },
      { head: 'Type', cell: (e) => el('span', { class: e.type === 'Warning' ? 'fail' : '' }, e.type) },
      { head: 'Reason', cell: (e) => e.reason },
      { head: 'Object', cell: (e) => e.object, class: 'name' },
      { head: '', cell: (e) => `${e.message}${e.count > 1 ? ` (×${e.count})` : ''}` },
    ],
    events,
  );
}

function logView(lines: string[]): HTMLElement {
  const pre = el('pre', { class: 'logs server-log' }, lines.join('\n'));
  // Follow the end, as a terminal does.
  requestAnimationFrame(() => (pre.scrollTop = pre.scrollHeight));
  return pre;
}

function figuresView(): HTMLElement {
  const last = metrics[metrics.length - 1];
  return el(
    'section',
    { class: 'figures' },
    el('h2', {}, 'Live figures ', checkbox('', state.figuresOn, (v) => ((state.figuresOn = v), save(), host.post({ type: 'figures', on: v }), render()))),
    !state.figuresOn
      ? null
      : !last
        ? el('p', { class: 'muted' }, 'Reading the serving containers’ metrics through the API server…')
        : last.source === 'none'
          ? el('p', { class: 'muted' }, last.message ?? 'This deployment exposes no metrics.')
          : el(
              'div',
              { class: 'figures-row' },
              el('div', { class: 'figure' }, el('div', { class: 'value' }, last.rps === null ? '—' : last.rps.toFixed(1)), el('div', { class: 'muted small' }, 'requests/s')),
              last.p50Ms === null && last.meanMs != null
                ? el('div', { class: 'figure' }, el('div', { class: 'value' }, `${last.meanMs.toFixed(1)} ms`), el('div', { class: 'muted small' }, 'mean'))
                : el('div', { class: 'figure' }, el('div', { class: 'value' }, last.p50Ms === null ? '—' : `${last.p50Ms.toFixed(1)} ms`), el('div', { class: 'muted small' }, 'p50')),
              el('div', { class: 'figure' }, el('div', { class: 'value' }, last.p99Ms === null ? '—' : `${last.p99Ms.toFixed(1)} ms`), el('div', { class: 'muted small' }, 'p99')),
              el('div', { class: 'figure' }, el('div', { class: 'value' }, last.errorsPerSecond === null ? '—' : last.errorsPerSecond.toFixed(2)), el('div', { class: 'muted small' }, 'errors/s')),
              figuresChart(metrics),
              last.message ? el('p', { class: 'muted small' }, last.message) : null,
            ),
  );
}

// ---- the page ------------------------------------------------------------------------------------------------------

function render(): void {
  if (!initial) {
    app.replaceChildren(el('p', {}, 'This panel could not read its initial state. Close it and run Deploy Version… again.'));
    return;
  }
  const a = state.attached;
  const head = el(
    'header',
    {},
    el('div', { class: 'title' }, el('vscode-icon', { name: 'cloud', size: 22 }), el('h1', {}, state.view === 'run' && a ? `${a.name}` : `Deploy ${initial.model.ref}`)),
    el('div', { class: 'muted' }, state.view === 'run' && a ? `${state.runLabel ?? initial.model.ref} · namespace ${a.namespace} on ${a.context}` : initial.model.detail),
  );
  app.replaceChildren(head, state.view === 'form' ? formView() : runView());
}

host.listen((m) => {
  switch (m.type) {
    case 'started':
      running = true;
      state.view = 'run';
      state.runLabel = m.label;
      if (m.target) state.attached = m.target;
      if (m.what === 'deploy') {
        state.timelineOf = m.label;
        clearRun();
      }
      break;
    case 'phase':
      state.timeline.push(m.phase);
      if (state.timeline.length > 500) state.timeline.splice(0, state.timeline.length - 500);
      if (m.phase.pods) state.pods = m.phase.pods;
      if (m.phase.events) state.events = m.phase.events;
      break;
    case 'failure':
      state.failure = m.failure;
      break;
    case 'outcome':
      running = false;
      state.outcome = m.outcome;
      state.attached = m.outcome.target;
      if (m.outcome.kind === 'undeployed') host.post({ type: 'figures', on: false });
      else if (state.figuresOn) host.post({ type: 'figures', on: true });
      break;
    case 'status': {
      state.status = m.status;
      state.attached = m.target;
      if (m.status.ready) delete state.failure;
      // Another version runs now (rolled back, or deployed from elsewhere): what the panel said of the last one goes.
      const runs = `${m.status.model.name}@${m.status.model.version ?? m.status.model.sha256.slice(0, 12)}`;
      if (state.runLabel && state.runLabel !== runs) {
        delete state.outcome;
        delete state.smoke;
        delete state.failure;
      }
      state.runLabel = runs;
      break;
    }
    case 'smokeRunning':
      smokeRunning = true;
      break;
    case 'smoke':
      smokeRunning = false;
      state.smoke = m.smoke;
      break;
    case 'log': {
      state.log = [...(state.log ?? []), ...m.lines].slice(-300);
      save();
      // Only the log changes: patched in place, so that nothing else on the page moves under the reader.
      const pre = app.querySelector('pre.server-log');
      if (pre) {
        pre.replaceWith(logView(state.log));
        return;
      }
      break;
    }
    case 'metrics': {
      metrics.push(m.metrics);
      if (metrics.length > 90) metrics = metrics.slice(-90);
      const figures = app.querySelector('section.figures');
      if (figures) {
        figures.replaceWith(figuresView());
        return;
      }
      break;
    }
    case 'error':
      running = false;
      smokeRunning = false;
      error = { message: m.message, ...(m.hint ? { hint: m.hint } : {}) };
      break;
    case 'cancelled':
      running = false;
      error = { message: m.message };
      break;
  }
  save();
  render();
});

render();
host.post({ type: 'ready', ...(state.attached ? { attached: state.attached } : {}) });
if (state.view === 'form') void loadContexts();
if (state.attached && state.figuresOn) host.post({ type: 'figures', on: true });
