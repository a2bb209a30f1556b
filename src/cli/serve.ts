/**
 * `modelyard serve MODEL`: the Open Inference Protocol (KServe V2) over HTTP, inference in the worker process.
 *
 * It reports on the CLI's event channel (src/shared/cli/events.ts), and with --json its standard output is that
 * same stream of JSON lines:
 *   {"event":"listening","url":"http://127.0.0.1:PORT","model":"NAME","version":"1"}   once, when the model is loaded
 *   {"event":"request","status":200,"ms":1.23,"count":N}   at most once a second per status: N requests, mean ms
 *   {"event":"stopped",…}                                   after SIGTERM/SIGINT, before exit 0
 */
import cluster from 'node:cluster';
import path from 'node:path';
import v8 from 'node:v8';
import type * as GrpcJs from '@grpc/grpc-js';
import type { Logger } from '../core/log';
import { UserError } from '../core/errors';
import { createHostBackend } from '../core/serve/backend';
import { Admission, startV2Server } from '../core/serve/v2';
import { startGrpcServer, type GrpcServer } from '../core/serve/grpc';
import { cliEvents } from './events';
import { parse, positiveInt } from './inference';
import { resolveModel } from '../core/registry/modelRef';
import { isLayoutSource, resolveServingSource } from '../core/deploy/storage/layout';
import { withHost } from './model';
import { cpuBudget } from '../core/serve/cpus';
import { isServerProcess, runPrimary, serverProcessChannel } from './serveCluster';

declare const MODELYARD_VERSION: string;

type Out = (s: string) => void;

const USAGE =
  'modelyard serve MODEL|DIR|s3://BUCKET/PREFIX [--port N] [--grpc-port N] [--host H] [--name NAME] [--threads N] [--no-batching] [--max-batch N] [--max-inflight N] [--max-body-mb N] [--processes N|auto] [--log text|json] [--repo DIR] [--json]';

/**
 * The server's log on stderr, from level info: `[info] [serve] …` lines (--log text), or one JSON object a line
 * (--log json: {"time","level","component","msg"}), what log collectors in a cluster parse. Without --log, the
 * CLI's usual stderr logger (silent unless MODELYARD_DEBUG).
 */
export function serverLogger(format: 'text' | 'json', fallback: Logger, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const levels = ['trace', 'debug', 'info', 'warn', 'error'] as const;
  const at = (level: (typeof levels)[number]) => (m: unknown, ...a: unknown[]) => {
    fallback[level](m as string, ...a);
    if (levels.indexOf(level) < 2) return;
    const text = `${m instanceof Error ? m.message : String(m)}${a.length ? ' ' + a.map(String).join(' ') : ''}`;
    const tagged = /^\[([\w-]+)\] ([\s\S]*)$/.exec(text);
    if (format === 'text') write(`[${level}] ${text}\n`);
    else write(JSON.stringify({ time: new Date().toISOString(), level, component: tagged?.[1] ?? 'modelyard', msg: tagged?.[2] ?? text }) + '\n');
  };
  return { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * How far V8 lets the heap grow past what a full collection leaves, for the server: 5× (heap-growing-percent 400).
 * With Node's default (a factor near 1.1 when collections are cheap) the buffers every request allocates and drops
 * (the body, the tensors, the IPC messages), counted as embedder memory, bring a full collection every ~0.1 s under
 * load: on hello_deepa, pinned to one CPU, p99 12.8 ms at concurrency 1 and 16.7 ms at 8; with this flag 3.4 and
 * 4.4 ms, and 20–35% more requests/s (test/bench/serve-peers.bench.ts). The price: about 60 MB more RSS. V8 reads
 * this flag at each collection, so it takes effect when set at run time (the heap's initial sizes would not).
 */
export const SERVER_V8_FLAGS = ['--heap-growing-percent=400'];

/** `args` without the option `flag` and its value (`--flag value` or `--flag=value`). */
function withoutOption(args: string[], flag: string): string[] {
  return args.filter((a, i) => a !== flag && args[i - 1] !== flag && !a.startsWith(`${flag}=`));
}

export async function serveCommand(args: string[], out: Out, log: Logger): Promise<number> {
  try {
    return await serve(args, out, log);
  } finally {
    // A server process of --processes that ends (served, or failed to start): its channel to the primary closes, so
    // that the process exits once its error is written.
    if (isServerProcess() && cluster.worker?.isConnected()) cluster.worker.disconnect();
  }
}

async function serve(args: string[], out: Out, log: Logger): Promise<number> {
  if (process.env.MODELYARD_SERVE_V8_FLAGS !== '0') for (const f of SERVER_V8_FLAGS) v8.setFlagsFromString(f);
  const { values, positionals } = parse(
    args,
    {
      port: { type: 'string' },
      'grpc-port': { type: 'string' },
      host: { type: 'string' },
      name: { type: 'string' },
      threads: { type: 'string' },
      'no-batching': { type: 'boolean' },
      'max-inflight': { type: 'string' },
      'max-body-mb': { type: 'string' },
      log: { type: 'string' },
      processes: { type: 'string' },
      'max-batch': { type: 'string' },
    },
    [1, 1],
    USAGE,
  );
  const portOf = (flag: 'port' | 'grpc-port', text: string): number => {
    if (!/^\d+$/.test(text) || Number(text) > 65535) throw new UserError(`--${flag} takes a number from 0 to 65535 (0 picks a free port), not '${text}'.`);
    return Number(text);
  };
  const port = portOf('port', (values.port as string | undefined) ?? '8080');
  const grpcPort = values['grpc-port'] === undefined ? undefined : portOf('grpc-port', values['grpc-port'] as string);
  if (grpcPort !== undefined && grpcPort !== 0 && grpcPort === port) throw new UserError(`--grpc-port ${grpcPort} is the REST port too.`, 'Give gRPC a port of its own (KServe uses 8081 beside 8080).');
  const threads = positiveInt(values.threads as string | undefined, '--threads');
  const maxInflight = positiveInt(values['max-inflight'] as string | undefined, '--max-inflight', 1, 1_000_000);
  const maxBodyMb = positiveInt(values['max-body-mb'] as string | undefined, '--max-body-mb', 1, 4096);
  const maxBatch = positiveInt(values['max-batch'] as string | undefined, '--max-batch', 1, 1024);
  const logFormat = values.log as string | undefined;
  if (logFormat !== undefined && logFormat !== 'text' && logFormat !== 'json') throw new UserError(`--log takes text or json, not '${logFormat}'.`);
  if (logFormat) log = serverLogger(logFormat, log);
  const name = (values.name as string | undefined) ?? undefined;
  if (name !== undefined && !/^[\w.-]{1,128}$/.test(name)) throw new UserError(`--name '${name}' is not a model name: use letters, digits, '.', '_' and '-'.`);
  const processesText = values.processes as string | undefined;
  const budget = processesText === 'auto' ? cpuBudget() : undefined;
  const processes = budget?.cpus ?? positiveInt(processesText, '--processes', 1, 256, 'Or give auto: as many processes as the CPU quota of the container.') ?? 1;
  const inServerProcess = isServerProcess();
  const json = !!values.json;
  // A server process of --processes says what it does to the primary, which tells the user.
  const events = inServerProcess ? { active: false, emit: () => undefined } : cliEvents(json ? { stdout: out } : {});
  const human = !json && logFormat !== 'json' && !inServerProcess;
  // A folder in the runtime layout (<name>/1/model.onnx) or an s3:// URI (downloaded with the environment's
  // credentials, as KServe passes them) becomes a model file and a default name first.
  const served = isLayoutSource(positionals[0]!) ? await resolveServingSource(positionals[0]!, { log, ...(name ? { name } : {}) }) : undefined;
  const model = await resolveModel(served?.file ?? positionals[0]!, { repo: values.repo as string | undefined, log });
  if (processes > 1 && !inServerProcess) {
    // The primary resolved the source (an s3:// download happens once); each process serves that file by name.
    const modelName = name ?? served?.name ?? model.name;
    const flags = withoutOption(withoutOption(args, '--processes'), '--name').filter((a) => a !== positionals[0] && a !== '--json');
    return runPrimary({
      processes,
      why: budget ? budget.from : '--processes',
      workerArgs: ['serve', served?.file ?? positionals[0]!, ...flags, '--name', modelName],
      model: { name: modelName, version: model.version ?? '1', label: model.label },
      events,
      out,
      human,
      log,
    });
  }

  return withHost(log, async (host) => {
    const backend = await createHostBackend(host, model.source, {
      name: name ?? served?.name ?? model.name,
      version: model.version ?? '1',
      sessionOptions: threads ? { intraOpThreads: threads } : {},
      batching: !values['no-batching'],
      ...(maxBatch ? { maxBatch } : {}),
      log,
    });
    // Request events, gathered per status and written at most once a second.
    const pending = new Map<number, { count: number; ms: number }>();
    const flush = () => {
      for (const [status, a] of pending) events.emit({ event: 'request', status, ms: +(a.ms / a.count).toFixed(3), count: a.count });
      pending.clear();
    };
    const timer = events.active ? setInterval(flush, 1000) : undefined;
    const listenHost = (values.host as string | undefined) ?? '127.0.0.1';
    // One gate for both protocols: the limit on requests in flight is the process's, and so is draining.
    const admission = new Admission(maxInflight ?? 1024);
    const channel = inServerProcess ? serverProcessChannel(backend.metrics, backend) : undefined;
    const onRequest = events.active
      ? (e: { status: number; ms: number }) => {
          const a = pending.get(e.status) ?? { count: 0, ms: 0 };
          a.count++;
          a.ms += e.ms;
          pending.set(e.status, a);
        }
      : undefined;
    let grpcServer: GrpcServer | undefined;
    const server = await startV2Server(backend, {
      host: listenHost,
      port,
      log,
      serverVersion: MODELYARD_VERSION,
      admission,
      ...(maxBodyMb ? { maxBodyBytes: maxBodyMb * 2 ** 20 } : {}),
      onRequest,
      ...(channel ? { renderMetrics: channel.renderMetrics } : {}),
    })
      .then(async (rest) => {
        if (grpcPort === undefined) return rest;
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- a bundle beside this one, loaded only for gRPC
        const grpc = require(path.join(__dirname, 'grpc-js.js')) as typeof GrpcJs;
        grpcServer = await startGrpcServer(backend, {
          grpc,
          host: listenHost,
          port: grpcPort,
          log,
          serverVersion: MODELYARD_VERSION,
          admission,
          ...(maxBodyMb ? { maxMessageBytes: maxBodyMb * 2 ** 20 } : {}),
          onRequest,
        }).catch(async (e: unknown) => {
          await rest.close(0);
          throw e;
        });
        return rest;
      })
      .catch(async (e: unknown) => {
        clearInterval(timer);
        await backend.close();
        throw e;
      });
    // Signals are caught before the first line is printed: a client that stops us as soon as it reads it must find
    // the handlers in place. A second signal during the shutdown changes nothing.
    let stopped!: () => void;
    const stopping = new Promise<void>((resolve) => (stopped = resolve));
    const onSignal = () => stopped();
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const modelUrl = `${server.url}/v2/models/${encodeURIComponent(backend.name)}`;
    events.emit({ event: 'listening', url: server.url, model: backend.name, version: backend.version, ...(grpcServer ? { grpc: grpcServer.address } : {}) });
    channel?.listening(server.url, grpcServer?.address);
    // With --log json (the container's default) the log lines say all this, and stdout stays quiet: a log
    // collector reads one JSON object a line.
    if (human) {
      const first = backend.inputs[0];
      const example = first
        ? `{"inputs":[{"name":"${first.name}","shape":[${(first.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : 1)).join(',')}],"datatype":"…","data":[…]}]}`
        : '{"inputs":[]}';
      out(
        `Serving ${model.label} as '${backend.name}' (version ${backend.version}) at ${server.url}\n` +
          `  metadata: curl ${modelUrl}\n` +
          `  infer:    curl -X POST ${modelUrl}/infer -H 'content-type: application/json' -d '${example}'\n` +
          (grpcServer ? `  gRPC:     ${grpcServer.address} (inference.GRPCInferenceService, KServe's and Triton's clients)\n` : '') +
          `  batching: ${backend.batching.enabled ? 'on' : 'off'} (${backend.batching.reason})\n` +
          'Press Ctrl-C to stop.\n',
      );
    }
    await stopping;
    log.info(`[serve] stopping: not ready any more, answering the ${admission.inflight} inference requests in flight`);
    clearInterval(timer);
    await Promise.all([server.close(), grpcServer?.close()]);
    flush();
    const total = server.served + (grpcServer?.served ?? 0);
    events.emit({ event: 'stopped', served: total, runs: backend.stats.runs, batching: backend.batching.enabled });
    log.info(`[serve] stopped after ${total} request${total === 1 ? '' : 's'}`);
    if (human) out(`Stopped after ${total} request${total === 1 ? '' : 's'}.\n`);
    await backend.close();
    await channel?.done(total, backend.stats.runs, backend.batching.enabled);
    return 0;
  });
}
