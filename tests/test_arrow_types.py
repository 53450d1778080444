"""Every Arrow type read through register_arrow, checked against pyarrow's own values."""

import datetime as dt
import decimal
import json
import math
import struct

import pyarrow as pa
import pytest

import sqlite_quiver

pl = pytest.importorskip("polars")


def rows(conn, sql, params=()):
    return conn.execute(sql, params).fetchall()


def column(conn, name="t", col="c"):
    return [r[0] for r in rows(conn, f'select "{col}" from {name} order by rowid')]


INTS = [
    pa.int8(),
    pa.int16(),
    pa.int32(),
    pa.int64(),
    pa.uint8(),
    pa.uint16(),
    pa.uint32(),
    pa.uint64(),
]


@pytest.mark.parametrize("typ", INTS, ids=str)
def test_integers(conn, typ):
    values = [0, 1, None, 100, 7]
    sqlite_quiver.register_arrow(conn, "t", pa.table({"c": pa.array(values, typ)}))
    assert column(conn) == values
    assert rows(conn, "select typeof(c) from t where c is not null limit 1") == [("integer",)]


def test_integer_extremes(conn):
    t = pa.table(
        {
            "i64": pa.array([-(2**63), 2**63 - 1], pa.int64()),
            "u64": pa.array([0, 2**63 - 1], pa.uint64()),
            "i8": pa.array([-128, 127], pa.int8()),
        }
    )
    sqlite_quiver.register_arrow(conn, "t", t)
    assert rows(conn, "select * from t") == [(-(2**63), 0, -128), (2**63 - 1, 2**63 - 1, 127)]


def test_uint64_above_int64_is_a_clear_error(conn):
    with pytest.raises(sqlite_quiver_error(), match=r'column "big".*uint64.*18446744073709551615'):
        sqlite_quiver.register_arrow(
            conn, "t", pa.table({"big": pa.array([1, 2**64 - 1], pa.uint64())})
        )
    assert rows(conn, "select count(*) from temp.sqlite_master") == [(0,)]


def sqlite_quiver_error():
    import sqlite3

    return sqlite3.OperationalError


def test_bool(conn):
    sqlite_quiver.register_arrow(conn, "t", pa.table({"c": [True, False, None]}))
    assert column(conn) == [1, 0, None]


@pytest.mark.parametrize("typ", [pa.float16(), pa.float32(), pa.float64()], ids=str)
def test_floats(conn, typ):
    import numpy as np

    values = [0.5, -2.25, None, 1e4, float("nan")]
    arr = pa.array(
        np.array([0.5, -2.25, 0, 1e4, np.nan]).astype(typ.to_pandas_dtype()),
        mask=np.array([False, False, True, False, False]),
    )
    sqlite_quiver.register_arrow(conn, "t", pa.table({"c": arr}))
    got = column(conn)
    # NaN reads as NULL (SQLite has no NaN).
    assert got == [v if v is None or not math.isnan(v) else None for v in values]
    assert rows(conn, "select typeof(c) from t limit 1") == [("real",)]


@pytest.mark.parametrize(
    "typ", [pa.decimal128(20, 4), pa.decimal256(40, 2), pa.decimal128(7, 3)], ids=str
)
def test_decimals_are_exact_text(conn, typ):
    values = [decimal.Decimal("12.5"), decimal.Decimal("-0.01"), None, decimal.Decimal("123")]
    arr = pa.array(values, typ)
    sqlite_quiver.register_arrow(conn, "t", pa.table({"c": arr}))
    expected = [None if v is None else str(v) for v in arr.to_pylist()]
    assert column(conn) == expected


def test_decimal_many_digits(conn):
    v = decimal.Decimal("12345678901234567890.123456789012345678")
    sqlite_quiver.register_arrow(conn, "t", pa.table({"c": pa.array([v], pa.decimal256(38, 18))}))
    assert column(conn) == ["12345678901234567890.123456789012345678"]


@pytest.mark.parametrize("typ", [pa.string(), pa.large_string(), pa.string_view()], ids=str)
def test_strings(conn, typ):
    values = ["a", "", None, "héllo ✓", "x" * 100]
    sqlite_quiver.register_arrow(conn, "t", pa.table({"c": pa.array(values, typ)}))
    assert column(conn) == values
    assert rows(conn, "select typeof(c) from t limit 1") == [("text",)]


@pytest.mark.parametrize(
    "typ", [pa.binary(), pa.large_binary(), pa.binary_view(), pa.binary(3)], ids=str
)
def test_binary(conn, typ):
    values = [b"abc", None, b"\x00\x01\x02"]
    sqlite_quiver.register_arrow(conn, "t", pa.table({"c": pa.array(values, typ)}))
    assert column(conn) == values


def test_dates(conn):
    d = [dt.date(2024, 2, 29), None, dt.date(1969, 12, 31), dt.date(1, 1, 1)]
    t = pa.table({"d32": pa.array(d, pa.date32()), "d64": pa.array(d, pa.date64())})
    sqlite_quiver.register_arrow(conn, "t", t)
    expected = [None if x is None else x.isoformat() for x in d]
    assert column(conn, col="d32") == expected
    assert column(conn, col="d64") == expected


@pytest.mark.parametrize("unit,digits", [("s", 0), ("ms", 3), ("us", 6), ("ns", 9)])
def test_timestamps_naive(conn, unit, digits):
    values = [dt.datetime(2024, 1, 2, 3, 4, 5, 123456), None, dt.datetime(1960, 6, 1, 0, 0, 0)]
    arr = pa.array(values, pa.timestamp("us")).cast(pa.timestamp(unit), safe=False)
    sqlite_quiver.register_arrow(conn, "t", pa.table({"c": arr}))
    expected = []
    for v in arr.to_pylist():
        if v is None:
            expected.append(None)
            continue
        s = v.strftime("%Y-%m-%d %H:%M:%S")
        if digits:
            frac = f"{v.microsecond:06d}" + "000"
            s += "." + frac[:digits]
        expected.append(s)
    assert column(conn) == expected
    # SQLite's date functions understand the text.
    assert rows(conn, "select datetime(c) from t limit 1") == [("2024-01-02 03:04:05",)]


@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "+05:30", "Asia/Tokyo"])
def test_timestamps_with_time_zone_keep_the_offset(conn, tz):
    instant = dt.datetime(2024, 7, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    arr = pa.array([instant, None], pa.timestamp("s", tz=tz))
    sqlite_quiver.register_arrow(conn, "t", pa.table({"c": arr}))
    local = arr.to_pylist()[0]
    expected = (
        local.strftime("%Y-%m-%d %H:%M:%S")
        + local.strftime("%z")[:3]
        + ":"
        + local.strftime("%z")[3:]
    )
    assert column(conn) == [expected, None]
    # The offset round-trips to the same instant in SQLite.
    assert rows(conn, "select datetime(c) from t limit 1") == [("2024-07-01 12:00:00",)]


def test_time_and_duration(conn):
    t = pa.table(
        {
            "t32": pa.array([3723, None], pa.time32("s")),
            "t64": pa.array([3723_000_001, None], pa.time64("us")),
            "dur": pa.array([1500, None], pa.duration("ms")),
        }
    )
    sqlite_quiver.register_arrow(conn, "t", t)
    assert rows(conn, "select * from t") == [
        ("01:02:03", "01:02:03.000001", 1500),
        (None, None, None),
    ]


def test_dictionary_decoded(conn):
    arr = pa.array(["red", "green", None, "red"]).dictionary_encode()
    ints = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0], pa.int8()), pa.array([10, 20]))
    sqlite_quiver.register_arrow(conn, "t", pa.table({"c": arr}))
    assert column(conn) == ["red", "green", None, "red"]
    sqlite_quiver.register_arrow(conn, "u", pa.table({"c": ints}))
    assert column(conn, "u") == [10, 20, 10]


def test_nested_as_json(conn):
    t = pa.table(
        {
            "l": pa.array([[1, 2], [], None, [None, 3]], pa.list_(pa.int64())),
            "ll": pa.array([["a"], ["b", "c"], None, []], pa.large_list(pa.string())),
            "s": pa.array([{"a": 1, "b": "x"}, {"a": None, "b": "y"}, None, {"a": 2, "b": None}]),
            "m": pa.array(
                [[("k", 1)], [], None, [("a", 2), ("b", 3)]], pa.map_(pa.string(), pa.int64())
            ),
            "fl": pa.array([[1, 2], [3, 4], None, [5, 6]], pa.list_(pa.int64(), 2)),
            "nested": pa.array([[{"x": [1.5]}], [], None, [{"x": None}]]),
        }
    )
    sqlite_quiver.register_arrow(conn, "t", t)
    got = rows(conn, "select * from t")
    for i, row in enumerate(got):
        for name, value in zip(t.column_names, row):
            expected = t.column(name)[i].as_py()
            if name == "m" and expected is not None:
                expected = dict(expected)
            assert (None if value is None else json.loads(value)) == expected, name
    assert rows(conn, "select json_extract(s, '$.b') from t") == [("x",), ("y",), (None,), (None,)]


def test_vectors_are_vector_blobs(conn):
    f = pa.array([[1.0, 2.0, 3.0], None, [0.5, 0.5, 0.5]], pa.list_(pa.float32(), 3))
    i = pa.array([[1, -2, 3], None, [0, 0, 127]], pa.list_(pa.int8(), 3))
    sqlite_quiver.register_arrow(conn, "t", pa.table({"f": f, "i": i}))
    assert rows(conn, "select f from t limit 1") == [(struct.pack("<3f", 1, 2, 3),)]
    assert rows(conn, "select vec_type(f), vec_type(i) from t where f is not null") == [
        ("float32", "int8"),
        ("float32", "int8"),
    ]
    got = rows(conn, "select vec_distance_l2(f, '[1,2,2]') from t where f is not null")
    assert got[0][0] == pytest.approx(1.0)
    assert rows(conn, "select rowid from t where f is null and i is null") == [(1,)]
    assert rows(conn, "select vec_to_json(i) from t where rowid = 0") == [("[1,-2,3]",)]


def test_null_type(conn):
    sqlite_quiver.register_arrow(conn, "t", pa.table({"n": pa.nulls(2), "a": [1, 2]}))
    assert rows(conn, "select * from t") == [(None, 1), (None, 2)]


def test_unsupported_type_names_column_and_type(conn):
    import sqlite3

    t = pa.table({"ok": [1], "iv": pa.array([pa.scalar((1, 2, 3), pa.month_day_nano_interval())])})
    with pytest.raises(sqlite3.OperationalError, match=r'column "iv".*Interval'):
        sqlite_quiver.register_arrow(conn, "t", t)


def test_polars_types(conn):
    df = pl.DataFrame(
        {
            "s": ["a", None, "c"],
            "b": [b"x", None, b"z"],
            "cat": pl.Series(["u", "v", None], dtype=pl.Categorical),
            "ll": [[1, 2], None, []],
            "f": [1.5, None, 2.5],
            "i": pl.Series([1, 2, None], dtype=pl.Int32),
            "ts": pl.Series([dt.datetime(2024, 1, 1), None, dt.datetime(2024, 1, 2, 3)]),
            "d": pl.Series([dt.date(2024, 1, 1), None, dt.date(2024, 1, 3)]),
            "st": [{"k": 1}, None, {"k": 3}],
            "arr": pl.Series([[1.0, 2.0], [3.0, 4.0], None], dtype=pl.Array(pl.Float32, 2)),
        }
    )
    sqlite_quiver.register_arrow(conn, "t", df)
    got = rows(conn, "select s, b, cat, ll, f, i, ts, d, st, arr from t")
    assert got[0] == (
        "a",
        b"x",
        "u",
        "[1,2]",
        1.5,
        1,
        "2024-01-01 00:00:00.000000",
        "2024-01-01",
        '{"k":1}',
        struct.pack("<2f", 1, 2),
    )
    assert got[1] == (None, None, "v", None, None, 2, None, None, None, struct.pack("<2f", 3, 4))
    assert got[2][2] is None and got[2][3] == "[]" and got[2][9] is None


def test_pandas_dataframe(conn):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]})
    sqlite_quiver.register_arrow(conn, "t", df)
    assert rows(conn, "select * from t") == [(1, "x"), (2, "y"), (3, None)]


def test_record_batch_reader_and_record_batch(conn):
    batches = [pa.record_batch({"a": [i, i + 1]}) for i in range(0, 10, 2)]
    reader = pa.RecordBatchReader.from_batches(batches[0].schema, iter(batches))
    sqlite_quiver.register_arrow(conn, "t", reader)
    assert rows(conn, "select count(*), sum(a), min(rowid), max(rowid) from t") == [(10, 45, 0, 9)]
    # A RecordBatch (exported through __arrow_c_array__ or the stream).
    sqlite_quiver.register_arrow(conn, "u", batches[1])
    assert rows(conn, "select a from u") == [(2,), (3,)]


def test_array_interface_only(conn):
    class OnlyArray:
        def __init__(self, batch):
            self.batch = batch

        def __arrow_c_array__(self, requested_schema=None):
            return self.batch.__arrow_c_array__(requested_schema)

    sqlite_quiver.register_arrow(conn, "t", OnlyArray(pa.record_batch({"a": [5, 6]})))
    assert rows(conn, "select a from t") == [(5,), (6,)]
    with pytest.raises(TypeError, match="tabular"):
        sqlite_quiver.register_arrow(conn, "t", OnlyArray(pa.array([1, 2])))


def test_duckdb_relation(conn):
    duckdb = pytest.importorskip("duckdb")
    rel = duckdb.sql("select range as i, range * 2 as j from range(5)")
    sqlite_quiver.register_arrow(conn, "t", rel)
    assert rows(conn, "select sum(i), sum(j) from t") == [(10, 20)]


def test_option_timestamps_as_epoch(conn):
    arr = pa.array([0, 1_500, None, -2_000], pa.timestamp("ms", tz="UTC"))
    sqlite_quiver.register_arrow(conn, "t", pa.table({"c": arr}), timestamps="epoch")
    assert column(conn) == [0, 1500, None, -2000]
    assert rows(conn, "select c from t where c > 0") == [(1500,)]
    assert rows(conn, "select typeof(c) from t limit 1") == [("integer",)]


def test_option_uint64_as_text(conn):
    arr = pa.array([1, 2**64 - 1, None], pa.uint64())
    sqlite_quiver.register_arrow(conn, "t", pa.table({"c": arr}), uint64="text")
    assert column(conn) == ["1", "18446744073709551615", None]


def test_bad_options(conn):
    with pytest.raises(ValueError, match="timestamps"):
        sqlite_quiver.register_arrow(conn, "t", pa.table({"a": [1]}), timestamps="iso")
    with pytest.raises(ValueError, match="uint64"):
        sqlite_quiver.register_arrow(conn, "t", pa.table({"a": [1]}), uint64="wrap")


@pytest.mark.parametrize(
    "key_type",
    [
        pa.int8(),
        pa.int16(),
        pa.int32(),
        pa.int64(),
        pa.uint8(),
        pa.uint16(),
        pa.uint32(),
        pa.uint64(),
    ],
    ids=str,
)
def test_dictionary_key_types(conn, key_type):
    d = pa.DictionaryArray.from_arrays(pa.array([1, 0, None, 1], key_type), pa.array(["a", "b"]))
    sqlite_quiver.register_arrow(conn, "t", pa.table({"c": d}))
    assert column(conn) == ["b", "a", None, "b"]
    assert rows(conn, "select rowid from t where c = 'b'") == [(0,), (3,)]
    assert rows(conn, "select rowid from t where c is null") == [(2,)]
