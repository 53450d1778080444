"""Text embeddings: ml_embed / ml_embed_batch / ml.embed with a tiny random BERT and a
WordPiece tokenizer generated here, checked against an independent numpy BERT and the
HuggingFace `tokenizers` package."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from embed_helpers import (
    SENTENCES,
    bert_reference,
    cosine,
    sentence_transformer_folder,
    tiny_bert_config,
    tiny_bert_onnx,
    tiny_bert_weights,
    tokenizer_json,
)

import sqlite_quiver
from sqlite_quiver import _quiver, ml

tokenizers = pytest.importorskip("tokenizers")  # in the test extra


@pytest.fixture
def tconn():
    c = sqlite3.connect(":memory:")
    sqlite_quiver.load(c)
    ml.save_text_model(c, "tiny", tiny_bert_onnx(), tokenizer_json(), max_length=24)
    yield c
    c.close()


def hf_ids(text, max_length=24):
    tok = tokenizers.Tokenizer.from_str(tokenizer_json().decode())
    tok.enable_truncation(max_length)
    return tok.encode(text).ids


def reference(text, max_length=24, pooling="mean", normalize=True, prefix=""):
    config = tiny_bert_config()
    ids = hf_ids(prefix + text, max_length)
    return bert_reference(tiny_bert_weights(config), config, ids, pooling, normalize)


def test_token_ids_match_huggingface_tokenizers(tconn):
    ours = ml.tokenize(tconn, "tiny", SENTENCES)
    assert ours == [hf_ids(s) for s in SENTENCES]
    # Long texts are cut at max_length, special tokens included.
    assert max(len(i) for i in ours) == 24
    sql = [
        json.loads(tconn.execute("select ml_tokenize('tiny', ?)", [s]).fetchone()[0])
        for s in SENTENCES
    ]
    assert sql == ours


def test_embeddings_match_numpy_reference(tconn):
    got = ml.embed(tconn, "tiny", SENTENCES)
    assert got.dtype == np.float32 and got.shape == (len(SENTENCES), 32)
    for s, v in zip(SENTENCES, got):
        assert cosine(v, reference(s)) >= 0.9999, s
        assert abs(np.linalg.norm(v) - 1) < 1e-5


def test_sql_single_batch_and_python_agree(tconn):
    tconn.execute("create table docs(id integer primary key, body text)")
    tconn.executemany("insert into docs(body) values (?)", [(s,) for s in SENTENCES * 3])
    batch = tconn.execute(
        "select key, embedding from ml_embed_batch('tiny', 'select id, body from docs')"
    ).fetchall()
    assert [k for k, _ in batch] == list(range(1, 3 * len(SENTENCES) + 1))  # input order
    single = [
        tconn.execute("select ml_embed('tiny', body) from docs where id = ?", [k]).fetchone()[0]
        for k, _ in batch
    ]
    py = ml.embed(tconn, "tiny", SENTENCES * 3)
    for (_, b), s, p in zip(batch, single, py):
        b, s = np.frombuffer(b, np.float32), np.frombuffer(s, np.float32)
        assert cosine(b, s) >= 0.9999 and cosine(b, p) >= 0.9999
        np.testing.assert_allclose(b, s, atol=2e-6)


def test_batch_is_independent_of_company(tconn):
    """A text's vector does not depend on the other texts of its batch (padding)."""
    alone = ml.embed(tconn, "tiny", ["the cat"])[0]
    crowd = ml.embed(tconn, "tiny", ["the cat", "a " * 100, "x", "red blue green " * 9])[0]
    np.testing.assert_allclose(alone, crowd, atol=2e-6)


def test_query_and_document_prefixes():
    c = sqlite3.connect(":memory:")
    sqlite_quiver.load(c)
    ml.save_text_model(
        c,
        "e5",
        tiny_bert_onnx(),
        tokenizer_json(),
        query_prefix="query: ",
        document_prefix="the ",
        max_length=64,
    )
    q = np.frombuffer(c.execute("select ml_embed('e5', 'cat', 'query')").fetchone()[0], np.float32)
    d = np.frombuffer(c.execute("select ml_embed('e5', 'cat')").fetchone()[0], np.float32)
    assert cosine(q, reference("cat", 64, prefix="query: ")) >= 0.9999
    assert cosine(d, reference("cat", 64, prefix="the ")) >= 0.9999
    assert c.execute("select ml_token_count('e5', 'cat', 'document')").fetchone()[0] == 4
    np.testing.assert_allclose(ml.embed(c, "e5", ["cat"], kind="query")[0], q, atol=2e-6)


def test_cls_pooling_and_no_normalize():
    c = sqlite3.connect(":memory:")
    sqlite_quiver.load(c)
    ml.save_text_model(
        c, "cls", tiny_bert_onnx(), tokenizer_json(), pooling="cls", normalize=False, max_length=64
    )
    v = ml.embed(c, "cls", ["the dog"])[0]
    ref = reference("the dog", 64, pooling="cls", normalize=False)
    np.testing.assert_allclose(v, ref, rtol=1e-4, atol=1e-4)


def test_vec0_and_distances_take_ml_embed(tconn):
    tconn.execute("create table docs(id integer primary key, body text)")
    tconn.executemany("insert into docs(body) values (?)", [(s,) for s in SENTENCES])
    tconn.execute("create virtual table doc_vectors using vec0(embedding float[32])")
    tconn.execute(
        "insert into doc_vectors(rowid, embedding) "
        "select key, embedding from ml_embed_batch('tiny', 'select id, body from docs')"
    )
    hits = tconn.execute(
        "select d.body, v.distance from doc_vectors v join docs d on d.id = v.rowid "
        "where v.embedding match ml_embed('tiny', :q, 'query') and k = 3",
        {"q": "The Dog ran to the river!"},
    ).fetchall()
    assert hits[0][0] == "The Dog ran to the river!" and hits[0][1] < 1e-3
    assert len(hits) == 3
    d = tconn.execute(
        "select vec_distance_cosine(ml_embed('tiny', 'the cat'), ml_embed('tiny', 'the cat')), "
        "vec_type(ml_embed('tiny', 'x')), vec_length(ml_embed('tiny', 'x'))"
    ).fetchone()
    assert abs(d[0]) < 1e-6 and d[1] == "float32" and d[2] == 32


def test_null_in_null_out(tconn):
    assert tconn.execute(
        "select ml_embed('tiny', NULL), ml_token_count('tiny', NULL)"
    ).fetchone() == (
        None,
        None,
    )
    tconn.execute("create table t(k, body)")
    tconn.executemany("insert into t values (?, ?)", [(1, "the cat"), (2, None), (3, "dog")])
    rows = tconn.execute(
        "select key, embedding is null from ml_embed_batch('tiny', 'select k, body from t')"
    ).fetchall()
    assert rows == [(1, 0), (2, 1), (3, 0)]


def test_token_count_before_truncation(tconn):
    long = "the " * 50
    assert tconn.execute("select ml_token_count('tiny', ?)", [long]).fetchone()[0] == 52
    assert len(ml.tokenize(tconn, "tiny", [long])[0]) == 24


def test_truncate_false_refuses_long_text():
    c = sqlite3.connect(":memory:")
    sqlite_quiver.load(c)
    ml.save_text_model(
        c, "strict", tiny_bert_onnx(), tokenizer_json(), max_length=16, truncate=False
    )
    assert c.execute("select length(ml_embed('strict', 'the cat'))").fetchone()[0] == 128
    with pytest.raises(
        sqlite3.OperationalError, match="is 22 tokens long, above this model's max_length of 16"
    ):
        c.execute("select ml_embed('strict', ?)", ["the " * 20]).fetchone()
    with pytest.raises(ValueError, match="above this model's max_length"):
        ml.embed(c, "strict", ["ok", "the " * 20])


def test_empty_inputs(tconn):
    assert ml.embed(tconn, "tiny", []).shape == (0, 32)
    assert tconn.execute(
        "select count(*) from ml_embed_batch('tiny', 'select 1, 2 where 0')"
    ).fetchone() == (0,)


def test_large_input_spans_chunks(tconn):
    # Past ml.embed's 2,048 texts per call and ml_embed_batch's 4,096 rows per chunk.
    texts = [f"{SENTENCES[i % len(SENTENCES)]} {i % 7}" for i in range(9000)]
    got = ml.embed(tconn, "tiny", texts)
    assert got.shape == (9000, 32)
    again = ml.embed(tconn, "tiny", texts[2047:2050])
    np.testing.assert_allclose(got[2047:2050], again, atol=2e-6)
    tconn.execute("create table t(k integer primary key, body)")
    tconn.executemany("insert into t(body) values (?)", [(t,) for t in texts])
    keys = [
        k
        for (k,) in tconn.execute("select key from ml_embed_batch('tiny', 'select k, body from t')")
    ]
    assert keys == list(range(1, 9001))


def test_progress_bar(tconn, capsys, no_tqdm):
    ml.embed(tconn, "tiny", ["the cat"] * 5, progress=True)
    assert "embed: 5/5" in capsys.readouterr().err


def test_progress_callback_hears_texts_and_can_stop(tconn):
    heard = []
    texts = ["the cat"] * (ml._EMBED_CHUNK + 5)
    out = ml.embed(tconn, "tiny", texts, progress=lambda *a: heard.append(a))
    assert out.shape[0] == len(texts)
    assert heard == [("embed", ml._EMBED_CHUNK, len(texts)), ("embed", len(texts), len(texts))]

    def stop(stage, done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ml.embed(tconn, "tiny", texts, progress=stop)
    with pytest.raises(TypeError, match="progress must be True, False, None or a callable"):
        ml.embed(tconn, "tiny", texts, progress="yes")


def test_kind_in_batch_third_column(tconn):
    c = tconn
    ml.save_text_model(
        c, "pre", tiny_bert_onnx(), tokenizer_json(), query_prefix="the ", max_length=64
    )
    rows = c.execute(
        "select key, embedding from ml_embed_batch('pre', "
        "'select 1, ''cat'', ''query'' union all select 2, ''cat'', ''document''')"
    ).fetchall()
    q = np.frombuffer(rows[0][1], np.float32)
    d = np.frombuffer(rows[1][1], np.float32)
    assert cosine(q, reference("cat", 64, prefix="the ")) >= 0.9999
    assert cosine(d, reference("cat", 64)) >= 0.9999


def test_registry_lists_text_models(tconn):
    (m,) = [x for x in ml.list_models(tconn) if x["name"] == "tiny"]
    assert m["format"] == "onnx-text"
    assert [i["name"] for i in m["inputs"]] == ["input_ids", "attention_mask", "token_type_ids"]
    row = tconn.execute("select config from quiver_models where name = 'tiny'").fetchone()
    config = json.loads(row[0])
    assert config["dimension"] == 32 and config["max_length"] == 24 and config["pooling"] == "mean"


def test_new_version_is_used_and_cache_keys_on_config(tconn):
    a = ml.embed(tconn, "tiny", ["the cat"])[0]
    ml.save_text_model(
        tconn, "tiny", tiny_bert_onnx(), tokenizer_json(), max_length=24, normalize=False
    )
    b = ml.embed(tconn, "tiny", ["the cat"])[0]
    assert abs(np.linalg.norm(a) - 1) < 1e-5 and abs(np.linalg.norm(b) - 1) > 1e-2
    c = ml.embed(tconn, "tiny@1", ["the cat"])[0]
    np.testing.assert_allclose(a, c, atol=1e-6)


def test_save_sentence_transformer_folder(tmp_path):
    weights = sentence_transformer_folder(str(tmp_path / "st"), max_seq=20)
    c = sqlite3.connect(":memory:")
    sqlite_quiver.load(c)
    assert ml.save_sentence_transformer(c, "st", tmp_path / "st") == 1
    config = json.loads(c.execute("select config from quiver_models").fetchone()[0])
    assert config["max_length"] == 20 and config["pooling"] == "mean" and config["normalize"]
    got = ml.embed(c, "st", SENTENCES)
    cfg = tiny_bert_config()
    for s, v in zip(SENTENCES, got):
        assert cosine(v, bert_reference(weights, cfg, hf_ids(s, 20))) >= 0.9999, s


def test_save_sentence_transformer_cls_and_bert_prefix(tmp_path):
    from sqlite_quiver import _bert

    folder = tmp_path / "st"
    weights = sentence_transformer_folder(str(folder), pooling="cls", seed=3)
    _bert.write_safetensors(
        folder / "model.safetensors", {"bert." + k: v for k, v in weights.items()}
    )
    (folder / "modules.json").write_text(
        json.dumps(
            [
                m
                for m in json.loads((folder / "modules.json").read_text())
                if "Normalize" not in m["type"]
            ]
        )
    )
    c = sqlite3.connect(":memory:")
    sqlite_quiver.load(c)
    ml.save_sentence_transformer(c, "st", folder)
    v = ml.embed(c, "st", ["the dog"])[0]
    ref = bert_reference(weights, tiny_bert_config(), hf_ids("the dog", 48), "cls", normalize=False)
    np.testing.assert_allclose(v, ref, rtol=1e-4, atol=1e-4)


# --- Bad input: every one a clear error ----------------------------------------------


def test_unknown_model(tconn):
    with pytest.raises(
        sqlite3.OperationalError, match="ml_embed: no model named 'nope' in the registry"
    ):
        tconn.execute("select ml_embed('nope', 'x')").fetchone()
    with pytest.raises(ValueError, match="no model named 'nope'"):
        ml.embed(tconn, "nope", ["x"])
    with pytest.raises(sqlite3.OperationalError, match="ml_embed_batch: no model named 'nope'"):
        tconn.execute("select * from ml_embed_batch('nope', 'select 1, 2')").fetchall()
    c = sqlite3.connect(":memory:")
    sqlite_quiver.load(c)
    with pytest.raises(sqlite3.OperationalError, match="no model registry in this database"):
        c.execute("select ml_embed('nope', 'x')").fetchone()


def test_numeric_model_is_not_a_text_model(tconn):
    from sklearn.linear_model import LinearRegression

    ml.save_model(tconn, "lin", LinearRegression().fit(np.eye(2, dtype=np.float32), [1, 2]))
    with pytest.raises(sqlite3.OperationalError, match="model 'lin' is not a text model"):
        tconn.execute("select ml_embed('lin', 'x')").fetchone()
    with pytest.raises(ValueError, match="model 'lin' is not a text model"):
        ml.embed(tconn, "lin", ["x"])
    with pytest.raises(sqlite3.OperationalError, match="model 'tiny' is a text model"):
        tconn.execute("select ml_predict('tiny', 1, 2)").fetchone()


def test_onnx_inputs_that_do_not_match_the_tokenizer():
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    c = sqlite3.connect(":memory:")
    sqlite_quiver.load(c)
    numeric = to_onnx(
        LinearRegression().fit(np.eye(2, dtype=np.float32), [1, 2]), np.zeros((1, 2), np.float32)
    )
    with pytest.raises(
        ValueError, match="the ONNX inputs do not match the tokenizer: unexpected input 'X'"
    ):
        ml.save_text_model(c, "bad", numeric, tokenizer_json())
    # A model whose vocabulary is smaller than the tokenizer's.
    small = tiny_bert_onnx(tiny_bert_config(vocab_size=50))
    with pytest.raises(ValueError, match="vocabulary has .* tokens but the model refuses token id"):
        ml.save_text_model(c, "bad", small, tokenizer_json())
    # max_length past the model's positions.
    with pytest.raises(ValueError, match="does not accept max_length = 100 tokens"):
        ml.save_text_model(c, "bad", tiny_bert_onnx(), tokenizer_json(), max_length=100)
    # An already-pooled output declared for a [batch, sequence, hidden] output.
    with pytest.raises(ValueError, match="pooling 'pooled' needs a float32 tensor of rank 2"):
        ml.save_text_model(c, "bad", tiny_bert_onnx(), tokenizer_json(), pooling="pooled")
    assert ml.list_models(c) == []


def test_corrupt_tokenizer_json():
    c = sqlite3.connect(":memory:")
    sqlite_quiver.load(c)
    for bad in (b"{not json", b"{}", tokenizer_json()[:-40]):
        with pytest.raises(ValueError, match="the tokenizer is not a usable tokenizer.json"):
            ml.save_text_model(c, "bad", tiny_bert_onnx(), bad)
    with pytest.raises(ValueError, match="pooling must be one of"):
        ml.save_text_model(c, "bad", tiny_bert_onnx(), tokenizer_json(), pooling="max")
    with pytest.raises(TypeError, match="expected the tokenizer.json as bytes or a path"):
        ml.save_text_model(c, "bad", tiny_bert_onnx(), 12)


def test_corrupt_stored_rows_are_detected(tconn):
    tconn.execute("update quiver_models set tokenizer = tokenizer || ' ' where name = 'tiny'")
    sqlite_quiver._quiver.ml_clear_cache()
    with pytest.raises(sqlite3.OperationalError, match="model 'tiny' version 1 is corrupt"):
        tconn.execute("select ml_embed('tiny', 'x')").fetchone()


def test_non_text_arguments(tconn):
    for value, what in ((1, "the integer 1"), (1.5, "the real 1.5"), (b"ab", "a BLOB of 2 bytes")):
        with pytest.raises(
            sqlite3.OperationalError, match=f"ml_embed: argument 2: expected text, got {what}"
        ):
            tconn.execute("select ml_embed('tiny', ?)", [value]).fetchone()
    with pytest.raises(
        sqlite3.OperationalError, match="argument 3: expected 'query' or 'document', got 'q'"
    ):
        tconn.execute("select ml_embed('tiny', 'x', 'q')").fetchone()
    with pytest.raises(sqlite3.OperationalError, match="expected ml_embed\\(model, text"):
        tconn.execute("select ml_embed('tiny')").fetchone()
    with pytest.raises(sqlite3.OperationalError, match="argument 1: expected a model name"):
        tconn.execute("select ml_embed(3, 'x')").fetchone()
    with pytest.raises(
        sqlite3.OperationalError,
        match="row 2: expected text in the second column, got the integer 7",
    ):
        tconn.execute(
            "select * from ml_embed_batch('tiny', 'select 1, ''a'' union all select 2, 7')"
        ).fetchall()
    with pytest.raises(sqlite3.OperationalError, match="expected a read-only SELECT"):
        tconn.execute(
            "select * from ml_embed_batch('tiny', 'delete from quiver_models')"
        ).fetchall()
    with pytest.raises(TypeError, match="texts must be a list of strings; for one text pass"):
        ml.embed(tconn, "tiny", "hello")
    with pytest.raises(TypeError, match=r"texts\[1\] is int, expected str"):
        ml.embed(tconn, "tiny", ["a", 1])
    with pytest.raises(ValueError, match="kind must be 'query' or 'document'"):
        ml.embed(tconn, "tiny", ["a"], kind="passage")


def test_unsupported_architecture(tmp_path):
    sentence_transformer_folder(str(tmp_path / "st"))
    config = tiny_bert_config(model_type="roberta")
    (tmp_path / "st" / "config.json").write_text(json.dumps(config))
    c = sqlite3.connect(":memory:")
    sqlite_quiver.load(c)
    with pytest.raises(ValueError, match="unsupported architecture 'roberta'.*supported are bert"):
        ml.save_sentence_transformer(c, "st", tmp_path / "st")
    with pytest.raises(FileNotFoundError, match="not a sentence-transformers model folder"):
        ml.save_sentence_transformer(c, "st", tmp_path)


def test_readme_sql_with_rowid_gaps(tconn):
    """The issue's SQL as written: `select rowid, embedding from ml_embed_batch(...)`
    gives the docs' rowids even when they have gaps."""
    tconn.execute("create table docs(title text, body text)")
    tconn.executemany(
        "insert into docs(rowid, title, body) values (?, ?, ?)",
        [(i * 10, f"t{i}", s) for i, s in enumerate(SENTENCES, 1)],
    )
    tconn.execute("create virtual table doc_vectors using vec0(embedding float[32])")
    tconn.execute(
        "insert into doc_vectors(rowid, embedding) "
        "select rowid, embedding from ml_embed_batch('tiny', 'select rowid, body from docs')"
    )
    titles = tconn.execute(
        "select d.title from doc_vectors v join docs d on d.rowid = v.rowid "
        "where v.embedding match ml_embed('tiny', :question, 'query') and k = 5",
        {"question": SENTENCES[3]},
    ).fetchall()
    assert titles[0] == ("t4",) and len(titles) == 5


def test_first_load_releases_the_gil(tconn):
    # No forced GIL switches: another thread runs only where this one gives the GIL up.
    # The counter thread gives it back at every time.sleep(0), so it advances between
    # `before` and `after` only if building the session (ONNX Runtime's graph
    # optimization, the probes) ran without the GIL.
    _quiver.ml_clear_cache()
    counter, stop = [0], threading.Event()

    def count():
        while not stop.is_set():
            counter[0] += 1
            time.sleep(0)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(30)
    thread = threading.Thread(target=count)
    try:
        thread.start()
        before = counter[0]
        dimension = ml.preload(tconn, "tiny")
        after = counter[0]
    finally:
        stop.set()
        sys.setswitchinterval(interval)
        thread.join()
    assert dimension == 32
    assert after > before, "the counter thread never ran while the model loaded"
    # Loaded: the next call finds it in the cache and gives the same vectors.
    assert ml.embed(tconn, "tiny", ["hello world"]).shape == (1, 32)


def test_preload_errors(tconn):
    with pytest.raises(ValueError, match="no model named 'nope'"):
        ml.preload(tconn, "nope")
    from sklearn.linear_model import LinearRegression

    ml.save_model(tconn, "lin", LinearRegression().fit(np.eye(2, dtype=np.float32), [1, 2]))
    with pytest.raises(ValueError, match="model 'lin' is not a text model"):
        ml.preload(tconn, "lin")


def test_batch_embedding_column_has_the_float32_subtype(tmp_path):
    # SQL's subtype() needs SQLite 3.45+: apsw's bundled SQLite, in a child process (one
    # SQLite library per process).
    pytest.importorskip("apsw")
    db = tmp_path / "models.db"
    disk = sqlite3.connect(db)
    sqlite_quiver.load(disk)
    ml.save_text_model(disk, "tiny", tiny_bert_onnx(), tokenizer_json(), max_length=24)
    disk.commit()
    disk.close()
    code = f"""
import apsw, sqlite_quiver
c = apsw.Connection({str(db)!r})
sqlite_quiver.load(c)
batch = "select 1, 'a fox' union all select 2, null union all select 3, 'dogs'"
print(list(c.execute(
    "select key, subtype(embedding), subtype(key), typeof(embedding), length(embedding) "
    "from ml_embed_batch('tiny', ?)", [batch])))
print(list(c.execute("select subtype(ml_embed('tiny', 'a fox'))")))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.splitlines() == [
        "[(1, 223, 0, 'blob', 128), (2, 0, 0, 'null', None), (3, 223, 0, 'blob', 128)]",
        "[(223,)]",
    ], out.stderr
