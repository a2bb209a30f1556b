"""The reference for Modelyard's model summary (src/core/onnx/summary.ts), computed with the onnx package: prints
one JSON object per model path given, keyed by path, with what the summary counts, by the same definitions:

- ops: nodes of the main graph, of every graph attribute at any depth, and of model-local functions,
  as "domain/op_type" -> count; node_count, graph_node_count, subgraph_count;
- params: initializers, sparse initializers (their values) and Constant node values, by element type name
  (onnx.helper.tensor_dtype_to_np_dtype names are not used: the TensorProto.DataType names are);
- inputs (graph inputs that are not initializers) and outputs: name, elem_type, dims (int, str or None).

    python onnx_summary_ref.py MODEL...
"""
import json
import sys

import onnx
from onnx import TensorProto


def elements(dims):
    n = 1
    for d in dims:
        n *= d
    return n


class Gather:
    def __init__(self):
        self.ops = {}
        self.params = {}
        self.nodes = 0
        self.subgraphs = 0

    def tally(self, elem_type, count):
        key = TensorProto.DataType.Name(elem_type)
        p = self.params.setdefault(key, {"count": 0, "tensors": 0})
        p["count"] += count
        p["tensors"] += 1

    def tensor(self, t):
        self.tally(t.data_type, elements(t.dims))

    def sparse(self, s):
        if s.HasField("values"):
            self.tensor(s.values)

    def graph(self, g):
        for t in g.initializer:
            self.tensor(t)
        for s in g.sparse_initializer:
            self.sparse(s)
        self.node_list(g.node)

    def node_list(self, nodes):
        for n in nodes:
            self.nodes += 1
            key = f"{n.domain}/{n.op_type}"
            self.ops[key] = self.ops.get(key, 0) + 1
            constant = n.op_type == "Constant" and n.domain in ("", "ai.onnx")
            for a in n.attribute:
                if constant:
                    self.constant(a)
                subs = ([a.g] if a.HasField("g") else []) + list(a.graphs)
                for sub in subs:
                    self.subgraphs += 1
                    self.graph(sub)

    def constant(self, a):
        if a.name == "value" and a.HasField("t"):
            self.tensor(a.t)
        elif a.name == "sparse_value" and a.HasField("sparse_tensor"):
            self.sparse(a.sparse_tensor)
        elif a.name == "value_float":
            self.tally(TensorProto.FLOAT, 1)
        elif a.name == "value_floats":
            self.tally(TensorProto.FLOAT, len(a.floats))
        elif a.name == "value_int":
            self.tally(TensorProto.INT64, 1)
        elif a.name == "value_ints":
            self.tally(TensorProto.INT64, len(a.ints))
        elif a.name == "value_string":
            self.tally(TensorProto.STRING, 1)
        elif a.name == "value_strings":
            self.tally(TensorProto.STRING, len(a.strings))


def value_info(v):
    out = {"name": v.name}
    which = v.type.WhichOneof("value")
    if which in ("tensor_type", "sparse_tensor_type"):
        t = getattr(v.type, which)
        out["elem_type"] = t.elem_type
        if t.HasField("shape"):
            out["dims"] = [
                d.dim_value if d.HasField("dim_value") else (d.dim_param or None) if d.HasField("dim_param") else None
                for d in t.shape.dim
            ]
    out["kind"] = which
    return out


def summary(path):
    m = onnx.load(path, load_external_data=False)
    g = Gather()
    g.graph(m.graph)
    graph_nodes = len(m.graph.node)
    for f in m.functions:
        g.node_list(f.node)
    inits = {t.name for t in m.graph.initializer}
    return {
        "ir_version": m.ir_version,
        "opsets": [{"domain": o.domain, "version": o.version} for o in m.opset_import],
        "producer": [m.producer_name, m.producer_version],
        "inputs": [value_info(v) for v in m.graph.input if v.name not in inits],
        "outputs": [value_info(v) for v in m.graph.output],
        "ops": g.ops,
        "node_count": g.nodes,
        "graph_node_count": graph_nodes,
        "subgraph_count": g.subgraphs,
        "params": g.params,
        "functions": [f"{f.domain}/{f.name}" for f in m.functions],
    }


if __name__ == "__main__":
    print(json.dumps({p: summary(p) for p in sys.argv[1:]}))
