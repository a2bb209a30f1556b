// Real models and Python references for the tests in plain Node (unit, conformance, bench).
import path from 'node:path';
import { ensureFixtures, manifest } from '../../scripts/fixtures.mjs';
import { ensurePythonRefs } from '../../scripts/pyrefs.mjs';

export interface FixtureModel {
  file: string;
  package: string;
  about: string;
  sha256: string;
}

/** Every fixture model of test/fixtures/models.json (REFERENCE.md §7), fetched and checked on first use. */
export const FIXTURES: FixtureModel[] = (manifest as { models: FixtureModel[] }).models;

/** Fixture files that are not models (real speech …), under `data` in the same manifest. */
export const FIXTURE_DATA: FixtureModel[] = (manifest as { data?: FixtureModel[] }).data ?? [];

let dir: string | undefined;
/** The path of a fixture model or data file, e.g. fixture('hello_deepa.onnx'), fixture('jfk.wav'). */
export function fixture(file: string): string {
  if (![...FIXTURES, ...FIXTURE_DATA].some((m) => m.file === file)) throw new Error(`${file} is not a fixture (test/fixtures/models.json)`);
  dir ??= ensureFixtures({ quiet: true }) as string;
  return path.join(dir, file);
}

/** The python of the venv with onnx, onnxruntime and onnxconverter-common pinned (scripts/pyrefs.mjs). */
export function python(): string {
  return ensurePythonRefs() as string;
}
