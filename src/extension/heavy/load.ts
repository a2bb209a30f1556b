import path from 'node:path';
import type * as Heavy from './index';

export type HeavyModule = typeof Heavy;

let loaded: Promise<HeavyModule> | undefined;

/**
 * The parts of Modelyard that only some commands need (the ONNX codec and summary, the inference client, input
 * decoders for images and audio) live in their own bundle, dist/heavy.js, loaded on first use: activation never
 * evaluates them. Type-only import above; the require below is resolved at run time, beside dist/extension.js.
 */
export function loadHeavy(): Promise<HeavyModule> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a bundle beside this one, chosen at run time
  loaded ??= Promise.resolve().then(() => require(path.join(__dirname, 'heavy.js')) as HeavyModule);
  return loaded;
}
