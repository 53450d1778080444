"""`indexed by ivf(nlist=N, nprobe=M)`: a persistent IVF index (sqlite-vec 0.1.10
syntax) whose centroids and per-row lists live in shadow tables, kept exact by every
write, savepoint and rollback; filters applied before the top-k, never short."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from test_vec0_rescore import knn

import sqlite_quiver
from sqlite_quiver import vectors


def clustered(rng, n, dims, centers=64, spread=0.35):
    """Gaussian clusters around random centers (not isotropic noise)."""
    c = rng.standard_normal((centers, dims)).astype(np.float32)
    labels = rng.integers(0, centers, n)
    return (c[labels] + spread * rng.standard_normal((n, dims))).astype(np.float32)


def brute(X, ids, q, k):
    d = np.sqrt(((X.astype(np.float64) - q.astype(np.float64)) ** 2).sum(1))
    order = np.lexsort((ids, d))[:k]
    return list(np.asarray(ids)[order])


def cmd(conn, table, command, vector=None):
    if vector is None:
        conn.execute(f"insert into {table}({table}) values (?)", (command,))
    else:
        conn.execute(
            f"insert into {table}({table}, emb) values (?, ?)",
            (command, np.asarray(vector, np.float32).tobytes()),
        )


@pytest.fixture()
def conn():
    c = sqlite_quiver.connect_with_vec(isolation_level=None)
    yield c
    c.close()


def make(conn, X, decl="emb float[{d}] indexed by ivf(nlist=32, nprobe=8)", extra=""):
    d = X.shape[1]
    conn.execute(f"create virtual table t using vec0({decl.format(d=d)}{extra})")
    sqlite_quiver.insert_vectors(conn, "t", X, ids=list(range(1, len(X) + 1)))


# --- syntax and errors --------------------------------------------------------------


@pytest.mark.parametrize(
    "decl",
    [
        "emb float[8] indexed by ivf()",
        "emb float[8] indexed by ivf(nlist=4)",
        "emb float[8] indexed by ivf(nlist=16, nprobe=16)",
        "emb float[8] indexed by ivf(nlist=16, nprobe=2, quantizer=none, oversample=1)",
        "emb float[8] distance_metric=cosine INDEXED BY ivf(nlist=8, nprobe=2)",
        "emb float[8] indexed by ivf(nlist=16, quantizer=int8)",
        "emb float[8] indexed by ivf(nlist=16, nprobe=16, quantizer=int8, oversample=4)",
        "emb float[16] distance_metric=cosine indexed by ivf(quantizer=binary, oversample=8)",
    ],
)
def test_declarations_accepted(conn, decl):
    conn.execute(f"create virtual table t using vec0({decl})")
    state = vectors.index_state(conn, "t")
    assert state["kind"] == "ivf"
    assert state["trained"] is False
    names = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
    assert {"t_ivf_centroids00", "t_ivf_assign00"} <= names


def test_declared_defaults(conn):
    conn.execute("create virtual table t using vec0(emb float[8] indexed by ivf())")
    s = vectors.index_state(conn, "t")
    assert (s["nlist"], s["nprobe"]) == (128, 10)
    conn.execute("create virtual table u using vec0(emb float[8] indexed by ivf(nlist=4))")
    s = vectors.index_state(conn, "u")
    assert (s["nlist"], s["nprobe"]) == (4, 4)


@pytest.mark.parametrize(
    "decl, needle",
    [
        ("emb float[8] indexed by ivf(nlist=0)", "nlist must be"),
        ("emb float[8] indexed by ivf(nlist=4, nprobe=5)", "must not exceed nlist"),
        ("emb float[8] indexed by ivf(nprobe=0)", "nprobe must be"),
        ("emb float[8] indexed by ivf(quantizer=pq)", "unknown quantizer"),
        ("emb float[12] indexed by ivf(quantizer=binary)", "multiple of 8 dimensions, got 12"),
        ("emb float[8] indexed by ivf(quantizer=int4)", "expected none, int8 or binary"),
        ("emb float[8] indexed by ivf(quantizer=int8, oversample=0)", "oversample must be"),
        ("emb float[8] indexed by ivf(nlist=4, bogus=1)", "unknown option"),
        ("emb int8[8] indexed by ivf(nlist=4)", "float32"),
        ("emb bit[8] indexed by ivf(nlist=4)", "float32"),
        ("emb float[8] indexed by diskann(neighbor_quantizer=binary)", "indexed by ivf"),
    ],
)
def test_bad_declarations(conn, decl, needle):
    with pytest.raises(sqlite3.OperationalError, match=needle):
        conn.execute(f"create virtual table t using vec0({decl})")


def test_bad_commands(conn):
    conn.execute("create virtual table t using vec0(emb float[4] indexed by ivf(nlist=4))")
    with pytest.raises(sqlite3.OperationalError, match="no rows to train on"):
        cmd(conn, "t", "compute-centroids")
    with pytest.raises(sqlite3.OperationalError, match="no centroids"):
        cmd(conn, "t", "assign-vectors")
    with pytest.raises(sqlite3.OperationalError, match="nprobe must be >= 1"):
        cmd(conn, "t", "nprobe=0")
    with pytest.raises(sqlite3.OperationalError, match="nprobe must be >= 1"):
        cmd(conn, "t", "nprobe=x")
    with pytest.raises(sqlite3.OperationalError, match="must not exceed nlist"):
        cmd(conn, "t", "nprobe=5")
    with pytest.raises(sqlite3.OperationalError, match="list number from 0 to 3"):
        cmd(conn, "t", "set-centroid:4", [0, 0, 0, 0])
    with pytest.raises(sqlite3.OperationalError, match="list number"):
        cmd(conn, "t", "set-centroid:x", [0, 0, 0, 0])
    with pytest.raises(sqlite3.OperationalError, match="requires vector"):
        cmd(conn, "t", "set-centroid:1")
    with pytest.raises(sqlite3.OperationalError, match="unknown command"):
        cmd(conn, "t", "compute-centroids-now")
    conn.execute("create virtual table plain using vec0(emb float[4])")
    for c in ("nprobe=2", "compute-centroids", "clear-centroids", "assign-vectors"):
        with pytest.raises(sqlite3.OperationalError, match="ivf"):
            cmd(conn, "plain", c)
    with pytest.raises(ValueError, match="nprobe"):
        sqlite_quiver.search(conn, "t", np.zeros((1, 4)), k=1, nprobe=0)


# --- search -------------------------------------------------------------------------


def test_untrained_is_exact(conn):
    rng = np.random.default_rng(1)
    X = clustered(rng, 600, 8)
    make(conn, X, "emb float[{d}] indexed by ivf(nlist=16, nprobe=1)")
    s = vectors.index_state(conn, "t")
    assert s["trained"] is False and s["rows_unassigned"] == 600
    ids = np.arange(1, 601)
    for q in rng.standard_normal((10, 8)).astype(np.float32):
        assert [r[0] for r in knn(conn, "t", q, 10)] == brute(X, ids, q, 10)
        got = sqlite_quiver.search(conn, "t", q[None], k=10)[0][0].tolist()
        assert got == brute(X, ids, q, 10)


@pytest.fixture(scope="module")
def trained_5000():
    rng = np.random.default_rng(7)
    X = clustered(rng, 5000, 32, centers=40)
    Q = X[rng.choice(len(X), 100, replace=False)] + 0.2 * rng.standard_normal((100, 32)).astype(
        np.float32
    )
    return X, Q.astype(np.float32)


def test_recall_floor_and_exact_at_full_probe(conn, trained_5000):
    X, Q = trained_5000
    make(conn, X)
    cmd(conn, "t", "compute-centroids")
    s = vectors.index_state(conn, "t")
    assert s["trained"] is True and s["centroids"] == 32 and s["rows_unassigned"] == 0
    assert sum(s["list_sizes"]) == 5000 and s["list_size_max"] < 5000
    assert s["memory_bytes"] > 0
    ids = np.arange(1, 5001)
    truth = [brute(X, ids, q, 10) for q in Q]
    got = [[r[0] for r in knn(conn, "t", q, 10)] for q in Q]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth)])
    assert recall >= 0.9, recall
    # Batched search with the same setting, and per call nprobe.
    bids = sqlite_quiver.search(conn, "t", Q, k=10)[0]
    assert [list(r) for r in bids] == got
    one = sqlite_quiver.search(conn, "t", Q, k=10, nprobe=1)[0]
    r1 = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(one, truth)])
    assert r1 <= recall
    full = sqlite_quiver.search(conn, "t", Q, k=10, nprobe=32)[0]
    assert [list(r) for r in full] == truth
    cmd(conn, "t", "nprobe=32")
    assert [[r[0] for r in knn(conn, "t", q, 10)] for q in Q] == truth
    cmd(conn, "t", "nprobe=1")
    assert [[r[0] for r in knn(conn, "t", q, 10)] for q in Q] == [list(r) for r in one]


@pytest.mark.parametrize("quantizer", ["", ", quantizer=int8, oversample=4"])
def test_batched_search_equals_one_query_at_a_time(conn, trained_5000, quantizer):
    # Batched unfiltered queries are searched together, grouped by list (in blocks of
    # 2,048 queries): ids and distances must be what each query gets alone in SQL,
    # including queries whose probed lists hold fewer than k rows (they probe more).
    X, Q = trained_5000
    make(conn, X, "emb float[{d}] indexed by ivf(nlist=32, nprobe=3" + quantizer + ")")
    cmd(conn, "t", "compute-centroids")
    rng = np.random.default_rng(11)
    many = (X[rng.choice(len(X), 2100)] + 0.3 * rng.standard_normal((2100, 32))).astype(np.float32)
    for k, nprobe in ((10, 3), (400, 1)):
        cmd(conn, "t", f"nprobe={nprobe}")
        ids, dists = sqlite_quiver.search(conn, "t", many, k=k, nprobe=nprobe)
        picks = list(range(0, 2100, 97)) + [2047, 2048, 2099]
        for i in picks:
            rows = knn(conn, "t", many[i], k)
            assert list(ids[i]) == [r[0] for r in rows], (k, i)
            np.testing.assert_allclose(dists[i], [r[1] for r in rows], rtol=1e-6, atol=1e-6)
        assert (ids[:, -1] > 0).all()  # never short: every query found k rows


@pytest.mark.parametrize("quantizer", ["", ", quantizer=int8", ", quantizer=binary, oversample=4"])
def test_filters_never_short(conn, trained_5000, quantizer):
    X, Q = trained_5000
    n = len(X)
    rng = np.random.default_rng(3)
    tag = np.ones(n, dtype=np.int64)
    tag[rng.choice(n, 50, replace=False)] = 0  # 1%
    part = rng.integers(0, 20, n)
    conn.execute(
        "create virtual table t using vec0(p integer partition key, "
        f"emb float[32] indexed by ivf(nlist=32, nprobe=1{quantizer}), tag integer)"
    )
    sqlite_quiver.insert_vectors(
        conn, "t", X, ids=list(range(1, n + 1)), p=part.tolist(), tag=tag.tolist()
    )
    cmd(conn, "t", "compute-centroids")
    ids = np.arange(1, n + 1)
    tagged = tag == 0
    for q in Q[:20]:
        rows = knn(conn, "t", q, 10, "and tag = 0")
        # 1% pass: reaching an unfiltered query's candidate count would take most of
        # the table, so the query is answered by the exact scan.
        assert [r[0] for r in rows] == brute(X[tagged], ids[tagged], q, 10)
        rows = knn(conn, "t", q, 60, "and tag = 0")
        assert sorted(r[0] for r in rows) == sorted(ids[tag == 0].tolist())
        rows = knn(conn, "t", q, 10, "and p = 3")
        assert len(rows) == 10 and all(part[r[0] - 1] == 3 for r in rows)
        rows = knn(conn, "t", q, 10, "and rowid in (1, 2, 3)")
        assert sorted(r[0] for r in rows) == [1, 2, 3]
        got = sqlite_quiver.search(conn, "t", q[None], k=10, tag=0)[0][0]
        assert len(got) == 10 and all(tag[i - 1] == 0 for i in got)
    # Half the rows pass: the lists are probed, scoring as many passing rows as an
    # unfiltered query scores rows, so recall stays near the unfiltered one.
    half = part < 10
    cmd(conn, "t", "nprobe=4")
    got = [[r[0] for r in knn(conn, "t", q, 10, "and p < 10")] for q in Q]
    want = [brute(X[half], ids[half], q, 10) for q in Q]
    plain = [[r[0] for r in knn(conn, "t", q, 10)] for q in Q]
    truth = [brute(X, ids, q, 10) for q in Q]
    rec = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, want)])
    rec_plain = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(plain, truth)])
    assert rec >= rec_plain - 0.05, (rec, rec_plain)
    cmd(conn, "t", "nprobe=1")
    # Distance bounds are applied before the top-k too.
    q = Q[0]
    first = knn(conn, "t", q, 10, "and tag = 0")
    bound = first[-1][1]
    after = knn(conn, "t", q, 10, "and tag = 0 and distance > ?", (bound,))
    d = np.sqrt(((X.astype(np.float64) - q) ** 2).sum(1))
    beyond = int(((d > bound * (1 + 1e-6)) & (tag == 0)).sum())
    assert len(after) == min(10, beyond) and after[0][1] > bound


@pytest.mark.parametrize(
    "metric, quantizer, oversample, floor",
    [
        ("l2", "int8", 4, 0.9),
        ("cosine", "int8", 2, 0.9),
        ("l2", "binary", 16, 0.8),
        ("cosine", "binary", 16, 0.8),
    ],
)
def test_quantized_lists(conn, trained_5000, metric, quantizer, oversample, floor):
    """Lists of codes: recall near the float lists' at the same nprobe, exact distances
    in exact order (the shortlist is rescored from the float vectors), the exact scan's
    answer when the shortlist covers every probed row, and state that tells."""
    X, Q = trained_5000
    make(
        conn,
        X,
        f"emb float[{{d}}] distance_metric={metric} "
        f"indexed by ivf(nlist=32, nprobe=8, quantizer={quantizer}, oversample={oversample})",
    )
    conn.execute(
        "create virtual table f using vec0(emb float[32] "
        f"distance_metric={metric} indexed by ivf(nlist=32, nprobe=8))"
    )
    sqlite_quiver.insert_vectors(conn, "f", X, ids=list(range(1, len(X) + 1)))
    cmd(conn, "t", "compute-centroids")
    cmd(conn, "f", "compute-centroids")
    s = vectors.index_state(conn, "t")
    assert (s["quantizer"], s["oversample"]) == (
        {"binary": "bit"}.get(quantizer, quantizer),
        oversample,
    )
    assert s["code_bytes_per_row"] == (32 if quantizer == "int8" else 4)
    assert s["lists_packed"] is False and sum(s["list_sizes"]) == len(X)
    assert vectors.index_state(conn, "f")["code_bytes_per_row"] == 0
    ids = np.arange(1, len(X) + 1)
    if metric == "cosine":
        Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
        truth = [
            list(np.argsort(1 - Xn @ (q / np.linalg.norm(q)), kind="stable")[:10] + 1) for q in Q
        ]
    else:
        truth = [brute(X, ids, q, 10) for q in Q]
    rows = [knn(conn, "t", q, 10) for q in Q]
    got = [[r[0] for r in rs] for rs in rows]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth)])
    floats = [[r[0] for r in knn(conn, "f", q, 10)] for q in Q]
    float_recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(floats, truth)])
    assert recall >= floor and recall >= float_recall - 0.1, (recall, float_recall)
    # Distances are exact (the rescoring's), in order.
    for q, rs in zip(Q[:10], rows):
        exact = {
            rowid: dist
            for rowid, dist in conn.execute(
                "select rowid, distance from f where emb match ? and k = 5000", (q.tobytes(),)
            )
        }
        assert [d for _, d in rs] == sorted(d for _, d in rs)
        assert all(abs(d - exact[r]) <= 1e-5 * max(1.0, abs(exact[r])) for r, d in rs)
    # Batched search agrees, per-call oversample works, and a shortlist covering every
    # row with every list probed is the exact answer.
    assert [list(r) for r in sqlite_quiver.search(conn, "t", Q, k=10)[0]] == got
    full = sqlite_quiver.search(conn, "t", Q, k=10, nprobe=32, oversample=500)[0]
    assert [list(r) for r in full] == truth
    cmd(conn, "t", "nprobe=32")
    cmd(conn, "t", "oversample=500")
    assert [[r[0] for r in knn(conn, "t", q, 10)] for q in Q] == truth
    cmd(conn, "t", "oversample=1")
    one = [[r[0] for r in knn(conn, "t", q, 10)] for q in Q]
    assert all(len(r) == 10 for r in one)
    with pytest.raises(sqlite3.OperationalError, match="oversample=N' needs a column"):
        cmd(conn, "f", "oversample=4")


def test_cosine(conn):
    rng = np.random.default_rng(11)
    X = clustered(rng, 2000, 16, centers=20)
    make(conn, X, "emb float[{d}] distance_metric=cosine indexed by ivf(nlist=16, nprobe=16)")
    cmd(conn, "t", "compute-centroids")
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    for q in rng.standard_normal((10, 16)).astype(np.float32):
        d = 1 - Xn @ (q / np.linalg.norm(q))
        truth = list(np.argsort(d, kind="stable")[:10] + 1)
        assert [r[0] for r in knn(conn, "t", q, 10)] == truth


# --- commands -----------------------------------------------------------------------


def test_clear_set_assign(conn):
    rng = np.random.default_rng(5)
    X = clustered(rng, 400, 4, centers=4, spread=0.1)
    make(conn, X, "emb float[{d}] indexed by ivf(nlist=4, nprobe=1)")
    cmd(conn, "t", "compute-centroids")
    assert vectors.index_state(conn, "t")["trained"] is True
    cmd(conn, "t", "clear-centroids")
    s = vectors.index_state(conn, "t")
    assert s["trained"] is False and s["rows_unassigned"] == 400
    assert conn.execute("select count(*) from t_ivf_assign00").fetchone()[0] == 0
    # Centroids from outside, then assign-vectors.
    cents = np.array([X[i] for i in range(4)], np.float32)
    for i, c in enumerate(cents):
        cmd(conn, "t", f"set-centroid:{i}", c)
    s = vectors.index_state(conn, "t")
    assert s["trained"] is True and s["centroids"] == 4 and s["rows_unassigned"] == 400
    cmd(conn, "t", "assign-vectors")
    s = vectors.index_state(conn, "t")
    assert s["rows_unassigned"] == 0
    d = ((X[:, None, :] - cents[None]) ** 2).sum(-1)
    assert sorted(s["list_sizes"]) == sorted(np.bincount(d.argmin(1), minlength=4).tolist())
    # set-centroid also takes JSON text.
    conn.execute("insert into t(t, emb) values ('set-centroid:0', '[1, 2, 3, 4]')")
    blob = conn.execute("select centroid from t_ivf_centroids00 where list_id = 0").fetchone()
    assert np.frombuffer(blob[0], np.float32).tolist() == [1, 2, 3, 4]


def test_rows_inserted_after_training_are_assigned(conn):
    rng = np.random.default_rng(8)
    X = clustered(rng, 500, 8)
    make(conn, X, "emb float[{d}] indexed by ivf(nlist=8, nprobe=2)")
    cmd(conn, "t", "compute-centroids")
    Y = clustered(rng, 100, 8)
    for i, y in enumerate(Y):
        conn.execute("insert into t(rowid, emb) values (?, ?)", (1000 + i, y.tobytes()))
    sqlite_quiver.insert_vectors(conn, "t", Y, ids=list(range(2000, 2100)))
    s = vectors.index_state(conn, "t")
    assert s["rows"] == 700 and s["rows_unassigned"] == 0
    check_assignment(conn, "t")


def test_training_rolls_back(conn):
    rng = np.random.default_rng(9)
    X = clustered(rng, 300, 8)
    make(conn, X, "emb float[{d}] indexed by ivf(nlist=8, nprobe=1)")
    conn.execute("begin")
    cmd(conn, "t", "compute-centroids")
    assert vectors.index_state(conn, "t")["trained"] is True
    conn.execute("rollback")
    s = vectors.index_state(conn, "t")
    assert s["trained"] is False and s["rows_unassigned"] == 300
    conn.execute("savepoint a")
    cmd(conn, "t", "compute-centroids")
    conn.execute("rollback to a")
    conn.execute("release a")
    assert vectors.index_state(conn, "t")["trained"] is False


def test_survives_reopen_and_vacuum(tmp_path, trained_5000):
    X, Q = trained_5000
    path = str(tmp_path / "ivf.db")
    c = sqlite_quiver.connect_with_vec(path, isolation_level=None)
    make(c, X[:2000], "emb float[{d}] indexed by ivf(nlist=16, nprobe=2)")
    cmd(c, "t", "compute-centroids")
    before = [[r[0] for r in knn(c, "t", q, 10)] for q in Q[:20]]
    state = vectors.index_state(c, "t")
    c.close()
    vectors.clear_cache()
    c = sqlite_quiver.connect_with_vec(path, isolation_level=None)
    s = vectors.index_state(c, "t")
    assert s["trained"] is True and s["list_sizes"] == state["list_sizes"]
    assert [[r[0] for r in knn(c, "t", q, 10)] for q in Q[:20]] == before
    c.execute("vacuum")
    assert vectors.index_state(c, "t")["list_sizes"] == state["list_sizes"]
    assert [[r[0] for r in knn(c, "t", q, 10)] for q in Q[:20]] == before
    c.execute("insert into t(t) values ('integrity-check')")
    c.execute("alter table t rename to u")
    assert vectors.index_state(c, "u")["trained"] is True
    assert [[r[0] for r in knn(c, "u", q, 10)] for q in Q[:20]] == before
    c.execute("drop table u")
    left = c.execute("select count(*) from sqlite_master where name like 'u_%'").fetchone()
    assert left[0] == 0
    c.close()


# --- every write path keeps the index exact -----------------------------------------


def check_assignment(conn, table):
    """Every row's stored list is its nearest centroid (within float rounding), or none
    (an unassigned row)."""
    conn.execute(f"select count(*) from {table}").fetchone()  # writes buffered inserts
    cents = dict(conn.execute(f"select list_id, centroid from {table}_ivf_centroids00"))
    if not cents:
        return
    lids = sorted(cents)
    C = np.stack([np.frombuffer(cents[i], np.float32) for i in lids]).astype(np.float64)
    cs = conn.execute(f"select value from {table}_info where key = 'chunk_size'").fetchone()[0]
    blobs = dict(conn.execute(f"select chunk_id, lists from {table}_ivf_assign00"))
    for rowid, slot, emb in conn.execute(
        f"select r.rowid, r.slot, t.emb from {table}_rows r join {table} t on t.rowid = r.rowid"
    ):
        chunk, off = slot // cs + 1, slot % cs
        if chunk not in blobs:
            continue  # every slot of the chunk unassigned
        lst = int(np.frombuffer(blobs[chunk], np.uint32)[off])
        if lst == 0xFFFFFFFF:
            continue
        assert lst in cents, (rowid, lst)
        x = np.frombuffer(emb, np.float32).astype(np.float64)
        d = ((C - x) ** 2).sum(1)
        assert d[lids.index(lst)] <= d.min() * (1 + 1e-4) + 1e-6, (rowid, lst)


# Quantized lists hold codes; an oversample whose shortlist covers every row makes
# their answer at nprobe = nlist the exact one.
QUANTIZERS = ["", ", quantizer=int8, oversample=64", ", quantizer=binary, oversample=64"]


@pytest.mark.parametrize("quantizer", QUANTIZERS)
def test_random_writes_model(conn, quantizer):
    rng = np.random.default_rng(2024)
    dims, nlist = 8, 8
    conn.execute(
        "create virtual table t using vec0(emb float[8] "
        f"indexed by ivf(nlist=8, nprobe=2{quantizer}), chunk_size=16)"
    )
    model = {}
    X0 = clustered(rng, 200, dims, centers=8)
    sqlite_quiver.insert_vectors(conn, "t", X0, ids=list(range(1, 201)))
    model.update({i + 1: X0[i] for i in range(200)})
    cmd(conn, "t", "compute-centroids")
    next_id = 1000

    def new_vec():
        return clustered(rng, 1, dims, centers=8)[0]

    def step(model):
        nonlocal next_id
        op = rng.integers(0, 6)
        live = sorted(model)
        if op == 0 or not live:
            v = new_vec()
            conn.execute("insert into t(rowid, emb) values (?, ?)", (next_id, v.tobytes()))
            model[next_id] = v
            next_id += 1
        elif op == 1:
            r = int(rng.choice(live))
            v = new_vec()
            conn.execute("insert or replace into t(rowid, emb) values (?, ?)", (r, v.tobytes()))
            model[r] = v
        elif op == 2:
            r = int(rng.choice(live))
            v = new_vec()
            conn.execute("update t set emb = ? where rowid = ?", (v.tobytes(), r))
            model[r] = v
        elif op == 3:
            r = int(rng.choice(live))
            conn.execute("delete from t where rowid = ?", (r,))
            del model[r]
        elif op == 4:
            vs = clustered(rng, 20, dims, centers=8)
            rows = list(range(next_id, next_id + 20))
            sqlite_quiver.insert_vectors(conn, "t", vs, ids=rows)
            model.update(dict(zip(rows, vs)))
            next_id += 20
        else:
            r = int(rng.choice(live))
            new = next_id
            next_id += 1
            conn.execute("update t set rowid = ? where rowid = ?", (new, r))
            model[new] = model.pop(r)

    def verify(model):
        ids = np.array(sorted(model))
        X = np.stack([model[i] for i in ids]) if len(ids) else np.zeros((0, dims), np.float32)
        cmd(conn, "t", f"nprobe={nlist}")
        for q in rng.standard_normal((3, dims)).astype(np.float32):
            got = [r[0] for r in knn(conn, "t", q, 10)]
            assert got == (brute(X, ids, q, 10) if len(ids) else [])
        cmd(conn, "t", "nprobe=1")
        for q in rng.standard_normal((2, dims)).astype(np.float32):
            assert len(knn(conn, "t", q, 10)) == min(10, len(ids))
        s = vectors.index_state(conn, "t")
        assert s["rows"] == len(ids) and s["rows_unassigned"] == 0
        # The lists (kept up to date write by write, not rebuilt) hold every live row once.
        assert sum(s["list_sizes"]) == len(ids)
        check_assignment(conn, "t")

    for round_ in range(12):
        kind = round_ % 3
        if kind == 0:
            # Committed writes (autocommit).
            for _ in range(8):
                step(model)
            verify(model)
        elif kind == 1:
            # A rolled-back transaction leaves the index as it was.
            conn.execute("begin")
            scratch = dict(model)
            for _ in range(8):
                step(scratch)
            verify(scratch)
            conn.execute("rollback")
            verify(model)
        else:
            # Savepoints: keep the first part, roll back the second.
            conn.execute("begin")
            for _ in range(4):
                step(model)
            conn.execute("savepoint s")
            scratch = dict(model)
            for _ in range(6):
                step(scratch)
            verify(scratch)
            conn.execute("rollback to s")
            conn.execute("release s")
            verify(model)
            conn.execute("commit")
            verify(model)
    # Retraining after all of it still answers exactly at nprobe = nlist.
    cmd(conn, "t", "compute-centroids")
    verify(model)


def test_writes_follow_centroids_across_rollback(conn):
    """Writes assign rows by the centroids of the state they write into, also when a
    rolled-back command had changed them (centroids are kept per version)."""
    rng = np.random.default_rng(12)
    X = clustered(rng, 300, 4, centers=4, spread=0.1)
    make(conn, X, "emb float[{d}] indexed by ivf(nlist=4, nprobe=1)")
    cmd(conn, "t", "compute-centroids")
    conn.execute("begin")
    cmd(conn, "t", "clear-centroids")
    for i in range(4):
        cmd(conn, "t", f"set-centroid:{i}", rng.standard_normal(4) * 10)
    for i, y in enumerate(clustered(rng, 20, 4, centers=4)):
        conn.execute("insert into t(rowid, emb) values (?, ?)", (500 + i, y.tobytes()))
    check_assignment(conn, "t")
    conn.execute("rollback")
    for i, y in enumerate(clustered(rng, 20, 4, centers=4)):
        conn.execute("insert into t(rowid, emb) values (?, ?)", (600 + i, y.tobytes()))
    conn.execute("update t set emb = ? where rowid = 1", (np.ones(4, np.float32).tobytes(),))
    check_assignment(conn, "t")
    assert vectors.index_state(conn, "t")["rows_unassigned"] == 0


def test_first_query_same_as_later_and_streamed_is_exact(conn, trained_5000):
    X, Q = trained_5000
    make(conn, X[:3000], "emb float[{d}] indexed by ivf(nlist=32, nprobe=1)")
    cmd(conn, "t", "compute-centroids")
    ids = np.arange(1, 3001)
    vectors.clear_cache()
    first = [r[0] for r in knn(conn, "t", Q[0], 10)]  # this query loads the table
    assert first == [r[0] for r in knn(conn, "t", Q[0], 10)]
    # Above the cache budget the table is streamed and scanned exactly.
    try:
        vectors.set_cache_budget(1)
        assert vectors.index_state(conn, "t")["streamed"] is True
        for q in Q[:5]:
            assert [r[0] for r in knn(conn, "t", q, 10)] == brute(X[:3000], ids, q, 10)
        conn.execute("insert into t(rowid, emb) values (9999, ?)", (Q[0].tobytes(),))
        assert knn(conn, "t", Q[0], 1)[0][0] == 9999
    finally:
        vectors.set_cache_budget(None)
        vectors.clear_cache()  # a streamed entry stays streamed until reloaded
    s = vectors.index_state(conn, "t")
    assert s["streamed"] is False and s["rows_unassigned"] == 0
    check_assignment(conn, "t")


def test_lists_unpacked_when_the_copies_would_not_fit(conn, trained_5000):
    """The lists keep packed copies of their vectors only when the table's floats
    take at most half the cache budget; otherwise probes read the table by slot.
    Both give the exact scan's answer at nprobe = nlist, through writes."""
    X, Q = trained_5000
    X = X[:3000]
    make(conn, X, "emb float[{d}] indexed by ivf(nlist=32, nprobe=32)")
    cmd(conn, "t", "compute-centroids")
    model = dict(zip(range(1, 3001), X))
    vectors.clear_cache()
    knn(conn, "t", Q[0], 10)
    assert vectors.index_state(conn, "t")["lists_packed"] is True
    try:
        vectors.set_cache_budget(int(X.nbytes * 1.5))
        vectors.clear_cache()
        for packed in (False, True):
            if packed:
                vectors.set_cache_budget(None)
                vectors.clear_cache()
            knn(conn, "t", Q[0], 10)
            s = vectors.index_state(conn, "t")
            assert s["streamed"] is False and s["lists_packed"] is packed
            for i, q in enumerate(Q[:4]):
                conn.execute("delete from t where rowid = ?", (int(i * 7 + 1 + packed),))
                model.pop(i * 7 + 1 + packed)
                conn.execute(
                    "update t set emb = ? where rowid = ?", (q.tobytes(), int(i * 7 + 3 + packed))
                )
                model[i * 7 + 3 + packed] = q
                ids = np.array(sorted(model))
                want = brute(np.stack([model[r] for r in ids]), ids, q, 10)
                assert [r[0] for r in knn(conn, "t", q, 10)] == want
            assert sum(vectors.index_state(conn, "t")["list_sizes"]) == len(model)
    finally:
        vectors.set_cache_budget(None)
