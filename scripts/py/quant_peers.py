"""The Python peers of Modelyard's quantizer, run side by side with it by the quantization bench
(test/bench/quantize-peers.ts): one process, every job of a JSON job file, one JSON line a job on stdout.

    python quant_peers.py JOBS.json [--repeat N] [--warmup]

JOBS.json is a list of jobs (or {"jobs": [...]}), each

    {"mode": "int8-dynamic" | "int8-static" | "int4" | "fp16",
     "input": "model.onnx", "output": "out.onnx",
     "calibration": [SAMPLE, ...],      int8-static only
     "per_channel": bool,               int8-dynamic, int8-static; omitted: the peer's default (False)
     "block_size": 32,                  int4; omitted: the peer's default (128)
     "symmetric": bool,                 int4; omitted: the peer's default (False, asymmetric with zero points)
     "accuracy_level": 0-4,             int4; omitted: the peer's default (None: no attribute, fp32 compute)
     "preprocess": bool | {...}}        int8-*: run quant_pre_process first (see below), a dict being its keyword
                                        arguments (e.g. {"skip_symbolic_shape": true}); omitted: False

A calibration SAMPLE is one set of model inputs, any of:
  - a folder holding one .npy file per input, named after the input ("x.npy") or after its safe name, each run of
    characters other than [A-Za-z0-9_.-] as one "_" ("onnx_Flatten_0.npy" for "onnx::Flatten_0", as Modelyard's
    safeName in src/core/quantize/calibdata.ts); a model with one input takes a folder's only .npy whatever its name;
  - a .npz file whose keys are input names (same rules);
  - a folder holding only sub-folders or .npz files: each of them is a sample (in sorted order).

Each job prints {"mode", "input", "output", "ok", "error", "seconds", "runs", "input_bytes", "output_bytes",
"weight_bytes", "preprocessed", "preprocess_seconds", "ops", "input_opset", "output_opset", "warnings"}:
  seconds       wall time of the peer's call, file to file, best of --repeat runs (1-3, default 1): it includes the
                peer's own loading and saving of the model, and for int8-static the calibration inference, but not
                reading the calibration .npy files (loaded into memory first) nor the imports (see --warmup);
  runs          every run's seconds;
  weight_bytes  bytes of the float32 initializers and float32 Constant node values of the input (main graph and
                subgraphs), from their dims;
  ops           op type -> count over the output's main graph ("domain:Op" outside the default domain);
  input_opset, output_opset  the default-domain opsets (the peers may raise it);
  error         the exception's type and first line, or null; a failed job does not stop the others;
  warnings      the first line of each distinct warning the peers logged (logging) or raised (warnings.warn)
                during the job, at most 20 and a count of the rest.
--warmup runs a tiny model through every peer once before the jobs, so the imports and first-call costs of
onnxruntime.quantization, onnx and onnxconverter_common are paid before any timing.

The peers and the defaults they are called with (onnxruntime 1.31.1, onnxconverter-common 1.16.0), job fields
aside:
  int8-dynamic  onnxruntime.quantization.quantize_dynamic(input, output, per_channel=False, reduce_range=False,
                weight_type=QuantType.QInt8): every op of IntegerOpsRegistry, MatMulConstBOnly=True.
  int8-static   onnxruntime.quantization.quantize_static(input, output, reader, quant_format=QuantFormat.QDQ,
                per_channel=False, reduce_range=False, activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax); the reader is a
                CalibrationDataReader over the samples. (1.31.1's default activation_type is QInt8, not the QUInt8
                of older releases.)
  int4          onnxruntime.quantization.matmul_nbits_quantizer.MatMulNBitsQuantizer(model, bits=4,
                block_size=128, is_symmetric=False, accuracy_level=None, quant_format=QuantFormat.QOperator,
                op_types_to_quantize=("MatMul",)) .process(), then .model.save_model_to_file(output): MatMul
                with a constant B becomes com.microsoft MatMulNBits; Gemm and Conv are not touched.
                1.31.1 imports onnx_ir here, a package its wheel does not declare: the venv needs onnx-ir.
  fp16          onnxconverter_common.float16.convert_float_to_float16(onnx.load(input), keep_io_types=True,
                min_positive_val=1e-7, max_finite_val=1e4), then onnx.save(output).
Both quantize_dynamic and quantize_static log "Please consider to run pre-processing before quantization" when
the model lacks the metadata onnxruntime.quantization.shape_inference.quant_pre_process leaves: "preprocess": true
runs quant_pre_process(input, tmp) with its defaults (ORT basic optimizations, ONNX and symbolic shape inference)
and quantizes its output; its time is reported apart as preprocess_seconds, not in seconds. quant_pre_process
needs sympy (onnxruntime's "symbolic" extra), which the venv must have.
"""
import json
import logging
import os
import sys
import tempfile
import time
import warnings

import numpy as np
import onnx
from onnx import TensorProto, helper

from npy_samples import load_sample

MODES = ("int8-dynamic", "int8-static", "int4", "fp16")


def input_names(model_path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        s = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
        return [i.name for i in s.get_inputs()]
    except Exception:  # a model onnxruntime cannot load: fall back on the graph's inputs that are not initializers
        m = onnx.load(model_path, load_external_data=False)
        inits = {t.name for t in m.graph.initializer}
        return [i.name for i in m.graph.input if i.name not in inits]



def expand(entry):
    """A calibration entry -> the paths of its samples (folders of .npy or .npz files)."""
    if os.path.isdir(entry):
        items = sorted(os.listdir(entry))
        if any(i.endswith(".npy") for i in items):
            return [entry]
        subs = [os.path.join(entry, i) for i in items if os.path.isdir(os.path.join(entry, i)) or i.endswith(".npz")]
        if subs:
            return subs
        raise ValueError(f"{entry} holds neither .npy files nor sample folders or .npz files")
    if entry.endswith(".npz"):
        return [entry]
    raise ValueError(f"{entry} is neither a folder of .npy files nor a .npz file")



def load_samples(entries, model_path):
    names = input_names(model_path)
    return [load_sample(p, names) for e in entries for p in expand(e)]


def weight_bytes(model):
    total = 0

    def tensor(t):
        return 4 * int(np.prod(t.dims, dtype=np.int64)) if t.data_type == TensorProto.FLOAT else 0

    def graph(g):
        nonlocal total
        for t in g.initializer:
            total += tensor(t)
        for n in g.node:
            for a in n.attribute:
                if n.op_type == "Constant" and n.domain in ("", "ai.onnx") and a.name == "value":
                    total += tensor(a.t)
                if a.type == onnx.AttributeProto.GRAPH:
                    graph(a.g)
                elif a.type == onnx.AttributeProto.GRAPHS:
                    for sub in a.graphs:
                        graph(sub)

    graph(model.graph)
    return total


def default_opset(m):
    return next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), None)


def op_counts(m):
    ops = {}
    for n in m.graph.node:
        k = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}:{n.op_type}"
        ops[k] = ops.get(k, 0) + 1
    return ops


def make_reader(samples):
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(samples)

        def get_next(self):
            return next(self.it, None)

        def rewind(self):
            self.it = iter(samples)

    return Reader()


def quantize(job, src, samples):
    """The peer's call, file to file (timed by the caller)."""
    mode, out = job["mode"], job["output"]
    if mode == "int8-dynamic":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(src, out, per_channel=bool(job.get("per_channel", False)), weight_type=QuantType.QInt8)
    elif mode == "int8-static":
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

        quantize_static(
            src,
            out,
            make_reader(samples),
            quant_format=QuantFormat.QDQ,
            per_channel=bool(job.get("per_channel", False)),
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    elif mode == "int4":
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        q = MatMulNBitsQuantizer(
            src,
            bits=4,
            block_size=int(job.get("block_size", 128)),
            is_symmetric=bool(job.get("symmetric", False)),
            accuracy_level=job.get("accuracy_level"),
        )
        q.process()
        q.model.save_model_to_file(out, use_external_data_format=False)
    elif mode == "fp16":
        from onnxconverter_common import float16

        m = float16.convert_float_to_float16(onnx.load(src), keep_io_types=True)
        onnx.save(m, out)
    else:
        raise ValueError(f"unknown mode {mode!r}: one of {', '.join(MODES)}")


# Modules the peers import that their wheels do not declare (onnxruntime 1.31.1): named in the error, with the fix.
UNDECLARED = {
    "onnx_ir": "MatMulNBitsQuantizer imports onnx_ir, which the onnxruntime wheel does not require: install onnx-ir",
    "sympy": "quant_pre_process's symbolic shape inference needs sympy (onnxruntime's 'symbolic' extra): install sympy",
}


def first_line(e):
    text = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}"
    missing = getattr(e, "name", None) if isinstance(e, ImportError) else None
    if missing is None and isinstance(e, ImportError) and "sympy" in str(e):
        missing = "sympy"
    if missing in UNDECLARED:
        text += f" ({UNDECLARED[missing]} into the reference venv, scripts/pyrefs.mjs)"
    return text


def run_job(job, repeat):
    res = {
        "mode": job.get("mode"),
        "input": job.get("input"),
        "output": job.get("output"),
        "ok": False,
        "error": None,
        "seconds": None,
        "runs": [],
        "input_bytes": None,
        "output_bytes": None,
        "weight_bytes": None,
        "preprocessed": bool(job.get("preprocess", False)),
        "preprocess_seconds": None,
        "ops": None,
        "input_opset": None,
        "output_opset": None,
    }
    tmp = None
    try:
        if res["mode"] not in MODES:
            raise ValueError(f"unknown mode {res['mode']!r}: one of {', '.join(MODES)}")
        src = job["input"]
        res["input_bytes"] = os.path.getsize(src)
        m = onnx.load(src, load_external_data=False)
        res["weight_bytes"] = weight_bytes(m)
        res["input_opset"] = default_opset(m)
        os.makedirs(os.path.dirname(os.path.abspath(job["output"])), exist_ok=True)
        if res["preprocessed"]:
            from onnxruntime.quantization.shape_inference import quant_pre_process

            tmp = tempfile.mkdtemp(prefix="quant-peers-")
            pre = os.path.join(tmp, "preprocessed.onnx")
            t0 = time.perf_counter()
            kwargs = job["preprocess"] if isinstance(job["preprocess"], dict) else {}
            quant_pre_process(src, pre, **kwargs)
            res["preprocess_seconds"] = time.perf_counter() - t0
            src = pre
        samples = None
        if res["mode"] == "int8-static":
            if not job.get("calibration"):
                raise ValueError("int8-static needs calibration samples")
            samples = load_samples(job["calibration"], src)
        for _ in range(repeat):
            t0 = time.perf_counter()
            quantize(job, src, samples)
            res["runs"].append(time.perf_counter() - t0)
        res["seconds"] = min(res["runs"])
        res["output_bytes"] = os.path.getsize(job["output"])
        m = onnx.load(job["output"], load_external_data=False)
        res["ops"] = op_counts(m)
        res["output_opset"] = default_opset(m)
        res["ok"] = True
    except Exception as e:  # every peer raises its own kinds; one job's failure is reported, the others go on
        res["error"] = first_line(e)
    finally:
        if tmp:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return res


def warm_up():
    """Every peer once on a tiny MatMul model (imports, first-call costs), outside any timing."""
    tmp = tempfile.mkdtemp(prefix="quant-peers-warmup-")
    try:
        w = helper.make_tensor("w", TensorProto.FLOAT, [64, 64], np.random.default_rng(0).standard_normal(64 * 64).astype(np.float32))
        g = helper.make_graph(
            [helper.make_node("MatMul", ["x", "w"], ["y"])],
            "warmup",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])],
            [w],
        )
        src = os.path.join(tmp, "warmup.onnx")
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), src)
        sample = {"x": np.ones((1, 64), np.float32)}
        for mode in MODES:
            try:
                quantize({"mode": mode, "output": os.path.join(tmp, f"{mode}.onnx"), "block_size": 32}, src, [sample])
            except Exception as e:
                print(f"[quant_peers] warm-up of {mode} failed: {first_line(e)}", file=sys.stderr)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


class Collect(logging.Handler):
    """The peers' log warnings of the running job (the root logger and onnxruntime's), deduplicated."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        msg = (record.getMessage().strip().splitlines() or [""])[0][:300]
        if msg not in self.messages:
            self.messages.append(msg)


def main(argv):
    import argparse

    ap = argparse.ArgumentParser(description="Modelyard's quantization peers", usage=__doc__)
    ap.add_argument("jobs")
    ap.add_argument("--repeat", type=int, default=1, choices=(1, 2, 3))
    ap.add_argument("--warmup", action="store_true")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    collect = Collect()
    root = logging.getLogger()
    root.handlers[:] = [collect]
    root.setLevel(logging.WARNING)
    with open(args.jobs) as f:
        jobs = json.load(f)
    if isinstance(jobs, dict):
        jobs = jobs["jobs"]
    if args.warmup:
        warm_up()
    for job in jobs:
        collect.messages = []
        with warnings.catch_warnings(record=True) as raised:
            warnings.simplefilter("always")
            res = run_job(job, args.repeat)
        for w in raised:
            msg = (str(w.message).strip().splitlines() or [""])[0][:300]
            if msg not in collect.messages:
                collect.messages.append(msg)
        more = len(collect.messages) - 20
        res["warnings"] = collect.messages[:20] + ([f"... and {more} more"] if more > 0 else [])
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
