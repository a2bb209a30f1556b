import * as z from 'zod/mini';
import type { EnvReport } from '../../core/env/report';
import type { PanelContract } from '../contract';

export type { EnvReport, Part } from '../../core/env/report';

const str = z.string().check(z.maxLength(4096));

function part<T extends z.ZodMiniType>(value: T) {
  return z.discriminatedUnion('ok', [
    z.object({ ok: z.literal(true), value, ms: z.number() }),
    z.object({ ok: z.literal(false), error: str, hint: z.optional(str), ms: z.number() }),
  ]);
}

export const envReportSchema = z.object({
  generatedAt: str,
  modelyard: z.object({ version: str }),
  host: z.object({
    application: str,
    appVersion: z.optional(str),
    uiKind: z.optional(str),
    remoteName: z.optional(str),
  }),
  node: z.object({
    version: str,
    platform: str,
    arch: str,
    cpus: z.number(),
    memoryGiB: z.number(),
    modules: str,
  }),
  onnxruntime: part(
    z.object({
      version: str,
      executionProviders: z.array(z.object({ name: str, bundled: z.boolean() })).check(z.maxLength(64)),
      location: str,
    }),
  ),
  git: part(z.object({ version: str, path: str })),
  gitLfs: part(z.object({ version: str })),
  repositories: part(
    z
      .array(
        z.object({
          root: str,
          branch: z.optional(str),
          head: z.optional(str),
          detached: z.boolean(),
          shallow: z.boolean(),
        }),
      )
      .check(z.maxLength(10_000)),
  ),
});

// The schema must describe exactly the core's type: this line stops compiling when either drifts.
const _sameShape: z.ZodMiniType<EnvReport> = envReportSchema;
void _sameShape;

export const environmentToHost = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('refresh') }),
  z.object({ type: z.literal('copyMarkdown') }),
  z.object({ type: z.literal('showLog') }),
]);

export const environmentToWebview = z.discriminatedUnion('type', [
  z.object({ type: z.literal('loading') }),
  z.object({ type: z.literal('report'), report: envReportSchema }),
  z.object({ type: z.literal('copied') }),
]);

export const environmentInitial = z.object({ report: z.optional(envReportSchema) });

export type EnvironmentToHost = z.infer<typeof environmentToHost>;
export type EnvironmentToWebview = z.infer<typeof environmentToWebview>;
export type EnvironmentInitial = z.infer<typeof environmentInitial>;

export const environmentContract: PanelContract<EnvironmentToHost, EnvironmentToWebview, EnvironmentInitial> = {
  viewType: 'modelyard.environment',
  toHost: environmentToHost,
  toWebview: environmentToWebview,
  initial: environmentInitial,
};
