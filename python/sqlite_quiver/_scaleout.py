"""Engine-free pieces of the scale-out adapters (:mod:`sqlite_quiver.ray`,
:mod:`sqlite_quiver.dask`): finding shard files, opening them read-only, checking that
their query schemas agree, writing one shard, the shard manifest, per-shard top-k and
its merge, and batch inference over Arrow data.

Nothing here imports Ray or Dask, so each adapter stays a thin layer over these
functions and the two cannot disagree.
"""

from __future__ import annotations

import datetime
import glob
import json
import os
import sqlite3
import urllib.parse
import uuid
from typing import Any, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import pyarrow as pa

from . import _loader, ml
from .arrow import insert_arrow, query_arrow, register_arrow, unregister_arrow
from .vectors import _matrix, search, set_scan_threads

MANIFEST = "_quiver_manifest.json"
MANIFEST_FORMAT = "sqlite-quiver-shards"
SHARD_SUFFIXES = (".sqlite", ".sqlite3", ".db")
# Rows read from each shard to learn the result schema of a query.
PROBE_ROWS = 1000

PathsLike = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]]


# ---------------------------------------------------------------------------------------
# Shard files


def resolve_shards(paths: PathsLike) -> List[str]:
    """The shard files ``paths`` names, as absolute paths, in a fixed order.

    ``paths`` is a list of files, a glob pattern, or a directory. A directory with a
    manifest (written by ``SqliteDatasink``) yields the shards the manifest lists (only
    completed ones); otherwise its ``*.sqlite``, ``*.sqlite3`` and ``*.db`` files, sorted.

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for name in ["b.sqlite", "a.sqlite", "notes.txt"]:
    ...     open(os.path.join(folder, name), "wb").close()
    >>> [os.path.basename(p) for p in resolve_shards(folder)]
    ['a.sqlite', 'b.sqlite']
    >>> resolve_shards(os.path.join(folder, "*.db"))
    Traceback (most recent call last):
    ValueError: no shard files in glob '...*.db'
    """
    if isinstance(paths, (str, os.PathLike)):
        path = os.fspath(paths)
        if os.path.isdir(path):
            manifest = os.path.join(path, MANIFEST)
            if os.path.exists(manifest):
                found = [os.path.join(path, s["path"]) for s in read_manifest(path)["shards"]]
            else:
                found = sorted(
                    os.path.join(path, name)
                    for name in os.listdir(path)
                    if name.endswith(SHARD_SUFFIXES) and not name.startswith(".")
                )
            where = f"directory {path!r}"
        elif glob.has_magic(path):
            found = sorted(p for p in glob.glob(path) if os.path.isfile(p))
            where = f"glob {path!r}"
        else:
            found = [path]
            where = f"path {path!r}"
    elif isinstance(paths, (list, tuple)):
        found = [os.fspath(p) for p in paths]
        where = "the list of paths"
    else:
        raise TypeError(
            "paths must be a file, a directory, a glob pattern or a list of files, "
            f"got {type(paths).__name__}"
        )
    if not found:
        raise ValueError(f"no shard files in {where}")
    for p in found:
        if not os.path.isfile(p):
            raise FileNotFoundError(f"shard {p!r} does not exist (from {where})")
    return [os.path.abspath(p) for p in found]


def shard_uri(path: str, *, immutable: bool = False) -> str:
    """The SQLite URI that opens ``path`` read-only (``immutable=1`` also skips locking,
    for snapshots that no process writes any more).

    >>> shard_uri("/data/my shard.sqlite", immutable=True)
    'file:/data/my%20shard.sqlite?mode=ro&immutable=1'
    """
    quoted = urllib.parse.quote(os.path.abspath(path), safe="/")
    return f"file:{quoted}?mode=ro" + ("&immutable=1" if immutable else "")


def open_shard(path: str, *, immutable: bool = False) -> sqlite3.Connection:
    """``path`` opened read-only with sqlite-quiver loaded.

    >>> import os, sqlite3, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "s.sqlite")
    >>> sqlite3.connect(path).execute("create table t (x)").connection.commit()
    >>> conn = open_shard(path)
    >>> conn.execute("select vec_length('[1, 2]')").fetchone()
    (2,)
    >>> conn.execute("insert into t values (1)")
    Traceback (most recent call last):
    sqlite3.OperationalError: attempt to write a readonly database
    """
    conn = sqlite3.connect(shard_uri(path, immutable=immutable), uri=True, check_same_thread=False)
    try:
        _loader.load(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _shard_error(path: str, error: BaseException) -> BaseException:
    """``error`` with the shard's path in front of its message, same class if possible."""
    message = f"shard {path!r}: {error}"
    try:
        return type(error)(message)
    except Exception:  # exception classes with other constructors
        return RuntimeError(message)


# ---------------------------------------------------------------------------------------
# Reading


def _check_sql(sql: Any) -> str:
    if not isinstance(sql, str) or not sql.strip():
        raise TypeError(f"sql must be a non-empty SELECT statement, got {sql!r}")
    return sql.strip().rstrip(";").strip()


def _probe(path: str, sql: str, params: Sequence[Any], schema: Any, immutable: bool) -> Any:
    """The schema of ``sql`` on one shard, learned from its first rows."""
    conn = open_shard(path, immutable=immutable)
    try:
        probe = f"SELECT * FROM ({sql}) LIMIT {PROBE_ROWS}"
        return query_arrow(conn, probe, params, schema).to_pyarrow().schema
    except Exception as e:
        raise _shard_error(path, e) from e
    finally:
        conn.close()


def reference_schema(
    paths: Sequence[str],
    sql: str,
    params: Sequence[Any] = (),
    schema: Any = None,
    *,
    immutable: bool = False,
) -> Any:
    """The result schema of ``sql`` over every shard: taken from the first shard and
    checked on the others (an error names the first shard that differs).

    Columns without a declared type take their type from the first shard whose first
    rows have a non-NULL value; ``schema`` fixes the types of the columns it names.

    >>> import os, tempfile, sqlite_quiver
    >>> folder = tempfile.mkdtemp()
    >>> paths = [os.path.join(folder, f"{i}.sqlite") for i in range(2)]
    >>> for path, x_type in zip(paths, ["real", "text"]):
    ...     conn = sqlite_quiver.connect_with_vec(path)
    ...     _ = conn.execute(f"create table t (id integer, x {x_type})")
    ...     conn.commit(); conn.close()
    >>> reference_schema(paths[:1], "select * from t")
    id: int64
    x: double
    >>> reference_schema(paths, "select * from t")
    Traceback (most recent call last):
    ValueError: shard '...1.sqlite' does not match ...: column 'x' is string there, expected double
    """
    sql = _check_sql(sql)
    first = _probe(paths[0], sql, params, schema, immutable)
    names = first.names
    types = {f.name: f.type for f in first}
    for path in paths[1:]:
        other = _probe(path, sql, params, schema, immutable)
        if other.names != names:
            raise ValueError(
                f"shard {path!r} does not match the first shard {paths[0]!r}: its columns "
                f"are {other.names}, expected {names}"
            )
        for field in other:
            known = types[field.name]
            if pa.types.is_null(known):
                types[field.name] = field.type
            elif not pa.types.is_null(field.type) and field.type != known:
                raise ValueError(
                    f"shard {path!r} does not match the first shard {paths[0]!r}: column "
                    f"{field.name!r} is {field.type} there, expected {known}"
                )
    return pa.schema([pa.field(n, types[n]) for n in names])


def _fixed_types(schema: Any) -> Any:
    """The part of ``schema`` that ``query_arrow(schema=...)`` can pin (no null types)."""
    return pa.schema([f for f in schema if not pa.types.is_null(f.type)])


def read_shard(
    path: str,
    sql: str,
    params: Sequence[Any],
    schema: Any,
    *,
    immutable: bool = False,
) -> Iterator[Any]:
    """The result of ``sql`` on one shard as pyarrow Tables (one per Arrow batch), with
    the types ``schema`` pins; errors name the shard.

    >>> import os, tempfile, pyarrow as pa, sqlite_quiver
    >>> path = os.path.join(tempfile.mkdtemp(), "s.sqlite")
    >>> conn = sqlite_quiver.connect_with_vec(path)
    >>> sqlite_quiver.insert_arrow(conn, "t", pa.table({"id": [1, 2, 3]}), "create")
    3
    >>> conn.commit()
    >>> [t.num_rows for t in read_shard(path, "select id from t where id > ?", [1], None)]
    [2]
    """
    sql = _check_sql(sql)
    conn = open_shard(path, immutable=immutable)
    try:
        try:
            result = query_arrow(conn, sql, params, _fixed_types(schema) if schema else None)
            batches = result.to_batches()
        except Exception as e:
            raise _shard_error(path, e) from e
        if schema is not None:
            got = batches[0].schema.names if batches else schema.names
            if got != schema.names:
                raise ValueError(f"shard {path!r}: columns {got}, expected {schema.names}")
        for batch in batches:
            yield pa.Table.from_batches([batch])
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------
# Writing


def _as_matrix(column: Any) -> Optional[np.ndarray]:
    """The (rows, dim) float32 / int8 matrix an extension column of 1-D cells holds,
    or None."""
    try:
        # Per chunk: Ray's tensor arrays give an (n, dim) array there, while the
        # chunked array gives an object array of rows on some pyarrow versions.
        parts = [np.asarray(chunk.to_numpy()) for chunk in column.chunks]
        values = np.concatenate(parts) if parts else np.empty((0, 0), np.float32)
        if values.dtype == object and values.ndim == 1 and len(values):
            values = np.stack(values)
    except Exception:
        return None
    if values.ndim != 2 or values.dtype not in (np.float32, np.int8, np.float64):
        return None
    return values.astype(np.float32) if values.dtype == np.float64 else values


def _vectors_as_fixed_size_lists(table: Any) -> Any:
    """``table`` with tensor-extension columns of 1-D cells (what Ray makes of numpy
    arrays) turned into fixed-size lists, the form insert_arrow stores as vectors;
    other extension columns are replaced by their storage arrays."""
    for i, field in enumerate(table.schema):
        if not isinstance(field.type, pa.ExtensionType):
            continue
        column = table.column(i)
        values = _as_matrix(column)
        if values is not None:
            flat = pa.array(np.ascontiguousarray(values).reshape(-1))
            new = pa.FixedSizeListArray.from_arrays(flat, values.shape[1])
        else:
            new = pa.chunked_array([c.storage for c in column.chunks], field.type.storage_type)
        table = table.set_column(i, pa.field(field.name, new.type), new)
    return table


class ShardWritten(NamedTuple):
    """What one write task produced: the shard's file name (inside the directory), its
    row count and the Arrow schema of the rows it ingested (as text)."""

    path: str
    rows: int
    schema: str


def _remove_quietly(path: str) -> None:
    for p in (path, path + "-journal", path + "-wal", path + "-shm"):
        try:
            os.remove(p)
        except FileNotFoundError:
            pass


def write_shard(
    directory: str,
    table: str,
    tables: Iterator[Any],
    *,
    create_sql: Optional[str] = None,
    prefix: str = "shard",
) -> Optional[ShardWritten]:
    """Writes ``tables`` (pyarrow Tables) into a NEW shard file in ``directory`` in one
    transaction and returns what it wrote, or None when there were no rows.

    The file is written under a hidden temporary name and renamed only after COMMIT,
    so a task that fails (or is killed) never leaves a file that looks complete.

    >>> import tempfile, pyarrow as pa
    >>> blocks = iter([pa.table({"id": [1, 2]}), pa.table({"id": [3]})])
    >>> written = write_shard(tempfile.mkdtemp(), "t", blocks)
    >>> written.rows, written.path.startswith("shard-"), written.schema
    (3, True, 'id: int64')
    """
    name = f"{prefix}-{uuid.uuid4().hex[:12]}.sqlite"
    final = os.path.join(directory, name)
    temp = os.path.join(directory, f".{name}.tmp")
    conn = sqlite3.connect(temp, isolation_level=None)
    rows = 0
    schema_text = ""
    try:
        _loader.load(conn)
        conn.execute("BEGIN")
        created = False
        if create_sql is not None:
            conn.execute(create_sql)
            created = True
        for data in tables:
            data = _vectors_as_fixed_size_lists(data)
            if not schema_text:
                schema_text = data.schema.to_string(show_schema_metadata=False)
            if data.num_rows == 0:
                continue
            rows += insert_arrow(conn, table, data, "append" if created else "create")
            created = True
        conn.execute("COMMIT")
    except BaseException:
        conn.close()
        _remove_quietly(temp)
        raise
    conn.close()
    if rows == 0:
        _remove_quietly(temp)
        return None
    os.replace(temp, final)
    return ShardWritten(name, rows, schema_text)


def read_manifest(directory: str) -> dict:
    """The manifest of a shard directory (a dict with ``shards``, ``table``, ...).

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = write_manifest(folder, "t", [ShardWritten("shard-1.sqlite", 3, "id: int64")])
    >>> manifest = read_manifest(folder)
    >>> manifest["rows"], [s["path"] for s in manifest["shards"]]
    (3, ['shard-1.sqlite'])
    """
    path = os.path.join(directory, MANIFEST)
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{path!r} is not a sqlite-quiver shard manifest")
    return manifest


def write_manifest(
    directory: str,
    table: str,
    shards: Sequence[ShardWritten],
    *,
    create_sql: Optional[str] = None,
    previous: Sequence[dict] = (),
) -> dict:
    """Writes the manifest of ``directory`` atomically (temporary file + rename): the
    ``previous`` entries (for appends) and then ``shards``.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> first = write_manifest(folder, "t", [ShardWritten("a.sqlite", 2, "id: int64")])
    >>> write_manifest(folder, "t", [ShardWritten("b.sqlite", 5, "id: int64")],
    ...                previous=first["shards"])["rows"]
    7
    """
    entries = list(previous) + [
        {"path": s.path, "rows": s.rows, "schema": s.schema} for s in shards if s is not None
    ]
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "table": table,
        "create_sql": create_sql,
        "rows": sum(int(e["rows"]) for e in entries),
        "shards": entries,
        "written_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    temp = os.path.join(directory, f".{MANIFEST}.{uuid.uuid4().hex[:8]}.tmp")
    with open(temp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, os.path.join(directory, MANIFEST))
    return manifest


# ---------------------------------------------------------------------------------------
# Sharded KNN


class ShardHits(NamedTuple):
    """The merged top-k of a sharded search: ``ids`` and ``distances`` shaped
    ``(n_queries, k)`` like :func:`sqlite_quiver.search`, and ``shards``, the index into
    ``paths`` of the shard each hit came from (-1 where fewer than k rows matched)."""

    ids: np.ndarray
    distances: np.ndarray
    shards: np.ndarray
    paths: List[str]


def check_search_args(queries: Any, k: Any) -> Tuple[np.ndarray, int]:
    """The queries as a float32 matrix and k as an int, or a clear error.

    >>> q, k = check_search_args([1, 2], 5)
    >>> q.shape, q.dtype, k
    ((1, 2), dtype('float32'), 5)
    >>> check_search_args([1, 2], 0)
    Traceback (most recent call last):
    ValueError: k must be at least 1, got 0
    """
    q = _matrix(queries, "queries")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an integer, got {type(k).__name__}")
    if int(k) < 1:
        raise ValueError(f"k must be at least 1, got {int(k)}")
    return q, int(k)


def search_shard(
    path: str,
    table: str,
    queries: np.ndarray,
    k: int,
    column: Optional[str],
    filters: dict,
    *,
    threads: int = 1,
    immutable: bool = False,
) -> Tuple[np.ndarray, np.ndarray]:
    """One shard's top-k for every query (``sqlite_quiver.search`` on a read-only open),
    scanning with ``threads`` threads (the process-wide cap is restored afterwards);
    errors name the shard.

    >>> import os, tempfile, numpy as np, sqlite_quiver
    >>> path = os.path.join(tempfile.mkdtemp(), "s.sqlite")
    >>> conn = sqlite_quiver.connect_with_vec(path)
    >>> _ = conn.execute("create virtual table v using vec0(emb float[2])")
    >>> _ = sqlite_quiver.insert_vectors(conn, "v", np.eye(2), ids=[7, 8])
    >>> conn.commit()
    >>> ids, dist = search_shard(path, "v", np.array([[1.0, 0.0]], np.float32), 1, None, {})
    >>> ids.tolist(), dist.tolist()
    ([[7]], [[0.0]])
    """
    previous = set_scan_threads(max(0, int(threads)))
    conn = open_shard(path, immutable=immutable)
    try:
        return search(conn, table, queries, k, column=column, **filters)
    except Exception as e:
        raise _shard_error(path, e) from e
    finally:
        conn.close()
        set_scan_threads(previous)


def merge_top_k(
    results: Sequence[Tuple[np.ndarray, np.ndarray]], k: int, paths: Sequence[str]
) -> ShardHits:
    """The global top-k from each shard's top-k. Exact when every shard's list is: the
    k nearest overall are among the k nearest of their own shard. Ties keep shard
    order.

    >>> import numpy as np
    >>> hits = merge_top_k(
    ...     [(np.array([[1, 2]]), np.array([[0.1, 0.5]], np.float32)),
    ...      (np.array([[7, 8]]), np.array([[0.2, 0.3]], np.float32))], 2, ["a.db", "b.db"])
    >>> hits.ids.tolist(), hits.shards.tolist()
    ([[1, 7]], [[0, 1]])
    """
    dist = np.concatenate([d for _, d in results], axis=1)
    ids_parts = [i for i, _ in results]
    text = any(i.dtype == object for i in ids_parts)
    ids = np.concatenate([i.astype(object) if text else i for i in ids_parts], axis=1)
    shard = np.concatenate(
        [np.full(d.shape, s, dtype=np.int64) for s, (_, d) in enumerate(results)], axis=1
    )
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    top_dist = np.take_along_axis(dist, order, axis=1)
    top_ids = np.take_along_axis(ids, order, axis=1)
    top_shard = np.take_along_axis(shard, order, axis=1)
    top_shard[~np.isfinite(top_dist)] = -1
    return ShardHits(top_ids, top_dist, top_shard, list(paths))


# ---------------------------------------------------------------------------------------
# Batch inference


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class ModelPredictor:
    """Runs a model from a model database over Arrow batches: a callable class for
    ``Dataset.map_batches(..., batch_format="pyarrow")`` (one instance per actor), or
    for any loop over pyarrow Tables.

    The model (``"name"`` for the active version or ``"name@version"``) is read once
    from ``model_db`` (opened read-only) into a private in-memory database and loaded
    there, so the file is not touched again. Each batch is registered with
    ``register_arrow`` and run through ``ml_predict_batch`` (one model call per 4,096
    rows); the result is the batch with a ``prediction`` column added, and with
    ``probabilities`` (a fixed-size list of float32, one per class) when
    ``probabilities_column`` is set. ``features`` are the feature column names in the
    model's order, or one vector column. ``threads`` is the ONNX Runtime thread count,
    set process-wide with ``ml.configure`` (1: one actor per core scales best).
    """

    def __init__(
        self,
        model_db: str,
        model: str,
        features: Union[str, Sequence[str]],
        *,
        prediction_column: str = "prediction",
        probabilities_column: Optional[str] = None,
        threads: int = 1,
        immutable: bool = False,
    ) -> None:
        if isinstance(features, str):
            features = [features]
        if not features or not all(isinstance(f, str) and f for f in features):
            raise ValueError(f"features must be column names, got {features!r}")
        self.features = list(features)
        self.prediction_column = prediction_column
        self.probabilities_column = probabilities_column
        name, _, version_text = model.partition("@")
        version = None
        if version_text:
            if not version_text.isdigit():
                raise ValueError(f"model must be 'name' or 'name@version', got {model!r}")
            version = int(version_text)
        ml.configure(threads=threads)
        source = open_shard(os.fspath(model_db), immutable=immutable)
        try:
            data = ml.get_model(source, name, version)
        finally:
            source.close()
        self.model = name
        self.conn = sqlite3.connect(":memory:", check_same_thread=False)
        _loader.load(self.conn)
        ml.save_model(self.conn, name, data)  # validates and loads the session once
        n_features = ml.list_models(self.conn, name)[0]["n_features"]
        # One warm-up row of zeros fixes the output types (and empty batches use them).
        if len(self.features) == 1 and n_features > 1:
            zeros, args = [np.zeros(n_features, np.float32).tobytes()], "?"
        else:
            zeros, args = [0.0] * n_features, ", ".join("?" * n_features)
        warm = query_arrow(
            self.conn, f"SELECT ml_predict(?, {args}) AS p", [name, *zeros]
        ).to_pyarrow()
        fields = [pa.field(prediction_column, warm.schema.field(0).type)]
        if probabilities_column is not None:
            (classes,) = self.conn.execute(
                f"SELECT vec_length(ml_predict_proba_vec(?, {args}))", [name, *zeros]
            ).fetchone()
            fields.append(pa.field(probabilities_column, pa.list_(pa.float32(), classes)))
        self.output_schema = pa.schema(fields)
        columns = ", ".join(_quote(f) for f in self.features)
        inner = f"SELECT __quiver_row, {columns} FROM temp.__quiver_batch"
        outputs = ["prediction AS " + _quote(prediction_column)]
        if probabilities_column is not None:
            outputs.append("vec_f32(probabilities) AS " + _quote(probabilities_column))
        self.sql = f"SELECT {', '.join(outputs)} FROM ml_predict_batch(?, ?)"
        self.params = [name, inner]

    def __call__(self, batch: Any) -> Any:
        """``batch`` (a pyarrow Table / RecordBatch, or a dict of columns) with the
        prediction columns appended."""
        if isinstance(batch, dict):
            batch = pa.table(batch)
        elif isinstance(batch, pa.RecordBatch):
            batch = pa.Table.from_batches([batch])
        elif not isinstance(batch, pa.Table):
            batch = pa.table(batch)
        missing = [f for f in self.features if f not in batch.column_names]
        if missing:
            raise KeyError(f"feature columns {missing} are not in the batch {batch.column_names}")
        clash = [f.name for f in self.output_schema if f.name in batch.column_names]
        if clash:
            raise ValueError(f"the batch already has the output columns {clash}")
        if batch.num_rows == 0:
            out = self.output_schema.empty_table()
        else:
            keyed = batch.select(self.features).append_column(
                "__quiver_row", pa.array(np.arange(batch.num_rows, dtype=np.int64))
            )
            register_arrow(self.conn, "__quiver_batch", keyed)
            try:
                out = query_arrow(self.conn, self.sql, self.params, self.output_schema)
                out = out.to_pyarrow()
            finally:
                unregister_arrow(self.conn, "__quiver_batch")
        for field in self.output_schema:
            batch = batch.append_column(field, out.column(field.name))
        return batch
