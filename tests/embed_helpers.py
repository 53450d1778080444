"""Test fixtures for text embeddings: a WordPiece tokenizer.json and a tiny random BERT
(weights in HuggingFace naming), a sentence-transformers folder made of them, and an
independent numpy BERT forward pass as the oracle."""

from __future__ import annotations

import json
import math
import os

import numpy as np

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = (
    "the a an of to and in is it that for on with as was at by be this from or "
    "vector search database query document model text embed sql table index row "
    "column python rust fast slow big small red blue green cat dog bird tree river "
    "mountain city music book film game water fire earth wind light dark day night "
    "über café naïve 東 京 都 мир привет"
).split()
SUFFIXES = ["##s", "##ed", "##ing", "##er", "##ly", "##e", "##a", "##o", "##t", "##n"]
LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]
DIGITS = [str(d) for d in range(10)]


def vocab() -> list:
    letters = LETTERS + ["##" + c for c in LETTERS] + DIGITS + ["##" + d for d in DIGITS]
    punct = list(".,!?;:'\"()-")
    return SPECIAL + WORDS + SUFFIXES + letters + punct


def tokenizer_json(lowercase: bool = True) -> bytes:
    v = {t: i for i, t in enumerate(vocab())}
    doc = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": v[t],
                "content": t,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for t in SPECIAL
        ],
        "normalizer": {
            "type": "BertNormalizer",
            "clean_text": True,
            "handle_chinese_chars": True,
            "strip_accents": None,
            "lowercase": lowercase,
        },
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 1}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 1}},
            ],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [v["[CLS]"]], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [v["[SEP]"]], "tokens": ["[SEP]"]},
            },
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {
            "type": "WordPiece",
            "unk_token": "[UNK]",
            "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100,
            "vocab": v,
        },
    }
    return json.dumps(doc, ensure_ascii=False).encode()


def tiny_bert_config(**overrides) -> dict:
    config = {
        "model_type": "bert",
        "architectures": ["BertModel"],
        "vocab_size": len(vocab()),
        "hidden_size": 32,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "intermediate_size": 64,
        "hidden_act": "gelu",
        "max_position_embeddings": 64,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
        "position_embedding_type": "absolute",
    }
    config.update(overrides)
    return config


def tiny_bert_weights(config: dict, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    h, i_size = config["hidden_size"], config["intermediate_size"]

    def r(*shape, scale=0.2):
        return (rng.normal(size=shape) * scale).astype(np.float32)

    w = {
        "embeddings.word_embeddings.weight": r(config["vocab_size"], h, scale=1.0),
        "embeddings.position_embeddings.weight": r(config["max_position_embeddings"], h),
        "embeddings.token_type_embeddings.weight": r(config["type_vocab_size"], h),
        "embeddings.LayerNorm.weight": 1 + r(h, scale=0.1),
        "embeddings.LayerNorm.bias": r(h, scale=0.1),
    }
    for layer in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{layer}"
        for part in ("query", "key", "value"):
            w[f"{p}.attention.self.{part}.weight"] = r(h, h)
            w[f"{p}.attention.self.{part}.bias"] = r(h, scale=0.05)
        w[f"{p}.attention.output.dense.weight"] = r(h, h)
        w[f"{p}.attention.output.dense.bias"] = r(h, scale=0.05)
        w[f"{p}.attention.output.LayerNorm.weight"] = 1 + r(h, scale=0.1)
        w[f"{p}.attention.output.LayerNorm.bias"] = r(h, scale=0.1)
        w[f"{p}.intermediate.dense.weight"] = r(i_size, h)
        w[f"{p}.intermediate.dense.bias"] = r(i_size, scale=0.05)
        w[f"{p}.output.dense.weight"] = r(h, i_size)
        w[f"{p}.output.dense.bias"] = r(h, scale=0.05)
        w[f"{p}.output.LayerNorm.weight"] = 1 + r(h, scale=0.1)
        w[f"{p}.output.LayerNorm.bias"] = r(h, scale=0.1)
    return w


def tiny_bert_onnx(config: dict | None = None, seed: int = 0) -> bytes:
    from sqlite_quiver import _bert

    config = config or tiny_bert_config()
    return _bert.bert_onnx(tiny_bert_weights(config, seed), config).SerializeToString()


def cross_encoder_weights(config: dict, seed: int = 0, labels: int = 1) -> dict:
    """A tiny BertForSequenceClassification's weights, named as HuggingFace saves them
    (``bert.`` prefix on the encoder and pooler, ``classifier.`` outside it)."""
    rng = np.random.default_rng(seed + 1000)
    h = config["hidden_size"]
    w = {"bert." + k: v for k, v in tiny_bert_weights(config, seed).items()}
    w["bert.pooler.dense.weight"] = (rng.normal(size=(h, h)) * 0.3).astype(np.float32)
    w["bert.pooler.dense.bias"] = (rng.normal(size=h) * 0.05).astype(np.float32)
    w["classifier.weight"] = (rng.normal(size=(labels, h)) * 0.5).astype(np.float32)
    w["classifier.bias"] = (rng.normal(size=labels) * 0.1).astype(np.float32)
    return w


def cross_encoder_folder(path: str, seed: int = 0, labels: int = 1, **config_extra) -> dict:
    """Writes a HuggingFace cross-encoder folder (config.json, model.safetensors,
    tokenizer.json); returns the weights."""
    from sqlite_quiver import _bert

    config = tiny_bert_config(architectures=["BertForSequenceClassification"], **config_extra)
    weights = cross_encoder_weights(config, seed, labels)
    os.makedirs(path, exist_ok=True)
    _bert.write_safetensors(os.path.join(path, "model.safetensors"), weights)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    with open(os.path.join(path, "tokenizer.json"), "wb") as f:
        f.write(tokenizer_json())
    return weights


def sentence_transformer_folder(
    path: str, config: dict | None = None, seed: int = 0, pooling: str = "mean", max_seq: int = 48
) -> dict:
    """Writes a sentence-transformers model folder; returns the weights."""
    from sqlite_quiver import _bert

    config = config or tiny_bert_config()
    weights = tiny_bert_weights(config, seed)
    os.makedirs(os.path.join(path, "1_Pooling"), exist_ok=True)
    _bert.write_safetensors(os.path.join(path, "model.safetensors"), weights)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    with open(os.path.join(path, "tokenizer.json"), "wb") as f:
        f.write(tokenizer_json())
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
        {
            "idx": 2,
            "name": "2",
            "path": "2_Normalize",
            "type": "sentence_transformers.models.Normalize",
        },
    ]
    with open(os.path.join(path, "modules.json"), "w") as f:
        json.dump(modules, f)
    with open(os.path.join(path, "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": max_seq, "do_lower_case": False}, f)
    with open(os.path.join(path, "1_Pooling", "config.json"), "w") as f:
        json.dump(
            {
                "word_embedding_dimension": config["hidden_size"],
                "pooling_mode_cls_token": pooling == "cls",
                "pooling_mode_mean_tokens": pooling == "mean",
                "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False,
            },
            f,
        )
    return weights


# --- The oracle: BERT in numpy, written from the paper's equations ------------------


def _layer_norm(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def _gelu(x):
    try:
        from scipy.special import erf
    except ImportError:
        erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def bert_reference(weights: dict, config: dict, ids: list, pooling: str = "mean", normalize=True):
    """One text (token ids) through BERT in float64 numpy: its pooled vector."""
    x = bert_hidden(weights, config, ids)
    vec = x.mean(0) if pooling == "mean" else x[0]
    if normalize:
        vec = vec / np.linalg.norm(vec)
    return vec


def cross_encoder_reference(weights: dict, config: dict, ids: list, types: list) -> float:
    """One (query, document) pair (token ids and type ids) through
    BertForSequenceClassification in float64 numpy: its one logit."""
    w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    x = bert_hidden(weights, config, ids, types)
    pooled = np.tanh(w["bert.pooler.dense.weight"] @ x[0] + w["bert.pooler.dense.bias"])
    return float((w["classifier.weight"] @ pooled + w["classifier.bias"])[0])


def bert_hidden(weights: dict, config: dict, ids: list, types: list | None = None):
    """The last hidden states (tokens x hidden) of BERT for one row of token ids."""
    w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    w = {k[5:] if k.startswith("bert.") else k: v for k, v in w.items()}
    n = len(ids)
    eps = config.get("layer_norm_eps", 1e-12)
    heads = config["num_attention_heads"]
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:n]
        + w["embeddings.token_type_embeddings.weight"][types if types is not None else 0]
    )
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    d = x.shape[1] // heads
    for layer in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{layer}"

        def lin(v, name, p=p):
            return v @ w[f"{p}.{name}.weight"].T + w[f"{p}.{name}.bias"]

        q, k, v = (lin(x, f"attention.self.{t}") for t in ("query", "key", "value"))
        out = np.zeros_like(x)
        for h in range(heads):
            s = slice(h * d, (h + 1) * d)
            scores = q[:, s] @ k[:, s].T / math.sqrt(d)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            out[:, s] = (scores / scores.sum(-1, keepdims=True)) @ v[:, s]
        x = _layer_norm(
            lin(out, "attention.output.dense") + x,
            w[f"{p}.attention.output.LayerNorm.weight"],
            w[f"{p}.attention.output.LayerNorm.bias"],
            eps,
        )
        hmid = _gelu(lin(x, "intermediate.dense"))
        x = _layer_norm(
            lin(hmid, "output.dense") + x,
            w[f"{p}.output.LayerNorm.weight"],
            w[f"{p}.output.LayerNorm.bias"],
            eps,
        )
    return x


def cosine(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


SENTENCES = [
    "",
    "the cat",
    "The Dog ran to the river!",
    "vector search in a database, with SQL and python",
    "über café naïve",
    "東京都 привет мир",
    "unknownwordzzz qqq",
    "a " * 80,
    "red blue green light dark day night " * 6,
    "Fast rust tables: index, row, column; query the model.",
    "   spaces    everywhere   ",
    "digits 123 4567 89",
]
