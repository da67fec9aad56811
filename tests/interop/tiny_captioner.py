#!/usr/bin/env python3
"""A tiny handcrafted image-captioning model in the ONNX layout that Hugging Face `optimum`
exports for vision-encoder-decoder models (ViT-GPT2 style), for the captioner's tests.

No captioning model ships in any package we can reach, so this one is built from ONNX operators
by hand so that greedy decoding *must* produce a known sentence, and only when the runner does
everything right:

  encoder_model.onnx          pixel_values [batch, 3, 8, 8] -> last_hidden_state [batch, 1, 3]
                              (the per-channel mean of the normalised image)
  decoder_model_merged.onnx   input_ids [batch, seq] int64, encoder_hidden_states,
                              past_key_values.{0,1}.{key,value} [batch, 1, past, 4],
                              use_cache_branch bool [1]
                              -> logits [batch, seq, vocab], present.{0,1}.{key,value}
  tokenizer.json              word-level vocabulary, whitespace pre-tokenizer, special tokens
  config.json, generation_config.json, preprocessor_config.json  (as transformers writes them)

How the decoder decides: every token appends a value vector whose channel 0 is 1 (and a key
vector whose channel 0 is 0) to both layers' caches; the position of each new token is the
running sum of channel 0 over *both layers' value caches* (so a runner that drops, zeroes,
swaps key/value or mis-orders the past gets other positions); the sentence is picked by the
sign of the encoder's mean (the image: bright -> BRIGHT, dark -> DARK, after the preprocessor's
resize, rescale and mean/std normalisation). Row `position` of that sentence's table scores the
next word; past the sentence's end it scores `</s>` (EOS).

Usage: tiny_captioner.py OUT_DIR
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BRIGHT = "a bright kitchen with white cupboards"
DARK = "a dark hallway at night"
SPECIAL = ["<s>", "</s>", "<pad>", "<unk>"]
HEAD_DIM = 4
LAYERS = 2
MAX_POS = 32


def vocabulary():
    words = []
    for w in (BRIGHT + " " + DARK).split():
        if w not in words:
            words.append(w)
    return {t: i for i, t in enumerate(SPECIAL + words)}


def encoder():
    nodes = [
        helper.make_node("ReduceMean", ["pixel_values"], ["m"], axes=[2, 3], keepdims=0),  # [b, 3]
        helper.make_node("Unsqueeze", ["m", "one"], ["last_hidden_state"]),  # [b, 1, 3]
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_vit",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", 1, 3])],
        [numpy_helper.from_array(np.array([1], np.int64), "one")],
    )
    return graph


def decoder(vocab):
    v = len(vocab)
    ev = np.zeros((v, HEAD_DIM), np.float32)
    ev[:, 0] = 1.0  # value channel 0 counts tokens
    ev[np.arange(v), 1 + np.arange(v) % (HEAD_DIM - 1)] = 0.5
    ek = np.zeros((v, HEAD_DIM), np.float32)
    ek[:, 1] = 1.0  # key channel 0 stays 0: a key/value swap breaks the count
    table = np.full((2, MAX_POS, v), -5.0, np.float32)
    for cls, sentence in ((0, DARK), (1, BRIGHT)):
        words = sentence.split()
        for pos in range(MAX_POS):
            table[cls, pos, vocab[words[pos]] if pos < len(words) else vocab["</s>"]] = 5.0
    nodes = [
        helper.make_node("Gather", ["ev", "input_ids"], ["nv3"]),  # [b, T, D]
        helper.make_node("Gather", ["ek", "input_ids"], ["nk3"]),
        helper.make_node("Unsqueeze", ["nv3", "one"], ["nv"]),  # [b, 1, T, D]
        helper.make_node("Unsqueeze", ["nk3", "one"], ["nk"]),
    ]
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
              helper.make_tensor_value_info("encoder_hidden_states", TensorProto.FLOAT, ["batch", "enc_seq", 3])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "seq", v])]
    counts = []
    for layer in range(LAYERS):
        for kind, new in (("key", "nk"), ("value", "nv")):
            past, present = f"past_key_values.{layer}.{kind}", f"present.{layer}.{kind}"
            inputs.append(helper.make_tensor_value_info(past, TensorProto.FLOAT, ["batch", 1, "past", HEAD_DIM]))
            outputs.append(helper.make_tensor_value_info(present, TensorProto.FLOAT, ["batch", 1, "total", HEAD_DIM]))
            nodes.append(helper.make_node("Concat", [past, new], [present], axis=2))
        nodes.append(helper.make_node("Slice", [f"present.{layer}.value", "zero", "one", "three"], [f"ch{layer}"]))
        counts.append(f"ch{layer}")
    inputs.append(helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1]))
    nodes += [
        helper.make_node("Add", counts, ["ch"]),  # [b, 1, L, 1], 2 per token
        helper.make_node("CumSum", ["ch", "two_axis"], ["cum"]),
        helper.make_node("Shape", ["input_ids"], ["ids_shape"]),
        helper.make_node("Slice", ["ids_shape", "one", "two", "zero"], ["t"]),  # [1]
        helper.make_node("Neg", ["t"], ["minus_t"]),
        helper.make_node("Slice", ["cum", "minus_t", "big", "two_axis"], ["last"]),  # [b, 1, T, 1]
        helper.make_node("Squeeze", ["last", "squeeze_axes"], ["last2"]),  # [b, T]
        helper.make_node("Div", ["last2", "two_f"], ["n"]),  # tokens so far
        helper.make_node("Sub", ["n", "one_f"], ["pos_f"]),
        helper.make_node("Cast", ["pos_f"], ["pos_i"], to=TensorProto.INT64),
        helper.make_node("Clip", ["pos_i", "zero_s", "max_pos"], ["pos"]),
        helper.make_node("ReduceMean", ["encoder_hidden_states"], ["b"], axes=[1, 2], keepdims=0),  # [b]
        helper.make_node("Greater", ["b", "zero_f"], ["bright"]),
        helper.make_node("Cast", ["bright"], ["cls"], to=TensorProto.INT64),  # [b]
        helper.make_node("Unsqueeze", ["cls", "one"], ["cls2"]),  # [b, 1]
        helper.make_node("Mul", ["cls2", "max_pos_n"], ["row0"]),
        helper.make_node("Add", ["row0", "pos"], ["row"]),  # [b, T]
        helper.make_node("Gather", ["flat_table", "row"], ["logits"]),  # [b, T, V]
    ]
    inits = [
        numpy_helper.from_array(ev, "ev"),
        numpy_helper.from_array(ek, "ek"),
        numpy_helper.from_array(table.reshape(2 * MAX_POS, v), "flat_table"),
        numpy_helper.from_array(np.array([0], np.int64), "zero"),
        numpy_helper.from_array(np.array([1], np.int64), "one"),
        numpy_helper.from_array(np.array([2], np.int64), "two"),
        numpy_helper.from_array(np.array([3], np.int64), "three"),
        numpy_helper.from_array(np.array(2, np.int64), "two_axis"),
        numpy_helper.from_array(np.array([2], np.int64), "two_axis_1d"),
        numpy_helper.from_array(np.array([1 << 30], np.int64), "big"),
        numpy_helper.from_array(np.array([1, 3], np.int64), "squeeze_axes"),
        numpy_helper.from_array(np.array(2.0, np.float32), "two_f"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one_f"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero_f"),
        numpy_helper.from_array(np.array(0, np.int64), "zero_s"),
        numpy_helper.from_array(np.array(MAX_POS - 1, np.int64), "max_pos"),
        numpy_helper.from_array(np.array(MAX_POS, np.int64), "max_pos_n"),
    ]
    # Slice wants its axes as a 1-D tensor; CumSum wants a scalar.
    for n in nodes:
        if n.op_type == "Slice" and n.input[3] == "two_axis":
            n.input[3] = "two_axis_1d"
    return helper.make_graph(nodes, "tiny_gpt2_merged", inputs, outputs, inits)


def tokenizer_json(vocab):
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for t in SPECIAL
        ],
        "normalizer": None,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": None,
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"},
    }


def save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    vocab = vocabulary()
    save(encoder(), os.path.join(out, "encoder_model.onnx"))
    save(decoder(vocab), os.path.join(out, "decoder_model_merged.onnx"))
    ids = {t: vocab[t] for t in ("<s>", "</s>", "<pad>")}
    files = {
        "tokenizer.json": tokenizer_json(vocab),
        "config.json": {
            "architectures": ["VisionEncoderDecoderModel"],
            "model_type": "vision-encoder-decoder",
            "decoder_start_token_id": ids["<s>"],
            "eos_token_id": ids["</s>"],
            "pad_token_id": ids["<pad>"],
            "decoder": {"model_type": "gpt2", "n_layer": LAYERS, "n_head": 1, "n_embd": HEAD_DIM,
                        "vocab_size": len(vocab), "bos_token_id": ids["<s>"], "eos_token_id": ids["</s>"]},
            "encoder": {"model_type": "vit", "image_size": 8, "hidden_size": 3},
        },
        "generation_config.json": {
            "decoder_start_token_id": ids["<s>"],
            "eos_token_id": ids["</s>"],
            "pad_token_id": ids["<pad>"],
            "max_length": 16,
        },
        "preprocessor_config.json": {
            "do_resize": True,
            "size": {"height": 8, "width": 8},
            "resample": 2,
            "do_rescale": True,
            "rescale_factor": 1 / 255,
            "do_normalize": True,
            "image_mean": [0.5, 0.5, 0.5],
            "image_std": [0.5, 0.5, 0.5],
            "image_processor_type": "ViTImageProcessor",
        },
    }
    for name, content in files.items():
        with open(os.path.join(out, name), "w") as f:
            json.dump(content, f, indent=1)


if __name__ == "__main__":
    main()
