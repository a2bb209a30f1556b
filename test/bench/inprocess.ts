// The baseline of the serving benchmarks: onnxruntime-node in this process, `inFlight` calls of session.run at once.
import type * as Ort from 'onnxruntime-node';

/** Runs per second over `seconds`, after `warmupMs` of the same loop. */
export async function inProcessRate(
  ort: typeof Ort,
  file: string,
  feeds: Record<string, Ort.Tensor>,
  opts: { inFlight: number; seconds: number; warmupMs: number; sessionOptions?: Ort.InferenceSession.SessionOptions },
): Promise<number> {
  const session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'], logSeverityLevel: 3, ...opts.sessionOptions });
  const loop = async (ms: number) => {
    const end = performance.now() + ms;
    let n = 0;
    await Promise.all(
      Array.from({ length: opts.inFlight }, async () => {
        while (performance.now() < end) {
          await session.run(feeds);
          n++;
        }
      }),
    );
    return n;
  };
  await loop(opts.warmupMs);
  const t0 = performance.now();
  const n = await loop(opts.seconds * 1000);
  const rate = n / ((performance.now() - t0) / 1000);
  await session.release();
  return rate;
}
