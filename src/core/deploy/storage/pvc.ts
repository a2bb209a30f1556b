/**
 * Model delivery for clusters without an object store: the model is written into a PersistentVolumeClaim through the
 * API server, with nothing but the kubeconfig.
 *
 *   1. the claim is made if it is not there (ReadWriteOnce; its size from the model's, with headroom; the storage
 *      class when given, else the cluster's default);
 *   2. a short-lived pod (the image the caller names: the serving image, which has `node`, or any image with `sh`,
 *      `head`, `stat`, `sha256sum`, `df`) mounts the claim at /models;
 *   3. the pod is asked whether <sha256>/<name>/1/model.onnx is there (the content address: then nothing is copied)
 *      and how much room the volume has;
 *   4. the bytes are streamed through exec's stdin into <sha256>/<name>/1/model.onnx.part, their size and sha256 are
 *      checked inside the pod, and the file is renamed into place;
 *   5. the pod is deleted, whatever happened.
 *
 * Everything made here carries the label app.kubernetes.io/managed-by=modelyard. The runtime gets
 * `pvc://<claim>/<sha256>`: KServe mounts that folder of the claim at /mnt/models, where Triton (or `modelyard serve
 * /mnt/models`) finds <name>/1/model.onnx.
 *
 * @kubernetes/client-node is ESM-only and large: it is imported on first use, never when this module loads.
 */
import type { V1Pod, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import fsp from 'node:fs/promises';
import { Writable } from 'node:stream';
import { CancelledError, UserError, firstLine } from '../../errors';
import type { Logger } from '../../log';
import { Kube, kubeError } from '../kube';
import { checkServedName } from './keys';

export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'modelyard' } as const;
const MOUNT = '/models';
const MiB = 2 ** 20;

export interface PvcTarget {
  /** A kubeconfig file (default: KUBECONFIG, ~/.kube/config, or the in-cluster account). */
  kubeconfig?: string;
  /** A context of that kubeconfig (default: its current one). */
  context?: string;
  namespace: string;
  claim: string;
  /** The claim's storage class when it is created (default: the cluster's default class). */
  storageClass?: string;
  /** The claim's size when it is created (a Kubernetes quantity); default from the model's size, see claimSize. */
  size?: string;
}

export interface PvcUploadOptions extends PvcTarget {
  sha256: string;
  servedName: string;
  bytes?: Uint8Array;
  file?: string;
  /** The copy pod's image: the serving image (it has `node`), or an image with a POSIX shell and coreutils. */
  image: string;
  /** What the image has to run the copy with: 'node' (default) or 'sh'. */
  tool?: 'node' | 'sh';
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  log?: Logger;
  /** How long the copy pod may take to start (default 120 s). */
  startTimeoutMs?: number;
}

export interface PvcUploadResult {
  /** What a runtime gets: pvc://<claim>/<sha256>. */
  storageUri: string;
  /** The model's path inside the claim: <sha256>/<name>/1/model.onnx. */
  path: string;
  size: number;
  /** Bytes streamed into the pod (0 when the model was there already). */
  uploaded: number;
  skipped: boolean;
  claimCreated: boolean;
  /** The copy pod's name (deleted by now). */
  pod?: string;
  ms: number;
}

/** The size a new claim asks for: twice the model (a second version fits beside it, and the .part of a copy) plus 64 MiB, in MiB. */
export function claimSize(bytes: number): string {
  return `${Math.ceil((2 * bytes + 64 * MiB) / (64 * MiB)) * 64}Mi`;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

const isNotFound = (e: unknown) => (e as { code?: unknown }).code === 404;

/** Makes the claim when it is not there; answers whether it made it. */
async function ensureClaim(k: Kube, t: PvcTarget, bytes: number, log?: Logger): Promise<{ created: boolean; claim: V1PersistentVolumeClaim }> {
  const ctx = { server: k.server, namespace: t.namespace };
  try {
    return { created: false, claim: await k.core.readNamespacedPersistentVolumeClaim({ name: t.claim, namespace: t.namespace }) };
  } catch (e) {
    if (!isNotFound(e)) throw kubeError(e, `read the claim ${t.claim} in namespace ${ctx.namespace}`, ctx.server);
  }
  const size = t.size ?? claimSize(bytes);
  const body: V1PersistentVolumeClaim = {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: t.claim, namespace: t.namespace, labels: { ...MANAGED_BY } },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: size } },
      ...(t.storageClass !== undefined ? { storageClassName: t.storageClass } : {}),
    },
  };
  try {
    const claim = await k.core.createNamespacedPersistentVolumeClaim({ namespace: t.namespace, body });
    log?.info(`[pvc] created the claim ${t.namespace}/${t.claim} (${size}${t.storageClass !== undefined ? `, class ${t.storageClass || '""'}` : ''})`);
    return { created: true, claim };
  } catch (e) {
    if ((e as { code?: unknown }).code === 409) return { created: false, claim: await k.core.readNamespacedPersistentVolumeClaim({ name: t.claim, namespace: t.namespace }) };
    throw kubeError(e, `create the claim ${t.claim} in namespace ${ctx.namespace}`, ctx.server);
  }
}

/** The copy pod: sleeps until deleted (or for an hour at most, should this process vanish). */
function copyPod(t: PvcTarget, image: string, tool: 'node' | 'sh', sha256: string): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'modelyard-copy-',
      namespace: t.namespace,
      labels: { ...MANAGED_BY, 'app.kubernetes.io/component': 'model-copy' },
      annotations: { 'modelyard.dev/claim': t.claim, 'modelyard.dev/sha256': sha256 },
    },
    spec: {
      restartPolicy: 'Never',
      activeDeadlineSeconds: 3600,
      terminationGracePeriodSeconds: 0,
      automountServiceAccountToken: false,
      containers: [
        {
          name: 'copy',
          image,
          command: tool === 'node' ? ['node', '-e', 'setTimeout(() => {}, 3600e3)'] : ['sh', '-c', 'sleep 3600'],
          volumeMounts: [{ name: 'models', mountPath: MOUNT }],
          resources: { requests: { cpu: '50m', memory: '64Mi' } },
        },
      ],
      volumes: [{ name: 'models', persistentVolumeClaim: { claimName: t.claim } }],
    },
  };
}

const WAITING_FAILURES = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

/** Waits until the pod runs; a pod that cannot start says why (image, scheduling, the claim not bound). */
async function waitRunning(k: Kube, namespace: string, name: string, claim: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const ctx = { server: k.server, namespace };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (signal?.aborted) throw new CancelledError('the copy into the claim was cancelled.');
    let pod: V1Pod;
    try {
      pod = await k.core.readNamespacedPod({ name, namespace });
    } catch (e) {
      throw kubeError(e, `read the pod ${name} in namespace ${ctx.namespace}`, ctx.server);
    }
    const phase = pod.status?.phase;
    if (phase === 'Running') return;
    const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
    if (waiting?.reason && WAITING_FAILURES.has(waiting.reason)) {
      throw new UserError(`the copy pod cannot start: ${waiting.reason}: ${firstLine(waiting.message ?? '')}`, 'Check the image name and that the cluster can pull it.');
    }
    if (phase === 'Failed' || phase === 'Succeeded') throw new Error(`the copy pod ${name} ended (${phase}) before it was used: ${pod.status?.message ?? pod.status?.reason ?? ''}`);
    const sched = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
    const last = sched?.message ?? waiting?.reason ?? phase ?? '';
    if (Date.now() > deadline) {
      const unbound = /unbound|persistentvolumeclaim/i.test(last);
      throw new UserError(
        `the copy pod did not start within ${Math.round(timeoutMs / 1000)} s${last ? `: ${firstLine(last)}` : ''}.`,
        unbound
          ? `The claim ${claim} is not bound: the cluster has no volume for it (no provisioner for its storage class, or no matching PersistentVolume). Give a storage class that provisions, or create a PersistentVolume.`
          : 'Check the pod events (kubectl describe pod) and the node capacity.',
      );
    }
    await new Promise((r) => setTimeout(r, 400));
  }
}

interface ExecResult {
  stdout: string;
  stderr: string;
}

class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    if (this.text.length < 64 * 1024) this.text += chunk.toString('utf8');
    cb();
  }
}

/**
 * Runs `command` in the pod; with `input`, streams it to the command's stdin (backpressure: at most 4 MiB buffered
 * in the socket). Resolves with the output on exit code 0; rejects with the command's stderr otherwise.
 */
async function execIn(
  k: Kube,
  namespace: string,
  pod: string,
  command: string[],
  what: string,
  input?: { size: number; chunks: AsyncIterable<Uint8Array>; onSent?: (n: number) => void; signal?: AbortSignal },
): Promise<ExecResult> {
  const exec = new k.lib.Exec(k.kc);
  const stdout = new Collect();
  const stderr = new Collect();
  // The stdin stream is only the switch that asks for stdin and, when it ends, closes it (v5 protocol); the bytes
  // themselves are sent below, frame by frame, waiting for the socket to drain.
  const { PassThrough } = await import('node:stream');
  const stdin = input ? new PassThrough() : null;
  let settle!: { resolve: (s: { status?: string; message?: string; code?: number }) => void; reject: (e: Error) => void };
  const done = new Promise<{ status?: string; message?: string; code?: number }>((resolve, reject) => (settle = { resolve, reject }));
  let ws: Awaited<ReturnType<typeof exec.exec>>;
  try {
    ws = await exec.exec(namespace, pod, 'copy', command, stdout, stderr, stdin, false, (st) => {
      const cause = st.details?.causes?.find((c) => c.reason === 'ExitCode');
      settle.resolve({ status: st.status, message: st.message, ...(cause?.message ? { code: Number(cause.message) } : {}) });
    });
  } catch (e) {
    const err = e as { message?: string; error?: { message?: string } };
    throw kubeError(Object.assign(new Error(err.error?.message ?? err.message ?? String(e)), { code: (e as { code?: unknown }).code }), `exec in the pod ${pod} (${what}) in namespace ${namespace}`, k.server);
  }
  let allSent = !input;
  ws.on('close', () =>
    setTimeout(() => {
      // Servers without the v5 protocol cannot close stdin alone: the client closes the whole stream, and no status
      // comes. What was written is then judged by the next step (the size and sha256 check), not here.
      if (allSent && input) settle.resolve({ status: 'Closed' });
      else settle.reject(new Error(`the connection to the pod ${pod} closed before ${what} finished${stderr.text ? `: ${firstLine(stderr.text)}` : ''}`));
    }, 200),
  );
  ws.on('error', (e: Error) => settle.reject(new Error(`the connection to the pod ${pod} failed during ${what}: ${firstLine(e.message)}`)));
  if (input) {
    let sent = 0;
    try {
      for await (const chunk of input.chunks) {
        if (input.signal?.aborted) throw new CancelledError('the copy into the claim was cancelled.');
        for (let off = 0; off < chunk.byteLength; off += 256 * 1024) {
          const part = chunk.subarray(off, Math.min(chunk.byteLength, off + 256 * 1024));
          const frame = Buffer.allocUnsafe(part.byteLength + 1);
          frame[0] = 0; // stdin
          frame.set(part, 1);
          while (ws.bufferedAmount > 4 * MiB) await new Promise((r) => setTimeout(r, 2));
          await new Promise<void>((resolve, reject) => ws.send(frame, (e?: Error) => (e ? reject(e) : resolve())));
          sent += part.byteLength;
          input.onSent?.(sent);
        }
      }
    } catch (e) {
      if (e instanceof CancelledError) {
        ws.close();
        throw e;
      }
      // The command may have ended (and the server closed the stream): its status and stderr say why.
      const st = await Promise.race([done.catch(() => undefined), new Promise<undefined>((r) => setTimeout(() => r(undefined), 3000))]);
      ws.close();
      const why = firstLine(stderr.text) || firstLine(st?.message ?? '') || firstLine(e instanceof Error ? e.message : String(e));
      throw new Error(`streaming the model into the pod ${pod} failed after ${sent} of ${input.size} bytes${st?.code !== undefined ? ` (exit code ${st.code})` : ''}: ${why}`, { cause: e });
    }
    allSent = true;
    stdin!.end();
  }
  const st = await done;
  ws.close();
  if (st.status !== 'Success' && st.status !== 'Closed') {
    throw new Error(`${what} in the pod ${pod} failed${st.code !== undefined ? ` (exit code ${st.code})` : ''}: ${firstLine(stderr.text) || firstLine(st.message ?? '') || 'no message'}`);
  }
  return { stdout: stdout.text, stderr: stderr.text };
}

/**
 * The commands run in the copy pod, for a shell with coreutils (busybox will do) or for node: `probe` prints
 * size=<bytes of the model file, or -> and free=<KiB free on the volume>; `write` reads exactly `size` bytes from
 * stdin into the .part file; `verify` prints size= and sha256= of the .part file and, when both match, renames it
 * into place and prints `renamed` (else removes it). Exported for tests, which also run them outside a pod.
 */
export function inPodCommands(tool: 'node' | 'sh', mount: string, rel: { sha256: string; servedName: string }, size: number) {
  const dir = `${mount}/${rel.servedName}/${rel.sha256}/${rel.servedName}/1`;
  const sha256 = rel.sha256;
  const file = `${dir}/model.onnx`;
  const part = `${file}.part`;
  if (tool === 'sh') {
    return {
      probe: ['sh', '-c', `f=${q(file)}; if [ -f "$f" ]; then echo "size=$(stat -c %s "$f")"; else echo size=-; fi; echo "free=$(df -Pk ${q(mount)} | tail -n 1 | awk '{print $4}')"`],
      // head keeps exactly the model's bytes; cat then reads stdin to its end, so that the command ends only when
      // the stream does. (With head as the last command, the test cluster's exec stream was reset, or stdin ended
      // early, in every one of six tries; reading to the end, never.)
      write: ['sh', '-c', `set -e; mkdir -p ${q(dir)}; head -c ${size} > ${q(part)}; cat > /dev/null`],
      verify: [
        'sh',
        '-c',
        `set -e; p=${q(part)}; s=$(stat -c %s "$p"); h=$(sha256sum "$p" | cut -d ' ' -f 1); echo "size=$s"; echo "sha256=$h"; ` +
          `if [ "$s" = ${size} ] && [ "$h" = ${sha256} ]; then mv -f "$p" ${q(file)}; echo renamed; else rm -f "$p"; fi`,
      ],
    };
  }
  const js = (body: string) => ['node', '-e', `const fs = require('fs'), crypto = require('crypto');\n${body}`];
  return {
    probe: js(
      `let s = '-'; try { s = fs.statSync(${JSON.stringify(file)}).size; } catch {}\n` +
        `const v = fs.statfsSync(${JSON.stringify(mount)}); console.log('size=' + s); console.log('free=' + Math.floor(v.bavail * v.bsize / 1024));`,
    ),
    // The model's bytes are kept, and stdin is read to its end (see the sh form).
    write: js(
      `fs.mkdirSync(${JSON.stringify(dir)}, { recursive: true }); const out = fs.createWriteStream(${JSON.stringify(part)}); let left = ${size};\n` +
        `process.stdin.on('data', (c) => { if (left <= 0) return; if (c.length > left) c = c.subarray(0, left); left -= c.length;\n` +
        `  if (!out.write(c)) { process.stdin.pause(); out.once('drain', () => process.stdin.resume()); } });\n` +
        `process.stdin.on('end', () => out.end(() => { if (left > 0) { console.error('stdin ended ' + left + ' bytes short'); process.exit(3); } process.exit(0); }));`,
    ),
    verify: js(
      `const p = ${JSON.stringify(part)}; const s = fs.statSync(p).size; const h = crypto.createHash('sha256');\n` +
        `const fd = fs.openSync(p, 'r'); const b = Buffer.allocUnsafe(1 << 20); let n; while ((n = fs.readSync(fd, b, 0, b.length, null)) > 0) h.update(b.subarray(0, n)); fs.closeSync(fd);\n` +
        `const d = h.digest('hex'); console.log('size=' + s); console.log('sha256=' + d);\n` +
        `if (s === ${size} && d === ${JSON.stringify(sha256)}) { fs.renameSync(p, ${JSON.stringify(file)}); console.log('renamed'); } else fs.rmSync(p, { force: true });`,
    ),
  };
}

const field = (out: string, name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(out)?.[1]?.trim();

async function* chunksOf(o: { bytes?: Uint8Array; file?: string }): AsyncIterable<Uint8Array> {
  if (o.bytes) {
    for (let off = 0; off < o.bytes.byteLength; off += 4 * MiB) yield o.bytes.subarray(off, Math.min(o.bytes.byteLength, off + 4 * MiB));
    return;
  }
  const fs = await import('node:fs');
  for await (const c of fs.createReadStream(o.file!, { highWaterMark: 4 * MiB })) yield c as Buffer;
}

/**
 * Writes the model into the claim at <sha256>/<name>/1/model.onnx (see the top of this file) and answers the
 * storageUri `pvc://<claim>/<sha256>`.
 */
export async function uploadModelToPvc(o: PvcUploadOptions): Promise<PvcUploadResult> {
  const t0 = performance.now();
  if (!/^[0-9a-f]{64}$/.test(o.sha256)) throw new Error(`'${o.sha256}' is not a sha256 in hex`);
  checkServedName(o.servedName);
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(o.claim)) throw new UserError(`'${o.claim}' is not a claim name.`, 'Use lowercase letters, digits and hyphens (at most 63).');
  const size = o.bytes ? o.bytes.byteLength : (await fsp.stat(o.file!)).size;
  const tool = o.tool ?? 'node';
  const k = await Kube.connect({ ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}), ...(o.context ? { context: o.context } : {}), ...(o.log ? { log: o.log } : {}) });
  const ctx = { server: k.server, namespace: o.namespace };
  const rel = `${o.servedName}/${o.sha256}/${o.servedName}/1/model.onnx`;
  const base = { storageUri: `pvc://${o.claim}/${o.servedName}/${o.sha256}`, path: rel, size };
  const { created } = await ensureClaim(k, o, size, o.log);

  let podName: string | undefined;
  try {
    try {
      const pod = await k.core.createNamespacedPod({ namespace: o.namespace, body: copyPod(o, o.image, tool, o.sha256) });
      podName = pod.metadata!.name!;
    } catch (e) {
      throw kubeError(e, `create a pod in namespace ${ctx.namespace}`, ctx.server);
    }
    o.log?.info(`[pvc] copy pod ${o.namespace}/${podName} (${o.image}) for ${o.claim}/${rel}`);
    await waitRunning(k, o.namespace, podName, o.claim, o.startTimeoutMs ?? 120_000, o.signal);
    const sc = inPodCommands(tool, MOUNT, o, size);

    const probe = await execIn(k, o.namespace, podName, sc.probe, 'looking for the model');
    const existing = field(probe.stdout, 'size');
    if (existing !== undefined && existing !== '-' && Number(existing) === size) {
      o.log?.info(`[pvc] ${o.claim}/${rel} is there already: nothing to copy`);
      o.onProgress?.(size, size);
      return { ...base, uploaded: 0, skipped: true, claimCreated: created, pod: podName, ms: Math.round(performance.now() - t0) };
    }
    const freeKiB = Number(field(probe.stdout, 'free'));
    if (Number.isFinite(freeKiB) && freeKiB * 1024 < size) {
      throw new UserError(
        `the claim ${o.claim} has ${Math.floor(freeKiB / 1024)} MiB free; the model needs ${Math.ceil(size / MiB)} MiB.`,
        'Grow the claim (if its storage class allows expansion), remove models no deployment uses from it, or use another claim.',
      );
    }

    o.onProgress?.(0, size);
    await execIn(k, o.namespace, podName, sc.write, 'writing the model', {
      size,
      chunks: chunksOf(o),
      onSent: (n) => o.onProgress?.(n, size),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const verify = await execIn(k, o.namespace, podName, sc.verify, 'checking the copy');
    const gotSize = Number(field(verify.stdout, 'size'));
    const gotSha = field(verify.stdout, 'sha256');
    if (!/^renamed$/m.test(verify.stdout)) {
      throw new Error(`the copy in ${o.claim}/${rel}.part does not match the model (${gotSize} bytes, sha256 ${gotSha}; expected ${size} bytes, ${o.sha256}); it was removed`);
    }
    o.log?.info(`[pvc] ${o.claim}/${rel}: ${size} bytes copied and checked (sha256 in the pod)`);
    return { ...base, uploaded: size, skipped: false, claimCreated: created, pod: podName, ms: Math.round(performance.now() - t0) };
  } finally {
    if (podName) {
      await k.core.deleteNamespacedPod({ name: podName, namespace: o.namespace, gracePeriodSeconds: 0 }).catch((e: unknown) => {
        o.log?.warn(`[pvc] the copy pod ${o.namespace}/${podName} could not be deleted: ${kubeError(e, `delete it in namespace ${ctx.namespace}`, ctx.server).message}`);
      });
    }
  }
}
