"""Values of every scalar function, against numpy or hand-computed results."""

import json
import math

import numpy as np
import pytest
from conftest import f32, one

from sqlite_quiver import serialize_float32, serialize_int8

DIMS = [1, 2, 3, 7, 8, 15, 16, 17, 31, 64, 100, 128, 300, 384, 768, 1536]


def test_version_and_kernels(conn):
    assert one(conn, "select vec_version()").startswith("v0.1.9")
    assert one(conn, "select quiver_kernels()") in {"avx512", "avx2+fma", "neon", "scalar"}


def test_vec_f32_from_json_and_blob(conn):
    blob = one(conn, "select vec_f32('[1, 2.5, -3e2]')")
    assert blob == serialize_float32([1, 2.5, -300])
    assert one(conn, "select vec_f32(?)", [blob]) == blob
    assert one(conn, "select vec_type(vec_f32('[1]'))") == "float32"


def test_vec_int8_and_bit(conn):
    assert one(conn, "select vec_int8('[1, -1, 127, -128]')") == bytes([1, 255, 127, 128])
    assert one(conn, "select vec_type(vec_int8(?))", [bytes([1, 2])]) == "int8"
    assert one(conn, "select vec_type(vec_bit(X'F0'))") == "bit"
    assert one(conn, "select vec_length(vec_bit(X'0F0F'))") == 16
    assert one(conn, "select vec_length(vec_int8('[1,2,3]'))") == 3
    assert one(conn, "select vec_length('[1,2,3,4]')") == 4


def test_bare_blob_is_float32(conn):
    blob = serialize_float32([1, 2, 3])
    assert one(conn, "select vec_type(?)", [blob]) == "float32"
    assert one(conn, "select vec_length(?)", [blob]) == 3


def test_to_json_formats(conn):
    assert one(conn, "select vec_to_json(vec_normalize('[2,3,1,-4]'))") == (
        "[0.365148,0.547723,0.182574,-0.730297]"
    )
    assert one(conn, "select vec_to_json('[1, -0.0, 2.5]')") == "[1.000000,0.000000,2.500000]"
    assert one(conn, "select vec_to_json(vec_int8('[1,-2]'))") == "[1,-2]"
    assert one(conn, "select vec_to_json(vec_bit(X'0F'))") == "[1,1,1,1,0,0,0,0]"


def test_add_sub(conn, rng):
    a = rng.standard_normal(33).astype(np.float32)
    b = rng.standard_normal(33).astype(np.float32)
    np.testing.assert_array_equal(f32(one(conn, "select vec_add(?, ?)", [a, b])), a + b)
    np.testing.assert_array_equal(f32(one(conn, "select vec_sub(?, ?)", [a, b])), a - b)
    out = one(conn, "select vec_add(vec_int8('[100,-2]'), vec_int8('[27,-3]'))")
    assert list(np.frombuffer(out, dtype=np.int8)) == [127, -5]
    assert one(conn, "select vec_type(vec_sub(vec_int8('[1]'), vec_int8('[1]')))") == "int8"


def test_normalize_slice(conn, rng):
    a = rng.standard_normal(50).astype(np.float32)
    got = f32(one(conn, "select vec_normalize(?)", [a]))
    np.testing.assert_allclose(got, a / np.linalg.norm(a), rtol=1e-6)
    assert f32(one(conn, "select vec_slice('[1,2,3,4]', 1, 3)")).tolist() == [2, 3]
    assert one(conn, "select vec_to_json(vec_slice(vec_int8('[1,2,3]'), 0, 1))") == "[1]"
    assert one(conn, "select hex(vec_slice(vec_bit(X'0FF0'), 8, 16))") == "F0"


def test_quantize(conn):
    assert one(conn, "select hex(vec_quantize_binary('[1,2,3,4,-5,-6,-7,-8]'))") == "0F"
    assert one(conn, "select vec_type(vec_quantize_binary('[1,2,3,4,-5,-6,-7,-8]'))") == "bit"
    assert one(conn, "select hex(vec_quantize_binary(vec_int8('[0,1,0,1,0,1,0,1]')))") == "AA"
    assert one(conn, "select vec_to_json(vec_quantize_int8('[0.1,-0.5,1,-1]', 'unit'))") == (
        "[12,-64,126,-128]"
    )
    # Outside [-1, 1] saturates rather than wrapping.
    assert one(conn, "select vec_to_json(vec_quantize_int8('[5,-5]', 'unit'))") == "[127,-128]"


@pytest.mark.parametrize("dim", DIMS)
def test_float_distances_match_numpy(conn, rng, dim):
    a = rng.standard_normal(dim).astype(np.float32)
    b = rng.standard_normal(dim).astype(np.float32)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    row = conn.execute(
        "select vec_distance_l2(?1, ?2), vec_distance_l1(?1, ?2), vec_distance_cosine(?1, ?2),"
        " vec_distance_dot(?1, ?2)",
        [a, b],
    ).fetchone()
    scale = np.abs(a64).sum() + np.abs(b64).sum()
    assert row[0] == pytest.approx(np.linalg.norm(a64 - b64), rel=1e-5)
    assert row[1] == pytest.approx(np.abs(a64 - b64).sum(), rel=1e-5)
    cos = 1 - a64 @ b64 / (np.linalg.norm(a64) * np.linalg.norm(b64))
    assert row[2] == pytest.approx(cos, abs=1e-5)
    assert row[3] == pytest.approx(-(a64 @ b64), abs=1e-5 * scale)


@pytest.mark.parametrize("dim", DIMS)
def test_int8_distances_are_exact(conn, rng, dim):
    a = rng.integers(-128, 128, dim).astype(np.int8)
    b = rng.integers(-128, 128, dim).astype(np.int8)
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    row = conn.execute(
        "select vec_distance_l2(vec_int8(?1), vec_int8(?2)), vec_distance_l1(vec_int8(?1),"
        " vec_int8(?2)), vec_distance_cosine(vec_int8(?1), vec_int8(?2)),"
        " vec_distance_dot(vec_int8(?1), vec_int8(?2))",
        [a.tobytes(), b.tobytes()],
    ).fetchone()
    assert row[0] == pytest.approx(math.sqrt(((a64 - b64) ** 2).sum()), rel=1e-6)
    assert row[1] == int(np.abs(a64 - b64).sum()) and isinstance(row[1], int)
    cos = 1 - (a64 @ b64) / (np.linalg.norm(a64) * np.linalg.norm(b64))
    assert row[2] == pytest.approx(cos, abs=1e-5)
    assert row[3] == -int(a64 @ b64)


@pytest.mark.parametrize("nbytes", [1, 2, 3, 8, 13, 32, 96, 128])
def test_hamming(conn, rng, nbytes):
    a = rng.integers(0, 256, nbytes).astype(np.uint8)
    b = rng.integers(0, 256, nbytes).astype(np.uint8)
    expected = int(np.unpackbits(a ^ b).sum())
    got = one(
        conn, "select vec_distance_hamming(vec_bit(?), vec_bit(?))", [a.tobytes(), b.tobytes()]
    )
    assert got == expected and isinstance(got, float)


def test_known_values(conn):
    assert one(conn, "select vec_distance_l2('[1,2]', '[4,6]')") == 5.0
    assert one(conn, "select vec_distance_l1('[1,2]', '[4,6]')") == 7.0
    assert one(conn, "select vec_distance_cosine('[0,0]', '[1,2]')") is None
    assert one(conn, "select vec_distance_cosine('[1,0]', '[0,1]')") == 1.0
    assert one(conn, "select vec_distance_dot('[1,2]', '[3,4]')") == -11.0
    assert one(conn, "select vec_distance_hamming(vec_bit(X'0F'), vec_bit(X'F0'))") == 8.0


def test_vec_each(conn):
    assert conn.execute("select rowid, value from vec_each('[1,2.5,-3]')").fetchall() == [
        (0, 1.0),
        (1, 2.5),
        (2, -3.0),
    ]
    assert [v for (v,) in conn.execute("select value from vec_each(vec_int8('[5,-6]'))")] == [5, -6]
    bits = [v for (v,) in conn.execute("select value from vec_each(vec_bit(X'05'))")]
    assert bits == [1, 0, 1, 0, 0, 0, 0, 0]
    # As a table function joined to a table.
    conn.execute("create table t(id, v)")
    conn.execute("insert into t values (1, '[1,2]'), (2, '[3]')")
    rows = conn.execute(
        "select t.id, e.value from t, vec_each(t.v) e order by t.id, e.rowid"
    ).fetchall()
    assert rows == [(1, 1.0), (1, 2.0), (2, 3.0)]


def test_numpy_parameters(conn):
    v = np.array([3, 4], dtype=np.float32)
    assert one(conn, "select vec_distance_l2(?, '[0,0]')", [v]) == 5.0
    assert one(conn, "select vec_length(?)", [np.zeros(7, dtype=np.float32)]) == 7


def test_serialize_helpers_match_sqlite_vec_bytes():
    assert serialize_float32([1.0, -2.0]) == bytes.fromhex("0000803f000000c0")
    assert serialize_float32(np.array([1.0, -2.0])) == bytes.fromhex("0000803f000000c0")
    assert serialize_int8([1, -1, 127]) == bytes.fromhex("01ff7f")
    with pytest.raises(ValueError, match="finite"):
        serialize_float32([1.0, float("nan")])
    with pytest.raises(ValueError, match="int8"):
        serialize_int8([300])
    with pytest.raises(TypeError, match="element 1"):
        serialize_float32([1.0, "x"])


def test_json_roundtrip(conn, rng):
    a = rng.standard_normal(20).astype(np.float32)
    text = one(conn, "select vec_to_json(?)", [a])
    np.testing.assert_allclose(json.loads(text), a, atol=1e-6)
