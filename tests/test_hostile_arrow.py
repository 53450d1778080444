"""Hostile Arrow data and threads (issue 16, items 5 and 6): deep nesting, inconsistent
null counts in raw C arrays, a connection shared by threads while a table is
re-registered, and sqlite3's check_same_thread. Crash-prone reproductions run in a
child process (see hostile_child.py)."""

import sqlite3
import threading

import pyarrow as pa
import pytest
from hostile_child import run_child

import sqlite_quiver

NESTED = """
import pyarrow as pa

def nested(kind, n):
    arr = pa.array([1, 2], pa.int32())
    for _ in range(n):
        if kind == "struct":
            arr = pa.StructArray.from_arrays([arr], ["a"])
        else:
            arr = pa.ListArray.from_arrays(pa.array(range(len(arr) + 1), pa.int32()), arr)
    return pa.table({{"x": arr, "k": pa.array([7] * len(arr), pa.int64())}})

t = nested({kind!r}, {n})
conn = sqlite_quiver.connect_with_vec()
step(lambda: sqlite_quiver.register_arrow(conn, "t", t))
step(lambda: sqlite_quiver.register_arrow(conn, "b", t.to_batches()[0]))
step(lambda: sqlite_quiver.insert_arrow(conn, "n", t, mode="create"))
step(lambda: sqlite_quiver.query_arrow(conn, "select 1 as x", schema=t.schema).num_rows)
step(lambda: conn.execute("select k from t").fetchall())
"""


@pytest.mark.parametrize("kind,n", [("struct", 3000), ("list", 5000), ("struct", 65)])
def test_deep_nesting_is_an_error(kind, n):
    """3,000 nested structs / 5,000 nested lists overflowed the stack (SIGSEGV)."""
    steps = run_child(NESTED.format(kind=kind, n=n))
    assert len(steps) == 5, steps
    for s in steps[:4]:
        assert "ValueError: Arrow data nested deeper than 64 levels" in s["error"], steps
    assert "no such table: t" in steps[4]["error"]


@pytest.mark.parametrize("kind", ["struct", "list"])
def test_nesting_up_to_the_limit_works(kind):
    steps = run_child(NESTED.format(kind=kind, n=64))
    assert steps[:3] == [{"ok": None}, {"ok": None}, {"ok": 2}], steps
    assert steps[4] == {"ok": [[7], [7]]}


RAW_NULL_COUNT = """
import ctypes, gc
import pyarrow as pa

get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
get_pointer.restype = ctypes.c_void_p
get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]

class CArray(ctypes.Structure):
    pass

CArray._fields_ = [
    ("length", ctypes.c_int64), ("null_count", ctypes.c_int64), ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64), ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(CArray))),
    ("dictionary", ctypes.c_void_p), ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p),
]

batch = pa.record_batch({{
    "i": pa.array([1, None, 3], pa.int64()),
    "s": pa.array(["a", None, "c"]),
    "l": pa.array([[1], None, [2, 3]]),
    "n": pa.array([4, 5, 6], pa.int64()),
}})

def lying():
    schema, array = batch.__arrow_c_array__()
    top = CArray.from_address(get_pointer(array, b"arrow_array"))
    target = top if {column!r} == "top" else top.children[{column!r}].contents
    target.null_count = {value}
    return schema, array

class Lying:
    def __arrow_c_array__(self, requested_schema=None):
        return lying()

conn = sqlite_quiver.connect_with_vec()
def query():
    sqlite_quiver.register_arrow(conn, "t", Lying())
    return conn.execute("select i, s, l, n from t").fetchall()
step(query)
step(lambda: sqlite_quiver.unregister_arrow(conn, "t"))
gc.collect()
step(lambda: sqlite_quiver.insert_arrow(conn, "copy", Lying(), mode="create"))
step(lambda: conn.execute("select i, s, n from copy").fetchall())
conn.close()
del conn
gc.collect()
step(lambda: "closed")
"""


TRUE_ROWS = [[1, "a", "[1]", 4], [None, None, None, 5], [3, "c", "[2,3]", 6]]


@pytest.mark.parametrize("column", ["top", 0, 1, 2, 3])
@pytest.mark.parametrize("value", [-1, 0, 1, 2, 3, 1000, -5])
def test_raw_c_array_with_inconsistent_null_count(column, value):
    """A raw C array whose null_count disagrees with its validity bitmap: an error, or
    the true values (the bitmap decides); never a crash, also at garbage collection
    after registering and unregistering. A count of 0 next to a bitmap with nulls read
    the null slots as 0 and ''."""
    steps = run_child(RAW_NULL_COUNT.format(column=column, value=value))
    assert len(steps) == 5 and steps[-1] == {"ok": "closed"}, steps
    got, copied = steps[0], steps[3]
    if "ok" in got:
        assert [list(r) for r in got["ok"]] == TRUE_ROWS, steps
        assert steps[1] == {"ok": True}
        assert [list(r) for r in copied["ok"]] == [[r[0], r[1], r[3]] for r in TRUE_ROWS]
    else:
        assert got["error"].startswith("ValueError: column "), got
        assert "null_count" in got["error"], got
        assert steps[2]["error"] == got["error"], steps


SHARED = """
import threading, time
import numpy as np
import pyarrow as pa

N = 20_000
conn = sqlite_quiver.connect_with_vec(check_same_thread=False)

def table(i):
    # numpy-owned buffers: releasing them needs the GIL.
    return pa.table({{"x": np.arange(i, i + N, dtype=np.int64), "f": np.random.rand(N)}})

sqlite_quiver.register_arrow(conn, "t", table(0))
stop = time.monotonic() + {seconds}
counts = {{"reads": 0, "registers": 0, "bad": 0}}

def reader():
    while time.monotonic() < stop:
        total, n = conn.execute("select sum(x), count(*) from t").fetchone()
        # sum(arange(i, i + N)) = N * i + N * (N - 1) / 2 for the one table it saw.
        if n != N or (total - N * (N - 1) // 2) % N:
            counts["bad"] += 1
        counts["reads"] += 1

def writer():
    i = 0
    while time.monotonic() < stop:
        i += 1
        sqlite_quiver.register_arrow(conn, "t", table(i))
        counts["registers"] += 1

threads = [threading.Thread(target=reader), threading.Thread(target=reader),
           threading.Thread(target=writer)]
for t in threads:
    t.start()
for t in threads:
    t.join()
step(lambda: counts)
step(lambda: sqlite_quiver.unregister_arrow(conn, "t"))
step(lambda: sqlite_quiver._quiver.arrow_deferred_releases())
"""


def test_shared_connection_reregister_does_not_deadlock():
    """One thread re-registering an Arrow table built from numpy while others read it on
    the same connection hung 3 runs out of 3 within seconds."""
    steps = run_child(SHARED.format(seconds=3), timeout=90)
    counts = steps[0]["ok"]
    assert counts["reads"] > 0 and counts["registers"] > 0 and counts["bad"] == 0, counts
    assert steps[1] == {"ok": True}
    # Releases queued by reader threads (no GIL) have run by now.
    assert steps[2] == {"ok": 0}


def _from_other_thread(f):
    out = {}

    def run():
        try:
            out["ok"] = f()
        except Exception as e:  # noqa: BLE001 - the test inspects it
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out


CALLS = {
    "insert_vectors": lambda c: sqlite_quiver.insert_vectors(c, "v", [[1.0, 0.0]], ids=[1]),
    "search": lambda c: sqlite_quiver.search(c, "v", [[1.0, 0.0]], k=1),
    "register_arrow": lambda c: sqlite_quiver.register_arrow(c, "a", pa.table({"x": [1]})),
    "unregister_arrow": lambda c: sqlite_quiver.unregister_arrow(c, "a"),
    "query_arrow": lambda c: sqlite_quiver.query_arrow(c, "select 1 as x").num_rows,
    "insert_arrow": lambda c: sqlite_quiver.insert_arrow(c, "n", pa.table({"x": [1]})),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_check_same_thread_is_honoured(name):
    """The Rust entry points used a stdlib connection from any thread; now they raise
    sqlite3's own ProgrammingError, as conn.execute would, unless
    check_same_thread=False."""
    conn = sqlite_quiver.connect_with_vec()
    conn.execute("create virtual table v using vec0(emb float[2])")
    conn.execute("create table n(x)")
    out = _from_other_thread(lambda: CALLS[name](conn))
    assert isinstance(out.get("error"), sqlite3.ProgrammingError), out
    assert "same thread" in str(out["error"])
    conn.close()

    shared = sqlite_quiver.connect_with_vec(check_same_thread=False)
    shared.execute("create virtual table v using vec0(emb float[2])")
    shared.execute("create table n(x)")
    if name in ("search", "unregister_arrow"):
        CALLS["insert_vectors"](shared)
        CALLS["register_arrow"](shared)
    out = _from_other_thread(lambda: CALLS[name](shared))
    assert "error" not in out, out
    shared.close()


def test_insert_arrow_reads_schema_dot_table(conn, tmp_path):
    """insert_arrow(conn, "other.t", ...) treated the name as one identifier (a table
    named "other.t" in main) while insert_vectors reads schema.table."""
    conn.execute("attach database ? as other", (str(tmp_path / "other.db"),))
    data = pa.table({"x": [1, 2, 3]})
    assert sqlite_quiver.insert_arrow(conn, "other.t", data, mode="create") == 3
    assert sqlite_quiver.insert_arrow(conn, "other.t", data) == 3
    assert conn.execute("select count(*) from other.t").fetchone() == (6,)
    assert conn.execute("select count(*) from main.sqlite_master").fetchone() == (0,)
    assert sqlite_quiver.insert_arrow(conn, "other.t", data, mode="replace") == 3
    assert conn.execute("select sum(x) from other.t").fetchone() == (6,)
    conn.execute("create virtual table other.v using vec0(emb float[2])")
    vectors = pa.table({"emb": pa.array([[1, 0], [0, 1]], pa.list_(pa.float32(), 2))})
    assert sqlite_quiver.insert_arrow(conn, "other.v", vectors) == 2
    assert conn.execute("select count(*) from other.v").fetchone() == (2,)
