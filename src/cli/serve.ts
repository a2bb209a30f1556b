/**
 * `modelyard serve MODEL`: the Open Inference Protocol (KServe V2) over HTTP, inference in the worker process.
 *
 * It reports on the CLI's event channel (src/shared/cli/events.ts), and with --json its standard output is that
 * same stream of JSON lines:
 *   {"event":"listening","url":"http://127.0.0.1:PORT","model":"NAME","version":"1"}   once, when the model is loaded
 *   {"event":"request","status":200,"ms":1.23,"count":N}   at most once a second per status: N requests, mean ms
 *   {"event":"stopped",…}                                   after SIGTERM/SIGINT, before exit 0
 */
import v8 from 'node:v8';
import type { Logger } from '../core/log';
import { UserError } from '../core/errors';
import { createHostBackend } from '../core/serve/backend';
import { startV2Server } from '../core/serve/v2';
import { cliEvents } from './events';
import { parse } from './inference';
import { resolveModel } from '../core/registry/modelRef';
import { isLayoutSource, resolveServingSource } from '../core/deploy/storage/layout';
import { withHost } from './model';

declare const MODELYARD_VERSION: string;

type Out = (s: string) => void;

const USAGE =
  'modelyard serve MODEL|DIR|s3://BUCKET/PREFIX [--port N] [--host H] [--name NAME] [--threads N] [--no-batching] [--max-inflight N] [--max-body-mb N] [--log text|json] [--repo DIR] [--json]';

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

export async function serveCommand(args: string[], out: Out, log: Logger): Promise<number> {
  if (process.env.MODELYARD_SERVE_V8_FLAGS !== '0') for (const f of SERVER_V8_FLAGS) v8.setFlagsFromString(f);
  const { values, positionals } = parse(
    args,
    {
      port: { type: 'string' },
      host: { type: 'string' },
      name: { type: 'string' },
      threads: { type: 'string' },
      'no-batching': { type: 'boolean' },
      'max-inflight': { type: 'string' },
      'max-body-mb': { type: 'string' },
      log: { type: 'string' },
    },
    [1, 1],
    USAGE,
  );
  const portText = (values.port as string | undefined) ?? '8080';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new UserError(`--port takes a number from 0 to 65535 (0 picks a free port), not '${portText}'.`);
  const threadsText = values.threads as string | undefined;
  const threads = threadsText === undefined ? undefined : Number(threadsText);
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) throw new UserError(`--threads takes a whole number from 1, not '${threadsText}'.`);
  const whole = (flag: 'max-inflight' | 'max-body-mb', min: number, max: number): number | undefined => {
    const text = values[flag];
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || n > max) throw new UserError(`--${flag} takes a whole number from ${min} to ${max}, not '${text}'.`);
    return n;
  };
  const maxInflight = whole('max-inflight', 1, 1_000_000);
  const maxBodyMb = whole('max-body-mb', 1, 4096);
  const logFormat = values.log as string | undefined;
  if (logFormat !== undefined && logFormat !== 'text' && logFormat !== 'json') throw new UserError(`--log takes text or json, not '${logFormat}'.`);
  if (logFormat) log = serverLogger(logFormat, log);
  const name = (values.name as string | undefined) ?? undefined;
  if (name !== undefined && !/^[\w.-]{1,128}$/.test(name)) throw new UserError(`--name '${name}' is not a model name: use letters, digits, '.', '_' and '-'.`);
  const json = !!values.json;
  const events = cliEvents(json ? { stdout: out } : {});
  // A folder in the runtime layout (<name>/1/model.onnx) or an s3:// URI (downloaded with the environment's
  // credentials, as KServe passes them) becomes a model file and a default name first.
  const served = isLayoutSource(positionals[0]!) ? await resolveServingSource(positionals[0]!, { log, ...(name ? { name } : {}) }) : undefined;
  const model = await resolveModel(served?.file ?? positionals[0]!, { repo: values.repo as string | undefined, log });

  return withHost(log, async (host) => {
    const backend = await createHostBackend(host, model.source, {
      name: name ?? served?.name ?? model.name,
      version: model.version ?? '1',
      sessionOptions: threads ? { intraOpThreads: threads } : {},
      batching: !values['no-batching'],
      log,
    });
    // Request events, gathered per status and written at most once a second.
    const pending = new Map<number, { count: number; ms: number }>();
    const flush = () => {
      for (const [status, a] of pending) events.emit({ event: 'request', status, ms: +(a.ms / a.count).toFixed(3), count: a.count });
      pending.clear();
    };
    const timer = events.active ? setInterval(flush, 1000) : undefined;
    const server = await startV2Server(backend, {
      host: (values.host as string | undefined) ?? '127.0.0.1',
      port,
      log,
      serverVersion: MODELYARD_VERSION,
      ...(maxInflight ? { maxInflight } : {}),
      ...(maxBodyMb ? { maxBodyBytes: maxBodyMb * 2 ** 20 } : {}),
      onRequest: events.active
        ? (e) => {
            const a = pending.get(e.status) ?? { count: 0, ms: 0 };
            a.count++;
            a.ms += e.ms;
            pending.set(e.status, a);
          }
        : undefined,
    }).catch(async (e: unknown) => {
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
    events.emit({ event: 'listening', url: server.url, model: backend.name, version: backend.version });
    if (!json) {
      const first = backend.inputs[0];
      const example = first
        ? `{"inputs":[{"name":"${first.name}","shape":[${(first.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : 1)).join(',')}],"datatype":"…","data":[…]}]}`
        : '{"inputs":[]}';
      out(
        `Serving ${model.label} as '${backend.name}' (version ${backend.version}) at ${server.url}\n` +
          `  metadata: curl ${modelUrl}\n` +
          `  infer:    curl -X POST ${modelUrl}/infer -H 'content-type: application/json' -d '${example}'\n` +
          `  batching: ${backend.batching.enabled ? 'on' : 'off'} (${backend.batching.reason})\n` +
          'Press Ctrl-C to stop.\n',
      );
    }
    await stopping;
    clearInterval(timer);
    await server.close();
    flush();
    events.emit({ event: 'stopped', served: server.served, runs: backend.stats.runs, batching: backend.batching.enabled });
    if (!json) out(`Stopped after ${server.served} request${server.served === 1 ? '' : 's'}.\n`);
    await backend.close();
    return 0;
  });
}
