"""Runs onnx.checker.check_model(path, full_check=True) on many models in one process (starting Python and importing
onnx once, not once a model). Reads model paths from the file LIST, one a line, and prints a JSON list of
{"path", "ok", "error"} in the same order; "error" is the checker's first line, or null.

    python onnx_check_models.py LIST
"""
import json
import sys
import warnings

import onnx


def check(path):
    try:
        onnx.checker.check_model(path, full_check=True)
        return {"path": path, "ok": True, "error": None}
    except Exception as e:  # the checker raises ValidationError, shape inference InferenceError, and others
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return {"path": path, "ok": False, "error": f"{type(e).__name__}: {first}"}


def main(list_file):
    warnings.simplefilter("ignore")
    with open(list_file) as f:
        paths = [line.rstrip("\n") for line in f if line.strip()]
    print(json.dumps([check(p) for p in paths]))


if __name__ == "__main__":
    main(sys.argv[1])
