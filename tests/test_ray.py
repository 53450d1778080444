"""sqlite_quiver.ray on a local Ray (2 CPUs): reading and writing shard sets, inference
in actor pools, sharded exact KNN. Skipped only when the ``ray`` extra is missing."""

import glob
import json
import os
import sqlite3

import numpy as np
import pyarrow as pa
import pytest

try:
    import ray
    import ray.data  # noqa: F401
except ImportError:
    pytest.skip(
        "Ray Data is not installed (pip install 'sqlite-quiver[ray]')", allow_module_level=True
    )

from scaleout_data import (
    DIM,
    assert_exact,
    brute_force,
    concat_query,
    make_shards,
    odd_shard,
    shard_table,
)

import sqlite_quiver
from sqlite_quiver import ml
from sqlite_quiver.ray import ModelPredictor, SqliteDatasink, read_sqlite, search_shards

# Ray Data's own DataContext warns about its deprecated settings; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ITEMS = "select * from items"


@pytest.fixture(scope="module")
def local_ray():
    started = not ray.is_initialized()
    if started:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return make_shards(str(tmp_path_factory.mktemp("ray_shards")))


def collect(ds) -> pa.Table:
    return pa.concat_tables([ray.get(r) for r in ds.to_arrow_refs()])


def by_id(table: pa.Table) -> pa.Table:
    return table.sort_by("id")


def in_blocks(table: pa.Table, n: int):
    """A Dataset of ``table`` in ``n`` blocks (repartition() would need a free CPU that
    an actor pool may hold)."""
    step = -(-table.num_rows // n)
    return ray.data.from_arrow([table.slice(i * step, step) for i in range(n)])


# ---------------------------------------------------------------------------------------
# read_sqlite


def test_read_equals_concatenated_query_arrow(local_ray, shards):
    paths, _, _ = shards
    expected = concat_query(paths, ITEMS)
    got = collect(read_sqlite(paths, ITEMS))
    assert got.schema == expected.schema
    assert got.schema.field("emb").type == pa.list_(pa.float32(), DIM)
    assert by_id(got).equals(by_id(expected))


@pytest.mark.parametrize("form", ["glob", "directory", "fewer tasks"])
def test_read_path_forms(local_ray, shards, form):
    paths, _, _ = shards
    directory = os.path.dirname(paths[0])
    sql = "select id, x * 2 as x2, upper(label) as label from items where genre = ?"
    expected = concat_query(paths, sql.replace("?", "'b'"))
    if form == "glob":
        ds = read_sqlite(os.path.join(directory, "shard-*.sqlite"), sql, ["b"])
    elif form == "directory":
        ds = read_sqlite(directory, sql, ["b"])
    else:
        ds = read_sqlite(paths, sql, ["b"], parallelism=2)
    got = collect(ds)
    assert got.schema.field("x2").type == pa.float64()
    assert by_id(got).equals(by_id(expected))


def test_read_vec0_with_schema(local_ray, shards):
    paths, _, union = shards
    schema = pa.schema([("emb", pa.list_(pa.float32(), DIM))])
    got = by_id(collect(read_sqlite(paths, "select id, emb from vecs", schema=schema)))
    assert got.column("emb").type == pa.list_(pa.float32(), DIM)
    assert got.column("emb").equals(by_id(union).column("emb"))


def test_read_opens_shards_read_only(shards):
    from sqlite_quiver._scaleout import open_shard

    conn = open_shard(shards[0][0])
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("delete from items")
    conn.close()


def test_read_schema_mismatch_names_the_shard(local_ray, shards, tmp_path):
    paths, _, _ = shards
    odd = odd_shard(str(tmp_path / "odd.sqlite"), "text", "'one'")
    with pytest.raises(
        ValueError, match=r"odd\.sqlite.*column 'x' is string there, expected double"
    ):
        read_sqlite([*paths, odd], "select id, x, label from items")
    with pytest.raises(ValueError, match=r"odd\.sqlite.*columns are \['id', 'x', 'label'\]"):
        read_sqlite([*paths, odd], ITEMS)


def test_read_bad_input(local_ray, shards, tmp_path):
    paths, _, _ = shards
    with pytest.raises(ValueError, match="no shard files in glob"):
        read_sqlite(str(tmp_path / "nothing-*.sqlite"), ITEMS)
    with pytest.raises(FileNotFoundError, match="missing.sqlite"):
        read_sqlite([paths[0], str(tmp_path / "missing.sqlite")], ITEMS)
    with pytest.raises(sqlite3.OperationalError, match=r"shard-0\.sqlite.*no such table: nope"):
        read_sqlite(paths, "select * from nope")
    with pytest.raises(TypeError, match="sql must be a non-empty SELECT"):
        read_sqlite(paths, "  ")
    with pytest.raises(TypeError, match="paths must be"):
        read_sqlite(42, ITEMS)


# ---------------------------------------------------------------------------------------
# SqliteDatasink


def check_shards(directory: str, table: str) -> dict:
    """The manifest, after checking that it lists exactly the shard files on disk, their
    row counts, and that each passes integrity_check."""
    with open(os.path.join(directory, "_quiver_manifest.json")) as f:
        manifest = json.load(f)
    listed = sorted(s["path"] for s in manifest["shards"])
    assert (
        sorted(os.path.basename(p) for p in glob.glob(os.path.join(directory, "*.sqlite")))
        == listed
    )
    assert not [n for n in os.listdir(directory) if n.endswith(".tmp")]
    for entry in manifest["shards"]:
        conn = sqlite_quiver.connect_with_vec(os.path.join(directory, entry["path"]))
        assert conn.execute("pragma integrity_check").fetchall() == [("ok",)]
        assert conn.execute(f"select count(*) from {table}").fetchone()[0] == entry["rows"]
        conn.close()
    assert manifest["rows"] == sum(s["rows"] for s in manifest["shards"])
    return manifest


def test_write_then_read_plain_table(local_ray, tmp_path):
    rng = np.random.default_rng(1)
    data = shard_table(rng, 1, 1000).append_column("flag", pa.array(rng.random(1000) < 0.5))
    data = data.append_column(
        "small",
        pa.FixedSizeListArray.from_arrays(
            pa.array(rng.integers(-128, 128, 4000).astype(np.int8)), 4
        ),
    )
    out = str(tmp_path / "out")
    in_blocks(data, 3).write_datasink(SqliteDatasink(out, "items"))
    manifest = check_shards(out, "items")
    assert manifest["rows"] == 1000 and len(manifest["shards"]) == 3
    assert "emb: fixed_size_list<item: float>[8]" in manifest["shards"][0]["schema"]
    got = by_id(collect(read_sqlite(out, "select * from items")))
    assert got.schema == data.schema
    assert got.equals(data)


def test_write_vec0_then_search(local_ray, tmp_path):
    rng = np.random.default_rng(2)
    data = shard_table(rng, 1, 900).select(["id", "emb", "genre"])
    out = str(tmp_path / "vec")
    sink = SqliteDatasink(
        out,
        "vecs",
        create_sql=f"create virtual table vecs using vec0(id integer primary key, emb float[{DIM}], genre text)",
    )
    in_blocks(data, 4).write_datasink(sink)
    manifest = check_shards(out, "vecs")
    assert len(manifest["shards"]) == 4 and sink.manifest == manifest
    queries = rng.normal(size=(5, DIM)).astype(np.float32)
    hits = search_shards(out, "vecs", queries, k=7)
    ids, dist = brute_force(data, queries, 7)
    np.testing.assert_array_equal(hits.ids, ids)
    np.testing.assert_allclose(hits.distances, dist, rtol=1e-5)


def test_write_ray_tensor_columns_as_vectors(local_ray, tmp_path):
    emb = np.arange(30, dtype=np.float32).reshape(10, 3)
    ds = ray.data.from_numpy(emb).add_column("id", lambda b: np.arange(len(b["data"])))
    out = str(tmp_path / "tensors")
    ds.write_datasink(SqliteDatasink(out, "t"))
    conn = sqlite_quiver.connect_with_vec(
        os.path.join(out, check_shards(out, "t")["shards"][0]["path"])
    )
    rows = conn.execute("select id, vec_to_json(data) from t order by id").fetchall()
    assert rows[1] == (1, "[3.000000,4.000000,5.000000]")
    conn.close()


def test_failed_write_leaves_no_shard(local_ray, tmp_path):
    def fail_on_id(batch, bad):  # nested, so Ray pickles it by value
        if bad in batch["id"].to_pylist():
            raise RuntimeError(f"bad row {bad}")
        return batch

    data = shard_table(np.random.default_rng(3), 1, 400)
    out = str(tmp_path / "failing")
    ds = in_blocks(data, 4).map_batches(fail_on_id, fn_kwargs={"bad": 350}, batch_format="pyarrow")
    with pytest.raises(Exception, match="bad row 350"):
        ds.write_datasink(SqliteDatasink(out, "items"))
    assert os.listdir(out) == []  # no manifest, no shard, no temporary file

    # An append that fails keeps the earlier shard set exactly as it was.
    ray.data.from_arrow(data).write_datasink(SqliteDatasink(out, "items"))
    before = check_shards(out, "items")
    with pytest.raises(Exception, match="bad row 350"):
        ds.write_datasink(SqliteDatasink(out, "items", mode="append"))
    assert check_shards(out, "items") == before


def test_write_modes(local_ray, tmp_path):
    data = shard_table(np.random.default_rng(4), 1, 200).select(["id", "x", "label"])
    out = str(tmp_path / "modes")
    ray.data.from_arrow(data).write_datasink(SqliteDatasink(out, "t"))
    with pytest.raises(FileExistsError, match="already holds a shard set"):
        SqliteDatasink(out, "t")
    ray.data.from_arrow(data).write_datasink(SqliteDatasink(out, "t", mode="append"))
    assert check_shards(out, "t")["rows"] == 400
    ids = collect(read_sqlite(out, "select id from t")).column("id").to_pylist()
    assert len(ids) == 400 and sorted(set(ids)) == data.column("id").to_pylist()
    ray.data.from_arrow(data.slice(0, 50)).write_datasink(
        SqliteDatasink(out, "t", mode="overwrite")
    )
    manifest = check_shards(out, "t")
    assert manifest["rows"] == 50 and len(manifest["shards"]) == 1


def test_datasink_bad_input(tmp_path):
    with pytest.raises(ValueError, match="mode must be one of"):
        SqliteDatasink(str(tmp_path), "t", mode="upsert")
    with pytest.raises(ValueError, match="table must be a non-empty table name"):
        SqliteDatasink(str(tmp_path), "")
    with pytest.raises(TypeError, match="rows_per_shard must be an integer"):
        SqliteDatasink(str(tmp_path), "t", rows_per_shard=1.5)


def test_write_into_wrong_create_sql_fails_cleanly(local_ray, tmp_path):
    data = shard_table(np.random.default_rng(5), 1, 50).select(["id", "x"])
    out = str(tmp_path / "wrong")
    sink = SqliteDatasink(out, "t", create_sql="create table t (id integer primary key)")
    with pytest.raises(Exception, match="x"):
        ray.data.from_arrow(data).write_datasink(sink)
    assert os.listdir(out) == []


# ---------------------------------------------------------------------------------------
# ModelPredictor


@pytest.fixture(scope="module")
def model_db(tmp_path_factory):
    pytest.importorskip("sklearn")
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(6)
    X = rng.normal(size=(600, 3)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
    path = str(tmp_path_factory.mktemp("models") / "models.db")
    conn = sqlite_quiver.connect_with_vec(path)
    ml.save_model(conn, "logreg", LogisticRegression().fit(X, y))
    ml.save_model(conn, "forest", RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y))
    conn.commit()
    conn.close()
    features = pa.table(
        {
            "id": np.arange(len(X)),
            "f1": X[:, 0].astype(np.float64),
            "f2": X[:, 1].astype(np.float64),
            "f3": X[:, 2].astype(np.float64),
        }
    )
    return path, features


def single_process(path, model, features):
    conn = sqlite_quiver.connect_with_vec(path)
    sqlite_quiver.register_arrow(conn, "f", features)
    rows = conn.execute(
        f"select id, ml_predict('{model}', f1, f2, f3), ml_predict_proba('{model}', f1, f2, f3) from f order by id"
    ).fetchall()
    conn.close()
    return [r[1] for r in rows], np.array([json.loads(r[2]) for r in rows], np.float32)


@pytest.mark.parametrize("model", ["logreg", "forest"])
def test_distributed_predictions_equal_ml_predict(local_ray, model_db, model):
    path, features = model_db
    ds = in_blocks(features, 4).map_batches(
        ModelPredictor,
        fn_constructor_kwargs={
            "model_db": path,
            "model": model,
            "features": ["f1", "f2", "f3"],
            "probabilities_column": "proba",
        },
        batch_format="pyarrow",
        batch_size=128,
        concurrency=2,
    )
    got = by_id(collect(ds))
    assert got.column_names == ["id", "f1", "f2", "f3", "prediction", "proba"]
    labels, proba = single_process(path, model, features)
    assert got.column("prediction").to_pylist() == labels
    assert got.schema.field("proba").type == pa.list_(pa.float32(), 2)
    np.testing.assert_allclose(
        np.stack(got.column("proba").to_numpy(zero_copy_only=False)), proba, atol=1e-6
    )


def test_predictor_vector_features_and_versions(model_db):
    path, features = model_db
    X = np.stack([features.column(c).to_numpy() for c in ["f1", "f2", "f3"]], axis=1)
    vec = pa.table(
        {"v": pa.FixedSizeListArray.from_arrays(pa.array(X.astype(np.float32).reshape(-1)), 3)}
    )
    by_columns = ModelPredictor(path, "logreg@1", ["f1", "f2", "f3"])(features)
    by_vector = ModelPredictor(path, "logreg", "v", prediction_column="p")(vec)
    assert by_vector.column("p").to_pylist() == by_columns.column("prediction").to_pylist()
    empty = ModelPredictor(path, "logreg", ["f1", "f2", "f3"])(features.slice(0, 0))
    assert empty.num_rows == 0 and empty.schema.field("prediction").type == pa.int64()


def test_predictor_bad_input(model_db):
    path, features = model_db
    with pytest.raises(KeyError, match="no model named 'nope'"):
        ModelPredictor(path, "nope", ["f1"])
    with pytest.raises(KeyError, match="has no version 9"):
        ModelPredictor(path, "logreg@9", ["f1"])
    with pytest.raises(ValueError, match="'name' or 'name@version'"):
        ModelPredictor(path, "logreg@x", ["f1"])
    with pytest.raises(ValueError, match="features must be column names"):
        ModelPredictor(path, "logreg", [])
    predictor = ModelPredictor(path, "logreg", ["f1", "f2", "f3"])
    with pytest.raises(KeyError, match=r"feature columns \['f3'\] are not in the batch"):
        predictor(features.select(["f1", "f2"]))
    with pytest.raises(ValueError, match="already has the output columns"):
        predictor(features.append_column("prediction", features.column("id")))


# ---------------------------------------------------------------------------------------
# search_shards


@pytest.mark.parametrize("genres", [None, "b", ["a", "c"]])
def test_sharded_top_k_equals_brute_force(local_ray, shards, genres):
    paths, union_path, union = shards
    queries = np.random.default_rng(8).normal(size=(12, DIM)).astype(np.float32)
    filters = {} if genres is None else {"genre": genres}
    hits = search_shards(paths, "vecs", queries, 10, **filters)
    assert_exact(hits, union, union_path, queries, 10, filters)
    # Each hit's shard is the file that holds its id (ids are 1 + shard * 10000 + row).
    np.testing.assert_array_equal(hits.shards, (hits.ids - 1) // 10_000)


def test_sharded_top_k_fewer_rows_than_k(local_ray, shards):
    paths, _, union = shards
    queries = np.zeros((2, DIM), np.float32)
    hits = search_shards(paths, "vecs", queries, 5, id=[1, 10_002, 30_003])
    assert sorted(hits.ids[0, :3].tolist()) == [1, 10_002, 30_003]
    assert hits.ids[0, 3:].tolist() == [-1, -1]
    assert hits.shards[0, 3:].tolist() == [-1, -1]
    assert np.isinf(hits.distances[0, 3:]).all()


def test_search_shards_bad_input(local_ray, shards):
    paths, _, _ = shards
    q = np.zeros((1, DIM), np.float32)
    with pytest.raises(ValueError, match="k must be at least 1, got 0"):
        search_shards(paths, "vecs", q, 0)
    with pytest.raises(TypeError, match="k must be an integer, got float"):
        search_shards(paths, "vecs", q, 2.5)
    with pytest.raises(ValueError, match="queries must be a 2-D array"):
        search_shards(paths, "vecs", np.zeros((1, 1, DIM)), 3)
    with pytest.raises(
        ValueError, match=r"^shard '.*shard-\d\.sqlite': no table named 'no_such_table'$"
    ):
        search_shards(paths, "no_such_table", q, 3)
    with pytest.raises(
        ValueError,
        match=r"^shard '.*shard-\d\.sqlite': column 'emb' holds 8 dimensions, the queries have 4$",
    ):
        search_shards(paths, "vecs", np.zeros((1, 4), np.float32), 3)
