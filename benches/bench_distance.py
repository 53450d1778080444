"""Brute-force distance scan over a plain table: sqlite-quiver vs sqlite-vec 0.1.9.

    python benches/bench_distance.py [--rows 100000] [--dims 768] [--repeat 5] [--quick]

Both extensions are loaded into the same kind of connection (stdlib sqlite3, each in its
own connection: their function names collide) over the same database file, and run
``SELECT min(vec_distance_l2(v, ?)) FROM items`` (and the cosine variant). Prints the
best-of-N time for each and the ratio.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time

import numpy as np

import sqlite_quiver


def best_time(conn: sqlite3.Connection, sql: str, query: bytes, repeat: int) -> tuple[float, float]:
    conn.execute(sql, [query]).fetchone()  # warm the page cache
    times, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        (value,) = conn.execute(sql, [query]).fetchone()
        times.append(time.perf_counter() - started)
    return min(times), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=768)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="10,000 rows, 2 repeats")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeat = 10_000, 2

    import sqlite_vec

    rng = np.random.default_rng(0)
    data = rng.standard_normal((args.rows, args.dims), dtype=np.float32)
    query = rng.standard_normal(args.dims, dtype=np.float32).tobytes()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.db")
        setup = sqlite3.connect(path)
        setup.execute("create table items(id integer primary key, v blob)")
        with setup:
            setup.executemany("insert into items(v) values (?)", ((row.tobytes(),) for row in data))
        setup.close()

        print(
            f"{args.rows:,} x {args.dims}-d float32 rows, plain table, best of {args.repeat}; "
            f"kernels: {sqlite_quiver.kernels()}"
        )
        # Two connection setups, the same for both extensions: SQLite's defaults (a 2 MB
        # page cache, so every scan re-reads pages with pread) and memory-mapped I/O.
        for setup_name, pragma in (
            ("default", None),
            ("mmap_size=2GB", "pragma mmap_size=2000000000"),
        ):
            quiver = sqlite3.connect(path)
            sqlite_quiver.load(quiver)
            vec = sqlite3.connect(path)
            sqlite_quiver.load_extension(vec, sqlite_vec.loadable_path())
            assert vec.execute("select vec_version()").fetchone()[0] == "v0.1.9"
            floor = sqlite3.connect(path)
            for c in (quiver, vec, floor):
                if pragma:
                    c.execute(pragma).fetchall()
            t_floor, _ = best_time(
                floor, "select min(length(v)) + 0 * length(?) from items", query, args.repeat
            )
            print(
                f"[{setup_name}] SQLite's own row scan (min(length(v))): {t_floor * 1000:8.1f} ms"
            )
            for metric in ("l2", "cosine"):
                sql = f"select min(vec_distance_{metric}(v, ?)) from items"
                t_quiver, v_quiver = best_time(quiver, sql, query, args.repeat)
                t_vec, v_vec = best_time(vec, sql, query, args.repeat)
                assert abs(v_quiver - v_vec) <= 1e-4 * max(1.0, abs(v_vec)), (v_quiver, v_vec)
                print(
                    f"[{setup_name}] min(vec_distance_{metric}): sqlite-quiver {t_quiver * 1000:8.1f} ms | "
                    f"sqlite-vec {t_vec * 1000:8.1f} ms | ratio {t_vec / t_quiver:5.2f}x faster"
                )
                # What each extension adds on top of SQLite's own scan of the same rows.
                own_quiver, own_vec = max(t_quiver - t_floor, 1e-9), max(t_vec - t_floor, 1e-9)
                print(
                    f"[{setup_name}]   function time beyond the scan: sqlite-quiver "
                    f"{own_quiver * 1000:8.1f} ms | sqlite-vec {own_vec * 1000:8.1f} ms | "
                    f"ratio {own_vec / own_quiver:5.2f}x"
                )
            for c in (quiver, vec, floor):
                c.close()


if __name__ == "__main__":
    main()
