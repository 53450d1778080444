"""`indexed by rescore(...)` benchmark: recall@10 and queries/s of the exact scan,
rescore(int8) and rescore(bit) at a few oversample values, on clustered data in a file
database, through SQL (one query per statement) and through batched `search`; ratios
against the exact scan of the same run. Each configuration is timed 3 times (median
and spread printed).

    python benches/bench_rescore.py            # 100,000 x 768
    python benches/bench_rescore.py --quick    # 20,000 x 256

Targets (issue 11): int8 recall@10 >= 0.99 at >= 2x the exact scan's QPS; bit on
768-d: recall@10 >= 0.95 at >= 5x.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

import sqlite_quiver


def clustered(rng: np.random.Generator, n: int, dims: int, centers: int) -> np.ndarray:
    """Gaussian clusters with spread comparable to the distance between centers."""
    c = rng.standard_normal((centers, dims)).astype(np.float32)
    labels = rng.integers(0, centers, n)
    return c[labels] + 0.6 * rng.standard_normal((n, dims)).astype(np.float32)


def ground_truth(X: np.ndarray, Q: np.ndarray, k: int) -> np.ndarray:
    xn = (X.astype(np.float64) ** 2).sum(1)
    d = xn[None, :] - 2.0 * (Q.astype(np.float64) @ X.T.astype(np.float64))
    return np.argsort(d, axis=1)[:, :k] + 1


def recall(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.mean([len(set(g) & set(w)) / len(w) for g, w in zip(got, want)]))


def sql_run(conn, table: str, Q: np.ndarray, k: int) -> tuple[float, np.ndarray]:
    sql = f"select rowid from {table} where emb match ? and k = ?"
    t0 = time.perf_counter()
    got = [[r[0] for r in conn.execute(sql, (q.tobytes(), k))] for q in Q]
    return len(Q) / (time.perf_counter() - t0), np.array(got)


def batch_run(conn, table: str, Q: np.ndarray, k: int, oversample) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    ids, _ = sqlite_quiver.search(conn, table, Q, k, oversample=oversample)
    return len(Q) / (time.perf_counter() - t0), ids


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    n, dims = (20_000, 256) if args.quick else (100_000, 768)
    k, runs = 10, 3
    rng = np.random.default_rng(0)
    X = clustered(rng, n, dims, centers=max(n // 500, 10))
    Q = X[rng.choice(n, args.queries, replace=False)] + 0.3 * rng.standard_normal(
        (args.queries, dims)
    ).astype(np.float32)
    truth = ground_truth(X, Q, k)
    print(
        f"data: {n} x {dims} clustered float32, {len(Q)} queries, k={k}, kernels={sqlite_quiver.kernels()}"
    )
    print(f"load average: {os.getloadavg()}")
    configs = [("exact", "", [None])]
    configs.append(("int8", "indexed by rescore(quantizer=int8)", [2, 4, 8]))
    configs.append(("bit", "indexed by rescore(quantizer=bit)", [8, 16, 32, 64]))
    exact_qps: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite_quiver.connect_with_vec(os.path.join(tmp, "b.db"), isolation_level=None)
        for name, index, oversamples in configs:
            conn.execute(f"create virtual table {name} using vec0(emb float[{dims}] {index})")
            t0 = time.perf_counter()
            sqlite_quiver.insert_vectors(conn, name, X, ids=np.arange(1, n + 1))
            build = time.perf_counter() - t0
            t0 = time.perf_counter()
            conn.execute(
                f"select rowid from {name} where emb match ? and k = 1", (Q[0].tobytes(),)
            ).fetchall()
            first = time.perf_counter() - t0
            state = sqlite_quiver.vectors.index_state(conn, name)
            print(
                f"\n{name}: insert {build:.2f}s, first query (loads cache) {first:.2f}s, "
                f"code bytes/row {state.get('code_bytes_per_row', '-')}"
            )
            for os_ in oversamples:
                if os_ is not None:
                    conn.execute(f"insert into {name}({name}) values ('oversample={os_}')")
                sql_q, bat_q = [], []
                for _ in range(runs):
                    qps, got = sql_run(conn, name, Q, k)
                    sql_q.append(qps)
                    r_sql = recall(got, truth)
                    qps, got = batch_run(conn, name, Q, k, os_)
                    bat_q.append(qps)
                    r_bat = recall(got, truth)
                sq, bq = statistics.median(sql_q), statistics.median(bat_q)
                if name == "exact":
                    exact_qps = {"sql": sq, "batch": bq}
                label = name if os_ is None else f"{name} oversample={os_}"
                print(
                    f"  {label:22s} recall@10 {r_sql:.4f} (batch {r_bat:.4f})  "
                    f"SQL {sq:8.1f} q/s [{min(sql_q):.1f}-{max(sql_q):.1f}] {sq / exact_qps['sql']:5.2f}x  "
                    f"batch {bq:8.1f} q/s [{min(bat_q):.1f}-{max(bat_q):.1f}] {bq / exact_qps['batch']:5.2f}x"
                )
            conn.execute(f"drop table {name}")
            sqlite_quiver._quiver.vec0_clear_cache()
        conn.close()
    print(f"\nload average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
