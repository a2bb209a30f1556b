import * as z from 'zod/mini';
import type { PanelContract } from '../contract';
import { tensorInfoSchema } from './playground';

/** The model card: what the `.onnx` custom editor shows for a file or a version of one read from git. */

const str = z.string().check(z.maxLength(4096));
const long = z.string().check(z.maxLength(100_000));
const count = z.number().check(z.minimum(0));

export const summaryViewSchema = z.object({
  fileSize: count,
  sha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  irVersion: z.number(),
  opsets: z.array(z.object({ domain: str, version: z.number() })).check(z.maxLength(256)),
  producer: z.object({ name: str, version: str }),
  domain: str,
  modelVersion: z.number(),
  docString: long,
  metadata: z.array(z.object({ key: str, value: long })).check(z.maxLength(1024)),
  inputs: z.array(tensorInfoSchema).check(z.maxLength(4096)),
  outputs: z.array(tensorInfoSchema).check(z.maxLength(4096)),
  ops: z.array(z.object({ op: str, domain: str, count })).check(z.maxLength(4096)),
  nodeCount: count,
  parameters: z.object({
    count,
    bytes: count,
    byDtype: z.array(z.object({ dtype: str, count, bytes: count })).check(z.maxLength(64)),
  }),
  subgraphs: count,
  functions: count,
  externalData: z.array(z.object({ location: str, tensors: count, bytes: count })).check(z.maxLength(4096)),
  warnings: z.array(str).check(z.maxLength(1024)),
  summaryMs: z.number(),
});

export const cardToHost = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('run') }),
  z.object({ type: z.literal('benchmark') }),
  z.object({ type: z.literal('compare') }),
  z.object({ type: z.literal('quantize') }),
  z.object({ type: z.literal('deploy') }),
  z.object({ type: z.literal('copy'), format: z.enum(['markdown', 'json', 'sha256']) }),
  z.object({ type: z.literal('showLog') }),
]);

export const cardToWebview = z.discriminatedUnion('type', [
  z.object({ type: z.literal('summary'), summary: summaryViewSchema }),
  z.object({ type: z.literal('error'), message: str, hint: z.optional(str) }),
  z.object({ type: z.literal('copied'), what: str }),
]);

export const cardInitial = z.object({
  label: str,
  detail: z.optional(str),
  /** A version read from git rather than the working tree. */
  version: z.optional(str),
});

export type SummaryView = z.infer<typeof summaryViewSchema>;
export type CardToHost = z.infer<typeof cardToHost>;
export type CardToWebview = z.infer<typeof cardToWebview>;
export type CardInitial = z.infer<typeof cardInitial>;

export const cardContract: PanelContract<CardToHost, CardToWebview, CardInitial> = {
  viewType: 'modelyard.onnx',
  toHost: cardToHost,
  toWebview: cardToWebview,
  initial: cardInitial,
};
