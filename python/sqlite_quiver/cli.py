"""The ``quiver`` command: ``quiver demo``, ``quiver path`` and ``quiver sql DATABASE "SQL"``."""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
from typing import Any, List, Optional, Sequence

from . import __version__, connect_with_vec, extension_path, kernels, serialize_float32


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"<blob {len(value)} bytes>" if len(value) > 16 else "X'" + value.hex() + "'"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows as an aligned text table."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    line = "-+-".join("-" * w for w in widths)
    out = [" | ".join(h.ljust(w) for h, w in zip(headers, widths)), line]
    out += [" | ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(out)


def run_sql(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> str:
    cur = conn.execute(sql, params)
    if cur.description is None:
        return f"ok ({cur.rowcount} rows changed)" if cur.rowcount >= 0 else "ok"
    headers = [d[0] for d in cur.description]
    return format_table(headers, cur.fetchall())


def _section(title: str) -> None:
    print(f"\n== {title}")


def demo(out_dir: Optional[str] = None) -> int:
    """Build a small database in a temporary file and show what sqlite-quiver does."""
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        path = os.path.join(tmp, "demo.db")
        conn = connect_with_vec(path)
        print(
            f"sqlite-quiver {__version__} | SQLite {sqlite3.sqlite_version} | "
            f"kernels: {kernels()} | database: {path}"
        )

        _section("Scalar vector functions (sqlite-vec compatible)")
        print(
            run_sql(
                conn,
                """
            select vec_version() as version,
                   vec_to_json(vec_normalize('[2,3,1,-4]')) as normalized,
                   vec_distance_l2('[1,2]', '[4,6]') as l2,
                   vec_distance_cosine('[1,0]', '[0,1]') as cosine,
                   hex(vec_quantize_binary('[1,2,3,4,-5,-6,-7,-8]')) as bits""",
            )
        )

        _section("vec_each")
        print(run_sql(conn, "select rowid, value from vec_each(vec_int8('[5,-6,7]'))"))

        _section("Nearest neighbours by brute force over a plain table (2,000 x 64-d)")
        rng = random.Random(42)
        dims, count = 64, 2000
        conn.execute("create table docs(id integer primary key, title text, emb blob)")
        rows = [
            (i, f"doc-{i}", serialize_float32([rng.gauss(0, 1) for _ in range(dims)]))
            for i in range(count)
        ]
        with conn:
            conn.executemany("insert into docs values (?, ?, ?)", rows)
        query = rows[7][2]
        started = time.perf_counter()
        print(
            run_sql(
                conn,
                """
            select id, title, vec_distance_cosine(emb, :q) as distance
            from docs order by distance limit 5""",
                {"q": query},
            )
        )
        print(f"({(time.perf_counter() - started) * 1000:.1f} ms; doc-7 finds itself first)")

        _section("vec0 table: KNN with a metadata filter applied before the top-k")
        conn.execute(
            "create virtual table items using vec0(emb float[64] distance_metric=cosine, "
            "genre text, +title text)"
        )
        with conn:
            conn.executemany(
                "insert into items(rowid, emb, genre, title) values (?, ?, ?, ?)",
                [(i, r[2], ("rock", "jazz", "pop")[i % 3], r[1]) for i, r in enumerate(rows)],
            )
        started = time.perf_counter()
        print(
            run_sql(
                conn,
                """
            select rowid, title, genre, distance from items
            where emb match :q and k = 5 and genre = 'jazz'""",
                {"q": query},
            )
        )
        print(f"({(time.perf_counter() - started) * 1000:.1f} ms, first query loads the cache)")
        try:
            conn.execute(
                "select rowid from items where emb match :q and k = 5 and title = 'doc-1'",
                {"q": query},
            ).fetchall()
        except sqlite3.OperationalError as exc:
            print(f"OperationalError: {str(exc)[:110]}...")
        _ml_demo(conn)
        _arrow_demo(conn)

        _section("Bad input gets a clear error")
        try:
            conn.execute("select vec_distance_l2('[1,2]', '[1,2,3]')").fetchone()
        except sqlite3.OperationalError as exc:
            print(f"OperationalError: {exc}")
        conn.close()
    return 0


def _ml_demo(conn: sqlite3.Connection) -> None:
    _section("n-d arrays as .npy BLOBs (numpy.load reads them)")
    print(
        run_sql(
            conn,
            """
        select nd_shape(a) as shape, nd_dtype(a) as dtype, nd_get(a, 1, 2) as a_1_2,
               nd_to_json(nd_reshape(a, 3, 2)) as reshaped
        from (select nd_array('[[1,2,3],[4,5,6]]', 'int16') as a)""",
        )
    )

    _section("A scikit-learn model saved in the database, run from SQL")
    try:
        import numpy as np
        from sklearn.linear_model import LogisticRegression

        from . import ml

        rng = np.random.default_rng(0)
        X = rng.normal(size=(500, 3)).astype(np.float32)
        y = (X[:, 0] - X[:, 1] > 0).astype(int)
        version = ml.save_model(
            conn, "demo", LogisticRegression().fit(X, y), metrics={"train_accuracy": 0.99}
        )
    except ImportError as exc:
        print(f"(skipped: {exc}; pip install sqlite-quiver[ml] scikit-learn skl2onnx)")
        return
    except RuntimeError as exc:
        print(f"(skipped: {exc})")
        return
    print(f"saved model 'demo' version {version}")
    conn.execute("create table customers (id integer primary key, a real, b real, c real)")
    conn.executemany(
        "insert into customers values (?, ?, ?, ?)",
        [(i, *map(float, row)) for i, row in enumerate(X[:4])],
    )
    print(
        run_sql(
            conn,
            """
        select id, ml_predict('demo', a, b, c) as label,
               ml_predict_proba('demo', a, b, c) as probabilities
        from customers""",
        )
    )
    print(run_sql(conn, "select name, version, bytes, metrics, active from ml_models"))


def _arrow_demo(conn: sqlite3.Connection) -> None:
    """Arrow tables in SQL (skipped without pyarrow)."""
    _section("Arrow data in SQL: register_arrow / query_arrow (pyarrow)")
    try:
        import pyarrow as pa
    except ImportError:
        print("(pip install pyarrow to see this part)")
        return
    from .arrow import query_arrow, register_arrow

    n = 200_000
    table = pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "x": pa.array([(i * 7919 % 1000) / 1000 for i in range(n)]),
            "tag": pa.array([f"tag-{i % 5}" for i in range(n)]).dictionary_encode(),
        }
    )
    started = time.perf_counter()
    register_arrow(conn, "events", table)
    print(
        f"registered {n:,} Arrow rows as temp.events in "
        f"{(time.perf_counter() - started) * 1000:.1f} ms (no copy)"
    )
    print(
        run_sql(
            conn,
            """
        select e.tag, count(*) as n, round(avg(e.x), 3) as avg_x, d.title
        from events e join docs d on d.id = e.id % 5
        where e.x > 0.5 group by e.tag order by e.tag""",
        )
    )
    result = query_arrow(conn, "select tag, max(x) as max_x from events group by tag")
    print(f"query_arrow -> {result!r}")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="quiver",
        description="sqlite-quiver: vector search, Arrow and ML inside SQLite.",
    )
    parser.add_argument("--version", action="version", version=f"sqlite-quiver {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("demo", help="build a demo database in a temporary file and show the features")
    sub.add_parser(
        "path",
        help="print the path of the plain loadable extension, for the sqlite3 shell's "
        ".load and other SQLite hosts",
    )
    sql = sub.add_parser("sql", help="run SQL on a database with sqlite-quiver loaded")
    sql.add_argument("database", help="database file (created if missing) or :memory:")
    sql.add_argument("sql", help="the SQL to run; several statements are run in order")
    args = parser.parse_args(argv)

    if args.command == "demo":
        return demo()
    if args.command == "path":
        try:
            print(extension_path())
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "sql":
        conn = connect_with_vec(args.database)
        try:
            statements = [s for s in _split_statements(args.sql) if s.strip()]
            for statement in statements:
                print(run_sql(conn, statement))
            conn.commit()
        except sqlite3.Error as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            conn.close()
        return 0
    parser.print_help()
    return 2


def _split_statements(sql: str) -> List[str]:
    """Split on ';' at statement ends (sqlite3.complete_statement knows quoting)."""
    statements, current = [], ""
    for piece in sql.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            statements.append(current)
            current = ""
    if current.strip(" ;\n\t"):
        statements.append(current)
    return statements


if __name__ == "__main__":
    sys.exit(main())
