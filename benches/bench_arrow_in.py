"""`x IN (<many values>)` on an Arrow table against the same query on a native SQLite
table (with no index), measured in this run.

    python benches/bench_arrow_in.py                 # 2,000,000 rows x 10,000 values
    python benches/bench_arrow_in.py --rows 200000   # quicker

Needs: pyarrow, numpy.
"""

from __future__ import annotations

import argparse
import sqlite3
import time

import numpy as np
import pyarrow as pa

import sqlite_quiver


def timed(conn: sqlite3.Connection, sql: str) -> tuple[float, tuple]:
    """Wall time (s) of the fastest of two runs of `sql`, and its single row."""
    best, row = float("inf"), ()
    for _ in range(2):
        t0 = time.perf_counter()
        row = conn.execute(sql).fetchone()
        best = min(best, time.perf_counter() - t0)
    return best, row


def main() -> None:
    """Prints one line per column type: rows, values, seconds and the ratio."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--values", type=int, default=10_000)
    ap.add_argument("--columns", default="x,f,s", help="x (int), f (real), s (text)")
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    x = rng.integers(0, 1_000_000, args.rows)
    conn = sqlite3.connect(":memory:")
    sqlite_quiver.load(conn)
    sqlite_quiver.register_arrow(
        conn, "a", pa.table({"x": x, "f": x.astype(np.float64), "s": x.astype(str)})
    )
    conn.execute("create table n(x integer, f real, s text)")
    conn.executemany(
        "insert into n values (?, ?, ?)", zip(x.tolist(), x.astype(float).tolist(), x.astype(str))
    )
    wanted = rng.choice(1_000_000, args.values, replace=False)
    lists = {
        "x": ",".join(map(str, wanted.tolist())),
        "f": ",".join(f"{v}.0" for v in wanted.tolist()),
        "s": ",".join(f"'{v}'" for v in wanted.tolist()),
    }
    for col in args.columns.split(","):
        values = lists[col]
        sql = "select count(*) from {t} where " + col + f" in ({values})"
        t_native, want = timed(conn, sql.format(t="n"))
        t_arrow, got = timed(conn, sql.format(t="a"))
        assert got == want, (got, want)
        print(
            f"IN {col:<2} rows={args.rows} values={args.values} matches={got[0]}: "
            f"arrow {t_arrow:.3f}s native {t_native:.3f}s ratio {t_arrow / t_native:.2f}x"
        )


if __name__ == "__main__":
    main()
