"""Shard sets of SQLite files on Ray Data: read them in parallel as Arrow, write one new
shard per task, run stored models in actor pools, and search vec0 shards exactly.

Needs ``pip install sqlite-quiver[ray]``.

>>> import tempfile, pyarrow as pa, ray
>>> from sqlite_quiver.ray import SqliteDatasink, read_sqlite
>>> _ = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
>>> folder = tempfile.mkdtemp()
>>> data = pa.table({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5]})
>>> ray.data.from_arrow(data).write_datasink(SqliteDatasink(folder, "t"))
>>> read_sqlite(folder, "select id, x from t where id > ?", [1]).sum("x")
4.0
"""

from __future__ import annotations

import functools
import os
import uuid
from typing import Any, Iterable, List, Optional, Sequence

try:
    import ray
    import ray.data
    from ray.data.block import BlockAccessor, BlockMetadata
    from ray.data.datasource import Datasink, Datasource, ReadTask
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError("sqlite_quiver.ray needs Ray Data: pip install 'sqlite-quiver[ray]'") from e

from ._scaleout import (
    MANIFEST,
    ModelPredictor,
    PathsLike,
    ShardHits,
    ShardWritten,
    check_search_args,
    merge_top_k,
    read_manifest,
    read_shard,
    reference_schema,
    resolve_shards,
    search_shard,
    write_manifest,
    write_shard,
)

__all__ = [
    "ModelPredictor",
    "ShardHits",
    "SqliteDatasink",
    "SqliteDatasource",
    "read_sqlite",
    "search_shards",
]


def _read_group(
    paths: List[str], sql: str, params: List[Any], schema: Any, immutable: bool
) -> Iterable[Any]:
    for path in paths:
        yield from read_shard(path, sql, params, schema, immutable=immutable)


class SqliteDatasource(Datasource):
    """A Ray Data source over SQLite shard files: each read task opens one or more
    shards read-only and streams the Arrow batches of ``query_arrow(sql, params)``.

    The result schema is learned from the first shard and checked on every other one
    when the source is created (a ``ValueError`` names the shard that differs).
    """

    def __init__(
        self,
        paths: PathsLike,
        sql: str,
        params: Sequence[Any] = (),
        *,
        schema: Any = None,
        immutable: bool = False,
    ) -> None:
        super().__init__()
        self.paths = resolve_shards(paths)
        self.sql = sql
        self.params = list(params)
        self.immutable = bool(immutable)
        self.schema = reference_schema(
            self.paths, sql, self.params, schema, immutable=self.immutable
        )

    def estimate_inmemory_data_size(self) -> Optional[int]:
        """The shards' file sizes (a rough stand-in: query results are often smaller)."""
        return sum(os.path.getsize(p) for p in self.paths)

    def get_read_tasks(
        self,
        parallelism: int,
        per_task_row_limit: Optional[int] = None,
        data_context: Any = None,
    ) -> List[ReadTask]:
        """One read task per shard, or per group of neighbouring shards when
        ``parallelism`` asks for fewer tasks (a shard is never split)."""
        n = len(self.paths)
        tasks = n if parallelism is None or parallelism <= 0 else max(1, min(parallelism, n))
        bounds = [round(i * n / tasks) for i in range(tasks + 1)]
        read_tasks = []
        for lo, hi in zip(bounds, bounds[1:]):
            group = self.paths[lo:hi]
            metadata = BlockMetadata(
                num_rows=None,
                size_bytes=sum(os.path.getsize(p) for p in group),
                input_files=group,
                exec_stats=None,
            )
            read = functools.partial(
                _read_group, group, self.sql, self.params, self.schema, self.immutable
            )
            read_tasks.append(
                ReadTask(read, metadata, schema=self.schema, per_task_row_limit=per_task_row_limit)
            )
        return read_tasks

    def get_name(self) -> str:
        """The name Ray shows for the read operator."""
        return "ReadSQLite"


def read_sqlite(
    paths: PathsLike,
    sql: str,
    params: Sequence[Any] = (),
    *,
    schema: Any = None,
    immutable: bool = False,
    parallelism: int = -1,
    **read_args: Any,
) -> ray.data.Dataset:
    """A ``ray.data.Dataset`` of ``sql`` run on every shard in ``paths``.

    ``paths``: a list of files, a glob pattern, or a directory (its manifest's shards when
    ``SqliteDatasink`` wrote it, else its ``*.sqlite`` / ``*.sqlite3`` / ``*.db`` files).
    Shards are opened read-only (``file:...?mode=ro``; ``immutable=True`` also skips
    SQLite's locking, for snapshots nobody writes). ``schema`` (a pyarrow Schema) fixes
    column types as in ``query_arrow``, e.g. ``pa.list_(pa.float32(), 384)`` for vec0
    vector columns. ``parallelism``: the number of read tasks (default: one per shard).
    Other keyword arguments go to ``ray.data.read_datasource`` (``concurrency``,
    ``ray_remote_args``, ...).

    >>> import os, tempfile, pyarrow as pa, ray, sqlite_quiver
    >>> _ = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
    ...              ignore_reinit_error=True)
    >>> folder = tempfile.mkdtemp()
    >>> for i in range(3):
    ...     conn = sqlite_quiver.connect_with_vec(os.path.join(folder, f"part-{i}.db"))
    ...     table = pa.table({"id": [i], "x": [i * 1.5]})
    ...     _ = sqlite_quiver.insert_arrow(conn, "t", table, "create")
    ...     conn.commit(); conn.close()
    >>> ds = read_sqlite(os.path.join(folder, "part-*.db"), "select id, x from t")
    >>> ds.count(), ds.sum("x")
    (3, 4.5)
    """
    source = SqliteDatasource(paths, sql, params, schema=schema, immutable=immutable)
    if parallelism is not None and parallelism > 0:
        read_args.setdefault("override_num_blocks", parallelism)
    return ray.data.read_datasource(source, **read_args)


_MODES = ("error", "append", "overwrite")


class SqliteDatasink(Datasink):
    """Writes a Dataset as a shard set: every write task creates its own NEW SQLite
    file in ``directory`` (one writer per file) and ingests its blocks with
    ``insert_arrow`` in one transaction.

    ``table`` is created from the Arrow schema of the first block, or by ``create_sql``
    (one statement, e.g. ``create virtual table items using vec0(id integer primary key,
    emb float[384], genre text)``); fixed-size-list columns of float32 / int8 (and Ray
    tensor columns of 1-D cells) are stored as vectors. Files are written under a
    temporary name and renamed after COMMIT; when the job completes,
    ``_quiver_manifest.json`` lists the finished shards with their row counts and schema,
    and :func:`read_sqlite` of the directory reads exactly those. ``mode``: ``"error"``
    (default; the directory must not hold a manifest yet), ``"append"`` (add shards to
    it) or ``"overwrite"`` (the old manifest's shards are deleted once the new one is
    written). ``rows_per_shard`` asks Ray to bundle at least that many rows into each
    write task.
    """

    def __init__(
        self,
        directory: str,
        table: str,
        *,
        create_sql: Optional[str] = None,
        mode: str = "error",
        rows_per_shard: Optional[int] = None,
    ) -> None:
        if not isinstance(table, str) or not table:
            raise ValueError(f"table must be a non-empty table name, got {table!r}")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        if create_sql is not None and not isinstance(create_sql, str):
            raise TypeError(f"create_sql must be a string, got {type(create_sql).__name__}")
        if rows_per_shard is not None and (
            isinstance(rows_per_shard, bool) or not isinstance(rows_per_shard, int)
        ):
            raise TypeError(f"rows_per_shard must be an integer, got {rows_per_shard!r}")
        self.directory = os.path.abspath(os.fspath(directory))
        self.table = table
        self.create_sql = create_sql
        self.mode = mode
        self.rows_per_shard = rows_per_shard
        os.makedirs(self.directory, exist_ok=True)
        if mode == "error" and os.path.exists(os.path.join(self.directory, MANIFEST)):
            raise FileExistsError(
                f"{self.directory!r} already holds a shard set (mode='error'); use "
                "mode='append' or mode='overwrite'"
            )
        # Names of this job's shards start with it, so a failed job can remove them.
        self.prefix = f"shard-{uuid.uuid4().hex[:8]}"
        self.manifest: Optional[dict] = None

    @property
    def min_rows_per_write(self) -> Optional[int]:
        """At least this many rows per write task (``rows_per_shard``)."""
        return self.rows_per_shard

    def write(self, blocks: Iterable[Any], ctx: Any) -> Optional[ShardWritten]:
        """Writes this task's blocks into one new shard file."""
        tables = (BlockAccessor.for_block(b).to_arrow() for b in blocks)
        return write_shard(
            self.directory, self.table, tables, create_sql=self.create_sql, prefix=self.prefix
        )

    def on_write_complete(self, write_result: Any) -> None:
        """Writes the manifest naming the shards of every task that finished."""
        returns = getattr(write_result, "write_returns", write_result)
        shards = [ShardWritten(*r) for r in returns if r is not None]
        manifest_path = os.path.join(self.directory, MANIFEST)
        old = read_manifest(self.directory)["shards"] if os.path.exists(manifest_path) else []
        self.manifest = write_manifest(
            self.directory,
            self.table,
            shards,
            create_sql=self.create_sql,
            previous=old if self.mode == "append" else (),
        )
        if self.mode == "overwrite":
            kept = {s.path for s in shards}
            for entry in old:
                if entry["path"] not in kept:
                    try:
                        os.remove(os.path.join(self.directory, entry["path"]))
                    except FileNotFoundError:
                        pass

    def on_write_failed(self, error: Exception) -> None:
        """Removes the shards this job's finished tasks wrote: none is in a manifest."""
        for name in os.listdir(self.directory):
            if name.startswith(self.prefix + "-") and name.endswith(".sqlite"):
                try:
                    os.remove(os.path.join(self.directory, name))
                except FileNotFoundError:
                    pass

    def get_name(self) -> str:
        """The name Ray shows for the write operator."""
        return "WriteSQLite"


def _search_task(
    path: str,
    table: str,
    queries: Any,
    k: int,
    column: Optional[str],
    filters: dict,
    immutable: bool,
) -> Any:
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    return search_shard(
        path, table, queries, k, column, filters, threads=max(1, int(cpus)), immutable=immutable
    )


def search_shards(
    paths: PathsLike,
    table: str,
    queries: Any,
    k: int,
    *,
    column: Optional[str] = None,
    immutable: bool = False,
    num_cpus: float = 1,
    **filters: Any,
) -> ShardHits:
    """The ``k`` nearest rows of vec0 table ``table`` across every shard, for every row
    of ``queries``: one Ray task per shard runs ``sqlite_quiver.search`` for all the
    queries at once (a scan serves every query), and the driver merges the per-shard
    top-k. For exact (unindexed) shards the result is exactly the global top-k.

    ``column`` and ``filters`` (``name=value`` or ``name=[v1, v2]`` on partition keys,
    metadata or the primary key) are as in ``sqlite_quiver.search``; ``num_cpus`` is the
    CPUs each task reserves and the threads its scan uses. Returns :class:`ShardHits`:
    ``ids``, ``distances`` and ``shards`` (index into ``paths`` of each hit's shard, -1
    where fewer than ``k`` rows matched), all shaped ``(n_queries, k)``.

    >>> import os, tempfile, numpy as np, ray, sqlite_quiver
    >>> _ = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
    ...              ignore_reinit_error=True)
    >>> folder = tempfile.mkdtemp()
    >>> for i in range(2):
    ...     conn = sqlite_quiver.connect_with_vec(os.path.join(folder, f"v{i}.db"))
    ...     _ = conn.execute("create virtual table v using vec0(emb float[2])")
    ...     ids = [10 * i + 1, 10 * i + 2]
    ...     _ = sqlite_quiver.insert_vectors(conn, "v", np.eye(2) * (i + 1), ids=ids)
    ...     conn.commit(); conn.close()
    >>> hits = search_shards(folder, "v", np.array([[0.9, 0.1]]), k=2)
    >>> hits.ids.tolist(), hits.shards.tolist()
    ([[1, 11]], [[0, 1]])
    """
    shard_paths = resolve_shards(paths)
    q, k = check_search_args(queries, k)
    task = ray.remote(num_cpus=num_cpus)(_search_task)
    q_ref = ray.put(q)
    refs = [task.remote(p, table, q_ref, k, column, filters, immutable) for p in shard_paths]
    try:
        results = ray.get(refs)
    except ray.exceptions.RayTaskError as e:
        # The task's own error (it names the shard) without Ray's wrapper around it.
        if isinstance(getattr(e, "cause", None), Exception):
            raise e.cause from None
        raise
    return merge_top_k(results, k, shard_paths)
