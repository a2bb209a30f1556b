// `modelyard serve` as a child process for tests: the real CLI with its real inference worker, on free ports.
import type { ChildProcess } from 'node:child_process';
import { spawnModelyard, waitForLine } from './cli';
import { fixture } from './fixtures';

export interface Served {
  child: ChildProcess;
  url: string;
  /** The REST infer URL of the model, served as 'm'. */
  infer: string;
  /** host:port of the gRPC server, when started with --grpc-port. */
  grpc?: string;
  /** SIGTERM (unless it has exited), then its exit code. */
  stop(): Promise<number | null>;
}

/** Serves a fixture model as 'm' with one onnxruntime thread on a free port; `extra` are more flags. */
export async function serve(model: string, extra: string[] = []): Promise<Served> {
  const child = spawnModelyard(['serve', fixture(model), '--port', '0', '--json', '--name', 'm', '--threads', '1', ...extra]);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const { url, grpc } = JSON.parse(await waitForLine(child, (l) => l.includes('"listening"'))) as { url: string; grpc?: string };
  child.stdout!.resume();
  return {
    child,
    url,
    infer: `${url}/v2/models/m/infer`,
    ...(grpc ? { grpc } : {}),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

export async function post(url: string, body: string | Uint8Array, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<{ status: number; text: string; headers: Headers }> {
  const r = await fetch(url, { method: 'POST', body, headers });
  return { status: r.status, text: await r.text(), headers: r.headers };
}
