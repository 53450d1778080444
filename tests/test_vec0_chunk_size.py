"""The default chunk size keeps a chunk's BLOB small enough for single-row SQL writes on
a file database, and a table keeps the chunk size it was created with (stored in its
_info table) whatever the default of the release that opens it."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

import sqlite_quiver


def stored_chunk_size(conn, table="t"):
    return conn.execute(f"select value from {table}_info where key = 'chunk_size'").fetchone()[0]


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ("emb float[768]", 80),  # 256 KiB / 3,072 bytes = 85 -> a multiple of 8
        ("emb float[128]", 512),
        ("emb float[4]", 1024),  # capped at sqlite-vec's default
        ("emb bit[768]", 1024),
        ("emb float[65536]", 8),  # at least 8
        ("a float[128], b float[1536]", 40),  # sized by the widest column
        ("emb float[768], chunk_size=1024", 1024),  # an explicit size is kept
    ],
)
def test_default_chunk_size(columns, expected):
    conn = sqlite_quiver.connect_with_vec()
    conn.execute(f"create virtual table t using vec0({columns})")
    assert stored_chunk_size(conn) == expected


def test_chunks_hold_the_default_size(tmp_path):
    path = str(tmp_path / "v.db")
    conn = sqlite_quiver.connect_with_vec(path)
    conn.execute("create virtual table t using vec0(emb float[768])")
    rows = np.random.default_rng(1).standard_normal((200, 768), dtype=np.float32)
    with conn:
        conn.executemany(
            "insert into t(rowid, emb) values (?, ?)",
            [(i + 1, r.tobytes()) for i, r in enumerate(rows)],
        )
    sizes = [n for (n,) in conn.execute("select length(vectors) from t_vector_chunks00")]
    assert sizes == [80 * 768 * 4] * 3  # 200 rows in chunks of 80
    got = conn.execute("select emb from t where rowid = 123").fetchone()[0]
    assert got == rows[122].tobytes()


def test_a_table_keeps_its_stored_chunk_size(tmp_path):
    """A table made by an older release (default 1024 for every width) is read and
    written with 1024 even though today's default for its columns differs."""
    path = str(tmp_path / "old.db")
    conn = sqlite_quiver.connect_with_vec(path)
    conn.execute("create virtual table t using vec0(emb float[768])")
    conn.execute("update t_info set value = 1024 where key = 'chunk_size'")
    conn.commit()
    conn.close()

    conn = sqlite_quiver.connect_with_vec(path)
    rows = np.random.default_rng(2).standard_normal((30, 768), dtype=np.float32)
    with conn:
        conn.executemany(
            "insert into t(rowid, emb) values (?, ?)",
            [(i + 1, r.tobytes()) for i, r in enumerate(rows)],
        )
    sqlite_quiver.insert_vectors(conn, "t", rows[:5], ids=[101, 102, 103, 104, 105])
    (size,) = conn.execute("select length(vectors) from t_vector_chunks00").fetchone()
    assert size == 1024 * 768 * 4
    conn.close()

    conn = sqlite_quiver.connect_with_vec(path)
    ids = [r for (r,) in conn.execute("select rowid from t order by rowid")]
    assert ids == list(range(1, 31)) + [101, 102, 103, 104, 105]
    hits = conn.execute(
        "select rowid from t where emb match ? and k = 1", (rows[17].tobytes(),)
    ).fetchall()
    assert hits == [(18,)]
    assert conn.execute("pragma integrity_check").fetchone() == ("ok",)


@pytest.mark.parametrize("bad", [0, 7, -8, 1 << 20, "'x'", "NULL"])
def test_a_corrupt_stored_chunk_size_is_an_error(tmp_path, bad):
    path = str(tmp_path / "bad.db")
    conn = sqlite_quiver.connect_with_vec(path)
    conn.execute("create virtual table t using vec0(emb float[4])")
    conn.execute(f"update t_info set value = {bad} where key = 'chunk_size'")
    conn.commit()
    conn.close()
    conn = sqlite_quiver.connect_with_vec(path)
    with pytest.raises(sqlite3.OperationalError, match="corrupt.*chunk_size"):
        conn.execute("select count(*) from t").fetchone()
