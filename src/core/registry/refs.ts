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

/** Every tag of the repository in one `git for-each-ref`, annotated or not. */
export async function readTags(cwd: string, log?: Logger, pattern = 'refs/tags'): Promise<TagRef[]> {
  const r = await run('git', ['for-each-ref', `--format=${TAG_FORMAT}`, pattern], { cwd, log });
  return parseTagRefs(r.stdout);
}

export function parseTagRefs(out: string): TagRef[] {
  const parts = out.split('\0');
  const tags: TagRef[] = [];
  const n = FIELDS.length;
  for (let i = 0; i + n <= parts.length; i += n) {
    const name = parts[i]!.replace(/^\n/, '');
    const objectType = parts[i + 1]!;
    const peeled = parts[i + 3]!;
    const subject = parts[i + 8]!;
    const body = parts[i + 9]!.replace(/\n+$/, '');
    tags.push({
      name,
      objectType,
      commit: objectType === 'tag' ? peeled : parts[i + 2]!,
      targetType: objectType === 'tag' ? parts[i + 4]! : objectType,
      tagger: parts[i + 5]!,
      taggerEmail: parts[i + 6]!,
      date: Number(parts[i + 7]) || 0,
      message: body ? `${subject}\n\n${body}` : subject,
    });
  }
  return tags;
}
