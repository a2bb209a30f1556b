/**
 * A protobuf wire-format walker driven by the generated ONNX descriptors, for two jobs protobuf-es does not do:
 *
 * - reading a model's structure without its weights: bulk fields (raw_data, float_data …) are skipped by their
 *   length, so a file handle can seek past them, and a model over 2 GB, or one whose weights live in external files,
 *   is summarised from a few megabytes of reads;
 * - checking bytes strictly before protobuf-es decodes them: protobuf-es trusts wire types (a field 7 written as a
 *   varint is read as a length and yields garbage), and its errors ("premature EOF") say nothing a person can use.
 *   The walker stops at the first problem with its byte offset, the field path, and whether the input ended
 *   (a truncated download) or holds impossible bytes (a damaged file).
 *
 * The walk is a generator that yields the number of bytes it needs buffered at the cursor; a driver fills the
 * buffer, from memory (never yields) or from a file, and can hash every byte that passes on the way.
 *
 * What it builds mirrors protobuf-es's objects (same property names, bigint for 64-bit integers, `{case, value}`
 * for oneofs, closed-enum values outside the enum ignored), so one summariser reads both. A field can be kept,
 * replaced by its length (`{length}`, for bytes), or skipped; skipped messages are still walked and checked.
 */
import { ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';

/** What to do with a field that is not kept whole. */
export type FieldAction = 'length' | 'skip';
/** Per message type name ("onnx.TensorProto"), the fields (proto names) that are not kept whole. */
export type WalkSpec = Readonly<Record<string, Readonly<Record<string, FieldAction>>>>;

export type WireProblem = 'truncated' | 'corrupt' | 'deep';

/** Where and why the walk stopped. Never shown as is: readers turn it into an OnnxFormatError. */
export class WireError extends Error {
  constructor(
    readonly problem: WireProblem,
    readonly offset: number,
    /** Field path from the root, such as "graph.node.attribute.t". */
    readonly where: string,
    readonly detail: string,
  ) {
    super(`${problem} at byte ${offset}${where ? ` in ${where}` : ''}: ${detail}`);
  }
}

/** The nesting limit of protobuf-es and of protobuf C++ (so of onnxruntime): deeper inputs fail in both. */
export const MAX_DEPTH = 100;

const WT_VARINT = 0;
const WT_I64 = 1;
const WT_LEN = 2;
const WT_SGROUP = 3;
const WT_EGROUP = 4;
const WT_I32 = 5;

/** A bounded window over the input: bytes [base, base + buf.length); the cursor is at base + i. */
class Cursor {
  buf: Uint8Array = new Uint8Array(0);
  view = new DataView(this.buf.buffer);
  base = 0;
  i = 0;
  /** Low and high 32 bits of the last varint read. */
  lo = 0;
  hi = 0;
  readonly path: string[] = [];
  constructor(readonly size: number) {}

  pos(): number {
    return this.base + this.i;
  }
  avail(): number {
    return this.buf.length - this.i;
  }
  /** True when the buffer holds the input's last byte: asking the driver for more is pointless. */
  atEnd(): boolean {
    return this.base + this.buf.length >= this.size;
  }
  setWindow(buf: Uint8Array, base: number): void {
    this.i = this.pos() - base;
    this.buf = buf;
    this.base = base;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  fail(problem: WireProblem, detail: string, at = this.pos()): WireError {
    return new WireError(problem, at, this.path.join('.'), detail);
  }
  /** The input or the enclosing message ends before `pos + n`. */
  overrun(n: number, limit: number, what: string): WireError {
    const span = `${[...this.path, what].join('.')} (bytes ${this.pos()} to ${this.pos() + n})`;
    return limit >= this.size ? this.fail('truncated', `${span} runs past the end of the input`) : this.fail('corrupt', `${span} runs past the end of its message, at byte ${limit}`);
  }
}

/** The walk: yields how many bytes it needs buffered at the cursor, returns at the end of the message. */
type Walk = Generator<number, void, void>;

interface FieldPlan {
  no: number;
  name: string;
  local: string;
  list: boolean;
  /** Wire type of one element: varint, 32-bit, 64-bit or length-delimited. */
  wire: number;
  /** A repeated numeric field, which may also arrive packed. */
  packable: boolean;
  /** Scalar type, enums as INT32; undefined for messages. */
  scalar: ScalarType | undefined;
  /** Values of a closed enum: others are ignored, as protobuf-es does (it files them as unknown fields). */
  enumValues: Set<number> | undefined;
  message: MessagePlan | undefined;
  oneof: string | undefined;
  action: 'keep' | FieldAction;
}

interface MessagePlan {
  typeName: string;
  fields: (FieldPlan | undefined)[];
  /** A fresh object with the zero value of every kept field. */
  create(): Record<string, unknown>;
}

const plans = new WeakMap<DescMessage, Map<WalkSpec, MessagePlan>>();

/** The compiled walk plan of a message type under a spec (cached: specs are module constants). */
function planFor(desc: DescMessage, spec: WalkSpec): MessagePlan {
  let bySpec = plans.get(desc);
  if (!bySpec) plans.set(desc, (bySpec = new Map()));
  let plan = bySpec.get(spec);
  if (plan) return plan;
  const fields: (FieldPlan | undefined)[] = [];
  plan = { typeName: desc.typeName, fields, create: () => ({}) };
  bySpec.set(spec, plan); // before the fields: message types refer to each other
  const actions = spec[desc.typeName] ?? {};
  const zeros: [string, () => unknown][] = [];
  const oneofs = new Set<string>();
  for (const f of desc.fields) {
    const p = fieldPlan(f, spec, actions[f.name] ?? 'keep');
    fields[f.number] = p;
    if (p.action === 'skip') continue;
    if (p.oneof) oneofs.add(p.oneof);
    else if (p.list) zeros.push([p.local, () => []]);
    else if (!p.message) zeros.push([p.local, zeroOf(p)]);
  }
  for (const o of oneofs) zeros.push([o, () => ({ case: undefined })]);
  plan.create = () => {
    const o: Record<string, unknown> = {};
    for (const [k, z] of zeros) o[k] = z();
    return o;
  };
  return plan;
}

function fieldPlan(f: DescField, spec: WalkSpec, action: 'keep' | FieldAction): FieldPlan {
  const list = f.fieldKind === 'list';
  const kind = list ? f.listKind : f.fieldKind;
  if (kind === 'map') throw new Error(`map fields are not supported (${f.name})`);
  const scalar = kind === 'scalar' ? f.scalar! : kind === 'enum' ? ScalarType.INT32 : undefined;
  const en = f.fieldKind === 'enum' || (f.fieldKind === 'list' && f.listKind === 'enum') ? f.enum : undefined;
  return {
    no: f.number,
    name: f.name,
    local: f.localName,
    list,
    wire: scalar === undefined ? WT_LEN : wireOf(scalar),
    packable: list && scalar !== undefined && scalar !== ScalarType.STRING && scalar !== ScalarType.BYTES,
    scalar,
    enumValues: en && !en.open ? new Set(en.values.map((v) => v.number)) : undefined,
    message: f.message ? planFor(f.message, spec) : undefined,
    oneof: f.oneof?.localName,
    action,
  };
}

function wireOf(t: ScalarType): number {
  switch (t) {
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WT_I64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WT_I32;
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WT_LEN;
    default:
      return WT_VARINT;
  }
}

function zeroOf(p: FieldPlan): () => unknown {
  switch (p.scalar) {
    case ScalarType.STRING:
      return () => '';
    case ScalarType.BYTES:
      return p.action === 'length' ? () => ({ length: 0 }) : () => new Uint8Array(0);
    case ScalarType.BOOL:
      return () => false;
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return () => 0n;
    default:
      return () => 0;
  }
}

/**
 * Walks one message ending at input offset `end`, filling `target` (undefined: check only, build nothing).
 * Bytes must be asked for before they are read: each field starts by making sure 20 bytes (a tag and any number)
 * are buffered, or all that is left.
 */
function* walkMessage(c: Cursor, plan: MessagePlan, end: number, target: Record<string, unknown> | undefined, depth: number): Walk {
  if (depth > MAX_DEPTH) throw c.fail('deep', `messages nest more than ${MAX_DEPTH} levels deep`);
  while (c.pos() < end) {
    if (c.avail() < 20 && !c.atEnd()) yield 20;
    const at = c.pos();
    readVarint(c, end, 'a field tag');
    const tag = c.lo >>> 0;
    if (c.pos() - at > 5 || c.hi !== 0) throw c.fail('corrupt', 'a field tag overflows 32 bits', at);
    const no = tag >>> 3;
    const wt = tag & 7;
    if (no === 0) throw c.fail('corrupt', 'field number 0', at);
    const f = plan.fields[no];
    if (!f) {
      yield* skipUnknown(c, no, wt, end, depth, at);
      continue;
    }
    const keep = target !== undefined && f.action !== 'skip';
    if (wt === WT_LEN && f.wire !== WT_LEN && !f.packable) throw wrongWire(c, f, wt, at);
    if (wt !== WT_LEN && wt !== f.wire) throw wrongWire(c, f, wt, at);
    if (wt !== WT_LEN) {
      const v = readScalar(c, f.scalar!, end);
      if (keep) store(target, f, v);
      continue;
    }
    const len = readLength(c, end, f.name);
    const start = c.pos();
    if (f.message) {
      let sub: Record<string, unknown> | undefined;
      if (keep) {
        const prev = f.oneof ? oneofValue(target, f) : f.list ? undefined : target[f.local];
        sub = (prev as Record<string, unknown> | undefined) ?? f.message.create();
        if (prev === undefined) store(target, f, sub);
      }
      c.path.push(f.name);
      yield* walkMessage(c, f.message, start + len, sub, depth + 1);
      c.path.pop();
    } else if (f.wire === WT_LEN) {
      if (keep && f.action === 'keep') {
        if (c.avail() < len) yield len;
        const bytes = c.buf.subarray(c.i, c.i + len);
        c.i += len;
        store(target, f, f.scalar === ScalarType.STRING ? utf8(bytes) : bytes.slice());
      } else {
        c.i += len;
        if (keep) store(target, f, { length: len });
      }
    } else if (keep && f.action === 'keep') {
      if (c.avail() < len) yield len;
      const stop = start + len;
      while (c.pos() < stop) store(target, f, readScalar(c, f.scalar!, stop));
    } else {
      checkPacked(c, f, len);
      c.i += len;
    }
  }
}

/**
 * A packed run skipped unread must still hold whole values, or protobuf-es (and C++) would read past its end when
 * decoding it. Varint runs are scanned when buffered (always, in memory); in a file they are trusted unread.
 */
function checkPacked(c: Cursor, f: FieldPlan, len: number): void {
  const width = f.wire === WT_I32 ? 4 : f.wire === WT_I64 ? 8 : 0;
  if (width) {
    if (len % width) throw c.fail('corrupt', `packed ${f.name} holds ${len} bytes, not a multiple of ${width}`);
    return;
  }
  if (c.avail() < len) return;
  const buf = c.buf;
  let run = 0;
  for (let i = c.i, stop = c.i + len; i < stop; i++) {
    if (buf[i]! & 0x80) {
      if (++run === 10) throw c.fail('corrupt', `packed ${f.name} holds a varint longer than 10 bytes`, c.base + i);
    } else run = 0;
  }
  if (run) throw c.fail('corrupt', `packed ${f.name} ends inside a varint`, c.pos() + len);
}

function wrongWire(c: Cursor, f: FieldPlan, wt: number, at: number): WireError {
  return c.fail('corrupt', `field ${f.name} (${f.no}) has wire type ${wt}, not ${f.packable ? `${f.wire} or 2` : f.wire}`, at);
}

function oneofValue(target: Record<string, unknown>, f: FieldPlan): unknown {
  const o = target[f.oneof!] as { case: string | undefined; value?: unknown };
  return o.case === f.local ? o.value : undefined;
}

function store(target: Record<string, unknown>, f: FieldPlan, v: unknown): void {
  if (f.enumValues && !f.enumValues.has(v as number)) return;
  if (f.oneof) target[f.oneof] = { case: f.local, value: v };
  else if (f.list) (target[f.local] as unknown[]).push(v);
  else target[f.local] = v;
}

function* skipUnknown(c: Cursor, no: number, wt: number, end: number, depth: number, at: number): Walk {
  switch (wt) {
    case WT_VARINT:
      readVarint(c, end, `field ${no}`);
      return;
    case WT_I64:
    case WT_I32: {
      const n = wt === WT_I64 ? 8 : 4;
      if (c.pos() + n > end) throw c.overrun(n, end, `field ${no}`);
      c.i += n;
      return;
    }
    case WT_LEN: {
      const n = readLength(c, end, `field ${no}`); // before `c.i +=`, which would read c.i first
      c.i += n;
      return;
    }
    case WT_SGROUP:
      // Groups are proto2 relics no ONNX writer uses; read them as protobuf does, up to the matching end tag.
      if (depth >= MAX_DEPTH) throw c.fail('deep', `groups nest more than ${MAX_DEPTH} levels deep`, at);
      for (;;) {
        if (c.pos() >= end) throw c.overrun(1, end, `group ${no}`);
        if (c.avail() < 20 && !c.atEnd()) yield 20;
        const t = c.pos();
        readVarint(c, end, 'a field tag');
        const tag = c.lo >>> 0;
        if (c.pos() - t > 5 || c.hi !== 0 || tag >>> 3 === 0) throw c.fail('corrupt', 'an invalid field tag', t);
        if ((tag & 7) === WT_EGROUP) {
          if (tag >>> 3 !== no) throw c.fail('corrupt', `group ${no} ends with the end tag of group ${tag >>> 3}`, t);
          return;
        }
        yield* skipUnknown(c, tag >>> 3, tag & 7, end, depth + 1, t);
      }
    case WT_EGROUP:
      throw c.fail('corrupt', `an end-group tag (field ${no}) outside a group`, at);
    default:
      throw c.fail('corrupt', `field ${no} has wire type ${wt}, which protobuf does not have`, at);
  }
}

/** Reads a varint into c.lo / c.hi (the split protobuf-es uses), bounded by `limit`. */
function readVarint(c: Cursor, limit: number, what: string): void {
  const buf = c.buf;
  const stop = Math.min(buf.length, limit - c.base);
  let i = c.i;
  let lo = 0;
  let hi = 0;
  let b = 0x80;
  for (let shift = 0; shift < 28 && b & 0x80; shift += 7) {
    if (i >= stop) throw c.overrun(1, limit, what);
    b = buf[i++]!;
    lo |= (b & 0x7f) << shift;
  }
  if (b & 0x80) {
    if (i >= stop) throw c.overrun(1, limit, what);
    b = buf[i++]!;
    lo |= (b & 0x0f) << 28;
    hi = (b & 0x70) >> 4;
    for (let shift = 3; shift <= 31 && b & 0x80; shift += 7) {
      if (i >= stop) throw c.overrun(1, limit, what);
      b = buf[i++]!;
      hi |= (b & 0x7f) << shift;
    }
    if (b & 0x80) throw c.fail('corrupt', `${what}: a varint longer than 10 bytes`);
  }
  c.i = i;
  c.lo = lo;
  c.hi = hi;
}

/** A length prefix, checked against the enclosing message and the input. */
function readLength(c: Cursor, end: number, what: string): number {
  readVarint(c, end, `the length of ${what}`);
  const n = (c.hi >>> 0) * 0x1_0000_0000 + (c.lo >>> 0);
  if (c.hi >>> 0 > 0x1fffff) throw c.fail('corrupt', `the length of ${what} is impossibly large`);
  if (c.pos() + n > end) throw c.overrun(n, end, what);
  return n;
}

function readScalar(c: Cursor, t: ScalarType, end: number): unknown {
  switch (t) {
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32: {
      if (c.pos() + 4 > end) throw c.overrun(4, end, 'a 32-bit value');
      const i = c.i;
      c.i += 4;
      return t === ScalarType.FLOAT ? c.view.getFloat32(i, true) : t === ScalarType.FIXED32 ? c.view.getUint32(i, true) : c.view.getInt32(i, true);
    }
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64: {
      if (c.pos() + 8 > end) throw c.overrun(8, end, 'a 64-bit value');
      const i = c.i;
      c.i += 8;
      return t === ScalarType.DOUBLE ? c.view.getFloat64(i, true) : t === ScalarType.FIXED64 ? c.view.getBigUint64(i, true) : c.view.getBigInt64(i, true);
    }
  }
  readVarint(c, end, 'a number');
  switch (t) {
    case ScalarType.BOOL:
      return c.lo !== 0 || c.hi !== 0;
    case ScalarType.UINT32:
      return c.lo >>> 0;
    case ScalarType.SINT32:
      return (c.lo >>> 1) ^ -(c.lo & 1);
    case ScalarType.INT64:
      return BigInt.asIntN(64, (BigInt(c.hi >>> 0) << 32n) | BigInt(c.lo >>> 0));
    case ScalarType.UINT64:
      return (BigInt(c.hi >>> 0) << 32n) | BigInt(c.lo >>> 0);
    case ScalarType.SINT64: {
      const u = (BigInt(c.hi >>> 0) << 32n) | BigInt(c.lo >>> 0);
      return (u >> 1n) ^ -(u & 1n);
    }
    default:
      return c.lo | 0; // INT32 and enums
  }
}

const DECODER = new TextDecoder('utf-8', { ignoreBOM: true });

/** As protobuf-es decodes proto2 strings: invalid UTF-8 becomes U+FFFD, a leading BOM stays. */
function utf8(b: Uint8Array): string {
  if (b.length <= 32) {
    let ascii = true;
    for (let i = 0; i < b.length; i++) if (b[i]! > 0x7f) ascii = false;
    if (ascii) return String.fromCharCode(...b);
  }
  return DECODER.decode(b);
}

/** Walks bytes held in memory; throws WireError at the first problem. */
export function walkBytes(bytes: Uint8Array, desc: DescMessage, spec: WalkSpec, build: boolean): Record<string, unknown> | undefined {
  const c = new Cursor(bytes.length);
  c.setWindow(bytes, 0);
  const plan = planFor(desc, spec);
  const root = build ? plan.create() : undefined;
  const walk = walkMessage(c, plan, bytes.length, root, 1);
  // Everything is buffered, so a yield means the walk asks past the end: it will find that out itself.
  while (!walk.next().done);
  return root;
}

/**
 * Bytes read from a file at a time. When every byte is read for a hash, large reads let hashing set the pace; when
 * only the structure is read, small ones keep a read after a skipped tensor from pulling in the next tensor's data.
 */
const HASH_CHUNK = 4 << 20;
const SEEK_CHUNK = 64 << 10;

/**
 * Walks a file through positional reads, building what `spec` keeps. Without `onBytes`, skipped fields are never
 * read (the next read starts past them); with it, every byte of the file is read once, in order, and passed to it
 * (for a hash), skipped fields included.
 */
export async function walkFile(
  fh: import('node:fs/promises').FileHandle,
  size: number,
  desc: DescMessage,
  spec: WalkSpec,
  onBytes?: (b: Uint8Array) => void,
): Promise<Record<string, unknown>> {
  const c = new Cursor(size);
  const plan = planFor(desc, spec);
  const root = plan.create();
  let readTo = 0; // with onBytes: bytes [0, readTo) went through it
  let scratch: Uint8Array | undefined;
  const CHUNK = onBytes ? HASH_CHUNK : SEEK_CHUNK;

  const readFully = async (buf: Uint8Array, from: number, at: number, n: number) => {
    let got = 0;
    while (got < n) {
      const { bytesRead } = await fh.read(buf, from + got, n - got, at + got);
      if (bytesRead === 0) throw c.fail('truncated', `the file became shorter while it was read (${at + got} of ${size} bytes)`, at + got);
      got += bytesRead;
    }
  };

  const fill = async (need: number) => {
    const pos = c.pos();
    const bufEnd = c.base + c.buf.length;
    const kept = pos < bufEnd ? c.buf.subarray(pos - c.base) : new Uint8Array(0);
    if (onBytes) {
      // Fields skipped past the buffer are read anyway, for the hash, into a scratch buffer.
      while (readTo < pos) {
        scratch ??= new Uint8Array(CHUNK);
        const n = Math.min(CHUNK, pos - readTo);
        await readFully(scratch, 0, readTo, n);
        onBytes(scratch.subarray(0, n));
        readTo += n;
      }
    }
    const len = Math.min(Math.max(need, CHUNK), size - pos);
    const buf = new Uint8Array(len);
    buf.set(kept);
    await readFully(buf, kept.length, pos + kept.length, len - kept.length);
    if (onBytes) {
      onBytes(buf.subarray(kept.length));
      readTo = pos + len;
    }
    c.setWindow(buf, pos);
  };

  const walk = walkMessage(c, plan, size, root, 1);
  for (let r = walk.next(); !r.done; r = walk.next()) await fill(r.value);
  if (onBytes) {
    // The walk ended at the end of the file; what it skipped at the very end is still to be hashed.
    while (readTo < size) {
      scratch ??= new Uint8Array(CHUNK);
      const n = Math.min(CHUNK, size - readTo);
      await readFully(scratch, 0, readTo, n);
      onBytes(scratch.subarray(0, n));
      readTo += n;
    }
  }
  return root;
}
