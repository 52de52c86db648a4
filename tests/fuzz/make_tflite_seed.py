#!/usr/bin/env python3
"""Makes a small TFLite seed for the tflite fuzz target: the first K operators of a real MobileNetV2
file, with only the tensors and buffers they use (a few KB instead of 3.5 MB), so the fuzzer starts
from a file our importer reads deep into.

usage: make_tflite_seed.py MODEL.tflite K OUT.tflite   (needs flatc, from Debian's flatbuffers-compiler)
"""
import copy
import json
import os
import subprocess
import sys
import tempfile

SCHEMA = os.path.join(os.path.dirname(__file__), "..", "..", "lib", "maskctl", "model", "tflite_schema.fbs")


def main(model, k, out):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["flatc", "--json", "--strict-json", "--raw-binary", "-o", tmp, SCHEMA, "--", model], check=True)
        with open(os.path.join(tmp, os.path.splitext(os.path.basename(model))[0] + ".json")) as f:
            m = json.load(f)
        graph = m["subgraphs"][0]
        used = []

        def tensor(i):
            if i < 0:
                return i
            if i not in used:
                used.append(i)
            return used.index(i)

        inputs = [tensor(i) for i in graph["inputs"]]
        ops = []
        for op in graph["operators"][:k]:
            op = copy.deepcopy(op)
            op["inputs"] = [tensor(i) for i in op["inputs"]]
            op["outputs"] = [tensor(i) for i in op["outputs"]]
            ops.append(op)
        buffers, tensors = [{}], []
        for i in used:
            t = copy.deepcopy(graph["tensors"][i])
            b = t.get("buffer", 0)
            if b and m["buffers"][b].get("data"):
                buffers.append(m["buffers"][b])
                t["buffer"] = len(buffers) - 1
            else:
                t["buffer"] = 0
            tensors.append(t)
        small = {"version": 3, "operator_codes": m["operator_codes"], "buffers": buffers,
                 "subgraphs": [{"tensors": tensors, "inputs": inputs, "outputs": ops[-1]["outputs"], "operators": ops}]}
        path = os.path.join(tmp, "seed.json")
        with open(path, "w") as f:
            json.dump(small, f)
        subprocess.run(["flatc", "-b", "-o", tmp, SCHEMA, path], check=True)
        os.replace(os.path.join(tmp, "seed.bin"), out)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
