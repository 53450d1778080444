"""The vector cache's memory budget: tables above it are streamed chunk by chunk.

With a budget smaller than a table, the table's vectors are not held in memory: every
query (SQL or ``search``) reads the chunks one at a time and must give exactly what a
cached table gives (checked against numpy brute force), through writes on two
connections. Tables within the budget are dropped least recently used first.
"""

import json
import sqlite3

import numpy as np
import pytest
import test_vec0_stream
from test_vec0_stream import DIMS, K, N, brute, check, connect, make_table

import sqlite_quiver
from sqlite_quiver.vectors import cache_info, clear_cache, set_cache_budget

# The cold / warm / after-commit check of test_vec0_stream, run here with a budget that
# streams every table (an alias, so pytest does not collect it twice).
_cold_warm_after_commit = test_vec0_stream.test_cold_warm_and_after_commit_equal_brute_force


@pytest.fixture
def budget():
    """Sets the process-wide budget for one test and restores it afterwards."""
    old = cache_info()["budget"]
    clear_cache()
    yield set_cache_budget
    set_cache_budget(old)
    clear_cache()


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
def test_streamed_table_equals_brute_force(tmp_path, rng, budget, column, metric, kind):
    budget(64)  # below every table here (the bit table holds N * 2 bytes)
    _cold_warm_after_commit(tmp_path, rng, "wal", column, metric, kind)
    assert cache_info()["streamed"] >= 1


def test_streamed_table_keeps_only_metadata_in_memory(tmp_path, rng, budget):
    path = str(tmp_path / "db.sqlite")
    c, X, rowids, users, genres, _ = make_table(path, "delete", "emb float[16]", rng)
    clear_cache()
    budget(N * DIMS * 4 // 2)
    q = X[11]
    sql = f"select rowid, distance from t where emb match ? and k = {K}"
    check(c, sql, (q.tobytes(),), brute(X, rowids, q, "l2"))
    info = cache_info()
    assert info["streamed"] == 1 and info["tables"] == 1
    streamed_bytes = info["bytes"]
    before = cache_info()
    check(c, sql, (q.tobytes(),), brute(X, rowids, q, "l2"))
    after = cache_info()
    assert after["hits"] - before["hits"] == 1 and after["loads"] == before["loads"]
    # the vector column itself is read from the chunks
    got = c.execute("select rowid, emb from t where rowid in (3, 30, 300)").fetchall()
    want = {int(r): X[i].tobytes() for i, r in enumerate(rowids) if r in (3, 30, 300)}
    assert dict(got) == want
    rows = c.execute(
        f"select rowid, emb, distance from t where emb match ? and k = {K}", (q.tobytes(),)
    ).fetchall()
    index = {int(r): i for i, r in enumerate(rowids)}
    assert all(emb == X[index[r]].tobytes() for r, emb, _ in rows)
    # raising the budget caches it whole again at the next load
    budget(N * DIMS * 8 + (1 << 20))
    clear_cache()
    check(c, sql, (q.tobytes(),), brute(X, rowids, q, "l2"))
    # cached whole, the table holds the vectors the streamed one did not
    assert cache_info()["streamed"] == 0
    assert cache_info()["bytes"] - streamed_bytes >= N * DIMS * 4
    c.close()


@pytest.mark.parametrize("metric", ["l2", "cosine", "l1"])
def test_search_on_a_streamed_table_equals_brute_force(tmp_path, rng, budget, metric):
    path = str(tmp_path / "db.sqlite")
    column = "emb float[16]" + ("" if metric == "l2" else f" distance_metric={metric}")
    c, X, rowids, users, genres, _ = make_table(path, "wal", column, rng)
    budget(2048)
    Q = rng.standard_normal((7, DIMS)).astype(np.float32)
    for filters, mask in (
        ({}, None),
        ({"genre": "c"}, genres == "c"),
        ({"user_id": 1}, users == 1),
    ):
        ids, dists = sqlite_quiver.search(c, "t", Q, k=K, **filters)
        for i, q in enumerate(Q):
            want_ids, want_d = brute(X, rowids, q, metric, mask)
            assert ids[i][: len(want_ids)].tolist() == want_ids
            np.testing.assert_allclose(dists[i][: len(want_d)], want_d, rtol=1e-4, atol=1e-4)
    assert cache_info()["streamed"] == 1
    c.close()


def test_writes_and_reads_interleaved_on_two_connections(tmp_path, rng, budget):
    """A writer changes a streamed table (in transactions, some rolled back) while a
    reader queries it; every answer equals brute force over the committed state."""
    path = str(tmp_path / "db.sqlite")
    writer, X, rowids, users, genres, _ = make_table(path, "wal", "emb float[16]", rng)
    reader = connect(path, "wal")
    budget(4096)
    state = {int(r): X[i] for i, r in enumerate(rowids)}
    next_id = int(rowids.max()) + 1
    sql = f"select rowid, distance from t where emb match ? and k = {K}"
    for step in range(25):
        staged = dict(state)
        writer.execute("begin")
        for _ in range(int(rng.integers(1, 6))):
            op = rng.integers(0, 3)
            if op == 0 or len(staged) < 2 * K:
                v = rng.standard_normal(DIMS).astype(np.float32)
                writer.execute("insert into t(rowid, emb) values (?, ?)", (next_id, v.tobytes()))
                staged[next_id] = v
                next_id += 1
            elif op == 1:
                r = int(rng.choice(list(staged)))
                v = rng.standard_normal(DIMS).astype(np.float32)
                writer.execute("update t set emb = ? where rowid = ?", (v.tobytes(), r))
                staged[r] = v
            else:
                r = int(rng.choice(list(staged)))
                writer.execute("delete from t where rowid = ?", (r,))
                del staged[r]
        q = rng.standard_normal(DIMS).astype(np.float32)
        ids = np.array(sorted(staged))
        # the writer sees its own uncommitted rows, the reader does not
        check(writer, sql, (q.tobytes(),), brute(np.array([staged[i] for i in ids]), ids, q, "l2"))
        if step % 4 == 3:
            writer.execute("rollback")
        else:
            writer.execute("commit")
            state = staged
        ids = np.array(sorted(state))
        want = brute(np.array([state[i] for i in ids]), ids, q, "l2")
        check(reader, sql, (q.tobytes(),), want)
        check(writer, sql, (q.tobytes(),), want)
    assert reader.execute("insert into t(t) values ('integrity-check')") is not None
    assert cache_info()["streamed"] >= 1
    writer.close()
    reader.close()


def test_least_recently_used_table_is_dropped(tmp_path, rng, budget):
    path = str(tmp_path / "db.sqlite")
    c = connect(path, "wal")
    X = rng.standard_normal((N, DIMS)).astype(np.float32)
    for name in ("a", "b", "c"):
        c.execute(f"create virtual table {name} using vec0(emb float[16], chunk_size=32)")
        sqlite_quiver.insert_vectors(c, name, X)
    q = X[0].tobytes()

    def query(name):
        return c.execute(f"select rowid from {name} where emb match ? and k = 1", (q,)).fetchall()

    query("a")
    one = cache_info()["bytes"]
    budget(int(one * 2.5))  # room for two tables, not three
    for name in ("a", "b"):
        assert query(name) == [(1,)]
    before = cache_info()
    assert before["tables"] == 2 and before["streamed"] == 0
    query("a")  # a is now more recent than b
    assert query("c") == [(1,)]  # evicts b, the least recently used
    after = cache_info()
    assert after["tables"] == 2 and after["evictions"] - before["evictions"] == 1
    assert after["bytes"] <= int(one * 2.5)
    hits = cache_info()["hits"]
    query("a")  # still cached
    assert cache_info()["hits"] - hits == 1
    loads = cache_info()["loads"]
    query("b")  # was dropped: loaded again
    assert cache_info()["loads"] - loads == 1
    # lowering the budget drops tables at once
    budget(one + one // 4)
    assert cache_info()["tables"] <= 1
    c.close()


def test_a_table_that_grows_past_the_budget_is_streamed(tmp_path, rng, budget):
    path = str(tmp_path / "db.sqlite")
    c = connect(path, "wal")
    c.execute("create virtual table t using vec0(emb float[16], chunk_size=32)")
    X = rng.standard_normal((2 * N, DIMS)).astype(np.float32)
    sqlite_quiver.insert_vectors(c, "t", X[:32])
    sql = "select rowid, distance from t where emb match ? and k = 5"
    c.execute(sql, (X[0].tobytes(),)).fetchall()
    budget(cache_info()["bytes"] * 3)
    assert cache_info()["streamed"] == 0 and cache_info()["tables"] == 1
    c.execute("begin")
    c.executemany(
        "insert into t(rowid, emb) values (?, ?)",
        [(i + 1, X[i].tobytes()) for i in range(32, 2 * N)],
    )
    c.execute("commit")
    ids = np.arange(1, 2 * N + 1)
    q = X[100]
    got = c.execute(sql, (q.tobytes(),)).fetchall()
    want_ids, want_d = brute(X, ids, q, "l2")
    assert [r[0] for r in got] == want_ids[:5]
    np.testing.assert_allclose([r[1] for r in got], want_d[:5], rtol=1e-4, atol=1e-4)
    assert cache_info()["streamed"] == 1
    c.close()


def test_budget_from_sql_and_bad_values(budget):
    c = sqlite_quiver.connect_with_vec()
    default = c.execute("select quiver_cache_budget()").fetchone()[0]
    assert default == cache_info()["budget"] > 0
    assert c.execute("select quiver_cache_budget(123456)").fetchone()[0] == 123456
    assert json.loads(c.execute("select quiver_cache_info()").fetchone()[0])["budget"] == 123456
    assert c.execute("select quiver_cache_budget(null)").fetchone()[0] == set_cache_budget(None)
    for bad, shown in (("0", "0"), ("-5", "-5"), ("'big'", "text"), ("1.5", "1.5")):
        with pytest.raises(sqlite3.OperationalError) as e:
            c.execute(f"select quiver_cache_budget({bad})")
        assert "quiver_cache_budget" in str(e.value) and "positive integer" in str(e.value)
        assert shown in str(e.value).split("got")[-1] or "real" in str(e.value)
    for bad in (0, -1, 1.5, "1", True):
        with pytest.raises(ValueError, match="positive int"):
            set_cache_budget(bad)
    c.close()


@pytest.mark.parametrize("quantizer", ["bit", "int8"])
def test_a_streamed_table_with_a_rescore_index_is_searched_exactly(
    tmp_path, rng, budget, quantizer
):
    """Above the budget a rescore table keeps no codes: SQL and search give the exact
    answer, and the index state says why."""
    path = str(tmp_path / "db.sqlite")
    c = connect(path, "wal")
    c.execute(
        "create virtual table t using vec0("
        f"emb float[16] indexed by rescore(quantizer={quantizer}, oversample=1), "
        "chunk_size=32)"
    )
    X = rng.standard_normal((N, DIMS)).astype(np.float32)
    rowids = np.arange(1, N + 1)
    sqlite_quiver.insert_vectors(c, "t", X, ids=rowids.tolist())
    budget(64)
    clear_cache()
    sql = f"select rowid, distance from t where emb match ? and k = {K}"
    for q in rng.standard_normal((5, DIMS)).astype(np.float32):
        check(c, sql, (q.tobytes(),), brute(X, rowids, q, "l2"))
    Q = rng.standard_normal((4, DIMS)).astype(np.float32)
    ids, _ = sqlite_quiver.search(c, "t", Q, k=K)
    for i, q in enumerate(Q):
        assert ids[i].tolist() == brute(X, rowids, q, "l2")[0]
    state = json.loads(c.execute("select quiver_index_state('t')").fetchone()[0])
    assert state["kind"] == "rescore" and state["streamed"] is True
    assert state["rows_coded"] == 0 and state["quantizer"] == quantizer
    # within the budget again, the codes come back
    budget(None)
    clear_cache()
    state = json.loads(c.execute("select quiver_index_state('t')").fetchone()[0])
    assert state["streamed"] is False and state["rows_coded"] == N
    c.close()
