"""The Python paths (insert_arrow, query_arrow) agree with the SQL ones on vec0 tables."""

import numpy as np
import pyarrow as pa
import pytest

import sqlite_quiver


@pytest.fixture
def conn():
    c = sqlite_quiver.connect_with_vec(isolation_level=None)
    yield c
    c.close()


def vectors(rows: np.ndarray) -> pa.Array:
    flat = pa.array(rows.reshape(-1), type=pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, rows.shape[1])


def test_insert_arrow_takes_rowid_column(conn):
    conn.execute("create virtual table v using vec0(e float[2], +note text)")
    rows = np.array([[1, 2], [3, 4], [5, 6]], np.float32)
    table = pa.table({"rowid": [10, 20, 30], "e": vectors(rows), "note": ["a", "b", "c"]})
    assert sqlite_quiver.insert_arrow(conn, "v", table) == 3
    got = conn.execute("select rowid, vec_to_json(e), note from v order by rowid").fetchall()
    assert got == [
        (10, "[1.000000,2.000000]", "a"),
        (20, "[3.000000,4.000000]", "b"),
        (30, "[5.000000,6.000000]", "c"),
    ]
    # Automatic ids continue after the largest one given.
    conn.execute("insert into v(e) values ('[0, 0]')")
    assert conn.execute("select max(rowid) from v").fetchone() == (31,)


@pytest.mark.parametrize("key", ["id integer primary key", "id text primary key"])
def test_insert_arrow_takes_primary_key_column(conn, key):
    conn.execute(f"create virtual table v using vec0(e float[2], {key})")
    ids = [5, 6] if "integer" in key else ["x", "y"]
    table = pa.table({"id": ids, "e": vectors(np.eye(2, dtype=np.float32))})
    sqlite_quiver.insert_arrow(conn, "v", table)
    assert conn.execute("select id, vec_to_json(e) from v order by id").fetchall() == [
        (ids[0], "[1.000000,0.000000]"),
        (ids[1], "[0.000000,1.000000]"),
    ]


def test_query_arrow_returns_vectors_as_fixed_size_lists(conn):
    conn.execute("create virtual table v using vec0(e float[3], q int8[2], b bit[8], n integer)")
    conn.execute(
        "insert into v values (1, '[1, 2, 3]', vec_int8('[1, -2]'), vec_bit(X'0F'), 7), "
        "(2, '[4, 5, 6]', vec_int8('[3, 4]'), vec_bit(X'F0'), NULL)"
    )
    t = sqlite_quiver.query_arrow(conn, "select * from v").to_pyarrow()
    assert t.schema.field("e").type == pa.list_(pa.float32(), 3)
    assert t.schema.field("q").type == pa.list_(pa.int8(), 2)
    assert t.schema.field("b").type == pa.binary()
    assert t.to_pydict() == {
        "rowid": [1, 2],
        "e": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
        "q": [[1, -2], [3, 4]],
        "b": [b"\x0f", b"\xf0"],
        "n": [7, None],
    }
    df = sqlite_quiver.query_arrow(conn, "select e from v").to_polars()
    assert str(df.schema["e"]).startswith("Array(Float32")
    # A KNN query gives the same types.
    t = sqlite_quiver.query_arrow(
        conn, "select rowid, e, distance from v where e match '[1, 2, 3]' and k = 1"
    ).to_pyarrow()
    assert t.schema.field("e").type == pa.list_(pa.float32(), 3)
    assert t.column("e").to_pylist() == [[1.0, 2.0, 3.0]]


def test_query_arrow_vectors_after_nulls_and_of_mixed_lengths(conn):
    t = sqlite_quiver.query_arrow(
        conn, "select NULL as v union all select vec_f32('[1, 2]')"
    ).to_pyarrow()
    assert t.schema.field("v").type == pa.list_(pa.float32(), 2)
    assert t.column("v").to_pylist() == [None, [1.0, 2.0]]
    # Another length later: the column is binary, every value kept.
    t = sqlite_quiver.query_arrow(
        conn,
        "select vec_f32('[1, 2]') as v union all select vec_f32('[1, 2, 3]') union all select NULL",
    ).to_pyarrow()
    assert t.schema.field("v").type == pa.binary()
    assert t.column("v").to_pylist() == [
        np.array([1, 2], np.float32).tobytes(),
        np.array([1, 2, 3], np.float32).tobytes(),
        None,
    ]


def test_query_arrow_takes_numpy_parameters_like_execute(conn):
    conn.execute("create virtual table v using vec0(e float[2], q int8[2])")
    conn.execute(
        "insert into v values (1, '[1, 0]', vec_int8('[1, 1]')), (2, '[0, 1]', vec_int8('[-1, 1]'))"
    )
    sql = "select rowid, distance from v where e match ? and k = 1"
    query = np.array([0.1, 0.9], np.float32)
    expected = conn.execute(sql, [query]).fetchall()
    t = sqlite_quiver.query_arrow(conn, sql, [query]).to_pyarrow()
    assert list(zip(*t.to_pydict().values())) == expected == [(2, pytest.approx(0.1414, 1e-3))]
    sql = "select rowid from v where q match vec_int8(?) and k = 1"
    int8_query = np.array([-1, 1], np.int8)
    assert sqlite_quiver.query_arrow(conn, sql, (int8_query,)).to_pyarrow().to_pydict() == {
        "rowid": [2]
    }
