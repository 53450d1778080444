"""query_arrow runs a statement either inside one step (wrapped in an internal aggregate,
when SQLite flattens the wrapper) or row by row. Both must give exactly what SQLite's own
cursor gives, in the same order, for every kind of statement."""

import sqlite3

import pyarrow as pa
import pytest

import sqlite_quiver


@pytest.fixture
def db(conn):
    conn.execute("create table t(id INTEGER, x REAL, s TEXT, b BLOB, c0 TEXT)")
    conn.executemany(
        "insert into t values (?, ?, ?, ?, ?)",
        [
            (
                (i * 7919) % 5003,
                None if i % 11 == 0 else i / 7,
                None if i % 13 == 0 else f"s{i % 17}",
                bytes([i % 256]) * (i % 3),
                "c",
            )
            for i in range(5003)
        ],
    )
    conn.execute("create table u(k INTEGER PRIMARY KEY, name TEXT)")
    conn.executemany("insert into u values (?, ?)", [(i, f"n{i}") for i in range(0, 5003, 7)])
    return conn


STATEMENTS = [
    ("select * from t", ()),
    ("select id, x from t where x > ?", (100.0,)),
    ("select * from t order by rowid", ()),
    ("select * from t order by x desc, id", ()),
    ("select * from t limit 100 offset 7", ()),
    ("select s, count(*), avg(x) from t group by s order by s", ()),
    ("select distinct s from t order by s", ()),
    ("select id from t union all select k from u", ()),
    ("select id from t union select k from u order by 1", ()),
    ("select t.id, u.name from t join u on u.k = t.id", ()),
    ("with w(a) as (select id from t where id < ?2) select a, ?1 from w", ("p", 50)),
    ("select :name, id from t where id = :id", ("n", 14)),
    ("select ?3, ?1 from t where id = ?2", ("a", 14, "c")),
    ("values (1, 'a'), (2, 'b')", ()),
    ("select id, c0 from t where id % 100 = 0", ()),
    ("select 1 as one -- a trailing comment", ()),
    ("select 2 as two;", ()),
    ("select 3 as three; -- comment after the semicolon", ()),
    ("select * from pragma_table_info('t')", ()),
    ("pragma table_info(t)", ()),
    ("select id, id, id from t where id < 10", ()),
]


@pytest.mark.parametrize("sql,params", STATEMENTS)
def test_same_rows_as_sqlite_cursor(db, sql, params):
    expected = db.execute(sql, params).fetchall()
    got = sqlite_quiver.query_arrow(db, sql, params).to_pyarrow()
    # Column by column: names may repeat. Without ORDER BY the order is the plan's,
    # the same plan for both here.
    assert list(zip(*(c.to_pylist() for c in got.columns))) == expected
    assert got.num_rows == len(expected)


def test_rows_keep_the_scan_order_over_many_batches(db):
    db.execute("create table big(i INTEGER, s TEXT)")
    db.executemany(
        "insert into big values (?, ?)", [((i * 104729) % 300_007, str(i)) for i in range(300_007)]
    )
    got = sqlite_quiver.query_arrow(db, "select i, s from big").to_pyarrow()
    assert got.column("i").to_pylist() == [r[0] for r in db.execute("select i from big")]
    assert got.column("s").to_pylist() == [str(i) for i in range(300_007)]


def test_errors_inside_the_collected_rows_name_the_column(db):
    with pytest.raises(sqlite3.OperationalError, match='column "b".*BLOB'):
        sqlite_quiver.query_arrow(db, "select case when id = 17 then x'00' else id end as b from t")
    schema = pa.schema([("x", pa.int64())])
    with pytest.raises(sqlite3.OperationalError, match='column "x".*does not fit'):
        sqlite_quiver.query_arrow(db, "select x from t", schema=schema)
    # A runtime SQL error mid-scan is SQLite's own message.
    with pytest.raises(sqlite3.OperationalError, match="integer overflow"):
        sqlite_quiver.query_arrow(
            db, "select id, case when id = 4000 then abs(-9223372036854775807 - 1) end from t"
        )
    # The connection still works afterwards.
    assert db.execute("select count(*) from t").fetchone() == (5003,)


def test_internal_aggregate_cannot_be_called_from_sql(db):
    with pytest.raises(sqlite3.OperationalError, match="internal to query_arrow"):
        db.execute("select quiver_arrow_collect(1, id) from t").fetchall()
    with pytest.raises(sqlite3.OperationalError, match="internal to query_arrow"):
        db.execute("select quiver_arrow_collect(?, id) from t", (None,)).fetchall()
    db.execute("create view v as select id from t")
    with pytest.raises(sqlite3.OperationalError):
        db.execute("create view w as select quiver_arrow_collect(null, id) from t")
        db.execute("select * from w").fetchall()


def test_writes_with_returning_run_once(db):
    got = sqlite_quiver.query_arrow(
        db, "insert into u(k, name) values (100000, 'x'), (100001, 'y') returning k, name"
    ).to_pyarrow()
    assert got.to_pylist() == [{"k": 100000, "name": "x"}, {"k": 100001, "name": "y"}]
    assert db.execute("select count(*) from u where k >= 100000").fetchone() == (2,)


def test_wide_results_beyond_the_function_argument_limit(db):
    cols = ", ".join(f"id + {i} as c{i}" for i in range(300))
    got = sqlite_quiver.query_arrow(db, f"select {cols} from t where id < 3 order by id")
    t = got.to_pyarrow()
    assert t.num_columns == 300
    assert t.column("c299").to_pylist() == [
        r[0] + 299 for r in db.execute("select id from t where id < 3 order by id")
    ]


def test_nul_in_the_sql_is_an_error(db):
    with pytest.raises(sqlite3.OperationalError, match="NUL"):
        sqlite_quiver.query_arrow(db, "select 1\0 select 2")
