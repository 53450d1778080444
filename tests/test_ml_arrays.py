"""numpy arrays as .npy BLOBs: the Python adapter/converter and the SQL nd_* functions."""

from __future__ import annotations

import io
import itertools
import json
import sqlite3

import numpy as np
import pytest

import sqlite_quiver
from sqlite_quiver import from_npy, to_npy

DTYPES = [
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
]
SHAPES = [(), (5,), (2, 3), (2, 3, 4), (2, 1, 3, 2)]


def make(dtype: str, shape: tuple, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape)) if shape else 1
    dt = np.dtype(dtype)
    if dt.kind == "b":
        flat = rng.integers(0, 2, n).astype(bool)
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        flat = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    else:
        flat = (rng.standard_normal(n) * 100).astype(dt)
    return flat.reshape(shape)


@pytest.fixture
def conn():
    c = sqlite3.connect(":memory:", detect_types=sqlite3.PARSE_DECLTYPES)
    sqlite_quiver.load(c)
    sqlite_quiver.register_numpy(c)
    yield c
    sqlite_quiver.unregister_numpy()
    c.close()


@pytest.fixture
def plain():
    c = sqlite3.connect(":memory:")
    sqlite_quiver.load(c)
    yield c
    c.close()


def variants(arr: np.ndarray):
    yield "c", arr
    if arr.ndim >= 2:
        yield "fortran", np.asfortranarray(arr)
    if arr.dtype.itemsize > 1:
        yield "big-endian", arr.astype(arr.dtype.newbyteorder(">"))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_round_trip_python_and_sql(conn, dtype, shape):
    arr = make(dtype, shape)
    conn.execute("create table t (id integer primary key, kind text, a NDARRAY)")
    for kind, v in variants(arr):
        conn.execute("insert into t (kind, a) values (?, ?)", [kind, v])
    rows = conn.execute(
        "select kind, a, nd_shape(a), nd_dtype(a), nd_ndim(a), nd_size(a), nd_to_json(a) from t"
    ).fetchall()
    assert len(rows) == len(list(variants(arr)))
    for kind, back, shp, dt, ndim, size, js in rows:
        assert isinstance(back, np.ndarray), kind
        assert back.dtype.name == dtype and back.shape == shape, kind
        assert np.array_equal(back, arr, equal_nan=arr.dtype.kind == "f"), kind
        assert json.loads(shp) == list(shape)
        assert dt == dtype
        assert ndim == len(shape)
        assert size == arr.size
        assert np.array_equal(np.array(json.loads(js), dtype=dtype), arr), kind
        # Element access in every variant, with negative indices too.
        for idx in list(itertools.islice(np.ndindex(*shape), 7)) + [tuple(-1 for _ in shape)]:
            want = arr[idx]
            if dtype == "uint64" and int(want) > 2**63 - 1:
                continue  # an error, tested in test_bad_sql_input
            (got,) = conn.execute(
                f"select nd_get(a{''.join(', ?' for _ in idx)}) from t where kind = ?",
                [*idx, kind],
            ).fetchone()
            if arr.dtype.kind == "f":
                assert got == pytest.approx(float(want), rel=0, abs=0), (kind, idx)
            else:
                assert got == int(want), (kind, idx)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nd_array_matches_numpy(plain, dtype):
    values = make(dtype, (2, 3, 2), seed=3).tolist()
    (blob,) = plain.execute("select nd_array(?, ?)", [json.dumps(values), dtype]).fetchone()
    got = np.load(io.BytesIO(blob), allow_pickle=False)
    assert got.dtype.name == dtype and got.shape == (2, 3, 2)
    assert np.array_equal(got, np.array(values, dtype=dtype))
    # numpy's spelling of the dtype is accepted too.
    (blob2,) = plain.execute(
        "select nd_array(?, ?)", [json.dumps(values), np.dtype(dtype).str]
    ).fetchone()
    assert blob2 == blob


def test_nd_array_infers_dtype_and_writes_numpy_bytes(plain):
    for text, dtype in [("[1,2,3]", "int64"), ("[1,2.5]", "float64"), ("[true,false]", "bool")]:
        (blob,) = plain.execute("select nd_array(?)", [text]).fetchone()
        assert blob == to_npy(np.array(json.loads(text), dtype=dtype))
    (scalar,) = plain.execute("select nd_shape(nd_array('7'))").fetchone()
    assert scalar == "[]"
    (empty,) = plain.execute("select nd_shape(nd_array('[]', 'float32'))").fetchone()
    assert empty == "[0]"


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_header_versions(plain, version):
    arr = np.arange(12, dtype="<i4").reshape(3, 4)
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=version)
    assert plain.execute(
        "select nd_shape(?), nd_get(?, 2, 3)", [buf.getvalue()] * 2
    ).fetchone() == ("[3,4]", 11)


@pytest.mark.parametrize("fortran", [False, True])
def test_nd_reshape(plain, fortran):
    arr = np.arange(24, dtype=np.float32).reshape(4, 6)
    if fortran:
        arr = np.asfortranarray(arr)
    blob = to_npy(arr)
    for args, shape in [((2, 12), (2, 12)), ((2, -1, 3), (2, 4, 3)), ((24,), (24,))]:
        (out,) = plain.execute(
            f"select nd_reshape(?{''.join(', ?' for _ in args)})", [blob, *args]
        ).fetchone()
        assert np.array_equal(from_npy(out), arr.reshape(shape))
    (out,) = plain.execute("select nd_reshape(?, '[3, 8]')", [blob]).fetchone()
    assert np.array_equal(from_npy(out), arr.reshape(3, 8))


def test_vectors_and_arrays(plain):
    v = np.array([1.5, -2.0, 3.25], dtype=np.float32)
    (npy,) = plain.execute("select nd_from_vec(?)", [v.tobytes()]).fetchone()
    assert np.array_equal(from_npy(npy), v)
    (npy8,) = plain.execute("select nd_from_vec(vec_int8('[1,-2,3]'))").fetchone()
    assert from_npy(npy8).dtype == np.int8 and from_npy(npy8).tolist() == [1, -2, 3]
    (bits,) = plain.execute("select nd_from_vec(vec_bit(x'05'))").fetchone()
    assert from_npy(bits).tolist() == [True, False, True, False, False, False, False, False]
    for dtype in ["float64", "int16", "uint8", "float16", "bool"]:
        a = make(dtype, (4,), seed=1)
        (blob,) = plain.execute("select vec_f32(?)", [to_npy(a)]).fetchone()
        assert np.array_equal(np.frombuffer(blob, dtype="<f4"), a.astype(np.float32))
    (d,) = plain.execute(
        "select vec_distance_l2(vec_f32(?), '[0,0,0]')", [to_npy(np.array([3.0, 4.0, 0.0]))]
    ).fetchone()
    assert d == pytest.approx(5.0)


def test_register_numpy_switches_binding(plain):
    v = np.array([3, 4], dtype=np.float32)
    # Before: a 1-D float32 array binds as a raw vector BLOB.
    assert plain.execute("select length(?)", [v]).fetchone() == (8,)
    sqlite_quiver.register_numpy(sqlite3)
    try:
        (blob,) = plain.execute("select ?", [v]).fetchone()
        assert blob.startswith(b"\x93NUMPY")
        assert plain.execute("select vec_length(vec_f32(?))", [v]).fetchone() == (2,)
        # load() again does not switch it back.
        sqlite_quiver.load(plain)
        assert plain.execute("select nd_ndim(?)", [v]).fetchone() == (1,)
    finally:
        sqlite_quiver.unregister_numpy()
    assert plain.execute("select length(?)", [v]).fetchone() == (8,)


def test_null_gives_null(plain):
    row = plain.execute(
        "select nd_shape(null), nd_dtype(null), nd_size(null), nd_get(null, 1), "
        "nd_to_json(null), nd_array(null), nd_reshape(null, 2), nd_from_vec(null)"
    ).fetchone()
    assert row == (None,) * 8


BAD_SQL = [
    ("select nd_shape(x'0102')", "not a .npy array"),
    ("select nd_shape('[1,2]')", "expected a .npy array BLOB, got text"),
    ("select nd_shape(42)", "expected a .npy array BLOB, got the integer 42"),
    ("select nd_array('[[1,2],[3]]')", "ragged"),
    ("select nd_array('[1,\"a\"]')", "string elements"),
    ("select nd_array('[1,null]')", "null elements"),
    ("select nd_array('[1,2')", "invalid JSON"),
    ("select nd_array('[300]', 'int8')", "outside the int8 range"),
    ("select nd_array('[-1]', 'uint16')", "outside the uint16 range"),
    ("select nd_array('[1.5]', 'int32')", "is not an integer"),
    ("select nd_array('[2]', 'bool')", "is not a boolean"),
    ("select nd_array('[1e40]', 'float32')", "overflows float32"),
    ("select nd_array('[1]', 'complex128')", "unsupported dtype"),
    ("select nd_array('[1]', 'object')", "unsupported dtype"),
    ("select nd_array('[1]', 5)", "expected a dtype name"),
    ("select nd_get(nd_array('[[1,2],[3,4]]'), 0)", "expected 2 indices"),
    ("select nd_get(nd_array('[[1,2],[3,4]]'), 0, 2)", "out of bounds for axis 1 with size 2"),
    ("select nd_get(nd_array('[1,2]'), 'a')", "expected an integer index"),
    ("select nd_get(nd_array('[18446744073709551615]', 'uint64'), 0)", "does not fit"),
    ("select nd_reshape(nd_array('[1,2,3]'), 2)", "cannot reshape an array of 3 elements"),
    ("select nd_reshape(nd_array('[1,2,3,4]'), -1, -1)", "at most one -1"),
    ("select nd_reshape(nd_array('[1,2]'), 'x')", "expected a JSON list of integers"),
    ("select vec_f32(nd_array('[[1,2],[3,4]]'))", "expected a 1-D .npy array"),
    ("select vec_f32(nd_array('[]', 'float32'))", "empty .npy array"),
    ("select vec_f32(nd_array('[1e308, 1]'))", "expected finite values"),
]


@pytest.mark.parametrize("sql,message", BAD_SQL, ids=[m for _, m in BAD_SQL])
def test_bad_sql_input(plain, sql, message):
    with pytest.raises(sqlite3.OperationalError, match=message):
        plain.execute(sql).fetchone()


def npy_with_header(header: str, data: bytes, version: bytes = b"\x01\x00") -> bytes:
    h = header.encode()
    return b"\x93NUMPY" + version + len(h).to_bytes(2, "little") + h + data


BAD_BLOBS = [
    (
        npy_with_header("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n", b"\0" * 8),
        "unsupported dtype",
    ),
    (
        npy_with_header("{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }\n", b"\0" * 16),
        "unsupported dtype",
    ),
    (
        npy_with_header(
            "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,), }\n", b"\0" * 4
        ),
        "structured dtype",
    ),
    (
        npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", b"\0" * 8),
        "truncated",
    ),
    (
        npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n", b"\0" * 9),
        "truncated",
    ),
    (npy_with_header("{'descr': '<f4', 'shape': (1,), }\n", b"\0" * 4), "no 'fortran_order'"),
    (
        npy_with_header(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n", b"\0" * 4, b"\x09\x00"
        ),
        "version 9.0",
    ),
    (
        npy_with_header("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,), }\n", b"\0" * 4),
        "not True or False",
    ),
    (b"\x93NUMPY\x01\x00\xff\x00{", "truncated"),
]


@pytest.mark.parametrize("blob,message", BAD_BLOBS, ids=[m for _, m in BAD_BLOBS])
def test_bad_blobs(plain, blob, message):
    with pytest.raises(sqlite3.OperationalError, match=message):
        plain.execute("select nd_shape(?)", [blob]).fetchone()


def test_pickled_object_array_is_refused(plain):
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(sqlite3.OperationalError, match="object dtypes, which need pickle"):
        plain.execute("select nd_to_json(?)", [buf.getvalue()]).fetchone()
    with pytest.raises(ValueError):
        from_npy(buf.getvalue())


def test_python_side_refuses_unsupported(conn):
    for bad in [np.array(["a", "b"]), np.array([1 + 2j]), np.array([object()], dtype=object)]:
        with pytest.raises(TypeError, match="cannot be stored as a .npy BLOB"):
            to_npy(bad)
    conn.execute("create table t (a NDARRAY)")
    conn.execute("insert into t values (?)", [np.arange(3)])
    with pytest.raises((sqlite3.ProgrammingError, TypeError)):
        conn.execute("insert into t values (?)", [np.array([object()], dtype=object)])
    assert conn.execute("select count(*) from t").fetchone() == (1,)
    with pytest.raises(ValueError, match="not a .npy array"):
        from_npy(b"abc")
    with pytest.raises(TypeError, match="register_numpy takes"):
        sqlite_quiver.register_numpy(42)
