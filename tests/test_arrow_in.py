"""`x IN (list)` on Arrow tables (issue 16, item 9): the list is handed over whole
(sqlite3_vtab_in, SQLite 3.38+) and evaluated with a hash set in one pass; the rows
must be exactly those a native table returns, for every type mix."""

import pyarrow as pa
import pytest

import sqlite_quiver

INTS = [1, 2, None, 3, -5, 9223372036854775807, -9223372036854775808, 4, 0, 2]
REALS = [0.5, 1.0, None, 2.5, -0.0, 1e19, 3.0, 7.25, None, 1.0]
TEXTS = ["a", "b", None, "1", "2.5", "", "zz", "a", "B", "é"]


@pytest.fixture
def both(conn):
    """The same rows as an Arrow table `a` and a native table `n`."""
    data = pa.table(
        {
            "i": pa.array(INTS, pa.int64()),
            "r": pa.array(REALS, pa.float64()),
            "s": pa.array(TEXTS, pa.string()),
            "d": pa.array(TEXTS, pa.string()).dictionary_encode(),
        }
    )
    sqlite_quiver.register_arrow(conn, "a", data)
    conn.execute("create table n(i integer, r real, s text, d text)")
    conn.executemany(
        "insert into n(rowid, i, r, s, d) values (?, ?, ?, ?, ?)",
        zip(range(len(INTS)), INTS, REALS, TEXTS, TEXTS),
    )
    return conn


IN_LISTS = [
    "i IN (1, 2, 4)",
    "i IN (1, 2.0, 2.5, '4', ' 3 ', 'abc', NULL, x'01')",
    "i IN (9223372036854775807, -9223372036854775808, 9.3e18, 1e19)",
    "i IN (NULL)",
    "i IN ('x', x'00')",
    "r IN (0.5, 1, '2.5', NULL, 0, 1e19, 7.25)",
    "r IN (3, -0.0, 'abc')",
    "s IN ('a', 'b', NULL, 'zz', 'é')",
    "s IN ('a', 1, 2.5)",
    "s IN ('1')",
    "s IN (NULL)",
    "d IN ('a', 'B', '')",
    "d IN ('a', 1)",
    "i IN (SELECT i FROM n WHERE i > 1)",
    "i IN (1, 2, 3) AND s IN ('a', 'b', '1')",
    "i IN (1, 2, 3) OR r IN (2.5)",
    "rowid IN (0, 1, 3, 5, 11, -1)",
    "i NOT IN (1, 2)",
]


@pytest.mark.parametrize("where", IN_LISTS)
def test_in_matches_native(both, where):
    got = both.execute(f"select rowid, i, r, s, d from a where {where} order by rowid").fetchall()
    want = both.execute(f"select rowid, i, r, s, d from n where {where} order by rowid").fetchall()
    assert got == want


def test_in_with_order_and_limit(both):
    for sql in [
        "select rowid from {t} where i IN (1, 2, 3, 4) order by r desc limit 2",
        "select rowid from {t} where s IN ('a', 'b', 'zz') order by s, rowid limit 2 offset 1",
    ]:
        assert (
            both.execute(sql.format(t="a")).fetchall() == both.execute(sql.format(t="n")).fetchall()
        )


def test_large_in_list_as_parameters(both):
    values = list(range(-5000, 5000))
    marks = ",".join("?" * len(values))
    for col in ["i", "r"]:
        sql = "select rowid from {t} where " + col + f" in ({marks}) order by rowid"
        got = both.execute(sql.format(t="a"), values).fetchall()
        assert got == both.execute(sql.format(t="n"), values).fetchall()
        assert got


def test_large_table_in(conn):
    """Many batches, many values: still equal to the native table."""
    n = 100_000
    data = pa.table({"x": pa.array([(i * 7919) % 50_000 for i in range(n)], pa.int64())})
    sqlite_quiver.register_arrow(conn, "big", data)
    conn.execute("create table nb(x integer)")
    conn.executemany(
        "insert into nb(rowid, x) values (?, ?)", enumerate(data.column("x").to_pylist())
    )
    values = ",".join(str(v) for v in range(0, 50_000, 17))
    got = conn.execute(f"select count(*), sum(rowid) from big where x in ({values})").fetchone()
    want = conn.execute(f"select count(*), sum(rowid) from nb where x in ({values})").fetchone()
    assert got == want and got[0] > 0
