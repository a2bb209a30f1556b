import { StringDecoder } from 'node:string_decoder';
import type { Logger } from '../log';
import { run } from '../util/proc';

/** One tag as git stores it. */
export interface TagRef {
  name: string;
  /** "tag" for an annotated tag; "commit" (or another object type) for a lightweight one. */
  objectType: string;
  /** The commit the tag points at (peeled). */
  commit: string;
  /** The type of the object the tag points at after peeling: normally "commit". */
  targetType: string;
  tagger: string;
  taggerEmail: string;
  /** Tagger date in seconds since the epoch; 0 for lightweight tags. */
  date: number;
  /** Subject and body of the tag message, without its signature. */
  message: string;
}

const FIELDS = [
  '%(refname:strip=2)',
  '%(objecttype)',
  '%(objectname)',
  '%(*objectname)',
  '%(*objecttype)',
  '%(taggername)',
  '%(taggeremail:trim)',
  '%(taggerdate:unix)',
  '%(contents:subject)',
  '%(contents:body)',
];
/** NUL between fields; git prints a newline after each record. Messages cannot contain NUL. */
export const TAG_FORMAT = FIELDS.join('%00') + '%00';

/**
 * Every tag of the repository in one `git for-each-ref`, annotated or not. The output (about 1 MB for
 * 5,000 tags) is parsed as git streams it, so that parsing overlaps git's own work instead of following it.
 */
export async function readTags(cwd: string, log?: Logger, pattern = 'refs/tags', onTag?: (t: TagRef) => void): Promise<TagRef[]> {
  const parser = new TagRefParser(onTag);
  const decoder = new StringDecoder('utf8');
  await run('git', ['for-each-ref', `--format=${TAG_FORMAT}`, pattern], { cwd, log, onStdout: (b) => parser.push(decoder.write(b)) });
  parser.push(decoder.end());
  return parser.tags;
}

/** Parses for-each-ref output in pieces: fields end with NUL, and a piece may end anywhere. */
class TagRefParser {
  readonly tags: TagRef[] = [];
  private fields: string[] = [];
  private rest = '';

  constructor(private readonly onTag?: (t: TagRef) => void) {}

  push(chunk: string): void {
    const text = this.rest + chunk;
    let start = 0;
    for (;;) {
      const end = text.indexOf('\0', start);
      if (end < 0) break;
      this.fields.push(text.slice(start, end));
      start = end + 1;
      if (this.fields.length === FIELDS.length) {
        const t = toTagRef(this.fields);
        this.tags.push(t);
        this.onTag?.(t);
        this.fields = [];
      }
    }
    this.rest = text.slice(start);
  }
}

function toTagRef(f: string[]): TagRef {
  const objectType = f[1]!;
  const subject = f[8]!;
  const body = f[9]!;
  const annotated = objectType === 'tag';
  return {
    name: f[0]!.charCodeAt(0) === 10 ? f[0]!.slice(1) : f[0]!, // the newline git prints after each record
    objectType,
    commit: annotated ? f[3]! : f[2]!,
    targetType: annotated ? f[4]! : objectType,
    tagger: f[5]!,
    taggerEmail: f[6]!,
    date: Number(f[7]) || 0,
    message: body ? `${subject}\n\n${body.replace(/\n+$/, '')}` : subject,
  };
}

/** Parses the whole output of `git for-each-ref --format=TAG_FORMAT` at once. */
export function parseTagRefs(out: string): TagRef[] {
  const p = new TagRefParser();
  p.push(out);
  return p.tags;
}
