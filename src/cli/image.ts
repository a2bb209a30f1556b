/**
 * `modelyard image build`: the serving image (`modelyard serve` in an OCI image) for a cluster's platform, built
 * without a Docker daemon and pushed to a registry (core/deploy/image). Progress goes on the event channel.
 */
import { parseArgs } from 'node:util';
import { UserError } from '../core/errors';
import type { Logger } from '../core/log';
import { buildServingImage, type BuildProgress } from '../core/deploy/image/build';
import { IMAGE_HELP } from './cloudHelp';
import { cliEvents } from './events';
import { interruptSignal } from './model';

type Out = (s: string) => void;


const USAGE = 'modelyard image build --push REGISTRY/REPO:TAG [--base IMAGE] [--platform linux/amd64|linux/arm64] [--insecure] [--json]';

export async function imageCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    out(IMAGE_HELP);
    return sub === undefined ? 1 : 0;
  }
  if (sub !== 'build') throw new UserError(`unknown image command '${sub}'.`, `Usage: ${USAGE}`);
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      push: { type: 'string' },
      base: { type: 'string' },
      platform: { type: 'string' },
      insecure: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    out(IMAGE_HELP);
    return 0;
  }
  if (positionals.length) throw new UserError(`unexpected argument '${positionals[0]}'.`, `Usage: ${USAGE}`);
  if (!values.push) throw new UserError('give the image to push with --push REGISTRY/REPO:TAG.', `Usage: ${USAGE}`);
  const events = cliEvents();
  const tty = !values.json && process.stderr.isTTY;
  const onProgress = (p: BuildProgress) => {
    if (events.active) events.emit({ event: 'progress', message: p.message, ...(p.fraction !== undefined ? { fraction: p.fraction } : {}) });
    if (tty) process.stderr.write(`\r\x1b[K${p.message}${p.fraction !== undefined ? ` (${Math.round(p.fraction * 100)}%)` : ''}`);
  };
  const stop = interruptSignal();
  const t0 = Date.now();
  try {
    const r = await buildServingImage({
      push: values.push,
      ...(values.base ? { base: values.base } : {}),
      platform: values.platform ?? 'linux/amd64',
      ...(values.insecure ? { insecure: true } : {}),
      distDir: __dirname,
      onProgress,
      signal: stop.signal,
      log,
    });
    if (tty) process.stderr.write('\r\x1b[K');
    if (values.json) out(JSON.stringify(r, null, 2) + '\n');
    else {
      out(
        `Pushed ${r.reference}\n` +
          `  platform:    ${r.platform}\n` +
          `  size:        ${(r.size / 1e6).toFixed(1)} MB compressed (app layer ${(r.appLayer.size / 1e6).toFixed(1)} MB)\n` +
          `  onnxruntime: ${r.onnxruntime}\n` +
          `  base:        ${r.base.reference}@${r.base.digest}\n` +
          `  blobs:       ${r.blobs.uploaded} uploaded, ${r.blobs.mounted} mounted, ${r.blobs.present} already there\n` +
          `  in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
      );
    }
    return 0;
  } finally {
    stop.dispose();
    if (tty) process.stderr.write('\r\x1b[K');
  }
}
