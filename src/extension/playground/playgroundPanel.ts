import path from 'node:path';
import * as vscode from 'vscode';
import { UserError, describeError, isUserError } from '../../core/errors';
import { writeAtomic } from '../../core/util/files';
import type { SessionInfo, SessionOptions } from '../../core/inference/host';
import type { Tensor } from '../../core/inference/tensor';
import type { Handlers, RequestHandlers } from '../../shared/contract';
import {
  playgroundContract,
  type playgroundRequests,
  type BenchView,
  type InputSpec,
  type PlaygroundTab,
  type PlaygroundToHost,
  type SessionOptionsView,
} from '../../shared/protocol/playground';
import { loadHeavy, type HeavyModule } from '../heavy/load';
import type { ModelTarget } from '../modelTarget';
import { ContractPanel, webviewOptions } from '../panel';
import type { Services } from '../services';
import { inferenceSettings } from '../settings';

export interface PlaygroundContext {
  services: Services;
  /** Asks the user for another model to compare with (a file, or a version from the registry). */
  pickCompareTarget(current: ModelTarget): Promise<ModelTarget | undefined>;
  /** Starts serving a model locally and resolves to its base URL. */
  serve(target: ModelTarget): Promise<string>;
  /** The URL a model is served at, if it is. */
  servingUrl(target: ModelTarget): string | null;
}

type ErrorWhat = 'run' | 'benchmark' | 'compare' | 'remote';

/** An endpoint for the Remote tab: a base URL and the model name it serves. */
export interface RemoteEndpoint {
  url: string;
  model: string;
}

function sessionOptions(o: SessionOptionsView): SessionOptions {
  return {
    ...(o.intraOpThreads ? { intraOpThreads: o.intraOpThreads } : {}),
    graphOptimizationLevel: o.graphOptimizationLevel,
    executionProviders: [o.executionProvider],
  };
}

/**
 * The Playground: one per model (a file, or a version from git). It loads the model in the inference worker,
 * builds inputs from the webview's specs, runs, benchmarks, compares, and asks a remote V2 endpoint. Outputs stay
 * here (the webview gets their statistics) so that they can be saved.
 */
export class PlaygroundPanel extends ContractPanel<typeof playgroundContract> {
  private session: SessionInfo | undefined;
  private sessionOpts: SessionOptionsView;
  private runs = new Map<number, Record<string, Tensor>>();
  private nextRun = 1;
  private bench: BenchView[] = [];
  private work: AbortController | undefined;
  private compareTarget: ModelTarget | undefined;

  /** The loaded session, once the model is loaded. */
  get sessionInfo(): SessionInfo | undefined {
    return this.session;
  }

  static get all(): PlaygroundPanel[] {
    return ContractPanel.openPanels<PlaygroundPanel>(playgroundContract.viewType);
  }

  /** The model's Playground, revealed (and pointed at `compareWith`) if open; `panel` is a webview restored after a reload. */
  static show(ctx: PlaygroundContext, target: ModelTarget, tab: PlaygroundTab = 'run', compareWith?: ModelTarget, panel?: vscode.WebviewPanel, remote?: RemoteEndpoint): PlaygroundPanel {
    if (panel) return new PlaygroundPanel(panel, ctx, target, tab, compareWith);
    let created = false;
    const p = ContractPanel.revealOrCreate(playgroundContract.viewType, target.uri.toString(), () => {
      created = true;
      const webview = vscode.window.createWebviewPanel(playgroundContract.viewType, `Playground: ${target.label}`, vscode.ViewColumn.Active, webviewOptions(ctx.services.extensionUri));
      return new PlaygroundPanel(webview, ctx, target, tab, compareWith, remote);
    });
    if (compareWith && p.compareTarget !== compareWith) void p.setCompareTarget(compareWith);
    if (remote && !created) void p.post({ type: 'remoteEndpoint', url: remote.url, model: remote.model });
    if (remote) p.remoteEndpoint = remote;
    return p;
  }

  /** The endpoint the Remote tab was pointed at by a command (a deployment), if any. */
  remoteEndpoint: RemoteEndpoint | undefined;

  private constructor(
    panel: vscode.WebviewPanel,
    private readonly ctx: PlaygroundContext,
    readonly target: ModelTarget,
    tab: PlaygroundTab,
    compareWith: ModelTarget | undefined,
    remote?: RemoteEndpoint,
  ) {
    const threads = inferenceSettings().threads;
    super(panel, playgroundContract, {
      extensionUri: ctx.services.extensionUri,
      log: ctx.services.log,
      title: `Playground: ${target.label}`,
      key: target.uri.toString(),
      restore: { uri: target.uri.toString(), tab },
      script: 'playground',
      iconPath: new vscode.ThemeIcon('beaker') as unknown as vscode.Uri,
      initial: {
        model: { label: target.label, uri: target.uri.toString(), detail: target.detail },
        tab,
        ...(compareWith ? { compareTarget: { label: compareWith.label, uri: compareWith.uri.toString(), detail: compareWith.detail } } : {}),
        defaults: { threads, maxInputElements: inferenceSettings().maxInputElements, serveUrl: ctx.servingUrl(target) },
        ...(remote ? { remote } : {}),
      },
    });
    this.sessionOpts = { intraOpThreads: threads, graphOptimizationLevel: 'all', executionProvider: 'cpu' };
    this.compareTarget = compareWith;
    this._register({
      dispose: () => {
        this.work?.abort();
        if (this.session) void this.inference.get().then((h) => h.release(this.session!.id));
      },
    });
  }

  private get inference() {
    return this.ctx.services.inference;
  }

  private get log() {
    return this.ctx.services.log;
  }

  protected get handlers(): Handlers<PlaygroundToHost> {
    return {
      ready: () => this.load(this.sessionOpts),
      load: ({ options }) => this.load(options),
      run: ({ inputs, options }) => this.guard('run', (signal) => this.run(inputs, options, signal)),
      cancel: () => this.work?.abort(),
      saveOutputs: ({ run, format }) => this.saveOutputs(run, format),
      benchmark: (m) => this.guard('benchmark', (signal) => this.benchmark(m, signal)),
      saveBenchmark: () => this.saveBenchmark(),
      compare: ({ inputs, options, tolerances }) => this.guard('compare', (signal) => this.compare(inputs, options, tolerances, signal)),
      remote: ({ url, model, inputs, options }) => this.guard('remote', (signal) => this.remote(url, model, inputs, options, signal)),
      serve: async () => {
        const url = await this.ctx.serve(this.target);
        await this.post({ type: 'serving', url });
      },
      copy: async ({ text }) => vscode.env.clipboard.writeText(text),
      showLog: () => this.log.show(),
    };
  }

  protected override get requestHandlers(): RequestHandlers<typeof playgroundRequests> {
    return {
      pickFile: async ({ input, kind }) => {
        const filters: Record<string, Record<string, string[]>> = {
          npy: { 'NumPy array': ['npy'] },
          image: { Images: ['png', 'jpg', 'jpeg'] },
          wav: { 'WAV audio': ['wav'] },
          json: { JSON: ['json'] },
        };
        const picked = await vscode.window.showOpenDialog({ canSelectMany: false, filters: filters[kind]!, title: `Values for input '${input}'` });
        return picked?.[0]?.fsPath ?? null;
      },
      pickCompareTarget: async () => {
        const t = await this.ctx.pickCompareTarget(this.target);
        if (!t) return null;
        this.compareTarget = t;
        return { label: t.label, uri: t.uri.toString(), detail: t.detail };
      },
    };
  }

  async notifyServing(url: string | null): Promise<void> {
    await this.post({ type: 'serving', url });
  }

  async setCompareTarget(t: ModelTarget): Promise<void> {
    this.compareTarget = t;
    await this.post({ type: 'compareTarget', target: { label: t.label, uri: t.uri.toString(), detail: t.detail } });
  }

  /** Runs one piece of work at a time, cancellable, reporting failure in the tab it came from. */
  private async guard(what: ErrorWhat, fn: (signal: AbortSignal) => Promise<void>): Promise<void> {
    if (this.work) throw new UserError('the Playground is busy.', 'Wait for it, or press Cancel.');
    const ac = new AbortController();
    this.work = ac;
    await this.post({ type: 'busy', what });
    try {
      await fn(ac.signal);
    } catch (e) {
      const message = isUserError(e) ? e.message : describeError(e);
      if (isUserError(e)) this.log.warn(`[playground] ${this.target.label} ${what}: ${describeError(e)}`);
      else this.log.error(`[playground] ${this.target.label} ${what}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      await this.post({ type: 'error', what, error: { message, ...(isUserError(e) && e.hint ? { hint: e.hint } : {}) } });
    } finally {
      this.work = undefined;
      await this.post({ type: 'idle' });
    }
  }

  /**
   * Loads the model with these options and makes it the panel's session. Every load takes a reference, also one that
   * returns the session already held, so the previous reference is always released: the panel holds exactly one.
   */
  private async acquire(options: SessionOptionsView, signal?: AbortSignal): Promise<SessionInfo> {
    const next = await this.inference.load(await this.ctx.services.models.source(this.target), sessionOptions(options), signal);
    const previous = this.session;
    this.session = next;
    this.sessionOpts = options;
    if (previous) void this.inference.get().then((h) => h.release(previous.id));
    return next;
  }

  private async load(options: SessionOptionsView): Promise<void> {
    await this.post({ type: 'busy', what: 'load' });
    try {
      const heavy = await loadHeavy();
      const session = await this.acquire(options);
      const { shapes, guessed } = heavy.resolveShapes(session.inputs);
      const sources = Object.fromEntries(session.inputs.map((i) => [i.name, heavy.suggestedSource(i)]));
      // Only what ships with onnxruntime-node: CUDA and TensorRT need libraries installed apart.
      const providers = (await (await this.inference.get()).availableProviders()).filter((p) => p.bundled).map((p) => p.name);
      this.log.info(`[playground] ${this.target.label} loaded in ${session.loadMs.toFixed(1)} ms${session.reused ? ' (reused)' : ''}`);
      await this.post({
        type: 'session',
        inputs: session.inputs,
        outputs: session.outputs,
        providers,
        loadMs: session.loadMs,
        shapes,
        sources,
        guessed: guessed.map((g) => ({ input: g.input, index: g.index, reason: g.reason })),
      });
    } catch (e) {
      this.log.warn(`[playground] ${this.target.label}: ${describeError(e)}`);
      await this.post({ type: 'sessionError', error: { message: isUserError(e) ? e.message : describeError(e), ...(isUserError(e) && e.hint ? { hint: e.hint } : {}) } });
    } finally {
      if (!this.work) await this.post({ type: 'idle' });
    }
  }

  private async ready(options: SessionOptionsView): Promise<{ heavy: HeavyModule; session: SessionInfo }> {
    const heavy = await loadHeavy();
    const same = this.session && JSON.stringify(options) === JSON.stringify(this.sessionOpts);
    return { heavy, session: same ? this.session! : await this.acquire(options) };
  }

  private async run(specs: Record<string, InputSpec>, options: SessionOptionsView, signal: AbortSignal): Promise<void> {
    const { heavy, session } = await this.ready(options);
    const { feeds, notes } = await heavy.feedsFromSpecs(session.inputs, specs, inferenceSettings().maxInputElements);
    for (const n of notes) this.log.info(`[playground] ${n}`);
    const host = await this.inference.get();
    const r = await host.run(session.id, feeds, { signal });
    const id = this.nextRun++;
    this.runs.set(id, r.outputs);
    for (const old of [...this.runs.keys()].filter((k) => k <= id - 20)) this.runs.delete(old);
    const nonFinite = Object.entries(r.nonFinite);
    this.log.info(`[playground] ${this.target.label} run ${id}: ${r.ms.toFixed(2)} ms${nonFinite.length ? `; NaN/Inf in ${nonFinite.map(([n]) => n).join(', ')}` : ''}`);
    await this.post({ type: 'run', run: heavy.runView(id, r.ms, session.inputs, specs, r.outputs) });
  }

  private async saveOutputs(run: number, format: 'npy' | 'json'): Promise<void> {
    const outputs = this.runs.get(run);
    if (!outputs) throw new UserError(`the outputs of run ${run} are no longer kept.`, 'Run again, then save.');
    const heavy = await loadHeavy();
    const base = this.target.label.replace(/[@#:/\\]+/g, '_').replace(/\.onnx$/i, '');
    if (format === 'json') {
      const uri = await vscode.window.showSaveDialog({ defaultUri: vscode.Uri.file(path.join(defaultFolder(), `${base}.run${run}.json`)), filters: { JSON: ['json'] }, title: 'Save outputs as JSON' });
      if (!uri) return;
      const json = Object.entries(outputs).map(([n, t]) => heavy.tensorToJson(t, n));
      await writeAtomic(uri.fsPath, Buffer.from(JSON.stringify(json, null, 1)));
      void vscode.window.showInformationMessage(`Saved ${json.length} outputs to ${path.basename(uri.fsPath)}.`);
      return;
    }
    const folder = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, defaultUri: vscode.Uri.file(defaultFolder()), openLabel: 'Save Here', title: 'Save each output as a .npy file in…' });
    if (!folder?.[0]) return;
    const names: string[] = [];
    for (const [n, t] of Object.entries(outputs)) {
      const file = path.join(folder[0].fsPath, `${base}.run${run}.${n.replace(/[^A-Za-z0-9_.-]+/g, '_')}.npy`);
      await writeAtomic(file, heavy.writeNpy(t));
      names.push(path.basename(file));
    }
    void vscode.window.showInformationMessage(`Saved ${names.join(', ')}.`);
  }

  private async benchmark(m: Extract<PlaygroundToHost, { type: 'benchmark' }>, signal: AbortSignal): Promise<void> {
    const { heavy, session } = await this.ready(m.options);
    const host = await this.inference.get();
    const threads = m.threads.length ? m.threads : [m.options.intraOpThreads];
    const { feeds } = await heavy.feedsFromSpecs(session.inputs, m.inputs, inferenceSettings().maxInputElements);
    const source = await this.ctx.services.models.source(this.target);
    const sweep = await heavy.sweepThreads(host, source, feeds, threads, {
      sessionOptions: sessionOptions(m.options),
      warmup: m.warmup,
      runs: m.runs,
      ...(m.budgetMs ? { budgetMs: m.budgetMs } : {}),
      signal,
      onProgress: (t, p) => {
        if (p.phase === 'measure' && (p.done % 10 === 0 || p.done === p.total)) void this.post({ type: 'benchProgress', done: p.done + threads.indexOf(t) * m.runs, total: m.runs * threads.length });
      },
    });
    const results = sweep.map((e) => heavy.benchView(e.threads, e.result));
    for (const e of sweep) this.log.info(`[playground] ${this.target.label} benchmark, ${e.threads || 'auto'} threads: p50 ${e.result.p50.toFixed(3)} ms, p90 ${e.result.p90.toFixed(3)} ms over ${e.result.runs} runs`);
    this.bench = results;
    await this.post({ type: 'benchmark', results });
  }

  private async saveBenchmark(): Promise<void> {
    if (!this.bench.length) return;
    const uri = await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.file(path.join(defaultFolder(), `${this.target.label.replace(/[@#:/\\]+/g, '_').replace(/\.onnx$/i, '')}.bench.json`)),
      filters: { JSON: ['json'] },
      title: 'Save benchmark results',
    });
    if (!uri) return;
    const doc = { model: this.target.label, uri: this.target.uri.toString(), at: new Date().toISOString(), results: this.bench };
    await writeAtomic(uri.fsPath, Buffer.from(JSON.stringify(doc, null, 2)));
  }

  private async compare(specs: Record<string, InputSpec>, options: SessionOptionsView, tolerances: { atol: number; rtol: number; minCosine: number }, signal: AbortSignal): Promise<void> {
    const target = this.compareTarget;
    if (!target) throw new UserError('there is no model to compare with.', 'Choose one with "Choose…" first.');
    const { heavy, session } = await this.ready(options);
    const other = await this.inference.load(await this.ctx.services.models.source(target), sessionOptions(options), signal);
    try {
      const { feeds } = await heavy.feedsFromSpecs(session.inputs, specs, inferenceSettings().maxInputElements);
      // B may name or shape its inputs otherwise (a version that changed its interface): what matches is shared,
      // the rest is made the way the Playground would (zeros for a state, 16000 for a sample rate …).
      const feedsB = await heavy.feedsFor(other.inputs, feeds, inferenceSettings().maxInputElements);
      const report = await heavy.compareSessions(await this.inference.get(), session.id, other.id, feeds, { signal, tolerances, feedsB });
      this.log.info(`[playground] ${this.target.label} vs ${target.label}: ${report.verdict.pass ? 'within tolerance' : report.verdict.reasons.join('; ')}`);
      await this.post({ type: 'compare', result: heavy.compareView(this.target.label, target.label, report) });
    } finally {
      void (await this.inference.get()).release(other.id);
    }
  }

  private async remote(url: string, model: string, specs: Record<string, InputSpec>, options: SessionOptionsView, signal: AbortSignal): Promise<void> {
    const { heavy, session } = await this.ready(options);
    const { feeds } = await heavy.feedsFromSpecs(session.inputs, specs, inferenceSettings().maxInputElements);
    const full = await heavy.checkEndpoint(await this.inference.get(), session.id, feeds, url, model, { signal });
    this.log.info(`[playground] ${this.target.label} vs ${url}: ${full.verdict.pass ? 'same answers' : full.verdict.reasons.join('; ')}`);
    await this.post({ type: 'remote', url, result: heavy.compareView(`local ${this.target.label}`, `${url} (${model})`, full) });
  }
}

function defaultFolder(): string {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? process.cwd();
}
