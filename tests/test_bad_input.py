"""Every bad input is an SQLite error naming the argument, what was expected and what came."""

import sqlite3

import numpy as np
import pytest
from conftest import one

BAD = [
    # (sql, params, pattern in the message)
    ("select vec_f32(?)", [b"\x00\x00\x80"], r"vec_f32: argument 1: .*multiple of 4.*got 3 bytes"),
    ("select vec_f32('[1,2')", [], r"vec_f32: argument 1: .*JSON"),
    ("select vec_f32('[1,,2]')", [], r"vec_f32: argument 1: .*JSON"),
    ("select vec_f32('[1,2,]')", [], r"vec_f32: argument 1: .*JSON"),
    ("select vec_f32('[1, \"a\"]')", [], r"vec_f32: argument 1: .*JSON"),
    ("select vec_f32('abc')", [], r"vec_f32: argument 1: .*JSON"),
    ("select vec_f32('[1] x')", [], r"vec_f32: argument 1: .*JSON"),
    ("select vec_f32('[]')", [], r"vec_f32: argument 1: .*empty"),
    ("select vec_f32('[1e999]')", [], r"vec_f32: argument 1: .*(inf|finite|range)"),
    (
        "select vec_f32(?)",
        [np.array([1, np.nan], np.float32).tobytes()],
        r"vec_f32: argument 1: .*finite.*NaN",
    ),
    (
        "select vec_f32(?)",
        [np.array([np.inf], np.float32).tobytes()],
        r"vec_f32: argument 1: .*finite.*inf",
    ),
    ("select vec_f32(NULL)", [], r"vec_f32: argument 1: expected a vector.*got NULL"),
    ("select vec_f32(42)", [], r"vec_f32: argument 1: expected a vector.*got the integer 42"),
    (
        "select vec_f32(vec_int8('[1]'))",
        [],
        r"vec_f32: argument 1: expected a float32 vector, got an? int8",
    ),
    ("select vec_int8('[1, 300]')", [], r"vec_int8: argument 1: .*300"),
    ("select vec_int8('[1.5]')", [], r"vec_int8: argument 1: .*1.5"),
    ("select vec_int8(vec_f32('[1]'))", [], r"vec_int8: argument 1: expected an int8 vector"),
    ("select vec_bit('[1,0]')", [], r"vec_bit: argument 1: expected a bit vector BLOB, got text"),
    (
        "select vec_distance_l2('[1,2]', '[1,2,3]')",
        [],
        r"vec_distance_l2: expected two vectors of the same type and dimensions, got a float32 vector of 2 dimensions \(argument 1\) and a float32 vector of 3 dimensions \(argument 2\)",
    ),
    (
        "select vec_distance_l2('[1,2]', vec_int8('[1,2]'))",
        [],
        r"vec_distance_l2: expected two vectors of the same type.*float32.*int8 vector",
    ),
    ("select vec_distance_l2(NULL, '[1]')", [], r"vec_distance_l2: argument 1: .*NULL"),
    ("select vec_distance_l2('[1]', NULL)", [], r"vec_distance_l2: argument 2: .*NULL"),
    ("select vec_distance_cosine(vec_bit(X'0F'), vec_bit(X'F0'))", [], r"bit vectors"),
    (
        "select vec_distance_hamming('[1,2]', '[1,2]')",
        [],
        r"vec_distance_hamming: argument 1: expected a bit vector",
    ),
    (
        "select vec_distance_hamming(vec_bit(X'0F'), vec_bit(X'0F0F'))",
        [],
        r"got a bit vector of 8 dimensions \(argument 1\) and a bit vector of 16",
    ),
    (
        "select vec_distance_l2(?, '[1]')",
        [np.array([np.nan], np.float32).tobytes()],
        r"vec_distance_l2: argument 1: .*NaN",
    ),
    (
        "select vec_distance_l1('[1]', ?)",
        [np.array([np.inf], np.float32).tobytes()],
        r"vec_distance_l1: argument 2: .*inf",
    ),
    (
        "select vec_add(vec_int8('[100]'), vec_int8('[100]'))",
        [],
        r"vec_add: element 0 is 200, outside the int8 range",
    ),
    ("select vec_sub(vec_int8('[-100]'), vec_int8('[100]'))", [], r"vec_sub: element 0 is -200"),
    ("select vec_add(vec_bit(X'01'), vec_bit(X'01'))", [], r"bit vectors"),
    ("select vec_add('[3e38]', '[3e38]')", [], r"overflows float32"),
    ("select vec_normalize('[0,0]')", [], r"zero vector"),
    ("select vec_normalize(vec_int8('[1]'))", [], r"expected a float32 vector, got an? int8"),
    ("select vec_slice('[1,2,3]', -1, 2)", [], r"vec_slice: argument 2: .*got -1"),
    ("select vec_slice('[1,2,3]', 1, 1)", [], r"vec_slice: argument 3: .*got 1"),
    ("select vec_slice('[1,2,3]', 0, 4)", [], r"vec_slice: argument 3: .*got 4"),
    (
        "select vec_slice('[1,2,3]', '0', 2)",
        [],
        r"vec_slice: argument 2: expected an integer start",
    ),
    ("select vec_slice(vec_bit(X'0F0F'), 1, 8)", [], r"multiples of 8"),
    ("select vec_quantize_binary('[1,2,3]')", [], r"divisible by 8"),
    (
        "select vec_quantize_int8('[1,2]', 'foo')",
        [],
        r"vec_quantize_int8: argument 2: expected the range 'unit'.*'foo'",
    ),
    ("select vec_quantize_int8(vec_int8('[1]'), 'unit')", [], r"expected a float32 vector"),
    ("select vec_length(?)", [b"\x00" * (4 * 65537)], r"at most 65536 dimensions, got 65537"),
    ("select vec_length(X'')", [], r"empty"),
    ("select vec_length(?)", [b"\xff\xfe"], r"multiple of 4"),
    ("select vec_to_json(?)", [b"\xff\xfe\xfd"], r"multiple of 4"),
    ("select * from vec_each('[1,')", [], r"vec_each: .*JSON"),
    ("select * from vec_each(NULL)", [], r"vec_each: expected a vector"),
]


@pytest.mark.parametrize("sql,params,pattern", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_clear_error(conn, sql, params, pattern):
    with pytest.raises(sqlite3.OperationalError, match=pattern):
        conn.execute(sql, params).fetchall()


def test_failed_statement_keeps_earlier_data(conn):
    conn.execute("create table t(id integer primary key, v blob)")
    conn.execute("insert into t values (1, vec_f32('[1,2]'))")
    conn.commit()
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("insert into t values (2, vec_f32('[1,2')), (3, vec_f32('[3]'))")
    conn.commit()
    assert conn.execute("select id, vec_to_json(v) from t").fetchall() == [
        (1, "[1.000000,2.000000]")
    ]


def test_numpy_parameter_of_wrong_dtype_is_refused(conn):
    with pytest.raises((sqlite3.ProgrammingError, TypeError), match=r"float64|astype|probably"):
        conn.execute("select vec_length(?)", [np.zeros(3)]).fetchall()


def test_bad_input_in_a_table_scan_names_the_argument(conn):
    conn.execute("create table t(v)")
    conn.execute("insert into t values ('[1,2]'), ('[1,2,3]')")
    with pytest.raises(
        sqlite3.OperationalError,
        match="float32 vector of 3 dimensions \\(argument 1\\) and a float32 vector of 2",
    ):
        conn.execute("select vec_distance_l2(v, '[0,0]') from t").fetchall()
    assert one(conn, "select count(*) from t") == 2
