#!/usr/bin/env python3
"""Decode CDR bytes (hex on stdin) of a standard ROS 2 message with the independent `rosbags`
package and print the message as JSON (field names as in the .msg files; arrays as lists).

Usage: rosbags_decode.py TYPE [--distro humble|jazzy] < HEX
e.g.   rosbags_decode.py visualization_msgs/msg/MarkerArray --distro humble
"""
import argparse
import json
import sys

import numpy as np
from rosbags.typesys import Stores, get_typestore


def plain(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if hasattr(v, "__dataclass_fields__"):
        return {k: plain(getattr(v, k)) for k in v.__dataclass_fields__ if not k.startswith("__")}
    if isinstance(v, np.generic):
        return v.item()
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("type")
    ap.add_argument("--distro", default="jazzy", choices=["jazzy", "humble"])
    args = ap.parse_args()
    store = get_typestore(Stores.ROS2_JAZZY if args.distro == "jazzy" else Stores.ROS2_HUMBLE)
    data = bytes.fromhex(sys.stdin.read().strip())
    print(json.dumps(plain(store.deserialize_cdr(data, args.type))))


if __name__ == "__main__":
    main()
