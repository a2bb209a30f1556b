/**
 * The sensitivity pass of static quantization: which quantized layers hurt fidelity most, and how few of them must
 * stay float for the model's worst output cosine (against the float model, on the given feeds) to reach the gate.
 *
 * Cost, in model builds and loads (each load runs every feed once): 1 for the reference, 1 for the fully quantized
 * model, then, only if that fails the gate, one per candidate for the ranking and about log2(maxKeep) + 1 for the
 * search. The ranking quantizes each candidate alone (all others float): a layer's own damage, measured without
 * the noise of the rest, which also finds each of several fragile layers (keeping one float at a time would not:
 * the others still break the output). The search then keeps the top-k of the ranking float, k found by bisection
 * (fidelity grows with k, near enough), so the cost does not grow with k.
 */
import { isCancelled } from '../errors';
import { compareOutputs } from '../inference/compare';
import type { InferenceHost } from '../inference/host';
import type { Tensor } from '../inference/tensor';
import { quantizationCancelled, throwIfCancelled } from './types';

export interface SensitivityOptions {
  /** The worst output cosine to reach. */
  minCosine: number;
  /** Most layers to keep float; default all candidates. */
  maxKeep?: number;
  signal?: AbortSignal;
  /** Called with the fraction of the planned model runs done. */
  progress?: (fraction: number) => void;
}

export interface SensitivityResult {
  /** Each candidate's worst cosine when it alone is quantized, most harmful first (empty when the gate passed at once). */
  ranking: { node: string; cosine: number }[];
  /** The layers to keep float, most harmful first. */
  keepFloat: string[];
  /** The worst cosine of the model built with keepFloat. */
  cosine: number;
}

type Feeds = Record<string, Tensor>;

export async function sensitivity(
  original: Uint8Array,
  build: (keepFloat: ReadonlySet<string>) => Uint8Array,
  candidates: string[],
  feeds: Feeds[],
  host: InferenceHost,
  opts: SensitivityOptions,
): Promise<SensitivityResult> {
  const maxKeep = Math.max(0, Math.min(opts.maxKeep ?? candidates.length, candidates.length));
  let planned = 2 + candidates.length + Math.ceil(Math.log2(maxKeep + 1)) + 1;
  let done = 0;
  const step = () => opts.progress?.(Math.min(1, ++done / planned));

  const runAll = async (bytes: Uint8Array): Promise<Record<string, Tensor>[]> => {
    throwIfCancelled(opts.signal);
    try {
      const s = await host.load({ bytes, key: `sensitivity-${Date.now()}-${Math.random()}`, label: 'a sensitivity candidate' }, {}, { signal: opts.signal });
      try {
        const out: Record<string, Tensor>[] = [];
        for (const f of feeds) out.push((await host.run(s.id, f, { signal: opts.signal })).outputs);
        return out;
      } finally {
        await host.release(s.id);
      }
    } catch (e) {
      if (isCancelled(e)) throw quantizationCancelled();
      throw e;
    }
  };
  const reference = await runAll(original);
  step();
  /** The worst cosine over every float output of every feed (1 when there is none); -1 for a build onnxruntime refuses. */
  const worst = async (keep: ReadonlySet<string>): Promise<number> => {
    let outs: Record<string, Tensor>[];
    try {
      outs = await runAll(build(keep));
    } catch (e) {
      if (isCancelled(e)) throw e;
      step();
      return -1;
    }
    step();
    let w = 1;
    outs.forEach((o, i) => {
      for (const c of compareOutputs(reference[i]!, o, { atol: Infinity, rtol: Infinity, minCosine: -1 }).outputs) {
        if (c.cosine !== null) w = Math.min(w, Number.isNaN(c.cosine) ? -1 : c.cosine);
      }
    });
    return w;
  };

  const full = await worst(new Set());
  if (full >= opts.minCosine || !candidates.length || maxKeep === 0) {
    opts.progress?.(1);
    return { ranking: [], keepFloat: [], cosine: full };
  }

  const ranking: { node: string; cosine: number }[] = [];
  // A candidate onnxruntime cannot load (one of its rewrites fails on that mix of float and int8 layers) ranks as
  // the most harmful: keeping it float is the safe answer.
  for (const c of candidates) ranking.push({ node: c, cosine: await worst(new Set(candidates.filter((x) => x !== c))) });
  ranking.sort((a, b) => a.cosine - b.cosine);
  const prefix = (k: number) => new Set(ranking.slice(0, k).map((r) => r.node));

  // Bisection for the fewest top-ranked layers that pass; `hi` passes (or is maxKeep, the best allowed).
  let hi = maxKeep;
  let hiCos = await worst(prefix(hi));
  if (hiCos < opts.minCosine) {
    opts.progress?.(1);
    return { ranking, keepFloat: [...prefix(hi)], cosine: hiCos };
  }
  let lo = 0; // fails (the fully quantized model)
  planned = done + Math.ceil(Math.log2(Math.max(1, hi - lo)));
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    const c = await worst(prefix(mid));
    if (c >= opts.minCosine) {
      hi = mid;
      hiCos = c;
    } else lo = mid;
  }
  opts.progress?.(1);
  return { ranking, keepFloat: [...prefix(hi)], cosine: hiCos };
}
