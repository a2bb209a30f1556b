"""Python onnxruntime on cases of the ONNX node conformance suite, as the onnx backend test runner judges them: the
reference that onnx-inference.ts holds Modelyard's results against when a case does not pass there.

    python onnx_ort_reference.py < case-dirs.txt

Reads one case folder a line (model.onnx, test_data_set_N/{input,output}_K.pb) and prints one JSON line a case, as
soon as it is done: {"name", "status": "pass" | "wrong" | "load" | "run", "error", "maxAbs"}. Inputs are fed by
position, outputs compared by position (onnx/backend/test/runner: assert_similar_outputs, rtol 1e-3, atol 1e-7,
NaN equal to NaN, strings and shapes exactly, dtypes equal, bfloat16 with two ULPs). The session uses one thread,
as the Node side does. A crash ends the process: the caller restarts it after the case in progress.
"""
import glob
import json
import os
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

RTOL = 1e-3
ATOL = 1e-7


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def numbered(folder: str, prefix: str) -> list:
    files = glob.glob(os.path.join(folder, f"{prefix}_*.pb"))
    return sorted(files, key=lambda f: int(os.path.basename(f)[len(prefix) + 1 : -3]))


def load_tensor(path: str):
    return numpy_helper.to_array(onnx.load_tensor(path))


def compare(ref, out) -> tuple:
    """(ok, why, max abs error) as assert_similar_outputs judges out against ref."""
    if tuple(out.shape) != tuple(ref.shape):
        return False, f"shape {list(out.shape)}, expected {list(ref.shape)}", None
    if ref.dtype == object:
        ok = bool(np.array_equal(out.astype(object), ref))
        return ok, "" if ok else "strings differ", None
    if out.dtype != ref.dtype:
        return False, f"dtype {out.dtype}, expected {ref.dtype}", None
    rtol = max(RTOL, 2**-6) if out.dtype.name == "bfloat16" else RTOL  # two bfloat16 ULPs, as the runner
    if out.dtype.kind not in "biuf":  # ml_dtypes (bfloat16, float8, int4 …): compared as float32, as the runner
        out = out.astype(np.float32)
        ref = ref.astype(np.float32)
    a = out.astype(np.float64)
    b = ref.astype(np.float64)
    finite = np.isfinite(a) & np.isfinite(b)
    err = np.abs(a - b)
    max_abs = float(err[finite].max()) if finite.any() else 0.0
    try:
        np.testing.assert_allclose(out, ref, rtol=rtol, atol=ATOL)
        return True, "", max_abs
    except AssertionError as e:
        lines = [l.strip() for l in str(e).strip().splitlines() if l.strip()]
        why = next((l for l in lines if l.startswith("Mismatched")), lines[0] if lines else "values differ")
        return False, why, max_abs


def run_case(folder: str) -> dict:
    name = os.path.basename(folder.rstrip("/"))
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 4
    try:
        sess = ort.InferenceSession(os.path.join(folder, "model.onnx"), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001
        return {"name": name, "status": "load", "error": first_line(e)}
    inputs = [i.name for i in sess.get_inputs()]
    worst = None
    for ds in sorted(glob.glob(os.path.join(folder, "test_data_set_*")), key=lambda d: int(d.rsplit("_", 1)[1])):
        try:
            feeds = {n: load_tensor(f) for n, f in zip(inputs, numbered(ds, "input"))}
            outs = sess.run(None, feeds)
        except Exception as e:  # noqa: BLE001
            return {"name": name, "status": "run", "error": first_line(e)}
        refs = [load_tensor(f) for f in numbered(ds, "output")]
        if len(outs) != len(refs):
            return {"name": name, "status": "wrong", "error": f"{len(outs)} outputs, expected {len(refs)}"}
        for k, (ref, out) in enumerate(zip(refs, outs)):
            ok, why, max_abs = compare(ref, np.asarray(out))
            if max_abs is not None:
                worst = max_abs if worst is None else max(worst, max_abs)
            if not ok:
                return {"name": name, "status": "wrong", "error": f"output {k}: {why}", "maxAbs": max_abs}
    return {"name": name, "status": "pass", "maxAbs": worst}


def main() -> None:
    warnings.simplefilter("ignore")
    ort.set_default_logger_severity(4)
    for line in sys.stdin:
        folder = line.strip()
        if not folder:
            continue
        print(json.dumps({"start": os.path.basename(folder)}), flush=True)
        print(json.dumps(run_case(folder)), flush=True)
    print(json.dumps({"versions": {"onnxruntime": ort.__version__, "onnx": onnx.__version__}}), flush=True)


if __name__ == "__main__":
    main()
