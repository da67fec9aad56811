#!/usr/bin/env python3
"""Reference sentence embeddings with onnxruntime in Python on the same ONNX file, for the Rust
embedder's test: HF `tokenizers` (Python) tokenises, onnxruntime runs the model, numpy mean-pools
`last_hidden_state` over the attention mask and L2-normalises (the sentence-transformers recipe
for all-MiniLM-L6-v2), independently of the graph's own pooled output and of our Rust code.

Usage: embed_reference.py MODEL.onnx TOKENIZER.json < sentences.json > embeddings.json
"""
import json
import sys

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def main():
    model, tok_path = sys.argv[1], sys.argv[2]
    sentences = json.load(sys.stdin)
    tok = Tokenizer.from_file(tok_path)
    tok.enable_truncation(256)
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    out = []
    for s in sentences:
        e = tok.encode(s)
        feed = {
            "input_ids": np.array([e.ids], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask], dtype=np.int64),
        }
        if "token_type_ids" in names:
            feed["token_type_ids"] = np.array([e.type_ids], dtype=np.int64)
        hidden = sess.run(["last_hidden_state"], feed)[0][0]
        mask = np.array(e.attention_mask, dtype=np.float32)[:, None]
        v = (hidden * mask).sum(0) / mask.sum()
        v = v / np.linalg.norm(v)
        out.append([float(x) for x in v])
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
