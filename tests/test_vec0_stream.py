"""The first KNN query of a process (cold cache) is answered while the chunks are read.

Every query here is checked against a numpy brute force with the cache cold (cleared,
or invalidated by another connection's commit) and warm, on database files in both
journal modes, with filters and every metric.
"""

import json
import sqlite3

import numpy as np
import pytest
from test_vec0 import brute as float_distances

import sqlite_quiver
from sqlite_quiver.vectors import cache_info, clear_cache

N, DIMS, K = 300, 16, 10


def connect(path, journal):
    c = sqlite3.connect(path, isolation_level=None)
    sqlite_quiver.load(c)
    c.execute(f"pragma journal_mode={journal}")
    return c


def distances(X, q, metric):
    if metric == "hamming":
        return np.unpackbits(np.bitwise_xor(X, q), axis=1).sum(1).astype(np.float64)
    return float_distances(X, q, metric)


def brute(X, rowids, q, metric, mask=None):
    d = distances(X, q, metric)
    idx = np.arange(len(rowids)) if mask is None else np.flatnonzero(mask)
    order = sorted(idx, key=lambda i: (d[i], rowids[i]))[:K]
    return [int(rowids[i]) for i in order], [float(d[i]) for i in order]


def check(conn, sql, params, want):
    rows = conn.execute(sql, params).fetchall()
    ids, dists = want
    assert [r[0] for r in rows] == ids
    np.testing.assert_allclose([r[1] for r in rows], dists, rtol=1e-4, atol=1e-4)


@pytest.fixture(params=["wal", "delete"])
def journal(request):
    return request.param


def make_table(path, journal, column, rng, kind="float"):
    c = connect(path, journal)
    c.execute(
        f"create virtual table t using vec0({column}, user_id integer partition key, "
        "genre text, chunk_size=32)"
    )
    if kind == "float":
        X = rng.standard_normal((N, DIMS)).astype(np.float32)
        wrap = "?"
    elif kind == "int8":
        X = rng.integers(-128, 128, (N, DIMS)).astype(np.int8)
        wrap = "vec_int8(?)"
    else:
        X = rng.integers(0, 256, (N, DIMS // 8 * 8 // 8)).astype(np.uint8)
        wrap = "vec_bit(?)"
    rowids = np.arange(1, N + 1) * 3
    users = rng.integers(0, 4, N)
    genres = np.array(["a", "b", "c"])[rng.integers(0, 3, N)]
    c.execute("begin")
    c.executemany(
        f"insert into t(rowid, emb, user_id, genre) values (?, {wrap}, ?, ?)",
        [(int(r), x.tobytes(), int(u), str(g)) for r, x, u, g in zip(rowids, X, users, genres)],
    )
    c.execute("commit")
    return c, X, rowids, users, genres, wrap


@pytest.mark.parametrize(
    "column,metric,kind",
    [
        ("emb float[16]", "l2", "float"),
        ("emb float[16] distance_metric=l1", "l1", "float"),
        ("emb float[16] distance_metric=cosine", "cosine", "float"),
        ("emb int8[16]", "l2", "int8"),
        ("emb bit[16]", "hamming", "bit"),
    ],
)
def test_cold_warm_and_after_commit_equal_brute_force(tmp_path, rng, journal, column, metric, kind):
    path = str(tmp_path / "db.sqlite")
    writer, X, rowids, users, genres, wrap = make_table(path, journal, column, rng, kind)
    reader = connect(path, journal)
    q = X[7].copy()
    q[0] = q[0] // 2 if kind != "float" else q[0] + 0.5
    base = f"select rowid, distance from t where emb match {wrap} and k = {K}"
    queries = [
        (base, (q.tobytes(),), None),
        (base + " and genre = 'b'", (q.tobytes(),), genres == "b"),
        (base + " and user_id = 2", (q.tobytes(),), users == 2),
        (
            base + " and rowid in (3, 9, 30, 300, 600, 603, 900)",
            (q.tobytes(),),
            np.isin(rowids, [3, 9, 30, 300, 600, 603, 900]),
        ),
    ]

    def check_all(conn):
        for sql, params, mask in queries:
            check(conn, sql, params, brute(X, rowids, q, metric, mask))

    for conn in (reader, writer):
        clear_cache()
        check_all(conn)  # cold: answered while the chunks are read
        check_all(conn)  # warm
    # another connection commits: the reader's next query reloads (or sees the
    # writer's update) and still equals brute force
    X = X.copy()
    X[[0, 40, 100]] = X[[1, 41, 101]]
    writer.execute("begin")
    for i in (0, 40, 100):
        writer.execute(
            f"update t set emb = {wrap} where rowid = ?", (X[i].tobytes(), int(rowids[i]))
        )
    writer.execute(f"delete from t where rowid = {int(rowids[5])}")
    writer.execute("commit")
    keep = np.ones(N, bool)
    keep[5] = False
    X, rowids, users, genres = X[keep], rowids[keep], users[keep], genres[keep]
    queries = [(s, p, None if m is None else m[keep]) for s, p, m in queries]
    check_all(reader)
    clear_cache()
    check_all(reader)  # cold after the commit
    check_all(writer)
    writer.close()
    reader.close()


def test_cold_query_on_a_table_with_an_empty_last_chunk(tmp_path, rng, journal):
    path = str(tmp_path / "db.sqlite")
    writer, X, rowids, users, genres, wrap = make_table(path, journal, "emb float[16]", rng)
    writer.execute(f"delete from t where rowid > {int(rowids[N - 20])}")
    clear_cache()
    q = rng.standard_normal(DIMS).astype(np.float32)
    keep = rowids <= rowids[N - 20]
    check(
        writer,
        f"select rowid, distance from t where emb match ? and k = {K}",
        (q.tobytes(),),
        brute(X[keep], rowids[keep], q, "l2"),
    )
    writer.close()


def test_cache_info_counts_loads_hits_tables_and_bytes(tmp_path, rng):
    path = str(tmp_path / "db.sqlite")
    writer, X, rowids, *_ = make_table(path, "wal", "emb float[16]", rng)
    reader = connect(path, "wal")
    clear_cache()
    info = json.loads(reader.execute("select quiver_cache_info()").fetchone()[0])
    assert info["tables"] == 0 and info["bytes"] == 0
    q = X[3].tobytes()
    sql = f"select rowid from t where emb match ? and k = {K}"
    reader.execute(sql, (q,)).fetchall()  # cold: a load
    reader.execute(sql, (q,)).fetchall()  # warm: a hit
    after = cache_info()
    assert after == json.loads(reader.execute("select quiver_cache_info()").fetchone()[0])
    assert after["tables"] == 1
    assert after["loads"] - info["loads"] == 1
    assert after["hits"] - info["hits"] == 1
    assert N * DIMS * 4 <= after["bytes"] <= 2 * N * DIMS * 4 + 64 * 1024
    # after another connection's commit the next query sees it (from the entry the
    # writer updated in place, or from a reload): one more hit or load
    writer.execute(f"delete from t where rowid = {int(rowids[3])}")
    got = [r[0] for r in reader.execute(sql, (q,))]
    assert int(rowids[3]) not in got and len(got) == K
    now = cache_info()
    assert (now["loads"] + now["hits"]) - (after["loads"] + after["hits"]) == 1
    clear_cache()
    assert cache_info()["tables"] == 0
    writer.close()
    reader.close()


# Above 8 MiB of vectors (the size from which the first query streams instead of
# loading): 2,800 x 768 float32 = 8.2 MiB, in chunks of 64 rows.
BIG_N, BIG_DIMS = 2800, 768


@pytest.mark.parametrize("index", ["", " indexed by rescore(quantizer=int8)"])
def test_a_large_table_is_cached_from_the_second_query_of_a_state(tmp_path, rng, journal, index):
    path = str(tmp_path / "big.sqlite")
    writer = connect(path, journal)
    writer.execute(
        f"create virtual table t using vec0(emb float[{BIG_DIMS}]{index}, chunk_size=64)"
    )
    X = rng.standard_normal((BIG_N, BIG_DIMS)).astype(np.float32)
    rowids = np.arange(1, BIG_N + 1)
    writer.execute("begin")
    writer.executemany(
        "insert into t(rowid, emb) values (?, ?)",
        ((int(i), x.tobytes()) for i, x in zip(rowids, X)),
    )
    writer.execute("commit")
    reader = connect(path, journal)
    clear_cache()
    sql = f"select rowid, distance from t where emb match ? and k = {K}"
    qs = rng.standard_normal((4, BIG_DIMS)).astype(np.float32)
    before = cache_info()
    check(reader, sql, (qs[0].tobytes(),), brute(X, rowids, qs[0], "l2"))
    first = cache_info()
    if index:
        # An indexed table is loaded by its first query: its answers come from its codes.
        assert first["loads"] - before["loads"] == 1
        return
    # The first query of this table state streamed the chunks: nothing loaded, only
    # rowids and metadata held; it is not counted as a table above the budget.
    assert first["loads"] == before["loads"] and first["hits"] == before["hits"]
    assert first["tables"] == 1 and first["streamed"] == 0
    assert first["bytes"] < BIG_N * BIG_DIMS * 4 // 10
    assert sqlite_quiver.vectors.index_state(reader, "t")["streamed"] is False
    # The second loads it (answered in the same pass), the third is a hit.
    check(reader, sql, (qs[1].tobytes(),), brute(X, rowids, qs[1], "l2"))
    second = cache_info()
    assert second["loads"] - first["loads"] == 1
    assert second["bytes"] >= BIG_N * BIG_DIMS * 4
    check(reader, sql, (qs[2].tobytes(),), brute(X, rowids, qs[2], "l2"))
    assert cache_info()["hits"] - second["hits"] == 1
    # Another connection's commit: a new state, streamed once more, then loaded.
    writer.execute("delete from t where rowid <= 100")
    X, rowids = X[100:], rowids[100:]
    loads = cache_info()["loads"]
    check(reader, sql, (qs[3].tobytes(),), brute(X, rowids, qs[3], "l2"))
    assert cache_info()["loads"] == loads
    got, dist = sqlite_quiver.search(reader, "t", qs, K)
    for q, g, d in zip(qs, got, dist):
        want_ids, want_d = brute(X, rowids, q, "l2")
        assert g.tolist() == want_ids
        np.testing.assert_allclose(d, want_d, rtol=1e-4, atol=1e-4)
    assert cache_info()["loads"] == loads + 1
    # This connection's own writes keep the loaded entry in step (no reload).
    reader.execute("insert into t(rowid, emb) values (?, ?)", (10**6, qs[0].tobytes()))
    rows = reader.execute(sql, (qs[0].tobytes(),)).fetchall()
    assert rows[0][0] == 10**6 and rows[0][1] == 0.0
    assert cache_info()["loads"] == loads + 1
    writer.close()
    reader.close()
