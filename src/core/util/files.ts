import fsp from 'node:fs/promises';
import path from 'node:path';
import { UserError, firstLine } from '../errors';

/**
 * Writes a file whole or not at all: to a temporary name beside it, then renamed over it, so that a full disk or an
 * interrupted write never leaves half a file. Used by the CLI and the editor alike.
 */
export async function writeAtomic(file: string, data: Uint8Array | string): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  try {
    await fsp.writeFile(tmp, data);
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw new UserError(`${file} could not be written: ${firstLine(e instanceof Error ? e.message : String(e))}.`, 'Check the folder and its permissions.');
  }
}
