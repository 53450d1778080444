"""Arrow data in SQLite: query pyarrow / polars / pandas data in place, get results as
Arrow, ingest Arrow in bulk.

>>> import pyarrow as pa, sqlite_quiver
>>> conn = sqlite_quiver.connect_with_vec()
>>> sqlite_quiver.register_arrow(conn, "t", pa.table({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5]}))
>>> conn.execute("select sum(x) from t where id >= 2").fetchone()
(4.0,)
>>> sqlite_quiver.query_arrow(conn, "select id * 10 as id10 from t").to_pyarrow().column(0)
<pyarrow.lib.ChunkedArray object at ...>
[
  [
    10,
    20,
    30
  ]
]
"""

from __future__ import annotations

import sqlite3
from typing import Any, Sequence

from . import _quiver

ArrowResult = _quiver.ArrowResult

__all__ = ["ArrowResult", "insert_arrow", "query_arrow", "register_arrow", "unregister_arrow"]


def register_arrow(
    conn: Any, name: str, data: Any, *, timestamps: str = "text", uint64: str = "error"
) -> None:
    """Makes ``data`` queryable as the read-only table ``temp.<name>``.

    ``data`` is anything with ``__arrow_c_stream__`` or ``__arrow_c_array__``: a pyarrow
    Table / RecordBatch / RecordBatchReader, a polars DataFrame, a pandas DataFrame, a
    DuckDB relation. The buffers are imported without a copy (a stream is read to its end
    now) and stay alive until the table is dropped, unregistered or the connection
    closes, even after ``data`` itself is gone. Registering a name again replaces the
    table. ``conn`` is a ``sqlite3.Connection`` or ``apsw.Connection`` with sqlite-quiver
    loaded.

    ``timestamps="epoch"`` shows timestamp columns as INTEGER counts of their unit since
    1970-01-01 UTC (comparisons on them are then pushed down) instead of ISO-8601 text;
    ``uint64="text"`` shows uint64 columns as decimal TEXT instead of failing on values
    above the INTEGER range.

    >>> import polars as pl, sqlite_quiver
    >>> conn = sqlite_quiver.connect_with_vec()
    >>> register_arrow(conn, "people", pl.DataFrame({"name": ["ann", "bob"], "age": [31, 42]}))
    >>> conn.execute("select name from people where age > 40").fetchall()
    [('bob',)]
    """
    _quiver.register_arrow(conn, name, data, timestamps=timestamps, uint64=uint64)


def unregister_arrow(conn: Any, name: str) -> bool:
    """Drops the Arrow table ``temp.<name>``; returns False when there was none.

    >>> import pyarrow as pa, sqlite_quiver
    >>> conn = sqlite_quiver.connect_with_vec()
    >>> register_arrow(conn, "t", pa.table({"a": [1]}))
    >>> unregister_arrow(conn, "t"), unregister_arrow(conn, "t")
    (True, False)
    """
    return _quiver.unregister_arrow(conn, name)


def query_arrow(
    conn: Any, sql: str, params: Sequence[Any] | None = (), schema: Any = None
) -> ArrowResult:
    """Runs ``sql`` and returns its rows as Arrow (an :class:`ArrowResult`, which has
    ``__arrow_c_stream__``, ``to_pyarrow()``, ``to_polars()`` and ``to_batches()``).

    Column types come from the declared types (INTEGER -> int64, REAL -> float64, TEXT ->
    string, BLOB -> binary, BOOLEAN -> bool, ``float[N]`` / ``int8[N]`` -> fixed-size
    lists) and otherwise from the values, promoted int -> float -> string as needed.
    Vector BLOBs that carry their element type (vec0 vector columns, ``vec_f32()``,
    ``vec_int8()``) become fixed-size lists of float32 / int8 (polars ``Array``); if the
    column later holds a BLOB of another length, or another type, it is binary instead.
    Bit vectors stay binary (their bytes, as ``vec_bit()`` takes them).
    ``schema`` (a pyarrow Schema, or anything with ``__arrow_c_schema__``) fixes the type
    of the columns it names: bool, int64, float64, string, binary, or a fixed-size list of
    float32 / int8 for vector BLOBs; a value that does not fit is an error.

    On a ``sqlite3.Connection``, parameters go through ``sqlite3``'s registered adapters
    as in ``conn.execute`` (a numpy float32 / int8 array becomes its vector BLOB).

    >>> import numpy as np, sqlite_quiver
    >>> conn = sqlite_quiver.connect_with_vec()
    >>> query_arrow(conn, "select 1 as a, ? as b", ["x"]).to_pyarrow().to_pydict()
    {'a': [1], 'b': ['x']}
    >>> q = query_arrow(conn, "select vec_f32(?) as v", [np.ones(2, np.float32)])
    >>> q.to_pyarrow().to_pydict()
    {'v': [[1.0, 1.0]]}
    """
    if isinstance(conn, sqlite3.Connection) and isinstance(params, (list, tuple)):
        params = [_adapt(p) for p in params]
    return _quiver.query_arrow(conn, sql, params, schema)


def _adapt(value: Any) -> Any:
    """``value`` through the adapter ``sqlite3`` would apply to it, if any."""
    adapter = sqlite3.adapters.get((type(value), sqlite3.PrepareProtocol))
    return value if adapter is None else adapter(value)


def insert_arrow(conn: Any, table: str, data: Any, mode: str = "append") -> int:
    """Inserts every row of ``data`` (any Arrow tabular object) into ``table`` and
    returns the number of rows.

    ``mode="append"`` inserts into an existing table (each Arrow column must be one of
    its columns, matched by name); ``"create"`` creates the table with declared types
    from the Arrow schema (an error if it exists); ``"replace"`` drops and re-creates it.
    ``table`` is ``"name"`` or ``"schema.name"`` (e.g. an attached database), read as
    :func:`insert_vectors` reads it. The ingest runs in one SAVEPOINT, so it nests
    inside an open transaction, and any failure leaves the table exactly as it was.
    Values are bound straight from Arrow memory with the same conversions as
    :func:`register_arrow` (fixed-size lists of float32 / int8 become vector BLOBs, so
    vec0 tables can be filled).

    >>> import pyarrow as pa, sqlite_quiver
    >>> conn = sqlite_quiver.connect_with_vec()
    >>> insert_arrow(conn, "t", pa.table({"id": [1, 2], "ok": [True, False]}), mode="create")
    2
    >>> query_arrow(conn, "select * from t").to_pyarrow().to_pydict()
    {'id': [1, 2], 'ok': [True, False]}
    """
    return _quiver.insert_arrow(conn, table, data, mode)
