/**
 * A local endpoint for a deployment: an HTTP server on a loopback port that forwards each request to the deployment's
 * service through the API server's service proxy, with the kubeconfig's credentials (which never leave this process).
 * What lets the Playground's Remote tab, or curl, talk to a model on the cluster without a port-forward.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeError } from '../errors';
import type { Kube } from './kube';
import type { DeploySpec } from './manifests';
import { proxyBase } from './smoke';

export interface LocalProxy {
  /** http://127.0.0.1:PORT */
  url: string;
  close(): Promise<void>;
}

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host', 'authorization', 'content-length', 'proxy-authorization', 'te', 'trailer']);

export async function startProxy(kube: Kube, spec: Pick<DeploySpec, 'name' | 'mode' | 'namespace'>, opts: { port?: number; onRequest?: (method: string, path: string, status: number, ms: number) => void } = {}): Promise<LocalProxy> {
  const base = proxyBase(kube, spec).slice(kube.server.replace(/\/+$/, '').length);
  const server = http.createServer((req, res) => {
    const t0 = performance.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !HOP.has(k.toLowerCase())) headers[k] = v;
      const ac = new AbortController();
      res.on('close', () => ac.abort());
      const body = chunks.length ? new Uint8Array(Buffer.concat(chunks)) : undefined;
      kube
        .fetch(`${base}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, ...(body && req.method !== 'GET' && req.method !== 'HEAD' ? { body } : {}), signal: ac.signal, timeoutMs: 120_000 })
        .then(async (r) => {
          const out = Buffer.from(await r.arrayBuffer());
          const type = r.headers.get('content-type');
          res.writeHead(r.status, { ...(type ? { 'content-type': type } : {}), 'content-length': String(out.length) });
          res.end(out);
          opts.onRequest?.(req.method ?? 'GET', req.url ?? '/', r.status, performance.now() - t0);
        })
        .catch((e: unknown) => {
          if (res.headersSent) return void res.destroy();
          const text = JSON.stringify({ error: describeError(e) });
          res.writeHead(502, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
          res.end(text);
          opts.onRequest?.(req.method ?? 'GET', req.url ?? '/', 502, performance.now() - t0);
        });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
