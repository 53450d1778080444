"""vec0 SQL writes inside transactions on database files: INSERTs are buffered per chunk
in memory (see rust/quiver-sqlite/src/vec0/pending.rs) and must behave exactly as if
written at once: reads in the same transaction see them, ROLLBACK / savepoints / failed
statements undo exactly, other connections see them only after COMMIT."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

import sqlite_quiver

DIMS = 8
KNN = "select rowid, distance from t where emb match ? and k = ?"


def open_db(path, journal="delete", create=True) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=10, isolation_level=None)
    sqlite_quiver.load(conn)
    conn.execute(f"pragma journal_mode={journal}")
    if create:
        conn.execute(f"create virtual table t using vec0(emb float[{DIMS}], chunk_size=16)")
    return conn


def vectors(n, seed):
    return np.random.default_rng(seed).standard_normal((n, DIMS)).astype(np.float32)


def insert(conn, X, start):
    conn.executemany(
        "insert into t(rowid, emb) values (?, ?)",
        [(start + i, X[i].tobytes()) for i in range(len(X))],
    )


def assert_table(conn, rows: dict[int, np.ndarray]):
    """Count, point lookups and KNN (k = all rows and k = 3) equal brute force over `rows`."""
    assert conn.execute("select count(*) from t").fetchone()[0] == len(rows)
    ids = np.array(sorted(rows), dtype=np.int64)
    for r in ids[:: max(1, len(ids) // 7)]:
        blob = conn.execute("select emb from t where rowid = ?", (int(r),)).fetchone()[0]
        np.testing.assert_array_equal(np.frombuffer(blob, np.float32), rows[int(r)])
    if len(ids) == 0:
        return
    X = np.stack([rows[int(r)] for r in ids]).astype(np.float64)
    q = np.random.default_rng(99).standard_normal(DIMS).astype(np.float32)
    d = np.sqrt(((X - q.astype(np.float64)) ** 2).sum(1))
    order = np.lexsort((ids, d))
    for k in (3, len(ids)):
        got = conn.execute(KNN, (q.tobytes(), k)).fetchall()
        assert [g[0] for g in got] == ids[order[:k]].tolist()
        np.testing.assert_allclose([g[1] for g in got], d[order[:k]], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_rollback_and_savepoints_are_exact(tmp_path, journal):
    conn = open_db(tmp_path / "a.db", journal)
    A, B, C = vectors(21, 1), vectors(37, 2), vectors(5, 3)
    state = {}
    conn.execute("begin")
    insert(conn, A, 1)
    state.update({1 + i: A[i] for i in range(len(A))})
    conn.execute("savepoint s")
    insert(conn, B, 100)
    assert_table(conn, {**state, **{100 + i: B[i] for i in range(len(B))}})
    insert(conn, C, 200)  # buffered again after the reads above
    conn.execute("rollback to s")
    assert_table(conn, state)
    insert(conn, C, 300)
    state.update({300 + i: C[i] for i in range(len(C))})
    conn.execute("release s")
    conn.execute("commit")
    assert_table(conn, state)
    conn.execute("begin")
    insert(conn, B, 400)
    conn.execute("delete from t where rowid = 3")
    conn.execute("rollback")
    assert_table(conn, state)
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert_table(open_db(tmp_path / "a.db", journal, create=False), state)


def test_rollback_of_buffered_rows_before_any_read(tmp_path):
    conn = open_db(tmp_path / "a.db")
    insert(conn, vectors(3, 1), 1)
    conn.execute("begin")
    insert(conn, vectors(10, 2), 10)  # fewer than a chunk: nothing written yet
    conn.execute("rollback")
    X = vectors(3, 1)
    assert_table(conn, {1 + i: X[i] for i in range(3)})
    # automatic rowids continue after the rolled-back ones are gone
    conn.execute("insert into t(emb) values (?)", (X[0].tobytes(),))
    assert conn.execute("select max(rowid) from t").fetchone()[0] == 4


def test_failed_statement_undoes_only_its_rows(tmp_path):
    conn = open_db(tmp_path / "a.db")
    conn.execute("create table src(id integer primary key, v blob)")
    X = vectors(40, 1)
    conn.executemany("insert into src values (?, ?)", [(i + 1, X[i].tobytes()) for i in range(40)])
    conn.execute("insert into src values (41, x'00')")  # a bad vector, read last
    conn.execute("begin")
    insert(conn, X[:5], 1000)
    with pytest.raises(sqlite3.OperationalError, match="emb"):
        conn.execute("insert into t(rowid, emb) select id, v from src order by id")
    conn.execute("commit")
    assert_table(conn, {1000 + i: X[i] for i in range(5)})
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"


def test_keys_of_buffered_rows(tmp_path):
    conn = open_db(tmp_path / "a.db")
    X = vectors(6, 1)
    conn.execute("begin")
    insert(conn, X[:3], 1)
    with pytest.raises(sqlite3.OperationalError, match="UNIQUE constraint failed"):
        conn.execute("insert into t(rowid, emb) values (2, ?)", (X[4].tobytes(),))
    conn.execute("insert or ignore into t(rowid, emb) values (2, ?)", (X[4].tobytes(),))
    conn.execute("insert or replace into t(rowid, emb) values (3, ?)", (X[5].tobytes(),))
    conn.execute("insert into t(emb) values (?)", (X[3].tobytes(),))  # automatic rowid
    conn.execute("commit")
    assert_table(conn, {1: X[0], 2: X[1], 3: X[5], 4: X[3]})


def test_text_keys_of_buffered_rows(tmp_path):
    conn = open_db(tmp_path / "a.db", create=False)
    conn.execute(f"create virtual table t using vec0(id text primary key, emb float[{DIMS}])")
    X = vectors(3, 1)
    conn.execute("begin")
    conn.execute("insert into t(id, emb) values ('a', ?)", (X[0].tobytes(),))
    with pytest.raises(sqlite3.OperationalError, match="UNIQUE constraint failed"):
        conn.execute("insert into t(id, emb) values ('a', ?)", (X[1].tobytes(),))
    conn.execute("insert or replace into t(id, emb) values ('a', ?)", (X[2].tobytes(),))
    conn.execute("commit")
    rows = conn.execute("select id, emb from t").fetchall()
    assert [(r[0], np.frombuffer(r[1], np.float32).tolist()) for r in rows] == [
        ("a", X[2].tolist())
    ]


def test_python_api_sees_buffered_rows(tmp_path):
    conn = open_db(tmp_path / "a.db")
    X = vectors(5, 1)
    conn.execute("begin")
    insert(conn, X, 1)
    ids, _ = sqlite_quiver.search(conn, "t", X[2:3], 1)
    assert ids.tolist() == [[3]]
    with pytest.raises(Exception, match="UNIQUE"):
        sqlite_quiver.insert_vectors(conn, "t", X[:1], ids=[4])
    sqlite_quiver.insert_vectors(conn, "t", X[:1], ids=[6])
    insert(conn, X[1:2], 7)
    conn.execute("commit")
    assert_table(conn, {**{1 + i: X[i] for i in range(5)}, 6: X[0], 7: X[1]})


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_two_connections_interleave_writes_and_reads(tmp_path, journal):
    path = tmp_path / "a.db"
    a = open_db(path, journal)
    b = open_db(path, journal, create=False)
    state: dict[int, np.ndarray] = {}
    for step in range(4):
        writer, reader = (a, b) if step % 2 == 0 else (b, a)
        X = vectors(23, 10 + step)
        start = 1 + 100 * step
        reader_before = dict(state)
        writer.execute("begin")
        insert(writer, X, start)
        writer.execute("delete from t where rowid = ?", (start + 1,))
        pending = {**state, **{start + i: X[i] for i in range(len(X)) if i != 1}}
        assert_table(writer, pending)
        if journal == "wal":
            assert_table(reader, reader_before)  # uncommitted rows are not visible
        writer.execute("commit")
        state = pending
        assert_table(reader, state)
        assert_table(writer, state)
    for c in (a, b):
        assert c.execute("pragma integrity_check").fetchone()[0] == "ok"


@pytest.mark.parametrize("moved_to", [4, 50])
def test_update_moving_a_rowid_then_automatic_insert(tmp_path, moved_to):
    """An UPDATE that moves a row to a new rowid inside the transaction, then INSERTs
    without a rowid: the new rows get fresh rowids (never the moved-to one), COMMIT keeps
    every row, and the high-water mark stays at the largest rowid ever used."""
    conn = sqlite3.connect(tmp_path / "m.db")
    sqlite_quiver.load(conn)
    conn.execute("create virtual table t using vec0(e float[4], chunk_size=8)")
    conn.commit()
    conn.executemany("insert into t(e) values (?)", [("[1,1,1,1]",)] * 3)
    conn.execute(f"update t set rowid = {moved_to} where rowid = 3")
    cur = conn.execute("insert into t(e) values ('[2,2,2,2]')")
    assert cur.lastrowid == moved_to + 1
    conn.commit()
    assert [r for (r,) in conn.execute("select rowid from t order by rowid")] == [
        1,
        2,
        moved_to,
        moved_to + 1,
    ]
    # Deleting the largest rows never lets an automatic rowid come back.
    conn.execute(f"delete from t where rowid >= {moved_to}")
    cur = conn.execute("insert into t(e) values ('[3,3,3,3]')")
    assert cur.lastrowid == moved_to + 2
    conn.commit()
    conn.execute("insert into t(t) values ('integrity-check')")
