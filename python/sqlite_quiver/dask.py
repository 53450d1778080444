"""Shard sets of SQLite files on Dask: a dataframe with one partition per shard, and
sharded exact KNN with ``dask.delayed``.

Needs ``pip install sqlite-quiver[dask]``.

See :func:`read_sqlite` and :func:`search_shards`.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

try:
    import dask
    import dask.dataframe as dd
    import pandas as pd
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "sqlite_quiver.dask needs dask.dataframe: pip install 'sqlite-quiver[dask]'"
    ) from e

import pyarrow as pa

from ._scaleout import (
    PathsLike,
    ShardHits,
    check_search_args,
    merge_top_k,
    read_shard,
    reference_schema,
    resolve_shards,
    search_shard,
)
from .vectors import set_scan_threads

__all__ = ["ShardHits", "read_sqlite", "search_shards"]


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def _read_partition(
    path: str, sql: str, params: List[Any], schema: pa.Schema, out: pa.Schema, immutable: bool
) -> pd.DataFrame:
    tables = list(read_shard(path, sql, params, schema, immutable=immutable))
    table = pa.concat_tables(tables) if tables else out.empty_table()
    return _to_pandas(table.cast(out) if table.schema != out else table)


def read_sqlite(
    paths: PathsLike,
    sql: str,
    params: Sequence[Any] = (),
    *,
    schema: Any = None,
    immutable: bool = False,
) -> dd.DataFrame:
    """A ``dask.dataframe.DataFrame`` of ``sql`` run on every shard in ``paths``, one
    partition per shard, with Arrow-backed dtypes (``pd.ArrowDtype``; vectors stay
    fixed-size lists).

    ``paths``, ``schema`` and ``immutable`` are as in :func:`sqlite_quiver.ray.read_sqlite`:
    a list, glob or directory of shard files, opened read-only; the result schema is
    taken from the first shard and checked on the others (a ``ValueError`` names the
    shard that differs).

    >>> import os, tempfile, pyarrow as pa, sqlite_quiver
    >>> from sqlite_quiver.dask import read_sqlite
    >>> folder = tempfile.mkdtemp()
    >>> for i in range(2):
    ...     conn = sqlite_quiver.connect_with_vec(os.path.join(folder, f"part-{i}.sqlite"))
    ...     _ = sqlite_quiver.insert_arrow(conn, "t", pa.table({"id": [i], "x": [i / 2]}), "create")
    ...     conn.commit(); conn.close()
    >>> df = read_sqlite(folder, "select id, x from t")
    >>> df.npartitions, float(df.x.sum().compute())
    (2, 0.5)
    """
    shard_paths = resolve_shards(paths)
    params = list(params)
    ref = reference_schema(shard_paths, sql, params, schema, immutable=immutable)
    # Columns NULL in every probed row have no type yet: every partition shows them as
    # text, so all partitions agree with the metadata.
    out = pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in ref])
    return dd.from_map(
        _read_partition,
        shard_paths,
        args=[sql, params, ref, out, bool(immutable)],
        meta=_to_pandas(out.empty_table()),
        label="read-sqlite",
        enforce_metadata=False,
    )


def search_shards(
    paths: PathsLike,
    table: str,
    queries: Any,
    k: int,
    *,
    column: Optional[str] = None,
    immutable: bool = False,
    threads_per_shard: int = 1,
    scheduler: Optional[str] = None,
    **filters: Any,
) -> ShardHits:
    """The ``k`` nearest rows of vec0 table ``table`` across every shard for every row
    of ``queries``: one ``dask.delayed`` task per shard, merged in one more task, computed
    with ``scheduler`` (default: Dask's current one). Exact for exact shards; arguments
    and result as in :func:`sqlite_quiver.ray.search_shards`. Each task scans with
    ``threads_per_shard`` threads (the cap is process-wide, and restored here after the
    search, so the threaded scheduler does not oversubscribe the cores).

    >>> import os, tempfile, numpy as np, sqlite_quiver
    >>> folder = tempfile.mkdtemp()
    >>> for i in range(2):
    ...     conn = sqlite_quiver.connect_with_vec(os.path.join(folder, f"v{i}.db"))
    ...     _ = conn.execute("create virtual table v using vec0(emb float[2])")
    ...     ids = [10 * i + 1, 10 * i + 2]
    ...     _ = sqlite_quiver.insert_vectors(conn, "v", np.eye(2) * (i + 1), ids=ids)
    ...     conn.commit(); conn.close()
    >>> hits = search_shards(folder, "v", np.array([[0.9, 0.1]]), k=2, scheduler="sync")
    >>> hits.ids.tolist(), hits.shards.tolist()
    ([[1, 11]], [[0, 1]])
    """
    shard_paths = resolve_shards(paths)
    q, k = check_search_args(queries, k)
    search = dask.delayed(search_shard, pure=True)
    parts = [
        search(p, table, q, k, column, filters, threads=threads_per_shard, immutable=immutable)
        for p in shard_paths
    ]
    merged = dask.delayed(merge_top_k, pure=True)(parts, k, shard_paths)
    previous = set_scan_threads(max(0, int(threads_per_shard)))
    try:
        return merged.compute(scheduler=scheduler)
    finally:
        set_scan_threads(previous)
