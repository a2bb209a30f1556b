/**
 * The serving side of model delivery: what a model server is pointed at (SRC) becomes one model file and the name to
 * serve it under.
 *
 *   model.onnx, any .onnx path         the file; named by its base name (or, for <name>/<n>/model.onnx, by <name>)
 *   DIR with <name>/<n>/model.onnx     the runtime layout of Triton and KServe (/mnt/models); one model, its highest
 *                                      version folder; named <name>
 *   DIR with <n>/model.onnx            one model's own folder (DIR is <name>); named by DIR
 *   DIR with model.onnx                named by DIR
 *   s3://BUCKET/PREFIX                 downloaded (s3.ts downloadModel) with the credentials KServe passes in the
 *                                      environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN),
 *                                      AWS_ENDPOINT_URL or S3_ENDPOINT with S3_USE_HTTPS, AWS_REGION / S3_REGION
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../errors';
import type { Logger } from '../../log';
// The S3 client (about 600 KB of the CLI bundle) loads only when an s3:// source is given.
import type { S3Config } from './s3';

export interface ServingSource {
  /** The model file. */
  file: string;
  /** The served name the source gives (folder name, or file name). */
  name: string;
  /** For s3://: where it came from, and whether it was downloaded now (false: a kept copy was used). */
  uri?: string;
  downloaded?: boolean;
}

/** Whether SRC is one the model reference does not understand by itself: an s3:// URI or an existing folder. */
export function isLayoutSource(src: string, cwd = process.cwd()): boolean {
  if (src.startsWith('s3://')) return true;
  try {
    return fs.statSync(path.resolve(cwd, src)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The S3 settings of the environment, named as KServe's storage initializer is given them (from a Secret and the
 * serving.kserve.io/s3-* annotations). Missing keys are a UserError that names the variables (never their values).
 */
export function s3ConfigFromEnv(env: NodeJS.ProcessEnv = process.env): S3Config {
  const accessKeyId = env.AWS_ACCESS_KEY_ID?.trim();
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY?.trim();
  if (!accessKeyId || !secretAccessKey) {
    throw new UserError(
      `no S3 credentials: ${!accessKeyId ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY'} is not set.`,
      'Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (in Kubernetes: a Secret listed on the predictor\'s ServiceAccount), and S3_ENDPOINT or AWS_ENDPOINT_URL for a store other than AWS.',
    );
  }
  const region = env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || env.S3_REGION?.trim() || 'us-east-1';
  const useHttps = !['0', 'false', 'no'].includes((env.S3_USE_HTTPS ?? '1').trim().toLowerCase());
  const s3Endpoint = env.S3_ENDPOINT?.trim();
  const endpoint =
    env.AWS_ENDPOINT_URL?.trim() ||
    (s3Endpoint ? (/^https?:\/\//i.test(s3Endpoint) ? s3Endpoint : `${useHttps ? 'https' : 'http'}://${s3Endpoint}`) : `https://s3.${region}.amazonaws.com`);
  const sessionToken = env.AWS_SESSION_TOKEN?.trim();
  return { endpoint, region, accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/** A file's served name: `<name>` for `<name>/<n>/model.onnx`, else its base name without .onnx. */
function nameOfFile(file: string): string {
  const parts = path.resolve(file).split(path.sep);
  const [base, version, name] = [parts.at(-1)!, parts.at(-2), parts.at(-3)];
  if (base === 'model.onnx' && version && /^\d+$/.test(version) && name) return name;
  return base.replace(/\.onnx$/i, '') || 'model';
}

const isFile = (p: string) => {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
};

const versionsIn = (dir: string): number[] => {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((e) => e.isDirectory() && /^\d+$/.test(e.name) && isFile(path.join(dir, e.name, 'model.onnx')))
    .map((e) => Number(e.name))
    .sort((a, b) => b - a);
};

/** The model in a folder laid out for a runtime (see the top of this file). */
export function modelInFolder(dir: string, label = dir): { file: string; name: string } {
  const folderName = path.basename(path.resolve(dir));
  const direct = path.join(dir, 'model.onnx');
  if (isFile(direct)) return { file: direct, name: folderName };
  const own = versionsIn(dir);
  if (own.length) return { file: path.join(dir, String(own[0]), 'model.onnx'), name: folderName };
  const models = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => ({ name: e.name, versions: versionsIn(path.join(dir, e.name)) }))
    .filter((m) => m.versions.length);
  if (models.length === 1) {
    const m = models[0]!;
    return { file: path.join(dir, m.name, String(m.versions[0]), 'model.onnx'), name: m.name };
  }
  if (models.length > 1) {
    throw new UserError(`${label} holds ${models.length} models (${models.map((m) => m.name).join(', ')}); one server serves one.`, `Give the folder of one of them (${path.join(label, models[0]!.name)}).`);
  }
  const onnx = fs.readdirSync(dir).filter((f) => f.toLowerCase().endsWith('.onnx') && isFile(path.join(dir, f)));
  if (onnx.length === 1) return { file: path.join(dir, onnx[0]!), name: onnx[0]!.replace(/\.onnx$/i, '') };
  throw new UserError(
    `${label} holds no model in a layout a runtime reads${onnx.length ? ` (it has ${onnx.length} .onnx files)` : ''}.`,
    'Give an .onnx file, or a folder with <name>/1/model.onnx (Triton and KServe) or model.onnx.',
  );
}

export interface ResolveOptions {
  cwd?: string;
  log?: Logger;
  signal?: AbortSignal;
  /** For s3://: where downloads go (default: a folder per URI under the system's temporary folder). */
  cacheDir?: string;
  /** For s3://: the variables to read credentials from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** For s3:// holding several models: the one to take. */
  name?: string;
  onProgress?: (done: number, total: number) => void;
}

/** Resolves a serving source SRC (see the top of this file) to its model file and served name. */
export async function resolveServingSource(src: string, opts: ResolveOptions = {}): Promise<ServingSource> {
  if (src.startsWith('s3://')) {
    const config = s3ConfigFromEnv(opts.env);
    const dest = opts.cacheDir ?? path.join(os.tmpdir(), 'modelyard-models', createHash('sha256').update(`${config.endpoint} ${src}`).digest('hex').slice(0, 16));
    const { downloadModel } = await import('./s3');
    const r = await downloadModel(src, dest, config, {
      ...(opts.name ? { name: opts.name } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.log ? { log: opts.log } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
    return { file: r.file, name: r.name, uri: r.uri, downloaded: r.downloaded };
  }
  const full = path.resolve(opts.cwd ?? process.cwd(), src);
  let st: fs.Stats;
  try {
    st = fs.statSync(full);
  } catch {
    throw new UserError(`${src} does not exist.`, 'Give an .onnx file, a folder with <name>/1/model.onnx, or an s3:// URI.');
  }
  const found = st.isDirectory() ? modelInFolder(full, src) : { file: full, name: nameOfFile(full) };
  return found;
}
