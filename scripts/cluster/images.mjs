// Offline, reproducible images from busybox-static, pushed with crane to the loopback registry:
// the pod sandbox (pause) image and a small busybox image for test pods.
import fs from 'node:fs';
import path from 'node:path';
import { log, paths, sh } from './common.mjs';
import { bin } from './build.mjs';

export const REGISTRY = '127.0.0.1:5000';
export const PAUSE_IMAGE = `${REGISTRY}/pause:3.10`;
export const BUSYBOX_IMAGE = `${REGISTRY}/busybox:test`;
const BUSYBOX = '/bin/busybox';

// ---- a small reproducible ustar writer: fixed mtime 0, uid/gid 0, entries in the order given ------------------
function octal(n, len) {
  return `${n.toString(8).padStart(len - 1, '0')}\0`;
}

function header(name, { type, size = 0, mode, linkname = '' }) {
  const h = Buffer.alloc(512, 0);
  if (Buffer.byteLength(name) > 100) throw new Error(`tar name too long: ${name}`);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii'); // uid
  h.write(octal(0, 8), 116, 8, 'ascii'); // gid
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(0, 12), 136, 12, 'ascii'); // mtime: the epoch
  h.write('        ', 148, 8, 'ascii'); // checksum placeholder
  h.write(type, 156, 1, 'ascii');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** entries: [{ name, type: 'dir'|'file'|'symlink', mode, data?, target? }] → tar Buffer. */
export function makeTar(entries) {
  const parts = [];
  for (const e of entries) {
    if (e.type === 'dir') parts.push(header(e.name.endsWith('/') ? e.name : `${e.name}/`, { type: '5', mode: e.mode ?? 0o755 }));
    else if (e.type === 'symlink') parts.push(header(e.name, { type: '2', mode: 0o777, linkname: e.target }));
    else {
      parts.push(header(e.name, { type: '0', mode: e.mode ?? 0o644, size: e.data.length }));
      parts.push(e.data);
      const pad = (512 - (e.data.length % 512)) % 512;
      if (pad) parts.push(Buffer.alloc(pad, 0));
    }
  }
  parts.push(Buffer.alloc(1024, 0));
  return Buffer.concat(parts);
}

function rootfs({ applets }) {
  const entries = [
    { name: 'bin', type: 'dir' },
    { name: 'bin/busybox', type: 'file', mode: 0o755, data: fs.readFileSync(BUSYBOX) },
    { name: 'dev', type: 'dir' },
    { name: 'etc', type: 'dir' },
    {
      name: 'etc/passwd',
      type: 'file',
      data: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'),
    },
    { name: 'etc/group', type: 'file', data: Buffer.from('root:x:0:\nnogroup:x:65534:\n') },
    { name: 'proc', type: 'dir' },
    { name: 'root', type: 'dir', mode: 0o700 },
    { name: 'sys', type: 'dir' },
    { name: 'tmp', type: 'dir', mode: 0o1777 },
  ];
  for (const a of applets) {
    if (a !== 'busybox') entries.push({ name: `bin/${a}`, type: 'symlink', target: 'busybox' });
  }
  // dirs first, then files in name order: a fixed order for a fixed digest
  return entries.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}

function busyboxApplets() {
  return sh(BUSYBOX, ['--list'])
    .stdout.split('\n')
    .map((s) => s.trim())
    .filter((s) => /^[a-z0-9_.[-]+$/.test(s) && s !== '[' && s !== '[[')
    .sort();
}

function crane(args) {
  return sh(bin('crane'), args).stdout.trim();
}

/** crane's list flags are parsed as one CSV record. */
function csv(list) {
  return list.map((s) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s)).join(',');
}

function pushImage(ref, tarBuf, { entrypoint, cmd, env }) {
  const dir = path.join(paths.state, 'images');
  fs.mkdirSync(dir, { recursive: true });
  const tarPath = path.join(dir, `${ref.replace(/[^a-z0-9]+/gi, '_')}.tar`);
  fs.writeFileSync(tarPath, tarBuf);
  crane(['append', '--insecure', '--oci-empty-base', '-f', tarPath, '-t', ref]);
  const args = ['mutate', '--insecure', ref, '--set-platform', 'linux/amd64', '-t', ref, '--entrypoint', csv(entrypoint)];
  if (cmd) args.push('--cmd', csv(cmd));
  for (const e of env ?? []) args.push('--env', e);
  const out = crane(args);
  const digest = crane(['digest', '--insecure', ref]);
  fs.rmSync(tarPath);
  return { out, digest };
}

/** Builds and pushes both images (the registry must be up). */
export function pushImages() {
  const applets = busyboxApplets();
  // pause: sleeps until SIGTERM/SIGINT, then exits 0 (a shell trap: PID 1 would otherwise ignore SIGTERM)
  const pause = pushImage(PAUSE_IMAGE, makeTar(rootfs({ applets: ['sh', 'sleep'] })), {
    entrypoint: ['/bin/busybox', 'sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 86400 & wait $!; done'],
    env: ['PATH=/bin'],
  });
  const busybox = pushImage(BUSYBOX_IMAGE, makeTar(rootfs({ applets })), {
    entrypoint: ['/bin/busybox'],
    cmd: ['sh'],
    env: ['PATH=/bin'],
  });
  log(`images: ${PAUSE_IMAGE}@${pause.digest.slice(0, 19)}…, ${BUSYBOX_IMAGE}@${busybox.digest.slice(0, 19)}…`);
  return { pause: pause.digest, busybox: busybox.digest };
}
