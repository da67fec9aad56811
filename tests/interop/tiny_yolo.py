#!/usr/bin/env python3
"""A tiny handcrafted ONNX model in the YOLOv8/v11 export layout, for the detector's tests.

Layout as ultralytics exports it: input `images` [1, 3, 640, 640] float32 (RGB, 0..1,
letterboxed with grey 114), output `output0` [1, 4 + nc, N] (cx, cy, w, h in input pixels,
then one score per class, no objectness), class names in the metadata key `names` as a Python
dict literal. Its 8 candidate boxes are constants; their class scores are multiplied by the
mean of the input's red channel, so the scores depend on the real input (a test that
letterboxes wrongly gets other scores) and a black image yields nothing above threshold.

Candidates (input pixels): 0 mug (200, 320, 100, 80) 0.9; 1 mug (205, 322, 100, 80) 0.8
(overlaps 0: removed by NMS); 2 keys (400, 300, 50, 40) 0.7; 3 book (500, 350, 60, 60) 0.2
(below a 0.25 threshold at any gain <= 1); 4 keys (210, 320, 100, 80) 0.6 (overlaps 0 but
another class: kept); 5-7 zero.

Usage: tiny_yolo.py OUT.onnx
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

NAMES = {0: "mug", 1: "keys", 2: "book"}
BOXES = [
    (200, 320, 100, 80, 0, 0.9),
    (205, 322, 100, 80, 0, 0.8),
    (400, 300, 50, 40, 1, 0.7),
    (500, 350, 60, 60, 2, 0.2),
    (210, 320, 100, 80, 1, 0.6),
]
N = 8


def main():
    nc = len(NAMES)
    boxes = np.zeros((1, 4, N), np.float32)
    scores = np.zeros((1, nc, N), np.float32)
    for i, (cx, cy, w, h, c, s) in enumerate(BOXES):
        boxes[0, :, i] = (cx, cy, w, h)
        scores[0, c, i] = s
    nodes = [
        helper.make_node("Slice", ["images", "s0", "s1", "s_axis"], ["red"]),
        helper.make_node("ReduceMean", ["red"], ["gain"], axes=[2, 3], keepdims=0),  # [1, 1]
        helper.make_node("Mul", ["scores", "gain"], ["gated"]),
        helper.make_node("Concat", ["boxes", "gated"], ["output0"], axis=1),
    ]
    inits = [
        numpy_helper.from_array(boxes, "boxes"),
        numpy_helper.from_array(scores, "scores"),
        numpy_helper.from_array(np.array([0], np.int64), "s0"),
        numpy_helper.from_array(np.array([1], np.int64), "s1"),
        numpy_helper.from_array(np.array([1], np.int64), "s_axis"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + nc, N])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"names": str(NAMES), "task": "detect", "imgsz": "[640, 640]"})
    onnx.checker.check_model(model)
    onnx.save(model, sys.argv[1])


if __name__ == "__main__":
    main()
