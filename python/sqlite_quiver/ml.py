"""Models stored in the database, run from SQL with ONNX Runtime.

Train in scikit-learn, save the model into the SQLite file, predict from SQL::

    >>> import sqlite3, numpy as np, sqlite_quiver
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sqlite_quiver import ml
    >>> X = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> conn = sqlite3.connect(":memory:")
    >>> sqlite_quiver.load(conn)
    >>> ml.save_model(conn, "churn", LogisticRegression().fit(X, y), metrics={"auc": 0.97})
    1
    >>> conn.execute("select ml_predict('churn', 2.0, 1.0, 0.0)").fetchone()
    (1,)

Models are ONNX (never pickle). The registry is the table ``quiver_models`` (created on
first use, with the view ``ml_models`` listing it without the bytes). Inference needs
the ``onnxruntime`` package (``pip install sqlite-quiver[ml]``); converting scikit-learn
estimators also needs ``skl2onnx``.
"""

from __future__ import annotations

import datetime
import glob
import hashlib
import importlib.util
import json
import os
import sys
from typing import Any, Union

from . import _quiver

__all__ = [
    "activate",
    "configure",
    "delete_model",
    "get_model",
    "list_models",
    "onnxruntime_library",
    "save_model",
    "settings",
]

TABLE = "quiver_models"
INSTALL_HINT = "pip install sqlite-quiver[ml]"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    format TEXT NOT NULL,
    model BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    n_features INTEGER NOT NULL,
    input_schema TEXT NOT NULL,
    output_schema TEXT NOT NULL,
    metrics TEXT,
    created_at TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
    PRIMARY KEY (name, version)
);
CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_one_active ON {TABLE} (name) WHERE active = 1;
CREATE VIEW IF NOT EXISTS ml_models AS
    SELECT name, version, format, length(model) AS bytes, sha256, n_features,
           input_schema, output_schema, metrics, created_at, active
    FROM {TABLE};
"""


def onnxruntime_library() -> str | None:
    """The libonnxruntime shared library inside the installed ``onnxruntime`` wheel, found
    without importing onnxruntime; None when it is not installed.

    >>> path = onnxruntime_library()
    >>> path is None or "onnxruntime" in path
    True
    """
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        capi = os.path.join(folder, "capi")
        if sys.platform == "win32":
            patterns = ["onnxruntime.dll"]
        elif sys.platform == "darwin":
            patterns = ["libonnxruntime.*.dylib", "libonnxruntime.dylib"]
        else:
            patterns = ["libonnxruntime.so.*", "libonnxruntime.so"]
        for pattern in patterns:
            found = sorted(glob.glob(os.path.join(capi, pattern)))
            if found:
                return found[-1]
    return None


def _point_runtime() -> None:
    """Tell the Rust side where libonnxruntime is (called by ``sqlite_quiver.load``)."""
    if _quiver.ml_settings()[2] is None:
        path = onnxruntime_library()
        if path is not None:
            _quiver.ml_set_dylib_path(path)


def configure(
    *,
    threads: int | None = None,
    max_model_bytes: int | None = None,
    onnxruntime_path: str | None = None,
    native: bool | None = None,
    max_run_seconds: float | None = None,
) -> None:
    """Process-wide settings: inference ``threads`` per session (default 1), the model
    size limit ``max_model_bytes`` (default 256 MiB), and the libonnxruntime file to
    load (before the first inference only). ``native=False`` runs every model in ONNX
    Runtime (by default simple linear models - LogisticRegression, LinearRegression,
    Ridge, optionally after a StandardScaler - are evaluated natively once checked
    against ONNX Runtime; ``ml_engine('name')`` in SQL tells which).
    ``max_run_seconds`` stops any ONNX Runtime run that takes longer (an error; 0
    removes the limit, the default: a stored model's graph can loop for ever).

    >>> configure(threads=1)
    >>> settings()["threads"]
    1
    """
    if threads is not None:
        _quiver.ml_set_threads(int(threads))
    if max_model_bytes is not None:
        _quiver.ml_set_max_model_bytes(int(max_model_bytes))
    if native is not None:
        _quiver.ml_set_native(bool(native))
    if onnxruntime_path is not None:
        _quiver.ml_set_dylib_path(os.fspath(onnxruntime_path))
    if max_run_seconds is not None:
        _quiver.ml_set_max_run_seconds(float(max_run_seconds))


def settings() -> dict:
    """The current settings and whether ONNX Runtime is loaded.

    >>> sorted(settings())[:3]
    ['max_model_bytes', 'max_run_seconds', 'native']
    """
    threads, limit, path, loaded = _quiver.ml_settings()
    return {
        "native": _quiver.ml_native_enabled(),
        "threads": threads,
        "max_model_bytes": limit,
        "max_run_seconds": _quiver.ml_max_run_seconds(),
        "onnxruntime_path": path,
        "onnxruntime_loaded": loaded,
    }


def _is_estimator(model: Any) -> bool:
    return hasattr(model, "fit") and (hasattr(model, "predict") or hasattr(model, "transform"))


def _sklearn_to_onnx(model: Any) -> bytes:
    try:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType
    except ImportError as e:
        raise ImportError(
            "converting a scikit-learn model needs skl2onnx: pip install skl2onnx "
            f"(and {INSTALL_HINT} for inference)"
        ) from e
    n = getattr(model, "n_features_in_", None)
    if n is None:
        raise ValueError("the scikit-learn model is not fitted (it has no n_features_in_)")
    options = None
    if hasattr(model, "predict_proba") or hasattr(model, "classes_"):
        # Probabilities as a plain [n, classes] tensor instead of a list of dicts.
        options = {"zipmap": False}
    proto = convert_sklearn(
        model,
        initial_types=[("X", FloatTensorType([None, int(n)]))],
        options=options,
    )
    return proto.SerializeToString()


def _model_bytes(model: Any) -> tuple[bytes, str]:
    """ONNX bytes of ``model`` and where they came from."""
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model), "bytes"
    if isinstance(model, (str, os.PathLike)):
        with open(model, "rb") as f:
            return f.read(), "file"
    if type(model).__name__ == "ModelProto" and hasattr(model, "SerializeToString"):
        return model.SerializeToString(), "onnx.ModelProto"
    if _is_estimator(model):
        return _sklearn_to_onnx(model), "scikit-learn"
    raise TypeError(
        "expected ONNX bytes, a path to an .onnx file, an onnx.ModelProto or a fitted "
        f"scikit-learn estimator, got {type(model).__name__}"
    )


def _ensure_registry(conn: Any) -> None:
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


def _registry_exists(conn: Any) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [TABLE]
    ).fetchone()
    return row is not None


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name or "@" in name:
        raise ValueError(
            f"a model name is a non-empty string without '@' (used for name@version), got {name!r}"
        )
    return name


def _savepoint(conn: Any, body: Any) -> Any:
    conn.execute("SAVEPOINT quiver_models_change")
    try:
        result = body()
    except BaseException:
        conn.execute("ROLLBACK TO quiver_models_change")
        conn.execute("RELEASE quiver_models_change")
        raise
    conn.execute("RELEASE quiver_models_change")
    return result


def save_model(
    conn: Any,
    name: str,
    model: Union[bytes, str, os.PathLike, Any],
    metrics: dict | None = None,
    activate: bool = True,
) -> int:
    """Store ``model`` as the next version of ``name`` and return the version number.

    ``model`` is ONNX bytes, a path to an ``.onnx`` file, an ``onnx.ModelProto`` or a
    fitted scikit-learn estimator or pipeline (converted with skl2onnx, float32 input,
    zipmap disabled). The model is loaded and run on one row of zeros before anything
    is written, so a corrupt or unsupported model leaves the registry unchanged. With
    ``activate`` it becomes the version that ``ml_predict('name', ...)`` uses.

    >>> import sqlite3, numpy as np, sqlite_quiver
    >>> from sklearn.linear_model import Ridge
    >>> conn = sqlite3.connect(":memory:"); sqlite_quiver.load(conn)
    >>> X = np.arange(20, dtype=np.float32).reshape(10, 2)
    >>> save_model(conn, "price", Ridge().fit(X, X.sum(axis=1)))
    1
    >>> round(conn.execute("select ml_predict('price@1', 1, 2)").fetchone()[0], 2)
    3.02
    """
    name = _check_name(name)
    if metrics is not None and not isinstance(metrics, dict):
        raise TypeError(f"metrics must be a dict (stored as JSON), got {type(metrics).__name__}")
    metrics_json = json.dumps(metrics) if metrics is not None else None
    data, _source = _model_bytes(model)
    limit = settings()["max_model_bytes"]
    if len(data) > limit:
        raise ValueError(
            f"the model is {len(data)} bytes, above the limit of {limit} bytes "
            "(raise it with sqlite_quiver.ml.configure(max_model_bytes=...))"
        )
    _point_runtime()
    try:
        n_features, inputs, outputs, _has_proba = _quiver.ml_inspect(data)
    except RuntimeError as e:
        raise RuntimeError(str(e)) from None
    sha = hashlib.sha256(data).hexdigest()
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")

    def write() -> int:
        _ensure_registry(conn)
        (version,) = conn.execute(
            f"SELECT coalesce(max(version), 0) + 1 FROM {TABLE} WHERE name = ?", [name]
        ).fetchone()
        if activate:
            conn.execute(f"UPDATE {TABLE} SET active = 0 WHERE name = ? AND active = 1", [name])
        conn.execute(
            f"INSERT INTO {TABLE} (name, version, format, model, sha256, n_features, "
            "input_schema, output_schema, metrics, created_at, active) "
            "VALUES (?, ?, 'onnx', ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                name,
                version,
                data,
                sha,
                n_features,
                inputs,
                outputs,
                metrics_json,
                created,
                int(bool(activate)),
            ],
        )
        return int(version)

    return _savepoint(conn, write)


def list_models(conn: Any, name: str | None = None) -> list[dict]:
    """The registry's rows (without the model bytes), newest version first per name.

    >>> import sqlite3, sqlite_quiver
    >>> list_models(sqlite3.connect(":memory:"))
    []
    """
    if not _registry_exists(conn):
        return []
    sql = (
        f"SELECT name, version, format, length(model), sha256, n_features, input_schema, "
        f"output_schema, metrics, created_at, active FROM {TABLE}"
    )
    params: list = []
    if name is not None:
        sql += " WHERE name = ?"
        params.append(name)
    sql += " ORDER BY name, version DESC"
    out = []
    for row in conn.execute(sql, params).fetchall():
        out.append(
            {
                "name": row[0],
                "version": row[1],
                "format": row[2],
                "bytes": row[3],
                "sha256": row[4],
                "n_features": row[5],
                "inputs": json.loads(row[6]),
                "outputs": json.loads(row[7]),
                "metrics": json.loads(row[8]) if row[8] is not None else None,
                "created_at": row[9],
                "active": bool(row[10]),
            }
        )
    return out


def _versions(conn: Any, name: str) -> list[int]:
    if not _registry_exists(conn):
        return []
    rows = conn.execute(
        f"SELECT version FROM {TABLE} WHERE name = ? ORDER BY version", [name]
    ).fetchall()
    return [r[0] for r in rows]


def _require(conn: Any, name: str, version: int | None) -> None:
    versions = _versions(conn, name)
    if not versions:
        raise KeyError(f"no model named {name!r} in the registry")
    if version is not None and version not in versions:
        raise KeyError(f"model {name!r} has no version {version} (versions: {versions})")


def activate(conn: Any, name: str, version: int) -> None:
    """Make ``version`` the one ``ml_predict('name', ...)`` uses (every connection sees
    it from its next statement).

    >>> import sqlite3, sqlite_quiver
    >>> activate(sqlite3.connect(":memory:"), "nope", 1)
    Traceback (most recent call last):
    KeyError: "no model named 'nope' in the registry"
    """
    if isinstance(version, bool) or not isinstance(version, int):
        raise TypeError(f"version must be an integer, got {type(version).__name__}")
    _require(conn, name, version)

    def write() -> None:
        conn.execute(f"UPDATE {TABLE} SET active = 0 WHERE name = ? AND active = 1", [name])
        conn.execute(
            f"UPDATE {TABLE} SET active = 1 WHERE name = ? AND version = ?", [name, version]
        )

    _savepoint(conn, write)


def delete_model(conn: Any, name: str, version: int | None = None) -> int:
    """Delete one version of ``name`` (or every version when ``version`` is None) and
    return how many rows went. Deleting the active version leaves no active version.

    >>> import sqlite3, sqlite_quiver
    >>> delete_model(sqlite3.connect(":memory:"), "nope")
    Traceback (most recent call last):
    KeyError: "no model named 'nope' in the registry"
    """
    _require(conn, name, version)

    def write() -> int:
        if version is None:
            cur = conn.execute(f"DELETE FROM {TABLE} WHERE name = ?", [name])
        else:
            cur = conn.execute(
                f"DELETE FROM {TABLE} WHERE name = ? AND version = ?", [name, version]
            )
        count = getattr(cur, "rowcount", None)
        return int(count) if count is not None and count >= 0 else conn.changes()

    return _savepoint(conn, write)


def get_model(conn: Any, name: str, version: int | None = None) -> bytes:
    """The ONNX bytes of ``name`` (the active version unless ``version`` is given), for
    onnxruntime.InferenceSession or onnx.load_from_string.

    >>> import sqlite3, numpy as np, onnx, sqlite_quiver
    >>> from sklearn.linear_model import LinearRegression
    >>> conn = sqlite3.connect(":memory:"); sqlite_quiver.load(conn)
    >>> save_model(conn, "m", LinearRegression().fit(np.eye(2, dtype=np.float32), [1, 2]))
    1
    >>> [i.name for i in onnx.load_from_string(get_model(conn, "m")).graph.input]
    ['X']
    """
    _require(conn, name, version)
    if version is None:
        row = conn.execute(
            f"SELECT model FROM {TABLE} WHERE name = ? AND active = 1", [name]
        ).fetchone()
        if row is None:
            raise KeyError(f"model {name!r} has no active version")
    else:
        row = conn.execute(
            f"SELECT model FROM {TABLE} WHERE name = ? AND version = ?", [name, version]
        ).fetchone()
    return bytes(row[0])
