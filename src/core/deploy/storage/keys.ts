/**
 * Where a model lives in an object store: S3 URIs and the content-addressed keys in the runtimes' layout. Pure (no
 * AWS SDK), so that planning a deploy — the storageUri its objects name — never loads the client.
 */
import { UserError } from '../../errors';

export interface S3Location {
  bucket: string;
  /** Without leading or trailing slashes; '' for the bucket's root. */
  prefix: string;
}

/** `s3://bucket` or `s3://bucket/some/prefix` (a trailing slash is dropped). A malformed URI is a UserError. */
export function parseS3Uri(uri: string): S3Location {
  const m = /^s3:\/\/([^/?#]+)(?:\/([^?#]*))?$/.exec(uri.trim());
  if (!m) throw new UserError(`'${uri}' is not an S3 URI.`, 'Write it as s3://BUCKET or s3://BUCKET/PREFIX.');
  const bucket = m[1]!;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..')) {
    throw new UserError(`'${bucket}' in ${uri} is not a bucket name.`, 'Bucket names have 3 to 63 lowercase letters, digits, dots and hyphens.');
  }
  const prefix = (m[2] ?? '').replace(/\/+$/, '').replace(/^\/+/, '');
  if (prefix.split('/').some((s) => s === '.' || s === '..') || prefix.includes('//')) {
    throw new UserError(`the prefix '${prefix}' in ${uri} has an empty, '.' or '..' part.`, 'Write it as s3://BUCKET/a/b.');
  }
  return { bucket, prefix };
}

const join = (...parts: string[]) => parts.filter((p) => p !== '').join('/');

function checkSha(sha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`'${sha256}' is not a sha256 in hex`);
  return sha256;
}

/** The served name as a path segment: what Triton and KServe accept as a model's folder. */
export function checkServedName(name: string): string {
  if (!/^[A-Za-z0-9][\w.-]{0,127}$/.test(name) || name === '.' || name === '..') {
    throw new UserError(`'${name}' is not a served model name.`, "Use letters, digits, '.', '_' and '-', starting with a letter or digit.");
  }
  return name;
}

/**
 * The content-addressed folder of a model under its served name: `prefix/<servedName>/sha256/<hex>`, what a runtime's
 * storageUri names. It holds exactly one model, `<servedName>/1/model.onnx` (Triton's and KServe's layout), so a
 * storage initializer has nothing to choose; the same bytes under the same name are never uploaded twice.
 */
export function modelRoot(prefix: string, sha256: string, servedName: string): string {
  return join(prefix, checkServedName(servedName), 'sha256', checkSha(sha256));
}

/** The object key of a model: `prefix/<servedName>/sha256/<hex>/<servedName>/1/model.onnx`. */
export function modelKey(prefix: string, sha256: string, servedName: string): string {
  return join(modelRoot(prefix, sha256, servedName), servedName, '1', 'model.onnx');
}

/** The storageUri a runtime gets: `s3://bucket/prefix/<servedName>/sha256/<hex>`. */
export function storageUri(loc: S3Location, sha256: string, servedName: string): string {
  return `s3://${loc.bucket}/${modelRoot(loc.prefix, sha256, servedName)}`;
}

