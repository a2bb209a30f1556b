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
import { parseTree, printParseErrorCode, type Node as JsonNode, type ParseError } from 'jsonc-parser';
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
  // JSON.parse judges the syntax and gives the value; it forgets positions, so one pass of jsonc-parser (strict JSON:
  // no comments, no trailing commas) gives them: where the syntax breaks, and where each value starts.
  const errors: ParseError[] = [];
  const tree = parseTree(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    const message = (e instanceof Error ? e.message : String(e)).replace(/\s*\(line \d+ column \d+\)/, '');
    const pos = /at position (\d+)/.exec(message)?.[1];
    const offset = pos !== undefined ? Number(pos) : errors.length ? Math.min(...errors.map((x) => errorOffset(text, x))) : undefined;
    const at = offset !== undefined ? lineColumn(text, offset) : undefined;
    // V8 quotes the text around the error ("…"tests": [,]…" is not valid JSON); the line and column say it better.
    const why = message.replace(/ in JSON at position \d+/, '').replace(/, "(?:[^"]|"(?!\s+is not valid JSON))*" is not valid JSON$/s, '').replace(/\.$/, '');
    throw new UserError(`${file}${at ? `:${at.line}:${at.column}` : ''} is not valid JSON: ${why}.`, 'Fix the syntax and save the file.');
  }
  const r = modelTestFileSchema.safeParse(raw);
  if (!r.success) {
    const { path: at, message } = describeIssue(r.error.issues[0] as Issue, []);
    const where = at.length ? at.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : 'the file';
    const line = lineOfPath(text, tree, at);
    throw new UserError(`${file}${line ? `:${line}` : ''}: ${where} ${message}.`, 'An input is a file or one of {npy}, {json}, {value}, {image}, {wav}, {random}, {zeros: true}, {ones: true}; an expected output a file or one of {npy}, {json}, {value}, {top1}, {range}, {shape}.');
  }
  const names = new Set<string>();
  for (const t of r.data.tests) {
    if (names.has(t.name)) throw new UserError(`${file}: two tests are named '${t.name}'.`, 'Give each test its own name.');
    names.add(t.name);
  }
  // Each test's line (0-based) is where its "name" is, found as schema errors find theirs.
  const locations = r.data.tests.map((t, i) => ({ name: t.name, line: (lineOfPath(text, tree, ['tests', i, 'name']) ?? 1) - 1 }));
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
 * deepest existing part does; of a key given twice, the last, as JSON.parse keeps); undefined without a tree.
 */
function lineOfPath(text: string, tree: JsonNode | undefined, target: readonly (string | number)[]): number | undefined {
  let node = tree;
  for (const key of target) {
    const next =
      typeof key === 'number'
        ? node?.type === 'array' ? node.children?.[key] : undefined
        : node?.type === 'object' ? node.children?.findLast((p) => p.children?.[0]?.value === key)?.children?.[1] : undefined;
    if (!next) break;
    node = next;
  }
  return node && lineColumn(text, node.offset).line;
}

/**
 * Where the syntax breaks, as a character offset. jsonc-parser names a bad string or number by its first character;
 * the character JSON refuses in it (or where it ends) says it better.
 */
function errorOffset(text: string, e: ParseError): number {
  switch (printParseErrorCode(e.error)) {
    case 'UnexpectedEndOfString':
    case 'InvalidCharacter':
    case 'InvalidEscapeCharacter':
    case 'InvalidUnicode': {
      const bad = /[^\x20-\uffff]|\\(?:[^"\\/bfnrtu]|u(?![0-9a-fA-F]{4}))/.exec(text.slice(e.offset + 1, e.offset + e.length));
      return bad ? e.offset + 1 + bad.index + (bad[0].length > 1 ? 1 : 0) : e.offset + e.length;
    }
    case 'UnexpectedEndOfNumber':
      return e.offset + (/-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y.exec(text.slice(e.offset))?.[0].length ?? 0);
    default:
      return e.offset;
  }
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
