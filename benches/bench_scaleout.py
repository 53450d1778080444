"""Scale-out benchmark: sqlite_quiver.ray against the anchors, all in one run.

1. Reading a shard set: ``read_sqlite`` over S shards x R rows vs ``ray.data.read_sql``
   (the only SQLite reader Ray has: one task per database through Python row tuples;
   here one read_sql per shard, unioned, so both sides get the same parallelism).
2. Batch inference: ``map_batches(ModelPredictor)`` on an actor pool vs the same
   predictor in one process (rows/s).
3. Sharded exact KNN: ``search_shards`` over S vec0 shards vs ``sqlite_quiver.search``
   on one file holding the same rows, for one query (latency) and a batch (throughput),
   with the per-shard cost that predicts the time on N machines.

    python benches/bench_scaleout.py                  # 8 shards x 1,000,000 rows
    python benches/bench_scaleout.py --quick          # about a minute
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import time

import numpy as np
import pyarrow as pa
import ray

import sqlite_quiver
from sqlite_quiver import ml
from sqlite_quiver._scaleout import merge_top_k, search_shard
from sqlite_quiver.ray import ModelPredictor, read_sqlite, search_shards


def best_of(runs: int, fn) -> float:
    """The fastest of ``runs`` timings of ``fn()`` in seconds."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def make_read_shards(folder: str, shards: int, rows: int) -> list[str]:
    rng = np.random.default_rng(0)
    paths = []
    for s in range(shards):
        path = os.path.join(folder, f"read-{s}.sqlite")
        ids = np.arange(s * rows, (s + 1) * rows, dtype=np.int64)
        table = pa.table(
            {
                "id": ids,
                "qty": rng.integers(0, 1000, rows),
                "price": rng.random(rows) * 100,
                "sku": pa.array([f"sku-{i % 5000:05d}" for i in range(rows)]),
            }
        )
        conn = sqlite_quiver.connect_with_vec(path)
        conn.execute(
            "create table sales (id integer primary key, qty integer, price real, sku text)"
        )
        sqlite_quiver.insert_arrow(conn, "sales", table)
        conn.commit()
        conn.close()
        paths.append(path)
    return paths


def bench_read(folder: str, shards: int, rows: int) -> None:
    t = time.perf_counter()
    paths = make_read_shards(folder, shards, rows)
    print(f"# made {shards} shards x {rows:,} rows in {time.perf_counter() - t:.1f} s")
    sql = "select id, qty, price, sku from sales"

    def quiver() -> None:
        assert read_sqlite(paths, sql).materialize().count() == shards * rows

    def read_sql() -> None:
        parts = [ray.data.read_sql(sql, lambda p=p: sqlite3.connect(p)) for p in paths]
        ds = parts[0].union(*parts[1:])
        assert ds.materialize().count() == shards * rows

    quiver()  # warm the workers (imports, page cache)
    ours = best_of(2, quiver)
    theirs = best_of(1, read_sql)
    total = shards * rows
    print(
        f"read {shards} shards x {rows:,} rows: read_sqlite {ours:.2f} s ({total / ours / 1e6:.1f} M rows/s), "
        f"ray.data.read_sql per shard + union {theirs:.2f} s ({total / theirs / 1e6:.2f} M rows/s): {theirs / ours:.1f}x"
    )


def bench_inference(folder: str, rows: int, actors: int) -> None:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(1)
    X = rng.normal(size=(rows, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] - X[:, 3] > 0).astype(int)
    model_db = os.path.join(folder, "models.db")
    conn = sqlite_quiver.connect_with_vec(model_db)
    model = RandomForestClassifier(n_estimators=100, max_depth=12, random_state=0).fit(
        X[:20000], y[:20000]
    )
    ml.save_model(conn, "forest", model)
    conn.commit()
    conn.close()
    data = pa.table({f"f{i}": X[:, i] for i in range(4)})
    features = [f"f{i}" for i in range(4)]
    kwargs = {"model_db": model_db, "model": "forest", "features": features}

    def single() -> None:
        predictor = ModelPredictor(**kwargs)
        for batch in data.to_batches(max_chunksize=4096):
            predictor(batch)

    blocks = [data.slice(i, rows // (4 * actors)) for i in range(0, rows, rows // (4 * actors))]

    def distributed(tables: list) -> None:
        ds = ray.data.from_arrow(tables).map_batches(
            ModelPredictor,
            fn_constructor_kwargs=kwargs,
            batch_format="pyarrow",
            batch_size=4096,
            concurrency=actors,
        )
        assert ds.materialize().count() == sum(t.num_rows for t in tables)

    one = best_of(2, single)
    distributed(blocks)
    many = best_of(2, lambda: distributed(blocks))
    # A pool over a few rows: what starting the actors (and loading the model) costs.
    start = best_of(2, lambda: distributed([data.slice(i, 1) for i in range(actors)]))
    print(
        f"inference RandomForest(100 trees) over {rows:,} rows: {actors} actors {rows / many:,.0f} rows/s "
        f"({rows / max(many - start, 1e-9):,.0f} rows/s without the {start:.1f} s pool start-up), "
        f"one process {rows / one:,.0f} rows/s: {one / many:.2f}x ({one / max(many - start, 1e-9):.2f}x)"
    )


def make_vector_shards(folder: str, shards: int, per_shard: int, dim: int):
    rng = np.random.default_rng(2)
    union = sqlite_quiver.connect_with_vec(os.path.join(folder, "knn-union.sqlite"))
    union.execute(f"create virtual table vecs using vec0(emb float[{dim}])")
    paths = []
    for s in range(shards):
        X = rng.normal(size=(per_shard, dim)).astype(np.float32)
        ids = np.arange(s * per_shard, (s + 1) * per_shard) + 1
        path = os.path.join(folder, f"knn-{s}.sqlite")
        conn = sqlite_quiver.connect_with_vec(path)
        conn.execute(f"create virtual table vecs using vec0(emb float[{dim}])")
        sqlite_quiver.insert_vectors(conn, "vecs", X, ids=ids)
        conn.commit()
        conn.close()
        sqlite_quiver.insert_vectors(union, "vecs", X, ids=ids)
        paths.append(path)
    union.commit()
    return paths, union


def bench_knn(folder: str, shards: int, per_shard: int, dim: int, batch: int) -> None:
    paths, union = make_vector_shards(folder, shards, per_shard, dim)
    rng = np.random.default_rng(3)
    one_q = rng.normal(size=(1, dim)).astype(np.float32)
    many_q = rng.normal(size=(batch, dim)).astype(np.float32)
    k = 10
    for q in (one_q, many_q):  # warm every cache: the union file here, shards in workers
        for _ in range(3):
            hits = search_shards(paths, "vecs", q, k)
        ids, _ = sqlite_quiver.search(union, "vecs", q, k)
        assert (hits.ids == ids).all()
    sharded_1 = best_of(5, lambda: search_shards(paths, "vecs", one_q, k))
    single_1 = best_of(5, lambda: sqlite_quiver.search(union, "vecs", one_q, k))
    sharded_b = best_of(3, lambda: search_shards(paths, "vecs", many_q, k))
    single_b = best_of(3, lambda: sqlite_quiver.search(union, "vecs", many_q, k))

    # The cost of one shard in one thread: what each task does (open, search, close).
    def one_shard(q: np.ndarray) -> None:
        search_shard(paths[0], "vecs", q, k, None, {}, threads=1)

    previous = sqlite_quiver.set_scan_threads(1)
    one_shard(many_q)
    per_shard_1 = best_of(5, lambda: one_shard(one_q))
    per_shard_b = best_of(3, lambda: one_shard(many_q))
    shard_conn = sqlite_quiver.connect_with_vec(paths[0])
    parts = [sqlite_quiver.search(shard_conn, "vecs", many_q, k) for _ in paths]
    sqlite_quiver.set_scan_threads(previous)
    # Ray's fixed cost per job: one empty task per shard, and the merge on the driver.
    noop = ray.remote(num_cpus=1)(lambda: None)
    fixed = best_of(5, lambda: ray.get([noop.remote() for _ in paths]))
    merge = best_of(3, lambda: merge_top_k(parts, k, paths))
    total = shards * per_shard
    cpus = int(ray.cluster_resources().get("CPU", 1))
    print(
        f"knn k={k} over {shards} shards x {per_shard:,} x {dim}-d ({total:,} rows), 1 query: "
        f"search_shards {sharded_1 * 1e3:.1f} ms, one file {single_1 * 1e3:.1f} ms: {single_1 / sharded_1:.2f}x"
    )
    print(
        f"knn {batch} queries: search_shards {sharded_b * 1e3:.0f} ms ({batch / sharded_b:,.0f} q/s), "
        f"one file {single_b * 1e3:.0f} ms ({batch / single_b:,.0f} q/s): {single_b / sharded_b:.2f}x"
    )
    print(
        f"knn per-shard cost (1 thread): {per_shard_1 * 1e3:.1f} ms for 1 query, {per_shard_b * 1e3:.0f} ms "
        f"for {batch}; Ray's fixed cost per job ({shards} empty tasks) {fixed * 1e3:.1f} ms; "
        f"merge on the driver {merge * 1e3:.1f} ms for {batch} queries"
    )
    for machines in (1, 2, 4):
        waves = -(-shards // (machines * cpus))
        est_1 = waves * per_shard_1 + fixed
        est_b = waves * per_shard_b + fixed + merge
        print(
            f"knn model for {machines} machine(s) x {cpus} cores ({waves} shard(s) per core in turn): "
            f"1 query {est_1 * 1e3:.1f} ms, {batch} queries {est_b * 1e3:.0f} ms ({batch / est_b:,.0f} q/s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per shard (read)")
    parser.add_argument("--infer-rows", type=int, default=1_000_000)
    parser.add_argument("--vectors", type=int, default=100_000, help="vectors per shard (knn)")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--batch", type=int, default=256, help="queries in the throughput run")
    parser.add_argument("--folder", default="/tmp/bench_scaleout")
    parser.add_argument("--quick", action="store_true", help="small sizes, about a minute")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.infer_rows, args.vectors, args.dim, args.batch = (
            100_000,
            50_000,
            10_000,
            64,
            64,
        )
    shutil.rmtree(args.folder, ignore_errors=True)
    os.makedirs(args.folder)
    cpus = os.cpu_count() or 1
    # Ray runs its workers at nice 15 by default; on a busy machine that alone would
    # slow every Ray-side number against the in-process anchors.
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    print(
        f"# Ray {ray.__version__}, {cpus} CPUs, sqlite-quiver {sqlite_quiver.__version__}, kernels {sqlite_quiver.kernels()}"
    )
    try:
        bench_read(args.folder, args.shards, args.rows)
        bench_inference(args.folder, args.infer_rows, actors=cpus)
        bench_knn(args.folder, args.shards, args.vectors, args.dim, args.batch)
    finally:
        ray.shutdown()
        shutil.rmtree(args.folder, ignore_errors=True)


if __name__ == "__main__":
    main()
