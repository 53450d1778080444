"""Arrow tables in SQL: pushdown checked against a native SQLite table holding the same
values (SQLite itself is the oracle for comparison semantics) and against pyarrow
compute; joins; read-only; lifetime."""

import ctypes
import gc
import random
import sqlite3

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import sqlite_quiver

pl = pytest.importorskip("polars")

N = 400


def make_table(seed=0):
    rng = random.Random(seed)

    def maybe(v):
        return None if rng.random() < 0.15 else v

    return pa.table(
        {
            "i": pa.array([maybe(rng.randint(-50, 50)) for _ in range(N)], pa.int64()),
            "i8": pa.array([maybe(rng.randint(-5, 5)) for _ in range(N)], pa.int8()),
            "u": pa.array([maybe(rng.randint(0, 20)) for _ in range(N)], pa.uint32()),
            "f": pa.array(
                [
                    maybe(rng.choice([rng.uniform(-10, 10), 1.0, 2.5, float("nan")]))
                    for _ in range(N)
                ],
                pa.float64(),
            ),
            "f32": pa.array([maybe(rng.uniform(-3, 3)) for _ in range(N)], pa.float32()),
            "b": pa.array([maybe(rng.random() < 0.5) for _ in range(N)], pa.bool_()),
            "s": pa.array(
                [maybe(rng.choice(["a", "b", "B", "abc", "", "10", "9", "é"])) for _ in range(N)],
                pa.string(),
            ),
            "sv": pa.array(
                [maybe(rng.choice(["x", "y", "z"])) for _ in range(N)], pa.string_view()
            ),
            "cat": pa.array(
                [maybe(rng.choice(["red", "green", "blue"])) for _ in range(N)]
            ).dictionary_encode(),
            "d": pa.array([maybe(rng.randint(0, 3)) for _ in range(N)], pa.int32()).cast(
                pa.date32()
            ),
        }
    )


@pytest.fixture
def both(conn):
    t = make_table()
    sqlite_quiver.register_arrow(conn, "t", t)
    decl = ", ".join(
        f'"{c}" {typ}'
        for c, typ in zip(
            t.column_names,
            [
                "INTEGER",
                "INTEGER",
                "INTEGER",
                "REAL",
                "REAL",
                "INTEGER",
                "TEXT",
                "TEXT",
                "TEXT",
                "TEXT",
            ],
        )
    )
    conn.execute(f"create table n(rid INTEGER, {decl})")
    conn.execute("insert into n select rowid, * from t")
    return conn, t


CONSTANTS = [
    0,
    1,
    -3,
    2.5,
    1.0,
    -0.5,
    "1",
    " 2 ",
    "2.5",
    "1e1",
    "abc",
    "",
    "a",
    "B",
    "x",
    "red",
    "10",
    None,
    b"\x01",
    1e19,
    -1e19,
    2**63 - 1,
    "9223372036854775808",
]
OPS = ["=", "!=", "<", "<=", ">", ">=", "<>"]
COLUMNS = ["i", "i8", "u", "f", "f32", "b", "s", "sv", "cat", "d"]


def ids(conn, table, where, params=()):
    key = "rowid" if table == "t" else "rid"
    return sorted(r[0] for r in conn.execute(f"select {key} from {table} where {where}", params))


@pytest.mark.parametrize("col", COLUMNS)
def test_comparisons_match_native_sqlite(both, col):
    conn, _ = both
    checked = 0
    for op in OPS:
        for k in CONSTANTS:
            where = f'"{col}" {op} ?'
            assert ids(conn, "t", where, [k]) == ids(conn, "n", where, [k]), (col, op, k)
            checked += 1
            # Constant on the left-hand side too.
            where = f'? {op} "{col}"'
            assert ids(conn, "t", where, [k]) == ids(conn, "n", where, [k]), (col, op, k)
    assert checked == len(OPS) * len(CONSTANTS)


@pytest.mark.parametrize("col", COLUMNS)
def test_null_tests_match_native_sqlite(both, col):
    conn, _ = both
    for where in [f'"{col}" is null', f'"{col}" is not null', f'"{col}" notnull']:
        assert ids(conn, "t", where) == ids(conn, "n", where), where


def test_literals_and_ranges_and_in(both):
    conn, _ = both
    for where in [
        "i between -10 and 10",
        "i > -5 and i < 5 and f > 0",
        "f >= 1 and f <= 2.5",
        "i in (1, 2, 3, null)",
        "s in ('a', 'b')",
        "cat in ('red', 'blue')",
        "i = '7'",
        "f < '1.5'",
        "s > 'a' and s < 'b'",
        "i8 = 3 or i8 is null",
        "cat = 'red' and i > 0",
        "u >= 10",
        "b = 1",
        "b",
        "not b",
        "s = 'b' collate nocase",
        "s like 'a%'",
        "rowid = 5",
        "rowid = '5'",
        "rowid in (1, 3, 1000)",
        "rowid between 10 and 12",
        "i is 3",
        "i is not 3",
    ]:
        assert ids(conn, "t", where) == ids(conn, "n", where.replace("rowid", "rid")), where


def test_results_match_pyarrow_compute(both):
    conn, t = both
    got = conn.execute("select count(*), sum(i), avg(f) from t where i > 0 and f < 5").fetchone()
    mask = pc.and_kleene(pc.greater(t["i"], 0), pc.less(t["f"], 5))
    mask = pc.and_(mask, pc.invert(pc.is_nan(t["f"])))
    sel = t.select(["i", "f"]).filter(mask)
    assert got[0] == sel.num_rows
    assert got[1] == pc.sum(sel["i"]).as_py()
    assert got[2] == pytest.approx(pc.mean(sel["f"]).as_py())
    got = conn.execute(
        "select cat, count(*) from t where cat is not null group by cat order by cat"
    ).fetchall()
    from collections import Counter

    counts = Counter(v for v in t["cat"].to_pylist() if v is not None)
    assert got == sorted(counts.items())


def test_pushdown_is_used(both):
    conn, _ = both
    plan = conn.execute("explain query plan select * from t where i > 3 and s = 'a'").fetchall()
    detail = plan[0][3]
    assert "VIRTUAL TABLE INDEX 1:" in detail
    assert "1:4;" in detail or ":4;" in detail  # a GT constraint was taken


def test_join_with_native_table(both):
    conn, t = both
    conn.execute("create table dim(k INTEGER PRIMARY KEY, label TEXT)")
    conn.executemany("insert into dim values (?, ?)", [(k, f"L{k}") for k in range(-50, 51, 2)])
    sql = (
        "select {t}.{key}, dim.label from {t} join dim on dim.k = {t}.i where {t}.f > 0 order by 1"
    )
    assert (
        conn.execute(sql.format(t="t", key="rowid")).fetchall()
        == conn.execute(sql.format(t="n", key="rid")).fetchall()
    )
    # Native table driving, Arrow table probed by equality.
    sql2 = "select count(*) from dim join {t} on {t}.i = dim.k"
    native = conn.execute(sql2.format(t="n")).fetchone()
    assert conn.execute(sql2.format(t="t")).fetchone() == native


def test_join_two_arrow_tables(conn):
    sqlite_quiver.register_arrow(conn, "a", pa.table({"k": [1, 2, 3], "x": ["p", "q", "r"]}))
    sqlite_quiver.register_arrow(conn, "b", pl.DataFrame({"k": [3, 1, 1], "y": [30, 10, 11]}))
    got = conn.execute("select a.x, b.y from a join b using (k) order by b.y").fetchall()
    assert got == [("p", 10), ("p", 11), ("r", 30)]


def test_read_only(conn):
    sqlite_quiver.register_arrow(conn, "t", pa.table({"a": [1, 2]}))
    for sql in ["insert into t values (3)", "update t set a = 5", "delete from t"]:
        with pytest.raises(sqlite3.OperationalError, match="read-only"):
            conn.execute(sql)
    assert conn.execute("select a from t").fetchall() == [(1,), (2,)]


def test_table_is_in_temp_schema(tmp_path):
    path = tmp_path / "f.db"
    conn = sqlite3.connect(path)
    sqlite_quiver.load(conn)
    conn.execute("create table keep(a)")
    sqlite_quiver.register_arrow(conn, "t", pa.table({"a": [1]}))
    assert conn.execute("select name from temp.sqlite_master").fetchall() == [("t",)]
    conn.commit()
    conn.close()
    plain = sqlite3.connect(path)  # no extension: still opens and reads
    assert plain.execute("select name from sqlite_master").fetchall() == [("keep",)]
    plain.close()


def test_hand_made_table_is_refused(conn):
    with pytest.raises(sqlite3.OperationalError, match="register_arrow"):
        conn.execute("create virtual table temp.x using arrow(1)")
    with pytest.raises(sqlite3.OperationalError, match="temp schema|register_arrow"):
        conn.execute("create virtual table main.x using arrow(1)")
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("create virtual table temp.x using arrow(99999999)")


def test_names_are_quoted(conn):
    name = 'we"ird; drop table x; --'
    t = pa.table({'col"1': [1], "select": [2], "spaced name": [3]})
    sqlite_quiver.register_arrow(conn, name, t)
    got = conn.execute('select "col""1", "select", "spaced name" from "we""ird; drop table x; --"')
    assert got.fetchall() == [(1, 2, 3)]
    assert sqlite_quiver.unregister_arrow(conn, name)


@pytest.mark.parametrize("name", ["", "sqlite_master", "a\0b"])
def test_bad_names(conn, name):
    with pytest.raises((sqlite3.OperationalError, ValueError)):
        sqlite_quiver.register_arrow(conn, name, pa.table({"a": [1]}))


def test_duplicate_columns_rejected(conn):
    t = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "A"])
    with pytest.raises(sqlite3.OperationalError, match="duplicate column"):
        sqlite_quiver.register_arrow(conn, "t", t)


def test_non_arrow_input(conn):
    with pytest.raises(TypeError, match="__arrow_c_stream__"):
        sqlite_quiver.register_arrow(conn, "t", [1, 2, 3])
    with pytest.raises(TypeError, match="sqlite3.Connection"):
        sqlite_quiver.register_arrow("not a connection", "t", pa.table({"a": [1]}))


def test_existing_native_temp_table_not_replaced(conn):
    conn.execute("create temp table t(a)")
    conn.execute("insert into t values (42)")
    with pytest.raises(sqlite3.OperationalError, match="not an Arrow table"):
        sqlite_quiver.register_arrow(conn, "t", pa.table({"a": [1]}))
    with pytest.raises(sqlite3.OperationalError, match="not an Arrow table"):
        sqlite_quiver.unregister_arrow(conn, "t")
    assert conn.execute("select a from t").fetchall() == [(42,)]


def test_stream_failing_midway(conn):
    schema = pa.schema([("a", pa.int64())])

    def gen():
        yield pa.record_batch({"a": [1, 2]})
        raise RuntimeError("source broke")

    reader = pa.RecordBatchReader.from_batches(schema, gen())
    with pytest.raises(ValueError, match="midway"):
        sqlite_quiver.register_arrow(conn, "t", reader)
    assert conn.execute("select count(*) from temp.sqlite_master").fetchone() == (0,)


def test_invalid_utf8_rejected(conn):
    offsets = pa.py_buffer(b"\x00\x00\x00\x00\x02\x00\x00\x00")
    bad = pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(b"\xff\xfe")])
    with pytest.raises(ValueError, match='column "s"'):
        sqlite_quiver.register_arrow(conn, "t", pa.table({"s": bad}))


def test_malformed_c_data_is_a_value_error_not_a_panic(conn):
    """A producer whose ArrowArray claims more rows than its columns hold: arrow-rs
    asserts (panics) on it; register_arrow and insert_arrow raise ValueError instead."""
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]

    class Lying:
        def __arrow_c_array__(self, requested_schema=None):
            schema, array = pa.record_batch({"a": [1, 2]}).__arrow_c_array__()
            # struct ArrowArray starts with its int64 length: claim 1000 rows.
            ctypes.c_int64.from_address(get_pointer(array, b"arrow_array")).value = 1000
            return schema, array

    with pytest.raises(ValueError, match=r"cannot import the Arrow array: malformed Arrow data \("):
        sqlite_quiver.register_arrow(conn, "t", Lying())
    with pytest.raises(ValueError, match="cannot import the Arrow array: malformed Arrow data"):
        sqlite_quiver.insert_arrow(conn, "t", Lying(), mode="create")
    assert conn.execute("select count(*) from sqlite_master").fetchone() == (0,)
    assert conn.execute("select count(*) from temp.sqlite_master").fetchone() == (0,)


def test_empty_table(conn):
    sqlite_quiver.register_arrow(
        conn, "t", pa.table({"a": pa.array([], pa.int64()), "s": pa.array([], pa.string())})
    )
    assert conn.execute("select * from t where a > 1").fetchall() == []
    assert conn.execute("select count(*) from t").fetchone() == (0,)


# ---- lifetime ------------------------------------------------------------------------


def test_data_outlives_python_objects(conn):
    t = pa.table({"a": list(range(1000)), "s": [str(i) for i in range(1000)]})
    sqlite_quiver.register_arrow(conn, "t", t)
    del t
    gc.collect()
    pa.default_memory_pool().release_unused()
    assert conn.execute("select sum(a), max(s) from t").fetchone() == (499500, "999")


def test_polars_source_deleted(conn):
    df = pl.DataFrame({"a": [1, 2, 3], "s": ["x", "y", "z"]})
    sqlite_quiver.register_arrow(conn, "t", df)
    del df
    gc.collect()
    assert conn.execute("select group_concat(s, '') from t").fetchone() == ("xyz",)


def test_memory_released_on_unregister_and_close():
    before = sqlite_quiver._quiver.arrow_registry_len()
    conn = sqlite3.connect(":memory:")
    sqlite_quiver.load(conn)
    sqlite_quiver.register_arrow(conn, "a", pa.table({"x": [1]}))
    sqlite_quiver.register_arrow(conn, "b", pa.table({"x": [1]}))
    assert sqlite_quiver._quiver.arrow_registry_len() == before + 2
    assert sqlite_quiver.unregister_arrow(conn, "a")
    assert sqlite_quiver._quiver.arrow_registry_len() == before + 1
    conn.execute("drop table b")
    assert sqlite_quiver._quiver.arrow_registry_len() == before
    sqlite_quiver.register_arrow(conn, "c", pa.table({"x": [1]}))
    conn.close()
    assert sqlite_quiver._quiver.arrow_registry_len() == before


def test_reregister_replaces_and_open_statement_finishes(conn):
    sqlite_quiver.register_arrow(conn, "t", pa.table({"a": list(range(10))}))
    cur = conn.execute("select a from t")
    first = cur.fetchmany(3)
    # Same columns: the data is swapped in place while the statement keeps reading.
    sqlite_quiver.register_arrow(conn, "t", pa.table({"a": [100, 200]}))
    gc.collect()
    assert conn.execute("select sum(a) from t").fetchone() == (300,)
    rest = cur.fetchall()
    assert [r[0] for r in first + rest] == list(range(10))
    # Other columns while a statement reads: a clear error, the old table stays.
    cur = conn.execute("select a from t")
    cur.fetchone()
    with pytest.raises(sqlite3.OperationalError, match="finish or reset"):
        sqlite_quiver.register_arrow(conn, "t", pa.table({"b": ["x"]}))
    cur.fetchall()
    assert conn.execute("select sum(a) from t").fetchone() == (300,)
    sqlite_quiver.register_arrow(conn, "t", pa.table({"b": ["x"]}))
    assert conn.execute("select b from t").fetchall() == [("x",)]


def test_reregister_under_load():
    """Many statements open on the table while it is replaced again and again."""
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    sqlite_quiver.load(conn)
    sqlite_quiver.register_arrow(conn, "t", pa.table({"a": [1] * 1000}))
    cursors = [conn.execute("select a from t") for _ in range(20)]
    for c in cursors:
        c.fetchmany(10)
    for i in range(2, 30):
        sqlite_quiver.register_arrow(conn, "t", pa.table({"a": [i] * 1000}))
        assert conn.execute("select sum(a) from t").fetchone() == (1000 * i,)
    for c in cursors:
        assert sum(r[0] for r in c.fetchall()) == 990
    conn.close()


def test_many_reregistrations(conn):
    for i in range(50):
        sqlite_quiver.register_arrow(conn, "t", pa.table({"a": [i] * 3}))
        assert conn.execute("select sum(a) from t").fetchone() == (3 * i,)


def test_connections_are_isolated():
    c1 = sqlite3.connect(":memory:")
    c2 = sqlite3.connect(":memory:")
    for c in (c1, c2):
        sqlite_quiver.load(c)
    sqlite_quiver.register_arrow(c1, "t", pa.table({"a": [1]}))
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        c2.execute("select * from t")
    c1.close()
    c2.close()


def test_apsw_connection():
    # apsw brings its own SQLite: run in a fresh process (one SQLite library per process).
    pytest.importorskip("apsw")
    import subprocess
    import sys

    code = """
import apsw, pyarrow as pa, sqlite_quiver
c = apsw.Connection(":memory:")
sqlite_quiver.load(c)
sqlite_quiver.register_arrow(c, "t", pa.table({"a": [1, 2]}))
assert list(c.execute("select sum(a) from t")) == [(3,)]
assert sqlite_quiver.query_arrow(c, "select a from t").to_pyarrow().column(0).to_pylist() == [1, 2]
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_large_multi_batch_scans_match_native(conn):
    import numpy as np

    n = 200_000
    rng = np.random.default_rng(1)
    vals = rng.integers(0, 1000, n)
    mask = rng.random(n) < 0.1
    t = pa.table({"v": pa.array(vals, mask=mask), "w": pa.array(rng.random(n))})
    batches = t.to_batches(max_chunksize=70_000)
    sqlite_quiver.register_arrow(conn, "t", pa.Table.from_batches(batches))
    conn.execute("create table n(rid INTEGER PRIMARY KEY, v INTEGER, w REAL)")
    conn.execute("insert into n select rowid, v, w from t")
    for where in [
        "v = 7",
        "v > 990",
        "v is null",
        "w < 0.001",
        "v between 10 and 12 and w > 0.5",
        "rowid = 69999",
        "rowid = 70000",
        "rowid = 199999",
        "rowid = 200000",
    ]:
        a = conn.execute(f"select rowid, v, w from t where {where}").fetchall()
        b = conn.execute(f"select rid, v, w from n where {where.replace('rowid', 'rid')}")
        assert a == b.fetchall(), where
    assert conn.execute("select count(*) from t where v >= 0").fetchone() == (int((~mask).sum()),)
    first = conn.execute("select rowid from t where v > 500 limit 3").fetchall()
    expected = [i for i in range(n) if not mask[i] and vals[i] > 500][:3]
    assert [r[0] for r in first] == expected


SORT_COLUMNS = ["i", "i8", "u", "f", "f32", "b", "s", "sv", "cat"]


@pytest.mark.parametrize("col", SORT_COLUMNS)
def test_order_by_is_sqlite_order_without_a_sorter(both, col):
    conn, _ = both
    for direction in ["", " desc"]:
        for where in ["1", "i > 0", "s is not null"]:
            a = conn.execute(f'select "{col}" from t where {where} order by "{col}"{direction}')
            b = conn.execute(f'select "{col}" from n where {where} order by "{col}"{direction}')
            assert a.fetchall() == b.fetchall(), (col, direction, where)
            full_a = conn.execute(
                f'select rowid, * from t where {where} order by "{col}"{direction}'
            ).fetchall()
            full_b = conn.execute(
                f"select rid, i, i8, u, f, f32, b, s, sv, cat, d from n "
                f'where {where} order by "{col}"{direction}'
            ).fetchall()
            assert sorted(full_a, key=repr) == sorted(full_b, key=repr)
    plan = conn.execute(f'explain query plan select * from t order by "{col}"').fetchall()
    assert not any("TEMP B-TREE" in row[3] for row in plan), plan


def test_multi_column_order_and_group_by(both):
    conn, _ = both
    for order in ["cat, i desc", "s desc, f", "b, u, i8 desc", "sv, cat desc, f32"]:
        cols = ", ".join(c.split()[0] for c in order.split(","))
        a = conn.execute(f"select {cols} from t order by {order}").fetchall()
        b = conn.execute(f"select {cols} from n order by {order}").fetchall()
        assert a == b, order
    for group in ["cat", "s", "i8", "b, cat"]:
        sql = "select {g}, count(*), sum(i), min(f) from {t} group by {g} order by {g}"
        a = conn.execute(sql.format(g=group, t="t")).fetchall()
        b = conn.execute(sql.format(g=group, t="n")).fetchall()
        assert a == b, group
    plan = conn.execute("explain query plan select cat, count(*) from t group by cat").fetchall()
    assert not any("TEMP B-TREE" in row[3] for row in plan), plan
    # ORDER BY on a column that is not sorted here (a date) still works through SQLite.
    a = conn.execute("select d from t order by d, rowid").fetchall()
    b = conn.execute("select d from n order by d, rid").fetchall()
    assert a == b
    # With a LIMIT and a join.
    a = conn.execute("select f from t where i > 0 order by f desc limit 5").fetchall()
    b = conn.execute("select f from n where i > 0 order by f desc limit 5").fetchall()
    assert a == b and len(a) == 5


LIMIT_QUERIES = [
    ("select rowid, i, f from {t} limit 7 offset 450", True),
    ("select rowid, i from {t} where i > 10 limit 5 offset 60", True),
    ("select rowid, f from {t} where f is not null and i < 0 limit 9 offset 3", True),
    ("select rowid, i from {t} order by i, rowid limit 6 offset 100", False),
    ("select rowid, f32 from {t} order by f32 desc, rowid limit 4", False),
    ("select rowid, s from {t} order by s limit 5 offset 20", False),
    ("select rowid from {t} limit -1 offset 995", True),
    ("select rowid from {t} limit 3 offset -2", True),
    ("select rowid from {t} limit 0 offset 5", True),
    ("select rowid from {t} where i >= 0 limit 3 offset 100000", True),
    ("select rowid from {t} where i > ? limit ? offset ?", True),
    # Terms SQLite re-checks (text) or the table does not take (LIKE), and IN lists:
    # LIMIT / OFFSET stay with SQLite.
    ("select rowid, s from {t} where s = 'a' limit 4 offset 7", True),
    ("select rowid, s from {t} where s like 'a%' limit 4 offset 7", True),
    ("select rowid, i from {t} where i in (1, 2, 3) order by rowid limit 4 offset 7", True),
]


@pytest.mark.parametrize("sql,plain", LIMIT_QUERIES)
def test_limit_and_offset_match_native(both, sql, plain):
    conn, _ = both
    params = (5, 4, 30) if "?" in sql else ()
    a = conn.execute(sql.format(t="t"), params).fetchall()
    b = conn.execute(sql.format(t="n").replace("rowid", "rid"), params).fetchall()
    if plain or "rowid limit" in sql:
        assert a == b
    else:
        # ORDER BY with ties: the same sort keys in the same order.
        assert [r[1:] for r in a] == [r[1:] for r in b]
        assert len(a) == len(b)


def limits_taken(conn, sql):
    """The LIMIT ('l') / OFFSET ('o') the Arrow table took for `sql` (its idxStr)."""
    rows = [r for r in conn.execute("explain " + sql) if r[1] == "VFilter"]
    return "".join(sorted((rows[0][5] or "").split("|")[-1]))


# The same checks run in Rust on the bundled SQLite (tests/arrow_limit_bundled.rs).
@pytest.mark.skipif(
    sqlite3.sqlite_version_info < (3, 46), reason="the table takes LIMIT from SQLite 3.46"
)
def test_limit_and_offset_are_taken_by_the_table_when_exact(both):
    conn, _ = both
    assert limits_taken(conn, "select * from t limit 10 offset 7") == "lo"
    assert limits_taken(conn, "select * from t where i > 3 order by f limit 10 offset 7") == "lo"
    assert limits_taken(conn, "select * from t limit 10") == "l"
    assert limits_taken(conn, "select * from t where s = 'a' limit 10 offset 7") == ""
    assert limits_taken(conn, "select * from t where i in (1, 2) limit 10 offset 7") == ""
    # An ORDER BY the table leaves to SQLite (dates) keeps LIMIT / OFFSET in SQLite.
    assert limits_taken(conn, "select * from t order by d limit 10 offset 7") == ""


@pytest.mark.skipif(
    sqlite3.sqlite_version_info >= (3, 46), reason="older SQLite: LIMIT stays with SQLite"
)
def test_older_sqlite_keeps_limit_and_offset(both):
    conn, _ = both
    # 3.38-3.45 would hand a compound's OFFSET to each arm: the table never takes it.
    assert limits_taken(conn, "select * from t limit 10 offset 7") == ""
    sql = "select rowid from {t} where i = 1 union all select rowid from {t} where i = 2"
    a = conn.execute(sql.format(t="t") + " limit 2 offset 8").fetchall()
    b = conn.execute(sql.format(t="n").replace("rowid", "rid") + " limit 2 offset 8").fetchall()
    assert a == b


def test_offset_across_many_batches_and_filters(conn):
    n = 300_000
    t = pa.table({"v": pa.array([i % 1000 for i in range(n)], pa.int64())})
    sqlite_quiver.register_arrow(conn, "t", pa.Table.from_batches(t.to_batches(70_001)))
    got = conn.execute("select rowid from t where v >= 990 limit 3 offset 2500").fetchall()
    expected = [i for i in range(n) if i % 1000 >= 990][2500:2503]
    assert [r[0] for r in got] == expected
    got = conn.execute("select rowid from t limit 3 offset 250000").fetchall()
    assert [r[0] for r in got] == [250_000, 250_001, 250_002]
    got = conn.execute("select rowid from t where v = 3 limit 3 offset 299").fetchall()
    assert [r[0] for r in got] == [299_003]
    got = conn.execute("select v from t order by v desc, rowid limit 2 offset 299").fetchall()
    assert got == [(999,), (998,)]
