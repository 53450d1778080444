"""sqlite_quiver.dask with Dask's local schedulers: a dataframe per shard set and
sharded exact KNN. Skipped only when the ``dask`` extra is missing."""

import os
import sqlite3

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

try:
    import dask.dataframe  # noqa: F401
    import pandas as pd
except ImportError:
    pytest.skip(
        "dask.dataframe is not installed (pip install 'sqlite-quiver[dask]')",
        allow_module_level=True,
    )

from scaleout_data import DIM, assert_exact, concat_query, make_shards, odd_shard

import sqlite_quiver
from sqlite_quiver.dask import read_sqlite, search_shards


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return make_shards(str(tmp_path_factory.mktemp("dask_shards")), seed=11)


def test_read_equals_concatenated_query_arrow(shards):
    paths, _, _ = shards
    sql = "select id, x, label, emb, x > 0 as positive from items"
    df = read_sqlite(paths, sql)
    assert df.npartitions == len(paths)
    assert all(isinstance(t, pd.ArrowDtype) for t in df.dtypes)
    assert df.dtypes["emb"].pyarrow_dtype == pa.list_(pa.float32(), DIM)
    got = pa.Table.from_pandas(df.compute(), preserve_index=False)
    expected = concat_query(paths, sql)
    assert got.sort_by("id").equals(expected.sort_by("id"))
    # Partitions come out in shard order, each one shard.
    first = df.partitions[0].compute()
    assert len(first) == concat_query(paths[:1], "select 1 from items").num_rows


def test_read_directory_with_params_and_aggregate(shards):
    paths, _, union = shards
    df = read_sqlite(
        os.path.dirname(paths[0]), "select genre, x from items where genre in (?, ?)", ["a", "c"]
    )
    sums = df.groupby("genre").x.sum().compute()
    keep = pc.is_in(union.column("genre"), pa.array(["a", "c"]))
    ref = union.filter(keep).group_by("genre").aggregate([("x", "sum")])
    for genre, total in zip(ref.column("genre").to_pylist(), ref.column("x_sum").to_pylist()):
        assert sums[genre] == pytest.approx(total)


def test_read_schema_mismatch_names_the_shard(shards, tmp_path):
    paths, _, _ = shards
    odd = odd_shard(str(tmp_path / "odd.db"), "blob", "x'00'")
    with pytest.raises(ValueError, match=r"odd\.db.*column 'x' is binary there, expected double"):
        read_sqlite([*paths, odd], "select id, x, label from items")


def test_read_bad_input(shards, tmp_path):
    paths, _, _ = shards
    with pytest.raises(ValueError, match="no shard files in directory"):
        read_sqlite(str(tmp_path), "select 1")
    with pytest.raises(sqlite3.OperationalError, match=r"shard-0\.sqlite.*no such column: nope"):
        read_sqlite(paths, "select nope from items")


@pytest.mark.parametrize("scheduler", ["threads", "sync"])
@pytest.mark.parametrize("genres", [None, ["b"]])
def test_sharded_top_k_equals_brute_force(shards, scheduler, genres):
    paths, union_path, union = shards
    queries = np.random.default_rng(12).normal(size=(9, DIM)).astype(np.float32)
    filters = {} if genres is None else {"genre": genres}
    before = sqlite_quiver.set_scan_threads(0)
    hits = search_shards(paths, "vecs", queries, 6, scheduler=scheduler, **filters)
    assert sqlite_quiver.set_scan_threads(before) == 0  # the thread cap is restored
    assert_exact(hits, union, union_path, queries, 6, filters)


def test_search_shards_bad_input(shards):
    paths, _, _ = shards
    with pytest.raises(ValueError, match="k must be at least 1, got -2"):
        search_shards(paths, "vecs", np.zeros(DIM), -2)
    with pytest.raises(ValueError, match=r"shard '.*shard-\d\.sqlite': no table named 'items2'"):
        search_shards(paths, "items2", np.zeros(DIM), 2, scheduler="sync")
