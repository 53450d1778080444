"""Shard sets for tests/test_ray.py and tests/test_dask.py: every shard holds a plain
table ``items`` and a vec0 table ``vecs`` with ids unique across shards, and one more
file holds the union of all shards (the single-file reference)."""

from __future__ import annotations

import os
import sqlite3

import numpy as np
import pyarrow as pa

import sqlite_quiver

DIM = 8
GENRES = ["a", "b", "c"]


def shard_table(rng: np.random.Generator, first_id: int, rows: int) -> pa.Table:
    """Rows of ``items`` with ids ``first_id ..``: numbers, text, NULLs and a vector."""
    emb = rng.normal(size=(rows, DIM)).astype(np.float32)
    x = rng.normal(size=rows)
    return pa.table(
        {
            "id": pa.array(np.arange(first_id, first_id + rows), pa.int64()),
            "x": pa.array(x, mask=rng.random(rows) < 0.1),
            "label": pa.array([f"row {first_id + i}" for i in range(rows)]),
            "genre": pa.array([GENRES[i % 3] for i in range(rows)]),
            "emb": pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1)), DIM),
        }
    )


def fill(path: str, table: pa.Table) -> None:
    """Writes ``table`` as ``items`` and its vectors as vec0 table ``vecs`` into ``path``."""
    conn = sqlite_quiver.connect_with_vec(path)
    conn.execute(
        f"create table items (id integer primary key, x real, label text, genre text, emb float[{DIM}])"
    )
    conn.execute(
        f"create virtual table vecs using vec0(id integer primary key, emb float[{DIM}], genre text)"
    )
    sqlite_quiver.insert_arrow(conn, "items", table)
    sqlite_quiver.insert_arrow(conn, "vecs", table.select(["id", "emb", "genre"]))
    conn.commit()
    conn.close()


def make_shards(directory: str, shards: int = 4, rows: int = 300, seed: int = 7):
    """``shards`` files ``shard-<i>.sqlite`` in ``directory`` plus ``union.db`` beside
    them; returns (shard paths, union path, the union as a pyarrow Table)."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(directory, "shards"), exist_ok=True)
    paths, tables = [], []
    for s in range(shards):
        table = shard_table(rng, 1 + s * 10_000, rows + 17 * s)
        path = os.path.join(directory, "shards", f"shard-{s}.sqlite")
        fill(path, table)
        paths.append(path)
        tables.append(table)
    union = pa.concat_tables(tables)
    union_path = os.path.join(directory, "union.db")
    fill(union_path, union)
    return paths, union_path, union


def brute_force(union: pa.Table, queries: np.ndarray, k: int, genres=None):
    """Exact L2 top-k over ``union`` (optionally only rows whose genre is in ``genres``):
    (ids, distances), -1 / inf where fewer than k rows match."""
    keep = np.ones(union.num_rows, bool)
    if genres is not None:
        keep = np.isin(np.array(union.column("genre").to_pylist()), genres)
    ids = union.column("id").to_numpy()[keep]
    emb = np.stack(union.column("emb").to_numpy(zero_copy_only=False))[keep]
    out_ids = np.full((len(queries), k), -1, np.int64)
    out_d = np.full((len(queries), k), np.inf, np.float32)
    for qi, q in enumerate(queries):
        d = np.sqrt(((emb.astype(np.float64) - q) ** 2).sum(axis=1))
        order = np.argsort(d, kind="stable")[:k]
        out_ids[qi, : len(order)] = ids[order]
        out_d[qi, : len(order)] = d[order]
    return out_ids, out_d


def concat_query(paths, sql: str) -> pa.Table:
    """``query_arrow(sql)`` of every shard, concatenated (the reference for reads)."""
    tables = []
    for path in paths:
        conn = sqlite_quiver.connect_with_vec(path)
        tables.append(sqlite_quiver.query_arrow(conn, sql).to_pyarrow())
        conn.close()
    return pa.concat_tables(tables)


def assert_exact(hits, union: pa.Table, union_path: str, queries, k: int, filters: dict) -> None:
    """A sharded search result equals brute force over the union and ``search`` on
    the one file holding every shard (filters only on ``genre``)."""
    genres = filters.get("genre")
    if isinstance(genres, str):
        genres = [genres]
    ids, dist = brute_force(union, queries, k, genres)
    np.testing.assert_array_equal(hits.ids, ids)
    np.testing.assert_allclose(hits.distances, dist, rtol=1e-5)
    conn = sqlite_quiver.connect_with_vec(union_path)
    one_ids, one_dist = sqlite_quiver.search(conn, "vecs", queries, k, **filters)
    conn.close()
    np.testing.assert_array_equal(hits.ids, one_ids)
    np.testing.assert_array_equal(hits.distances, one_dist)


def odd_shard(path: str, x_type: str, x_value: str) -> str:
    """A shard whose ``items`` has only (id, x, label), with ``x`` of another type."""
    conn = sqlite3.connect(path)
    conn.execute(f"create table items (id integer primary key, x {x_type}, label text)")
    conn.execute(f"insert into items values (1, {x_value}, 'l')")
    conn.commit()
    conn.close()
    return path
