"""Samples as Modelyard's calibration reader writes and reads them, for quant_peers.py and quant_eval.py: a folder of
<input name>.npy files (names made file-safe as src/core/quantize/calibdata.ts safeName does), or one .npz file."""
import os
import re

import numpy as np


def sanitize(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def match(arrays, names, where):
    """{file stem or npz key: array} -> {input name: array}."""
    feed = {}
    for n in names:
        for key in (n, sanitize(n)):
            if key in arrays:
                feed[n] = arrays[key]
                break
    if len(names) == 1 and not feed and len(arrays) == 1:
        feed[names[0]] = next(iter(arrays.values()))
    missing = [n for n in names if n not in feed]
    if missing:
        raise ValueError(f"{where} has no array for input(s) {missing} (it holds {sorted(arrays)})")
    return feed


def load_sample(path, names):
    """One sample (a folder of .npy files or a .npz file) as {input name: array}."""
    if os.path.isdir(path):
        arrays = {f[:-4]: np.load(os.path.join(path, f)) for f in sorted(os.listdir(path)) if f.endswith(".npy")}
    else:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
    return match(arrays, names, path)
