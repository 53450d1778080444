"""Hostile vec0 input (issue 16): corrupted shadow tables written with plain sqlite3,
and sizes that must not allocate by what was asked for. Each reproduction runs in a
child process (see hostile_child.py): a crash fails the test, not pytest."""

import sqlite3

import numpy as np
import pytest
from hostile_child import run_child

import sqlite_quiver

QUERIES = """
conn = sqlite_quiver.connect_with_vec(sys.argv[1] if len(sys.argv) > 1 else {path!r})
step(lambda: conn.execute("select count(*) from t").fetchall())
step(lambda: conn.execute(
    "select rowid, distance from t where emb match '[1,0,0,0]' and k = 3").fetchall())
step(lambda: conn.execute("select rowid, emb from t where rowid = 2").fetchall())
step(lambda: sqlite_quiver.search(conn, "t", np.eye(4, dtype=np.float32), k=2)[0].tolist())
step(lambda: conn.execute("insert into t(rowid, emb) values (100, '[1,1,1,1]')").rowcount)
step(lambda: sqlite_quiver.vectors.integrity_check(conn, "t"))
step(lambda: conn.execute("insert into t(t) values ('integrity-check')").rowcount)
"""


def _make_table(path, text_key=False):
    conn = sqlite_quiver.connect_with_vec(str(path))
    key = "id text primary key, " if text_key else ""
    conn.execute(f"create virtual table t using vec0({key}emb float[4], chunk_size=8)")
    rows = np.arange(40, dtype=np.float32).reshape(10, 4)
    for i, v in enumerate(rows, start=1):
        if text_key:
            conn.execute("insert into t(id, emb) values (?, ?)", (f"k{i}", v.tobytes()))
        else:
            conn.execute("insert into t(rowid, emb) values (?, ?)", (i, v.tobytes()))
    conn.commit()
    conn.close()


# (name, SQL run with plain sqlite3 on the file, whether KNN must fail)
MUTATIONS = [
    ("chunk_id 2**40", "insert into t_chunks values (1099511627776, 0, x'00')", True),
    ("chunk_id 2**63-1", "insert into t_chunks values (9223372036854775807, 0, x'00')", True),
    ("chunk_id -1", "insert into t_chunks values (-1, 0, x'00')", True),
    ("chunk_id 0", "update t_chunks set chunk_id = 0 where chunk_id = 2", True),
    ("slot 2**40", "update t_rows set slot = 1099511627776 where rowid = 2", True),
    ("slot 2**63-1", "update t_rows set slot = 9223372036854775807 where rowid = 2", True),
    ("slot 2**31", "update t_rows set slot = 2147483648 where rowid = 2", True),
    ("slot -1", "update t_rows set slot = -1 where rowid = 2", True),
    ("slot text", "update t_rows set slot = 'abc' where rowid = 2", True),
    ("slot blob", "update t_rows set slot = x'0001' where rowid = 2", True),
    ("slot real", "update t_rows set slot = 1.5 where rowid = 2", True),
    ("two rows one slot", "update t_rows set slot = 0 where rowid = 2", True),
    ("vector chunk truncated", "update t_vector_chunks00 set vectors = x'0000'", True),
    ("vector chunk text", "update t_vector_chunks00 set vectors = 'abc'", True),
    ("vector chunk integer", "update t_vector_chunks00 set vectors = 4611686018427387904", True),
    ("vector chunk missing", "delete from t_vector_chunks00 where rowid = 2", True),
    (
        "vector chunk id 2**40",
        "update t_vector_chunks00 set rowid = 1099511627776 where rowid = 2",
        True,
    ),
    ("format_version text", "update t_info set value = 'x' where key = 'format_version'", True),
    ("format_version NULL", "update t_info set value = NULL where key = 'format_version'", True),
    ("format_version 99", "update t_info set value = 99 where key = 'format_version'", True),
    ("format_version missing", "delete from t_info where key = 'format_version'", True),
    ("generation NULL", "update t_info set value = NULL where key = 'generation'", True),
    ("generation text", "update t_info set value = 'abc' where key = 'generation'", True),
    ("generation missing", "delete from t_info where key = 'generation'", True),
    ("chunk_size 2**40", "update t_info set value = 1099511627776 where key = 'chunk_size'", True),
    ("chunk_size 0", "update t_info set value = 0 where key = 'chunk_size'", True),
]


@pytest.mark.parametrize("name,sql,knn_fails", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_corrupt_shadow_table_is_an_error(tmp_path, name, sql, knn_fails):
    path = tmp_path / "c.db"
    _make_table(path)
    raw = sqlite3.connect(path)
    raw.execute(sql)
    raw.commit()
    raw.close()
    steps = run_child(QUERIES.format(path=str(path)))
    assert len(steps) == 7, steps
    errors = [s["error"] for s in steps if "error" in s]
    for e in errors:
        assert "PanicException" not in e and "internal error" not in e, (name, e)
    knn = steps[1]
    if knn_fails:
        assert "error" in knn, (name, steps)
        msg = knn["error"]
        assert "'t'" in msg and ("is corrupt" in msg or "format version" in msg), (name, msg)
    # The integrity check finds every mutation, from Python and from SQL.
    for check in steps[5:]:
        assert "error" in check, (name, steps)
        msg = check["error"]
        assert "'t'" in msg and ("is corrupt" in msg or "format version" in msg), (name, msg)


def test_corrupt_text_id_is_an_error(tmp_path):
    path = tmp_path / "c.db"
    _make_table(path, text_key=True)
    raw = sqlite3.connect(path)
    raw.execute("update t_rows set id = x'00ff' where rowid = 2")
    raw.commit()
    raw.close()
    steps = run_child(
        f"""
        conn = sqlite_quiver.connect_with_vec({str(path)!r})
        step(lambda: conn.execute("select id from t").fetchall())
        step(lambda: conn.execute("select id from t where rowid = 2").fetchall())
        """
    )
    for s in steps:
        assert "is corrupt" in s["error"] and "t_rows: row 2 has id" in s["error"], steps


def test_missing_vector_chunk_is_not_zero_vectors(tmp_path):
    """A missing {t}_vector_chunks row used to read as zero vectors in KNN."""
    path = tmp_path / "c.db"
    _make_table(path)
    raw = sqlite3.connect(path)
    raw.execute("delete from t_vector_chunks00 where rowid = 1")
    raw.commit()
    raw.close()
    conn = sqlite_quiver.connect_with_vec(str(path))
    with pytest.raises(sqlite3.OperationalError, match=r"table 't' is corrupt: .*missing"):
        conn.execute("select rowid from t where emb match '[0,0,0,0]' and k = 3").fetchall()
    with pytest.raises(sqlite3.OperationalError, match=r"table 't' is corrupt: .*no chunk 1"):
        conn.execute("select emb from t where rowid = 1").fetchall()
    conn.close()


def test_uncorrupted_table_still_answers(tmp_path):
    """The checks accept every table quiver writes (several chunks, deletes, reuse)."""
    path = tmp_path / "c.db"
    _make_table(path)
    steps = run_child(QUERIES.format(path=str(path)))
    assert steps[0] == {"ok": [[10]]}
    assert [r[0] for r in steps[1]["ok"]] == [1, 2, 3]
    assert steps[2]["ok"][0][0] == 2
    assert steps[4] == {"ok": 1}
    assert steps[5:] == [{"ok": None}, {"ok": 1}]


def test_huge_k_allocates_by_rows(conn):
    """search(k=2**24) on a 10-row table: results sized by the 10 rows, not by k."""
    conn.execute("create virtual table t using vec0(emb float[4])")
    sqlite_quiver.insert_vectors(conn, "t", np.eye(10, 4, dtype=np.float32), ids=list(range(1, 11)))
    ids, dist = sqlite_quiver.search(conn, "t", np.eye(2, 4, dtype=np.float32), k=16_777_216)
    assert ids.shape == (2, 10) and dist.shape == (2, 10)
    assert ids[0, 0] == 1 and ids[1, 0] == 2 and np.isfinite(dist).all()
    rows = conn.execute(
        "select rowid from t where emb match '[1,0,0,0]' and k = 16777216"
    ).fetchall()
    assert len(rows) == 10 and rows[0][0] == 1
    # Fewer matching rows than rows in the table: padded up to the table size only.
    ids, dist = sqlite_quiver.search(conn, "t", np.eye(1, 4), k=1 << 24, rowid=[3, 4])
    assert ids.tolist() == [[3, 4] + [-1] * 8] and np.isinf(dist[0, 2:]).all()


def test_huge_k_repeated_stays_small():
    """100 searches with k=2**24 under a 6 GiB address-space limit (was 613 MB each)."""
    steps = run_child(
        """
        conn = sqlite_quiver.connect_with_vec()
        conn.execute("create virtual table t using vec0(emb float[4])")
        sqlite_quiver.insert_vectors(conn, "t", np.eye(10, 4, dtype=np.float32),
                                     ids=list(range(1, 11)))
        step(lambda: [sqlite_quiver.search(conn, "t", np.ones((1, 4)), k=1 << 24)[0].shape
                      for _ in range(100)][-1])
        """
    )
    assert steps == [{"ok": [1, 10]}]


@pytest.mark.parametrize(
    "decl,suggest",
    [("float[65536], chunk_size=65536", 3808), ("int8[65536], chunk_size=65536", 15256)],
)
def test_chunk_larger_than_a_blob_is_refused_at_create(decl, suggest):
    """float[65536] with chunk_size=65536 allocated 16 GiB on the first insert."""
    steps = run_child(
        f"""
        conn = sqlite_quiver.connect_with_vec()
        step(lambda: conn.execute("create virtual table t using vec0(emb {decl})").rowcount)
        """
    )
    msg = steps[0]["error"]
    assert "column 'emb'" in msg and "SQLITE_LIMIT_LENGTH" in msg, msg
    assert f"use chunk_size={suggest} or less" in msg, msg


def _corrupt(path, *sql):
    raw = sqlite3.connect(path)
    for statement in sql:
        raw.execute(statement)
    raw.commit()
    raw.close()


# Row 2 is in slot 1 of chunk 1 (bit 1 of the first validity byte).
FREE_SLOT_1 = (
    "update t_chunks set validity = x'fd', size = size - 1 where chunk_id = 1",
    "insert or ignore into t_free values (1)",
)


@pytest.mark.parametrize(
    "sql,message",
    [
        (FREE_SLOT_1, "in slot 1, which the validity bitmap of chunk 1 marks free"),
        (FREE_SLOT_1[:1], "in slot 1, which the validity bitmap of chunk 1 marks free"),
        (
            ("update t_chunks set validity = x'fd' where chunk_id = 1",) + FREE_SLOT_1[1:],
            "chunk 1 has size 8, but its validity bitmap marks 7 slots used",
        ),
    ],
    ids=["bitmap and size", "bitmap and size, not in _free", "bitmap only"],
)
def test_free_slot_in_use_is_not_overwritten(tmp_path, sql, message):
    """A validity bitmap marking a slot free while a row still points at it let the next
    INSERT overwrite that row's vector (count(*) and integrity_check still ok)."""
    path = tmp_path / "c.db"
    _make_table(path)
    _corrupt(path, *sql)
    steps = run_child(
        f"""
        conn = sqlite_quiver.connect_with_vec({str(path)!r})
        step(lambda: conn.execute("insert into t(rowid, emb) values (50, '[9,9,9,9]')").rowcount)
        step(lambda: sqlite_quiver.insert_vectors(conn, "t", np.full((1, 4), 9.0), ids=[51]))
        step(lambda: conn.execute(
            "select rowid from t where emb match '[4,5,6,7]' and k = 1").fetchall())
        step(lambda: sqlite_quiver.vectors.integrity_check(conn, "t"))
        conn.commit()
        """
    )
    # Both inserts (SQL and bulk), KNN and the integrity check: each an error.
    assert len(steps) == 4, steps
    for s in steps:
        assert "table 't' is corrupt" in s.get("error", ""), steps
        assert message in s["error"], steps
    raw = sqlite3.connect(path)
    vec = raw.execute("select vectors from t_vector_chunks00 where rowid = 1").fetchone()[0]
    assert np.frombuffer(vec, np.float32)[4:8].tolist() == [4, 5, 6, 7]
    assert raw.execute("select count(*) from t_rows where rowid in (50, 51)").fetchone() == (0,)
    raw.close()


def test_integrity_check_passes_after_every_kind_of_write(tmp_path):
    conn = sqlite_quiver.connect_with_vec(str(tmp_path / "ok.db"))
    conn.execute(
        "create virtual table t using vec0(id text primary key, emb float[4], "
        "part int partition key, tag text, +note text, chunk_size=8)"
    )
    rng = np.random.default_rng(0)
    for i in range(30):
        conn.execute(
            "insert into t(id, emb, part, tag, note) values (?, ?, ?, ?, ?)",
            (f"k{i}", rng.random(4, dtype=np.float32).tobytes(), i % 3, f"t{i % 5}", "n"),
        )
    conn.execute("delete from t where part = 1")
    conn.execute("update t set emb = ?, tag = 'x' where id = 'k3'", (np.ones(4, np.float32),))
    sqlite_quiver.insert_vectors(
        conn, "t", rng.random((12, 4)), ids=[f"b{i}" for i in range(12)], part=[0] * 12
    )
    conn.commit()
    sqlite_quiver.vectors.integrity_check(conn, "t")
    sqlite_quiver.vectors.integrity_check(conn, "main.t")
    assert conn.execute("insert into t(t) values ('integrity-check')").rowcount == 1
    assert conn.execute("select count(*) from t").fetchone() == (32,)
    # The command column is hidden: SELECT * and table_info are as before.
    assert [r[1] for r in conn.execute("pragma table_info(t)")] == [
        "id",
        "emb",
        "part",
        "tag",
        "note",
    ]
    assert len(conn.execute("select * from t limit 1").fetchone()) == 5
    with pytest.raises(sqlite3.OperationalError, match="unknown command 'optimize'"):
        conn.execute("insert into t(t) values ('optimize')")


def test_integrity_check_when_a_column_is_named_like_the_table(conn):
    """No command column then (the name is taken); the Python function still checks."""
    conn.execute("create virtual table emb using vec0(emb float[2])")
    sqlite_quiver.insert_vectors(conn, "emb", np.eye(2), ids=[1, 2])
    sqlite_quiver.vectors.integrity_check(conn, "emb")
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("insert into emb(emb) values ('integrity-check')")
