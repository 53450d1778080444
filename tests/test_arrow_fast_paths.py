"""The fast paths of query_arrow (values written straight into the column buffers, big
buffers grown on huge pages) and of timestamp formatting (register_arrow / insert_arrow):
checked against pyarrow / numpy / Python's datetime on the same data, including the
cases that must leave the fast path (promotions, NULLs, years outside 0..9999)."""

import datetime as dt
import sqlite3

import numpy as np
import pyarrow as pa
import pytest

import sqlite_quiver

PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
EPOCH = dt.datetime(1970, 1, 1)


def iso(value, unit):
    """'YYYY-MM-DD HH:MM:SS[.fff]' of a count of `unit`s since the epoch."""
    if value is None:
        return None
    per = PER_SECOND[unit]
    secs, sub = divmod(value, per)
    t = EPOCH + dt.timedelta(seconds=secs)
    s = f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    digits = len(str(per)) - 1
    return s + (f".{sub:0{digits}d}" if digits else "")


def timestamp_values(unit, n=20_000):
    rng = np.random.default_rng(7)
    per = PER_SECOND[unit]
    # Seconds between year 1 and 9999 (nanoseconds only reach 1677..2262).
    lo, hi = (-62_135_596_800, 253_402_300_799) if unit != "ns" else (-9_000_000_000, 9_000_000_000)
    secs = rng.integers(lo, hi, n)
    values = [int(s) * per + int(rng.integers(0, per)) for s in secs]
    values += [lo * per, hi * per + per - 1, 0, -1, 1]
    return [None if i % 11 == 3 else v for i, v in enumerate(values)]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_timestamps_every_unit_match_python(conn, unit):
    values = timestamp_values(unit)
    table = pa.table({"ts": pa.array(values, pa.timestamp(unit))})
    expected = [iso(v, unit) for v in values]
    sqlite_quiver.register_arrow(conn, "t", table)
    assert [r[0] for r in conn.execute("select ts from t order by rowid")] == expected
    assert sqlite_quiver.insert_arrow(conn, "native", table, mode="create") == len(values)
    assert [r[0] for r in conn.execute("select ts from native order by rowid")] == expected


def test_timestamps_outside_years_0_to_9999_still_format(conn):
    # Seconds far outside the fast path's range: chrono's rendering, with a sign.
    values = [-80_000_000_000, 300_000_000_000, None]
    sqlite_quiver.register_arrow(conn, "t", pa.table({"ts": pa.array(values, pa.timestamp("s"))}))
    got = [r[0] for r in conn.execute("select ts from t order by rowid")]
    # Time of day: -80e9 % 86400 = 6400 s (01:46:40); 300e9 % 86400 = 19200 s (05:20:00).
    assert got == ["-0566-11-26 01:46:40", "+11476-08-15 05:20:00", None]


def test_query_arrow_large_columns_match_numpy(conn):
    # Big enough that every buffer grows past the huge-page threshold several times.
    n = 1_500_000
    rng = np.random.default_rng(3)
    ids = np.arange(n, dtype=np.int64) * 7 - 5
    xs = rng.random(n)
    words = np.array(["", "a", "beta", "gamma-delta", "é✓"])[rng.integers(0, 5, n)]
    sqlite_quiver.insert_arrow(
        conn, "t", pa.table({"id": ids, "x": xs, "s": pa.array(words)}), mode="create"
    )
    out = sqlite_quiver.query_arrow(conn, "select id, x, s from t").to_pyarrow()
    assert out.schema.types == [pa.int64(), pa.float64(), pa.string()]
    np.testing.assert_array_equal(out["id"].to_numpy(), ids)
    np.testing.assert_array_equal(out["x"].to_numpy(), xs)
    assert out["s"].to_pylist() == words.tolist()
    assert out["id"].null_count == out["x"].null_count == out["s"].null_count == 0


def test_query_arrow_fast_path_then_promotions(conn):
    # Each column starts on its declared type's fast path, then meets values that force
    # the general path (promotion) part way through; NULLs interleaved.
    conn.execute("create table m (i INTEGER, r REAL, t TEXT, b BOOLEAN)")
    rows = []
    for k in range(5_000):
        i = k if k != 4_000 else 2.5  # a REAL in an INTEGER column: int64 -> float64
        r = k if k % 2 else k + 0.25  # INTEGER values in a REAL column stay float64
        t = f"w{k}" if k != 3_000 else 42  # an INTEGER in a TEXT column: its text
        rows.append((None if k % 97 == 0 else i, None if k % 89 == 0 else r, t, k % 2))
    conn.executemany("insert into m values (?, ?, ?, ?)", rows)
    out = sqlite_quiver.query_arrow(conn, "select i, r, t, b from m order by rowid").to_pyarrow()
    assert out.schema.types == [pa.float64(), pa.float64(), pa.string(), pa.bool_()]
    assert out["i"].to_pylist() == [None if v[0] is None else float(v[0]) for v in rows]
    assert out["r"].to_pylist() == [None if v[1] is None else float(v[1]) for v in rows]
    assert out["t"].to_pylist() == [str(v[2]) for v in rows]
    assert out["b"].to_pylist() == [bool(v[3]) for v in rows]


def test_query_arrow_untyped_columns_and_fixed_schema(conn):
    conn.execute("create table u (a, b)")
    conn.executemany("insert into u values (?, ?)", [(1, "x"), (2, "y"), (None, None), (3.5, "z")])
    out = sqlite_quiver.query_arrow(conn, "select a, b from u order by rowid").to_pyarrow()
    assert out.to_pydict() == {"a": [1.0, 2.0, None, 3.5], "b": ["x", "y", None, "z"]}
    # A schema fixes int64: the REAL value after the fast-path integers is an error.
    with pytest.raises(sqlite3.OperationalError, match='column "a".*schema'):
        sqlite_quiver.query_arrow(
            conn, "select a from u order by rowid", schema=pa.schema([("a", pa.int64())])
        )
