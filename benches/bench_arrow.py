"""Arrow <-> SQLite benchmark: register_arrow, queries on Arrow tables, query_arrow and
insert_arrow, against ADBC (adbc_driver_sqlite), stdlib executemany, pandas.read_sql, a
native SQLite table and DuckDB, all measured in this run.

    python benches/bench_arrow.py            # 5,000,000 rows
    python benches/bench_arrow.py --quick    # 200,000 rows

Needs: pyarrow, duckdb, pandas, adbc-driver-sqlite, adbc-driver-manager.
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import time
from typing import Any, Callable

import numpy as np
import pyarrow as pa

import sqlite_quiver


def best(
    fn: Callable[[], Any], repeat: int = 3, setup: Callable[[], Any] | None = None
) -> tuple[float, Any]:
    """Fastest wall time of `repeat` runs (seconds) and the last result; `setup` runs
    before each, untimed."""
    times = []
    result = None
    for _ in range(repeat):
        if setup is not None:
            setup()
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def make_table(n: int) -> pa.Table:
    rng = np.random.default_rng(42)
    categories = np.array([f"category_{i:02d}" for i in range(20)])
    start = np.datetime64("2024-01-01T00:00:00", "us")
    return pa.table(
        {
            "id": pa.array(np.arange(n, dtype=np.int64)),
            "x": pa.array(rng.random(n)),
            "category": pa.array(categories[rng.integers(0, 20, n)]),
            "ts": pa.array(
                start + rng.integers(0, 365 * 86400 * 10**6, n).astype("timedelta64[us]")
            ),
        }
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:10.1f} ms"


def line(label: str, seconds: float, anchor: float | None = None, anchor_label: str = "") -> None:
    ratio = f"   {anchor / seconds:7.1f}x faster than {anchor_label}" if anchor else ""
    print(f"  {label:<44}{ms(seconds)}{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="200,000 rows instead of 5M")
    parser.add_argument("--rows", type=int, default=None)
    args = parser.parse_args()
    n = args.rows or (200_000 if args.quick else 5_000_000)

    import adbc_driver_sqlite.dbapi as adbc
    import duckdb
    import pandas as pd

    table = make_table(n)
    print(
        f"sqlite-quiver {sqlite_quiver.__version__}, SQLite {sqlite3.sqlite_version}, "
        f"{n:,} rows (int64 id, float64 x, 20-value utf8 category, timestamp[us] ts)\n"
    )

    conn = sqlite3.connect(":memory:")
    sqlite_quiver.load(conn)

    # --- getting the data into SQLite -----------------------------------------------
    print("Registration / ingest")
    t_reg, _ = best(lambda: sqlite_quiver.register_arrow(conn, "t", table), 5)

    adbc_conns: list = []

    def adbc_ingest() -> Any:
        c = adbc.connect()
        cur = c.cursor()
        cur.adbc_ingest("t", table, mode="create")
        c.commit()
        cur.close()
        return c

    def close_adbc() -> None:
        while adbc_conns:
            adbc_conns.pop().close()

    def adbc_run() -> Any:
        adbc_conns.append(adbc_ingest())
        return adbc_conns[-1]

    # Both ingests: best of 3, each into a new :memory: database (the previous one
    # closed, untimed), so neither reuses the pages of an earlier run.
    t_adbc, adbc_conn = best(adbc_run, 3, setup=close_adbc)
    ingest_conns: list = []

    def fresh_connection() -> None:
        while ingest_conns:
            ingest_conns.pop().close()
        ingest_conns.append(sqlite3.connect(":memory:"))
        sqlite_quiver.load(ingest_conns[-1])

    def insert() -> None:
        sqlite_quiver.insert_arrow(ingest_conns[-1], "native", table, mode="create")

    t_insert, _ = best(insert, 3, setup=fresh_connection)
    ingest_conns.pop().close()
    sqlite_quiver.insert_arrow(conn, "native", table, mode="create")

    rows = list(
        zip(
            table["id"].to_numpy().tolist(),
            table["x"].to_numpy().tolist(),
            table["category"].to_pylist(),
            [str(v) for v in table["ts"].to_numpy()],
        )
    )

    def executemany(rows: list = rows) -> None:
        conn.execute("drop table if exists em")
        conn.execute("create table em(id INTEGER, x REAL, category TEXT, ts TEXT)")
        conn.executemany("insert into em values (?, ?, ?, ?)", rows)
        conn.commit()

    t_em, _ = best(executemany, 1)
    del rows
    conn.execute("drop table em")
    line("register_arrow", t_reg)
    line("ADBC adbc_ingest (into :memory:)", t_adbc)
    line("stdlib executemany (rows prebuilt)", t_em)
    print(
        f"  -> register_arrow is {t_adbc / t_reg:,.0f}x faster than ADBC ingest and "
        f"{t_em / t_reg:,.0f}x faster than executemany"
    )
    line("insert_arrow (native table, create)", t_insert, t_adbc, "ADBC ingest")

    # --- queries ---------------------------------------------------------------------
    print("\nQueries (Arrow table t vs native table without index; DuckDB on pyarrow)")
    q_scan = "SELECT category, avg(x) FROM {t} WHERE x > 0.5 GROUP BY category ORDER BY category"
    lo = n // 2
    q_sel = f"SELECT count(*), sum(x) FROM {{t}} WHERE id BETWEEN {lo} AND {lo + 1000}"
    duck = duckdb.connect()
    duck.register("arrow_t", table)
    q_page = f"SELECT id, x FROM {{t}} LIMIT 10 OFFSET {n * 4 // 5}"
    q_top = "SELECT id, x FROM {t} ORDER BY x DESC LIMIT 10"
    for label, sql in [
        ("scan  x > 0.5 GROUP BY category", q_scan),
        ("select id BETWEEN (1,001 rows)", q_sel),
        (f"page  LIMIT 10 OFFSET {n * 4 // 5:,}", q_page),
        ("top-10  ORDER BY x DESC LIMIT 10", q_top),
    ]:
        t_arrow, r_arrow = best(lambda s=sql: conn.execute(s.format(t="t")).fetchall())
        t_native, r_native = best(lambda s=sql: conn.execute(s.format(t="native")).fetchall())
        t_duck, _ = best(lambda s=sql: duck.execute(s.format(t="arrow_t")).fetchall())
        assert len(r_arrow) == len(r_native)
        for a, b in zip(r_arrow, r_native):
            assert a[0] == b[0] and abs(a[1] - b[1]) < 1e-6 * max(1.0, abs(b[1])), (a, b)
        print(f"  {label}")
        line("  Arrow table", t_arrow, t_native, "native table")
        line("  native SQLite table", t_native)
        line("  DuckDB on the pyarrow table (reference)", t_duck)

    # --- results out -----------------------------------------------------------------
    print("\nResults as Arrow: SELECT * FROM a native table")
    t_qa, res = best(
        lambda: sqlite_quiver.query_arrow(conn, "SELECT * FROM native").to_pyarrow(), 2
    )
    assert res.num_rows == n
    del res

    def adbc_fetch() -> Any:
        cur = adbc_conn.cursor()
        cur.execute("SELECT * FROM t")
        out = cur.fetch_arrow_table()
        cur.close()
        return out

    t_af, res = best(adbc_fetch, 2)
    assert res.num_rows == n
    del res
    t_pd, res = best(lambda: pd.read_sql("SELECT * FROM native", conn), 1)
    assert len(res) == n
    del res
    line("query_arrow(...).to_pyarrow()", t_qa, t_af, "ADBC fetch_arrow_table")
    line("ADBC fetch_arrow_table", t_af)
    line("pandas.read_sql", t_pd)
    print(f"  -> query_arrow is {t_pd / t_qa:,.1f}x faster than pandas.read_sql")
    close_adbc()


if __name__ == "__main__":
    main()
