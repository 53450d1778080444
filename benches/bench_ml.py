"""ONNX inference from SQL vs the anchors, measured in one run.

For a LogisticRegression and a 100-tree RandomForest over N rows of 8 float features:

- ``SELECT sum(ml_predict(model, f0, ..., f7)) FROM t``  (per-row scalar function)
- ``SELECT sum(prediction) FROM ml_predict_batch(model, 'SELECT id, f0, ..., f7 FROM t')``
- anchor (a): a Python UDF calling onnxruntime per row through ``conn.create_function``
- anchor (b): onnxruntime's own batch call from Python on the same numpy array
- a plain scan ``SELECT sum(f0) + ... + sum(f7) FROM t``

Every runtime uses one inference thread. Targets (issue 5): at least 20x the Python-UDF
throughput, and a query time within 2x of (plain scan + onnxruntime batch).

    python benches/bench_ml.py           # 100,000 rows
    python benches/bench_ml.py --quick   # 10,000 rows
"""

from __future__ import annotations

import argparse
import sqlite3
import time

import numpy as np
import onnxruntime as ort
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import sqlite_quiver
from sqlite_quiver import ml

N_FEATURES = 8
COLS = ", ".join(f"f{i}" for i in range(N_FEATURES))


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 rows instead of 100,000")
    parser.add_argument("--rows", type=int, default=None)
    args = parser.parse_args()
    n = args.rows or (10_000 if args.quick else 100_000)
    repeat = 3

    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] - X[:, 3] > 0).astype(int)
    train = slice(0, min(n, 20_000))
    models = {
        "LogisticRegression": LogisticRegression(max_iter=500).fit(X[train], y[train]),
        "RandomForest(100)": RandomForestClassifier(
            n_estimators=100, max_depth=10, random_state=0, n_jobs=1
        ).fit(X[train], y[train]),
    }

    conn = sqlite3.connect(":memory:")
    sqlite_quiver.load(conn)
    ml.configure(threads=1)
    conn.execute(f"create table t (id integer primary key, {COLS})")
    conn.executemany(
        f"insert into t values (?, {', '.join('?' * N_FEATURES)})",
        ((i, *map(float, row)) for i, row in enumerate(X)),
    )
    conn.commit()

    scan_sql = "select " + " + ".join(f"sum(f{i})" for i in range(N_FEATURES)) + " from t"
    scan = best_of(lambda: conn.execute(scan_sql).fetchone(), repeat)

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1

    print(f"rows: {n}, features: {N_FEATURES}, one inference thread everywhere")
    print(f"plain scan  {scan_sql[:40]}...: {scan * 1e3:8.1f} ms ({n / scan:,.0f} rows/s)")
    for label, model in models.items():
        name = label.split("(")[0].lower()
        ml.save_model(conn, name, model)
        conn.commit()
        sess = ort.InferenceSession(
            ml.get_model(conn, name), options, providers=["CPUExecutionProvider"]
        )
        input_name = sess.get_inputs()[0].name

        def udf(*features, sess=sess, input_name=input_name):
            x = np.array([features], dtype=np.float32)
            return int(sess.run(None, {input_name: x})[0][0])

        conn.create_function(f"py_{name}", N_FEATURES, udf)

        expected = int(model.predict(X).sum())
        sql_scalar = f"select sum(ml_predict('{name}', {COLS})) from t"
        sql_batch = (
            f"select sum(prediction) from ml_predict_batch('{name}', 'select id, {COLS} from t')"
        )
        sql_udf = f"select sum(py_{name}({COLS})) from t"
        for sql in (sql_scalar, sql_batch):
            got = conn.execute(sql).fetchone()[0]
            assert abs(got - expected) <= max(2, n // 10_000), (sql, got, expected)

        t_scalar = best_of(lambda sql=sql_scalar: conn.execute(sql).fetchone(), repeat)
        t_batch = best_of(lambda sql=sql_batch: conn.execute(sql).fetchone(), repeat)
        t_udf = best_of(lambda sql=sql_udf: conn.execute(sql).fetchone(), 1)
        t_ort = best_of(lambda s=sess, i=input_name: s.run(None, {i: X}), repeat)

        print(f"\n{label}")
        print(
            f"  ml_predict per row (SQL)     : {t_scalar * 1e3:8.1f} ms "
            f"{n / t_scalar:12,.0f} rows/s"
        )
        print(
            f"  ml_predict_batch (SQL)       : {t_batch * 1e3:8.1f} ms {n / t_batch:12,.0f} rows/s"
        )
        print(f"  (a) Python UDF + onnxruntime : {t_udf * 1e3:8.1f} ms {n / t_udf:12,.0f} rows/s")
        print(f"  (b) onnxruntime batch, numpy : {t_ort * 1e3:8.1f} ms {n / t_ort:12,.0f} rows/s")
        bound = scan + t_ort
        print(
            f"  ml_predict vs (a): {t_udf / t_scalar:6.1f}x   "
            f"ml_predict_batch vs (a): {t_udf / t_batch:6.1f}x   (target >= 20x)"
        )
        print(
            f"  ml_predict / (scan + b): {t_scalar / bound:5.2f}   "
            f"ml_predict_batch / (scan + b): {t_batch / bound:5.2f}   (target <= 2)"
        )


if __name__ == "__main__":
    main()
