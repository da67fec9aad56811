#!/usr/bin/env python3
"""Parse msg/ (the mnemo_msgs interface package) with the independent `rosbags` message parser
and write one sample of every message and service part as CDR bytes with `rosbags`.

Each sample fills every field with a value derived from a running counter (so no two fields
agree by accident), sequences with two elements. Prints one JSON object:
  {"Where_Request": {"values": {...}, "cdr": "<hex>"}, ...}
`values` uses the .msg field names (Time as {sec, nanosec}), which the Rust serde types share.

Usage: mnemo_msgs_cdr.py MSG_DIR
"""
import json
import sys
from pathlib import Path

import numpy as np
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Nodetype

NUMPY = {"uint8": np.uint8, "uint32": np.uint32, "uint64": np.uint64, "int32": np.int32,
         "int64": np.int64, "float32": np.float32, "float64": np.float64}


def parts(root):
    """(name as the Rust schema names it, rosbags type name, .msg text) of every file part."""
    for f in sorted((root / "msg").glob("*.msg")):
        yield f.stem, f"mnemo_msgs/msg/{f.stem}", f.read_text()
    for f in sorted((root / "srv").glob("*.srv")):
        request, response = f.read_text().split("\n---\n")
        # rosbags resolves relative names inside the type's own namespace: register service
        # parts under msg/ so `MemoryObject` means mnemo_msgs/msg/MemoryObject (the bytes do
        # not depend on the name).
        yield f"{f.stem}_Request", f"mnemo_msgs/msg/{f.stem}_Request", request
        yield f"{f.stem}_Response", f"mnemo_msgs/msg/{f.stem}_Response", response


def main():
    root = Path(sys.argv[1])
    store = get_typestore(Stores.ROS2_JAZZY)
    types = {}
    named = []
    for name, full, text in parts(root):
        types.update(get_types_from_msg(text, full))
        named.append((name, full))
    store.register(types)
    counter = [0]

    def tick():
        counter[0] += 1
        return counter[0]

    def base(kind):
        n = tick()
        if kind == "bool":
            return n % 2 == 0
        if kind == "string":
            return f"s{n}-é"
        if kind.startswith("float"):
            return n * 0.5 + 0.25
        if kind.startswith("int"):
            return -n
        return n % 200

    def fill(typename):
        """(rosbags message, JSON values) of `typename`."""
        cls = store.types[typename]
        _, fields = store.fielddefs[typename]
        msg, values = {}, {}
        for fname, (node, desc) in fields:
            if node == Nodetype.BASE:
                v = base(desc[0])
                msg[fname], values[fname] = v, v
            elif node == Nodetype.NAME:
                msg[fname], values[fname] = fill(desc)
            elif node == Nodetype.SEQUENCE:
                (inner_node, inner), _ = desc
                if inner_node == Nodetype.BASE:
                    vs = [base(inner[0]) for _ in range(2)]
                    msg[fname] = np.array(vs, dtype=NUMPY[inner[0]]) if inner[0] in NUMPY else vs
                    values[fname] = vs
                else:
                    pairs = [fill(inner) for _ in range(2)]
                    msg[fname] = [p[0] for p in pairs]
                    values[fname] = [p[1] for p in pairs]
            else:
                raise SystemExit(f"{typename}.{fname}: unexpected field kind {node}")
        return cls(**msg), values

    out = {}
    for name, full in named:
        msg, values = fill(full)
        out[name] = {"values": values, "cdr": store.serialize_cdr(msg, full).tobytes().hex()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
