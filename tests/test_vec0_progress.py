"""`progress=` on the long vec0 work (issue 11 item 5): insert_vectors (stage "insert"),
train_index ("train", then "assign") and assign_index ("assign"). A callback hears
monotonic reports ending at done == total; one that raises cancels the work with its
own exception and leaves the table as it was; progress=True draws bars."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from test_vec0_ivf import clustered, cmd

import sqlite_quiver
from sqlite_quiver import vectors


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, stage, done, total):
        self.calls.append((stage, done, total))

    def stage(self, name):
        return [(d, t) for s, d, t in self.calls if s == name]


def check_stage(reports, total):
    """Monotonic, within total, thinned (about one per percent), ending at total."""
    assert reports, "no reports"
    done = [d for d, _ in reports]
    assert all(t == total for _, t in reports)
    assert done == sorted(done) and len(set(done)) == len(done)
    assert 0 < done[0] <= total and done[-1] == total
    assert len(reports) <= 102


@pytest.fixture()
def conn():
    c = sqlite_quiver.connect_with_vec()
    yield c
    c.close()


def count(conn, table):
    return conn.execute(f"select count(*) from {table}").fetchone()[0]


@pytest.mark.parametrize("n", [1, 79, 5000])
def test_insert_vectors_reports_rows_written(conn, n):
    conn.execute("create virtual table t using vec0(emb float[8], genre text)")
    X = np.random.default_rng(n).random((n, 8), dtype=np.float32)
    rec = Recorder()
    genres = ["a", "b"] * (n // 2) + ["a"] * (n % 2)
    assert sqlite_quiver.insert_vectors(conn, "t", X, genre=genres, progress=rec) == n
    assert {s for s, _, _ in rec.calls} == {"insert"}
    check_stage(rec.stage("insert"), n)
    got = conn.execute("select emb from t where rowid = ?", [n]).fetchone()[0]
    assert np.frombuffer(got, np.float32).tolist() == X[-1].tolist()


def test_a_raising_callback_cancels_the_insert_and_keeps_earlier_rows(conn):
    conn.execute("create virtual table t using vec0(emb float[8])")
    sqlite_quiver.insert_vectors(conn, "t", np.ones((10, 8)))
    conn.commit()

    class Stop(Exception):
        pass

    def stop_halfway(stage, done, total):
        if done > total // 2:
            raise Stop(f"{done}/{total}")

    with pytest.raises(Stop):
        sqlite_quiver.insert_vectors(conn, "t", np.zeros((4000, 8)), progress=stop_halfway)
    assert count(conn, "t") == 10
    conn.execute("insert into t(t) values ('integrity-check')")
    # The table takes writes afterwards, and the callback's earlier state is gone.
    sqlite_quiver.insert_vectors(conn, "t", np.zeros((3, 8)), progress=Recorder())
    assert count(conn, "t") == 13


def test_progress_argument_is_checked(conn):
    conn.execute("create virtual table t using vec0(emb float[2])")
    with pytest.raises(TypeError, match="progress must be True, False, None or a callable"):
        sqlite_quiver.insert_vectors(conn, "t", np.ones((2, 2)), progress="yes")
    assert count(conn, "t") == 0
    assert sqlite_quiver.insert_vectors(conn, "t", np.ones((2, 2)), progress=False) == 2


def test_progress_true_draws_a_bar_without_tqdm(conn, capsys, no_tqdm):
    conn.execute("create virtual table t using vec0(emb float[2])")
    sqlite_quiver.insert_vectors(conn, "t", np.ones((300, 2)), progress=True)
    assert "insert: 300/300" in capsys.readouterr().err


def ivf_table(conn, name, X, nlist=16):
    conn.execute(
        f"create virtual table {name} using vec0(emb float[{X.shape[1]}] "
        f"indexed by ivf(nlist={nlist}, nprobe=4))"
    )
    sqlite_quiver.insert_vectors(conn, name, X)


def test_train_index_reports_training_then_assignment_and_equals_the_sql_command(conn):
    X = clustered(np.random.default_rng(3), 3000, 16)
    ivf_table(conn, "t", X)
    ivf_table(conn, "twin", X)
    rec = Recorder()
    state = sqlite_quiver.train_index(conn, "t", progress=rec)
    stages = [s for s, _, _ in rec.calls]
    assert stages == sorted(stages, key=["train", "assign"].index)  # train first
    train = rec.stage("train")
    check_stage(train, train[-1][1])
    chunks = conn.execute("select count(*) from t_chunks").fetchone()[0]
    check_stage(rec.stage("assign"), chunks)
    assert state["trained"] and state["rows_unassigned"] == 0 and state["rows"] == 3000
    cmd(conn, "twin", "compute-centroids")
    twin = vectors.index_state(conn, "twin")
    assert state["list_sizes"] == twin["list_sizes"]
    q = X[:20] + 0.01
    assert (
        sqlite_quiver.search(conn, "t", q, k=5)[0].tolist()
        == sqlite_quiver.search(conn, "twin", q, k=5)[0].tolist()
    )


def test_assign_index_assigns_rows_after_centroids_set_from_outside(conn):
    X = clustered(np.random.default_rng(4), 2000, 8)
    ivf_table(conn, "t", X, nlist=8)
    for i in range(8):
        cmd(conn, "t", f"set-centroid:{i}", X[i])
    before = vectors.index_state(conn, "t")
    rec = Recorder()
    after = sqlite_quiver.assign_index(conn, "t", progress=rec)
    assert {s for s, _, _ in rec.calls} == {"assign"}
    assert before["rows_unassigned"] > 0 and after["rows_unassigned"] == 0
    assert sum(after["list_sizes"]) == 2000


@pytest.mark.parametrize("in_transaction", [False, True])
def test_a_raising_callback_leaves_the_index_as_it_was(conn, in_transaction):
    X = clustered(np.random.default_rng(5), 2000, 8)
    ivf_table(conn, "t", X, nlist=8)
    conn.commit()
    if in_transaction:
        conn.execute("begin")
        sqlite_quiver.insert_vectors(conn, "t", X[:5])

    def stop(stage, done, total):
        if stage == "assign" and done > 1:  # some lists already written
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sqlite_quiver.train_index(conn, "t", progress=stop)
    state = vectors.index_state(conn, "t")
    rows = 2005 if in_transaction else 2000
    assert not state["trained"] and state["rows_unassigned"] == rows
    assert conn.in_transaction == in_transaction
    conn.execute("insert into t(t) values ('integrity-check')")
    state = sqlite_quiver.train_index(conn, "t")
    assert state["trained"] and sum(state["list_sizes"]) == rows
    conn.commit()
    assert count(conn, "t") == rows


def test_train_index_errors_name_the_problem(conn):
    conn.execute("create virtual table plain using vec0(emb float[2])")
    with pytest.raises(sqlite3.OperationalError, match="no column with 'indexed by ivf"):
        sqlite_quiver.train_index(conn, "plain")
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        sqlite_quiver.train_index(conn, "missing")
    conn.execute("create virtual table empty using vec0(emb float[2] indexed by ivf(nlist=2))")
    with pytest.raises(sqlite3.OperationalError, match="no rows to train on"):
        sqlite_quiver.train_index(conn, "empty", progress=Recorder())
    with pytest.raises(ValueError, match="expected 'compute-centroids' or 'assign-vectors'"):
        sqlite_quiver._quiver.vec0_ivf_command(conn, "plain", "clear-centroids")
