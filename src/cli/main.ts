import './earlySignals';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildEnvReport, envReportToMarkdown, loadOnnxRuntimeInfo, type EnvReport, type Part } from '../core/env/report';
import { CancelledError, UserError, describeError, isCancelled } from '../core/errors';
import type { Logger } from '../core/log';
import {
  assignCommand,
  deprecateCommand,
  deregisterCommand,
  historyCommand,
  modelsCommand,
  registerCommand,
  showCommand,
  unassignCommand,
} from './registry';
import { benchCommand, compareCommand, inspectCommand, runCommand } from './inference';
import { EXIT_CANCELLED } from './model';
import { testCommand } from './modeltest';
import { QUANTIZE_HELP, quantizeCommand } from './quantize';
import { DEPLOY_HELP, FETCH_MODEL_HELP, IMAGE_HELP } from './cloudHelp';
import type * as Cloud from './cloud';
import { cliEvents } from './events';
import { asksForHelp, verbHelp } from './help';
import { serveCommand } from './serve';

declare const MODELYARD_VERSION: string;

/** Exit codes: 0 ok, 1 the user's input is wrong (one line says what and how to fix it), 2 internal error. */
const EXIT_OK = 0;
const EXIT_USER = 1;
const EXIT_INTERNAL = 2;

const USAGE = `Usage: modelyard <command> [options]

Commands:
  env [--json | --markdown]            Versions and parts Modelyard needs: Node.js, onnxruntime-node, git,
                                       git-lfs, and the git repositories under the current folder.

Local testing (MODEL: an .onnx file, or a registry reference name, name@v1.2.3, name@latest, name#stage,
read from the git repository of the current folder or --repo DIR without a checkout; each takes --json):
  inspect MODEL                        Inputs, outputs, opsets, operators, parameters, metadata.
  run MODEL [--input NAME=SOURCE]... [--shape NAME=1,3,224,224]... [--output-dir DIR] [--threads N]
                                       Run once and print each output (stats, first values; with --json
                                       {name, dtype, shape, data}); --output-dir writes NAME.npy per output.
                                       SOURCE: FILE.npy, FILE.json, FILE.png|.jpg, FILE.wav, random[:SEED],
                                       zeros, ones. Inputs not given get random values (seed 42), a sample
                                       rate 16000 (sr), zeros (recurrent state). NAME= may be left out for
                                       a model with one input.
  bench MODEL [--runs N] [--warmup N] [--budget SECONDS] [--threads N[,N…]] [--input …] [--shape …]
                                       Latency p50/p90/p99, mean, min, max and runs/s, inside the worker;
                                       several thread counts give a sweep.
  compare A B [--input …] [--shape …] [--atol X] [--rtol X] [--min-cosine X] [--runs N] [--seed N]
                                       Both models on the same inputs: errors, cosine, top-1 agreement and
                                       latency; exit 0 within tolerance, 1 otherwise, with the reasons.
  test [PATH…] [--update]              Run the *.modeltest.json files under each PATH (default: the current
                                       folder); exit 1 on a failure. --update writes the current outputs as
                                       the expected .npy/.json files the tests name.
  serve MODEL [--port N] [--grpc-port N] [--host H] [--name NAME] [--threads N] [--no-batching]
        [--max-batch N] [--max-inflight N] [--max-body-mb N] [--processes N|auto] [--log text|json]
                                       Serve over the Open Inference Protocol (KServe V2 REST) at
                                       http://H:N/v2 (default 127.0.0.1:8080; --port 0 picks a free port).
                                       --grpc-port N: also its gRPC service (inference.GRPCInferenceService,
                                       KServe's and Triton's clients) on port N (KServe uses 8081).
                                       MODEL may also be a folder in the runtime layout (<name>/1/model.onnx,
                                       or model.onnx; served as <name>) or an s3:// URI (see fetch-model).
                                       Concurrent requests are batched along dim 0 where the model allows:
                                       a request waits at most for the run in flight, with no timer; a run
                                       takes up to --max-batch rows (64), which bounds its time.
                                       Limits: --max-inflight (1024 requests; more get 503 and Retry-After),
                                       --max-body-mb (64; larger bodies get 413). --processes: server
                                       processes on the same ports, each with its own inference worker (auto:
                                       the container's CPU quota). --log: the server's log on stderr as text
                                       or JSON lines. GET /metrics: Prometheus figures (of every process).
                                       With --json: JSON lines on stdout (listening, request, stopped).
                                       Ctrl-C or SIGTERM stops it: /v2/health/ready answers 503, requests in
                                       flight are answered, then it exits 0.

${QUANTIZE_HELP}
${DEPLOY_HELP}
${FETCH_MODEL_HELP}
${IMAGE_HELP}
Model registry (GTO-compatible annotated git tags; each takes --repo DIR and --json):
  models                               The models, their latest versions and stages.
  show REF                             A model version's commit, path and size. REF: name, name@v1.2.3,
                                       name@latest, name#stage.
  register NAME [VERSION | --bump major|minor|patch] [--ref REF] [-m MSG]
                                       Register a version (default: the next patch) at REF (default HEAD).
  assign NAME STAGE [--version V | --ref REF] [-m MSG]
                                       Put a version (default: the latest) in a stage.
  unassign NAME STAGE [-m MSG]         Take the stage's version out of it.
  deregister NAME VERSION [-m MSG]     Withdraw a version.
  deprecate NAME [-m MSG]              Deprecate a model.
  history NAME                         Who did what, when and why.

Options:
  --version           Print Modelyard's version.
  -h, --help          Show this help.

Exit codes: 0 ok, 1 user error (or a comparison or test that failed), 2 internal error, 130 stopped by
Ctrl-C. Set MODELYARD_DEBUG=1 to see stack traces and the log.`;

function stderrLogger(verbose: boolean): Logger {
  const write = (level: string) => (m: unknown, ...a: unknown[]) => {
    if (verbose) process.stderr.write(`[${level}] ${String(m)}${a.length ? ' ' + a.map(String).join(' ') : ''}\n`);
  };
  return { trace: write('trace'), debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

async function envCommand(args: string[], log: Logger): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' }, markdown: { type: 'boolean' } }, strict: true, allowPositionals: false });
  if (values.json && values.markdown) throw new UserError('give --json or --markdown, not both.');
  const report = await buildEnvReport({
    version: MODELYARD_VERSION,
    host: { application: 'modelyard CLI' },
    folders: [process.cwd()],
    log,
    loadOnnxRuntime: loadOnnxRuntimeInfo,
  });
  process.stdout.write(values.json ? JSON.stringify(report, null, 2) + '\n' : values.markdown ? envReportToMarkdown(report) : envText(report));
  return EXIT_OK;
}

function envText(r: EnvReport): string {
  const show = <T>(p: Part<T>, f: (v: T) => string) => (p.ok ? f(p.value) : `unavailable: ${p.error}${p.hint ? `\n${' '.repeat(20)}${p.hint}` : ''}`);
  const rows: [string, string][] = [
    ['Modelyard', r.modelyard.version],
    ['Node.js', `${r.node.version} (${r.node.platform}-${r.node.arch}, ${r.node.cpus} CPUs, ${r.node.memoryGiB} GiB)`],
    ['onnxruntime-node', show(r.onnxruntime, (v) => `${v.version} (providers: ${v.executionProviders.map((p) => p.name + (p.bundled ? '' : ' [not bundled]')).join(', ')})`)],
    ['git', show(r.git, (v) => `${v.version} (${v.path})`)],
    ['git-lfs', show(r.gitLfs, (v) => v.version)],
    [
      'Repositories',
      show(r.repositories, (v) => (v.length ? v.map((x) => `${x.root} [${x.branch ?? (x.detached ? 'detached HEAD' : 'no commits')}]`).join(`\n${' '.repeat(20)}`) : 'none under this folder')),
    ],
  ];
  return rows.map(([k, v]) => `${k.padEnd(18)}  ${v}`).join('\n') + '\n';
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const log = stderrLogger(!!process.env.MODELYARD_DEBUG);
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${MODELYARD_VERSION}\n`);
    return EXIT_OK;
  }
  if (command === 'help' && rest[0] !== undefined) return printVerbHelp(rest[0]);
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE + '\n');
    return command === undefined ? EXIT_USER : EXIT_OK;
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!run) throw new UserError(`unknown command '${command}'.`, `Run 'modelyard --help' to see the commands.`);
  // `modelyard VERB --help` (or -h): that verb's help, whatever else the line says; nothing runs.
  if (asksForHelp(rest)) return printVerbHelp(command);
  return run(rest, (text: string) => process.stdout.write(text), log);
}

/** One verb's help, from the one help text. */
function printVerbHelp(verb: string): number {
  const help = Object.hasOwn(COMMANDS, verb) ? verbHelp(USAGE, verb) : undefined;
  if (!help) throw new UserError(`unknown command '${verb}'.`, `Run 'modelyard --help' to see the commands.`);
  process.stdout.write(`Usage: modelyard ${verb} …\n\n${help}`);
  return EXIT_OK;
}

type Command = (args: string[], out: (text: string) => void, log: Logger) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  env: (args, _out, log) => envCommand(args, log),
  models: modelsCommand,
  show: showCommand,
  register: registerCommand,
  assign: assignCommand,
  unassign: unassignCommand,
  deregister: deregisterCommand,
  deprecate: deprecateCommand,
  history: historyCommand,
  inspect: inspectCommand,
  run: runCommand,
  bench: benchCommand,
  compare: compareCommand,
  test: testCommand,
  serve: serveCommand,
  quantize: quantizeCommand,
};

/** Verbs of dist/cli-cloud.js, loaded on use (the bundle beside this one; see cloud.ts). */
const CLOUD_VERBS = ['deploy', 'deployments', 'status', 'logs', 'smoke', 'rollback', 'undeploy', 'proxy', 'contexts', 'namespaces', 'metrics', 'fetch-model', 'image'];

/** The Kubernetes client and its HTTP client need Node.js 22.19 or later. */
export const CLOUD_NODE = [22, 19] as const;

function cloudCommand(verb: string): Command {
  return (args, out, log) => {
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    if (major < CLOUD_NODE[0] || (major === CLOUD_NODE[0] && minor < CLOUD_NODE[1])) {
      throw new UserError(`modelyard ${verb} needs Node.js ${CLOUD_NODE.join('.')} or later; this is ${process.versions.node}.`, 'Run it with a newer Node.js (in VS Code 1.107 or later the editor runs it with its own).');
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a bundle beside this one, chosen at run time
    const cloud = require(path.join(__dirname, 'cli-cloud.js')) as typeof Cloud;
    return cloud.CLOUD_COMMANDS[verb]!(args, out, log);
  };
}
for (const v of CLOUD_VERBS) COMMANDS[v] = cloudCommand(v);

function isArgError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return e instanceof TypeError && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}

/** Reports a failure on stderr (one line; the stack only with MODELYARD_DEBUG) and on the event channel; the exit code. */
export function reportFailure(e: unknown): number {
  const events = cliEvents();
  if (isCancelled(e)) {
    // A cancellation that left something behind (a rollout still going on in the cluster) says what, and how to go on.
    const said = e instanceof UserError && e.message !== new CancelledError().message && e.message !== 'cancelled.' ? e : undefined;
    process.stderr.write(`modelyard: ${said ? describeError(said) : 'cancelled.'}\n`);
    events.emit({ event: 'error', message: said?.message ?? 'cancelled.', ...(said?.hint ? { hint: said.hint } : {}), cancelled: true });
    return EXIT_CANCELLED;
  }
  if (e instanceof UserError || isArgError(e)) {
    process.stderr.write(`modelyard: ${describeError(e)}\n`);
    const hint = e instanceof UserError ? e.hint : undefined;
    events.emit({ event: 'error', message: e instanceof UserError ? e.message : describeError(e), ...(hint ? { hint } : {}) });
    return EXIT_USER;
  }
  process.stderr.write(`modelyard: internal error: ${describeError(e)}\n`);
  if (process.env.MODELYARD_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  else process.stderr.write('Run again with MODELYARD_DEBUG=1 for details, and report it with `modelyard env` attached.\n');
  events.emit({ event: 'error', message: describeError(e), hint: 'Run again with MODELYARD_DEBUG=1 for details.', internal: true });
  return EXIT_INTERNAL;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.exitCode = reportFailure(e);
    },
  );
}
