"""Cross-encoder reranking: ml_rerank / ml.rerank with a tiny random
BertForSequenceClassification converted from safetensors, checked against an independent
numpy forward pass and the HuggingFace `tokenizers` package's pair encoding."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from embed_helpers import (
    SENTENCES,
    cross_encoder_folder,
    cross_encoder_reference,
    tiny_bert_config,
    tiny_bert_onnx,
    tokenizer_json,
)

import sqlite_quiver
from sqlite_quiver import _bert, _quiver, ml

tokenizers = pytest.importorskip("tokenizers")  # in the test extra

MAX_LENGTH = 24
QUERY = "vector search in sql"


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "cross"
    weights = cross_encoder_folder(str(path))
    return path, weights


@pytest.fixture
def rconn(folder):
    c = sqlite3.connect(":memory:")
    sqlite_quiver.load(c)
    ml.save_cross_encoder(c, "rr", folder[0], max_length=MAX_LENGTH)
    ml.save_text_model(c, "emb", tiny_bert_onnx(), tokenizer_json(), max_length=MAX_LENGTH)
    yield c
    c.close()


def hf_pair(query, document, max_length=MAX_LENGTH):
    tok = tokenizers.Tokenizer.from_str(tokenizer_json().decode())
    tok.enable_truncation(max_length)
    e = tok.encode(query, document)
    return e.ids, e.type_ids


def reference(weights, query, document):
    config = tiny_bert_config(architectures=["BertForSequenceClassification"])
    ids, types = hf_pair(query, document)
    return cross_encoder_reference(weights, config, ids, types)


def test_scores_match_numpy_reference_and_pair_encoding(rconn, folder):
    _, weights = folder
    got = ml.rerank(rconn, "rr", QUERY, SENTENCES)
    assert got.dtype == np.float32 and got.shape == (len(SENTENCES),)
    want = np.array([reference(weights, QUERY, s) for s in SENTENCES])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # The pairs really differ (a constant score would pass a loose check).
    assert np.ptp(want) > 0.05
    # Long documents were cut to max_length together with the query.
    assert max(len(hf_pair(QUERY, s)[0]) for s in SENTENCES) == MAX_LENGTH


def test_sql_single_and_batched_agree(rconn):
    batched = ml.rerank(rconn, "rr", QUERY, SENTENCES)
    single = [
        rconn.execute("select ml_rerank('rr', ?, ?)", [QUERY, s]).fetchone()[0] for s in SENTENCES
    ]
    assert all(isinstance(x, float) for x in single)
    np.testing.assert_allclose(single, batched, rtol=1e-5, atol=1e-5)
    one_by_one = [ml.rerank(rconn, "rr", QUERY, [s])[0] for s in SENTENCES]
    np.testing.assert_allclose(one_by_one, batched, rtol=1e-5, atol=1e-5)


def test_sql_reorders_a_shortlist(rconn):
    rconn.execute("create table docs(id integer primary key, body text)")
    rconn.executemany("insert into docs(body) values (?)", [(s,) for s in SENTENCES])
    rows = rconn.execute(
        "select id from docs order by ml_rerank('rr', ?, body) desc limit 5", [QUERY]
    ).fetchall()
    scores = ml.rerank(rconn, "rr", QUERY, SENTENCES)
    assert [r[0] for r in rows] == [int(i) + 1 for i in np.argsort(-scores, kind="stable")[:5]]


def test_sigmoid_option(folder):
    c = sqlite3.connect(":memory:")
    sqlite_quiver.load(c)
    ml.save_cross_encoder(c, "raw", folder[0], max_length=MAX_LENGTH)
    ml.save_cross_encoder(c, "prob", folder[0], max_length=MAX_LENGTH, sigmoid=True)
    raw = ml.rerank(c, "raw", QUERY, SENTENCES)
    prob = ml.rerank(c, "prob", QUERY, SENTENCES)
    np.testing.assert_allclose(prob, 1 / (1 + np.exp(-raw)), rtol=1e-5)
    assert ((prob > 0) & (prob < 1)).all()


def test_sigmoid_default_from_sentence_transformers_config(tmp_path):
    path = tmp_path / "st"
    cross_encoder_folder(
        str(path),
        sentence_transformers={"activation_fn": "torch.nn.modules.activation.Sigmoid"},
    )
    c = sqlite3.connect(":memory:")
    sqlite_quiver.load(c)
    ml.save_cross_encoder(c, "st", path, max_length=MAX_LENGTH)
    got = ml.rerank(c, "st", QUERY, SENTENCES)
    assert ((got > 0) & (got < 1)).all()


def test_null_in_null_out_and_empty_list(rconn):
    for q, d in ((None, "x"), ("x", None), (None, None)):
        assert rconn.execute("select ml_rerank('rr', ?, ?)", [q, d]).fetchone() == (None,)
    got = ml.rerank(rconn, "rr", QUERY, [])
    assert got.shape == (0,) and got.dtype == np.float32
    # Empty texts are scored (the pair is still [CLS] [SEP] [SEP]).
    assert np.isfinite(ml.rerank(rconn, "rr", "", [""])).all()


def test_stored_in_the_file_and_reopened(tmp_path, folder):
    db = tmp_path / "r.db"
    c = sqlite3.connect(db)
    sqlite_quiver.load(c)
    ml.save_cross_encoder(c, "rr", folder[0], max_length=MAX_LENGTH)
    c.commit()
    want = ml.rerank(c, "rr", QUERY, SENTENCES)
    c.close()
    _quiver.ml_clear_cache()  # the next call loads the model from the file
    c = sqlite3.connect(db)
    sqlite_quiver.load(c)
    np.testing.assert_allclose(ml.rerank(c, "rr", QUERY, SENTENCES), want, rtol=1e-6)
    (kind,) = c.execute("select format from ml_models where name = 'rr'").fetchone()
    assert kind == "onnx-text"


def test_progress_callback_hears_pairs(rconn):
    heard = []
    ml.rerank(rconn, "rr", QUERY, SENTENCES, progress=lambda *a: heard.append(a))
    assert heard == [("rerank", len(SENTENCES), len(SENTENCES))]


def test_embedding_model_and_reranker_are_not_interchangeable(rconn):
    with pytest.raises(sqlite3.OperationalError, match="ml_rerank: .*embedding model"):
        rconn.execute("select ml_rerank('emb', 'q', 'd')").fetchone()
    with pytest.raises(ValueError, match="embedding model .*not a reranker"):
        ml.rerank(rconn, "emb", "q", ["d"])
    with pytest.raises(sqlite3.OperationalError, match="ml_embed: .*reranker"):
        rconn.execute("select ml_embed('rr', 'q')").fetchone()
    with pytest.raises(sqlite3.OperationalError, match="reranker"):
        rconn.execute("select * from ml_embed_batch('rr', 'select 1, ''text''')").fetchall()
    with pytest.raises(ValueError, match="reranker"):
        ml.embed(rconn, "rr", ["q"])


def test_bad_arguments(rconn):
    with pytest.raises(sqlite3.OperationalError, match=r"expected ml_rerank\(model, query, "):
        rconn.execute("select ml_rerank('rr', 'q')").fetchone()
    with pytest.raises(sqlite3.OperationalError, match="argument 3: expected text, got"):
        rconn.execute("select ml_rerank('rr', 'q', 42)").fetchone()
    with pytest.raises(sqlite3.OperationalError, match="argument 2: expected text, got"):
        rconn.execute("select ml_rerank('rr', x'00', 'd')").fetchone()
    with pytest.raises(sqlite3.OperationalError, match="no model named 'nope'"):
        rconn.execute("select ml_rerank('nope', 'q', 'd')").fetchone()
    with pytest.raises(TypeError, match="query must be a str"):
        ml.rerank(rconn, "rr", 1, ["d"])
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        ml.rerank(rconn, "rr", "q", ["d", 2])


def test_truncate_false_refuses_long_pairs(folder):
    c = sqlite3.connect(":memory:")
    sqlite_quiver.load(c)
    graph = _bert.bert_onnx(
        _bert.read_safetensors(folder[0] / "model.safetensors"),
        tiny_bert_config(architectures=["BertForSequenceClassification"]),
        classifier=True,
    )
    ml.save_reranker(c, "strict", graph, tokenizer_json(), max_length=12, truncate=False)
    assert np.isfinite(ml.rerank(c, "strict", "cat", ["dog"])).all()
    with pytest.raises(ValueError, match="above this model's max_length of 12"):
        ml.rerank(c, "strict", "cat", ["the " * 20])


def test_models_that_are_not_rerankers_are_refused(tmp_path, folder):
    c = sqlite3.connect(":memory:")
    sqlite_quiver.load(c)
    # An encoder (one vector per token) saved as a reranker.
    with pytest.raises(ValueError, match="rank 2"):
        ml.save_reranker(c, "enc", tiny_bert_onnx(), tokenizer_json())
    # Two labels: not one score per pair.
    two = tmp_path / "two"
    cross_encoder_folder(str(two), labels=2)
    with pytest.raises(ValueError, match="one output label .*has 2 labels"):
        ml.save_cross_encoder(c, "two", two)
    graph = _bert.bert_onnx(
        _bert.read_safetensors(two / "model.safetensors"),
        tiny_bert_config(architectures=["BertForSequenceClassification"]),
        classifier=True,
    )
    with pytest.raises(ValueError, match="one score per .*gives 2 values"):
        ml.save_reranker(c, "two", graph, tokenizer_json())
    # Not a sequence-classification model.
    with pytest.raises(ValueError, match="BertForSequenceClassification is supported"):
        (folder[0] / "config.json").write_text('{"model_type": "bert", "architectures": []}')
        ml.save_cross_encoder(c, "x", folder[0])
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        ml.save_cross_encoder(c, "x", tmp_path / "missing")
    assert ml.list_models(c) == []  # nothing was stored
