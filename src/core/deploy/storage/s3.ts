/**
 * Model delivery to an S3-compatible object store (AWS S3, SeaweedFS, MinIO, Ceph …), in the layout the runtimes
 * read: Triton's and KServe's `<root>/<model>/1/model.onnx`, under a content-addressed prefix
 *
 *   s3://BUCKET/PREFIX/sha256/<hex>/<served name>/1/model.onnx
 *
 * The runtime is given `s3://BUCKET/PREFIX/sha256/<hex>` as its storageUri: KServe's storage initializer (or
 * `modelyard fetch-model`) copies what lies under it into /mnt/models, where the runtime finds `<name>/1/model.onnx`.
 *
 * An upload asks first (HEAD): an object that is there with the same sha256 in its metadata is not sent again. Small
 * models go in one PUT; larger ones as a multipart upload that resumes: an unfinished upload of the same key is
 * looked up (ListMultipartUploads), its parts listed (ListParts), each listed part's ETag checked against the MD5 of
 * the local part, and only the missing or different parts are sent before the upload is completed.
 *
 * Endpoint, region and credentials are passed in by the caller and never read here from the environment (the serving
 * side's layout.ts reads KServe's variables). No message, log line or error carries the secret key; errors name the
 * endpoint and the access key id.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
  type HeadObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { CancelledError, UserError, firstLine } from '../../errors';
import type { Logger } from '../../log';
import { checkServedName, modelKey, parseS3Uri, storageUri, type S3Location } from './keys';

const MiB = 2 ** 20;

/** How to reach the store. Everything is given by the caller; nothing is read from the environment here. */
export interface S3Config {
  /** e.g. http://127.0.0.1:8333 or https://s3.eu-west-1.amazonaws.com */
  endpoint: string;
  /** default us-east-1 */
  region?: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** The endpoint as messages show it: no user info, no query. */
function endpointLabel(endpoint: string): string {
  try {
    const u = new URL(endpoint);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(an invalid endpoint URL)';
  }
}

/** An S3 client for `config`: path-style addressing, checksums only where the API requires them. */
export function s3Client(config: S3Config): S3Client {
  let url: URL;
  try {
    url = new URL(config.endpoint);
  } catch {
    throw new UserError(`the S3 endpoint '${endpointLabel(config.endpoint)}' is not a URL.`, 'Give it as http://HOST:PORT or https://HOST.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UserError(`the S3 endpoint ${endpointLabel(config.endpoint)} is not http or https.`);
  if (!config.accessKeyId || !config.secretAccessKey) throw new UserError(`no S3 credentials for ${endpointLabel(config.endpoint)}.`, 'Give an access key id and its secret access key.');
  return new S3Client({
    endpoint: config.endpoint,
    region: config.region || 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey, ...(config.sessionToken ? { sessionToken: config.sessionToken } : {}) },
    // Parts carry Content-MD5 (checked by the store, and what resuming compares ETags with); no CRC trailers, which
    // not every S3-compatible store accepts.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    // A store that takes the connection and never answers fails the request instead of holding it for ever: a
    // minute of silence on the socket (a long transfer that moves goes on), ten seconds to connect.
    requestHandler: { connectionTimeout: 10_000, socketTimeout: 60_000 },
  });
}

interface S3ErrorShape {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/**
 * An S3 failure as one message a person can act on. The secret key is never part of it: only the endpoint, the
 * access key id, the bucket and the key. Whatever is not recognised becomes an Error with the code and the store's
 * first line, not the SDK's error object (which holds the request).
 */
export function s3Failure(e: unknown, ctx: { config: S3Config; bucket: string; key?: string; what: string }): Error {
  if (e instanceof CancelledError) return e;
  const err = (e ?? {}) as S3ErrorShape;
  // A network failure is a plain Error (name 'Error') with its errno code; the store's own errors have a Code or name.
  const code = err.Code ?? (err.name && err.name !== 'Error' ? err.name : undefined) ?? err.code ?? '';
  const status = err.$metadata?.httpStatusCode;
  const endpoint = endpointLabel(ctx.config.endpoint);
  const id = ctx.config.accessKeyId;
  const where = ctx.key ? `s3://${ctx.bucket}/${ctx.key}` : `s3://${ctx.bucket}`;
  if (code === 'AbortError' || (e instanceof Error && e.name === 'AbortError')) return new CancelledError(`${ctx.what} cancelled.`);
  if (code === 'NoSuchBucket') {
    return new UserError(
      `the bucket '${ctx.bucket}' does not exist at ${endpoint}.`,
      `Create it (for example: aws --endpoint-url ${endpoint} s3 mb s3://${ctx.bucket}), or name an existing bucket in the storage URI.`,
    );
  }
  if (code === 'InvalidAccessKeyId') {
    return new UserError(`${endpoint} does not know the access key id '${id}' (InvalidAccessKeyId).`, 'Check the keys: the access key id is wrong, or it was deleted on that store.');
  }
  if (code === 'SignatureDoesNotMatch') {
    return new UserError(
      `${endpoint} refused the requests signed for access key id '${id}' (SignatureDoesNotMatch).`,
      "Check the keys: the secret access key does not belong to that access key id (or the endpoint's clock or address differs).",
    );
  }
  if (code === 'AccessDenied' || status === 403) {
    return new UserError(`access key id '${id}' may not ${ctx.what} ${where} at ${endpoint} (access denied).`, 'Check the keys, and that their policy allows this bucket and action.');
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'TimeoutError') {
    return new UserError(`cannot reach the S3 endpoint ${endpoint} (${code}).`, 'Check the endpoint URL and that the store is running and reachable from here.');
  }
  const detail = firstLine(err.message ?? '') || 'no message';
  return new Error(`S3 ${ctx.what} ${where} at ${endpoint} failed: ${code || `HTTP ${status ?? '?'}`}: ${detail}`);
}

/** What an upload did. */
export interface UploadResult {
  /** s3://bucket/key of the model file. */
  uri: string;
  key: string;
  /** What a runtime gets: s3://bucket/prefix/<servedName>/sha256/<hex>. */
  storageUri: string;
  size: number;
  /** Bytes sent in this call (0 when skipped). */
  uploaded: number;
  /** The object was there with the same sha256: nothing was sent. */
  skipped: boolean;
  /** Bytes of parts an earlier, interrupted upload had already sent and that were kept. */
  reused: number;
  /** 0 for a single PUT; else the number of parts. */
  parts: number;
  /** An unfinished multipart upload of the same key was continued. */
  resumed: boolean;
  ms: number;
}

export interface UploadOptions {
  config: S3Config;
  /** Where models go: s3://bucket[/prefix]. */
  uri: string;
  sha256: string;
  servedName: string;
  /** The model: its bytes, or a file (read a part at a time). */
  bytes?: Uint8Array;
  file?: string;
  /** Called with bytes done (kept parts count at once) and the total. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  log?: Logger;
  /** From this size on, a multipart upload (default 16 MiB). */
  multipartThreshold?: number;
  /** Part size (default 8 MiB; S3 wants at least 5 MiB for every part but the last). */
  partSize?: number;
  /** Parts in flight at once (default 4). */
  concurrency?: number;
  /** The client to use (one is made from config otherwise; tests pass one to watch calls). */
  client?: S3Client;
}

/** Reads the model's part [start, end) from its bytes or its file. */
type PartReader = (start: number, end: number) => Promise<Uint8Array>;

async function openSource(o: UploadOptions): Promise<{ size: number; read: PartReader; close(): Promise<void> }> {
  if (o.bytes) {
    const b = o.bytes;
    return { size: b.byteLength, read: async (s, e) => b.subarray(s, e), close: async () => {} };
  }
  if (!o.file) throw new Error('uploadModel needs bytes or a file');
  const fh = await fsp.open(o.file, 'r');
  const size = (await fh.stat()).size;
  return {
    size,
    read: async (s, e) => {
      const buf = Buffer.allocUnsafe(e - s);
      let off = 0;
      while (off < buf.length) {
        const { bytesRead } = await fh.read(buf, off, buf.length - off, s + off);
        if (bytesRead === 0) throw new UserError(`${o.file} became shorter while it was uploaded.`, 'Upload it again once nothing writes to it.');
        off += bytesRead;
      }
      return buf;
    },
    close: () => fh.close(),
  };
}

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest();
const unquote = (etag: string | undefined) => (etag ?? '').replace(/^W\//, '').replace(/"/g, '').toLowerCase();

function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new CancelledError(`${what} cancelled.`);
}

/** HEAD of a key: its output, or undefined when the key (or, as far as HEAD can tell, the bucket) is not there. */
async function head(client: S3Client, bucket: string, key: string, signal?: AbortSignal): Promise<HeadObjectCommandOutput | undefined> {
  try {
    return await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
  } catch (e) {
    const err = e as S3ErrorShape;
    if (err.$metadata?.httpStatusCode === 404 || err.name === 'NotFound' || err.name === 'NoSuchKey') return undefined;
    throw e;
  }
}

/**
 * HEAD answers have no body, so a refused HEAD says only "403". A listing of the bucket says why (unknown key id,
 * wrong secret, missing bucket, no permission); this asks one and turns its answer into the failure to report.
 */
async function explainHeadFailure(client: S3Client, e: unknown, ctx: { config: S3Config; bucket: string; key: string; what: string }): Promise<Error> {
  const status = (e as S3ErrorShape).$metadata?.httpStatusCode;
  if (status === 403 || status === 400 || status === 301) {
    try {
      await client.send(new ListObjectsV2Command({ Bucket: ctx.bucket, Prefix: ctx.key, MaxKeys: 1 }));
    } catch (e2) {
      return s3Failure(e2, ctx);
    }
  }
  return s3Failure(e, ctx);
}

/** Fails with a clear message when the bucket is not there (a listing says so; HEAD cannot). */
async function checkBucket(client: S3Client, bucket: string, key: string, ctx: { config: S3Config; bucket: string; key: string; what: string }, signal?: AbortSignal): Promise<void> {
  try {
    await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1 }), { abortSignal: signal });
  } catch (e) {
    const err = e as S3ErrorShape;
    // Keys that may write but not list: the upload itself will say what is wrong, if anything.
    if ((err.Code ?? err.name) === 'AccessDenied') return;
    throw s3Failure(e, ctx);
  }
}

/**
 * Puts a model at its content-addressed key (see the top of this file). Resolves with what was sent; a cancelled
 * upload (signal) rejects with CancelledError and leaves a multipart upload unfinished, so that the next call resumes.
 */
export async function uploadModel(o: UploadOptions): Promise<UploadResult> {
  const t0 = performance.now();
  const loc = parseS3Uri(o.uri);
  const key = modelKey(loc.prefix, o.sha256, o.servedName);
  const client = o.client ?? s3Client(o.config);
  const ctx = { config: o.config, bucket: loc.bucket, key, what: 'upload to' };
  const threshold = o.multipartThreshold ?? 16 * MiB;
  const partSize = o.partSize ?? 8 * MiB;
  const concurrency = Math.max(1, o.concurrency ?? 4);
  if (partSize < 1) throw new Error('partSize must be positive');
  const src = await openSource(o);
  const result = (r: Omit<UploadResult, 'uri' | 'key' | 'storageUri' | 'size' | 'ms'>): UploadResult => ({
    uri: `s3://${loc.bucket}/${key}`,
    key,
    storageUri: storageUri(loc, o.sha256, o.servedName),
    size: src.size,
    ...r,
    ms: Math.round(performance.now() - t0),
  });
  try {
    throwIfAborted(o.signal, 'the upload');
    let existing: HeadObjectCommandOutput | undefined;
    try {
      existing = await head(client, loc.bucket, key, o.signal);
    } catch (e) {
      throw await explainHeadFailure(client, e, { ...ctx, what: 'read' });
    }
    if (existing && existing.Metadata?.sha256 === o.sha256 && existing.ContentLength === src.size) {
      o.log?.info(`[s3] s3://${loc.bucket}/${key} is there already (sha256 ${o.sha256.slice(0, 12)}…): nothing to upload`);
      o.onProgress?.(src.size, src.size);
      return result({ uploaded: 0, skipped: true, reused: 0, parts: 0, resumed: false });
    }
    if (existing) o.log?.warn(`[s3] s3://${loc.bucket}/${key} is there but not with sha256 ${o.sha256}: uploading it again`);
    // HEAD cannot tell a missing key from a missing bucket, and some stores (SeaweedFS) create a bucket on the first
    // PUT: a typo in the bucket's name must fail here, not create a bucket nobody reads from.
    else await checkBucket(client, loc.bucket, key, ctx, o.signal);

    if (src.size < threshold) {
      const body = await src.read(0, src.size);
      o.onProgress?.(0, src.size);
      try {
        await client.send(
          new PutObjectCommand({
            Bucket: loc.bucket,
            Key: key,
            Body: body,
            ContentLength: body.byteLength,
            ContentMD5: md5(body).toString('base64'),
            ContentType: 'application/octet-stream',
            Metadata: { sha256: o.sha256 },
          }),
          { abortSignal: o.signal },
        );
      } catch (e) {
        throw s3Failure(e, ctx);
      }
      o.onProgress?.(src.size, src.size);
      await verifyObject(client, loc.bucket, key, o.sha256, src.size, ctx);
      return result({ uploaded: src.size, skipped: false, reused: 0, parts: 0, resumed: false });
    }
    return result(await multipart(client, o, loc.bucket, key, src, { partSize, concurrency, ctx }));
  } finally {
    await src.close();
    if (!o.client) client.destroy();
  }
}

async function verifyObject(client: S3Client, bucket: string, key: string, sha256: string, size: number, ctx: { config: S3Config; bucket: string; key: string; what: string }): Promise<void> {
  let h: HeadObjectCommandOutput | undefined;
  try {
    h = await head(client, bucket, key);
  } catch (e) {
    throw s3Failure(e, { ...ctx, what: 'read' });
  }
  if (!h) throw new Error(`s3://${bucket}/${key} is not there after its upload completed`);
  if (h.ContentLength !== size) throw new Error(`s3://${bucket}/${key} has ${h.ContentLength} bytes after its upload, not ${size}`);
  if (h.Metadata?.sha256 !== sha256) throw new Error(`s3://${bucket}/${key} lost its sha256 metadata in the upload (the store kept ${JSON.stringify(h.Metadata ?? {})})`);
}

async function multipart(
  client: S3Client,
  o: UploadOptions,
  bucket: string,
  key: string,
  src: { size: number; read: PartReader },
  opts: { partSize: number; concurrency: number; ctx: { config: S3Config; bucket: string; key: string; what: string } },
): Promise<Omit<UploadResult, 'uri' | 'key' | 'storageUri' | 'size' | 'ms'>> {
  const { partSize, ctx } = opts;
  const count = Math.ceil(src.size / partSize);
  if (count > 10_000) throw new UserError(`${src.size} bytes in parts of ${partSize} bytes make ${count} parts; S3 allows 10,000.`, 'Use a larger part size.');
  const send = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      throw s3Failure(e, { ...ctx, what });
    }
  };

  // An unfinished upload of this key, from an earlier run that stopped: continue the newest, abort the others.
  const uploads: { UploadId: string; Initiated?: Date }[] = [];
  let keyMarker: string | undefined;
  let idMarker: string | undefined;
  for (;;) {
    const page = await send('list the unfinished uploads of', () =>
      client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key, KeyMarker: keyMarker, UploadIdMarker: idMarker }), { abortSignal: o.signal }),
    );
    for (const u of page.Uploads ?? []) if (u.Key === key && u.UploadId) uploads.push({ UploadId: u.UploadId, ...(u.Initiated ? { Initiated: u.Initiated } : {}) });
    if (!page.IsTruncated || (!page.NextKeyMarker && !page.NextUploadIdMarker)) break;
    keyMarker = page.NextKeyMarker;
    idMarker = page.NextUploadIdMarker;
  }
  uploads.sort((a, b) => (b.Initiated?.getTime() ?? 0) - (a.Initiated?.getTime() ?? 0));
  let uploadId = uploads[0]?.UploadId;
  for (const stale of uploads.slice(1)) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: stale.UploadId })).catch(() => undefined);
  }

  // What the store already holds of it.
  const listed = new Map<number, { etag: string; size: number }>();
  const resumed = uploadId !== undefined;
  if (uploadId) {
    let marker: string | undefined;
    for (;;) {
      const page = await send('list the parts of', () =>
        client.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumberMarker: marker }), { abortSignal: o.signal }),
      );
      for (const p of page.Parts ?? []) if (p.PartNumber) listed.set(p.PartNumber, { etag: unquote(p.ETag), size: p.Size ?? -1 });
      if (!page.IsTruncated || !page.NextPartNumberMarker) break;
      marker = page.NextPartNumberMarker;
    }
    o.log?.info(`[s3] resuming the upload of s3://${bucket}/${key}: ${listed.size} of ${count} parts listed`);
  } else {
    const created = await send('start an upload to', () =>
      client.send(
        new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: 'application/octet-stream', Metadata: { sha256: o.sha256 } }),
        { abortSignal: o.signal },
      ),
    );
    uploadId = created.UploadId;
    if (!uploadId) throw new Error(`S3 gave no upload id for s3://${bucket}/${key}`);
  }

  let done = 0;
  let uploaded = 0;
  let reused = 0;
  const parts: CompletedPart[] = new Array(count);
  o.onProgress?.(0, src.size);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      throwIfAborted(o.signal, 'the upload');
      const start = i * partSize;
      const end = Math.min(src.size, start + partSize);
      const body = await src.read(start, end);
      const digest = md5(body);
      const have = listed.get(i + 1);
      if (have && have.etag === digest.toString('hex') && have.size === body.byteLength) {
        parts[i] = { PartNumber: i + 1, ETag: `"${have.etag}"` };
        reused += body.byteLength;
      } else {
        if (have) o.log?.warn(`[s3] part ${i + 1} of s3://${bucket}/${key} differs from the local bytes: sending it again`);
        const r = await send('upload a part to', () =>
          client.send(
            new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: i + 1, Body: body, ContentLength: body.byteLength, ContentMD5: digest.toString('base64') }),
            { abortSignal: o.signal },
          ),
        );
        parts[i] = { PartNumber: i + 1, ETag: r.ETag ?? `"${digest.toString('hex')}"` };
        uploaded += body.byteLength;
      }
      done += body.byteLength;
      o.onProgress?.(done, src.size);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, count) }, worker));
  throwIfAborted(o.signal, 'the upload');
  await send('complete the upload to', () =>
    client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }), { abortSignal: o.signal }),
  );
  await verifyObject(client, bucket, key, o.sha256, src.size, ctx);
  o.log?.info(`[s3] s3://${bucket}/${key}: ${count} parts, ${uploaded} bytes sent, ${reused} kept from an earlier upload`);
  return { uploaded, skipped: false, reused, parts: count, resumed };
}

// ---------------------------------------------------------------------------------------------------------------
// The serving side: from a storageUri to a model file on disk.

export interface DownloadResult {
  /** The model file written: DEST/<name>/1/model.onnx. */
  file: string;
  name: string;
  size: number;
  sha256: string;
  /** The object it came from. */
  uri: string;
  /** false when the file was there already with the recorded sha256. */
  downloaded: boolean;
}

/** An object's served name: <name> for …/<name>/<n>/model.onnx, else its base name without .onnx. */
function nameOfKey(key: string): string {
  const [name, version, base] = key.split('/').slice(-3);
  if (base === 'model.onnx' && version && /^\d+$/.test(version) && name) return name;
  return path.posix.basename(key).replace(/\.onnx$/i, '') || 'model';
}

/** The model under a storageUri: `<name>/1/model.onnx` below the prefix, else the one .onnx there, else the object itself. */
async function findModelObject(client: S3Client, loc: S3Location, config: S3Config, name?: string, signal?: AbortSignal): Promise<{ key: string; name: string; size: number }> {
  const base = loc.prefix === '' ? '' : `${loc.prefix}/`;
  const objects: { key: string; size: number }[] = [];
  let token: string | undefined;
  do {
    let page;
    try {
      page = await client.send(new ListObjectsV2Command({ Bucket: loc.bucket, Prefix: base, ContinuationToken: token }), { abortSignal: signal });
    } catch (e) {
      throw s3Failure(e, { config, bucket: loc.bucket, key: loc.prefix, what: 'list' });
    }
    for (const c of page.Contents ?? []) if (c.Key) objects.push({ key: c.Key, size: c.Size ?? 0 });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  const where = `s3://${loc.bucket}/${loc.prefix}`;
  const layout = objects
    .map((o) => ({ ...o, m: /^([^/]+)\/1\/model\.onnx$/.exec(o.key.slice(base.length)) }))
    .filter((o) => o.m)
    .map((o) => ({ key: o.key, size: o.size, name: o.m![1]! }));
  const pick = name ? layout.filter((o) => o.name === name) : layout;
  if (pick.length === 1) return pick[0]!;
  if (pick.length > 1) {
    throw new UserError(`${where} holds ${pick.length} models (${pick.map((o) => o.name).join(', ')}).`, 'Name the one to fetch (--name NAME), or give the prefix of one model.');
  }
  if (name && layout.length) throw new UserError(`${where} has no model '${name}'; it holds ${layout.map((o) => o.name).join(', ')}.`);
  const onnx = objects.filter((o) => o.key.toLowerCase().endsWith('.onnx'));
  if (onnx.length === 1) {
    const o = onnx[0]!;
    return { key: o.key, size: o.size, name: name ?? nameOfKey(o.key) };
  }
  if (!objects.length) {
    // Perhaps the URI names the object itself.
    if (loc.prefix.toLowerCase().endsWith('.onnx')) {
      const h = await head(client, loc.bucket, loc.prefix, signal).catch(async (e) => {
        throw await explainHeadFailure(client, e, { config, bucket: loc.bucket, key: loc.prefix, what: 'read' });
      });
      if (h) return { key: loc.prefix, size: h.ContentLength ?? 0, name: name ?? nameOfKey(loc.prefix) };
    }
    throw new UserError(`nothing is stored under ${where}.`, 'Check the storage URI (s3://BUCKET/PREFIX/sha256/<hex>) and that the model was uploaded.');
  }
  throw new UserError(
    `${where} holds ${onnx.length ? `${onnx.length} .onnx files` : 'no .onnx file'} and no single <name>/1/model.onnx.`,
    'Give the prefix of one model in the runtime layout (<prefix>/<name>/1/model.onnx).',
  );
}

/** A local file that already holds the object: same size, and the sha256 the object's metadata records. */
async function keptCopy(client: S3Client, bucket: string, key: string, file: string, signal?: AbortSignal): Promise<{ size: number; sha256: string } | undefined> {
  const st = await fsp.stat(file).catch(() => undefined);
  if (!st?.isFile()) return undefined;
  const h = await head(client, bucket, key, signal).catch(() => undefined);
  const recorded = h?.Metadata?.sha256;
  if (!recorded || h?.ContentLength !== st.size) return undefined;
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  const sha256 = hash.digest('hex');
  return sha256 === recorded ? { size: st.size, sha256 } : undefined;
}

/**
 * Downloads the model under `uri` into `destDir/<name>/1/model.onnx`: streamed to a temporary file beside it and
 * renamed when complete, with its sha256 checked against the object's metadata when it has one. A file already there
 * with the sha256 the object's metadata records is kept, not downloaded again (`downloaded: false`).
 */
export async function downloadModel(
  uri: string,
  destDir: string,
  config: S3Config,
  opts: { name?: string; signal?: AbortSignal; log?: Logger; onProgress?: (done: number, total: number) => void } = {},
): Promise<DownloadResult> {
  const loc = parseS3Uri(uri);
  const client = s3Client(config);
  try {
    const obj = await findModelObject(client, loc, config, opts.name, opts.signal);
    const name = checkServedName(obj.name);
    const file = path.join(destDir, name, '1', 'model.onnx');
    const ctx = { config, bucket: loc.bucket, key: obj.key, what: 'download' };
    const kept = await keptCopy(client, loc.bucket, obj.key, file, opts.signal);
    if (kept) {
      opts.log?.info(`[s3] ${file} holds s3://${loc.bucket}/${obj.key} already (sha256 ${kept.sha256.slice(0, 12)}…)`);
      return { file, name, size: kept.size, sha256: kept.sha256, uri: `s3://${loc.bucket}/${obj.key}`, downloaded: false };
    }
    let res;
    try {
      res = await client.send(new GetObjectCommand({ Bucket: loc.bucket, Key: obj.key }), { abortSignal: opts.signal });
    } catch (e) {
      throw s3Failure(e, ctx);
    }
    const expected = res.Metadata?.sha256;
    const total = res.ContentLength ?? obj.size;
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const tmp = path.join(path.dirname(file), `.model.onnx.${process.pid}.${Date.now().toString(36)}.part`);
    const hash = createHash('sha256');
    let size = 0;
    try {
      const body = res.Body as Readable | undefined;
      if (!body) throw new Error(`S3 sent no body for s3://${loc.bucket}/${obj.key}`);
      const out = fs.createWriteStream(tmp);
      try {
        for await (const chunk of body) {
          throwIfAborted(opts.signal, 'the download');
          const b = chunk as Buffer;
          hash.update(b);
          size += b.length;
          if (!out.write(b)) await new Promise<void>((r) => out.once('drain', r));
          opts.onProgress?.(size, total);
        }
      } finally {
        await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
      }
      const sha256 = hash.digest('hex');
      if (size !== total) throw new Error(`s3://${loc.bucket}/${obj.key}: ${size} bytes arrived, ${total} were announced`);
      if (expected && expected !== sha256) throw new UserError(`s3://${loc.bucket}/${obj.key} does not match its sha256: ${sha256}, the upload recorded ${expected}.`, 'Upload the model again.');
      const fh = await fsp.open(tmp, 'r+');
      await fh.sync().finally(() => fh.close());
      await fsp.rename(tmp, file);
      opts.log?.info(`[s3] s3://${loc.bucket}/${obj.key} → ${file} (${size} bytes, sha256 ${sha256.slice(0, 12)}…)`);
      return { file, name, size, sha256, uri: `s3://${loc.bucket}/${obj.key}`, downloaded: true };
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      if (e instanceof UserError || e instanceof CancelledError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EACCES' || code === 'EROFS') throw new UserError(`${file} could not be written (${code}).`, 'Check the destination folder, its permissions and free space.');
      throw s3Failure(e, ctx);
    }
  } finally {
    client.destroy();
  }
}
