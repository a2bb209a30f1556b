/**
 * Model tests: `*.modeltest.json` files beside the models, run from the Testing view and by `modelyard test`.
 *
 *   {
 *     "model": "../models/vad/silero_vad_v5.onnx",      a path relative to this file, or a registry reference
 *                                                         ("vad@v1.2.0", "vad#prod", "vad@latest")
 *     "tolerance": { "atol": 1e-4, "rtol": 1e-3 },        default for every test (allclose: |a−e| ≤ atol + rtol·|e|)
 *     "tests": [
 *       {
 *         "name": "speech is detected",
 *         "inputs": {
 *           "input": { "wav": "data/speech.wav", "sampleRate": 16000 },
 *           "state": { "zeros": true },
 *           "sr": { "value": 16000 }
 *         },
 *         "shapes": { "input": [1, 512], "state": [2, 1, 128] },
 *         "expected": {
 *           "output": "expected/speech.output.npy",
 *           "stateN": { "shape": [2, 1, 128] }
 *         }
 *       }
 *     ]
 *   }
 *
 * An input is a file path (.npy, .json, .png/.jpg, .wav), or one of {npy}, {json}, {value}, {image, layout,
 * channelOrder, scale, mean, std}, {wav, sampleRate}, {random: {seed, min, max}}, {zeros: true}, {ones: true}.
 * An expected output is a file path (.npy, .json), or {value}, {top1: class}, {range: [min, max]}, {shape}, with an
 * optional {tolerance} of its own. Paths are relative to the test file.
 */
import * as z from 'zod/mini';
import { UserError } from '../errors';

const path = z.string().check(z.minLength(1), z.maxLength(4096));
const finite = z.number().check(z.refine(Number.isFinite, { message: 'must be a finite number' }));
const shape = z.array(z.int().check(z.minimum(0))).check(z.maxLength(64));
const tolerance = z.strictObject({ atol: z.optional(finite.check(z.minimum(0))), rtol: z.optional(finite.check(z.minimum(0))) });

export const inputRefSchema = z.union([
  path,
  z.strictObject({ npy: path }),
  z.strictObject({ json: path }),
  z.strictObject({ value: z.unknown() }),
  z.strictObject({
    image: path,
    layout: z.optional(z.enum(['NCHW', 'NHWC'])),
    channelOrder: z.optional(z.enum(['RGB', 'BGR'])),
    scale: z.optional(finite),
    mean: z.optional(z.array(finite).check(z.maxLength(4))),
    std: z.optional(z.array(finite).check(z.maxLength(4))),
  }),
  z.strictObject({ wav: path, sampleRate: z.optional(z.int().check(z.minimum(1000), z.maximum(384_000))) }),
  z.strictObject({
    random: z.strictObject({
      seed: z.optional(z.int()),
      distribution: z.optional(z.enum(['uniform', 'normal'])),
      min: z.optional(finite),
      max: z.optional(finite),
      mean: z.optional(finite),
      std: z.optional(finite),
    }),
  }),
  z.strictObject({ zeros: z.literal(true) }),
  z.strictObject({ ones: z.literal(true) }),
]);

export const expectedRefSchema = z.union([
  path,
  z.strictObject({ npy: path, tolerance: z.optional(tolerance) }),
  z.strictObject({ json: path, tolerance: z.optional(tolerance) }),
  z.strictObject({ value: z.unknown(), tolerance: z.optional(tolerance) }),
  z.strictObject({ top1: z.int().check(z.minimum(0)) }),
  z.strictObject({ range: z.tuple([finite, finite]) }),
  z.strictObject({ shape }),
]);

export const modelTestCaseSchema = z.strictObject({
  name: z.string().check(z.minLength(1), z.maxLength(500)),
  inputs: z.record(z.string(), inputRefSchema),
  shapes: z.optional(z.record(z.string(), shape)),
  expected: z.record(z.string(), expectedRefSchema),
  tolerance: z.optional(tolerance),
  skip: z.optional(z.union([z.boolean(), z.string()])),
});

export const modelTestFileSchema = z.strictObject({
  $schema: z.optional(z.string()),
  model: z.string().check(z.minLength(1), z.maxLength(4096)),
  tolerance: z.optional(tolerance),
  tests: z.array(modelTestCaseSchema).check(z.minLength(1), z.maxLength(10_000)),
});

export type InputRef = z.infer<typeof inputRefSchema>;
export type ExpectedRef = z.infer<typeof expectedRefSchema>;
export type ModelTestCase = z.infer<typeof modelTestCaseSchema>;
export type ModelTestFile = z.infer<typeof modelTestFileSchema>;
export type Tolerance = { atol: number; rtol: number };

export const DEFAULT_TOLERANCE: Tolerance = { atol: 1e-5, rtol: 1e-4 };

/** Where in the JSON text a test is, so the Testing view can put its result on the right line. */
export interface CaseLocation {
  name: string;
  line: number;
}

/** Parses a test file's text; a UserError names the file, the JSON path and what is wrong. */
export function parseModelTestFile(text: string, file: string): { spec: ModelTestFile; locations: CaseLocation[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    const message = (e instanceof Error ? e.message : String(e)).replace(/\s*\(line \d+ column \d+\)/, '');
    const pos = /at position (\d+)/.exec(message)?.[1];
    const offset = pos !== undefined ? Number(pos) : jsonErrorOffset(text);
    const at = offset !== undefined ? lineColumn(text, offset) : undefined;
    // V8 quotes the text around the error ("…"tests": [,]…" is not valid JSON); the line and column say it better.
    const why = message.replace(/ in JSON at position \d+/, '').replace(/, "(?:[^"]|"(?!\s+is not valid JSON))*" is not valid JSON$/s, '').replace(/\.$/, '');
    throw new UserError(`${file}${at ? `:${at.line}:${at.column}` : ''} is not valid JSON: ${why}.`, 'Fix the syntax and save the file.');
  }
  const r = modelTestFileSchema.safeParse(raw);
  if (!r.success) {
    const { path: at, message } = describeIssue(r.error.issues[0] as Issue, []);
    const where = at.length ? at.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : 'the file';
    const line = lineOfPath(text, at);
    throw new UserError(`${file}${line ? `:${line}` : ''}: ${where} ${message}.`, 'An input is a file or one of {npy}, {json}, {value}, {image}, {wav}, {random}, {zeros: true}, {ones: true}; an expected output a file or one of {npy}, {json}, {value}, {top1}, {range}, {shape}.');
  }
  const names = new Set<string>();
  for (const t of r.data.tests) {
    if (names.has(t.name)) throw new UserError(`${file}: two tests are named '${t.name}'.`, 'Give each test its own name.');
    names.add(t.name);
  }
  // JSON.parse forgets positions: each test's line (0-based) is where its "name" is, found by the same walk that
  // points schema errors at their line.
  const locations = r.data.tests.map((t, i) => ({ name: t.name, line: (lineOfPath(text, ['tests', i, 'name']) ?? 1) - 1 }));
  return { spec: r.data, locations };
}

export function toleranceOf(file: ModelTestFile, test: ModelTestCase, expected?: ExpectedRef): Tolerance {
  const own = expected && typeof expected === 'object' && 'tolerance' in expected ? expected.tolerance : undefined;
  return {
    atol: own?.atol ?? test.tolerance?.atol ?? file.tolerance?.atol ?? DEFAULT_TOLERANCE.atol,
    rtol: own?.rtol ?? test.tolerance?.rtol ?? file.tolerance?.rtol ?? DEFAULT_TOLERANCE.rtol,
  };
}

/** 1-based line and column of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

/**
 * The 1-based line where the value at a JSON path starts (or, when the path goes deeper than the text, where its
 * deepest existing part does); undefined when the text is not JSON. Used to point at a schema error.
 */
export function lineOfPath(text: string, target: readonly (string | number)[]): number | undefined {
  let i = 0;
  let best = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const str = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  // Walks one value; `depth` is how much of the target path leads here (-1 once off the path).
  const value = (depth: number): void => {
    ws();
    if (depth >= 0) best = i;
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        const key = str();
        ws();
        i++; // :
        const on = depth >= 0 && depth < target.length && target[depth] === key;
        value(on ? depth + 1 : -1);
        ws();
        if (text[i++] === '}') return;
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (let k = 0; ; k++) {
        const on = depth >= 0 && depth < target.length && target[depth] === k;
        value(on ? depth + 1 : -1);
        ws();
        if (text[i++] === ']') return;
      }
    } else if (c === '"') str();
    else while (i < text.length && !/[,\]}\s]/.test(text[i]!)) i++;
  };
  try {
    value(0);
  } catch {
    return undefined;
  }
  return lineColumn(text, best).line;
}

interface Issue {
  code: string;
  path: PropertyKey[];
  message?: string;
  expected?: string;
  keys?: string[];
  minimum?: number | bigint;
  maximum?: number | bigint;
  origin?: string;
  values?: unknown[];
  errors?: Issue[][];
}

/** A zod issue in words (zod/mini carries no messages of its own), with its full path. */
function describeIssue(issue: Issue, prefix: (string | number)[]): { path: (string | number)[]; message: string } {
  const at = [...prefix, ...(issue.path as (string | number)[])];
  const many = issue.origin === 'array' || issue.origin === 'string' ? (issue.origin === 'array' ? ' items' : ' characters') : '';
  switch (issue.code) {
    case 'invalid_union': {
      // The alternative whose keys matched (no unknown key, not the wrong kind of value) says what is wrong.
      const branch = issue.errors?.find((b) => b.length > 0 && !b.some((e) => e.path.length === 0 && (e.code === 'unrecognized_keys' || e.code === 'invalid_type')));
      if (branch) return describeIssue(branch[0]!, at);
      const field = at.includes('inputs') ? 'an input' : at.includes('expected') ? 'an expected output' : 'a value';
      return { path: at, message: `is not ${field} this format knows` };
    }
    case 'invalid_type':
      return { path: at, message: issue.expected === 'nonoptional' ? 'is missing' : `must be ${issue.expected === 'object' ? 'an object' : issue.expected === 'array' ? 'an array' : `a ${issue.expected}`}` };
    case 'unrecognized_keys':
      return { path: at, message: `has unknown key${issue.keys && issue.keys.length > 1 ? 's' : ''} ${(issue.keys ?? []).map((k) => `"${k}"`).join(', ')}` };
    case 'too_small':
      return { path: at, message: `must be at least ${String(issue.minimum)}${many}` };
    case 'too_big':
      return { path: at, message: `must be at most ${String(issue.maximum)}${many}` };
    case 'invalid_value':
      return { path: at, message: `must be ${(issue.values ?? []).map((v) => JSON.stringify(v)).join(' or ')}` };
    default:
      return { path: at, message: issue.message && issue.message !== 'Invalid input' ? issue.message : 'is not valid' };
  }
}

/** The offset of the first character that breaks JSON's grammar (for messages that give none), or undefined. */
export function jsonErrorOffset(text: string): number | undefined {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const expect = (re: RegExp) => {
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) fail();
    i += m![0].length;
  };
  const str = () => {
    for (i++; i < text.length && text[i] !== '"'; i++) {
      if (text.charCodeAt(i) < 0x20) fail();
      if (text[i] === '\\') {
        i++;
        if (text[i] === 'u') {
          expect(/u[0-9a-fA-F]{4}/y);
          i--; // the loop steps past the last hex digit
        } else if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) fail();
      }
    }
    if (i >= text.length) fail();
    i++;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        str();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value();
        ws();
        if (text[i] === '}') return void i++;
        if (text[i] !== ',') fail();
        i++;
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ']') return void i++;
        if (text[i] !== ',') fail();
        i++;
      }
    }
    if (c === '"') return str();
    expect(/true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y);
  };
  try {
    value();
    ws();
    return i < text.length ? i : undefined;
  } catch (at) {
    return typeof at === 'number' ? at : undefined;
  }
}
