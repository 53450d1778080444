"""The same SQL gives the same results as sqlite-vec 0.1.9 (loaded in its own connection)."""

import re
import sqlite3

import numpy as np
import pytest

import sqlite_quiver

sqlite_vec = pytest.importorskip("sqlite_vec")

EXPRESSIONS = [
    "vec_to_json(vec_f32('[1, 2.5, -3]'))",
    "hex(vec_f32('[1, 2.5, -3]'))",
    "hex(vec_int8('[1, -2, 127, -128]'))",
    "vec_to_json(vec_int8('[1, -2]'))",
    "vec_to_json(vec_bit(X'0FA0'))",
    "vec_length('[1,2,3]')",
    "vec_length(vec_bit(X'0F0F'))",
    "vec_type(vec_int8('[1]'))",
    "vec_type(vec_bit(X'01'))",
    "vec_type(X'0000803F')",
    "vec_to_json(vec_normalize('[2,3,1,-4]'))",
    "vec_to_json(vec_add('[1,2]', '[3,4]'))",
    "vec_to_json(vec_sub('[1,2]', '[3,4]'))",
    "vec_to_json(vec_add(vec_int8('[1,2]'), vec_int8('[3,4]')))",
    "vec_to_json(vec_slice('[1,2,3,4]', 1, 3))",
    "vec_to_json(vec_slice(vec_bit(X'0F0F'), 0, 8))",
    "vec_distance_l2('[1,2]', '[4,6]')",
    "vec_distance_l1('[1,2]', '[4,6]')",
    "vec_distance_l1(vec_int8('[1,2]'), vec_int8('[4,6]'))",
    "vec_distance_l2(vec_int8('[1,2]'), vec_int8('[4,6]'))",
    "vec_distance_cosine('[1,2,3]', '[3,2,1]')",
    "vec_distance_cosine('[0,0]', '[1,2]')",
    "vec_distance_hamming(vec_bit(X'0F'), vec_bit(X'F0'))",
    "hex(vec_quantize_binary('[1,2,3,4,-5,-6,-7,-8]'))",
    "vec_to_json(vec_quantize_int8('[0.1,-0.5,1,-1]', 'unit'))",
    "vec_to_json(vec_quantize_int8('[0.2, 0.3, -0.2, 0.9, 0.8, 0.6, 0.5, -0.99]', 'unit'))",
    "vec_to_json('[1e30, 1.5, -0.0, 123456789]')",
    "vec_to_json('[0.1, 0.2, 0.3]')",
    # Every decimal number form C's strtod reads (sqlite-vec parses JSON with it).
    "vec_to_json(vec_f32('[.1, .2, .3, 4]'))",
    "vec_to_json('[-.5, 5., +1, 01, -007.50, 1.e1, .5E-1, +2e+0, 1e-60]')",
    "vec_to_json(' \t[ 1 , 2 ]\n')",
    "vec_to_json(vec_int8('[+1, 01, -007]'))",
    "vec_length('[.5]')",
    "vec_distance_l2('[.5, -.5]', '[5., +1]')",
]

# Malformed or non-finite input that both engines refuse, with the same exception class.
REFUSED_BY_BOTH = [
    "vec_f32('[.]')",
    "vec_f32('[+]')",
    "vec_f32('[-]')",
    "vec_f32('[.e1]')",
    "vec_f32('[]')",
    "vec_f32('abc')",
    "vec_f32('[x]')",
    "vec_f32('[1e999]')",
    "vec_int8('[1.5]')",
    "vec_int8('[5.]')",
    "vec_int8('[300]')",
]

# sqlite-vec accepts these (its parser skips stray commas, reads hex floats and rounds
# 1e39 to infinity); quiver refuses them: README's differences table lists each kind.
ACCEPTED_ONLY_BY_SQLITE_VEC = [
    "vec_f32('[1,,2]')",
    "vec_f32('[1 2]')",
    "vec_f32('[1,2')",
    "vec_f32('[0x10]')",
    "vec_f32('[1e39]')",
    "vec_f32('[NaN]')",
]


@pytest.fixture(scope="module")
def pair():
    ours = sqlite3.connect(":memory:")
    sqlite_quiver.load(ours)
    theirs = sqlite3.connect(":memory:")
    sqlite_quiver.load_extension(theirs, sqlite_vec.loadable_path())
    return ours, theirs


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-6, abs=1e-7)
    return a == b and type(a) is type(b)


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_same_result_as_sqlite_vec(pair, expr):
    ours, theirs = pair
    sql = f"select {expr}"
    a = ours.execute(sql).fetchone()[0]
    b = theirs.execute(sql).fetchone()[0]
    assert same(a, b), (a, b)


def test_vec_each_same_rows(pair):
    for arg in ["'[1,2.5,-3]'", "vec_int8('[5,-6]')"]:
        sql = f"select rowid, value from vec_each({arg})"
        ours, theirs = pair
        assert ours.execute(sql).fetchall() == theirs.execute(sql).fetchall()


def test_vec_each_bits_follow_the_bit_order_of_vec_to_json(pair):
    # sqlite-vec walks bits MSB-first in vec_each but LSB-first everywhere else
    # (vec_to_json, vec_quantize_binary); sqlite-quiver is LSB-first throughout.
    ours, theirs = pair
    each = [v for (v,) in ours.execute("select value from vec_each(vec_bit(X'05'))")]
    assert each == [1, 0, 1, 0, 0, 0, 0, 0]
    assert (
        str(each).replace(" ", "")
        == theirs.execute("select vec_to_json(vec_bit(X'05'))").fetchone()[0]
    )
    theirs_each = [v for (v,) in theirs.execute("select value from vec_each(vec_bit(X'05'))")]
    assert theirs_each == each[::-1]


@pytest.mark.parametrize("metric", ["l2", "l1", "cosine"])
def test_random_distances_match(pair, metric):
    ours, theirs = pair
    rng = np.random.default_rng(7)
    for dim in (3, 17, 128, 768):
        a = rng.standard_normal(dim).astype(np.float32).tobytes()
        b = rng.standard_normal(dim).astype(np.float32).tobytes()
        sql = f"select vec_distance_{metric}(?, ?)"
        x = ours.execute(sql, [a, b]).fetchone()[0]
        y = theirs.execute(sql, [a, b]).fetchone()[0]
        assert x == pytest.approx(y, rel=1e-5, abs=1e-6)


def outcome(conn: sqlite3.Connection, sql: str, params: tuple = ()) -> object:
    """The rows `sql` returns, or the class of the exception it raises."""
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.Error as e:
        return type(e)


@pytest.mark.parametrize("expr", REFUSED_BY_BOTH)
def test_refused_by_both(pair, expr):
    ours, theirs = pair
    sql = f"select {expr}"
    assert outcome(ours, sql) is sqlite3.OperationalError
    assert outcome(theirs, sql) is sqlite3.OperationalError


@pytest.mark.parametrize("expr", ACCEPTED_ONLY_BY_SQLITE_VEC)
def test_malformed_json_accepted_only_by_sqlite_vec(pair, expr):
    ours, theirs = pair
    sql = f"select {expr}"
    assert isinstance(outcome(theirs, sql), list)
    with pytest.raises(sqlite3.OperationalError, match="invalid JSON vector|float32 range|finite"):
        ours.execute(sql)


def fresh_pair() -> tuple[sqlite3.Connection, sqlite3.Connection]:
    """New in-memory connections: quiver's and sqlite-vec 0.1.9's (autocommit)."""
    ours = sqlite3.connect(":memory:", isolation_level=None)
    sqlite_quiver.load(ours)
    theirs = sqlite3.connect(":memory:", isolation_level=None)
    sqlite_quiver.load_extension(theirs, sqlite_vec.loadable_path())
    return ours, theirs


def run_both(script: list[str]) -> tuple[list[object], list[object]]:
    """Runs each statement on both engines; the outcome of each (rows or error class)."""
    ours, theirs = fresh_pair()
    return [outcome(ours, s) for s in script], [outcome(theirs, s) for s in script]


@pytest.mark.parametrize(
    "definition",
    [
        "e float[4] distance_metric = cosine",
        "e float[4] distance_metric= cosine",
        "e float[4] distance_metric =cosine",
        "e float[4] distance_metric=cosine",
        "e float[4] distance_metric = L1",
        "e float [4] distance_metric=cosine",
        "e float[ 4 ]",
    ],
)
def test_vector_column_options_with_spaces(definition):
    a, b = run_both(
        [
            f"create virtual table v using vec0({definition})",
            "insert into v(rowid, e) values (1, '[1, 0, 0, 0]'), (2, '[1, 1, 0, 0]'), "
            "(3, '[0, 0, 0, 1]')",
            "select rowid, round(distance, 5) from v where e match '[1, 0.3, 0, 0]' and k = 3",
        ]
    )
    assert a == b
    assert len(a[-1]) == 3


@pytest.mark.parametrize("ty", ["float", "f32", "float4", "int8", "i8", "bit", "bits"])
def test_vector_type_names_sqlite_vec_accepts(ty):
    blob = "vec_bit(X'F0')" if ty.startswith("bit") else "'[1, -2, 3, 4, 5, 6, 7, 8]'"
    if ty in ("int8", "i8"):
        blob = f"vec_int8({blob})"
    a, b = run_both(
        [
            f"create virtual table v using vec0(e {ty}[8])",
            f"insert into v(rowid, e) values (1, {blob})",
            "select rowid, hex(e), vec_type(e) from v",
        ]
    )
    assert a == b
    assert len(a[-1]) == 1


@pytest.mark.parametrize("ty", ["float8", "float16", "float64"])
def test_vector_types_sqlite_vec_silently_stores_as_float32(ty):
    ours, theirs = fresh_pair()
    theirs.execute(f"create virtual table v using vec0(e {ty}[2])")
    theirs.execute("insert into v(rowid, e) values (1, '[0.1, 0.2]')")
    # sqlite-vec stores 4-byte floats whatever the declared width.
    assert theirs.execute("select length(e) from v").fetchone() == (8,)
    with pytest.raises(sqlite3.OperationalError, match=rf"'{ty}'.*write float\[N\]"):
        ours.execute(f"create virtual table v using vec0(e {ty}[2])")


def test_metadata_type_aliases():
    a, b = run_both(
        [
            "create virtual table v using vec0(e float[1], n int64, x float64, y f64, m integer64)",
            "insert into v(rowid, e, n, x, y, m) values (1, '[1]', 5, 0.5, 1.5, 7)",
            "select rowid, n, x, y, m from v where e match '[1]' and k = 1 and n = 5",
        ]
    )
    assert a == b
    assert a[-1] == [(1, 5, 0.5, 1.5, 7)]


def test_vec_debug_has_sqlite_vec_lines(pair):
    ours, theirs = pair
    mine = ours.execute("select vec_debug()").fetchone()[0].split("\n")
    reference = theirs.execute("select vec_debug()").fetchone()[0].split("\n")
    assert [line.split(":")[0] for line in mine] == [line.split(":")[0] for line in reference]
    assert mine[0] == "Version: " + ours.execute("select vec_version()").fetchone()[0]
    assert mine[3] == "Build flags: " + ours.execute("select quiver_kernels()").fetchone()[0]


def test_insert_or_ignore_counts_no_change_like_a_plain_table():
    ours, theirs = fresh_pair()
    plain = sqlite3.connect(":memory:", isolation_level=None)
    plain.execute("create table v(e)")
    ours.execute("create virtual table v using vec0(e float[2])")
    for conn in (ours, plain):
        conn.execute("insert into v(rowid, e) values (1, '[1, 1]')")
        cur = conn.execute("insert or ignore into v(rowid, e) values (1, '[2, 2]')")
        assert (cur.rowcount, conn.execute("select changes()").fetchone()[0]) == (0, 0)
        cur = conn.execute("insert or ignore into v(rowid, e) values (2, '[2, 2]')")
        assert (cur.rowcount, conn.execute("select changes()").fetchone()[0]) == (1, 1)
        cur = conn.execute("update or ignore v set rowid = 2 where rowid = 1")
        assert (cur.rowcount, conn.execute("select changes()").fetchone()[0]) == (0, 0)
        assert conn.execute("select rowid from v order by rowid").fetchall() == [(1,), (2,)]
    # sqlite-vec 0.1.9 refuses the duplicate instead of ignoring it (README lists this).
    theirs.execute("create virtual table v using vec0(e float[2])")
    theirs.execute("insert into v(rowid, e) values (1, '[1, 1]')")
    with pytest.raises(sqlite3.OperationalError, match="UNIQUE constraint failed"):
        theirs.execute("insert or ignore into v(rowid, e) values (1, '[2, 2]')")


NAN_BLOB = np.array([1, np.nan, 3, 4], dtype=np.float32).tobytes()
INF_BLOB = np.array([1, np.inf, 3, 4], dtype=np.float32).tobytes()
NEG_INF_BLOB = np.array([1, -np.inf, 3, 4], dtype=np.float32).tobytes()


@pytest.mark.parametrize(
    "sql",
    [
        "select vec_length(?)",
        "select vec_type(?)",
        "select vec_to_json(?)",
        "select vec_slice(?, 0, 2)",
        "select vec_normalize(?)",
        "select vec_quantize_int8(?, 'unit')",
        "select vec_add(?, '[1, 2, 3, 4]')",
        "select vec_distance_l2(?, '[1, 2, 3, 4]')",
        "select vec_distance_cosine('[1, 2, 3, 4]', ?)",
        "select vec_f32(?)",
        "select value from vec_each(?)",
    ],
)
@pytest.mark.parametrize(
    ("blob", "name"), [(NAN_BLOB, "NaN"), (INF_BLOB, "Inf"), (NEG_INF_BLOB, "Inf")]
)
def test_non_finite_blobs_refused_everywhere(pair, sql, blob, name):
    # sqlite-vec refuses them in its newer releases ("invalid float32 vector: element 1
    # is NaN"); 0.1.9 still accepts most (README lists NaN as a difference).
    ours, _ = pair
    with pytest.raises(
        sqlite3.OperationalError, match=rf"invalid float32 vector: element \d is -?{name}"
    ):
        ours.execute(sql, [blob]).fetchall()


@pytest.mark.parametrize(
    "script",
    [
        # The max rowid deleted: the next automatic one is still max-ever + 1.
        [
            "insert into v(e) values ('[1,1]'), ('[2,2]'), ('[3,3]')",
            "delete from v where rowid = 3",
            "insert into v(e) values ('[4,4]')",
        ],
        # An explicit rowid raises the mark even after it is deleted.
        [
            "insert into v(rowid, e) values (10, '[1,1]')",
            "delete from v where rowid = 10",
            "insert into v(e) values ('[2,2]')",
        ],
        # Everything deleted.
        [
            "insert into v(e) values ('[1,1]'), ('[2,2]')",
            "delete from v",
            "insert into v(e) values ('[3,3]')",
            "insert into v(e) values ('[4,4]')",
        ],
        # A rolled-back insert does not raise the mark (as AUTOINCREMENT).
        [
            "insert into v(e) values ('[1,1]')",
            "begin",
            "insert into v(rowid, e) values (50, '[5,5]')",
            "rollback",
            "insert into v(e) values ('[2,2]')",
        ],
        # A savepoint rolled back inside a committed transaction.
        [
            "begin",
            "insert into v(e) values ('[1,1]')",
            "savepoint s",
            "insert into v(e) values ('[2,2]')",
            "delete from v where rowid = 2",
            "rollback to s",
            "insert into v(e) values ('[3,3]')",
            "commit",
        ],
    ],
)
def test_automatic_rowids_are_never_reused(script):
    a, b = run_both(
        [
            "create virtual table v using vec0(e float[2])",
            *script,
            "select rowid, vec_to_json(e) from v order by rowid",
        ]
    )
    assert a == b


def test_bulk_insert_never_reuses_automatic_rowids():
    conn = sqlite_quiver.connect_with_vec(isolation_level=None)
    conn.execute("create virtual table v using vec0(e float[2], chunk_size=8)")
    sqlite_quiver.insert_vectors(conn, "v", np.ones((300, 2)))
    conn.execute("delete from v where rowid > 200")
    sqlite_quiver.insert_vectors(conn, "v", np.ones((2, 2)))
    conn.execute("insert into v(e) values ('[1, 1]')")
    rowids = [r for (r,) in conn.execute("select rowid from v where rowid > 200 order by rowid")]
    assert rowids == [301, 302, 303]


def test_tables_without_a_recorded_mark_continue_from_their_largest_rowid(tmp_path):
    # Tables written before the high-water mark existed have no 'max_rowid' row.
    path = str(tmp_path / "old.db")
    conn = sqlite_quiver.connect_with_vec(path, isolation_level=None)
    conn.execute("create virtual table v using vec0(e float[2])")
    conn.execute("insert into v(rowid, e) values (7, '[1, 1]')")
    conn.execute("delete from v_info where key = 'max_rowid'")
    conn.close()
    conn = sqlite_quiver.connect_with_vec(path, isolation_level=None)
    conn.execute("insert into v(e) values ('[2, 2]')")
    conn.execute("delete from v where rowid = 8")
    conn.execute("insert into v(e) values ('[3, 3]')")
    assert conn.execute("select rowid from v order by rowid").fetchall() == [(7,), (9,)]


def test_rowid_moved_by_update_is_not_handed_out_again():
    # sqlite-vec 0.1.9 ignores UPDATE ... SET rowid (README lists it); quiver moves the
    # row, and neither id is given to a later automatic insert.
    conn = sqlite_quiver.connect_with_vec(isolation_level=None)
    conn.execute("create virtual table v using vec0(e float[2])")
    conn.execute("insert into v(e) values ('[1, 1]'), ('[2, 2]')")
    conn.execute("update v set rowid = 100 where rowid = 2")
    conn.execute("delete from v where rowid = 100")
    conn.execute("insert into v(e) values ('[3, 3]')")
    assert conn.execute("select rowid from v order by rowid").fetchall() == [(1,), (101,)]


ERROR_SETUP = [
    "create virtual table t1 using vec0(aaa float[4], chunk_size=8)",
    "create virtual table txt_pk using vec0(txt_id text primary key, aaa float[4])",
    "create virtual table m using vec0(e float[2], +note text, +num integer)",
    "insert into t1(rowid, aaa) values (1, '[1,1,1,1]')",
    "insert into txt_pk(txt_id, aaa) values ('a', '[1,2,3,4]')",
]

# A mistake, the exception class both engines raise, and the start of sqlite-vec's
# message, which quiver's message contains before its own detail.
SAME_ERROR = [
    (
        "select vec_distance_l2('[1,2]', '[1,2,3]')",
        sqlite3.OperationalError,
        "Vector dimension mistmatch. First vector has 2 dimensions, while the second has 3 "
        "dimensions.",
    ),
    (
        "select vec_distance_l2(vec_int8('[1,2]'), '[1,2]')",
        sqlite3.OperationalError,
        "Vector type mistmatch. First vector has type int8, while the second has type float32.",
    ),
    (
        "select vec_f32(X'6161616161')",
        sqlite3.OperationalError,
        "invalid float32 vector BLOB length. Must be divisible by 4, found 5",
    ),
    (
        "select vec_length(NULL)",
        sqlite3.OperationalError,
        "Input must have type BLOB (compact format) or TEXT (JSON), found NULL",
    ),
    ("select vec_f32(X'')", sqlite3.OperationalError, "zero-length vectors are not supported"),
    ("select vec_length('[]')", sqlite3.OperationalError, "zero-length vectors are not supported."),
    ("select vec_bit(NULL)", sqlite3.OperationalError, "Unknown type for bitvector."),
    (
        "select vec_f32('1]')",
        sqlite3.OperationalError,
        "JSON array parsing error: Input does not start with '['",
    ),
    (
        "select vec_distance_hamming('[1]', '[1]')",
        sqlite3.OperationalError,
        "Cannot calculate hamming distance between two float32 vectors.",
    ),
    (
        "select vec_distance_hamming(vec_int8('[1]'), vec_int8('[1]'))",
        sqlite3.OperationalError,
        "Cannot calculate hamming distance between two int8 vectors.",
    ),
    (
        "select vec_slice(vec_bit(X'FFFF'), 2, 16)",
        sqlite3.OperationalError,
        "start index must be divisible by 8.",
    ),
    (
        "select vec_slice(vec_bit(X'FFFF'), 0, 12)",
        sqlite3.OperationalError,
        "end index must be divisible by 8.",
    ),
    (
        "select vec_slice('[1,2,3,4]', -1, 4)",
        sqlite3.OperationalError,
        "slice 'start' index must be a postive number.",
    ),
    (
        "select vec_slice('[1,2,3,4]', 0, -3)",
        sqlite3.OperationalError,
        "slice 'end' index must be a postive number.",
    ),
    (
        "select vec_slice('[1,2,3,4]', 5, 6)",
        sqlite3.OperationalError,
        "slice 'start' index is greater than the number of dimensions",
    ),
    (
        "select vec_slice('[1,2,3,4]', 0, 5)",
        sqlite3.OperationalError,
        "slice 'end' index is greater than the number of dimensions",
    ),
    (
        "select vec_slice('[1,2,3,4]', 3, 1)",
        sqlite3.OperationalError,
        "slice 'start' index is greater than 'end' index",
    ),
    (
        "select vec_slice('[1,2,3,4]', 0, 0)",
        sqlite3.OperationalError,
        "slice 'start' index is equal to the 'end' index, vectors must have non-zero length",
    ),
    (
        "select vec_slice('[1,2,3,4]', 4, 4)",
        sqlite3.OperationalError,
        "slice 'start' index is equal to the 'end' index, vectors must have non-zero length",
    ),
    (
        "select vec_add(vec_bit(X'FF'), vec_bit(X'FF'))",
        sqlite3.OperationalError,
        "Cannot add two bitvectors together.",
    ),
    (
        "select vec_sub(vec_bit(X'FF'), vec_bit(X'FF'))",
        sqlite3.OperationalError,
        "Cannot subtract two bitvectors together.",
    ),
    (
        "insert into t1(rowid, aaa) values (2, '[1,2,3]')",
        sqlite3.OperationalError,
        'Dimension mismatch for inserted vector for the "aaa" column. Expected 4 dimensions '
        "but received 3.",
    ),
    (
        "update t1 set aaa = '[1,2]' where rowid = 1",
        sqlite3.OperationalError,
        'Dimension mismatch for new updated vector for the "aaa" column. Expected 4 '
        "dimensions but received 2.",
    ),
    (
        "select rowid from t1 where aaa match '[1,1,1]' and k = 1",
        sqlite3.OperationalError,
        'Dimension mismatch for query vector for the "aaa" column. Expected 4 dimensions but '
        "received 3.",
    ),
    (
        "select rowid from t1 where aaa match '[1,1,1,1]'",
        sqlite3.OperationalError,
        "A LIMIT or 'k = ?' constraint is required on vec0 knn queries.",
    ),
    (
        "insert into t1(rowid, aaa) values (1, '[2,2,2,2]')",
        sqlite3.OperationalError,
        "UNIQUE constraint failed on t1 primary key",
    ),
    (
        "insert into txt_pk(txt_id, aaa) values ('a', '[5,6,7,8]')",
        sqlite3.OperationalError,
        "UNIQUE constraint failed on txt_pk primary key",
    ),
    (
        "insert into t1(rowid, aaa) values (2, NULL)",
        sqlite3.OperationalError,
        'Inserted vector for the "aaa" column is invalid: Input must have type BLOB (compact '
        "format) or TEXT (JSON), found NULL",
    ),
    (
        "select rowid from t1 where aaa match NULL and k = 1",
        sqlite3.OperationalError,
        'Query vector on the "aaa" column is invalid: Input must have type BLOB (compact '
        "format) or TEXT (JSON), found NULL",
    ),
    (
        "insert into t1(rowid, aaa) values (3, vec_bit(X'AABBCCDD'))",
        sqlite3.OperationalError,
        'Inserted vector for the "aaa" column is expected to be of type float32, but a bit '
        "vector was provided.",
    ),
    (
        "select rowid from t1 where aaa match vec_bit(X'AABBCCDD') and k = 1",
        sqlite3.OperationalError,
        'Query vector for the "aaa" column is expected to be of type float32, but a bit '
        "vector was provided.",
    ),
    (
        "update t1 set aaa = X'00' where rowid = 1",
        sqlite3.OperationalError,
        'Updated vector for the "aaa" column is invalid: invalid float32 vector BLOB length. '
        "Must be divisible by 4, found 1",
    ),
    (
        "select rowid from t1 where aaa match '[1,1,1,1]' and k = -1",
        sqlite3.OperationalError,
        "k value in knn queries must be greater than or equal to 0.",
    ),
    (
        "insert into t1(rowid, aaa, distance) values (2, '[1,2,3,4]', 1)",
        sqlite3.OperationalError,
        'A value was provided for the hidden "distance" column.',
    ),
    (
        "insert into t1(rowid, aaa, k) values (2, '[1,2,3,4]', 1)",
        sqlite3.OperationalError,
        'A value was provided for the hidden "k" column.',
    ),
    (
        "insert into m(rowid, e, note) values (1, '[1,1]', 5)",
        sqlite3.IntegrityError,
        "Auxiliary column type mismatch: The auxiliary column note has type TEXT, but "
        "INTEGER was provided.",
    ),
    (
        "insert into m(rowid, e, num) values (1, '[1,1]', 'x')",
        sqlite3.IntegrityError,
        "Auxiliary column type mismatch: The auxiliary column num has type INTEGER, but TEXT "
        "was provided.",
    ),
]


@pytest.mark.parametrize(("sql", "error", "message"), SAME_ERROR)
def test_same_error_class_and_sqlite_vec_wording(sql, error, message):
    ours, theirs = fresh_pair()
    for conn in (ours, theirs):
        for statement in ERROR_SETUP:
            conn.execute(statement)
        with pytest.raises(error, match=re.escape(message)):
            conn.execute(sql).fetchall()


# Every column kind, declared in mixed order: sqlite-vec puts the key (or a visible
# `rowid`) first, the other columns in declaration order, hidden distance and k last.
LAYOUTS = [
    ("e float[2]", "(1, '[1, 2]')"),
    ("e float[2], id integer primary key", "(7, '[1, 2]')"),
    ("e float[2], id text primary key", "('a', '[1, 2]')"),
    (
        "+note text, e float[2], p integer partition key, m text, id integer primary key, "
        "b int8[2], x float, c bit[8], chunk_size=8",
        "(3, 'hi', '[1, 2]', 4, 'red', vec_int8('[1, -2]'), 0.5, vec_bit(X'F0'))",
    ),
    ("p text partition key, e float[2], +a blob", "(2, 'z', '[3, 4]', X'00')"),
]


@pytest.mark.parametrize(("definition", "row"), LAYOUTS)
def test_column_layout_matches_sqlite_vec(definition, row):
    """SELECT *, positional INSERT, pragma table_info and cursor.description."""
    script = [
        f"create virtual table v using vec0({definition})",
        "pragma table_info(v)",
        "pragma table_xinfo(v)",
        f"insert into v values {row}",
        "select * from v",
        "select *, distance, k from v",
    ]
    vector = "'[1, 2]'" if "'[1, 2]'" in row else "'[3, 4]'"
    script.append(f"select *, distance, k from v where e match {vector} and k = 1")
    a, b = run_both(script)
    # quiver adds sqlite-vec 0.1.10's hidden command column (named like the table, for
    # 'integrity-check') after the hidden distance and k columns; 0.1.9 has none.
    command = a[2].pop()
    assert command[1:] == ("v", "", 0, None, 0, 1)
    assert a == b
    assert all(isinstance(x, list) for x in a), a
    assert len(a[-1]) == 1
    ours, theirs = fresh_pair()
    for conn in (ours, theirs):
        conn.execute(f"create virtual table v using vec0({definition})")
        conn.execute(f"insert into v values {row}")
    descriptions = [
        [d[0] for d in conn.execute("select * from v").description] for conn in (ours, theirs)
    ]
    assert descriptions[0] == descriptions[1]
    assert descriptions[0][0] in ("rowid", "id")


def test_visible_rowid_column_reads_writes_and_filters():
    ours, theirs = fresh_pair()
    script = [
        "create virtual table v using vec0(e float[2])",
        "insert into v values (5, '[1, 0]'), (9, '[0, 1]')",
        "insert into v(e) values ('[1, 1]')",
        "select rowid, oid, _rowid_ from v order by 1",
        "select * from v where rowid = 9",
        "select * from v where rowid in (5, 10) order by rowid",
        "select rowid, distance from v where e match '[1, 0]' and k = 3 and rowid > 5",
        "delete from v where rowid = 5",
        "select rowid from v order by rowid",
    ]
    mine, reference = ([outcome(conn, s) for s in script] for conn in (ours, theirs))
    assert mine == reference
    assert mine[3] == [(5, 5, 5), (9, 9, 9), (10, 10, 10)]
    assert mine[-1] == [(9,), (10,)]


def test_declared_key_keeps_quivers_rowid():
    # sqlite-vec declares a table with a primary key WITHOUT ROWID, so `rowid` is no
    # column there; quiver keeps it (README lists it): it is the integer key itself.
    ours, theirs = fresh_pair()
    for conn in (ours, theirs):
        conn.execute("create virtual table v using vec0(e float[2], id integer primary key)")
        conn.execute("insert into v values (4, '[1, 2]')")
        # A NULL key is given the next id, as in sqlite-vec.
        conn.execute("insert into v values (NULL, '[3, 4]')")
    assert outcome(ours, "select * from v") == outcome(theirs, "select * from v")
    assert ours.execute("select rowid, id from v order by id").fetchall() == [(4, 4), (5, 5)]
    assert outcome(theirs, "select rowid from v") is sqlite3.OperationalError


def test_untyped_auxiliary_column_accepted_by_quiver_only():
    ours, theirs = fresh_pair()
    sql = "create virtual table v using vec0(e float[2], +a)"
    assert outcome(theirs, sql) is sqlite3.OperationalError
    ours.execute(sql)
    ours.execute("insert into v values (1, '[1, 2]', X'00'), (2, '[1, 2]', 'x')")
    assert ours.execute("select a from v order by rowid").fetchall() == [(b"\x00",), ("x",)]


@pytest.mark.parametrize(
    "expr",
    [
        "vec_distance_l1('[3e38, 3e38]', '[-3e38, -3e38]')",
        "vec_distance_l1('[3e38, -3e38, 1]', '[-3e38, 3e38, 0]')",
        "vec_distance_l2('[3e38, 3e38]', '[-3e38, -3e38]')",
    ],
)
def test_distances_past_the_float32_range(pair, expr):
    # sqlite-vec sums float32 L1 in double (finite, 1.2e39); its L2 sums in float (inf).
    ours, theirs = pair
    a = ours.execute(f"select {expr}").fetchone()[0]
    b = theirs.execute(f"select {expr}").fetchone()[0]
    assert a == pytest.approx(b, rel=1e-6)


def test_l1_of_many_large_dimensions_matches_a_double_sum(pair):
    ours, _ = pair
    rng = np.random.default_rng(3)
    a = (rng.random(1000) * 3e38).astype(np.float32)
    b = -(rng.random(1000) * 3e38).astype(np.float32)
    got = ours.execute("select vec_distance_l1(?, ?)", [a.tobytes(), b.tobytes()]).fetchone()[0]
    assert got == pytest.approx(float(np.abs(a.astype(np.float64) - b).sum()), rel=1e-9)


def test_k_zero_gives_no_rows():
    a, b = run_both(
        [
            "create virtual table v using vec0(e float[2])",
            "insert into v values (1, '[1, 2]')",
            "select rowid, distance from v where e match '[1, 2]' and k = 0",
            "select rowid, distance from v where e match '[1, 2]' and k = 1",
        ]
    )
    assert a == b
    assert a[2] == [] and a[3] == [(1, 0.0)]


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ("aaa float[0]", "vec0 constructor error: could not parse vector column 'aaa float[0]'"),
        ("aaa float[-1]", "vec0 constructor error: could not parse vector column 'aaa float[-1]'"),
        ("aaa float[x]", "vec0 constructor error: could not parse vector column 'aaa float[x]'"),
        (
            "aaa float[2] distance_metric=nope",
            "vec0 constructor error: could not parse vector column "
            "'aaa float[2] distance_metric=nope'",
        ),
        (
            "a integer primary key, b integer primary key, e float[2]",
            "vec0 constructor error: More than one primary key definition was provided, vec0 "
            "only suports a single primary key column",
        ),
    ],
)
def test_constructor_errors_start_with_sqlite_vecs_words(definition, message):
    ours, theirs = fresh_pair()
    for conn in (ours, theirs):
        with pytest.raises(sqlite3.OperationalError, match=re.escape(message)):
            conn.execute(f"create virtual table v using vec0({definition})")


def test_dimension_limit_names_both_limits():
    ours, _ = fresh_pair()
    with pytest.raises(
        sqlite3.OperationalError,
        match=r"^vec0 constructor error: Dimension on vector column too large, provided 65537, "
        r"maximum 65536 \(vec0: column 'e'\)$",
    ):
        ours.execute("create virtual table v using vec0(e float[65537])")
