"""query_arrow and insert_arrow: types, promotion, empty results, round trips with pyarrow
and polars, vec0 ingest, and failures that leave the data as it was."""

import datetime as dt
import decimal
import sqlite3

import pyarrow as pa
import pytest

import sqlite_quiver

pl = pytest.importorskip("polars")


def q(conn, sql, params=()):
    return sqlite_quiver.query_arrow(conn, sql, params).to_pyarrow()


def test_declared_types(conn):
    conn.execute("create table t(i INTEGER, r REAL, s TEXT, b BLOB, ok BOOLEAN, n NUMERIC, x)")
    conn.execute(
        "insert into t values (1, 2.5, 'a', x'00', 1, 3, 'free'), "
        "(null, null, null, null, null, null, null)"
    )
    t = q(conn, "select * from t")
    assert t.schema.types == [
        pa.int64(),
        pa.float64(),
        pa.string(),
        pa.binary(),
        pa.bool_(),
        pa.int64(),
        pa.string(),
    ]
    assert t.to_pydict() == {
        "i": [1, None],
        "r": [2.5, None],
        "s": ["a", None],
        "b": [b"\x00", None],
        "ok": [True, None],
        "n": [3, None],
        "x": ["free", None],
    }


def test_empty_result_keeps_declared_schema(conn):
    conn.execute("create table t(i INTEGER, r REAL, s TEXT, b BLOB, v float[3])")
    t = q(conn, "select * from t")
    assert t.num_rows == 0
    assert t.schema.types == [
        pa.int64(),
        pa.float64(),
        pa.string(),
        pa.binary(),
        pa.list_(pa.float32(), 3),
    ]


def test_promotion_int_float_text(conn):
    conn.execute("create table t(a, b, c)")
    conn.executemany(
        "insert into t values (?, ?, ?)",
        [(1, 1, None), (2, 2.5, 3), (None, 3, "x"), (4, None, 4.5)],
    )
    t = q(conn, "select * from t")
    assert t.schema.types == [pa.int64(), pa.float64(), pa.string()]
    assert t.to_pydict() == {
        "a": [1, 2, None, 4],
        "b": [1.0, 2.5, 3.0, None],
        "c": [None, "3", "x", "4.5"],
    }


def test_declared_integer_holding_text_is_promoted(conn):
    conn.execute("create table t(i INTEGER)")
    conn.executemany("insert into t values (?)", [(1,), ("abc",), (2.5,)])
    t = q(conn, "select i from t")
    assert t.column(0).to_pylist() == ["1", "abc", "2.5"]


def test_blob_mixed_with_numbers_is_a_clear_error(conn):
    conn.execute("create table t(x)")
    conn.executemany("insert into t values (?)", [(1,), (b"\x01",)])
    with pytest.raises(sqlite3.OperationalError, match='column "x".*BLOB'):
        q(conn, "select x from t")


def test_params_and_expressions(conn):
    t = q(conn, "select ? as a, ? as b, ? as c, ? as d, ? as e", [1, 2.5, "s", b"b", None])
    assert t.to_pylist() == [{"a": 1, "b": 2.5, "c": "s", "d": b"b", "e": None}]
    assert t.schema.field("e").type == pa.null()
    with pytest.raises(sqlite3.OperationalError):
        q(conn, "select * from missing_table")
    with pytest.raises(TypeError):
        q(conn, "select ?", [object()])


def test_many_rows_in_batches(conn):
    conn.execute("create table t(i INTEGER, s TEXT)")
    conn.executemany("insert into t values (?, ?)", [(i, str(i)) for i in range(200_000)])
    r = sqlite_quiver.query_arrow(conn, "select * from t order by i")
    assert r.num_rows == 200_000
    t = r.to_pyarrow()
    assert len(t.to_batches()) >= 3
    assert t.column("i").to_pylist() == list(range(200_000))
    assert t.column("s")[123456].as_py() == "123456"


def test_result_is_a_stream_for_pyarrow_and_polars(conn):
    r = sqlite_quiver.query_arrow(conn, "select 1 as a, 'x' as b")
    assert pa.table(r).to_pydict() == {"a": [1], "b": ["x"]}
    df = r.to_polars()
    assert isinstance(df, pl.DataFrame)
    assert df.to_dict(as_series=False) == {"a": [1], "b": ["x"]}
    assert pl.DataFrame(r).shape == (1, 2)  # polars reads __arrow_c_stream__ directly
    assert len(r) == 1 and r.column_names == ["a", "b"]


def test_query_arrow_on_arrow_table(conn):
    src = pa.table({"a": [3, 1, 2], "v": pa.array([[1, 2]] * 3, pa.list_(pa.float32(), 2))})
    sqlite_quiver.register_arrow(conn, "t", src)
    t = q(conn, "select a from t where a > 1 order by a")
    assert t.column(0).to_pylist() == [2, 3]


# ---- insert_arrow -------------------------------------------------------------------


def sample():
    return pa.table(
        {
            "i": pa.array([1, None, 3], pa.int64()),
            "i32": pa.array([1, 2, None], pa.int32()),
            "f": [0.5, None, -1.25],
            "s": ["a", None, "ç"],
            "b": pa.array([b"\x00", None, b"zz"], pa.binary()),
            "ok": [True, False, None],
            "v": pa.array([[1, 2], None, [3, 4]], pa.list_(pa.float32(), 2)),
            "d": pa.array(
                [decimal.Decimal("1.10"), None, decimal.Decimal("-3.00")], pa.decimal128(6, 2)
            ),
            "day": pa.array([dt.date(2024, 1, 1), None, dt.date(2024, 12, 31)]),
        }
    )


def test_round_trip_create_then_query(conn):
    src = sample()
    assert sqlite_quiver.insert_arrow(conn, "t", src, mode="create") == 3
    back = q(conn, "select * from t")
    assert back.schema.types == [
        pa.int64(),
        pa.int64(),
        pa.float64(),
        pa.string(),
        pa.binary(),
        pa.bool_(),
        pa.list_(pa.float32(), 2),
        pa.string(),
        pa.string(),
    ]
    for name in ["i", "f", "s", "b", "ok", "v"]:
        assert back.column(name).to_pylist() == src.column(name).to_pylist(), name
    assert back.column("i32").to_pylist() == [1, 2, None]
    assert back.column("d").to_pylist() == ["1.10", None, "-3.00"]
    assert back.column("day").to_pylist() == ["2024-01-01", None, "2024-12-31"]
    assert conn.execute("select typeof(d), typeof(ok) from t limit 1").fetchone() == (
        "text",
        "integer",
    )


def test_round_trip_polars(conn):
    df = pl.DataFrame(
        {
            "a": [1, 2, None],
            "s": ["x", None, "z"],
            "c": pl.Series(["u", "v", "u"], dtype=pl.Categorical),
            "f": [1.5, 2.5, None],
        }
    )
    assert sqlite_quiver.insert_arrow(conn, "t", df, mode="create") == 3
    back = sqlite_quiver.query_arrow(conn, "select * from t").to_polars()
    assert back["a"].to_list() == [1, 2, None]
    assert back["s"].to_list() == ["x", None, "z"]
    assert back["c"].to_list() == ["u", "v", "u"]
    assert back["f"].to_list() == [1.5, 2.5, None]


def test_append_and_replace(conn):
    conn.execute("create table t(id INTEGER PRIMARY KEY, name TEXT, extra TEXT)")
    assert sqlite_quiver.insert_arrow(conn, "t", pa.table({"id": [1], "name": ["a"]})) == 1
    assert sqlite_quiver.insert_arrow(conn, "t", pl.DataFrame({"NAME": ["b"], "id": [2]})) == 1
    assert conn.execute("select * from t order by id").fetchall() == [
        (1, "a", None),
        (2, "b", None),
    ]
    assert sqlite_quiver.insert_arrow(conn, "t", pa.table({"z": [9]}), mode="replace") == 1
    assert conn.execute("select * from t").fetchall() == [(9,)]


def test_failure_rolls_back_everything(conn):
    conn.execute("create table t(id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    conn.execute("insert into t values (1, 'keep')")
    conn.commit()
    bad = pa.table({"id": list(range(2, 1000)) + [1], "name": ["n"] * 999})  # last row clashes
    with pytest.raises(sqlite3.OperationalError, match="UNIQUE"):
        sqlite_quiver.insert_arrow(conn, "t", bad)
    assert conn.execute("select count(*) from t").fetchone() == (1,)
    with pytest.raises(sqlite3.OperationalError, match="NOT NULL"):
        sqlite_quiver.insert_arrow(conn, "t", pa.table({"id": [5, 6], "name": ["x", None]}))
    assert conn.execute("select * from t").fetchall() == [(1, "keep")]
    # replace that fails keeps the old table
    with pytest.raises(sqlite3.OperationalError):
        sqlite_quiver.insert_arrow(
            conn, "t", pa.table({"a": pa.array([2**64 - 1], pa.uint64())}), mode="replace"
        )
    assert conn.execute("select * from t").fetchall() == [(1, "keep")]


def rendered_sample(n: int) -> pa.Table:
    """Columns that insert_arrow renders to text ahead of SQLite, over several chunks
    (more than 65,536 rows), with NULLs and several batches of uneven sizes."""
    ids = list(range(n))
    ts = [None if i % 97 == 0 else i * 1_000_003 for i in ids]
    table = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "ts": pa.array(ts, pa.timestamp("us")),
            "tz": pa.array(ts, pa.timestamp("ms", tz="+02:00")),
            "day": pa.array([None if i % 89 == 0 else i - 40_000 for i in ids], pa.date32()),
            "d": pa.array(
                [None if i % 83 == 0 else decimal.Decimal(i) / 100 for i in ids],
                pa.decimal128(12, 2),
            ),
            "l": pa.array([None if i % 79 == 0 else [i, -i] for i in ids], pa.list_(pa.int64())),
        }
    )
    return pa.Table.from_batches(table.to_batches(max_chunksize=50_001))


def test_rendered_columns_over_many_chunks_match_the_arrow_table(conn):
    src = rendered_sample(200_003)
    sqlite_quiver.register_arrow(conn, "src", src)
    assert sqlite_quiver.insert_arrow(conn, "t", src, mode="create") == 200_003
    # Same text, same order, as SQLite reads through the Arrow table itself.
    assert conn.execute(
        "select count(*) from t join src on t.rowid = src.rowid + 1 "
        "where t.id is src.id and t.ts is src.ts and t.tz is src.tz and t.day is src.day "
        "and t.d is src.d and t.l is src.l"
    ).fetchone() == (200_003,)
    epoch = dt.datetime(1970, 1, 1)
    at = epoch + dt.timedelta(microseconds=100_000 * 1_000_003)
    assert conn.execute("select ts, tz, day, d, l from t where id = 100000").fetchone() == (
        at.isoformat(sep=" ", timespec="microseconds"),
        (epoch + dt.timedelta(milliseconds=100_000 * 1_000_003, hours=2)).isoformat(
            sep=" ", timespec="milliseconds"
        )
        + "+02:00",
        (epoch + dt.timedelta(days=60_000)).date().isoformat(),
        "1000.00",
        "[100000,-100000]",
    )
    assert conn.execute(
        "select count(*) - count(ts), count(*) - count(day), count(*) - count(l) from t"
    ).fetchone() == (
        sum(1 for i in range(200_003) if i % 97 == 0),
        sum(1 for i in range(200_003) if i % 89 == 0),
        sum(1 for i in range(200_003) if i % 79 == 0),
    )
    # The hidden ingest table is gone.
    assert conn.execute(
        "select count(*) from temp.sqlite_master where name like '__quiver_ingest%'"
    ).fetchone() == (0,)


def test_rendered_ingest_failing_in_a_late_chunk_rolls_everything_back(conn):
    conn.execute("create table t(id INTEGER PRIMARY KEY, ts TEXT)")
    conn.execute("insert into t values (150000, 'keep')")
    conn.commit()
    src = rendered_sample(200_000).select(["id", "ts"])
    with pytest.raises(sqlite3.OperationalError, match="UNIQUE"):
        sqlite_quiver.insert_arrow(conn, "t", src)
    assert conn.execute("select * from t").fetchall() == [(150000, "keep")]
    assert conn.execute(
        "select count(*) from temp.sqlite_master where name like '__quiver_ingest%'"
    ).fetchone() == (0,)
    # The connection is usable and a clean ingest still works afterwards.
    conn.execute("delete from t")
    assert sqlite_quiver.insert_arrow(conn, "t", src) == 200_000
    assert conn.execute("select max(id), count(ts) from t").fetchone() == (
        199_999,
        200_000 - len(range(0, 200_000, 97)),
    )


def test_schema_mismatch_on_append(conn):
    conn.execute("create table t(a INTEGER)")
    with pytest.raises(sqlite3.OperationalError, match='column "b".*not in table'):
        sqlite_quiver.insert_arrow(conn, "t", pa.table({"a": [1], "b": [2]}))
    with pytest.raises(sqlite3.OperationalError, match="cannot append"):
        sqlite_quiver.insert_arrow(conn, "missing", pa.table({"a": [1]}))
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        sqlite_quiver.insert_arrow(conn, "t", pa.table({"a": [1]}), mode="create")
    with pytest.raises(ValueError, match="mode"):
        sqlite_quiver.insert_arrow(conn, "t", pa.table({"a": [1]}), mode="upsert")
    with pytest.raises(TypeError):
        sqlite_quiver.insert_arrow(conn, "t", {"a": [1]})
    assert conn.execute("select count(*) from t").fetchone() == (0,)


def test_nests_in_open_transaction(conn):
    conn.execute("create table t(a INTEGER)")
    conn.execute("begin")
    conn.execute("insert into t values (0)")
    sqlite_quiver.insert_arrow(conn, "t", pa.table({"a": [1, 2]}))
    conn.execute("rollback")
    assert conn.execute("select count(*) from t").fetchone() == (0,)


def test_quoted_table_name(conn):
    name = 'odd "name"; drop'
    sqlite_quiver.insert_arrow(conn, name, pa.table({"a b": [1]}), mode="create")
    assert conn.execute('select "a b" from "odd ""name""; drop"').fetchall() == [(1,)]


def test_insert_into_sqlite_vec_vec0(conn):
    sqlite_vec = pytest.importorskip("sqlite_vec")
    sqlite_quiver.load_extension(conn, sqlite_vec.loadable_path())
    conn.execute("create virtual table v using vec0(embedding float[2], e8 int8[2])")
    data = pa.table(
        {
            "rowid": [1, 2],
            "embedding": pa.array([[1, 2], [3, 4]], pa.list_(pa.float32(), 2)),
            "e8": pa.array([[1, -2], [3, 4]], pa.list_(pa.int8(), 2)),
        }
    )
    assert sqlite_quiver.insert_arrow(conn, "v", data) == 2
    got = conn.execute(
        "select rowid, distance from v where embedding match ? and k = 1", ["[3,4]"]
    ).fetchall()
    assert got == [(2, 0.0)]
    assert conn.execute("select vec_to_json(e8) from v where rowid = 1").fetchone() == ("[1,-2]",)


def test_insert_from_arrow_table_copy(conn):
    src = pa.table({"a": list(range(1000)), "s": [str(i) for i in range(1000)]})
    sqlite_quiver.register_arrow(conn, "src", src)
    conn.execute("create table dst as select * from src where a % 2 = 0")
    assert conn.execute("select count(*), sum(a) from dst").fetchone() == (500, 249500)


def test_schema_override(conn):
    import struct

    conn.execute("create table t(a, b, v)")
    conn.execute(
        "insert into t values (1, 0, ?), (2, 1, ?)",
        [struct.pack("<2f", 1, 2), struct.pack("<2f", 3, 4)],
    )
    schema = pa.schema([("a", pa.float64()), ("b", pa.bool_()), ("v", pa.list_(pa.float32(), 2))])
    t = sqlite_quiver.query_arrow(conn, "select a, b, v from t", schema=schema).to_pyarrow()
    assert t.schema == schema
    assert t.to_pydict() == {"a": [1.0, 2.0], "b": [False, True], "v": [[1, 2], [3, 4]]}
    # vec0-style vectors straight from sqlite-vec BLOBs, int8 too
    conn.execute("create table u(e)")
    conn.execute("insert into u values (x'01fe')")
    u = sqlite_quiver.query_arrow(
        conn, "select e from u", schema=pa.schema([("e", pa.list_(pa.int8(), 2))])
    )
    assert u.to_pyarrow().column(0).to_pylist() == [[1, -2]]


def test_schema_override_errors(conn):
    conn.execute("create table t(a, s)")
    conn.execute("insert into t values (1, 'x')")
    with pytest.raises(sqlite3.OperationalError, match='column "s".*does not fit'):
        sqlite_quiver.query_arrow(conn, "select a, s from t", schema=pa.schema([("s", pa.int64())]))
    with pytest.raises(sqlite3.OperationalError, match='column "zz".*does not return'):
        sqlite_quiver.query_arrow(conn, "select a from t", schema=pa.schema([("zz", pa.int64())]))
    with pytest.raises(sqlite3.OperationalError, match="cannot be requested"):
        sqlite_quiver.query_arrow(conn, "select a from t", schema=pa.schema([("a", pa.int8())]))
    with pytest.raises(sqlite3.OperationalError, match="bytes where 8 were expected"):
        sqlite_quiver.query_arrow(
            conn, "select x'00' as v", schema=pa.schema([("v", pa.list_(pa.float32(), 2))])
        )
    with pytest.raises(TypeError, match="schema"):
        sqlite_quiver.query_arrow(conn, "select 1", schema={"a": "int"})


def test_iterating_batches(conn):
    conn.execute("create table t(i INTEGER)")
    conn.executemany("insert into t values (?)", [(i,) for i in range(70_000)])
    r = sqlite_quiver.query_arrow(conn, "select i from t")
    batches = list(r)
    assert all(isinstance(b, pa.RecordBatch) for b in batches)
    assert sum(b.num_rows for b in batches) == 70_000 and len(batches) == 2


def test_insert_float_vectors_into_sqlite_vec_bulk_path(conn):
    sqlite_vec = pytest.importorskip("sqlite_vec")
    sqlite_quiver.load_extension(conn, sqlite_vec.loadable_path())
    conn.execute("create virtual table v using vec0(embedding float[3])")
    import numpy as np

    emb = np.random.default_rng(0).random((500, 3), dtype=np.float32)
    data = pa.table(
        {
            "rowid": pa.array(range(1, 501)),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb.ravel()), 3),
        }
    )
    assert sqlite_quiver.insert_arrow(conn, "v", data) == 500
    got = conn.execute(
        "select rowid from v where embedding match ? and k = 1", [emb[41].tobytes()]
    ).fetchall()
    assert got == [(42,)]


def test_query_and_insert_from_threads_on_one_connection():
    import threading

    conn = sqlite3.connect(":memory:", check_same_thread=False)
    sqlite_quiver.load(conn)
    sqlite_quiver.insert_arrow(conn, "t", pa.table({"i": list(range(50_000))}), mode="create")
    errors, sums = [], []

    def work(k):
        try:
            for _ in range(5):
                r = sqlite_quiver.query_arrow(conn, "select i from t where i % ? = 0", [k])
                sums.append((k, sum(r.to_pyarrow().column(0).to_pylist())))
                sqlite_quiver.insert_arrow(conn, f"copy{k}", pa.table({"i": [k]}), mode="replace")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in (2, 3, 5)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    for k, total in sums:
        assert total == sum(range(0, 50_000, k))
    assert len(sums) == 15
    conn.close()
