"""Models in the registry and ONNX inference from SQL, checked against scikit-learn."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sqlite_quiver
from sqlite_quiver import ml, to_npy

N_FEATURES = 4


def data(n=400, classes=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    score = X[:, 0] + 0.5 * X[:, 1] - X[:, 2] * X[:, 3]
    if classes == 2:
        y = (score > 0).astype(int)
    else:
        y = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
    reg = (3 * X[:, 0] - 2 * X[:, 1] + X[:, 2] * X[:, 3]).astype(np.float64)
    return X, y, reg


CLASSIFIERS = {
    "logistic": lambda: LogisticRegression(max_iter=500),
    "logistic-3-classes": lambda: LogisticRegression(max_iter=500),
    # An odd tree count: on an exact 0.5/0.5 vote ONNX Runtime and scikit-learn break
    # the tie differently (documented in README.md, "Differences from scikit-learn").
    "random-forest": lambda: RandomForestClassifier(n_estimators=21, random_state=0),
    "gradient-boosting": lambda: GradientBoostingClassifier(n_estimators=30, random_state=0),
    "scaler-pipeline": lambda: make_pipeline(StandardScaler(), LogisticRegression()),
    "mlp": lambda: MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0),
}
REGRESSORS = {
    "linear": LinearRegression,
    "ridge": lambda: Ridge(alpha=0.5),
    "random-forest": lambda: RandomForestRegressor(n_estimators=20, random_state=0),
    "gradient-boosting": lambda: GradientBoostingRegressor(n_estimators=30, random_state=0),
    "scaler-pipeline": lambda: make_pipeline(StandardScaler(), Ridge()),
    "mlp": lambda: MLPRegressor(hidden_layer_sizes=(16,), max_iter=300, random_state=0),
}


NATIVE_KINDS = {"logistic", "logistic-3-classes", "linear", "ridge", "scaler-pipeline"}


@pytest.fixture(params=["native-allowed", "onnxruntime-only"])
def engine(request):
    """Run a test with the native linear path allowed, and with ONNX Runtime only."""
    native = request.param == "native-allowed"
    ml.configure(native=native)
    yield native
    ml.configure(native=True)


def feature_table(conn, X):
    conn.execute("create table t (id integer primary key, f0 real, f1 real, f2 real, f3 real)")
    conn.executemany(
        "insert into t values (?, ?, ?, ?, ?)", [(i, *map(float, r)) for i, r in enumerate(X)]
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", CLASSIFIERS)
def test_classifiers_match_sklearn(conn, engine, kind):
    X, y, _ = data(classes=3 if "3" in kind else 2)
    model = CLASSIFIERS[kind]().fit(X, y)
    assert ml.save_model(conn, kind, model) == 1
    want_engine = "native" if engine and kind in NATIVE_KINDS else "onnxruntime"
    assert conn.execute("select ml_engine(?)", [kind]).fetchone() == (want_engine,)
    feature_table(conn, X)
    rows = conn.execute(
        "select ml_predict(?, f0, f1, f2, f3), ml_predict_proba(?, f0, f1, f2, f3) "
        "from t order by id",
        [kind, kind],
    ).fetchall()
    want = model.predict(X)
    want_p = model.predict_proba(X)
    got = np.array([r[0] for r in rows])
    got_p = np.array([json.loads(r[1]) for r in rows])
    assert all(isinstance(r[0], int) for r in rows)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got_p, want_p, atol=1e-5, rtol=0)
    # The batch path gives the same answers, in order.
    batch = conn.execute(
        "select key, prediction, probabilities from ml_predict_batch(?, "
        "'select id, f0, f1, f2, f3 from t order by id')",
        [kind],
    ).fetchall()
    assert [b[0] for b in batch] == list(range(len(X)))
    np.testing.assert_array_equal([b[1] for b in batch], want)
    np.testing.assert_allclose([json.loads(b[2]) for b in batch], want_p, atol=1e-5, rtol=0)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", REGRESSORS)
def test_regressors_match_sklearn(conn, engine, kind):
    X, _, target = data()
    model = REGRESSORS[kind]().fit(X, target)
    ml.save_model(conn, kind, model)
    want_engine = "native" if engine and kind in NATIVE_KINDS else "onnxruntime"
    assert conn.execute("select ml_engine(?)", [kind]).fetchone() == (want_engine,)
    feature_table(conn, X)
    got = np.array(
        [
            r[0]
            for r in conn.execute("select ml_predict(?, f0, f1, f2, f3) from t order by id", [kind])
        ]
    )
    want = model.predict(X)
    # float32 inference vs scikit-learn's float64.
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    batch = conn.execute(
        "select prediction, probabilities from ml_predict_batch(?, 'select id, f0, f1, f2, f3 "
        "from t order by id')",
        [kind],
    ).fetchall()
    np.testing.assert_allclose([b[0] for b in batch], got, rtol=1e-5, atol=1e-6)
    assert all(b[1] is None for b in batch)
    with pytest.raises(sqlite3.OperationalError, match="no probability output"):
        conn.execute("select ml_predict_proba(?, 1, 2, 3, 4)", [kind]).fetchone()


def test_feature_forms(conn, engine):
    X, y, _ = data()
    model = LogisticRegression().fit(X, y)
    ml.save_model(conn, "m", model)
    row = X[7]
    want = int(model.predict(row[None])[0])
    want_p = model.predict_proba(row[None])[0]
    forms = {
        "columns": ("select ml_predict('m', ?, ?, ?, ?)", [float(v) for v in row]),
        "vector": ("select ml_predict('m', ?)", [row.astype("<f4").tobytes()]),
        "vec_f32": ("select ml_predict('m', vec_f32(?))", [json.dumps(row.tolist())]),
        "json": ("select ml_predict('m', ?)", [json.dumps(row.tolist())]),
        "npy": ("select ml_predict('m', ?)", [to_npy(row.astype(np.float64))]),
        "npy-1xn": ("select ml_predict('m', ?)", [to_npy(row[None])]),
        "nd_array": ("select ml_predict('m', nd_array(?))", [json.dumps(row.tolist())]),
    }
    for form, (sql, params) in forms.items():
        assert conn.execute(sql, params).fetchone() == (want,), form
    (blob,) = conn.execute(
        "select ml_predict_proba_vec('m', ?)", [json.dumps(row.tolist())]
    ).fetchone()
    np.testing.assert_allclose(np.frombuffer(blob, "<f4"), want_p, atol=1e-5)
    (n,) = conn.execute(
        "select vec_length(ml_predict_proba_vec('m', ?))", [json.dumps(row.tolist())]
    ).fetchone()
    assert n == 2
    # Integers are accepted as features; int8 vectors too.
    assert conn.execute("select ml_predict('m', 1, 0, 0, 0)").fetchone() == (
        int(model.predict(np.array([[1, 0, 0, 0]], np.float32))[0]),
    )
    assert conn.execute("select ml_predict('m', vec_int8('[1,0,0,0]'))").fetchone() == (
        int(model.predict(np.array([[1, 0, 0, 0]], np.float32))[0]),
    )


@pytest.mark.parametrize("kind", ["random-forest", "logistic"])
def test_string_labels(conn, engine, kind):
    X, y, _ = data()
    labels = np.array(["stay", "churn"])[y]
    model = CLASSIFIERS[kind]().fit(X, labels)
    ml.save_model(conn, "s", model)
    feature_table(conn, X)
    got = [r[0] for r in conn.execute("select ml_predict('s', f0, f1, f2, f3) from t order by id")]
    assert got == list(model.predict(X))
    got_p = [
        json.loads(r[0])
        for r in conn.execute("select ml_predict_proba('s', f0, f1, f2, f3) from t order by id")
    ]
    np.testing.assert_allclose(got_p, model.predict_proba(X), atol=1e-5, rtol=0)


def test_registry_versions_and_activation(conn):
    X, y, reg = data()
    lin = LinearRegression().fit(X, reg)
    const = LinearRegression().fit(X, np.full(len(X), 7.0))
    assert ml.save_model(conn, "r", lin, metrics={"r2": 0.99}) == 1
    assert ml.save_model(conn, "r", const, activate=False) == 2
    assert ml.save_model(conn, "other", const) == 1
    q = "select ml_predict(?, 1, 1, 1, 1)"
    v1 = conn.execute(q, ["r"]).fetchone()[0]
    assert v1 == pytest.approx(float(lin.predict(np.ones((1, 4), np.float32))[0]), rel=1e-5)
    assert conn.execute(q, ["r@2"]).fetchone()[0] == pytest.approx(7.0)
    assert conn.execute(q, ["r@1"]).fetchone()[0] == pytest.approx(v1)
    ml.activate(conn, "r", 2)
    assert conn.execute(q, ["r"]).fetchone()[0] == pytest.approx(7.0)
    models = ml.list_models(conn, "r")
    assert [(m["version"], m["active"]) for m in models] == [(2, True), (1, False)]
    assert models[1]["metrics"] == {"r2": 0.99}
    assert models[1]["n_features"] == 4 and models[1]["format"] == "onnx"
    assert models[1]["inputs"][0]["shape"] == [None, 4]
    view = conn.execute(
        "select name, version, active, bytes > 0 from ml_models order by name, version"
    ).fetchall()
    assert view == [("other", 1, 1, 1), ("r", 1, 0, 1), ("r", 2, 1, 1)]
    assert ml.delete_model(conn, "r", 2) == 1
    with pytest.raises(sqlite3.OperationalError, match="model 'r' has no active version"):
        conn.execute(q, ["r"]).fetchone()
    ml.activate(conn, "r", 1)
    assert conn.execute(q, ["r"]).fetchone()[0] == pytest.approx(v1)
    assert ml.save_model(conn, "r", const) == 2  # numbering continues from the newest
    assert ml.delete_model(conn, "r") == 2
    assert [m["name"] for m in ml.list_models(conn)] == ["other"]
    assert ml.get_model(conn, "other")[:2] == ml.get_model(conn, "other", 1)[:2]


def test_cross_connection_invalidation(tmp_path):
    path = tmp_path / "models.db"
    a = sqlite3.connect(path)
    b = sqlite3.connect(path)
    for c in (a, b):
        sqlite_quiver.load(c)
    X, _, reg = data()
    ml.save_model(a, "price", LinearRegression().fit(X, np.full(len(X), 1.0)))
    a.commit()
    q = "select ml_predict('price', 0, 0, 0, 0)"
    assert b.execute(q).fetchone()[0] == pytest.approx(1.0)
    ml.save_model(a, "price", LinearRegression().fit(X, np.full(len(X), 2.0)))
    a.commit()
    assert b.execute(q).fetchone()[0] == pytest.approx(2.0)
    ml.activate(a, "price", 1)
    a.commit()
    assert b.execute(q).fetchone()[0] == pytest.approx(1.0)
    ml.delete_model(a, "price")
    a.commit()
    with pytest.raises(sqlite3.OperationalError, match="no model named 'price'"):
        b.execute(q).fetchone()
    a.close()
    b.close()


def test_threads_setting(conn):
    X, y, _ = data()
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    ml.save_model(conn, "rf", model)
    feature_table(conn, X)
    sql = "select ml_predict('rf', f0, f1, f2, f3) from t order by id"
    one = conn.execute(sql).fetchall()
    try:
        ml.configure(threads=2)
        assert ml.settings()["threads"] == 2
        assert conn.execute(sql).fetchall() == one
    finally:
        ml.configure(threads=1)
    with pytest.raises(ValueError):
        ml.configure(threads=0)


# --- bad input -------------------------------------------------------------------------


@pytest.fixture
def saved(conn):
    X, y, _ = data()
    ml.save_model(conn, "m", LogisticRegression().fit(X, y))
    feature_table(conn, X)
    return conn


def registry_rows(conn):
    return conn.execute("select name, version, sha256, active from quiver_models").fetchall()


BAD_PREDICT = [
    ("select ml_predict('m', 1, 2, 3)", "expects 4 features, got 3"),
    ("select ml_predict('m', 1, 2, 3, 4, 5)", "expects 4 features, got 5"),
    ("select ml_predict('m', '[1,2]')", "expects 4 features, got 2"),
    ("select ml_predict('m', 1, null, 3, 4)", "feature 2 is NULL"),
    ("select ml_predict('m', null)", "feature 1 is NULL"),
    ("select ml_predict('m', 1, 'x', 3, 4)", "expected a number for feature 2, got text"),
    ("select ml_predict('m', 'abc')", "expected features as numbers"),
    ("select ml_predict('m', vec_bit(x'ff'))", "got a bit vector"),
    ("select ml_predict('m', x'000000')", "float32 BLOB"),
    ("select ml_predict('m', nd_array('[[1,2],[3,4]]'))", "expected a 1-D .npy array"),
    ("select ml_predict('m')", "expected a model and its features"),
    ("select ml_predict(42, 1, 2, 3, 4)", "expected a model name"),
    ("select ml_predict('nope', 1, 2, 3, 4)", "no model named 'nope'"),
    ("select ml_predict('m@9', 1, 2, 3, 4)", r"model 'm' has no version 9 \(versions: 1\)"),
    ("select * from ml_predict_batch('m', 'select id, f0 from t')", "row 1: the model expects 4"),
    ("select * from ml_predict_batch('m', 'select id from t')", "a key column and then"),
    ("select * from ml_predict_batch('m', 'selec nothing')", "syntax error"),
    ("select * from ml_predict_batch('m', 'delete from t')", "read-only SELECT"),
    ("select * from ml_predict_batch('m')", r"ml_predict_batch\(model, sql\)"),
    ("select * from ml_predict_batch('zz', 'select id, f0, f1, f2, f3 from t')", "no model"),
]


@pytest.mark.parametrize("sql,message", BAD_PREDICT, ids=[m for _, m in BAD_PREDICT])
def test_bad_predict_input(saved, sql, message):
    before = registry_rows(saved)
    with pytest.raises(sqlite3.OperationalError, match=message):
        saved.execute(sql).fetchall()
    assert registry_rows(saved) == before
    assert saved.execute("select count(*) from t").fetchone() == (400,)


def test_no_registry(conn):
    with pytest.raises(sqlite3.OperationalError, match="no model registry in this database"):
        conn.execute("select ml_predict('m', 1)").fetchone()
    assert ml.list_models(conn) == []


def test_bad_models_leave_registry_intact(saved):
    import onnx
    from onnx import TensorProto, helper

    before = registry_rows(saved)
    good = ml.get_model(saved, "m")
    with pytest.raises(ValueError, match="not a usable ONNX model"):
        ml.save_model(saved, "m", b"this is not onnx")
    with pytest.raises(ValueError, match="not a usable ONNX model"):
        ml.save_model(saved, "m", good[: len(good) // 2])
    with pytest.raises(TypeError, match="expected ONNX bytes"):
        ml.save_model(saved, "m", 42)
    with pytest.raises(ValueError, match="model name"):
        ml.save_model(saved, "m@2", good)
    with pytest.raises(TypeError, match="metrics must be a dict"):
        ml.save_model(saved, "m", good, metrics=[1])
    with pytest.raises(ValueError, match="not fitted"):
        ml.save_model(saved, "m", LogisticRegression())
    # Two inputs: not a [batch, n_features] model.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, [None, 2])
    two = helper.make_model(
        helper.make_graph([helper.make_node("Add", ["x", "y"], ["z"])], "g", [x, y], [z]),
        opset_imports=[helper.make_opsetid("", 17)],
        ir_version=8,
    )
    with pytest.raises(ValueError, match="expected one input"):
        ml.save_model(saved, "two", two)
    # An integer input is refused too.
    xi = helper.make_tensor_value_info("x", TensorProto.INT64, [None, 2])
    zi = helper.make_tensor_value_info("z", TensorProto.INT64, [None, 2])
    ints = helper.make_model(
        helper.make_graph([helper.make_node("Identity", ["x"], ["z"])], "g", [xi], [zi]),
        opset_imports=[helper.make_opsetid("", 17)],
        ir_version=8,
    )
    with pytest.raises(ValueError, match="expected a float input tensor"):
        ml.save_model(saved, "ints", ints)
    assert registry_rows(saved) == before
    # An ONNX ModelProto and a file path are accepted.
    proto = onnx.load_from_string(good)
    assert ml.save_model(saved, "m", proto) == 2
    with pytest.raises(KeyError, match="no version 5"):
        ml.activate(saved, "m", 5)
    with pytest.raises(KeyError, match="no model named 'zz'"):
        ml.delete_model(saved, "zz")


def test_model_file_path(conn, tmp_path):
    X, y, _ = data()
    path = tmp_path / "m.onnx"
    from skl2onnx import to_onnx

    path.write_bytes(to_onnx(Ridge().fit(X, y.astype(float)), X[:1]).SerializeToString())
    assert ml.save_model(conn, "p", str(path)) == 1
    assert ml.save_model(conn, "p", path) == 2


def test_registry_lookups_do_not_read_the_model_row(tmp_path):
    """Every ml_predict / ml_embed statement looks its model up; sha256 and active are
    stored after the model BLOB, so the lookup must come from the covering index (the
    queries below are registry.rs's), not the row, whose read walks the whole BLOB."""
    path = tmp_path / "m.db"
    c = sqlite3.connect(path)
    sqlite_quiver.load(c)
    X, y, reg = data()
    ml.save_model(c, "r", LinearRegression().fit(X, reg))
    ml.save_model(c, "r", LinearRegression().fit(X, reg))
    plans = [
        " ".join(r[3] for r in c.execute("explain query plan " + q, ["r", 1][: q.count("?")]))
        for q in (
            "SELECT version, sha256, format FROM quiver_models "
            "WHERE name = ?1 AND active = 1 ORDER BY version DESC LIMIT 1",
            "SELECT version, sha256, format FROM quiver_models WHERE name = ?1 AND +version = ?2",
        )
    ]
    assert all("COVERING INDEX quiver_models_lookup" in p for p in plans), plans
    q = "select ml_predict(?, 1, 1, 1, 1)"
    want = c.execute(q, ["r"]).fetchone()[0]
    # A registry written before the index existed still answers (from the rows), and
    # the next save adds the index.
    c.execute("drop index quiver_models_lookup")
    c.commit()
    c2 = sqlite3.connect(path)
    sqlite_quiver.load(c2)
    assert c2.execute(q, ["r"]).fetchone()[0] == pytest.approx(want)
    assert c2.execute(q, ["r@1"]).fetchone()[0] == pytest.approx(want)
    ml.save_model(c2, "other", LinearRegression().fit(X, reg))
    indexes = {r[0] for r in c2.execute("select name from sqlite_master where type = 'index'")}
    assert "quiver_models_lookup" in indexes
    c.close()
    c2.close()


def test_size_limit(saved):
    good = ml.get_model(saved, "m")
    before = registry_rows(saved)
    try:
        ml.configure(max_model_bytes=len(good) - 1)
        with pytest.raises(ValueError, match="above the limit"):
            ml.save_model(saved, "m", good)
        ml.configure(threads=1)  # drops cached sessions: the limit applies on reload
        with pytest.raises(sqlite3.OperationalError, match="above the limit of"):
            saved.execute("select ml_predict('m', 1, 2, 3, 4)").fetchone()
    finally:
        ml.configure(max_model_bytes=256 << 20)
    assert registry_rows(saved) == before
    assert saved.execute("select ml_predict('m', 1, 2, 3, 4)").fetchone()[0] in (0, 1)


def test_corrupt_model_in_database(saved):
    good = ml.get_model(saved, "m")
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    ml.configure(threads=1)  # start from an empty session cache
    saved.execute("update quiver_models set model = ? where name = 'm'", [bytes(bad)])
    with pytest.raises(sqlite3.OperationalError, match="is corrupt"):
        saved.execute("select ml_predict('m', 1, 2, 3, 4)").fetchone()


def test_without_onnxruntime(tmp_path):
    """A process where onnxruntime cannot be found: clear errors naming the extra."""
    X, y, _ = data()
    model = ml.save_model  # noqa: F841 (keep import used)
    db = tmp_path / "m.db"
    c = sqlite3.connect(db)
    sqlite_quiver.load(c)
    ml.save_model(c, "m", LogisticRegression().fit(X, y))
    c.commit()
    c.close()
    script = textwrap.dedent(f"""
        import os, sqlite3
        os.environ.pop("ORT_DYLIB_PATH", None)
        import sqlite_quiver.ml as ml
        ml.onnxruntime_library = lambda: None
        import sqlite_quiver
        conn = sqlite3.connect({str(db)!r})
        sqlite_quiver.load(conn)
        try:
            conn.execute("select ml_predict('m', 1, 2, 3, 4)").fetchone()
        except sqlite3.OperationalError as e:
            print("SQL:", e)
        try:
            ml.save_model(conn, "m", ml.get_model(conn, "m"))
        except RuntimeError as e:
            print("PY:", e)
        print("ROWS:", conn.execute("select count(*) from quiver_models").fetchone()[0])
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert "SQL: ml_predict: ONNX Runtime is not available" in out
    assert out.count("pip install sqlite-quiver[ml]") == 2
    assert "ROWS: 1" in out


def test_docstring_examples():
    import doctest

    from sqlite_quiver import arrays

    try:
        for module in (ml, arrays):
            result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
            assert result.failed == 0, module.__name__
            assert result.attempted > 5
    finally:
        sqlite_quiver.unregister_numpy()


def test_batch_not_from_views_or_triggers(saved):
    saved.execute(
        "create view v as select * from ml_predict_batch('m', 'select id, f0, f1, f2, f3 from t')"
    )
    with pytest.raises(sqlite3.OperationalError, match="unsafe use of virtual table"):
        saved.execute("select count(*) from v").fetchone()
    # Directly it works, and joins back on the key.
    (n,) = saved.execute(
        "select count(*) from ml_predict_batch('m', 'select id, f0, f1, f2, f3 from t') p "
        "join t on t.id = p.key where p.prediction in (0, 1)"
    ).fetchone()
    assert n == 400


def test_multi_output_regression(conn, engine):
    X, _, reg = data()
    Y = np.c_[reg, -2 * reg + 1]
    model = LinearRegression().fit(X, Y)
    ml.save_model(conn, "two", model)
    feature_table(conn, X)
    got = [
        json.loads(r[0])
        for r in conn.execute("select ml_predict('two', f0, f1, f2, f3) from t order by id")
    ]
    np.testing.assert_allclose(got, model.predict(X), rtol=1e-4, atol=1e-4)


def test_apsw_connection():
    """The registry helpers work on apsw too (own process: one SQLite library each)."""
    script = textwrap.dedent("""
        import apsw, numpy as np, sqlite_quiver
        from sqlite_quiver import ml
        from sklearn.linear_model import LogisticRegression
        X = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
        model = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
        c = apsw.Connection(":memory:")
        sqlite_quiver.load(c)
        print(ml.save_model(c, "m", model), ml.save_model(c, "m", model, activate=False))
        print(list(c.execute("select ml_predict('m', 1, 0, 0), ml_predict('m@2', -1, 0, 0)")))
        print(ml.delete_model(c, "m", 2), [m["version"] for m in ml.list_models(c)])
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[:3] == ["1 2", "[(1, 0)]", "1 [1]"]
