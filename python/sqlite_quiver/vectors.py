"""Bulk paths for vec0 tables: whole numpy arrays in, many queries at once out.

>>> import numpy as np, sqlite_quiver
>>> conn = sqlite_quiver.connect_with_vec()
>>> _ = conn.execute("create virtual table items using vec0(emb float[3], genre text)")
>>> X = np.array([[0, 0, 0], [1, 0, 0], [5, 5, 5]], dtype=np.float32)
>>> sqlite_quiver.insert_vectors(conn, "items", X, ids=[10, 20, 30], genre=["a", "b", "a"])
3
>>> ids, dist = sqlite_quiver.search(conn, "items", np.array([[0.9, 0, 0]]), k=2)
>>> ids.tolist(), [round(float(d), 3) for d in dist[0]]
([[20, 10]], [0.1, 0.9])
>>> sqlite_quiver.search(conn, "items", np.array([[0.9, 0, 0]]), k=1, genre="a")[0].tolist()
[[10]]
"""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence, Tuple

from . import _progress, _quiver

if TYPE_CHECKING:
    import numpy as np


def _column_values(values: Any) -> list:
    import numpy as np  # on use: `import sqlite_quiver` stays light

    if isinstance(values, np.ndarray):
        return values.tolist()
    if isinstance(values, (list, tuple)):
        return [v.item() if isinstance(v, np.generic) else v for v in values]
    if hasattr(values, "to_pylist"):  # pyarrow arrays
        return list(values.to_pylist())
    if hasattr(values, "tolist"):  # pandas / polars series
        return list(values.tolist())
    raise TypeError(f"column values must be a sequence or an array, got {type(values).__name__}")


def _matrix(a: Any, what: str) -> np.ndarray:
    import numpy as np

    arr = np.asarray(a)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (rows x dimensions), got {arr.ndim}-D")
    return np.ascontiguousarray(arr, dtype=np.float32)


def insert_vectors(
    conn: Any,
    table: str,
    vectors: Any,
    ids: Optional[Sequence[Any]] = None,
    *,
    replace: bool = False,
    progress: Any = None,
    **columns: Any,
) -> int:
    """Inserts the rows of a 2-D float32 array into vec0 table ``table`` in one
    savepoint (all rows or none), writing whole vector chunks at a time.

    ``ids``: integer rowids / primary keys, or strings for a ``text primary key``
    (default: assigned like ``INSERT`` without a rowid). ``columns``: partition key,
    metadata and auxiliary columns by name, one value per row. ``replace=True`` acts as
    ``INSERT OR REPLACE``. ``progress``: ``True`` for a progress bar, or a callable
    ``progress(stage, done, total)`` hearing the rows written (stage ``"insert"``); an
    exception it raises cancels the insert (nothing is written). Returns the number
    of rows inserted.

    >>> import numpy as np, sqlite_quiver
    >>> conn = sqlite_quiver.connect_with_vec()
    >>> _ = conn.execute("create virtual table t using vec0(emb float[2])")
    >>> sqlite_quiver.insert_vectors(conn, "t", np.ones((4, 2)))
    4
    """
    arr = _matrix(vectors, "vectors")
    id_list = None if ids is None else _column_values(ids)
    if id_list is not None and len(id_list) != len(arr):
        raise ValueError(f"{len(id_list)} ids for {len(arr)} vectors")
    cols = {name: _column_values(v) for name, v in columns.items()}
    report = _progress.callback(progress)
    try:
        rowids = _quiver.vec0_insert(conn, table, arr, id_list, cols, replace, report)
    finally:
        _progress.close(report)
    return len(rowids)


def train_index(conn: Any, table: str, *, progress: Any = None) -> Dict[str, Any]:
    """Trains the IVF index of vec0 table ``table`` (its column declared ``indexed by
    ivf(...)``) and assigns every row to a list: what ``INSERT INTO t(t) VALUES
    ('compute-centroids')`` does, in one statement (all or nothing), with progress.
    ``progress``: ``True`` for progress bars, or a callable ``progress(stage, done,
    total)`` hearing the k-means iterations (stage ``"train"``) and the chunks assigned
    (stage ``"assign"``); an exception it raises cancels the training and leaves the
    index as it was. Returns ``index_state(conn, table)``.

    >>> import numpy as np, sqlite_quiver
    >>> conn = sqlite_quiver.connect_with_vec()
    >>> _ = conn.execute("create virtual table t using vec0(emb float[4] indexed by ivf(nlist=2))")
    >>> _ = sqlite_quiver.insert_vectors(conn, "t", np.random.default_rng(0).random((50, 4)))
    >>> state = sqlite_quiver.train_index(conn, "t")
    >>> state["trained"], state["rows_unassigned"]
    (True, 0)
    """
    return _ivf_command(conn, table, "compute-centroids", progress)


def assign_index(conn: Any, table: str, *, progress: Any = None) -> Dict[str, Any]:
    """Assigns the rows of vec0 table ``table`` that are in no list of its trained IVF
    index (rows inserted before training): ``INSERT INTO t(t) VALUES
    ('assign-vectors')``, with ``progress`` as in :func:`train_index` (stage
    ``"assign"``). Returns ``index_state(conn, table)``.

    >>> import numpy as np, sqlite_quiver
    >>> conn = sqlite_quiver.connect_with_vec()
    >>> _ = conn.execute("create virtual table t using vec0(emb float[4] indexed by ivf(nlist=2))")
    >>> X = np.random.default_rng(0).random((60, 4))
    >>> _ = sqlite_quiver.insert_vectors(conn, "t", X[:50])
    >>> _ = sqlite_quiver.train_index(conn, "t")
    >>> _ = sqlite_quiver.insert_vectors(conn, "t", X[50:])  # assigned as inserted
    >>> sqlite_quiver.assign_index(conn, "t")["rows_unassigned"]
    0
    """
    return _ivf_command(conn, table, "assign-vectors", progress)


def _ivf_command(conn: Any, table: str, command: str, progress: Any) -> Dict[str, Any]:
    report = _progress.callback(progress)
    try:
        _quiver.vec0_ivf_command(conn, table, command, report)
    finally:
        _progress.close(report)
    return index_state(conn, table)


def search(
    conn: Any,
    table: str,
    queries: Any,
    k: int,
    *,
    column: Optional[str] = None,
    oversample: Optional[int] = None,
    nprobe: Optional[int] = None,
    **filters: Any,
) -> Tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of vec0 table ``table`` for every row of ``queries``, in
    one pass over the vectors (the scan is blocked so each block serves all queries).

    ``column``: the vector column (default: the first). ``filters``: ``name=value``
    (equality) or ``name=[v1, v2]`` (IN) on partition keys, metadata or the primary
    key, applied before the top-k. ``oversample``: on a column with
    ``indexed by rescore(...)`` or ``indexed by ivf(quantizer=int8|binary, ...)``, the
    candidates kept per result row before the exact rescoring, for this call (default:
    the column's; ignored on other columns).
    ``nprobe``: on a column with ``indexed by ivf(...)``, the lists each query probes,
    for this call (default: the column's; more are probed when fewer than ``k`` rows
    pass the filters; ignored on other columns). A filter on a column named
    ``oversample``, ``nprobe`` or ``column`` must be written in SQL.
    Returns ``(ids, distances)``, both shaped
    ``(n_queries, min(k, rows in the table))``: ids are int64 rowids (an object array
    of strings for a text primary key); where fewer rows match, ids are -1 (None) and
    distances inf.

    >>> import numpy as np, sqlite_quiver
    >>> conn = sqlite_quiver.connect_with_vec()
    >>> _ = conn.execute("create virtual table t using vec0(emb float[2])")
    >>> _ = sqlite_quiver.insert_vectors(conn, "t", np.eye(2), ids=[1, 2])
    >>> sqlite_quiver.search(conn, "t", np.eye(2), k=1)[0].tolist()
    [[1], [2]]
    """
    import numpy as np

    q = _matrix(queries, "queries")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an integer, got {type(k).__name__}")
    k = int(k)
    flt = {
        name: (_column_values(v) if isinstance(v, (list, tuple, np.ndarray)) else v)
        for name, v in filters.items()
    }
    flt = {name: (v if isinstance(v, list) else [v]) for name, v in flt.items()}
    if oversample is not None and (
        isinstance(oversample, bool)
        or not isinstance(oversample, (int, np.integer))
        or not 1 <= oversample <= 65536
    ):
        raise ValueError(f"oversample must be an integer between 1 and 65536, got {oversample!r}")
    if nprobe is not None and (
        isinstance(nprobe, bool) or not isinstance(nprobe, (int, np.integer)) or nprobe < 1
    ):
        raise ValueError(f"nprobe must be a positive integer, got {nprobe!r}")
    id_bytes, dist_bytes, text_ids = _quiver.vec0_search(
        conn,
        table,
        q,
        k,
        column,
        flt,
        None if oversample is None else int(oversample),
        None if nprobe is None else int(nprobe),
    )
    # The result width is min(k, rows): a huge k allocates nothing for missing rows.
    width = len(dist_bytes) // 4 // max(len(q), 1)
    distances = np.frombuffer(dist_bytes, dtype=np.float32).reshape(len(q), width).copy()
    if text_ids is not None:
        ids = np.array(text_ids, dtype=object).reshape(len(q), width)
    else:
        ids = np.frombuffer(id_bytes, dtype=np.int64).reshape(len(q), width).copy()
    return ids, distances


def index_state(conn: Any, table: str, column: Optional[str] = None) -> Dict[str, Any]:
    """The index of vector column ``column`` (default: the first) of vec0 table
    ``table``: ``kind`` ("rescore", "ivf", or "none" for an exact scan), and for a
    rescore index its ``quantizer``, ``oversample``, ``rows_coded``,
    ``code_bytes_per_row`` and ``code_bytes`` (codes held in memory). For an ivf index:
    ``nlist``, ``nprobe`` (the declared one), ``trained``, ``centroids``, ``rows``,
    ``rows_unassigned`` (rows every query scans exactly), ``list_sizes`` with
    ``list_size_min`` / ``list_size_max`` / ``list_size_mean``, ``memory_bytes``
    (centroids and lists held in memory, with the lists' packed copies of the vectors)
    and ``lists_packed`` (whether the lists hold those copies: only when the table's
    vectors take at most half the cache budget); ``streamed`` says the table is above
    the cache budget (then scanned exactly). The same JSON comes from SQL as
    ``select quiver_index_state('t')``.

    >>> import numpy as np, sqlite_quiver
    >>> conn = sqlite_quiver.connect_with_vec()
    >>> _ = conn.execute(
    ...     "create virtual table t using vec0(emb float[16] indexed by rescore(quantizer=bit))"
    ... )
    >>> _ = sqlite_quiver.insert_vectors(conn, "t", np.eye(16), ids=list(range(1, 17)))
    >>> s = sqlite_quiver.vectors.index_state(conn, "t")
    >>> s["kind"], s["quantizer"], s["oversample"], s["rows_coded"], s["code_bytes_per_row"]
    ('rescore', 'bit', 8, 16, 2)
    """
    state: Dict[str, Any] = json.loads(_quiver.vec0_index_state(conn, table, column))
    return state


def integrity_check(conn: Any, table: str) -> None:
    """Verifies every shadow table of vec0 table ``table`` (``"schema.table"`` for an
    attached database) against the others: info values, chunk ids and lengths, each
    chunk's size against its validity bitmap, every row's slot against the bitmaps, the
    free list, text ids, auxiliary rows. Returns None; damage raises
    ``sqlite3.OperationalError`` ("vec0: table 't' is corrupt: ..."). The same check
    runs in SQL as ``INSERT INTO t(t) VALUES ('integrity-check')``.

    >>> import numpy as np, sqlite_quiver
    >>> conn = sqlite_quiver.connect_with_vec()
    >>> _ = conn.execute("create virtual table t using vec0(emb float[2])")
    >>> _ = sqlite_quiver.insert_vectors(conn, "t", np.eye(2), ids=[1, 2])
    >>> sqlite_quiver.vectors.integrity_check(conn, "t")
    """
    _quiver.vec0_integrity_check(conn, table)


def set_scan_threads(n: int) -> int:
    """Caps the threads of vec0 scans, in SQL KNN queries and :func:`search` (0 = every
    core); returns the previous cap. Inference threads are a separate setting,
    ``sqlite_quiver.ml.configure(threads=...)``.

    >>> previous = set_scan_threads(1)
    >>> set_scan_threads(previous)
    1
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    return _quiver.vec0_set_scan_threads(n)


def set_threads(n: int) -> int:
    """Deprecated alias of :func:`set_scan_threads` (it caps vec0 scan threads only);
    removed in the next release.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     previous = set_threads(1)
    >>> caught[0].category.__name__, set_scan_threads(previous)
    ('DeprecationWarning', 1)
    """
    warnings.warn(
        "sqlite_quiver.set_threads is deprecated and will be removed in the next release: "
        "use sqlite_quiver.set_scan_threads (it caps vec0 scan threads only)",
        DeprecationWarning,
        stacklevel=2,
    )
    return set_scan_threads(n)


def cache_bytes(conn: Any, table: str) -> int:
    """Bytes the process-level cache holds for ``table`` (loads it if needed).

    >>> import numpy as np, sqlite_quiver
    >>> conn = sqlite_quiver.connect_with_vec()
    >>> _ = conn.execute("create virtual table t using vec0(emb float[4])")
    >>> _ = sqlite_quiver.insert_vectors(conn, "t", np.ones((10, 4)))
    >>> cache_bytes(conn, "t") >= 10 * 4 * 4  # at least the float32 vectors
    True
    """
    return _quiver.vec0_cache_bytes(conn, table)


def cache_info() -> dict[str, int]:
    """What the process-level vector cache holds: ``tables`` cached, ``bytes`` they
    take, the ``budget`` (bytes, see :func:`set_cache_budget`), how many tables are
    ``streamed`` (above the budget: their vectors are read from the database on every
    query), and since the process started, ``hits`` (queries, SQL or Python, answered
    from a valid entry), ``loads`` (tables read from the database, which is what a
    first query or a query after another connection's commit does) and ``evictions``
    (tables dropped to stay within the budget). Same as SQL
    ``select quiver_cache_info()`` (JSON text).

    >>> import numpy as np, sqlite_quiver
    >>> conn = sqlite_quiver.connect_with_vec()
    >>> _ = conn.execute("create virtual table t using vec0(emb float[2])")
    >>> _ = sqlite_quiver.insert_vectors(conn, "t", np.eye(2), ids=[1, 2])
    >>> clear_cache()
    >>> before = cache_info()
    >>> q = np.float32([0, 1]).tobytes()
    >>> for _ in range(3):
    ...     _ = conn.execute("select rowid from t where emb match ? and k = 1", [q]).fetchall()
    >>> info = cache_info()
    >>> info["tables"], info["loads"] - before["loads"], info["hits"] - before["hits"]
    (1, 1, 2)
    >>> info["bytes"] >= 2 * 2 * 4
    True
    """
    return json.loads(_quiver.vec0_cache_info())


def set_cache_budget(bytes: int | None = None) -> int:
    """Sets how many bytes the process-level vector cache may hold (``None``: the
    default, half of the machine's RAM) and returns the budget now in effect. Same as
    SQL ``select quiver_cache_budget(:bytes)``.

    The least recently used tables are dropped to make room. A table whose decoded
    vectors alone exceed the budget is not cached whole: its rowids and metadata stay
    in memory and every query reads its vectors chunk by chunk from the database (one
    chunk in memory at a time), giving the same results at the speed of reading the
    file. Tables that grow past the budget are reloaded that way at their next query.

    >>> import numpy as np, sqlite_quiver
    >>> conn = sqlite_quiver.connect_with_vec()
    >>> _ = conn.execute("create virtual table t using vec0(emb float[4])")
    >>> _ = sqlite_quiver.insert_vectors(conn, "t", np.eye(4), ids=[1, 2, 3, 4])
    >>> old = cache_info()["budget"]
    >>> set_cache_budget(1024)  # smaller than the table: it is streamed
    1024
    >>> q = np.float32([0, 0, 1, 0]).tobytes()
    >>> conn.execute("select rowid from t where emb match ? and k = 1", [q]).fetchall()
    [(3,)]
    >>> cache_info()["streamed"]
    1
    >>> set_cache_budget(old) == old
    True
    """
    if bytes is not None and (isinstance(bytes, bool) or not isinstance(bytes, int) or bytes <= 0):
        raise ValueError(f"cache budget must be a positive int of bytes or None, got {bytes!r}")
    return _quiver.vec0_set_cache_budget(bytes)


def clear_cache() -> None:
    """Drops every table from the process-level vector cache (memory is given back;
    the next query of each table reloads it). In-memory databases leave the cache when
    their connection closes; file databases stay cached for later connections.

    >>> import numpy as np, sqlite_quiver
    >>> conn = sqlite_quiver.connect_with_vec()
    >>> _ = conn.execute("create virtual table t using vec0(emb float[2])")
    >>> _ = sqlite_quiver.insert_vectors(conn, "t", np.eye(2), ids=[1, 2])
    >>> clear_cache()
    >>> search(conn, "t", [[0, 1]], k=1)[0].tolist()  # reads the table again
    [[2]]
    """
    _quiver.vec0_clear_cache()
