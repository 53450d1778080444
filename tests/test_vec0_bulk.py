"""The Python bulk paths: sqlite_quiver.insert_vectors and sqlite_quiver.search."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import numpy as np
import pytest

import sqlite_quiver


def brute_topk(X, ids, Q, k, metric="l2"):
    X64, Q64 = X.astype(np.float64), Q.astype(np.float64)
    if metric == "l2":
        D = np.sqrt(((Q64[:, None, :] - X64[None]) ** 2).sum(-1))
    elif metric == "cosine":
        D = 1 - (Q64 @ X64.T) / np.outer(np.linalg.norm(Q64, axis=1), np.linalg.norm(X64, axis=1))
    else:
        D = -(Q64 @ X64.T)
    out_ids, out_d = [], []
    for row in D:
        order = np.lexsort((ids, row))[:k]
        out_ids.append(ids[order])
        out_d.append(row[order])
    return np.array(out_ids), np.array(out_d)


@pytest.mark.parametrize("metric", ["l2", "cosine", "dot"])
def test_insert_and_search_match_numpy(metric):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 32)).astype(np.float32)
    conn = sqlite_quiver.connect_with_vec()
    conn.execute(
        f"create virtual table t using vec0(emb float[32] distance_metric={metric}, chunk_size=256)"
    )
    ids = np.arange(1000, 4000)
    assert sqlite_quiver.insert_vectors(conn, "t", X, ids=ids) == 3000
    Q = rng.standard_normal((20, 32)).astype(np.float32)
    got_ids, got_d = sqlite_quiver.search(conn, "t", Q, k=10)
    want_ids, want_d = brute_topk(X, ids, Q, 10, metric)
    assert got_ids.shape == (20, 10) and got_d.dtype == np.float32
    np.testing.assert_allclose(got_d, want_d, rtol=1e-4, atol=1e-4)
    assert (got_ids == want_ids).mean() > 0.99
    # SQL sees the same rows
    row = conn.execute(
        "select rowid, distance from t where emb match ? and k = 1", (Q[0].tobytes(),)
    ).fetchone()
    assert row[0] == got_ids[0, 0]
    assert conn.execute("select count(*) from t").fetchone() == (3000,)


def test_columns_filters_and_padding():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((500, 8)).astype(np.float32)
    genre = rng.choice(["a", "b", "c"], 500)
    year = rng.integers(2000, 2010, 500)
    conn = sqlite_quiver.connect_with_vec()
    conn.execute(
        "create virtual table t using vec0(emb float[8], user integer partition key, "
        "genre text, year integer, +note text)"
    )
    sqlite_quiver.insert_vectors(
        conn, "t", X, genre=genre, year=year, user=year % 3, note=[f"n{i}" for i in range(500)]
    )
    assert conn.execute("select genre, year, note from t where rowid = 5").fetchone() == (
        genre[4],
        year[4],
        "n4",
    )
    Q = rng.standard_normal((5, 8)).astype(np.float32)
    mask = (genre == "b") & np.isin(year, [2001, 2005])
    got_ids, got_d = sqlite_quiver.search(conn, "t", Q, k=7, genre="b", year=[2001, 2005])
    want_ids, want_d = brute_topk(X[mask], np.arange(1, 501)[mask], Q, 7)
    np.testing.assert_array_equal(got_ids, want_ids)
    np.testing.assert_allclose(got_d, want_d, rtol=1e-4)
    # fewer matches than k: padded
    ids, d = sqlite_quiver.search(conn, "t", Q[:1], k=5, genre="zzz")
    assert ids.tolist() == [[-1] * 5] and np.isinf(d).all()
    with pytest.raises(ValueError, match="cannot be filtered"):
        sqlite_quiver.search(conn, "t", Q, k=3, note="n1")


def test_text_ids_and_replace():
    conn = sqlite_quiver.connect_with_vec()
    conn.execute("create virtual table t using vec0(id text primary key, emb float[2])")
    sqlite_quiver.insert_vectors(conn, "t", np.array([[0, 0], [1, 1]]), ids=["x", "y"])
    ids, _ = sqlite_quiver.search(conn, "t", np.array([[0.9, 0.9], [0, 0.1]]), k=2)
    assert ids.tolist() == [["y", "x"], ["x", "y"]]
    with pytest.raises(sqlite3.OperationalError, match="UNIQUE"):
        sqlite_quiver.insert_vectors(conn, "t", np.array([[5, 5]]), ids=["x"])
    sqlite_quiver.insert_vectors(conn, "t", np.array([[5, 5]]), ids=["x"], replace=True)
    assert conn.execute("select vec_to_json(emb) from t where id = 'x'").fetchone() == (
        "[5.000000,5.000000]",
    )
    with pytest.raises(ValueError, match="text primary key"):
        sqlite_quiver.insert_vectors(conn, "t", np.array([[5, 5]]))


def snapshot(conn):
    return (
        conn.execute("select rowid, vec_to_json(emb) from t order by rowid").fetchall(),
        conn.execute("select * from t_chunks").fetchall(),
        conn.execute("select * from t_rows").fetchall(),
    )


@pytest.mark.parametrize(
    "kwargs,exc,msg",
    [
        (dict(vectors=np.ones((2, 3))), ValueError, "dimensions"),
        (dict(vectors=np.array([[1, np.nan, 0, 0]])), ValueError, "finite"),
        (dict(vectors=np.ones((2, 4)), ids=[1]), ValueError, "1 ids for 2"),
        (dict(vectors=np.ones((2, 4)), ids=[7, 7]), sqlite3.OperationalError, "UNIQUE"),
        (dict(vectors=np.ones((2, 4)), ids=[1, 8]), sqlite3.OperationalError, "UNIQUE"),
        (dict(vectors=np.ones((2, 4)), year=["x", "y"]), ValueError, "expected an integer"),
        (dict(vectors=np.ones((2, 4)), nope=[1, 2]), ValueError, "no column 'nope'"),
        (dict(vectors=np.ones((2, 2, 4))), ValueError, "2-D"),
        (dict(vectors=np.ones((2, 4)), ids=["a", "b"]), ValueError, "integers"),
    ],
)
def test_bad_bulk_input_leaves_table_intact(kwargs, exc, msg):
    conn = sqlite_quiver.connect_with_vec()
    conn.execute("create virtual table t using vec0(emb float[4], year integer, chunk_size=8)")
    sqlite_quiver.insert_vectors(conn, "t", np.arange(12).reshape(3, 4), ids=[1, 2, 3])
    before = snapshot(conn)
    vectors = kwargs.pop("vectors")
    with pytest.raises(exc, match=msg):
        sqlite_quiver.insert_vectors(conn, "t", vectors, **kwargs)
    assert snapshot(conn) == before


def test_bad_search_input():
    conn = sqlite_quiver.connect_with_vec()
    conn.execute("create virtual table t using vec0(emb float[4])")
    conn.execute("create table plain(x)")
    sqlite_quiver.insert_vectors(conn, "t", np.ones((3, 4)))
    with pytest.raises(ValueError, match="k must be"):
        sqlite_quiver.search(conn, "t", np.ones((1, 4)), k=0)
    with pytest.raises(ValueError, match="dimensions"):
        sqlite_quiver.search(conn, "t", np.ones((1, 5)), k=1)
    with pytest.raises(ValueError, match="not a vec0 table"):
        sqlite_quiver.search(conn, "plain", np.ones((1, 4)), k=1)
    with pytest.raises(ValueError, match="no table"):
        sqlite_quiver.search(conn, "missing", np.ones((1, 4)), k=1)
    with pytest.raises(TypeError):
        sqlite_quiver.search(conn, "t", np.ones((1, 4)), k="3")
    with pytest.raises(ValueError, match="^no vector column 'zz' in 't'$"):
        sqlite_quiver.search(conn, "t", np.ones((1, 4)), k=1, column="zz")


def test_bulk_insert_rolls_back_with_transaction():
    conn = sqlite_quiver.connect_with_vec(isolation_level=None)
    conn.execute("create virtual table t using vec0(emb float[2])")
    sqlite_quiver.insert_vectors(conn, "t", np.array([[0, 0]]), ids=[1])
    conn.execute("begin")
    sqlite_quiver.insert_vectors(conn, "t", np.array([[1, 1], [2, 2]]), ids=[2, 3])
    assert sqlite_quiver.search(conn, "t", np.array([[2, 2]]), k=1)[0].tolist() == [[3]]
    conn.execute("rollback")
    # One row left: results are min(k, rows) wide.
    assert sqlite_quiver.search(conn, "t", np.array([[2, 2]]), k=3)[0].tolist() == [[1]]


def test_apsw_connection():
    pytest.importorskip("apsw")
    # apsw brings its own SQLite library: one library per process, so a fresh process.
    code = """
import apsw, numpy as np, sqlite_quiver
conn = apsw.Connection(":memory:")
sqlite_quiver.load(conn)
conn.execute("create virtual table t using vec0(emb float[3])")
X = np.random.default_rng(3).standard_normal((100, 3)).astype(np.float32)
sqlite_quiver.insert_vectors(conn, "t", X)
ids, _ = sqlite_quiver.search(conn, "t", X[:4], k=1)
print(ids.ravel().tolist())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[1, 2, 3, 4]"


def test_threads_setting_gives_same_results():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((20000, 64)).astype(np.float32)
    conn = sqlite_quiver.connect_with_vec()
    conn.execute("create virtual table t using vec0(emb float[64])")
    sqlite_quiver.insert_vectors(conn, "t", X)
    Q = rng.standard_normal((8, 64)).astype(np.float32)
    previous = sqlite_quiver.set_scan_threads(1)
    try:
        one = sqlite_quiver.search(conn, "t", Q, k=5)
        sql_one = conn.execute(
            "select rowid from t where emb match ? and k = 5", (Q[0].tobytes(),)
        ).fetchall()
        sqlite_quiver.set_scan_threads(0)
        many = sqlite_quiver.search(conn, "t", Q, k=5)
        sql_many = conn.execute(
            "select rowid from t where emb match ? and k = 5", (Q[0].tobytes(),)
        ).fetchall()
    finally:
        sqlite_quiver.set_scan_threads(previous)
    np.testing.assert_array_equal(one[0], many[0])
    assert sql_one == sql_many == [(int(i),) for i in one[0][0]]


def test_set_threads_is_a_deprecated_alias_of_set_scan_threads():
    previous = sqlite_quiver.set_scan_threads(3)
    try:
        with pytest.warns(DeprecationWarning, match="use sqlite_quiver.set_scan_threads"):
            assert sqlite_quiver.set_threads(2) == 3
        assert sqlite_quiver.set_scan_threads(previous) == 2
        with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="n must be >= 0"):
            sqlite_quiver.set_threads(-1)
        with pytest.raises(ValueError, match="n must be >= 0"):
            sqlite_quiver.set_scan_threads(-1)
    finally:
        sqlite_quiver.set_scan_threads(previous)


def test_clear_cache_reloads_transparently():
    conn = sqlite_quiver.connect_with_vec()
    conn.execute("create virtual table t using vec0(emb float[2])")
    sqlite_quiver.insert_vectors(conn, "t", np.array([[0, 0], [1, 1]]), ids=[1, 2])
    before = sqlite_quiver.search(conn, "t", np.array([[1, 1]]), k=2)[0].tolist()
    sqlite_quiver.vectors.clear_cache()
    assert sqlite_quiver.search(conn, "t", np.array([[1, 1]]), k=2)[0].tolist() == before
    assert conn.execute("select rowid from t where emb match '[0,0]' and k = 1").fetchall() == [
        (1,)
    ]
