/**
 * `modelyard fetch-model SRC DEST`: a storage initializer in the manner of KServe's. SRC is an s3:// storageUri, DEST
 * a folder (KServe's /mnt/models); the model lands at DEST/<name>/1/model.onnx, the layout Triton and KServe read and
 * `modelyard serve DEST` serves. Credentials come from the environment as KServe passes them (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, S3_ENDPOINT or AWS_ENDPOINT_URL, S3_USE_HTTPS, AWS_REGION), so a ClusterStorageContainer
 * can run it with the two arguments KServe gives.
 */
import { UserError, isCancelled } from '../core/errors';
import type { Logger } from '../core/log';
import { s3ConfigFromEnv } from '../core/deploy/storage/layout';
import { formatBytes } from '../core/util/format';
import { FETCH_MODEL_HELP } from './cloudHelp';
import { cliEvents } from './events';
import { parse } from './inference';
import { EXIT_CANCELLED, interruptSignal } from './model';

type Out = (s: string) => void;


const USAGE = 'modelyard fetch-model s3://BUCKET/PREFIX DEST [--name NAME] [--json]';

export async function fetchModelCommand(args: string[], out: Out, log: Logger): Promise<number> {
  if (args.includes('-h') || args.includes('--help')) {
    out(FETCH_MODEL_HELP);
    return 0;
  }
  const { values, positionals } = parse(args, { name: { type: 'string' } }, [2, 2], USAGE);
  const [src, dest] = positionals as [string, string];
  if (!src.startsWith('s3://')) throw new UserError(`fetch-model takes an s3:// URI, not '${src}'.`, `Usage: ${USAGE}`);
  const name = values.name as string | undefined;
  const config = s3ConfigFromEnv(process.env);
  const events = cliEvents();
  const stop = interruptSignal();
  let last = 0;
  try {
    const { downloadModel } = await import('../core/deploy/storage/s3');
    const r = await downloadModel(src, dest, config, {
      log,
      signal: stop.signal,
      ...(name ? { name } : {}),
      onProgress: (done, total) => {
        const now = Date.now();
        if (now - last < 500 && done < total) return;
        last = now;
        events.emit({ event: 'progress', message: `${formatBytes(done)} of ${formatBytes(total)}`, ...(total > 0 ? { fraction: Math.min(1, done / total) } : {}) });
      },
    });
    if (values.json) out(JSON.stringify(r) + '\n');
    else out(`${r.downloaded ? 'Fetched' : 'Already there:'} ${r.uri} → ${r.file} (${formatBytes(r.size)}, sha256 ${r.sha256})\n`);
    return 0;
  } catch (e) {
    // core/errors' CancelledError, which cli/model's isCancelled does not know (it checks quantize's): report it as
    // main's reportFailure reports a cancellation.
    if (!isCancelled(e)) throw e;
    process.stderr.write('modelyard: cancelled.\n');
    events.emit({ event: 'error', message: 'cancelled.', cancelled: true });
    return EXIT_CANCELLED;
  } finally {
    stop.dispose();
  }
}
