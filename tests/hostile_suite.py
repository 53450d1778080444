"""The standing hostile-input suite (issue 16), run by .ci/run after the pytest suite:

  (a) kills:        SIGKILL writers at random moments, every write route (SQL INSERT,
                    insert_vectors, insert_arrow, save_model) x both journal modes; then
                    PRAGMA integrity_check, vec0 integrity-check, exactly the committed
                    rows, KNN = brute force.
  (b) mutations:    every shadow-table column and the model registry set to boundary
                    values (0, -1, 2**31, 2**40, 2**63-1, NULL, text, truncated blob),
                    queried through every entry point in child processes: an error or a
                    correct answer (KNN = brute force over what point reads return),
                    never a signal or a PanicException.
  (c) fuzz:         hypothesis over the parsers: JSON and BLOB vectors, .npy bytes, vec0
                    CREATE arguments, ONNX bytes, Arrow schemas and arrays, names.
  (d) bounds:       huge k, huge dimensions, giant IN lists, huge claimed sizes, each in
                    a child under an address-space limit and a timeout.
  concurrency:      a writer process, a reader process and reader threads (two of them
                    sharing one connection) on one WAL file for a bounded time: every
                    KNN equals brute force over the rows the reader sees in the same
                    transaction.

Usage: python tests/hostile_suite.py [--quick]. Prints the counts and exits non-zero on
any failure.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
QUICK = "--quick" in sys.argv
FAILURES: list[str] = []
COUNTS: dict[str, float] = {}


def count(name: str, n: float = 1) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + n


def fail(what: str) -> None:
    FAILURES.append(what)
    print("FAIL:", what[:2000], flush=True)


PRELUDE = """
import json, os, resource, sys, time
import numpy as np
import sqlite_quiver
from sqlite_quiver import ml

def step(name, f):
    try:
        out = {"step": name, "ok": f()}
    except Exception as e:  # every failure must be an ordinary exception
        out = {"step": name, "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(out, default=str), flush=True)

def vec(i):
    return np.array([i % 13, (i * 7) % 11, i % 5, 1.0], dtype=np.float32)
"""


def child(body: str, timeout: float = 120, limit: int | None = None, args=()) -> tuple:
    """Runs PRELUDE + body in a child; returns (returncode, steps, stderr)."""
    code = PRELUDE
    if limit:
        code = (
            f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))\n" + code
        )
    code += textwrap.dedent(body)
    try:
        p = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return "timeout", [], ""
    steps = []
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            steps.append(json.loads(line))
    return p.returncode, steps, p.stderr


def bad_step(s: dict) -> bool:
    e = s.get("error", "")
    return "PanicException" in e or "internal error" in e


# ---- (a) SIGKILL writers -------------------------------------------------------------

WRITER = """
route, path, journal = sys.argv[1], sys.argv[2], sys.argv[3]
conn = sqlite_quiver.connect_with_vec(path, isolation_level=None)
conn.execute(f"pragma journal_mode={journal}")
conn.execute("create virtual table if not exists t using vec0(emb float[4], chunk_size=8)")
conn.execute("create table if not exists p(id integer primary key, x real)")
B = 1 if route == "save_model" else 8
done = 0
model = open(sys.argv[4], "rb").read() if len(sys.argv) > 4 else None
print("ready", flush=True)
while True:
    ids = list(range(done + 1, done + B + 1))
    if route == "sql":
        conn.execute("begin")
        for i in ids:
            conn.execute("insert into t(rowid, emb) values (?, ?)", (i, vec(i).tobytes()))
        conn.execute("commit")
    elif route == "insert_vectors":
        sqlite_quiver.insert_vectors(conn, "t", np.stack([vec(i) for i in ids]), ids=ids)
    elif route == "insert_arrow":
        import pyarrow as pa
        sqlite_quiver.insert_arrow(conn, "p", pa.table({"id": ids, "x": [float(i) for i in ids]}))
    else:
        ml.save_model(conn, "m", model)
    done += B
    print("committed", done, flush=True)
"""

CHECK_WRITTEN = """
route, path = sys.argv[1], sys.argv[2]
conn = sqlite_quiver.connect_with_vec(path)
step("integrity", lambda: conn.execute("pragma integrity_check").fetchall())
step("vec0", lambda: conn.execute("insert into t(t) values ('integrity-check')").rowcount)
def ids():
    if route == "insert_arrow":
        return [r[0] for r in conn.execute("select id from p order by id")]
    if route == "save_model":
        if not conn.execute("select 1 from sqlite_master where name = 'quiver_models'").fetchall():
            return []  # killed before the first save
        return [r[0] for r in conn.execute("select version from quiver_models order by version")]
    return [r[0] for r in conn.execute("select rowid from t order by rowid")]
step("ids", ids)
def knn():
    rows = conn.execute("select rowid, emb from t").fetchall()
    if not rows:
        return True
    q = np.array([3.3, 2.1, 1.7, 1.0], dtype=np.float32)
    X = np.stack([np.frombuffer(e, np.float32) for _, e in rows])
    d = np.sqrt(((X - q) ** 2).sum(axis=1))
    got = conn.execute("select rowid, distance from t where emb match ? and k = 5",
                       (q.tobytes(),)).fetchall()
    want = sorted(d)[:5]
    return bool(np.allclose([g[1] for g in got], want, atol=1e-4))
step("knn", knn)
if route == "save_model" and conn.execute(
        "select 1 from sqlite_master where name = 'quiver_models'").fetchall():
    step("predict", lambda: conn.execute("select ml_predict('m', 1, 2)").fetchone()[0])
"""


def kills(model_path: str | None) -> None:
    rounds = 2 if QUICK else 5
    routes = ["sql", "insert_vectors", "insert_arrow"] + (["save_model"] if model_path else [])
    rng = random.Random(16)
    for route in routes:
        for journal in ("delete", "wal"):
            for _ in range(rounds):
                d = tempfile.mkdtemp()
                path = os.path.join(d, "k.db")
                code = PRELUDE + textwrap.dedent(WRITER)
                argv = [sys.executable, "-c", code, route, path, journal]
                if route == "save_model":
                    argv.append(model_path)
                p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
                assert p.stdout is not None
                p.stdout.readline()  # ready
                time.sleep(rng.uniform(0.05, 0.8))
                p.send_signal(signal.SIGKILL)
                out, _ = p.communicate()
                # Only whole lines: a writer killed while printing may leave a partial
                # last line ("committed" without its number, or a cut-off number).
                committed = [
                    int(m.group(1))
                    for line in out.split("\n")[:-1]
                    if (m := re.fullmatch(r"committed (\d+)", line))
                ]
                last = committed[-1] if committed else 0
                count("kills")
                rc, steps, err = child(CHECK_WRITTEN, args=(route, path))
                where = f"kill {route}/{journal} after {last} rows"
                if rc != 0:
                    fail(f"{where}: checker exited {rc}: {err[-800:]}")
                else:
                    s = {x["step"]: x for x in steps}
                    ids = s["ids"].get("ok")
                    n = len(ids) if ids is not None else -1
                    expected = list(range(1, n + 1))
                    if s["integrity"].get("ok") != [["ok"]]:
                        fail(f"{where}: integrity_check {s['integrity']}")
                    if route != "save_model" and s["vec0"].get("ok") != 1:
                        fail(f"{where}: vec0 integrity-check {s['vec0']}")
                    b = 1 if route == "save_model" else 8
                    if ids != expected or n % b or n not in (last, last + b):
                        fail(f"{where}: committed rows {n} (printed {last})")
                    if s["knn"].get("ok") is not True:
                        fail(f"{where}: KNN {s['knn']}")
                    if route == "save_model" and n > 0 and "ok" not in s.get("predict", {}):
                        fail(f"{where}: predict {s['predict']}")
                shutil.rmtree(d, ignore_errors=True)


# ---- (b) corruption mutations ----------------------------------------------------------

VALUES = ["0", "-1", str(2**31), str(2**40), str(2**63 - 1), "NULL", "'text'", "x'00'"]

QUERY_ALL = """
for path in sys.argv[1:]:
    print(json.dumps({"file": path}), flush=True)
    conn = sqlite_quiver.connect_with_vec(path)
    q = np.array([3.3, 2.1, 1.7, 1.0], dtype=np.float32)
    step("count", lambda: conn.execute("select count(*) from t").fetchone()[0])
    step("rows", lambda: [(r, list(np.frombuffer(e, np.float32)) if isinstance(e, bytes) else e)
                          for r, e in conn.execute("select rowid, emb from t")])
    step("knn", lambda: conn.execute(
        "select rowid, distance from t where emb match ? and k = 5", (q.tobytes(),)).fetchall())
    step("point", lambda: conn.execute("select emb, tag, note from t where rowid = 3").fetchall())
    step("meta", lambda: conn.execute(
        "select rowid from t where emb match ? and k = 3 and tag = 'a'", (q.tobytes(),)).fetchall())
    step("search", lambda: sqlite_quiver.search(conn, "t", q, k=4)[0].tolist())
    step("arrow", lambda: sqlite_quiver.query_arrow(conn, "select rowid, tag from t").num_rows)
    step("check", lambda: sqlite_quiver.vectors.integrity_check(conn, "t"))
    step("insert", lambda: conn.execute(
        "insert into t(emb, tag, note) values ('[1,2,3,4]', 'a', 'n')").rowcount)
    step("bulk", lambda: sqlite_quiver.insert_vectors(conn, "t", np.ones((3, 4)), tag=["b"] * 3))
    step("update", lambda: conn.execute("update t set emb = '[0,0,0,1]' where rowid = 4").rowcount)
    step("delete", lambda: conn.execute("delete from t where rowid in (5, 6)").rowcount)
    step("models", lambda: ml.list_models(conn))
    step("predict", lambda: conn.execute("select ml_predict('m', 1, 2)").fetchone()[0])
    conn.rollback()
    conn.close()
"""


def base_db(path: str, model: bytes | None) -> None:
    code = f"""
    conn = sqlite_quiver.connect_with_vec({path!r})
    conn.execute("create virtual table t using vec0(emb float[4], tag text, +note text, chunk_size=8)")
    for i in range(1, 21):
        conn.execute("insert into t(rowid, emb, tag, note) values (?, ?, ?, 'n')",
                     (i, vec(i).tobytes(), "ab"[i % 2]))
    conn.execute("delete from t where rowid in (2, 9)")
    conn.commit()
    model = {model!r}
    if model:
        ml.save_model(conn, "m", model)
    conn.close()
    """
    rc, _, err = child(code)
    assert rc == 0, err


def mutations(model: bytes | None) -> list[tuple[str, str]]:
    """(description, SQL) for every column of every shadow table and the registry."""
    targets = {
        "t_chunks": ["chunk_id", "size", "validity"],
        "t_free": ["chunk_id"],
        "t_rows": ["rowid", "id", "slot", "s0"],
        "t_vector_chunks00": ["rowid", "vectors"],
        "t_auxiliary": ["rowid", "a0"],
    }
    out = []
    for table, cols in targets.items():
        for col in cols:
            for v in VALUES:
                out.append(
                    (
                        f"{table}.{col}={v}",
                        f"update {table} set {col} = {v} where rowid = (select min(rowid) from {table})",
                    )
                )
                out.append(
                    (
                        f"{table}.{col}={v} (last)",
                        f"update {table} set {col} = {v} where rowid = (select max(rowid) from {table})",
                    )
                )
    for key in ("format_version", "chunk_size", "generation", "max_rowid"):
        for v in VALUES:
            out.append((f"t_info.{key}={v}", f"update t_info set value = {v} where key = '{key}'"))
    for table in ("t_chunks", "t_rows", "t_vector_chunks00", "t_free", "t_info"):
        out.append((f"{table} emptied", f"delete from {table}"))
    out.append(
        ("truncated vectors", "update t_vector_chunks00 set vectors = substr(vectors, 1, 40)")
    )
    out.append(("truncated validity", "update t_chunks set validity = substr(validity, 1, 0)"))
    if model:
        for col in (
            "version",
            "format",
            "model",
            "sha256",
            "n_features",
            "input_schema",
            "output_schema",
            "active",
        ):
            for v in VALUES:
                out.append((f"quiver_models.{col}={v}", f"update quiver_models set {col} = {v}"))
        out.append(("model truncated", "update quiver_models set model = substr(model, 1, 30)"))
    return out


def check_answers(name: str, steps: list[dict]) -> None:
    s = {x["step"]: x for x in steps}
    for x in steps:
        if bad_step(x):
            fail(f"mutation {name}: {x}")
    rows, knn = s.get("rows", {}).get("ok"), s.get("knn", {}).get("ok")
    if rows is not None and knn is not None:
        import numpy as np

        live = [(r, e) for r, e in rows if isinstance(e, list) and len(e) == 4]
        if len(live) == len(rows) and live:
            q = np.array([3.3, 2.1, 1.7, 1.0], dtype=np.float32)
            d = sorted(float(np.sqrt(((np.array(e, np.float32) - q) ** 2).sum())) for _, e in live)
            got = [g[1] for g in knn]
            if not np.allclose(got, d[: len(got)], atol=1e-4) or len(got) != min(5, len(d)):
                fail(f"mutation {name}: KNN {knn} differs from brute force {d[:5]}")
    if "ok" in s.get("check", {}) and "error" in s.get("knn", {}):
        msg = s["knn"]["error"]
        if "corrupt" in msg or "format version" in msg:
            fail(f"mutation {name}: integrity_check passed but KNN says {msg}")


def corruption(model: bytes | None) -> None:
    d = tempfile.mkdtemp()
    base = os.path.join(d, "base.db")
    base_db(base, model)
    muts = mutations(model)
    if QUICK:
        muts = muts[::4]
    files = {}
    for i, (name, sql) in enumerate(muts):
        path = os.path.join(d, f"m{i}.db")
        shutil.copy(base, path)
        raw = sqlite3.connect(path)
        try:
            raw.execute(sql)
            raw.commit()
        except sqlite3.Error:
            raw.close()
            count("mutations refused by SQLite")
            continue
        raw.close()
        files[path] = name
    paths = list(files)
    batch = 20
    for start in range(0, len(paths), batch):
        group = paths[start : start + batch]
        rc, steps, err = child(QUERY_ALL, args=group, timeout=300, limit=4 << 30)
        if rc != 0:
            # Find the file that crashed, one child each.
            for path in group:
                rc1, steps1, err1 = child(QUERY_ALL, args=[path], timeout=120, limit=4 << 30)
                if rc1 != 0:
                    fail(f"mutation {files[path]}: child exited {rc1}: {err1[-600:]}")
                else:
                    check_answers(files[path], steps1)
                    count("mutations")
                    count("entry-point calls", len(steps1))
            continue
        current, per = None, []
        for x in steps + [{"file": None}]:
            if "file" in x:
                if current is not None:
                    check_answers(files[current], per)
                    count("mutations")
                    count("entry-point calls", len(per))
                current, per = x["file"], []
            else:
                per.append(x)
    shutil.rmtree(d, ignore_errors=True)


# ---- (c) fuzzing -------------------------------------------------------------------------

FUZZ = """
import sqlite3
from hypothesis import given, settings, strategies as st, HealthCheck
import pyarrow as pa

N = int(sys.argv[1])
cfg = settings(max_examples=N, deadline=None, database=None,
               suppress_health_check=list(HealthCheck))
conn = sqlite_quiver.connect_with_vec(isolation_level=None)
counts = {}

def expect(f, *allowed):
    try:
        f()
    except allowed:
        pass
    except sqlite3.Error:
        pass

def bump(name):
    counts[name] = counts.get(name, 0) + 1

floats = st.floats(allow_nan=True, allow_infinity=True, width=32)

@cfg
@given(st.one_of(st.text(max_size=60), st.lists(floats, max_size=20).map(json.dumps),
                 st.lists(st.one_of(floats, st.text(max_size=3), st.none()), max_size=8).map(
                     lambda v: json.dumps(v, allow_nan=True))))
def json_vectors(text):
    bump("json vectors")
    for f in ("vec_f32", "vec_int8", "vec_bit", "vec_length", "vec_normalize", "vec_to_json"):
        expect(lambda: conn.execute(f"select {f}(?)", (text,)).fetchall(), ValueError)
    expect(lambda: conn.execute("select vec_distance_l2(?, ?)", (text, text)).fetchall())

@cfg
@given(st.binary(max_size=80), st.binary(max_size=80))
def blob_vectors(a, b):
    bump("blob vectors")
    for f in ("vec_f32", "vec_int8", "vec_bit", "vec_length", "vec_type", "vec_to_json"):
        expect(lambda: conn.execute(f"select {f}(?)", (a,)).fetchall())
    for f in ("vec_distance_l2", "vec_distance_cosine", "vec_distance_hamming", "vec_add"):
        expect(lambda: conn.execute(f"select {f}(?, ?)", (a, b)).fetchall())
    expect(lambda: conn.execute("select vec_slice(?, 1, 3)", (a,)).fetchall())

header = st.builds(
    lambda d, s, o: "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (d, o, s),
    st.sampled_from(["<f4", "<f8", "<i8", "|i1", ">f4", "<U3", "|O", "<f2", "x"]),
    st.sampled_from(["()", "(3,)", "(2, 2)", "(0,)", "(%d,)" % 2**40, "(-1,)", "(2**70,)", "("]),
    st.sampled_from(["False", "True", "None"]))

@cfg
@given(header, st.binary(max_size=64), st.integers(0, 3))
def npy(h, data, version):
    bump("npy")
    h = h.encode()
    raw = b"\\x93NUMPY" + bytes([max(version, 1), 0]) + len(h).to_bytes(2, "little") + h + data
    for blob in (raw, raw[: len(raw) // 2], data):
        for f in ("nd_shape", "nd_dtype", "nd_ndim", "nd_size", "nd_to_json"):
            expect(lambda: conn.execute(f"select {f}(?)", (blob,)).fetchall())
        expect(lambda: conn.execute("select nd_get(?, 0)", (blob,)).fetchall())
        expect(lambda: conn.execute("select nd_reshape(?, 2, 2)", (blob,)).fetchall())

tokens = st.sampled_from(["emb", "float[4]", "int8[3]", "bit[8]", "float[0]", "float[99999999]",
                          "chunk_size=8", "chunk_size=0", "chunk_size=-8", "chunk_size=2**40",
                          "text", "integer", "primary key", "partition key", "+aux", "distance_metric=l1",
                          "distance_metric=x", "=", ",", "(", ")", "'", "\\"", "k", "distance", "rowid",
                          "indexed by ivf()", "float[4]]", "x float[1]"])

@cfg
@given(st.lists(tokens, max_size=8), st.text(max_size=12))
def create_args(parts, extra):
    bump("vec0 CREATE arguments")
    args = " ".join(parts) + extra
    try:
        conn.execute(f"create virtual table fz using vec0({args})")
    except (sqlite3.Error, ValueError):
        return
    expect(lambda: conn.execute("select * from fz").fetchall())
    conn.execute("drop table fz")

@cfg
@given(st.binary(max_size=300))
def onnx_bytes(data):
    bump("ONNX bytes")
    expect(lambda: ml.save_model(conn, "fz", data), ValueError, RuntimeError, TypeError)

@cfg
@given(st.sampled_from([b"\\x08\\x07\\x12", b"\\x08\\x08", b"", b"onnx"]), st.binary(max_size=120))
def onnx_prefixed(prefix, data):
    bump("ONNX bytes")
    expect(lambda: ml.save_model(conn, "fz", prefix + data), ValueError, RuntimeError, TypeError)

prim = st.sampled_from([pa.int8(), pa.int64(), pa.uint64(), pa.float32(), pa.float16(), pa.bool_(),
                        pa.string(), pa.large_binary(), pa.date32(), pa.timestamp("ns"),
                        pa.timestamp("s", tz="UTC"), pa.duration("ms"), pa.decimal128(10, 2),
                        pa.null(), pa.time64("ns"), pa.string_view()])
types = st.recursive(prim, lambda c: st.one_of(
    st.builds(pa.list_, c), st.builds(lambda t: pa.struct([("a", t), ("b", pa.int32())]), c),
    st.builds(lambda t: pa.list_(t, 2), c), st.builds(pa.large_list, c),
    st.builds(lambda t: pa.map_(pa.string(), t), c)), max_leaves=5)

@cfg
@given(st.lists(st.tuples(st.text(max_size=5), types), min_size=1, max_size=4), st.integers(0, 5),
       st.data())
def arrow_tables(cols, n, data):
    bump("Arrow schemas")
    arrays = {}
    for i, (name, t) in enumerate(cols):
        try:
            arrays[name or f"c{i}"] = pa.nulls(n, t) if data.draw(st.booleans()) else pa.array(
                [None] * n, t)
        except (pa.ArrowException, TypeError, ValueError):
            return
    tbl = pa.table(arrays) if len(set(arrays)) == len(arrays) else None
    if tbl is None:
        return
    try:
        sqlite_quiver.register_arrow(conn, "fz", tbl)
    except (ValueError, TypeError, sqlite3.Error):
        return
    expect(lambda: conn.execute("select * from fz").fetchall())
    expect(lambda: sqlite_quiver.query_arrow(conn, "select * from fz").to_pyarrow())
    expect(lambda: sqlite_quiver.insert_arrow(conn, "fz_copy", tbl, mode="replace"), ValueError, TypeError)
    sqlite_quiver.unregister_arrow(conn, "fz")

@cfg
@given(st.text(max_size=20))
def names(name):
    bump("names")
    t = pa.table({"x": [1]})
    expect(lambda: sqlite_quiver.register_arrow(conn, name, t), ValueError, TypeError)
    expect(lambda: conn.execute(f'select * from "{name.replace(chr(34), chr(34) * 2)}"').fetchall())
    expect(lambda: sqlite_quiver.unregister_arrow(conn, name), ValueError, TypeError)
    expect(lambda: sqlite_quiver.insert_vectors(conn, name, np.ones((1, 2))), ValueError, TypeError)
    expect(lambda: sqlite_quiver.search(conn, name, np.ones((1, 2)), k=1), ValueError, TypeError)
    expect(lambda: sqlite_quiver.insert_arrow(conn, name, t), ValueError, TypeError)
    expect(lambda: ml.save_model(conn, name, b"x"), ValueError, TypeError, RuntimeError)

for f in (json_vectors, blob_vectors, npy, create_args, onnx_bytes, onnx_prefixed, arrow_tables, names):
    f()
print(json.dumps({"step": "counts", "ok": counts}), flush=True)
"""


def fuzz() -> None:
    n = 60 if QUICK else 300
    rc, steps, err = child(FUZZ, args=(str(n),), timeout=900, limit=6 << 30)
    if rc != 0:
        fail(f"fuzz: child exited {rc}: {err[-3000:]}")
        return
    for name, c in steps[-1]["ok"].items():
        count(f"fuzz cases: {name}", c)


# ---- (d) resource bounds -------------------------------------------------------------------

BOUNDS = [
    (
        "search k=2**62",
        """
conn = sqlite_quiver.connect_with_vec()
conn.execute("create virtual table t using vec0(emb float[4])")
sqlite_quiver.insert_vectors(conn, "t", np.eye(4), ids=[1, 2, 3, 4])
step("k", lambda: sqlite_quiver.search(conn, "t", np.ones((8, 4)), k=2**62)[0].shape)
step("sql k", lambda: len(conn.execute("select rowid from t where emb match '[1,0,0,0]' and k = ?", (2**62,)).fetchall()))
""",
    ),
    (
        "huge dimensions",
        """
conn = sqlite_quiver.connect_with_vec()
for d in (2**20, 2**31, 2**40):
    step(f"float[{d}]", lambda: conn.execute(f"create virtual table t{d} using vec0(emb float[{d}])").rowcount)
step("zeroblob vector", lambda: conn.execute("select vec_length(zeroblob(400000000))").fetchall())
step("vec_f32 of 10M", lambda: conn.execute("select vec_length(vec_f32(zeroblob(40000000)))").fetchall())
""",
    ),
    (
        "giant IN lists",
        """
import pyarrow as pa
conn = sqlite_quiver.connect_with_vec()
conn.execute("create virtual table t using vec0(emb float[4], tag text)")
sqlite_quiver.insert_vectors(conn, "t", np.ones((1000, 4)), tag=["a"] * 1000)
sqlite_quiver.register_arrow(conn, "a", pa.table({"x": np.arange(200_000)}))
vals = list(range(0, 300_000, 3))
marks = ",".join("?" * 30000)
step("vec0 rowid IN", lambda: len(conn.execute(
    f"select rowid from t where emb match '[1,1,1,1]' and k = 10 and rowid in ({marks})", vals[:30000]).fetchall()))
step("arrow IN", lambda: conn.execute(f"select count(*) from a where x in ({marks})", vals[:30000]).fetchone()[0])
step("search IN", lambda: sqlite_quiver.search(conn, "t", np.ones((1, 4)), k=5, rowid=vals)[0].shape)
""",
    ),
    (
        "huge claimed sizes",
        """
h = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (2**31, 2**31)
npy = b"\\x93NUMPY\\x01\\x00" + len(h).to_bytes(2, "little") + h.encode() + b"\\0" * 16
conn = sqlite_quiver.connect_with_vec()
step("npy shape", lambda: conn.execute("select nd_size(?), nd_to_json(?)", (npy, npy)).fetchall())
step("nd_reshape", lambda: conn.execute("select nd_reshape(nd_array('[1,2]'), 65536, 65536)").fetchall())
step("vec0 chunk", lambda: conn.execute("create virtual table c using vec0(e float[65536], chunk_size=65536)").rowcount)
step("nd_from_vec", lambda: conn.execute("select nd_size(nd_from_vec(zeroblob(4000000)))").fetchall())
""",
    ),
]


def bounds() -> None:
    for name, body in BOUNDS:
        rc, steps, err = child(body, timeout=120, limit=3 << 30)
        count("resource-bound cases", len(steps))
        if rc != 0:
            fail(f"bounds {name}: child exited {rc}: {err[-800:]}")
        for s in steps:
            if bad_step(s):
                fail(f"bounds {name}: {s}")


# ---- concurrency -----------------------------------------------------------------------------

CONC_WRITER = """
path, seconds = sys.argv[1], float(sys.argv[2])
conn = sqlite_quiver.connect_with_vec(path, isolation_level=None, timeout=30)
rng = np.random.default_rng(1)
end = time.monotonic() + seconds
n = 0
while time.monotonic() < end:
    conn.execute("begin immediate")
    ids = rng.integers(1, 400, size=6).tolist()
    for i in ids[:3]:
        conn.execute("insert or replace into t(rowid, emb) values (?, ?)", (i, rng.random(4, dtype=np.float32).tobytes()))
    conn.execute("delete from t where rowid = ?", (ids[3],))
    conn.execute("update t set emb = ? where rowid = ?", (rng.random(4, dtype=np.float32).tobytes(), ids[4]))
    conn.execute("commit")
    n += 1
print(json.dumps({"step": "writes", "ok": n}), flush=True)
"""

CONC_READER = """
import threading
path, seconds = sys.argv[1], float(sys.argv[2])
end = time.monotonic() + seconds
results = {"checks": 0, "bad": 0}

def check(conn):
    conn.execute("begin")
    rows = conn.execute("select rowid, emb from t").fetchall()
    q = np.array([0.3, 0.6, 0.1, 0.9], dtype=np.float32)
    got = conn.execute("select rowid, distance from t where emb match ? and k = 7", (q.tobytes(),)).fetchall()
    n = sqlite_quiver.query_arrow(conn, "select rowid from t").num_rows
    conn.execute("commit")
    if rows:
        X = np.stack([np.frombuffer(e, np.float32) for _, e in rows])
        d = np.sort(np.sqrt(((X - q) ** 2).sum(axis=1)))[:7]
        ok = np.allclose([g[1] for g in got], d, atol=1e-5) and n == len(rows)
    else:
        ok = got == [] and n == 0
    results["checks"] += 1
    results["bad"] += 0 if ok else 1

def own():
    conn = sqlite_quiver.connect_with_vec(path, isolation_level=None, timeout=30)
    while time.monotonic() < end:
        check(conn)

shared = sqlite_quiver.connect_with_vec(path, isolation_level=None, timeout=30, check_same_thread=False)
lock = threading.Lock()
def on_shared():
    q = np.ones((2, 4), dtype=np.float32)
    while time.monotonic() < end:
        sqlite_quiver.search(shared, "t", q, k=3)
        with lock:  # one transaction at a time on the shared connection
            check(shared)
threads = [threading.Thread(target=own), threading.Thread(target=own),
           threading.Thread(target=on_shared), threading.Thread(target=on_shared)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"step": "reads", "ok": results}), flush=True)
"""


def concurrency() -> None:
    seconds = 4.0 if QUICK else 15.0
    d = tempfile.mkdtemp()
    path = os.path.join(d, "w.db")
    rc, _, err = child(f"""
    conn = sqlite_quiver.connect_with_vec({path!r})
    conn.execute("pragma journal_mode=wal")
    conn.execute("create virtual table t using vec0(emb float[4], chunk_size=16)")
    sqlite_quiver.insert_vectors(conn, "t", np.random.default_rng(0).random((300, 4)), ids=list(range(1, 301)))
    conn.commit()
    """)
    assert rc == 0, err
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PRELUDE + textwrap.dedent(code), path, str(seconds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for code in (CONC_WRITER, CONC_READER, CONC_READER)
    ]
    for p in procs:
        try:
            out, err = p.communicate(timeout=seconds + 120)
        except subprocess.TimeoutExpired:
            p.kill()
            fail("concurrency: a process hung (deadlock?)")
            continue
        if p.returncode != 0:
            fail(f"concurrency: exited {p.returncode}: {err[-800:]}")
            continue
        for line in out.splitlines():
            s = json.loads(line)
            if s["step"] == "writes":
                count("concurrent write transactions", s["ok"])
            elif s["step"] == "reads":
                count("concurrent KNN checks", s["ok"]["checks"])
                if s["ok"]["bad"]:
                    fail(f"concurrency: {s['ok']['bad']} KNN results differ from brute force")
    count("concurrency seconds", seconds)
    rc, steps, err = child(CHECK_WRITTEN, args=("sql", path))
    if rc != 0 or any("error" in s for s in steps):
        fail(f"concurrency: final check {steps} {err[-400:]}")
    shutil.rmtree(d, ignore_errors=True)


def onnx_model() -> bytes | None:
    try:
        import numpy as np
        from skl2onnx import to_onnx
        from sklearn.linear_model import LinearRegression
    except ImportError:
        return None
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    return to_onnx(LinearRegression().fit(X, X.sum(axis=1)), X[:1]).SerializeToString()


def main() -> int:
    start = time.monotonic()
    model = onnx_model()
    model_path = None
    if model:
        fd, model_path = tempfile.mkstemp(suffix=".onnx")
        os.write(fd, model)
        os.close(fd)
    for name, part in [
        ("kills", lambda: kills(model_path)),
        ("mutations", lambda: corruption(model)),
        ("fuzz", fuzz),
        ("bounds", bounds),
        ("concurrency", concurrency),
    ]:
        t0 = time.monotonic()
        part()
        print(f"hostile suite: {name} done in {time.monotonic() - t0:.1f}s", flush=True)
    if model_path:
        os.unlink(model_path)
    print("hostile suite counts:")
    for k, v in sorted(COUNTS.items()):
        print(f"  {k}: {v:g}")
    print(f"hostile suite: {len(FAILURES)} failures, {time.monotonic() - start:.0f}s")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
