/**
 * Writes the CLI's event channel (src/shared/cli/events.ts): one JSON line per event, to the destinations the caller
 * chose — file descriptor N when MODELYARD_EVENTS=fd:N (what the editor sets), standard error when
 * MODELYARD_EVENTS=stderr or a verb asks for it (`quantize --progress json`), and standard output when a verb's
 * result is itself a stream of events (`serve --json`). Writes are synchronous, so no event is lost when the process
 * exits right after it.
 */
import fs from 'node:fs';
import { CLI_EVENTS_ENV, formatCliEvent, type CliEvent } from '../shared/cli/events';

type Write = (line: string) => void;

function writeFd(fd: number): Write {
  return (line) => {
    const buf = Buffer.from(line);
    for (let off = 0; off < buf.length; ) {
      try {
        off += fs.writeSync(fd, buf, off);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
        // The reader went away (the editor closed): events have nowhere to go, the work goes on.
        else if (code === 'EPIPE' || code === 'EBADF') return;
        else throw e;
      }
    }
  };
}

/** The destinations MODELYARD_EVENTS names. */
function fromEnvironment(): { fd?: number; stderr: boolean } {
  const v = process.env[CLI_EVENTS_ENV]?.trim();
  if (!v) return { stderr: false };
  if (v === 'stderr') return { stderr: true };
  const fd = /^fd:(\d+)$/.exec(v)?.[1];
  if (fd !== undefined && Number(fd) > 2) return { fd: Number(fd), stderr: false };
  process.stderr.write(`modelyard: ${CLI_EVENTS_ENV}='${v}' is not a destination (fd:N with N > 2, or stderr); events are not written.\n`);
  return { stderr: false };
}

export interface Events {
  emit(e: CliEvent): void;
  /** Whether anybody reads the events (so that a verb can skip gathering them). */
  readonly active: boolean;
}

/** The channel for this process, plus what a verb adds: stderr (`--progress json`), or its stdout writer. */
export function cliEvents(also: { stderr?: boolean; stdout?: (text: string) => void } = {}): Events {
  const env = fromEnvironment();
  const writers: Write[] = [];
  if (env.fd !== undefined) writers.push(writeFd(env.fd));
  if (env.stderr || also.stderr) writers.push(writeFd(2));
  if (also.stdout) writers.push(also.stdout);
  return {
    active: writers.length > 0,
    emit: (e) => {
      const line = formatCliEvent(e) + '\n';
      for (const w of writers) w(line);
    },
  };
}
