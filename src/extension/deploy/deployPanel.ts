import * as vscode from 'vscode';
import { CancelledError, UserError, describeError, isCancelled, isUserError } from '../../core/errors';
import { dnsName } from '../../core/deploy/manifests';
import { contextsResultSchema, deployArgs, deployResultSchema, namespacesResultSchema, smokeResultSchema, statusResultSchema, targetArgs, type DeployResultJson } from '../../shared/cli/deploy';
import type { CliEvent, MetricsEvent } from '../../shared/cli/events';
import { validate, type Handlers, type RequestHandlers } from '../../shared/contract';
import { deployContract, deploymentKey, type DeployForm, type DeploymentRef, type DeployInitial, type DeployToHost, type Outcome, type Plan, type deployRequests } from '../../shared/protocol/deploy';
import type { DeployTargetSetting } from '../../shared/settings';
import type { CliProcess } from '../cli';
import { ContractPanel, webviewOptions } from '../panel';
import type { Services } from '../services';
import { setting, updateSetting } from '../settings';
import { cloudEnv } from './cloudEnv';
import { deploymentsView } from './deploymentsView';

/** What a Deploy panel is opened on: a registered version, and the deployment it follows, if any. */
export interface DeployPanelTarget {
  /** "name@v1.2.3" */
  ref: string;
  repo: string;
  attach?: DeploymentRef;
  preset?: Partial<DeployForm>;
  action?: 'smoke';
}

/** Parses a verb's --json output against its schema: a mismatch is an internal error, said as such. */
function parseJson<T>(verb: string, stdout: string, schema: Parameters<typeof validate<T>>[0]): T {
  let raw: unknown;
  try {
    raw = JSON.parse(stdout);
  } catch {
    throw new Error(`modelyard ${verb} printed no JSON`);
  }
  const v = validate(schema, raw);
  if (!v.ok) throw new Error(`modelyard ${verb} answered outside its contract: ${v.error}`);
  return v.value;
}

/** Deploys under way, whether or not their panel is open. */
const running = new Set<vscode.CancellationTokenSource>();

const label = (r: DeploymentRef) => `${r.name} in ${r.namespace} on ${r.context}`;

/**
 * Deploy Version…: one panel per version (or per deployment it follows). The work runs in `modelyard` children (the
 * same core as the CLI): the plan is a server-side dry run, the deploy reports its phases on the event channel, so
 * the panel and a cancellable notification follow it, and the panel may be closed meanwhile. The Kubernetes client
 * never loads in the extension host.
 */
export class DeployPanel extends ContractPanel<typeof deployContract> {
  private running_: { what: string; cts: vscode.CancellationTokenSource } | undefined;
  private planCts: vscode.CancellationTokenSource | undefined;
  private figures: CliProcess | undefined;
  /** The server log streaming into the panel (`modelyard logs --follow`), once a container runs. */
  private logStream: CliProcess | undefined;
  private figuresWanted = false;
  /** The deployment this panel follows (after a deploy, or when opened on one). */
  private attached: DeploymentRef | undefined;
  /** Every message of the run under way, so a webview shown again (or restored) catches up. */
  private replay: Parameters<DeployPanel['post']>[0][] = [];
  private lastResult: DeployResultJson | undefined;

  static get all(): DeployPanel[] {
    return ContractPanel.openPanels<DeployPanel>(deployContract.viewType);
  }

  static async show(services: Services, target: DeployPanelTarget, panel?: vscode.WebviewPanel): Promise<DeployPanel> {
    const key = target.attach ? deploymentKey(target.attach) : `${target.repo}\n${target.ref}`;
    const open = DeployPanel.all.find((p) => p.key === key);
    if (open && !panel) {
      open.panel.reveal();
      if (target.action === 'smoke') void open.smoke();
      return open;
    }
    const [name = target.ref, version = ''] = target.ref.split('@');
    const reg = await services.registries.registry(target.repo).catch(() => undefined);
    const model = reg?.models.find((m) => m.name === name);
    const v = model?.state?.versions.find((x) => x.version === version);
    if (!panel && model && version && !v) throw new UserError(`${target.ref} is not a version of ${name} in ${target.repo}.`, 'Pick a registered version in the Models view.');
    const stagesNow = v ? [...v.stages.entries()].filter(([, s]) => s.active).map(([s]) => s) : [];
    const detail = [model?.entry?.path, v ? `commit ${v.commit.slice(0, 8)}` : undefined, stagesNow.length ? `stage ${stagesNow.join(', ')}` : undefined].filter(Boolean).join(' · ');
    const title = target.attach ? `Deployment: ${target.attach.name}` : `Deploy: ${target.ref}`;
    const webviewPanel = panel ?? vscode.window.createWebviewPanel(deployContract.viewType, title, vscode.ViewColumn.Active, webviewOptions(services.extensionUri));
    const initial: DeployInitial = {
      model: { ref: target.ref, label: target.ref, name, version, repo: target.repo, detail },
      stages: [...new Set([...setting('registry.stages'), ...stagesNow])].slice(0, 64),
      defaults: { stage: setting('deploy.stage'), image: setting('deploy.image') },
      ...(target.attach ? { attach: target.attach } : {}),
      ...(target.preset ? { preset: target.preset } : {}),
      ...(target.action ? { action: target.action } : {}),
    };
    return new DeployPanel(webviewPanel, services, target, key, title, initial);
  }

  private constructor(
    panel: vscode.WebviewPanel,
    private readonly services: Services,
    readonly target: DeployPanelTarget,
    readonly key: string,
    title: string,
    initial: DeployInitial,
  ) {
    super(panel, deployContract, {
      extensionUri: services.extensionUri,
      log: services.log,
      title,
      script: 'deploy',
      iconPath: new vscode.ThemeIcon('cloud') as unknown as vscode.Uri,
      key,
      restore: { ref: target.ref, repo: target.repo, ...(target.attach ? { attach: target.attach } : {}) },
      initial,
    });
    this.attached = target.attach;
    // Closing the panel does not stop a deploy (its notification stays, with Cancel); it stops what only the panel needs.
    this._register({ dispose: () => (this.planCts?.cancel(), this.stopFigures(), this.stopLogs()) });
    this._register(panel.onDidChangeViewState(() => this.syncFigures()));
    this.followView();
  }

  /** What the Deployments view's watch last said of the attached deployment: a change refreshes the status. */
  private seen = '';

  /** The panel's status follows the cluster's watch (the Deployments view's), not a refresh button. */
  private followView(): void {
    const view = deploymentsView();
    if (!view) return;
    this._register(
      view.onDidUpdate(() => {
        const a = this.attached;
        if (!a || this.running_) return;
        const n = view.find(a.context, a.namespace, a.name);
        const now = n ? JSON.stringify([n.item.version, n.item.ready, n.item.desired, n.item.state, n.item.previous, n.item.stage]) : 'gone';
        if (now === this.seen) return;
        this.seen = now;
        void this.refreshStatus().catch((e: unknown) => this.services.log.info(`[deploy] status of ${a.name}: ${describeError(e)}`));
      }),
    );
  }

  /** The deployment this panel follows, if any. */
  get deployment(): DeploymentRef | undefined {
    return this.attached;
  }

  get running(): boolean {
    return !!this.running_;
  }

  /** The result of the last deploy this panel ran. */
  get result(): DeployResultJson | undefined {
    return this.lastResult;
  }

  protected get handlers(): Handlers<DeployToHost> {
    return {
      ready: async (m) => {
        if (this.running_) {
          for (const msg of this.replay) await this.post(msg);
          return;
        }
        this.attached ??= m.attached;
        if (this.attached) await this.refreshStatus().catch((e: unknown) => this.showError(e));
        if (this.target.action === 'smoke' && this.attached) await this.smoke();
      },
      deploy: async (m) => {
        await this.deploy(m.form).catch((e: unknown) => this.showError(e));
      },
      cancel: () => this.running_?.cts.cancel(),
      smoke: async () => {
        await this.smoke();
      },
      rollback: async () => {
        if (this.attached) await vscode.commands.executeCommand('modelyard.deployments.rollback', { ...this.attached, repo: this.target.repo });
        await this.refreshStatus().catch(() => undefined);
      },
      undeploy: async () => {
        if (this.attached) await vscode.commands.executeCommand('modelyard.deployments.undeploy', { ...this.attached, repo: this.target.repo });
        await this.refreshStatus().catch(() => undefined);
      },
      logs: async () => {
        if (this.attached) await vscode.commands.executeCommand('modelyard.deployments.logs', { ...this.attached, repo: this.target.repo });
      },
      playground: async () => {
        if (this.attached) await vscode.commands.executeCommand('modelyard.deployments.openInPlayground', { ...this.attached, repo: this.target.repo, ref: this.target.ref });
      },
      history: async () => {
        const reg = await this.services.registries.registry(this.target.repo);
        const model = reg.models.find((m) => m.name === this.target.ref.split('@')[0]);
        if (model) await vscode.commands.executeCommand('modelyard.model.history', { kind: 'model', root: this.target.repo, model });
      },
      figures: (m) => {
        this.figuresWanted = m.on;
        this.syncFigures();
      },
    };
  }

  protected override get requestHandlers(): RequestHandlers<typeof deployRequests> {
    return {
      contexts: async () => parseJson('contexts', (await this.cli(['contexts', '--json'])).stdout, contextsResultSchema),
      namespaces: async ({ context }) => parseJson('namespaces', (await this.cli(['namespaces', '--context', context, '--json'], { context })).stdout, namespacesResultSchema),
      target: ({ context }) => {
        const t = setting('deploy.targets')[context] ?? {};
        return Promise.resolve({
          ...(t.namespace ? { namespace: t.namespace } : {}),
          ...(t.storage ? { storage: t.storage } : {}),
          ...(t.s3Endpoint ? { s3Endpoint: t.s3Endpoint } : {}),
          ...(t.s3PodEndpoint ? { s3PodEndpoint: t.s3PodEndpoint } : {}),
          ...(t.s3AccessKeyId ? { s3AccessKeyId: t.s3AccessKeyId } : {}),
          ...(t.stage !== undefined ? { stage: t.stage } : {}),
          ...(t.mode ? { mode: t.mode } : {}),
        });
      },
      plan: async ({ form }) => this.plan(form),
      storeSecret: async ({ endpoint, accessKeyId, secret }) => {
        await this.services.secrets.store({ kind: 's3', endpoint, accessKeyId }, secret);
        this.services.log.info(`[deploy] stored the secret key of ${accessKeyId} for ${endpoint || 'AWS S3'} in SecretStorage`);
        return { stored: true };
      },
      storeToken: async ({ context, token }) => {
        await this.services.secrets.store({ kind: 'kube-token', context }, token);
        this.services.log.info(`[deploy] stored a token for context ${context} in SecretStorage`);
        return { stored: true };
      },
    };
  }

  /** A `modelyard` child with the cloud environment (kubeconfig, plugin folders, and the form's S3 keys). */
  private async cli(args: string[], opts: { form?: DeployForm; context?: string; env?: Record<string, string | undefined>; token?: vscode.CancellationToken; okCodes?: number[]; onEvent?: (e: CliEvent) => void } = {}) {
    const env = opts.env ?? (await cloudEnv({ secrets: this.services.secrets, context: opts.context ?? opts.form?.context ?? this.attached?.context, ...(opts.form?.s3AccessKeyId ? { s3: { endpoint: opts.form.s3Endpoint, accessKeyId: opts.form.s3AccessKeyId } } : {}) })).env;
    return this.services.cli.run(args, { env, cwd: this.target.repo, ...(opts.token ? { token: opts.token } : {}), ...(opts.okCodes ? { okCodes: opts.okCodes } : {}), ...(opts.onEvent ? { onEvent: opts.onEvent } : {}) });
  }

  private argsOf(form: DeployForm, extra: { dryRun?: boolean }): string[] {
    const replicas = Math.max(1, form.replicas);
    return deployArgs({
      ref: this.target.ref,
      repo: this.target.repo,
      ...(form.context ? { context: form.context } : {}),
      ...(form.namespace ? { namespace: form.namespace } : {}),
      ...(form.mode !== 'auto' ? { mode: form.mode } : {}),
      ...(form.name.trim() ? { name: form.name.trim() } : {}),
      ...(form.scaling === 'auto' ? { autoscale: { min: form.min, max: Math.max(1, form.max) } } : { replicas }),
      ...(form.cpu.trim() ? { cpu: form.cpu.trim() } : {}),
      ...(form.memory.trim() ? { memory: form.memory.trim() } : {}),
      storage: form.storage.trim(),
      ...(form.s3Endpoint.trim() ? { s3Endpoint: form.s3Endpoint.trim() } : {}),
      ...(form.s3PodEndpoint.trim() ? { s3PodEndpoint: form.s3PodEndpoint.trim() } : {}),
      ...(form.mode !== 'plain' && form.runtime ? { runtime: form.runtime } : {}),
      stage: form.stage.trim() || null,
      ...(form.force ? { force: true } : {}),
      timeoutSeconds: Math.max(10, Math.trunc(setting('deploy.timeoutSeconds'))),
      json: true,
      ...(extra.dryRun ? { dryRun: true } : {}),
    });
  }

  private checkForm(form: DeployForm): void {
    if (!form.context) throw new UserError('pick the cluster (kube context) to deploy to.');
    if (!form.storage.trim()) throw new UserError('say where the cluster reads the model from.', 'Give Storage as s3://BUCKET/PREFIX (with the store\'s endpoint for a store other than AWS) or pvc:CLAIM.');
    if (form.scaling === 'auto' && form.min > form.max) throw new UserError(`the minimum of ${form.min} replicas is more than the maximum of ${form.max}.`);
  }

  /** The plan: what a server-side dry run finds for the form. A newer plan cancels the one under way. */
  async plan(form: DeployForm): Promise<Plan> {
    this.checkForm(form);
    this.planCts?.cancel();
    const cts = (this.planCts = new vscode.CancellationTokenSource());
    try {
      // One read of the secrets: the child's environment, and whether the key was there.
      const { env, credentials } = await cloudEnv({ secrets: this.services.secrets, context: form.context, ...(form.s3AccessKeyId ? { s3: { endpoint: form.s3Endpoint, accessKeyId: form.s3AccessKeyId } } : {}) });
      const r = await this.cli(this.argsOf(form, { dryRun: true }), { env, token: cts.token, okCodes: [0, 1] });
      const d = parseJson('deploy --dry-run', r.stdout, deployResultSchema);
      return {
        name: d.name,
        namespace: d.namespace,
        context: d.context,
        server: d.probe.server,
        mode: d.mode,
        kubernetes: d.probe.version,
        kserve: d.probe.kserve,
        runtimes: d.probe.runtimes.map((x) => ({ name: x.name, kind: x.kind, ...(x.onnxruntime ? { onnxruntime: x.onnxruntime } : {}) })),
        preflight: d.preflight,
        diff: d.diff.slice(0, 262_144),
        storageUri: d.storageUri,
        ...(d.previous ? { previous: d.previous.label } : {}),
        credentials: form.storage.trim().startsWith('pvc:') ? 'none-needed' : credentials,
      };
    } finally {
      if (this.planCts === cts) this.planCts = undefined;
      cts.dispose();
    }
  }

  /** Posts a message of the run under way, and keeps it for a webview that comes back. */
  private postRun(msg: Parameters<DeployPanel['post']>[0]): void {
    this.replay.push(msg);
    if (this.replay.length > 2000) this.replay.splice(1, this.replay.length - 2000);
    void this.post(msg);
  }

  /** Deploys with the form's options; resolves when the deploy has ended (any way). */
  async deploy(form: DeployForm): Promise<DeployResultJson | undefined> {
    if (this.running_) throw new UserError(`a ${this.running_.what} is under way in this panel.`, 'Wait for it, or cancel it.');
    this.checkForm(form);
    const ref = this.target.ref;
    const name = form.name.trim() || dnsName(ref.split('@')[0]!);
    const target: DeploymentRef = { context: form.context, namespace: form.namespace || 'default', name };
    const cts = new vscode.CancellationTokenSource();
    this.running_ = { what: 'deploy', cts };
    running.add(cts);
    this.replay = [];
    this.stopFigures();
    this.stopLogs();
    this.attached = target;
    const t0 = Date.now();
    this.postRun({ type: 'started', what: 'deploy', target, label: ref });
    try {
      const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Deploying ${ref} to ${form.namespace} on ${form.context}`, cancellable: true }, (progress, token) => {
        token.onCancellationRequested(() => cts.cancel());
        return this.cli(this.argsOf(form, {}), {
          form,
          token: cts.token,
          okCodes: [0, 1],
          onEvent: (e) => {
            if (e.event === 'phase') {
              this.postRun({ type: 'phase', phase: { phase: e.phase, message: e.message, at: e.at, ...(e.pods ? { pods: e.pods } : {}), ...(e.events ? { events: e.events } : {}) } });
              progress.report({ message: e.message });
              if (e.phase === 'loading' || e.phase === 'ready' || e.phase === 'failed') this.startLogs(target, e.phase !== 'loading');
            } else if (e.event === 'failure') this.postRun({ type: 'failure', failure: { kind: e.kind, title: e.title, detail: e.detail, fix: e.fix, ...(e.pod ? { pod: e.pod } : {}), ...(e.logs ? { logs: e.logs } : {}) } });
          },
        });
      });
      const d = parseJson('deploy', r.stdout, deployResultSchema);
      this.lastResult = d;
      await this.remember(form);
      this.services.registries.invalidate(this.target.repo);
      if (d.smoke) this.postRun({ type: 'smoke', smoke: d.smoke });
      const ok = !!d.rollout?.ready && (!d.smoke || d.smoke.pass);
      const outcome: Outcome = {
        kind: ok ? 'deployed' : d.rollout?.failure ? 'failed' : 'not-ready',
        message: ok
          ? `${d.model.label} is live as ${d.mode === 'kserve' ? 'InferenceService' : 'Deployment'} ${d.name} in ${d.namespace} on ${d.context}${d.smoke ? '; the smoke test passed' : ''}.`
          : d.rollout?.failure
            ? `${d.model.label} was applied and does not serve: ${d.rollout.failure.title}`
            : d.rollout?.ready
              ? `${d.model.label} is ready, but its answers differ from the local run.`
              : `${d.model.label} did not become ready in ${setting('deploy.timeoutSeconds')} s; the cluster goes on rolling it out.`,
        target,
        ...(d.recorded ? { recorded: d.recorded.tag } : {}),
        ...(d.previous ? { previous: d.previous.label } : {}),
        uploadedBytes: d.uploadedBytes,
        seconds: (Date.now() - t0) / 1000,
      };
      this.postRun({ type: 'outcome', outcome });
      void this.notify(outcome, ok);
      return d;
    } catch (e) {
      if (isCancelled(e)) {
        this.postRun({ type: 'cancelled', message: e instanceof CancelledError && e.message !== 'Cancelled.' ? `${e.message}${e.hint ? ` ${e.hint}` : ''}` : 'The deploy was cancelled.' });
        return undefined;
      }
      throw e;
    } finally {
      running.delete(cts);
      cts.dispose();
      this.running_ = undefined;
      this.syncFigures();
    }
  }

  private async notify(o: Outcome, ok: boolean): Promise<void> {
    const msg = o.message + (o.recorded ? ` Recorded as ${o.recorded}.` : '');
    const pick = ok ? await vscode.window.showInformationMessage(msg, ...(this.panel.visible ? [] : ['Open Panel'])) : await vscode.window.showWarningMessage(msg, 'Open Panel', 'Show Logs');
    if (pick === 'Open Panel') this.panel.reveal();
    if (pick === 'Show Logs' && this.attached) await vscode.commands.executeCommand('modelyard.deployments.logs', { ...this.attached, repo: this.target.repo });
  }

  /** Saves the form's target (never a secret) for the context: the next deploy there is one click. */
  private async remember(form: DeployForm): Promise<void> {
    const all = { ...setting('deploy.targets') };
    const t: DeployTargetSetting = {
      ...(form.namespace ? { namespace: form.namespace } : {}),
      storage: form.storage.trim(),
      ...(form.s3Endpoint.trim() ? { s3Endpoint: form.s3Endpoint.trim() } : {}),
      ...(form.s3PodEndpoint.trim() ? { s3PodEndpoint: form.s3PodEndpoint.trim() } : {}),
      ...(form.s3AccessKeyId.trim() ? { s3AccessKeyId: form.s3AccessKeyId.trim() } : {}),
      stage: form.stage.trim(),
      mode: form.mode,
    };
    if (JSON.stringify(all[form.context]) === JSON.stringify(t)) return;
    all[form.context] = t;
    await updateSetting('deploy.targets', all).then(undefined, (e: unknown) => this.services.log.warn(`[deploy] could not save the target of ${form.context}: ${describeError(e)}`));
  }

  /** The attached deployment's status, from the cluster. */
  async refreshStatus(): Promise<void> {
    const a = this.attached;
    if (!a) return;
    void deploymentsView()?.ensureWatching(a.context);
    const r = await this.cli(['status', a.name, ...targetArgs(a), '--json'], { okCodes: [0, 1] }).catch((e: unknown) => {
      // Gone (undeployed): the panel says so rather than failing.
      if (isUserError(e) && /nothing named/.test(e.message)) return undefined;
      throw e;
    });
    if (!r) {
      this.stopLogs();
      await this.post({ type: 'outcome', outcome: { kind: 'undeployed', message: `${label(a)} is not deployed (any more).`, target: a } });
      return;
    }
    const status = parseJson('status', r.stdout, statusResultSchema);
    await this.post({ type: 'status', target: a, status });
    this.syncFigures();
    if (status.pods.length) this.startLogs(a, true);
  }

  /** The smoke test of the attached deployment, again. */
  async smoke(): Promise<void> {
    const a = this.attached;
    if (!a) return;
    await this.post({ type: 'smokeRunning' });
    try {
      const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Smoke test of ${a.name}` }, () => this.cli(['smoke', a.name, ...targetArgs({ ...a, repo: this.target.repo }), '--json'], { okCodes: [0, 1] }));
      await this.post({ type: 'smoke', smoke: parseJson('smoke', r.stdout, smokeResultSchema) });
    } catch (e) {
      await this.showError(e);
    }
  }

  /** Figures are read while the panel is visible, the webview shows them, and a deployment is attached. */
  private syncFigures(): void {
    const want = this.figuresWanted && this.panel.visible && !!this.attached && !this.running_;
    if (!want) return this.stopFigures();
    if (this.figures) return;
    const a = this.attached!;
    void cloudEnv({ secrets: this.services.secrets, context: a.context }).then(({ env }) => {
      if (this.figures || !this.figuresWanted) return;
      const p = this.services.cli.start(['metrics', a.name, ...targetArgs(a), '--watch', '--interval', '2'], {
        env,
        collectStdout: false,
        onEvent: (e) => {
          if (e.event === 'metrics') void this.post({ type: 'metrics', metrics: e as MetricsEvent });
        },
      });
      this.figures = p;
      p.done.catch((e: unknown) => this.services.log.info(`[deploy] figures of ${a.name} ended: ${describeError(e)}`)).finally(() => {
        if (this.figures === p) this.figures = undefined;
      });
    });
  }

  /**
   * Streams the serving containers' log into the panel. `again`: restart a stream that ended (the pods it followed
   * were replaced); while one runs, nothing happens.
   */
  private startLogs(a: DeploymentRef, again: boolean): void {
    if (this.logStream || (!again && this.logStarted === deploymentKey(a))) return;
    this.logStarted = deploymentKey(a);
    const pending: string[] = [];
    let partial = '';
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
      timer = undefined;
      const lines = pending.splice(0, pending.length).slice(-500);
      if (lines.length) this.postRun({ type: 'log', lines });
    };
    void cloudEnv({ secrets: this.services.secrets, context: a.context }).then(({ env }) => {
      if (this.logStream || this.attached !== a) return;
      const p = this.services.cli.start(['logs', a.name, ...targetArgs(a), '--follow', '--tail', '100'], {
        env,
        collectStdout: false,
        onStdout: (text) => {
          const parts = (partial + text).split('\n');
          partial = parts.pop()!;
          pending.push(...parts);
          timer ??= setTimeout(flush, 200);
        },
      });
      this.logStream = p;
      p.done
        .catch((e: unknown) => this.services.log.info(`[deploy] the log of ${a.name} ended: ${describeError(e)}`))
        .finally(() => {
          if (this.logStream === p) this.logStream = undefined;
          if (timer) clearTimeout(timer);
          flush();
        });
    });
  }

  private logStarted = '';

  private stopLogs(): void {
    const l = this.logStream;
    this.logStream = undefined;
    this.logStarted = '';
    void l?.stop();
  }

  private stopFigures(): void {
    const f = this.figures;
    this.figures = undefined;
    void f?.stop();
  }

  private async showError(e: unknown): Promise<void> {
    if (isCancelled(e)) return;
    if (isUserError(e)) this.services.log.warn(`[deploy] ${this.target.ref}: ${e.message}`);
    else this.services.log.error(`[deploy] ${this.target.ref}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    await this.post({ type: 'error', message: isUserError(e) ? e.message : describeError(e), hint: isUserError(e) && e.hint ? e.hint : 'See the Modelyard log.' });
  }

  /** Ends the deploys under way, also of closed panels (the window closes or reloads): each CLI gives its lease back. */
  static stopAll(): void {
    for (const cts of running) cts.cancel();
  }
}
