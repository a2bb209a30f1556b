"""Writes the ONNX node conformance suite, whose cases ship inside the `onnx` wheel as Python definitions
(onnx/backend/test/case/node), as data: OUT/<case>/model.onnx and test_data_set_N/{input,output}_K.pb, the layout
of the onnx repository's onnx/backend/test/data/node. Only tensor inputs and outputs are written; cases with
sequence, map or optional values are listed in OUT/skipped.json with the reason.

    python onnx_node_cases.py OUT
"""
import json
import os
import shutil
import sys
import warnings

import onnx
from onnx import numpy_helper
from onnx.backend.test.case import node as node_test


def main(out: str) -> None:
    warnings.simplefilter("ignore")
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    skipped = {}
    written = 0
    for case in node_test.collect_testcases():
        model = case.model
        ios = list(model.graph.input) + list(model.graph.output)
        if any(not v.type.HasField("tensor_type") for v in ios):
            skipped[case.name] = "sequence, map or optional values"
            continue
        d = os.path.join(out, case.name)
        os.makedirs(d)
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(model.SerializeToString())
        for i, (inputs, outputs) in enumerate(case.data_sets or []):
            ds = os.path.join(d, f"test_data_set_{i}")
            os.makedirs(ds)
            for kind, values, infos in (("input", inputs, model.graph.input), ("output", outputs, model.graph.output)):
                for j, v in enumerate(values):
                    t = v if isinstance(v, onnx.TensorProto) else numpy_helper.from_array(v, infos[j].name)
                    with open(os.path.join(ds, f"{kind}_{j}.pb"), "wb") as f:
                        f.write(t.SerializeToString())
        written += 1
    with open(os.path.join(out, "skipped.json"), "w") as f:
        json.dump(skipped, f, indent=1, sort_keys=True)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"onnx": onnx.__version__, "cases": written, "skipped": len(skipped)}, f)
    print(f"{written} cases written, {len(skipped)} skipped, onnx {onnx.__version__}")


if __name__ == "__main__":
    main(sys.argv[1])
