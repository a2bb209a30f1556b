"""A second, independent measurement of a quantized model against its original, in Python onnxruntime (1.31.1 in the
reference venv), for the quantization bench (test/bench/quantize-peers.ts): the same inputs through both, with one
intra-op thread, for Modelyard's outputs and the peers' alike.

    python quant_eval.py PAIRS.json [--runs N] [--warmup N] [--threads N]

PAIRS.json is a list of pairs (or {"pairs": [...]}), each

    {"label": "any text", "a": "original.onnx", "b": "quantized.onnx", "feeds": [SAMPLE, ...]}

A SAMPLE is a folder of .npy files, one per input, named after the input or its safe name (each run of
characters other than [A-Za-z0-9_.-] as one "_"; a model with one input takes a folder's only .npy), or a .npz
file keyed by input name, as in quant_peers.py. Both sessions: CPUExecutionProvider, intra_op_num_threads=1
(--threads), inter_op_num_threads=1, sequential execution, the default graph optimizations (ORT_ENABLE_ALL, so
onnxruntime's quantized fusions apply).

Prints one JSON list, a result a pair in the same order:
  {"label", "a", "b", "ok", "error", "samples", "load_ms": {"a", "b"},
   "outputs": [{"name", "shape", "cosine", "max_abs", "mean_abs", "top1", "top1_rows"}],
   "latency": {"runs", "a_ms", "b_ms", "ratio", "a_min_ms", "b_min_ms", "ratio_min"}}
  cosine, max_abs, mean_abs  over every sample's output, flattened and concatenated, in float64 (B's output cast
                             to float32 first when it is float16);
  top1                       share of rows (every index but the last axis, every sample) where argmax over the last
                             axis agrees; null when the last axis has size 1 or the output is a scalar;
  latency                    --runs interleaved rounds (default 20) after --warmup rounds (default 2), round i
                             feeding sample i mod samples to A then B (even rounds) or B then A (odd rounds);
                             a_ms, b_ms the medians, ratio b_ms / a_ms; a_min_ms, b_min_ms, ratio_min the same
                             from the fastest runs (steadier when other processes share the cores).
A pair that fails (a session that cannot be created, a run that throws) reports ok false and the error's first
line; the other pairs go on.
"""
import argparse
import json
import sys
import time
import warnings

import numpy as np
import onnxruntime as ort

from npy_samples import load_sample


def session(path, threads):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    t0 = time.perf_counter()
    s = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return s, (time.perf_counter() - t0) * 1000


def first_line(e):
    return f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:500]}"


def compare(name, outs_a, outs_b):
    a = np.concatenate([np.asarray(o, dtype=np.float64).ravel() for o in outs_a])
    b = np.concatenate([np.asarray(o).astype(np.float32).astype(np.float64).ravel() for o in outs_b])
    res = {"name": name, "shape": list(np.shape(outs_a[0])), "cosine": None, "max_abs": None, "mean_abs": None, "top1": None, "top1_rows": 0}
    if a.shape != b.shape:
        res["error"] = f"{a.size} elements in A, {b.size} in B"
        return res
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na > 0 and nb > 0:
        res["cosine"] = float(np.dot(a, b) / (na * nb))
    elif na == 0 and nb == 0:
        res["cosine"] = 1.0
    else:
        res["cosine"] = 0.0
    d = np.abs(a - b)
    res["max_abs"] = float(d.max()) if d.size else 0.0
    res["mean_abs"] = float(d.mean()) if d.size else 0.0
    shape = np.shape(outs_a[0])
    if len(shape) >= 1 and shape[-1] > 1 and np.issubdtype(np.asarray(outs_a[0]).dtype, np.floating):
        agree = rows = 0
        for oa, ob in zip(outs_a, outs_b):
            ia = np.argmax(np.asarray(oa), axis=-1)
            ib = np.argmax(np.asarray(ob).astype(np.float32), axis=-1)
            agree += int(np.sum(ia == ib))
            rows += ia.size
        res["top1"] = agree / rows if rows else None
        res["top1_rows"] = rows
    return res


def evaluate(pair, runs, warmup, threads):
    res = {"label": pair.get("label"), "a": pair.get("a"), "b": pair.get("b"), "ok": False, "error": None, "samples": 0, "load_ms": None, "outputs": [], "latency": None}
    try:
        sa, la = session(pair["a"], threads)
        sb, lb = session(pair["b"], threads)
        res["load_ms"] = {"a": la, "b": lb}
        names = [i.name for i in sa.get_inputs()]
        names_b = [i.name for i in sb.get_inputs()]
        if sorted(names) != sorted(names_b):
            raise ValueError(f"the inputs differ: A has {names}, B has {names_b}")
        feeds = [load_sample(p, names) for p in pair["feeds"]]
        if not feeds:
            raise ValueError("no feeds")
        res["samples"] = len(feeds)
        out_names = [o.name for o in sa.get_outputs()]
        b_names = {o.name for o in sb.get_outputs()}
        common = [n for n in out_names if n in b_names]
        if not common:
            raise ValueError(f"no output names in common: A has {out_names}, B has {sorted(b_names)}")
        outs_a = [sa.run(common, f) for f in feeds]
        outs_b = [sb.run(common, f) for f in feeds]
        res["outputs"] = [compare(n, [o[k] for o in outs_a], [o[k] for o in outs_b]) for k, n in enumerate(common)]
        ta, tb = [], []
        for i in range(warmup + runs):
            f = feeds[i % len(feeds)]
            order = ((sa, ta), (sb, tb)) if i % 2 == 0 else ((sb, tb), (sa, ta))
            for s, times in order:
                t0 = time.perf_counter()
                s.run(None, f)
                if i >= warmup:
                    times.append((time.perf_counter() - t0) * 1000)
        if runs:
            ma, mb = float(np.median(ta)), float(np.median(tb))
            na, nb = min(ta), min(tb)
            res["latency"] = {
                "runs": runs,
                "a_ms": ma,
                "b_ms": mb,
                "ratio": mb / ma if ma > 0 else None,
                "a_min_ms": na,
                "b_min_ms": nb,
                "ratio_min": nb / na if na > 0 else None,
            }
        res["ok"] = True
    except Exception as e:  # onnxruntime raises Fail, InvalidGraph, RuntimeException...: reported, the others go on
        res["error"] = first_line(e)
    return res


def main(argv):
    ap = argparse.ArgumentParser(description="original vs quantized in onnxruntime", usage=__doc__)
    ap.add_argument("pairs")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    ort.set_default_logger_severity(3)
    with open(args.pairs) as f:
        pairs = json.load(f)
    if isinstance(pairs, dict):
        pairs = pairs["pairs"]
    print(json.dumps([evaluate(p, args.runs, args.warmup, args.threads) for p in pairs]))


if __name__ == "__main__":
    main(sys.argv[1:])
