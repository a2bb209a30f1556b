/**
 * `modelyard serve --processes N|auto`: N server processes on the same ports (node:cluster; the primary hands each
 * new connection to the next process in turn), each with its own HTTP and gRPC servers and its own inference worker,
 * as gunicorn's or uvicorn's workers serve a Python model. `auto` is the container's CPU quota (src/core/serve/cpus.ts).
 *
 * The primary loads no model. It starts the processes, says that the server listens once every one of them does,
 * starts another when one ends (and says so), adds up their figures for GET /metrics (any process that is asked
 * gathers everyone's through the primary), and on SIGTERM or SIGINT passes the signal on, waits for each to drain
 * and exit, and exits 0. A process that fails before it listens (a model that does not load) stops them all, with
 * its own error on stderr.
 */
import cluster, { type Worker } from 'node:cluster';
import { UserError } from '../core/errors';
import type { Logger } from '../core/log';
import { ServeMetrics, type MetricsSnapshot } from '../core/serve/metrics';
import { CLI_EVENTS_ENV } from '../shared/cli/events';
import type { Events } from './events';

/** Messages between the primary and the server processes, over the cluster's IPC channel. */
type ToPrimary =
  | { kind: 'modelyard:listening'; url: string; grpc?: string }
  | { kind: 'modelyard:metrics?'; id: number }
  | { kind: 'modelyard:snapshot'; id: number; snapshot: MetricsSnapshot }
  | { kind: 'modelyard:served'; served: number; runs: number; batching: boolean };
type ToWorker = { kind: 'modelyard:snapshot?'; id: number } | { kind: 'modelyard:metrics'; id: number; snapshots: MetricsSnapshot[] };

const isMessage = (m: unknown): m is { kind: string } => !!m && typeof m === 'object' && typeof (m as { kind?: unknown }).kind === 'string' && (m as { kind: string }).kind.startsWith('modelyard:');

export interface PrimaryOptions {
  processes: number;
  /** Why that many, for the log ("cgroup CPU quota 2 CPUs (…)"). */
  why: string;
  /** The arguments of each server process: `serve FILE …` with what the primary resolved (the file, the name). */
  workerArgs: string[];
  model: { name: string; version: string; label: string };
  events: Events;
  out: (s: string) => void;
  /** Whether the human-readable lines go to stdout (not with --json or --log json). */
  human: boolean;
  log: Logger;
}

export async function runPrimary(o: PrimaryOptions): Promise<number> {
  cluster.setupPrimary({ args: o.workerArgs });
  // The editor's event channel (fd 3) is the primary's: a server process does not have it.
  const env = { [CLI_EVENTS_ENV]: '', MODELYARD_SERVE_PROCESS: '1' };
  const workers = new Map<number, Worker>();
  const listening = new Map<number, { url: string; grpc?: string }>();
  const totals = { served: 0, runs: 0, batching: false };
  let stopping = false;
  let started = false;
  let failStart!: (e: Error) => void;
  let allListening!: () => void;
  const ready = new Promise<void>((resolve, reject) => {
    allListening = resolve;
    failStart = reject;
  });
  // GET /metrics in any process: the primary asks every process for its figures and answers with all of them.
  let nextId = 0;
  const gathering = new Map<number, { from: Worker; replyTo: number; want: number; snapshots: MetricsSnapshot[]; timer: NodeJS.Timeout }>();
  const answer = (id: number) => {
    const g = gathering.get(id);
    if (!g) return;
    gathering.delete(id);
    clearTimeout(g.timer);
    if (g.from.isConnected()) g.from.send({ kind: 'modelyard:metrics', id: g.replyTo, snapshots: g.snapshots } satisfies ToWorker);
  };

  const fork = () => {
    const w = cluster.fork(env);
    workers.set(w.id, w);
    w.on('message', (m: unknown) => {
      if (!isMessage(m)) return;
      const msg = m as ToPrimary;
      if (msg.kind === 'modelyard:listening') {
        listening.set(w.id, { url: msg.url, ...(msg.grpc ? { grpc: msg.grpc } : {}) });
        if (!started && listening.size === o.processes) {
          started = true;
          allListening();
        } else if (started) o.log.info(`[serve] server process ${w.process.pid} listens again`);
      } else if (msg.kind === 'modelyard:metrics?') {
        const id = nextId++;
        const live = [...workers.values()].filter((x) => x.isConnected());
        gathering.set(id, { from: w, replyTo: msg.id, want: live.length, snapshots: [], timer: setTimeout(() => answer(id), 2000) });
        for (const x of live) x.send({ kind: 'modelyard:snapshot?', id } satisfies ToWorker);
      } else if (msg.kind === 'modelyard:snapshot') {
        const g = gathering.get(msg.id);
        if (!g) return;
        g.snapshots.push(msg.snapshot);
        if (g.snapshots.length >= g.want) answer(msg.id);
      } else if (msg.kind === 'modelyard:served') {
        totals.served += msg.served;
        totals.runs += msg.runs;
        totals.batching ||= msg.batching;
      }
    });
    w.on('exit', (code, signal) => {
      workers.delete(w.id);
      listening.delete(w.id);
      if (stopping) return;
      if (!started) {
        failStart(new UserError(`a server process ended before it listened (${signal ?? `exit ${code}`}); its error is above.`));
        return;
      }
      o.log.warn(`[serve] server process ${w.process.pid} ended (${signal ?? `exit ${code}`}); starting another`);
      fork();
    });
  };

  let stopped!: () => void;
  const stop = new Promise<void>((resolve) => (stopped = resolve));
  const onSignal = () => stopped();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const exits = () => Promise.all([...workers.values()].map((w) => (w.isDead() ? undefined : new Promise((r) => w.once('exit', r)))));
  const stopAll = async () => {
    stopping = true;
    for (const w of workers.values()) if (!w.isDead()) w.process.kill('SIGTERM');
    await exits();
  };

  o.log.info(`[serve] ${o.processes} server processes (${o.why})`);
  for (let i = 0; i < o.processes; i++) fork();
  const first = await Promise.race([ready.then(() => 'ready' as const), stop.then(() => 'stopped' as const)]).catch(async (e: unknown) => {
    await stopAll();
    throw e;
  });
  if (first === 'stopped') {
    o.log.info(`[serve] stopping ${workers.size} server processes before they all listen`);
    await stopAll();
    o.log.info('[serve] stopped after 0 requests');
    return 0;
  }
  const any = [...listening.values()][0]!;
  o.log.info(`[serve] ${o.processes} server processes listen at ${any.url}${any.grpc ? ` and gRPC ${any.grpc}` : ''}`);
  o.events.emit({ event: 'listening', url: any.url, model: o.model.name, version: o.model.version, ...(any.grpc ? { grpc: any.grpc } : {}) });
  if (o.human) {
    o.out(
      `Serving ${o.model.label} as '${o.model.name}' (version ${o.model.version}) at ${any.url}${any.grpc ? ` and gRPC ${any.grpc}` : ''}\n` +
        `  ${o.processes} server processes, each with its own inference worker (${o.why})\n` +
        'Press Ctrl-C to stop.\n',
    );
  }
  await stop;
  o.log.info(`[serve] stopping ${workers.size} server processes`);
  await stopAll();
  o.events.emit({ event: 'stopped', served: totals.served, runs: totals.runs, batching: totals.batching });
  o.log.info(`[serve] stopped after ${totals.served} request${totals.served === 1 ? '' : 's'}`);
  if (o.human) o.out(`Stopped after ${totals.served} request${totals.served === 1 ? '' : 's'}.\n`);
  return 0;
}

/** Whether this process is one of the server processes of `--processes`. */
export function isServerProcess(): boolean {
  return cluster.isWorker && process.env.MODELYARD_SERVE_PROCESS === '1';
}

/** In a server process: the channel to the primary. */
export function serverProcessChannel(metrics: ServeMetrics, model: { name: string; version: string }) {
  const waiting = new Map<number, (snapshots: MetricsSnapshot[]) => void>();
  let next = 0;
  const onMessage = (m: unknown) => {
    if (!isMessage(m)) return;
    const msg = m as ToWorker;
    if (msg.kind === 'modelyard:snapshot?') process.send!({ kind: 'modelyard:snapshot', id: msg.id, snapshot: metrics.snapshot() } satisfies ToPrimary);
    else if (msg.kind === 'modelyard:metrics') {
      waiting.get(msg.id)?.(msg.snapshots);
      waiting.delete(msg.id);
    }
  };
  process.on('message', onMessage);
  return {
    listening: (url: string, grpc?: string) => process.send!({ kind: 'modelyard:listening', url, ...(grpc ? { grpc } : {}) } satisfies ToPrimary),
    /** Every process's figures, added up, as the text of GET /metrics. */
    renderMetrics: async (): Promise<string> => {
      const snapshots = await new Promise<MetricsSnapshot[]>((resolve) => {
        const id = next++;
        waiting.set(id, resolve);
        process.send!({ kind: 'modelyard:metrics?', id } satisfies ToPrimary);
      });
      const all = new ServeMetrics(model.name, model.version);
      for (const s of snapshots) all.add(s);
      return all.render();
    },
    /** The last word to the primary, once served (serveCommand then closes the channel, and the process ends). */
    done: (served: number, runs: number, batching: boolean) =>
      new Promise<void>((resolve) =>
        process.send!({ kind: 'modelyard:served', served, runs, batching } satisfies ToPrimary, () => {
          process.off('message', onMessage);
          resolve();
        }),
      ),
  };
}
