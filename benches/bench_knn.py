# ruff: noqa: E501
"""vec0 KNN benchmark: sqlite-quiver vs sqlite-vec 0.1.9 vs numpy, measured in one run.

    python benches/bench_knn.py             # files: 100,000 x 768; then :memory: tables
    python benches/bench_knn.py --quick     # files: 10,000 x 768; smaller :memory: sizes
    python benches/bench_knn.py --million   # also 1,000,000 x 768 files (memory, first query)
    python benches/bench_knn.py --files-only / --memory-only

Table 1, database FILES (what users do): for each journal mode (rollback journal and
WAL) and each engine, in fresh processes (``subprocess``): SQL ``executemany`` INSERTs in
one transaction, ``insert_vectors`` (sqlite-quiver), the first KNN query after the
inserts on the same connection, the first query of a new process opening the file,
later queries (median), and UPDATE / DELETE rates (``executemany`` in one transaction),
with numpy's query time as the anchor. Ratios are printed from that one run.

Table 2, ``:memory:`` databases: bulk-insert rows/s (sqlite-quiver's insert_vectors, and
sqlite-vec through executemany), single-query KNN latency (k=10) for both and for numpy
(``X @ q`` with precomputed norms + argpartition), the throughput of 64 batched queries
against 64 single ones, and the cache memory against the raw vector bytes.
sqlite-vec is loaded into its own connection (its function names collide with ours).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import sqlite_quiver

K = 10


def timed(fn, repeat: int) -> float:
    """Median seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def numpy_knn(X, norms, q):
    d = norms - 2.0 * (X @ q)
    idx = np.argpartition(d, K)[:K]
    return idx[np.argsort(d[idx])]


def bench(n: int, dims: int, n_queries: int, vec_queries: int) -> None:
    print(f"\n== {n:,} x {dims} float32, k={K} ==")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, dims), dtype=np.float32)
    Q = rng.standard_normal((max(64, n_queries), dims), dtype=np.float32)
    raw_bytes = X.nbytes

    # --- sqlite-quiver
    qc = sqlite_quiver.connect_with_vec(":memory:")
    qc.execute(f"create virtual table items using vec0(embedding float[{dims}])")
    t = time.perf_counter()
    with qc:
        sqlite_quiver.insert_vectors(qc, "items", X)
    quiver_insert = n / (time.perf_counter() - t)

    sql = "select rowid, distance from items where embedding match ? and k = ?"
    t = time.perf_counter()
    first = qc.execute(sql, (Q[0].tobytes(), K)).fetchall()
    cold = time.perf_counter() - t

    # --- numpy
    norms = (X * X).sum(1)
    want = numpy_knn(X, norms, Q[0]) + 1
    assert [r[0] for r in first] == want.tolist(), "sqlite-quiver and numpy disagree"

    # --- sqlite-vec (own connection)
    vc = None
    vec_insert = float("nan")
    try:
        import sqlite_vec

        vc = sqlite3.connect(":memory:")
        sqlite_quiver.load_extension(vc, sqlite_vec.loadable_path())
        vc.execute(f"create virtual table items using vec0(embedding float[{dims}])")
        t = time.perf_counter()
        with vc:
            vc.executemany(
                "insert into items(rowid, embedding) values (?, ?)",
                ((i + 1, X[i].tobytes()) for i in range(n)),
            )
        vec_insert = n / (time.perf_counter() - t)
        got = [r[0] for r in vc.execute(sql, (Q[0].tobytes(), K)).fetchall()]
        assert got == want.tolist(), "sqlite-vec and numpy disagree"
    except ImportError:
        print("sqlite-vec not installed: pip install sqlite-vec==0.1.9")

    # Single queries: sqlite-quiver and sqlite-vec interleaved, so that load from other
    # processes hits both alike; numpy apart (OpenBLAS worker threads keep spinning after
    # a call and would slow whatever runs next). Medians.
    tq, tn, tv = [], [], []
    for i in range(n_queries):
        q = Q[i % len(Q)]
        t = time.perf_counter()
        qc.execute(sql, (q.tobytes(), K)).fetchall()
        tq.append(time.perf_counter() - t)
        if vc is not None and i < vec_queries:
            t = time.perf_counter()
            vc.execute(sql, (q.tobytes(), K)).fetchall()
            tv.append(time.perf_counter() - t)
    for i in range(n_queries):
        q = Q[i % len(Q)]
        t = time.perf_counter()
        numpy_knn(X, norms, q)
        tn.append(time.perf_counter() - t)
    quiver_single = statistics.median(tq)
    numpy_single = statistics.median(tn)
    vec_single = statistics.median(tv) if tv else float("nan")
    if vc is not None:
        vc.close()

    # --- the floor, in a fresh process like this one's quiver insert (see floor()).
    floor_insert = float(
        subprocess.run(
            [sys.executable, __file__, "--floor", str(n), str(dims)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
    )

    batch = Q[:64]
    quiver_batch = timed(lambda: sqlite_quiver.search(qc, "items", batch, K), 3)
    quiver_64_single = timed(
        lambda: [qc.execute(sql, (q.tobytes(), K)).fetchall() for q in batch], 2
    )
    cache = sqlite_quiver.vectors.cache_bytes(qc, "items")

    print(f"bulk insert      sqlite-quiver {quiver_insert:12,.0f} rows/s")
    print(f"                 sqlite-vec    {vec_insert:12,.0f} rows/s (executemany)")
    print(f"                 ratio          {quiver_insert / vec_insert:11.1f}x  (target >= 10x)")
    print(
        f"                 floor         {floor_insert:12,.0f} rows/s (plain SQLite, the same bytes "
        f"as chunk BLOBs) = {floor_insert / vec_insert:.1f}x sqlite-vec; sqlite-quiver at "
        f"{quiver_insert / floor_insert:.0%} of it"
    )
    print(f"KNN k={K}         first query (loads cache) {cold * 1e3:8.2f} ms")
    print(f"                 sqlite-quiver {quiver_single * 1e3:10.2f} ms")
    print(f"                 sqlite-vec    {vec_single * 1e3:10.2f} ms")
    print(f"                 numpy         {numpy_single * 1e3:10.2f} ms")
    print(
        f"                 vs sqlite-vec  {vec_single / quiver_single:11.1f}x faster  (target >= 6x)"
    )
    print(
        f"                 vs numpy       {quiver_single / numpy_single:11.2f}x time    (target <= 1.3x)"
    )
    print(f"64 queries       batched search {quiver_batch * 1e3:9.2f} ms")
    print(f"                 64 single SQL  {quiver_64_single * 1e3:9.2f} ms")
    print(
        f"                 throughput     {quiver_64_single / quiver_batch:11.1f}x  (target >= 2x)"
    )
    print(
        f"cache memory     {cache / 2**20:10.1f} MiB for {raw_bytes / 2**20:.1f} MiB of vectors "
        f"= {cache / raw_bytes:.3f}x  (target <= 1.2x)"
    )
    qc.close()


# ---------------------------------------------------------------------------------
# Table 1: database files, each engine in fresh processes.

BLOCK = 10_000
SQL_KNN = "select rowid, distance from items where embedding match ? and k = ?"


def vectors(n: int, dims: int):
    """The benchmark's vectors, generated block by block (the same in every process)."""
    rng = np.random.default_rng(0)
    for start in range(0, n, BLOCK):
        yield start, rng.standard_normal((min(BLOCK, n - start), dims), dtype=np.float32)


def queries(dims: int, count: int = 64) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((count, dims), dtype=np.float32)


def open_db(engine: str, path: str, journal: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    if engine == "quiver":
        sqlite_quiver.load(conn)
    else:
        import sqlite_vec

        sqlite_quiver.load_extension(conn, sqlite_vec.loadable_path())
    mode = conn.execute(f"pragma journal_mode={journal}").fetchone()[0]
    assert mode == journal, (mode, journal)
    return conn


def peak_rss() -> int:
    """This process's peak resident memory in bytes (VmHWM: unlike ru_maxrss it does not
    carry the parent's figure across fork + exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def query_times(conn, Q, count: int) -> float:
    times = []
    for i in range(count):
        t = time.perf_counter()
        conn.execute(SQL_KNN, (Q[i % len(Q)].tobytes(), K)).fetchall()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def worker(task: str, engine: str, journal: str, n: int, dims: int, path: str) -> dict:
    """One measurement in this (fresh) process; returns a JSON-able dict."""
    Q = queries(dims)
    out: dict = {}
    if task in ("sql_insert", "bulk_insert"):
        if os.path.exists(path):
            os.remove(path)
        conn = open_db(engine, path, journal)
        conn.execute(f"create virtual table items using vec0(embedding float[{dims}])")
        conn.commit()
        blocks = list(vectors(n, dims))
        t = time.perf_counter()
        with conn:
            for start, X in blocks:
                if task == "bulk_insert":
                    ids = np.arange(start + 1, start + len(X) + 1, dtype=np.int64)
                    sqlite_quiver.insert_vectors(conn, "items", X, ids=ids)
                else:
                    conn.executemany(
                        "insert into items(rowid, embedding) values (?, ?)",
                        ((start + i + 1, X[i].tobytes()) for i in range(len(X))),
                    )
        out["insert"] = n / (time.perf_counter() - t)
        del blocks
        t = time.perf_counter()
        out["first_ids"] = [r[0] for r in conn.execute(SQL_KNN, (Q[0].tobytes(), K))]
        out["first_after_insert"] = time.perf_counter() - t
        conn.close()
    elif task == "reopen":
        t = time.perf_counter()
        conn = open_db(engine, path, journal)
        out["first_ids"] = [r[0] for r in conn.execute(SQL_KNN, (Q[0].tobytes(), K))]
        out["first_new_process"] = time.perf_counter() - t
        out["rss_after_first"] = peak_rss()
        out["later"] = query_times(conn, Q[1:], 10 if engine == "quiver" else 5)
        if engine == "quiver":
            out["cache_bytes"] = sqlite_quiver.vectors.cache_bytes(conn, "items")
        # UPDATE and DELETE rates: rows spread over the table, one transaction each.
        m = min(n // 10, 5000)
        rows = np.random.default_rng(2).choice(n, size=2 * m, replace=False) + 1
        new = np.random.default_rng(3).standard_normal((m, dims), dtype=np.float32)
        t = time.perf_counter()
        with conn:
            conn.executemany(
                "update items set embedding = ? where rowid = ?",
                ((new[i].tobytes(), int(rows[i])) for i in range(m)),
            )
        out["update"] = m / (time.perf_counter() - t)
        t = time.perf_counter()
        with conn:
            conn.executemany("delete from items where rowid = ?", ((int(r),) for r in rows[m:]))
        out["delete"] = m / (time.perf_counter() - t)
        out["integrity"] = conn.execute("pragma integrity_check").fetchone()[0]
        conn.close()
    return out


def run_worker(*args) -> dict:
    # Each run starts with no dirty pages of earlier runs waiting to be written, so the
    # kernel's write-back of the previous ~300 MB file does not land on this run's
    # commit. (On this VM the virtual disk also slows down after ~1 GB of writes, which
    # this cannot undo: WAL inserts, which write every page twice, suffer most.)
    os.sync()
    res = subprocess.run(
        [sys.executable, __file__, "--worker", *map(str, args)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def numpy_anchor(n: int, dims: int) -> tuple[float, list[int]]:
    X = np.concatenate([b for _, b in vectors(n, dims)])
    norms = (X * X).sum(1)
    Q = queries(dims)
    want = (numpy_knn(X, norms, Q[0]) + 1).tolist()
    times = []
    for i in range(10):
        t = time.perf_counter()
        numpy_knn(X, norms, Q[1 + i])
        times.append(time.perf_counter() - t)
    return statistics.median(times), want


def bench_files(n: int, dims: int, with_sqlite_vec: bool = True) -> None:
    print(f"\n== database files: {n:,} x {dims} float32, k={K}; load average {os.getloadavg()} ==")
    numpy_q, want = numpy_anchor(n, dims)
    gc.collect()
    engines = ["quiver", "vec"] if with_sqlite_vec else ["quiver"]
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        for journal in ("delete", "wal"):
            r: dict = {}
            for engine in engines:
                path = os.path.join(tmp, f"{engine}-{journal}.db")
                a = run_worker("sql_insert", engine, journal, n, dims, path)
                b = run_worker("reopen", engine, journal, n, dims, path)
                assert a["first_ids"] == want and b["first_ids"] == want, (engine, "disagrees")
                assert b["integrity"] == "ok", b["integrity"]
                r[engine] = {**a, **b}
                os.remove(path)
            bulk = run_worker("bulk_insert", "quiver", journal, n, dims, os.path.join(tmp, "b.db"))
            q = r["quiver"]
            v = r.get("vec", {})
            name = "rollback journal" if journal == "delete" else "WAL"
            print(f"{'-- ' + name + ' --':34s} {'sqlite-vec':>12s} {'sqlite-quiver':>15s}   ratio")

            def line(label, key, rate=True, target="", q=q, v=v):
                qv, vv = q.get(key, float("nan")), v.get(key, float("nan"))
                if rate:
                    print(f"{label:34s} {vv:12,.0f} {qv:15,.0f} {qv / vv:7.1f}x rows/s {target}")
                else:
                    print(
                        f"{label:34s} {vv * 1e3:9.1f} ms {qv * 1e3:12.1f} ms {qv / vv:7.2f}x time {target}"
                    )

            line("SQL executemany INSERT", "insert", target="(target >= 5x)")
            ratio = bulk["insert"] / v["insert"] if v else float("nan")
            print(
                f"{'insert_vectors (Python bulk)':34s} {'-':>12s} {bulk['insert']:15,.0f} "
                f"{ratio:7.1f}x rows/s (target >= 10x)"
            )
            line("first query after the inserts", "first_after_insert", False, "(target <= 1.0x)")
            line("first query in a new process", "first_new_process", False, "(target <= 1.0x)")
            line("later queries (median)", "later", False, "(target <= 0.2x)")
            print(
                f"{'  numpy (X @ q, argpartition)':34s} {'':12s} {numpy_q * 1e3:12.1f} ms "
                f"{q['later'] / numpy_q:7.2f}x numpy (target <= 1.3x)"
            )
            line("UPDATE embedding (executemany)", "update", target="(target >= 3x)")
            line("DELETE (executemany)", "delete", target="(target >= 3x)")
            print(
                f"{'peak RSS after first query':34s} {v.get('rss_after_first', 0) / 2**20:9.0f} MiB "
                f"{q['rss_after_first'] / 2**20:12.0f} MiB  (vectors: {n * dims * 4 / 2**20:.0f} MiB; "
                f"quiver cache {q['cache_bytes'] / 2**20:.0f} MiB)"
            )


def floor(n: int, dims: int) -> float:
    """Rows/s of plain SQLite storing the same bytes as chunk-sized BLOBs (1024 vectors
    each, vec0's default chunk) in the same kind of database (:memory:, default page size
    and journal): no vector table can insert faster into this database. Run in a fresh
    process, so that, like the sqlite-quiver insert it is compared with, it writes into
    memory the process has not used before (memory freed by an earlier connection is
    already mapped and much faster to fill)."""
    X = np.random.default_rng(0).standard_normal((n, dims), dtype=np.float32)
    raw = memoryview(X).cast("B")
    step = 1024 * dims * 4
    fc = sqlite3.connect(":memory:")
    fc.execute("create table chunks(id integer primary key, vectors blob not null)")
    t = time.perf_counter()
    with fc:
        fc.executemany(
            "insert into chunks values (?, ?)",
            ((i, raw[i : i + step]) for i in range(0, len(raw), step)),
        )
    return n / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument(
        "--million", action="store_true", help="also 1,000,000 x 768 database files"
    )
    parser.add_argument("--files-only", action="store_true", help="only the file table")
    parser.add_argument("--memory-only", action="store_true", help="only the :memory: table")
    parser.add_argument("--floor", nargs=2, type=int, metavar=("N", "DIMS"), help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        print(floor(*args.floor))
        return
    if args.worker:
        task, engine, journal, n, dims, path = args.worker
        print(json.dumps(worker(task, engine, journal, int(n), int(dims), path)))
        return
    print(
        f"kernels: {sqlite_quiver.kernels()}; {os.cpu_count()} cores; load average {os.getloadavg()}"
    )
    if not args.memory_only:
        bench_files(10_000 if args.quick else 100_000, 768)
        if args.million:
            bench_files(1_000_000, 768)
    if args.files_only:
        return
    print("\n==== :memory: databases ====")
    if args.quick:
        bench(10_000, 768, 20, 10)
        gc.collect()
        bench(100_000, 128, 20, 10)
    else:
        bench(100_000, 768, 30, 10)
        gc.collect()
        bench(1_000_000, 128, 30, 5)


if __name__ == "__main__":
    main()
