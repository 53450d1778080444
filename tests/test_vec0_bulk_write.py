"""Write paths of the bulk insert: multi-row shadow-table statements, whole new chunks
written in one INSERT, holes of deleted rows refilled, rowid assignment like SQL's."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

import sqlite_quiver


def table_rows(conn, cols="rowid, emb, genre, year, note"):
    out = {}
    for r in conn.execute(f"select {cols} from t order by rowid"):
        out[r[0]] = (np.frombuffer(r[1], dtype=np.float32).copy(), *r[2:])
    return out


def make(conn, chunk_size=64, dims=8):
    conn.execute(
        f"create virtual table t using vec0(emb float[{dims}], genre text partition key, "
        f"year integer, +note text, chunk_size={chunk_size})"
    )


@pytest.mark.parametrize("n", [1, 63, 64, 65, 255, 256, 257, 700, 1000])
def test_bulk_insert_matches_row_by_row_sql(n):
    """Every batch boundary (256 rows per statement, 64 per chunk): same rows, same
    rowids, same vectors, metadata and auxiliary values as one SQL INSERT per row."""
    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, 8)).astype(np.float32)
    genres = [["a", "b", "c"][i % 3] for i in range(n)]
    years = [int(y) for y in rng.integers(1990, 2020, n)]
    notes = [None if i % 5 == 0 else f"n{i}" for i in range(n)]
    bulk = sqlite_quiver.connect_with_vec()
    make(bulk)
    bulk.execute("insert into t(rowid, emb, genre, year) values (7, ?, 'a', 1)", (X[0].tobytes(),))
    assert sqlite_quiver.insert_vectors(bulk, "t", X, genre=genres, year=years, note=notes) == n
    sql = sqlite_quiver.connect_with_vec()
    make(sql)
    sql.execute("insert into t(rowid, emb, genre, year) values (7, ?, 'a', 1)", (X[0].tobytes(),))
    for i in range(n):
        sql.execute(
            "insert into t(emb, genre, year, note) values (?, ?, ?, ?)",
            (X[i].tobytes(), genres[i], years[i], notes[i]),
        )
    a, b = table_rows(bulk), table_rows(sql)
    assert list(a) == list(b) == [7] + list(range(8, 8 + n))
    for r in a:
        np.testing.assert_array_equal(a[r][0], b[r][0])
        assert a[r][1:] == b[r][1:]
    assert bulk.execute("pragma integrity_check").fetchone()[0] == "ok"
    # Queries see the new rows (the cache reloads them).
    q = X[n // 2]
    got = bulk.execute("select rowid from t where emb match ? and k = 1", (q.tobytes(),))
    assert got.fetchone()[0] in {8 + n // 2} | {r for r in a if np.array_equal(a[r][0], q)}


def test_bulk_insert_refills_holes_then_new_chunks():
    rng = np.random.default_rng(1)
    conn = sqlite_quiver.connect_with_vec()
    make(conn, chunk_size=16)
    X = rng.standard_normal((100, 8)).astype(np.float32)
    sqlite_quiver.insert_vectors(conn, "t", X, ids=list(range(1, 101)))
    deleted = list(range(3, 100, 7))
    for r in deleted:
        conn.execute("delete from t where rowid = ?", (r,))
    Y = rng.standard_normal((300, 8)).astype(np.float32)
    sqlite_quiver.insert_vectors(conn, "t", Y, ids=list(range(1000, 1300)))
    rows = table_rows(conn)
    want = {r: X[r - 1] for r in range(1, 101) if r not in deleted}
    want.update({1000 + i: Y[i] for i in range(300)})
    assert sorted(rows) == sorted(want)
    for r, v in want.items():
        np.testing.assert_array_equal(rows[r][0], v)
    # Holes were reused: 385 rows fit in ceil(385 / 16) chunks.
    assert conn.execute("select count(*) from t_chunks").fetchone()[0] == -(-385 // 16)
    assert conn.execute("select count(*) from t_vector_chunks00").fetchone()[0] == -(-385 // 16)
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    ids, dist = sqlite_quiver.search(conn, "t", Y[:5], k=1)
    assert ids[:, 0].tolist() == [1000, 1001, 1002, 1003, 1004]


def test_bulk_insert_rowids_follow_largest_existing():
    conn = sqlite_quiver.connect_with_vec()
    make(conn)
    conn.execute("insert into t(rowid, emb, genre) values (5000, ?, 'a')", (bytes(32),))
    conn.execute("insert into t(rowid, emb, genre) values (10, ?, 'a')", (bytes(32),))
    sqlite_quiver.insert_vectors(conn, "t", np.ones((300, 8)), genre=["b"] * 300)
    got = [r[0] for r in conn.execute("select rowid from t where genre = 'b' order by rowid")]
    assert got == list(range(5001, 5301))


def test_bulk_insert_at_max_rowid_is_refused_like_autoincrement():
    # Automatic rowids are never reused (issue 9): once rowid 2**63-1 was used there is
    # no automatic rowid left, as with AUTOINCREMENT and sqlite-vec ("database or disk
    # is full"); explicit rowids still work and a refused batch changes nothing.
    conn = sqlite_quiver.connect_with_vec()
    make(conn)
    big = 2**63 - 1
    conn.execute("insert into t(rowid, emb, genre) values (?, ?, 'a')", (big, bytes(32)))
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full.*rowid"):
        sqlite_quiver.insert_vectors(conn, "t", np.ones((300, 8)), genre=["b"] * 300)
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full.*rowid"):
        conn.execute("insert into t(emb, genre) values (?, 'c')", (bytes(32),))
    assert conn.execute("select count(*) from t").fetchone()[0] == 1
    sqlite_quiver.insert_vectors(
        conn, "t", np.ones((300, 8)), ids=list(range(1, 301)), genre=["b"] * 300
    )
    got = [r[0] for r in conn.execute("select rowid from t where genre = 'b'")]
    assert sorted(got) == list(range(1, 301))
    assert conn.execute("select count(*) from t").fetchone()[0] == 301


def test_bulk_replace_and_duplicate_across_batches_leave_table_intact():
    conn = sqlite_quiver.connect_with_vec()
    make(conn)
    X = np.arange(600 * 8, dtype=np.float32).reshape(600, 8)
    sqlite_quiver.insert_vectors(conn, "t", X, ids=list(range(1, 601)))
    before = table_rows(conn)
    # A rowid already present, found in the third statement's rows: nothing changes.
    with pytest.raises(sqlite3.OperationalError, match="UNIQUE"):
        sqlite_quiver.insert_vectors(
            conn, "t", X, ids=list(range(1000, 1520)) + [600] + list(range(2000, 2079))
        )
    after = table_rows(conn)
    assert list(after) == list(before)
    assert all(np.array_equal(after[r][0], before[r][0]) for r in before)
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    # replace=True over every row: new vectors, same rowids, no new chunks.
    n_chunks = conn.execute("select count(*) from t_chunks").fetchone()[0]
    sqlite_quiver.insert_vectors(conn, "t", -X, ids=list(range(1, 601)), replace=True)
    rows = table_rows(conn)
    assert list(rows) == list(range(1, 601))
    for r in rows:
        np.testing.assert_array_equal(rows[r][0], -X[r - 1])
    assert conn.execute("select count(*) from t_chunks").fetchone()[0] == n_chunks


def test_bulk_insert_into_file_reopens(tmp_path):
    path = str(tmp_path / "bulk.db")
    rng = np.random.default_rng(3)
    X = rng.standard_normal((2000, 16)).astype(np.float32)
    conn = sqlite_quiver.connect_with_vec(path)
    conn.execute("create virtual table t using vec0(emb float[16], chunk_size=128)")
    with conn:
        sqlite_quiver.insert_vectors(conn, "t", X)
    conn.close()
    sqlite_quiver.vectors.clear_cache()
    conn = sqlite_quiver.connect_with_vec(path)
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    got = np.array(
        [
            np.frombuffer(r[0], dtype=np.float32)
            for r in conn.execute("select emb from t order by rowid")
        ]
    )
    np.testing.assert_array_equal(got, X)
    ids, _ = sqlite_quiver.search(conn, "t", X[[0, 999, 1999]], k=1)
    assert ids[:, 0].tolist() == [1, 1000, 2000]


def test_non_finite_value_deep_in_array_is_reported_exactly():
    conn = sqlite_quiver.connect_with_vec()
    make(conn)
    X = np.ones((1000, 8), dtype=np.float32)
    X[777, 5] = np.inf
    with pytest.raises(ValueError, match="row 777, column 5 is inf"):
        sqlite_quiver.insert_vectors(conn, "t", X)
    assert conn.execute("select count(*) from t").fetchone()[0] == 0


def test_format_version_2_drops_the_id_index_only_for_integer_keys():
    conn = sqlite_quiver.connect_with_vec()
    conn.execute("create virtual table a using vec0(emb float[2])")
    conn.execute("create virtual table b using vec0(id text primary key, emb float[2])")
    version = "select value from {}_info where key = 'format_version'"
    assert conn.execute(version.format("a")).fetchone()[0] == 2
    assert conn.execute(version.format("b")).fetchone()[0] == 2
    assert conn.execute("pragma index_list(a_rows)").fetchall() == []
    assert len(conn.execute("pragma index_list(b_rows)").fetchall()) == 1
    sqlite_quiver.insert_vectors(conn, "b", np.eye(2), ids=["x", "y"])
    with pytest.raises(sqlite3.OperationalError, match="UNIQUE"):
        sqlite_quiver.insert_vectors(conn, "b", np.eye(2), ids=["z", "x"])


def test_format_version_1_tables_still_read_and_written(tmp_path):
    """A table as version 1 wrote it (unique index on _rows.id) keeps working."""
    path = str(tmp_path / "v1.db")
    conn = sqlite_quiver.connect_with_vec(path)
    conn.execute("create virtual table t using vec0(emb float[4], chunk_size=8)")
    conn.execute("create unique index t_rows_v1_id on t_rows(id)")
    conn.execute("update t_info set value = 1 where key = 'format_version'")
    conn.commit()
    conn.close()
    conn = sqlite_quiver.connect_with_vec(path)
    X = np.arange(40, dtype=np.float32).reshape(10, 4)
    sqlite_quiver.insert_vectors(conn, "t", X)
    conn.execute("insert into t(rowid, emb) values (100, ?)", (X[3].tobytes(),))
    conn.execute("delete from t where rowid = 2")
    got = [
        r[0]
        for r in conn.execute("select rowid from t where emb match ? and k = 2", (X[3].tobytes(),))
    ]
    assert got == [4, 100]
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"


def test_unknown_format_version_is_refused_clearly():
    conn = sqlite_quiver.connect_with_vec()
    conn.execute("create virtual table t using vec0(emb float[2])")
    conn.execute("update t_info set value = 99 where key = 'format_version'")
    with pytest.raises(sqlite3.OperationalError, match="format version 99"):
        sqlite_quiver.insert_vectors(conn, "t", np.eye(2))
