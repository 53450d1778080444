"""`indexed by rescore(quantizer=bit|int8, oversample=N)`: a quantized scan of cached
codes with exact rescoring (sqlite-vec 0.1.10 syntax), with filters applied before the
shortlist so results are never short, every write path and ROLLBACK kept in step."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

import sqlite_quiver


def clustered(rng, n, dims, centers=64, spread=0.35):
    """Gaussian clusters around random centers (not isotropic noise)."""
    c = rng.standard_normal((centers, dims)).astype(np.float32)
    labels = rng.integers(0, centers, n)
    return (c[labels] + spread * rng.standard_normal((n, dims))).astype(np.float32)


def brute(X, ids, q, k, metric="l2"):
    X = X.astype(np.float64)
    q = q.astype(np.float64)
    if metric == "l2":
        d = np.sqrt(((X - q) ** 2).sum(1))
    elif metric == "cosine":
        d = 1 - (X @ q) / (np.linalg.norm(X, axis=1) * np.linalg.norm(q))
    else:
        d = -(X @ q)
    order = np.lexsort((ids, d))[:k]
    return list(np.asarray(ids)[order]), d[order]


def knn(conn, table, q, k, where="", params=()):
    return conn.execute(
        f"select rowid, distance from {table} where emb match ? and k = ? {where} "
        "order by distance",
        (np.asarray(q, np.float32).tobytes(), k, *params),
    ).fetchall()


@pytest.fixture()
def conn():
    c = sqlite_quiver.connect_with_vec(isolation_level=None)
    yield c
    c.close()


# --- syntax and errors --------------------------------------------------------------


@pytest.mark.parametrize(
    "decl",
    [
        "emb float[16] indexed by rescore(quantizer=bit)",
        "emb float[16] indexed by rescore(quantizer=int8)",
        "emb float[16] indexed by rescore(quantizer=bit, oversample=16)",
        "emb float[16] distance_metric=cosine indexed by rescore(quantizer=bit)",
        "emb float[16] INDEXED BY rescore(quantizer=int8, oversample=128)",
    ],
)
def test_create_and_query(conn, decl):
    conn.execute(f"create virtual table t using vec0({decl}, genre text, +note text)")
    conn.execute(
        "insert into t(rowid, emb, genre) values (1, ?, 'a')", (np.ones(16, np.float32).tobytes(),)
    )
    conn.execute(
        "insert into t(rowid, emb, genre) values (2, ?, 'b')",
        ((-np.ones(16, np.float32)).tobytes(),),
    )
    rows = knn(conn, "t", np.ones(16), 2)
    assert [r[0] for r in rows] == [1, 2]
    assert rows[0][1] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    "decl,needle",
    [
        ("emb float[16] indexed by rescore(oversample=8)", "quantizer is required"),
        ("emb float[16] indexed by rescore(quantizer=float)", "unknown quantizer 'float'"),
        ("emb float[16] indexed by rescore(quantizer=bit, oversample=0)", "oversample must be"),
        ("emb float[16] indexed by rescore(quantizer=bit, oversample=999)", "oversample must be"),
        ("emb float[16] indexed by rescore(quantizer=bit, colour=red)", "unknown option 'colour'"),
        ("emb float[100] indexed by rescore(quantizer=bit)", "multiple of 8"),
        ("emb int8[16] indexed by rescore(quantizer=bit)", "only supported on float32"),
        ("emb bit[16] indexed by rescore(quantizer=bit)", "only supported on float32"),
        ("emb float[16] indexed by ivf(nlist=0)", "nlist must be an integer between 1"),
        (
            "emb float[16] indexed by diskann(neighbor_quantizer=binary)",
            "or no index for an exact scan",
        ),
        ("emb float[16] indexed by hnsw(m=16)", "unknown index 'hnsw'"),
    ],
)
def test_bad_parameters_are_clear_errors(conn, decl, needle):
    with pytest.raises(sqlite3.OperationalError) as e:
        conn.execute(f"create virtual table t using vec0({decl})")
    assert needle in str(e.value)
    assert str(e.value).startswith("vec0 constructor error: could not parse vector column")


# --- exactness and recall ------------------------------------------------------------


@pytest.mark.parametrize("quantizer", ["bit", "int8"])
@pytest.mark.parametrize("metric", ["l2", "cosine", "dot", "l1"])
def test_exact_when_oversample_covers_the_table(conn, quantizer, metric):
    rng = np.random.default_rng(1)
    X = clustered(rng, 600, 32)
    for name, index in [
        ("plain", ""),
        ("idx", f" indexed by rescore(quantizer={quantizer}, oversample=128)"),
    ]:
        conn.execute(
            f"create virtual table {name} using vec0(emb float[32] distance_metric={metric}{index})"
        )
        sqlite_quiver.insert_vectors(conn, name, X, ids=np.arange(1, 601))
    for q in clustered(rng, 10, 32):
        assert knn(conn, "idx", q, 5) == knn(conn, "plain", q, 5)


def recall(conn, table, X, ids, queries, k, metric="l2"):
    got = 0
    for q in queries:
        want, _ = brute(X, ids, q, k, metric)
        got += len(set(want) & {r[0] for r in knn(conn, table, q, k)})
    return got / (k * len(queries))


@pytest.mark.parametrize("quantizer,oversample,floor", [("int8", 8, 0.99), ("bit", 16, 0.90)])
def test_recall_floor_on_clustered_data(conn, quantizer, oversample, floor):
    rng = np.random.default_rng(7)
    n, dims = 20000, 256
    X = clustered(rng, n, dims, centers=200, spread=0.5)
    ids = np.arange(1, n + 1)
    conn.execute(
        f"create virtual table t using vec0(emb float[{dims}] indexed by "
        f"rescore(quantizer={quantizer}, oversample={oversample}))"
    )
    sqlite_quiver.insert_vectors(conn, "t", X, ids=ids)
    queries = X[rng.choice(n, 40, replace=False)] + 0.3 * rng.standard_normal((40, dims)).astype(
        np.float32
    )
    r = recall(conn, "t", X, ids, queries, 10)
    assert r >= floor, r
    # Distances are exact float distances, not code distances.
    rows = knn(conn, "t", queries[0], 3)
    _, d = brute(X, ids, queries[0], 3)
    assert [row[1] for row in rows] == pytest.approx(d[: len(rows)].tolist(), rel=1e-5)
    # The batched search gives the same rows.
    got, _ = sqlite_quiver.search(conn, "t", queries[:5], 10)
    for q, g in zip(queries[:5], got):
        assert g.tolist() == [r[0] for r in knn(conn, "t", q, 10)]


# --- filters are applied before the shortlist ---------------------------------------


def test_filters_never_short(conn):
    rng = np.random.default_rng(3)
    n, dims = 5000, 64
    X = clustered(rng, n, dims)
    ids = np.arange(1, n + 1)
    conn.execute(
        f"create virtual table t using vec0(user integer partition key, emb float[{dims}] "
        "indexed by rescore(quantizer=bit, oversample=1), rare integer, +note text)"
    )
    rare = (ids % 100 == 0).astype(int)  # 1% of the rows
    users = ids % 7
    conn.executemany(
        "insert into t(rowid, user, emb, rare, note) values (?, ?, ?, ?, 'x')",
        [(int(i), int(u), x.tobytes(), int(r)) for i, u, x, r in zip(ids, users, X, rare)],
    )
    q = clustered(rng, 1, dims)[0]
    rows = knn(conn, "t", q, 20, "and rare = 1")
    assert len(rows) == 20
    assert all(r[0] % 100 == 0 for r in rows)
    rows = knn(conn, "t", q, 20, "and user = 3")
    assert len(rows) == 20 and all(r[0] % 7 == 3 for r in rows)
    rows = knn(conn, "t", q, 5, "and rowid in (10, 20, 30, 40, 50, 60)")
    assert len(rows) == 5 and {r[0] for r in rows} <= {10, 20, 30, 40, 50, 60}
    # Distance bounds: a page after the first 20 still has 20 rows (exact fallback).
    first = knn(conn, "t", q, 20)
    last = first[-1][1]
    page = knn(conn, "t", q, 20, "and distance > ?", (last,))
    assert len(page) == 20
    assert all(r[1] > last for r in page)
    # Every returned distance is the exact one of its row.
    for rid, dist in page:
        assert dist == pytest.approx(
            float(np.linalg.norm(X[rid - 1].astype(np.float64) - q)), rel=1e-5
        )
    assert [r[1] for r in page] == sorted(r[1] for r in page)


# --- every write path, ROLLBACK and savepoints --------------------------------------


@pytest.mark.parametrize("quantizer,metric", [("bit", "l2"), ("int8", "cosine")])
def test_random_writes_match_numpy_model(tmp_path, quantizer, metric):
    rng = np.random.default_rng(11)
    dims = 16
    path = str(tmp_path / "r.db")
    conn = sqlite_quiver.connect_with_vec(path, isolation_level=None)
    # oversample 128 x k 4 = 512 candidates >= rows: results must be exact.
    conn.execute(
        f"create virtual table t using vec0(emb float[{dims}] distance_metric={metric} "
        f"indexed by rescore(quantizer={quantizer}, oversample=128), g integer, chunk_size=16)"
    )
    model: dict = {}
    saved: list = []
    next_id = 1

    def check(k=4):
        q = rng.standard_normal(dims).astype(np.float32)
        if not model:
            assert knn(conn, "t", q, k) == []
            return
        ids = sorted(model)
        X = np.stack([model[i][0] for i in ids])
        want, d = brute(X, ids, q, k, metric)
        rows = knn(conn, "t", q, k)
        assert [r[0] for r in rows] == want
        assert [r[1] for r in rows] == pytest.approx(d.tolist(), rel=1e-4, abs=1e-5)
        g = int(rng.integers(3))
        gi = [i for i in ids if model[i][1] == g]
        if gi:
            want, _ = brute(np.stack([model[i][0] for i in gi]), gi, q, k, metric)
            assert [r[0] for r in knn(conn, "t", q, k, "and g = ?", (g,))] == want

    for _step in range(1500):
        op = rng.random()
        v = rng.standard_normal(dims).astype(np.float32)
        g = int(rng.integers(3))
        if op < 0.30 and len(model) < 450:
            rid = next_id
            next_id += 1
            conn.execute("insert into t(rowid, emb, g) values (?, ?, ?)", (rid, v.tobytes(), g))
            model[rid] = (v, g)
        elif op < 0.36 and model:
            rid = int(rng.choice(list(model)))
            conn.execute(
                "insert or replace into t(rowid, emb, g) values (?, ?, ?)", (rid, v.tobytes(), g)
            )
            model[rid] = (v, g)
        elif op < 0.46 and model:
            rid = int(rng.choice(list(model)))
            conn.execute("update t set emb = ? where rowid = ?", (v.tobytes(), rid))
            model[rid] = (v, model[rid][1])
        elif op < 0.58 and model:
            rid = int(rng.choice(list(model)))
            conn.execute("delete from t where rowid = ?", (rid,))
            del model[rid]
        elif op < 0.61 and len(model) < 400:
            n = int(rng.integers(1, 30))
            X = rng.standard_normal((n, dims)).astype(np.float32)
            new = list(range(next_id, next_id + n))
            next_id += n
            sqlite_quiver.insert_vectors(conn, "t", X, ids=new)
            for i, x in zip(new, X):
                model[i] = (x, None)
        elif op < 0.64 and not saved:
            conn.execute("begin")
            saved.append(dict(model))
        elif op < 0.67 and saved:
            conn.execute(f"savepoint s{len(saved)}")
            saved.append(dict(model))
        elif op < 0.70 and len(saved) > 1:
            conn.execute(f"rollback to s{len(saved) - 1}")
            model = dict(saved[-1])
        elif op < 0.72 and len(saved) > 1:
            conn.execute(f"release s{len(saved) - 1}")
            saved.pop()
        elif op < 0.75 and saved:
            conn.execute("rollback")
            model = dict(saved[0])
            saved.clear()
        elif op < 0.78 and saved:
            conn.execute("commit")
            saved.clear()
        elif op < 0.80 and not saved:
            conn.close()
            conn = sqlite_quiver.connect_with_vec(path, isolation_level=None)
        else:
            check()
    if saved:
        conn.execute("commit")
    check()
    conn.execute("vacuum")
    check()
    conn.execute("insert into t(t) values ('integrity-check')")
    conn.close()
    conn = sqlite_quiver.connect_with_vec(path, isolation_level=None)
    check()
    conn.close()


# --- persistence and compatibility --------------------------------------------------


def test_reopen_vacuum_rename_drop(tmp_path):
    path = str(tmp_path / "p.db")
    rng = np.random.default_rng(5)
    X = clustered(rng, 300, 32)
    conn = sqlite_quiver.connect_with_vec(path, isolation_level=None)
    conn.execute(
        "create virtual table t using vec0(emb float[32] indexed by rescore(quantizer=int8, oversample=64))"
    )
    sqlite_quiver.insert_vectors(conn, "t", X, ids=np.arange(1, 301))
    q = X[17]
    before = knn(conn, "t", q, 5)
    assert before[0][0] == 18
    conn.close()
    conn = sqlite_quiver.connect_with_vec(path, isolation_level=None)
    assert knn(conn, "t", q, 5) == before
    conn.execute("vacuum")
    assert knn(conn, "t", q, 5) == before
    conn.execute("alter table t rename to u")
    assert knn(conn, "u", q, 5) == before
    conn.execute("drop table u")
    assert (
        conn.execute("select count(*) from sqlite_master where name like 'u%'").fetchone()[0] == 0
    )
    conn.close()


def test_same_rows_as_sqlite_vec_exact_scan(conn):
    """sqlite-vec 0.1.9 refuses `indexed by`; with full oversample the indexed table
    returns what sqlite-vec's exact scan returns on the same rows."""
    sqlite_vec = pytest.importorskip("sqlite_vec")
    ref = sqlite3.connect(":memory:")
    sqlite_quiver.load_extension(ref, sqlite_vec.loadable_path())
    assert ref.execute("select vec_version()").fetchone()[0].startswith("v0.1.9")
    rng = np.random.default_rng(9)
    X = clustered(rng, 200, 16)
    ref.execute("create virtual table t using vec0(emb float[16])")
    conn.execute(
        "create virtual table t using vec0(emb float[16] indexed by rescore(quantizer=bit, oversample=128))"
    )
    for i, x in enumerate(X, 1):
        ref.execute("insert into t(rowid, emb) values (?, ?)", (i, x.tobytes()))
        conn.execute("insert into t(rowid, emb) values (?, ?)", (i, x.tobytes()))
    for q in clustered(rng, 5, 16):
        a = [r[0] for r in knn(conn, "t", q, 10)]
        b = [r[0] for r in knn(ref, "t", q, 10)]
        assert a == b


# --- control and visibility ----------------------------------------------------------


def test_per_query_oversample_and_state(conn):
    rng = np.random.default_rng(21)
    n, dims = 3000, 64
    X = clustered(rng, n, dims, centers=30, spread=0.8)
    ids = np.arange(1, n + 1)
    conn.execute(
        f"create virtual table t using vec0(emb float[{dims}] indexed by rescore(quantizer=bit, oversample=1))"
    )
    sqlite_quiver.insert_vectors(conn, "t", X, ids=ids)
    qs = X[:20] + 0.5 * rng.standard_normal((20, dims)).astype(np.float32)
    low = recall(conn, "t", X, ids, qs, 10)
    # SQL: sqlite-vec's command sets this connection's oversample for the table.
    conn.execute("insert into t(t) values ('oversample=300')")
    assert recall(conn, "t", X, ids, qs, 10) == 1.0 > low
    with pytest.raises(sqlite3.OperationalError, match="oversample must be >= 1"):
        conn.execute("insert into t(t) values ('oversample=0')")
    conn.execute("insert into t(t) values ('oversample=1')")
    assert recall(conn, "t", X, ids, qs, 10) == low
    # Python: per call.
    got, dist = sqlite_quiver.search(conn, "t", qs, 10, oversample=300)
    for q, g, d in zip(qs, got, dist):
        want, wd = brute(X, ids, q, 10)
        assert g.tolist() == want
        assert d.tolist() == pytest.approx(wd.tolist(), rel=1e-5)
    with pytest.raises(ValueError, match="oversample"):
        sqlite_quiver.search(conn, "t", qs, 10, oversample=0)
    state = sqlite_quiver.vectors.index_state(conn, "t")
    assert state["kind"] == "rescore" and state["quantizer"] == "bit"
    assert state["oversample"] == 1 and state["rows_coded"] == n
    assert state["code_bytes_per_row"] == dims // 8
    assert state["code_bytes"] >= n * dims // 8
    import json

    assert json.loads(conn.execute("select quiver_index_state('t', 'emb')").fetchone()[0]) == state
    conn.execute("create virtual table p using vec0(emb float[4])")
    assert sqlite_quiver.vectors.index_state(conn, "p") == {
        "column": "emb",
        "kind": "none",
        "rows": 0,
        "streamed": False,
    }
    with pytest.raises(sqlite3.OperationalError, match="has none"):
        conn.execute("insert into p(p) values ('oversample=4')")
