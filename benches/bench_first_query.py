"""First, second and later KNN queries of fresh processes: sqlite-quiver vs sqlite-vec 0.1.9.

    python benches/bench_first_query.py                 # 100,000 x 768, 5 runs
    python benches/bench_first_query.py --rows 1000000 --runs 3

Builds one database FILE per engine and journal mode (rollback journal and WAL; SQL
``executemany`` INSERTs in one transaction, as sqlite-vec documents), then starts fresh
processes alternately (sqlite-vec, sqlite-quiver, for each mode, ``--runs`` times), each
timing its first query (k=10), its second query (where sqlite-quiver loads its cache)
and the median of five later ones. Prints the median and spread per engine, and the
time ratio of each run's first queries (quiver / sqlite-vec; below 1 is faster). Both
engines must return the same rowids. The databases are written to ``--dir`` (default: a
temporary directory) and removed at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import sqlite_quiver

SQL = "select rowid, distance from items where embedding match ? and k = 10"
MODES = ("delete", "wal")
ENGINES = ("sqlite-vec", "quiver")


def db_path(root: str, engine: str, mode: str) -> str:
    return os.path.join(root, f"{engine}-{mode}.db")


def connect(engine: str, path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    if engine == "sqlite-vec":
        import sqlite_vec

        sqlite_quiver.load_extension(conn, sqlite_vec.loadable_path())
    else:
        sqlite_quiver.load(conn)
    return conn


def build(root: str, rows: int, dims: int) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, dims), dtype=np.float32)
    np.save(os.path.join(root, "queries.npy"), rng.standard_normal((8, dims), dtype=np.float32))
    for mode in MODES:
        for engine in ENGINES:
            conn = connect(engine, db_path(root, engine, mode))
            conn.execute(f"pragma journal_mode={mode}")
            conn.execute(f"create virtual table items using vec0(embedding float[{dims}])")
            t = time.perf_counter()
            with conn:
                conn.executemany(
                    "insert into items(rowid, embedding) values (?, ?)",
                    ((i + 1, X[i].tobytes()) for i in range(rows)),
                )
            rate = rows / (time.perf_counter() - t)
            print(f"built {engine:10s} {mode:6s}: SQL INSERT {rate:9,.0f} rows/s", flush=True)
            conn.close()


def worker(root: str, engine: str, mode: str) -> dict:
    """One fresh process: the first, second and later queries."""
    qs = np.load(os.path.join(root, "queries.npy"))
    conn = connect(engine, db_path(root, engine, mode))
    times = []
    ids = None
    for q in qs:
        t = time.perf_counter()
        rows = conn.execute(SQL, (q.tobytes(),)).fetchall()
        times.append(time.perf_counter() - t)
        ids = ids or [r[0] for r in rows]
    return {
        "first": times[0],
        "second": times[1],
        "later": statistics.median(times[2:]),
        "ids": ids,
    }


def spread(xs: list) -> str:
    ms = [x * 1e3 for x in xs]
    return f"{statistics.median(ms):8.1f} ms [{min(ms):.1f}-{max(ms):.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=768)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", help="where the databases go (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    root = args.dir or tempfile.mkdtemp(prefix="quiver-first-query-")
    os.makedirs(root, exist_ok=True)
    print(f"{args.rows:,} x {args.dims} float32, {args.runs} runs; load average {os.getloadavg()}")
    try:
        build(root, args.rows, args.dims)
        results: dict = {}
        for _ in range(args.runs):
            for mode in MODES:
                for engine in ENGINES:
                    cmd = [sys.executable, __file__, "--worker", root, engine, mode]
                    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
                    results.setdefault((engine, mode), []).append(json.loads(out.stdout))
        for mode in MODES:
            vec, quiver = results[("sqlite-vec", mode)], results[("quiver", mode)]
            assert all(a["ids"] == b["ids"] for a, b in zip(vec, quiver)), "engines disagree"
            for what in ("first", "second", "later"):
                a = [r[what] for r in vec]
                b = [r[what] for r in quiver]
                ratios = ", ".join(f"{y / x:.2f}" for x, y in zip(a, b))
                print(
                    f"{mode:6s} {what:6s} query: sqlite-vec {spread(a)}  quiver {spread(b)}"
                    f"  time ratio per run: {ratios}"
                )
        print(f"load average {os.getloadavg()}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
