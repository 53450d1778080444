# ruff: noqa: E501
"""vec0 KNN benchmark: sqlite-quiver vs sqlite-vec 0.1.9 vs numpy, measured in one run.

    python benches/bench_knn.py            # 100,000 x 768 and 1,000,000 x 128
    python benches/bench_knn.py --quick    # 10,000 x 768 and 100,000 x 128

Prints, per size: bulk-insert rows/s (sqlite-quiver's insert_vectors, and sqlite-vec
through executemany), single-query KNN latency (k=10) for both and for numpy
(``X @ q`` with precomputed norms + argpartition), the throughput of 64 batched queries
against 64 single ones, and the cache memory against the raw vector bytes.
sqlite-vec is loaded into its own connection (its function names collide with ours).
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import statistics
import subprocess
import sys
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
    parser.add_argument("--floor", nargs=2, type=int, metavar=("N", "DIMS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        print(floor(*args.floor))
        return
    print(f"kernels: {sqlite_quiver.kernels()}")
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
