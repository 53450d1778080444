"""BERT-family encoders (BERT, MiniLM, BGE, E5, GTE: ``model_type == "bert"``) as ONNX
graphs built with the ``onnx`` package's helpers from safetensors weights, without torch.

The graph takes ``input_ids``, ``attention_mask`` and ``token_type_ids`` (int64
``[batch, sequence]``) and gives ``last_hidden_state`` (float32 ``[batch, sequence,
hidden]``; pooling is done by sqlite-quiver), or a cross-encoder's ``logits``. Used by
``sqlite_quiver.ml.save_sentence_transformer`` and ``save_cross_encoder``.
"""

from __future__ import annotations

import json
import math
import os
import struct
from typing import Any

SUPPORTED = ("bert",)

_DTYPES = {
    "F32": ("<f4", 4),
    "F16": ("<f2", 2),
    "BF16": ("<u2", 2),
    "F64": ("<f8", 8),
    "I64": ("<i8", 8),
    "I32": ("<i4", 4),
}


def read_safetensors(path: str | os.PathLike) -> dict:
    """The float tensors of a ``.safetensors`` file as float32 numpy arrays (integer
    tensors such as ``position_ids`` buffers are skipped). The format: an 8-byte
    little-endian header length, a JSON header mapping names to dtype, shape and byte
    offsets, then the raw little-endian data.

    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> write_safetensors(path, {"a": np.ones((2, 3), np.float32)})
    >>> read_safetensors(path)["a"].shape
    (2, 3)
    """
    import numpy as np

    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: not a safetensors file (shorter than 8 bytes)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ValueError(f"{path}: not a safetensors file (header length {n} past the end)")
    try:
        header = json.loads(raw[8 : 8 + n])
    except ValueError as e:
        raise ValueError(f"{path}: not a safetensors file (bad JSON header: {e})") from None
    base = 8 + n
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        dtype = meta.get("dtype")
        if dtype not in _DTYPES:
            raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {dtype!r}")
        np_dtype, size = _DTYPES[dtype]
        start, end = meta["data_offsets"]
        shape = tuple(meta["shape"])
        count = int(np.prod(shape)) if shape else 1
        if end - start != count * size or base + end > len(raw):
            raise ValueError(f"{path}: tensor {name!r} has inconsistent offsets")
        if dtype in ("I64", "I32"):
            continue
        a = np.frombuffer(raw, dtype=np_dtype, count=count, offset=base + start)
        if dtype == "BF16":
            a = (a.astype(np.uint32) << 16).view(np.float32)
        out[name] = a.astype(np.float32).reshape(shape)
    return out


def write_safetensors(path: str | os.PathLike, tensors: dict) -> None:
    """Write float32 numpy arrays as a ``.safetensors`` file (for tests and tools).

    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> write_safetensors(path, {"b": np.arange(4, dtype=np.float32)})
    >>> read_safetensors(path)["b"].tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    import numpy as np

    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


def _strip_prefix(weights: dict) -> dict:
    for prefix in ("bert.", "model."):
        if any(k.startswith(prefix + "embeddings.") for k in weights):
            return {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
    return weights


def bert_onnx(weights: dict, config: dict, classifier: bool = False) -> Any:
    """An ``onnx.ModelProto`` of a BERT encoder from its weights (HuggingFace names,
    with or without a ``bert.`` prefix) and its ``config.json`` as a dict.

    With ``classifier=True`` it is a ``BertForSequenceClassification`` (a cross-encoder):
    the pooler (``tanh(dense(first token))``) and the ``classifier`` linear layer follow
    the encoder, and the output is ``logits`` (float32 ``[batch, num_labels]``).

    >>> bert_onnx({}, {"model_type": "roberta"})
    Traceback (most recent call last):
    ValueError: unsupported architecture 'roberta' (config.json model_type): supported are bert ...
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model_type = config.get("model_type")
    if model_type not in SUPPORTED:
        raise ValueError(
            f"unsupported architecture {model_type!r} (config.json model_type): "
            f"supported are {', '.join(SUPPORTED)} (BERT, MiniLM, BGE, E5, GTE and other "
            "BERT-family encoders)"
        )
    act = config.get("hidden_act", "gelu")
    if act not in ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu"):
        raise ValueError(f"unsupported hidden_act {act!r}")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only absolute position embeddings are supported")
    w = _strip_prefix(weights)
    # The classifier of a sequence-classification model sits outside the ``bert.``
    # prefix.
    w.update({k: v for k, v in weights.items() if k.startswith("classifier.")})
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    layers = int(config["num_hidden_layers"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    if hidden % heads:
        raise ValueError(f"hidden_size {hidden} is not a multiple of {heads} heads")
    head = hidden // heads

    def get(name: str) -> Any:
        if name not in w:
            raise ValueError(f"the weights have no tensor {name!r}")
        return w[name]

    inits: list = []
    nodes: list = []

    def const(name: str, array: Any) -> str:
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(op: str, inputs: list, name: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name + "_node", **attrs))
        return name

    def linear(x: str, prefix: str, out: str) -> str:
        wt = const(prefix + ".weight_t", get(prefix + ".weight").T.copy())
        b = const(prefix + ".bias", get(prefix + ".bias"))
        return node("Add", [node("MatMul", [x, wt], out + "_mm"), b], out)

    def layer_norm(x: str, prefix: str, out: str) -> str:
        g = const(prefix + ".weight", get(prefix + ".weight"))
        b = const(prefix + ".bias", get(prefix + ".bias"))
        return node("LayerNormalization", [x, g, b], out, axis=-1, epsilon=eps)

    def activation(x: str, out: str) -> str:
        if act == "relu":
            return node("Relu", [x], out)
        if act == "gelu":
            scaled = node("Mul", [x, const(out + "_c0", np.float32(1 / math.sqrt(2)))], out + "_s")
            erf = node("Erf", [scaled], out + "_erf")
            one = node("Add", [erf, const(out + "_c1", np.float32(1.0))], out + "_1p")
            half = node("Mul", [x, const(out + "_c2", np.float32(0.5))], out + "_h")
            return node("Mul", [half, one], out)
        # tanh approximation
        cube = node("Mul", [node("Mul", [x, x], out + "_x2"), x], out + "_x3")
        inner = node(
            "Add",
            [x, node("Mul", [cube, const(out + "_c3", np.float32(0.044715))], out + "_k")],
            out + "_in",
        )
        t = node(
            "Tanh",
            [
                node(
                    "Mul",
                    [inner, const(out + "_c4", np.float32(math.sqrt(2 / math.pi)))],
                    out + "_m",
                )
            ],
            out + "_t",
        )
        one = node("Add", [t, const(out + "_c5", np.float32(1.0))], out + "_1p")
        half = node("Mul", [x, const(out + "_c6", np.float32(0.5))], out + "_h")
        return node("Mul", [half, one], out)

    # Embeddings.
    words = node(
        "Gather",
        [const("word_embeddings", get("embeddings.word_embeddings.weight")), "input_ids"],
        "emb_words",
    )
    shape = node("Shape", ["input_ids"], "ids_shape")
    seq = node("Gather", [shape, const("one_index", np.int64(1))], "seq_len")
    positions = node(
        "Range", [const("zero_i64", np.int64(0)), seq, const("one_i64", np.int64(1))], "positions"
    )
    pos = node(
        "Gather",
        [const("position_embeddings", get("embeddings.position_embeddings.weight")), positions],
        "emb_positions",
    )
    x = node("Add", [words, pos], "emb_wp")
    if "embeddings.token_type_embeddings.weight" in w:
        types = node(
            "Gather",
            [
                const("token_type_embeddings", get("embeddings.token_type_embeddings.weight")),
                "token_type_ids",
            ],
            "emb_types",
        )
        x = node("Add", [x, types], "emb_sum")
    x = layer_norm(x, "embeddings.LayerNorm", "emb_out")
    # Attention mask -> additive bias [batch, 1, 1, sequence].
    maskf = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    inv = node("Sub", [const("one_f", np.float32(1.0)), maskf], "mask_inv")
    bias = node("Mul", [inv, const("mask_min", np.float32(-3.0e38))], "mask_bias_2d")
    bias = node("Unsqueeze", [bias, const("mask_axes", np.array([1, 2], np.int64))], "mask_bias")
    split_shape = const("split_shape", np.array([0, 0, heads, head], np.int64))
    merge_shape = const("merge_shape", np.array([0, 0, hidden], np.int64))
    scale = const("attn_scale", np.float32(1 / math.sqrt(head)))
    for i in range(layers):
        p = f"encoder.layer.{i}"
        q = linear(x, p + ".attention.self.query", f"l{i}_q")
        k = linear(x, p + ".attention.self.key", f"l{i}_k")
        v = linear(x, p + ".attention.self.value", f"l{i}_v")
        q = node(
            "Transpose",
            [node("Reshape", [q, split_shape], f"l{i}_qr")],
            f"l{i}_qt",
            perm=[0, 2, 1, 3],
        )
        k = node(
            "Transpose",
            [node("Reshape", [k, split_shape], f"l{i}_kr")],
            f"l{i}_kt",
            perm=[0, 2, 3, 1],
        )
        v = node(
            "Transpose",
            [node("Reshape", [v, split_shape], f"l{i}_vr")],
            f"l{i}_vt",
            perm=[0, 2, 1, 3],
        )
        scores = node("Mul", [node("MatMul", [q, k], f"l{i}_qk"), scale], f"l{i}_scaled")
        scores = node("Add", [scores, bias], f"l{i}_masked")
        probs = node("Softmax", [scores], f"l{i}_probs", axis=-1)
        ctx = node("MatMul", [probs, v], f"l{i}_ctx")
        ctx = node(
            "Reshape",
            [node("Transpose", [ctx], f"l{i}_ctxt", perm=[0, 2, 1, 3]), merge_shape],
            f"l{i}_ctxm",
        )
        attn = linear(ctx, p + ".attention.output.dense", f"l{i}_ao")
        x = layer_norm(
            node("Add", [attn, x], f"l{i}_ares"), p + ".attention.output.LayerNorm", f"l{i}_a"
        )
        h = activation(linear(x, p + ".intermediate.dense", f"l{i}_i"), f"l{i}_act")
        out = linear(h, p + ".output.dense", f"l{i}_o")
        x = layer_norm(node("Add", [out, x], f"l{i}_ores"), p + ".output.LayerNorm", f"l{i}_out")
    if classifier:
        first = node("Gather", [x, const("zero_index", np.int64(0))], "first_token", axis=1)
        pooled = node("Tanh", [linear(first, "pooler.dense", "pooler_dense")], "pooled")
        x = linear(pooled, "classifier", "classifier_out")
        out_name = "logits"
        out_shape = ["batch", int(get("classifier.weight").shape[0])]
    else:
        out_name = "last_hidden_state"
        out_shape = ["batch", "sequence", hidden]
    nodes.append(helper.make_node("Identity", [x], [out_name], name="output"))
    ids = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
        for n in ("input_ids", "attention_mask", "token_type_ids")
    ]
    if "embeddings.token_type_embeddings.weight" not in w:
        ids = ids[:2]
    graph = helper.make_graph(
        nodes,
        "bert",
        ids,
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    # IR 8 / opset 17: runs on every onnxruntime >= 1.14 (Python 3.9 gets 1.19).
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
