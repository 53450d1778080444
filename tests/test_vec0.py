# ruff: noqa: E501
"""vec0 virtual tables: results checked against brute-force numpy."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

import sqlite_quiver


def connect(path: str = ":memory:", **kw) -> sqlite3.Connection:
    return sqlite_quiver.connect_with_vec(path, **kw)


def brute(X: np.ndarray, q: np.ndarray, metric: str) -> np.ndarray:
    X64, q64 = X.astype(np.float64), q.astype(np.float64)
    if metric == "l2":
        return np.sqrt(((X64 - q64) ** 2).sum(1))
    if metric == "l1":
        return np.abs(X64 - q64).sum(1)
    if metric == "cosine":
        return 1 - (X64 @ q64) / (np.linalg.norm(X64, axis=1) * np.linalg.norm(q64))
    if metric == "dot":
        return -(X64 @ q64)
    raise ValueError(metric)


def expected(ids: np.ndarray, d: np.ndarray, k: int):
    order = np.lexsort((ids, d))[:k]
    return ids[order], d[order]


def check_knn(rows, ids, d, k, rtol=1e-4):
    want_ids, want_d = expected(np.asarray(ids), np.asarray(d), k)
    got_ids = np.array([r[0] for r in rows])
    got_d = np.array([r[1] for r in rows])
    assert len(rows) == len(want_ids)
    np.testing.assert_allclose(got_d, want_d, rtol=rtol, atol=1e-4)
    # ids must agree except where distances are (numerically) tied
    for i, (a, b) in enumerate(zip(got_ids, want_ids)):
        if a != b:
            assert abs(got_d[i] - want_d[i]) < 1e-4


def fill(conn, table, X, start=1, **cols):
    names = ", ".join(["rowid", "emb", *cols])
    marks = ", ".join("?" * (2 + len(cols)))
    rows = [(start + i, X[i].tobytes(), *[cols[c][i] for c in cols]) for i in range(len(X))]
    conn.executemany(f"insert into {table}({names}) values ({marks})", rows)


@pytest.mark.parametrize("metric", ["l2", "l1", "cosine", "dot"])
@pytest.mark.parametrize("dims", [3, 16, 77])
def test_float_metrics_match_numpy(metric, dims):
    rng = np.random.default_rng(dims)
    X = rng.standard_normal((300, dims)).astype(np.float32)
    conn = connect()
    conn.execute(
        f"create virtual table t using vec0(emb float[{dims}] distance_metric={metric}, chunk_size=64)"
    )
    fill(conn, "t", X)
    ids = np.arange(1, 301)
    for _ in range(5):
        q = rng.standard_normal(dims).astype(np.float32)
        for k in (1, 7, 300, 1000):
            rows = conn.execute(
                "select rowid, distance from t where emb match ? and k = ?", (q.tobytes(), k)
            ).fetchall()
            check_knn(rows, ids, brute(X, q, metric), k)
    # JSON query vectors give the same answer
    q = rng.standard_normal(dims).astype(np.float32)
    a = conn.execute("select rowid from t where emb match ? and k = 5", (q.tobytes(),)).fetchall()
    b = conn.execute(
        "select rowid from t where emb match ? and k = 5", (json.dumps(q.tolist()),)
    ).fetchall()
    assert a == b


@pytest.mark.parametrize("metric", ["l2", "l1", "cosine", "dot"])
def test_int8_metrics(metric):
    rng = np.random.default_rng(1)
    X = rng.integers(-128, 128, size=(200, 24)).astype(np.int8)
    conn = connect()
    conn.execute(f"create virtual table t using vec0(emb int8[24] distance_metric={metric})")
    conn.executemany(
        "insert into t(rowid, emb) values (?, vec_int8(?))",
        [(i + 1, X[i].tobytes()) for i in range(200)],
    )
    q = rng.integers(-128, 128, size=24).astype(np.int8)
    rows = conn.execute(
        "select rowid, distance from t where emb match vec_int8(?) and k = 10", (q.tobytes(),)
    ).fetchall()
    check_knn(
        rows, np.arange(1, 201), brute(X.astype(np.float32), q.astype(np.float32), metric), 10
    )
    # a float32 query against an int8 column is refused clearly
    with pytest.raises(sqlite3.OperationalError, match="expected a int8 vector of 24"):
        conn.execute(
            "select rowid from t where emb match ? and k = 3", (np.zeros(24, np.float32).tobytes(),)
        ).fetchall()


def test_bit_hamming():
    rng = np.random.default_rng(2)
    X = rng.integers(0, 256, size=(150, 8)).astype(np.uint8)
    conn = connect()
    conn.execute("create virtual table t using vec0(emb bit[64])")
    conn.executemany(
        "insert into t(rowid, emb) values (?, vec_bit(?))",
        [(i + 1, X[i].tobytes()) for i in range(150)],
    )
    q = rng.integers(0, 256, size=8).astype(np.uint8)
    d = np.unpackbits(X ^ q, axis=1).sum(1).astype(np.float64)
    rows = conn.execute(
        "select rowid, distance from t where emb match vec_bit(?) and k = 20", (q.tobytes(),)
    ).fetchall()
    check_knn(rows, np.arange(1, 151), d, 20)


def make_meta_table(conn, n=400, dims=8, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dims)).astype(np.float32)
    genre = rng.choice(["rock", "jazz", "pop"], n)
    year = rng.integers(1990, 2020, n)
    score = rng.random(n)
    flag = rng.integers(0, 2, n)
    user = rng.integers(0, 5, n)
    conn.execute(
        f"""create virtual table t using vec0(
            emb float[{dims}], user_id integer partition key, genre text, year integer,
            score float, flag boolean, +title text, chunk_size=32)"""
    )
    rows = []
    for i in range(n):
        g = None if i % 17 == 0 else str(genre[i])
        rows.append(
            (
                i + 1,
                X[i].tobytes(),
                int(user[i]),
                g,
                int(year[i]),
                float(score[i]),
                int(flag[i]),
                f"title {i}",
            )
        )
    conn.executemany(
        "insert into t(rowid, emb, user_id, genre, year, score, flag, title) values (?,?,?,?,?,?,?,?)",
        rows,
    )
    genre_obj = np.array([r[3] for r in rows], dtype=object)
    return X, dict(genre=genre_obj, year=year, score=score, flag=flag, user_id=user)


FILTERS = [
    ("genre = 'rock'", lambda m: m["genre"] == "rock"),
    ("genre != 'rock'", lambda m: np.array([g is not None and g != "rock" for g in m["genre"]])),
    ("genre is null", lambda m: np.array([g is None for g in m["genre"]])),
    ("genre is not null", lambda m: np.array([g is not None for g in m["genre"]])),
    ("genre in ('jazz', 'pop')", lambda m: np.isin(m["genre"], ["jazz", "pop"])),
    ("year between 2000 and 2005", lambda m: (m["year"] >= 2000) & (m["year"] <= 2005)),
    ("year < 1995", lambda m: m["year"] < 1995),
    ("year >= 2015 and genre = 'pop'", lambda m: (m["year"] >= 2015) & (m["genre"] == "pop")),
    ("score > 0.9", lambda m: m["score"] > 0.9),
    ("flag = 1", lambda m: m["flag"] == 1),
    ("flag = true", lambda m: m["flag"] == 1),
    ("user_id = 3", lambda m: m["user_id"] == 3),
    ("user_id = 3 and year > 2010", lambda m: (m["user_id"] == 3) & (m["year"] > 2010)),
    ("rowid in (5, 10, 15, 399)", lambda m: np.isin(np.arange(1, 401), [5, 10, 15, 399])),
    (
        "rowid between 100 and 130",
        lambda m: (np.arange(1, 401) >= 100) & (np.arange(1, 401) <= 130),
    ),
    ("rowid > 390", lambda m: np.arange(1, 401) > 390),
]


@pytest.mark.parametrize("where,mask_fn", FILTERS, ids=[f[0] for f in FILTERS])
def test_filters_apply_before_top_k(where, mask_fn):
    conn = connect()
    X, meta = make_meta_table(conn)
    mask = mask_fn(meta)
    rng = np.random.default_rng(9)
    q = rng.standard_normal(8).astype(np.float32)
    ids = np.arange(1, 401)[mask]
    d = brute(X[mask], q, "l2")
    for k in (1, 10, 50):
        rows = conn.execute(
            f"select rowid, distance from t where emb match ? and k = ? and {where}",
            (q.tobytes(), k),
        ).fetchall()
        check_knn(rows, ids, d, k)
        assert len(rows) == min(k, mask.sum())


def test_metadata_and_aux_values_come_back():
    conn = connect()
    X, meta = make_meta_table(conn)
    row = conn.execute(
        "select rowid, user_id, genre, year, score, flag, title, emb from t where rowid = 2"
    ).fetchone()
    assert row[0] == 2 and row[6] == "title 1"
    assert row[3] == meta["year"][1] and row[1] == meta["user_id"][1]
    assert np.frombuffer(row[7], np.float32).tolist() == X[1].tolist()
    q = X[1]
    hit = conn.execute(
        "select rowid, title, genre, distance, k from t where emb match ? and k = 1", (q.tobytes(),)
    ).fetchone()
    # k reads as NULL, as in sqlite-vec.
    assert hit[:2] == (2, "title 1") and hit[3] == 0.0 and hit[4] is None


def test_distance_pagination():
    conn = connect()
    X, _ = make_meta_table(conn)
    q = np.random.default_rng(4).standard_normal(8).astype(np.float32)
    d = brute(X, q, "l2")
    seen = []
    last = -1.0
    for _ in range(5):
        rows = conn.execute(
            "select rowid, distance from t where emb match ? and k = 10 and distance > ?",
            (q.tobytes(), last),
        ).fetchall()
        seen += [r[0] for r in rows]
        last = rows[-1][1]
    want = list(np.lexsort((np.arange(1, 401), d))[:50] + 1)
    assert seen == want


@pytest.mark.parametrize(
    "where",
    ["title = 'title 3'", "title like 'title%'", "title glob 'ti*'", "emb = x'00'"],
)
def test_unfilterable_terms_are_refused(where):
    conn = connect()
    make_meta_table(conn)
    q = np.zeros(8, np.float32)
    with pytest.raises(sqlite3.OperationalError, match="cannot be applied before the k nearest"):
        conn.execute(
            f"select rowid from t where emb match ? and k = 5 and {where}", (q.tobytes(),)
        ).fetchall()


def test_aux_filter_in_outer_query_works():
    conn = connect()
    make_meta_table(conn)
    q = np.zeros(8, np.float32)
    rows = conn.execute(
        "with knn as materialized (select rowid, title, distance from t where emb match ? "
        "and k = 20) select rowid, title from knn where title like 'title 1%'",
        (q.tobytes(),),
    ).fetchall()
    top = conn.execute(
        "select rowid, title from t where emb match ? and k = 20", (q.tobytes(),)
    ).fetchall()
    assert rows == [r for r in top if r[1].startswith("title 1")]


@pytest.mark.parametrize(
    "k,msg",
    [
        (-3, "greater than or equal to 0.*positive"),
        ("ten", "positive"),
        (1 << 40, "too large"),
    ],
)
def test_bad_k(k, msg):
    conn = connect()
    make_meta_table(conn)
    with pytest.raises(sqlite3.OperationalError, match=msg):
        conn.execute(
            "select rowid from t where emb match ? and k = ?",
            (np.zeros(8, np.float32).tobytes(), k),
        ).fetchall()


def test_k_zero_gives_no_rows():
    # As in sqlite-vec (tests/test_compat_sqlite_vec.py checks both engines).
    conn = connect()
    make_meta_table(conn)
    rows = conn.execute(
        "select rowid from t where emb match ? and k = 0", (np.zeros(8, np.float32).tobytes(),)
    ).fetchall()
    assert rows == []


def test_knn_needs_k_and_k_needs_match():
    conn = connect()
    make_meta_table(conn)
    with pytest.raises(sqlite3.OperationalError, match="needs 'AND k = \\?'"):
        conn.execute(
            "select rowid from t where emb match ?", (np.zeros(8, np.float32).tobytes(),)
        ).fetchall()
    with pytest.raises(sqlite3.OperationalError, match="needs a KNN query"):
        conn.execute("select rowid from t where k = 3").fetchall()


def test_large_k_has_no_4096_cap():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((5000, 4)).astype(np.float32)
    conn = connect()
    conn.execute("create virtual table t using vec0(emb float[4])")
    fill(conn, "t", X)
    q = rng.standard_normal(4).astype(np.float32)
    rows = conn.execute(
        "select rowid, distance from t where emb match ? and k = 4500", (q.tobytes(),)
    ).fetchall()
    check_knn(rows, np.arange(1, 5001), brute(X, q, "l2"), 4500)


def test_ties_ordered_by_rowid():
    conn = connect()
    conn.execute("create virtual table t using vec0(emb float[2], chunk_size=8)")
    for r in [9, 3, 7, 1, 5, 2]:
        conn.execute("insert into t(rowid, emb) values (?, '[1, 1]')", (r,))
    rows = conn.execute("select rowid from t where emb match '[0, 0]' and k = 4").fetchall()
    assert [r[0] for r in rows] == [1, 2, 3, 5]


def test_text_primary_key():
    conn = connect()
    conn.execute("create virtual table t using vec0(id text primary key, emb float[2])")
    conn.execute("insert into t(id, emb) values ('a', '[0, 0]'), ('b', '[1, 0]'), ('c', '[5, 5]')")
    rows = conn.execute(
        "select id, distance from t where emb match '[0.9, 0]' and k = 2"
    ).fetchall()
    assert [r[0] for r in rows] == ["b", "a"]
    assert conn.execute("select vec_to_json(emb) from t where id = 'c'").fetchone() == (
        "[5.000000,5.000000]",
    )
    rows = conn.execute(
        "select id from t where emb match '[0, 0]' and k = 3 and id != 'a'"
    ).fetchall()
    assert [r[0] for r in rows] == ["b", "c"]
    rows = conn.execute(
        "select id from t where emb match '[0, 0]' and k = 3 and id in ('c', 'a')"
    ).fetchall()
    assert [r[0] for r in rows] == ["a", "c"]
    with pytest.raises(sqlite3.OperationalError, match="UNIQUE constraint failed"):
        conn.execute("insert into t(id, emb) values ('a', '[9, 9]')")
    with pytest.raises(sqlite3.OperationalError, match="expected text"):
        conn.execute("insert into t(id, emb) values (5, '[9, 9]')")
    conn.execute("insert or replace into t(id, emb) values ('a', '[7, 7]')")
    assert conn.execute("select vec_to_json(emb) from t where id = 'a'").fetchone() == (
        "[7.000000,7.000000]",
    )
    conn.execute("update t set id = 'z' where id = 'b'")
    assert sorted(r[0] for r in conn.execute("select id from t")) == ["a", "c", "z"]
    with pytest.raises(sqlite3.OperationalError, match="UNIQUE"):
        conn.execute("update t set id = 'a' where id = 'c'")
    conn.execute("delete from t where id = 'z'")
    assert conn.execute("select count(*) from t").fetchone() == (2,)


def test_integer_primary_key():
    conn = connect()
    conn.execute("create virtual table t using vec0(doc_id integer primary key, emb float[2])")
    conn.execute("insert into t(doc_id, emb) values (10, '[0, 0]'), (20, '[1, 0]')")
    assert conn.execute("select doc_id, rowid from t order by 1").fetchall() == [(10, 10), (20, 20)]
    rows = conn.execute("select doc_id from t where emb match '[1, 0]' and k = 1").fetchall()
    assert rows == [(20,)]
    with pytest.raises(sqlite3.OperationalError, match="expected an integer"):
        conn.execute("insert into t(doc_id, emb) values ('abc', '[0, 0]')")
    with pytest.raises(sqlite3.OperationalError, match="UNIQUE"):
        conn.execute("insert into t(doc_id, emb) values (10, '[0, 0]')")
    conn.execute("update t set doc_id = 30 where doc_id = 10")
    assert conn.execute("select doc_id from t order by 1").fetchall() == [(20,), (30,)]
    assert conn.execute(
        "select doc_id from t where emb match '[0,0]' and k = 1 and doc_id > 25"
    ).fetchall() == [(30,)]


def test_insert_without_rowid_and_last_insert_rowid():
    conn = connect()
    conn.execute("create virtual table t using vec0(emb float[2])")
    cur = conn.execute("insert into t(emb) values ('[1, 2]')")
    assert cur.lastrowid == 1
    cur = conn.execute("insert into t(emb) values ('[3, 4]')")
    assert cur.lastrowid == 2
    assert conn.execute("select rowid, vec_to_json(emb) from t").fetchall() == [
        (1, "[1.000000,2.000000]"),
        (2, "[3.000000,4.000000]"),
    ]


def test_insert_or_replace_and_updates():
    conn = connect()
    conn.execute(
        "create virtual table t using vec0(emb float[2], genre text, user_id integer partition key, +note text)"
    )
    conn.execute(
        "insert into t(rowid, emb, genre, user_id, note) values (1, '[0, 0]', 'a', 1, 'n1')"
    )
    conn.execute(
        "insert or replace into t(rowid, emb, genre, user_id, note) values (1, '[5, 5]', 'b', 2, 'n2')"
    )
    assert conn.execute(
        "select rowid, vec_to_json(emb), genre, user_id, note from t"
    ).fetchall() == [(1, "[5.000000,5.000000]", "b", 2, "n2")]
    with pytest.raises(sqlite3.OperationalError, match="UNIQUE"):
        conn.execute("insert into t(rowid, emb) values (1, '[0, 0]')")
    conn.execute("update t set genre = 'c' where rowid = 1")
    conn.execute("update t set note = 'n3' where rowid = 1")
    conn.execute("update t set user_id = 7 where rowid = 1")
    conn.execute("update t set emb = '[1, 1]' where rowid = 1")
    assert conn.execute(
        "select rowid, vec_to_json(emb), genre, user_id, note from t"
    ).fetchall() == [(1, "[1.000000,1.000000]", "c", 7, "n3")]
    assert conn.execute(
        "select rowid from t where emb match '[1,1]' and k = 1 and user_id = 7"
    ).fetchall() == [(1,)]
    conn.execute("update t set rowid = 42 where rowid = 1")
    assert conn.execute("select rowid, note, genre from t").fetchall() == [(42, "n3", "c")]
    assert conn.execute(
        "select rowid, distance from t where emb match '[1,1]' and k = 1"
    ).fetchall() == [(42, 0.0)]
    conn.execute("insert into t(rowid, emb) values (1, '[2, 2]')")
    with pytest.raises(sqlite3.OperationalError, match="UNIQUE"):
        conn.execute("update t set rowid = 42 where rowid = 1")
    assert conn.execute("select rowid from t order by rowid").fetchall() == [(1,), (42,)]


def chunk_count(conn, table="t"):
    return conn.execute(f"select count(*) from {table}_chunks").fetchone()[0]


def test_delete_reuses_space():
    conn = connect()
    conn.execute("create virtual table t using vec0(emb float[4], chunk_size=8)")
    X = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
    fill(conn, "t", X)
    assert chunk_count(conn) == 2
    conn.execute("delete from t where rowid in (2, 3, 9, 15)")
    fill(conn, "t", X[:4], start=100)
    assert chunk_count(conn) == 2
    assert conn.execute("select count(*) from t").fetchone() == (16,)
    rows = conn.execute(
        "select rowid from t where emb match ? and k = 1", (X[0].tobytes(),)
    ).fetchall()
    assert rows[0][0] in (1, 100)
    conn.execute("delete from t")
    assert conn.execute("select count(*) from t").fetchone() == (0,)
    assert (
        conn.execute(
            "select rowid from t where emb match ? and k = 3", (X[0].tobytes(),)
        ).fetchall()
        == []
    )


def test_drop_rename_vacuum(tmp_path):
    path = str(tmp_path / "db.sqlite")
    conn = connect(path)
    conn.execute("create virtual table t using vec0(emb float[2], +note text)")
    conn.execute("insert into t(rowid, emb, note) values (1, '[1, 2]', 'x')")
    conn.commit()
    conn.execute("alter table t rename to u")
    assert conn.execute(
        "select rowid, note from u where emb match '[1,2]' and k = 1"
    ).fetchall() == [(1, "x")]
    names = {r[0] for r in conn.execute("select name from sqlite_master")}
    assert not any(n.startswith("t_") for n in names)
    conn.commit()
    conn.execute("vacuum")
    assert conn.execute("pragma integrity_check").fetchone() == ("ok",)
    conn.execute("drop table u")
    assert conn.execute("select count(*) from sqlite_master").fetchone() == (0,)


def test_rollback_and_savepoints():
    conn = connect(isolation_level=None)
    conn.execute("create virtual table t using vec0(emb float[2], genre text)")
    conn.execute("insert into t(rowid, emb, genre) values (1, '[0, 0]', 'a'), (2, '[1, 0]', 'b')")
    q = "select rowid, distance from t where emb match '[0.9, 0]' and k = 5"
    before = conn.execute(q).fetchall()
    conn.execute("begin")
    conn.execute("insert into t(rowid, emb, genre) values (3, '[0.9, 0]', 'c')")
    conn.execute("update t set emb = '[9, 9]' where rowid = 2")
    conn.execute("delete from t where rowid = 1")
    assert [r[0] for r in conn.execute(q)] == [3, 2]
    conn.execute("rollback")
    assert conn.execute(q).fetchall() == before
    conn.execute("begin")
    conn.execute("insert into t(rowid, emb, genre) values (3, '[0.9, 0]', 'c')")
    conn.execute("savepoint s")
    conn.execute("delete from t where rowid = 3")
    conn.execute("insert into t(rowid, emb, genre) values (4, '[0.8, 0]', 'd')")
    assert [r[0] for r in conn.execute(q)] == [4, 2, 1]
    conn.execute("rollback to s")
    assert [r[0] for r in conn.execute(q)] == [3, 2, 1]
    conn.execute("insert into t(rowid, emb, genre) values (5, '[0.95, 0]', 'e')")
    conn.execute("commit")
    assert [r[0] for r in conn.execute(q)] == [3, 5, 2, 1]
    assert conn.execute("pragma integrity_check").fetchone() == ("ok",)


def test_reopen_in_new_process(tmp_path):
    path = str(tmp_path / "db.sqlite")
    rng = np.random.default_rng(7)
    X = rng.standard_normal((500, 16)).astype(np.float32)
    conn = connect(path)
    conn.execute(
        "create virtual table t using vec0(emb float[16] distance_metric=cosine, genre text, chunk_size=64)"
    )
    fill(conn, "t", X, genre=["a" if i % 3 else "b" for i in range(500)])
    conn.commit()
    q = rng.standard_normal(16).astype(np.float32)
    sql = "select rowid, distance from t where emb match ? and k = 10 and genre = 'a'"
    here = conn.execute(sql, (q.tobytes(),)).fetchall()
    conn.close()
    code = f"""
import sqlite_quiver, numpy as np, json
c = sqlite_quiver.connect_with_vec({path!r})
q = np.array({q.tolist()!r}, dtype=np.float32)
print(json.dumps(c.execute({sql!r}, (q.tobytes(),)).fetchall()))
print(c.execute("pragma integrity_check").fetchone()[0])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    assert [tuple(r) for r in json.loads(lines[0])] == here
    assert lines[1] == "ok"


def test_other_connection_commits_are_seen(tmp_path):
    path = str(tmp_path / "wal.sqlite")
    w = connect(path, isolation_level=None)
    w.execute("pragma journal_mode=wal")
    w.execute("create virtual table t using vec0(emb float[2])")
    w.execute("insert into t(rowid, emb) values (1, '[0, 0]')")
    r = connect(path, isolation_level=None)
    q = "select rowid from t where emb match '[1, 1]' and k = 1"
    assert r.execute(q).fetchall() == [(1,)]
    w.execute("insert into t(rowid, emb) values (2, '[1, 1]')")
    assert r.execute(q).fetchall() == [(2,)]
    w.execute("begin")
    w.execute("update t set emb = '[5, 5]' where rowid = 2")
    assert w.execute(q).fetchall() == [(1,)]
    assert r.execute(q).fetchall() == [(2,)]  # uncommitted change invisible
    w.execute("commit")
    assert r.execute(q).fetchall() == [(1,)]
    w.execute("delete from t where rowid = 1")
    assert r.execute(q).fetchall() == [(2,)]


BAD_CREATE = [
    ("emb float[0]", "could not parse vector column .emb float\\[0\\].*N >= 1"),
    ("emb vector[3]", "unknown vector type"),
    ("emb float[3], genre strange", "unknown type"),
    ("emb float[3] distance_metric=foo", "unknown distance_metric"),
    ("emb float[3], chunk_size=7", "chunk_size"),
    ("emb float[3], foo=1", "unknown table option"),
    ("emb float[3], distance float", "reserved"),
    ("genre text", "at least one vector column"),
    ("emb float[3], emb int8[3]", "duplicate"),
    ("emb bit[3]", "multiple of 8"),
    ("emb float[3], x float primary key", "must be integer or text"),
]


@pytest.mark.parametrize("args,msg", BAD_CREATE)
def test_bad_create(args, msg):
    conn = connect()
    with pytest.raises(sqlite3.OperationalError, match=msg):
        conn.execute(f"create virtual table t using vec0({args})")
    assert conn.execute("select count(*) from sqlite_master").fetchone() == (0,)


BAD_INSERT = [
    ("insert into t(rowid, emb) values (9, '[1, 2]')", "expected a float32 vector of 3 dimensions"),
    ("insert into t(rowid, emb) values (9, x'0000')", "expected a float32 vector of 3"),
    ("insert into t(rowid, emb) values (9, vec_int8('[1,2,3]'))", "got a int8 vector"),
    ("insert into t(rowid, emb) values (9, '[1, 2')", "vec0: column 'emb'"),
    ("insert into t(rowid, emb) values (9, NULL)", "got NULL"),
    ("insert into t(rowid, emb) values (9, 7)", "got the integer 7"),
    ("insert into t(rowid, emb, year) values (9, '[1,2,3]', 'abc')", "expected an integer"),
    ("insert into t(rowid, emb, flag) values (9, '[1,2,3]', 5)", "expected a boolean"),
    (
        "insert into t(rowid, emb) values ('abc', '[1,2,3]')",
        "datatype mismatch|expected an integer",
    ),
    ("insert into t(rowid, emb) values (1, '[1,2,3]')", "UNIQUE"),
    ("insert into t(rowid, emb, distance) values (9, '[1,2,3]', 1.0)", "cannot be written"),
    ("update t set emb = '[1, 2]' where rowid = 1", "expected a float32 vector of 3"),
    ("update t set year = 'x' where rowid = 1", "expected an integer"),
    ("update t set rowid = 2 where rowid = 1", "UNIQUE"),
]


@pytest.mark.parametrize("sql,msg", BAD_INSERT, ids=[b[0] for b in BAD_INSERT])
def test_bad_writes_leave_table_intact(sql, msg):
    conn = connect()
    conn.execute(
        "create virtual table t using vec0(emb float[3], year integer, flag boolean, +note text)"
    )
    conn.execute(
        "insert into t(rowid, emb, year, flag, note) values (1, '[1,2,3]', 2000, 1, 'a'), (2, '[4,5,6]', 2001, 0, 'b')"
    )
    snapshot = lambda: (  # noqa: E731
        conn.execute(
            "select rowid, vec_to_json(emb), year, flag, note from t order by rowid"
        ).fetchall(),
        conn.execute(
            "select rowid, distance from t where emb match '[1,2,3]' and k = 5"
        ).fetchall(),
        conn.execute("select * from t_chunks").fetchall(),
        conn.execute("select * from t_rows").fetchall(),
    )
    before = snapshot()
    with pytest.raises((sqlite3.OperationalError, sqlite3.IntegrityError), match=msg):
        conn.execute(sql)
    assert snapshot() == before


def test_nan_vectors_refused():
    conn = connect()
    conn.execute("create virtual table t using vec0(emb float[2])")
    with pytest.raises(sqlite3.OperationalError, match="finite"):
        conn.execute(
            "insert into t(rowid, emb) values (1, ?)",
            (np.array([np.nan, 1], np.float32).tobytes(),),
        )
    with pytest.raises(sqlite3.OperationalError, match="finite"):
        conn.execute(
            "select * from t where emb match ? and k = 1",
            (np.array([np.inf, 1], np.float32).tobytes(),),
        ).fetchall()
    assert conn.execute("select count(*) from t").fetchone() == (0,)


def test_multiple_vector_columns():
    rng = np.random.default_rng(11)
    A = rng.standard_normal((100, 4)).astype(np.float32)
    B = rng.standard_normal((100, 6)).astype(np.float32)
    conn = connect()
    conn.execute("create virtual table t using vec0(a float[4], b float[6] distance_metric=cosine)")
    conn.executemany(
        "insert into t(rowid, a, b) values (?, ?, ?)",
        [(i + 1, A[i].tobytes(), B[i].tobytes()) for i in range(100)],
    )
    qa, qb = A[3] + 0.01, rng.standard_normal(6).astype(np.float32)
    rows = conn.execute(
        "select rowid, distance from t where a match ? and k = 5", (qa.tobytes(),)
    ).fetchall()
    check_knn(rows, np.arange(1, 101), brute(A, qa, "l2"), 5)
    rows = conn.execute(
        "select rowid, distance from t where b match ? and k = 5", (qb.tobytes(),)
    ).fetchall()
    check_knn(rows, np.arange(1, 101), brute(B, qb, "cosine"), 5)
    with pytest.raises(sqlite3.OperationalError, match="one vector column"):
        conn.execute(
            "select rowid from t where a match ? and b match ? and k = 5",
            (qa.tobytes(), qb.tobytes()),
        ).fetchall()


def test_join_form():
    conn = connect()
    conn.execute("create virtual table t using vec0(emb float[2])")
    conn.execute("create table docs(id integer primary key, body text)")
    conn.execute("insert into t(rowid, emb) values (1, '[0,0]'), (2, '[1,1]'), (3, '[2,2]')")
    conn.execute("insert into docs values (1, 'one'), (2, 'two'), (3, 'three')")
    rows = conn.execute(
        "select docs.body, t.distance from t join docs on docs.id = t.rowid "
        "where t.emb match '[1.1, 1.1]' and k = 2 order by t.distance"
    ).fetchall()
    assert [r[0] for r in rows] == ["two", "three"]
    rows = conn.execute(
        "with q as (select '[0.1, 0]' as v) select t.rowid from q, t where t.emb match q.v and k = 1"
    ).fetchall()
    assert rows == [(1,)]


def test_insert_or_ignore():
    conn = connect()
    conn.execute("create virtual table t using vec0(emb float[2], +note text)")
    conn.execute("insert into t(rowid, emb, note) values (1, '[0, 0]', 'first')")
    conn.execute("insert or ignore into t(rowid, emb, note) values (1, '[9, 9]', 'second')")
    conn.execute("insert or ignore into t(rowid, emb, note) values (2, '[9, 9]', 'third')")
    assert conn.execute("select rowid, vec_to_json(emb), note from t").fetchall() == [
        (1, "[0.000000,0.000000]", "first"),
        (2, "[9.000000,9.000000]", "third"),
    ]


def test_failed_multi_row_statement_is_rolled_back_with_cache():
    conn = connect(isolation_level=None)
    conn.execute("create virtual table t using vec0(emb float[2])")
    conn.execute("insert into t(rowid, emb) values (1, '[0, 0]')")
    q = "select rowid from t where emb match '[5, 5]' and k = 5"
    assert conn.execute(q).fetchall() == [(1,)]  # cache loaded
    conn.execute("begin")
    conn.execute("insert into t(rowid, emb) values (2, '[1, 1]')")
    with pytest.raises(sqlite3.OperationalError, match="2 dimensions"):
        conn.execute("insert into t(rowid, emb) values (3, '[5, 5]'), (4, '[1, 2, 3]')")
    assert conn.execute(q).fetchall() == [(2,), (1,)]
    conn.execute("commit")
    assert conn.execute("select rowid from t order by rowid").fetchall() == [(1,), (2,)]


def test_numpy_query_parameters():
    conn = connect()  # connect_with_vec registers the numpy adapter
    conn.execute("create virtual table t using vec0(emb float[3])")
    X = np.eye(3, dtype=np.float32)
    conn.executemany("insert into t(rowid, emb) values (?, ?)", [(i + 1, X[i]) for i in range(3)])
    q = np.array([0.1, 0.9, 0.0], dtype=np.float32)
    assert conn.execute("select rowid from t where emb match ? and k = 1", (q,)).fetchall() == [
        (2,)
    ]


@pytest.mark.parametrize("key_type", ["integer", "text"])
def test_partition_layouts(key_type):
    rng = np.random.default_rng(12)
    n = 600
    X = rng.standard_normal((n, 12)).astype(np.float32)
    part = rng.integers(0, 6, n)
    keys = part if key_type == "integer" else np.array([f"p{p}" for p in part], dtype=object)
    conn = connect()
    conn.execute(
        f"create virtual table t using vec0(tenant {key_type} partition key, "
        "emb float[12] distance_metric=l1, chunk_size=16)"
    )
    conn.executemany(
        "insert into t(rowid, tenant, emb) values (?, ?, ?)",
        [
            (i + 1, keys[i].item() if hasattr(keys[i], "item") else keys[i], X[i].tobytes())
            for i in range(n)
        ],
    )
    q = rng.standard_normal(12).astype(np.float32)
    for p in range(6):
        key = int(p) if key_type == "integer" else f"p{p}"
        mask = part == p
        rows = conn.execute(
            "select rowid, distance from t where emb match ? and k = 8 and tenant = ?",
            (q.tobytes(), key),
        ).fetchall()
        check_knn(rows, np.arange(1, n + 1)[mask], brute(X[mask], q, "l1"), 8)
    # partition key updates move rows between partitions
    conn.execute(
        "update t set tenant = ? where rowid = 1", (999 if key_type == "integer" else "x",)
    )
    rows = conn.execute(
        "select rowid from t where emb match ? and k = 3 and tenant = ?",
        (q.tobytes(), 999 if key_type == "integer" else "x"),
    ).fetchall()
    assert rows == [(1,)]


def test_in_subqueries_and_join_filters():
    conn = connect()
    conn.execute("create virtual table t using vec0(e float[1], g text)")
    conn.executemany(
        "insert into t(rowid, e, g) values (?, ?, ?)",
        [(i, f"[{i}]", "a" if i % 2 else "b") for i in range(1, 21)],
    )
    conn.execute("create table other(id integer primary key, ok)")
    conn.executemany("insert into other values (?, ?)", [(i, i % 5 == 0) for i in range(1, 21)])
    rows = conn.execute(
        "select rowid from t where e match '[0]' and k = 3 "
        "and rowid in (select id from other where ok)"
    ).fetchall()
    assert rows == [(5,), (10,), (15,)]
    rows = conn.execute(
        "select rowid from t where e match '[0]' and k = 3 and g in (select 'a' union select 'c')"
    ).fetchall()
    assert rows == [(1,), (3,), (5,)]
    rows = conn.execute(
        "select t.rowid, other.ok from t join other on other.id = t.rowid "
        "where e match '[0]' and k = 3"
    ).fetchall()
    assert rows == [(1, 0), (2, 0), (3, 0)]


def test_concurrent_writer_and_reader_threads(tmp_path):
    import threading

    path = str(tmp_path / "mt.db")
    setup = connect(path, isolation_level=None)
    setup.execute("pragma journal_mode=wal")
    setup.execute("create virtual table t using vec0(emb float[2])")
    setup.execute("insert into t(rowid, emb) values (1, '[1, 0]')")
    setup.close()
    committed = [1]  # appended after each insert returns (committed)
    started = [1]  # appended before each insert starts
    errors: list = []
    done = threading.Event()

    def writer():
        try:
            w = connect(path, isolation_level=None, check_same_thread=False)
            w.execute("pragma busy_timeout=5000")
            for i in range(2, 200):
                started.append(i)
                w.execute("insert into t(rowid, emb) values (?, ?)", (i, f"[{i}, 0]"))
                committed.append(i)
                if i % 7 == 0:
                    w.execute("begin")
                    w.execute("delete from t where rowid = ?", (i,))
                    w.execute("rollback")
            w.close()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    def reader():
        try:
            r = connect(path, isolation_level=None, check_same_thread=False)
            r.execute("pragma busy_timeout=5000")
            last = 0
            while not done.is_set() or last < 199:
                before = committed[-1]
                got = r.execute("select rowid from t where emb match '[1000, 0]' and k = 1")
                top = got.fetchone()[0]
                after = started[-1]
                assert before <= top <= after and top >= last, (before, top, after, last)
                last = top
                if done.is_set() and last == 199:
                    break
            r.close()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
