/**
 * Reproducible image layers: the same entries give the same bytes, so the same digest, on every machine and run.
 *
 * - entries sorted by path, every parent directory emitted (0755) before what it holds, no duplicates;
 * - mtime 0 (or SOURCE_DATE_EPOCH), uid/gid 0, empty uname/gname, modes normalized (0755 directories and
 *   executables, 0644 other files; an entry may set its own, e.g. 1777 for /tmp);
 * - the tar written by tar-stream (ustar, folders named with a trailing '/'; PAX only for a path over ustar's
 *   limits), gzipped with a fixed header
 *   (no name, mtime 0, OS 255 "unknown", as Go's gzip writes it) around zlib's raw deflate at level 6.
 *
 * The diff_id is the sha256 of the uncompressed tar (what an image config lists), the digest that of the gzip
 * blob (what a manifest lists and a registry stores).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import * as tar from 'tar-stream';
import { CancelledError } from '../../errors';

export type LayerEntry =
  | { path: string; type: 'dir'; mode?: number }
  /** A file from bytes. */
  | { path: string; type: 'file'; data: Uint8Array | string; mode?: number }
  /** A file read from disk when the layer is written (streamed, not held in memory). */
  | { path: string; type: 'file'; source: string; mode?: number }
  | { path: string; type: 'symlink'; target: string };

export interface Layer {
  /** The gzip blob on disk. */
  file: string;
  /** sha256:… of the gzip blob. */
  digest: string;
  /** sha256:… of the uncompressed tar. */
  diffId: string;
  /** Bytes of the gzip blob. */
  size: number;
  /** Bytes of the tar. */
  tarSize: number;
  /** Entries written, parent directories included. */
  entries: number;
}

/** Seconds since the epoch for every mtime: SOURCE_DATE_EPOCH when set (reproducible-builds.org), else 0. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.SOURCE_DATE_EPOCH?.trim();
  if (!v) return 0;
  if (!/^\d+$/.test(v)) throw new Error(`SOURCE_DATE_EPOCH must be a whole number of seconds, not '${v}'`);
  return Number(v);
}

/** `/usr/local/bin/node`, `./x/`, `x//y` → `usr/local/bin/node`, `x`, `x/y`; `..` and empty paths are refused. */
export function normalizeEntryPath(p: string): string {
  const parts = p.replace(/\\/g, '/').split('/').filter((s) => s !== '' && s !== '.');
  if (!parts.length) throw new Error(`layer entry with an empty path ('${p}')`);
  if (parts.includes('..')) throw new Error(`layer entry path '${p}' leaves the root`);
  return parts.join('/');
}

/** The mode a file gets in a layer: 0755 when any execute bit is set on disk, else 0644. */
export function normalizedFileMode(diskMode: number): number {
  return diskMode & 0o111 ? 0o755 : 0o644;
}

/**
 * The entries of a folder on disk under `prefix` (sorted; symbolic links kept as links), skipping what `keep`
 * refuses (`rel` is the path inside `dir`, with '/'; a refused folder is not walked).
 */
export function treeEntries(dir: string, prefix: string, keep: (rel: string, isDir: boolean) => boolean = () => true): LayerEntry[] {
  const out: LayerEntry[] = [];
  const walk = (rel: string) => {
    const abs = rel ? path.join(dir, rel) : dir;
    for (const name of fs.readdirSync(abs).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const full = path.join(abs, name);
      const st = fs.lstatSync(full);
      const isDir = st.isDirectory();
      if (!keep(r, isDir)) continue;
      const target = `${prefix}/${r}`;
      if (isDir) {
        out.push({ path: target, type: 'dir' });
        walk(r);
      } else if (st.isSymbolicLink()) out.push({ path: target, type: 'symlink', target: fs.readlinkSync(full) });
      else if (st.isFile()) out.push({ path: target, type: 'file', source: full, mode: normalizedFileMode(st.mode) });
    }
  };
  walk('');
  return out;
}

type Normalized =
  | { path: string; type: 'dir'; mode: number }
  | { path: string; type: 'file'; mode: number; data?: Uint8Array; source?: string; size: number }
  | { path: string; type: 'symlink'; target: string };

/** Sorted, parents added, paths and modes normalized; duplicate paths refused. */
export function normalizeEntries(entries: LayerEntry[]): Normalized[] {
  const byPath = new Map<string, Normalized>();
  for (const e of entries) {
    const p = normalizeEntryPath(e.path);
    if (byPath.has(p)) throw new Error(`layer entry '${p}' given twice`);
    if (e.type === 'dir') byPath.set(p, { path: p, type: 'dir', mode: (e.mode ?? 0o755) & 0o7777 });
    else if (e.type === 'symlink') byPath.set(p, { path: p, type: 'symlink', target: e.target });
    else if ('source' in e) byPath.set(p, { path: p, type: 'file', mode: (e.mode ?? normalizedFileMode(fs.statSync(e.source).mode)) & 0o7777, source: e.source, size: fs.statSync(e.source).size });
    else {
      const data = typeof e.data === 'string' ? Buffer.from(e.data, 'utf8') : e.data;
      byPath.set(p, { path: p, type: 'file', mode: (e.mode ?? 0o644) & 0o7777, data, size: data.byteLength });
    }
  }
  for (const p of [...byPath.keys()]) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const existing = byPath.get(parent);
      if (!existing) byPath.set(parent, { path: parent, type: 'dir', mode: 0o755 });
      else if (existing.type !== 'dir') throw new Error(`layer entry '${p}' is inside '${parent}', which is not a folder`);
    }
  }
  // Code-unit order: a parent ('a') always sorts before its children ('a/…').
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The fixed gzip member header: deflate, no flags, mtime 0, no extra flags, OS 255 (unknown). */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff]);

function checkAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new CancelledError();
}

/**
 * Writes `entries` as a reproducible tar+gzip layer to `outFile` and returns its digests and sizes.
 * `mtime`: seconds for every entry (default: SOURCE_DATE_EPOCH, else 0).
 */
export async function writeLayer(entries: LayerEntry[], outFile: string, opts: { mtime?: number; signal?: AbortSignal } = {}): Promise<Layer> {
  const list = normalizeEntries(entries);
  const mtime = new Date((opts.mtime ?? sourceDateEpoch()) * 1000);
  const pack = tar.pack();
  const base = { mtime, uid: 0, gid: 0, uname: '', gname: '' };

  const feed = async () => {
    for (const e of list) {
      checkAborted(opts.signal);
      if (e.type === 'dir') {
        await new Promise<void>((resolve, reject) => pack.entry({ ...base, name: `${e.path}/`, type: 'directory', mode: e.mode }, (err) => (err ? reject(err) : resolve())));
      } else if (e.type === 'symlink') {
        await new Promise<void>((resolve, reject) => pack.entry({ ...base, name: e.path, type: 'symlink', linkname: e.target, mode: 0o777 }, (err) => (err ? reject(err) : resolve())));
      } else if (e.data) {
        const data = Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength);
        await new Promise<void>((resolve, reject) => pack.entry({ ...base, name: e.path, type: 'file', mode: e.mode, size: e.size }, data, (err) => (err ? reject(err) : resolve())));
      } else {
        await new Promise<void>((resolve, reject) => {
          const sink = pack.entry({ ...base, name: e.path, type: 'file', mode: e.mode, size: e.size }, (err) =>
            err ? reject(new Error(`${e.source}: ${err.message} (did the file change while the layer was written?)`)) : resolve(),
          );
          const src = fs.createReadStream(e.source!);
          src.on('error', reject);
          src.pipe(sink as unknown as NodeJS.WritableStream);
        });
      }
    }
    pack.finalize();
  };

  const tarHash = createHash('sha256');
  const gzHash = createHash('sha256');
  let crc = 0;
  let tarSize = 0;
  let gzSize = 0;
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  const feeding = feed().catch((e: unknown) => {
    pack.destroy(e as Error);
    throw e;
  });
  try {
    await Promise.all([
      feeding,
      pipeline(
        pack as unknown as AsyncIterable<Buffer>,
        async function* (src: AsyncIterable<Buffer>) {
          for await (const chunk of src) {
            tarHash.update(chunk);
            crc = zlib.crc32(chunk, crc);
            tarSize += chunk.length;
            yield chunk;
          }
        },
        zlib.createDeflateRaw({ level: 6 }),
        async function* (src: AsyncIterable<Buffer>) {
          gzHash.update(GZIP_HEADER);
          gzSize += GZIP_HEADER.length;
          yield GZIP_HEADER;
          for await (const chunk of src) {
            gzHash.update(chunk);
            gzSize += chunk.length;
            yield chunk;
          }
          const trailer = Buffer.alloc(8);
          trailer.writeUInt32LE(crc >>> 0, 0);
          trailer.writeUInt32LE(tarSize % 2 ** 32, 4);
          gzHash.update(trailer);
          gzSize += trailer.length;
          yield trailer;
        },
        fs.createWriteStream(outFile),
        opts.signal ? { signal: opts.signal } : {},
      ),
    ]);
  } catch (e) {
    fs.rmSync(outFile, { force: true });
    if (opts.signal?.aborted) throw new CancelledError();
    throw e;
  }
  return { file: outFile, digest: `sha256:${gzHash.digest('hex')}`, diffId: `sha256:${tarHash.digest('hex')}`, size: gzSize, tarSize, entries: list.length };
}

/** The entries of a tar+gzip layer, in order (for tests and checks): path, type, mode, uid, gid, mtime, size. */
export async function listLayer(file: string): Promise<{ path: string; type: string; mode: number; uid: number; gid: number; uname: string; gname: string; mtime: number; size: number; linkname?: string }[]> {
  const out: Awaited<ReturnType<typeof listLayer>> = [];
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (h, stream, next) => {
      out.push({
        path: h.name,
        type: h.type ?? 'file',
        mode: h.mode ?? 0,
        uid: h.uid ?? 0,
        gid: h.gid ?? 0,
        uname: h.uname ?? '',
        gname: h.gname ?? '',
        mtime: h.mtime ? h.mtime.getTime() / 1000 : 0,
        size: h.size ?? 0,
        ...(h.linkname ? { linkname: h.linkname } : {}),
      });
      stream.on('end', next);
      stream.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  await Promise.all([pipeline(fs.createReadStream(file), zlib.createGunzip(), extract as unknown as NodeJS.WritableStream), done]);
  return out;
}
