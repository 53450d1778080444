"""How sqlite-quiver gets into a connection: stdlib sqlite3 (with or without
``enable_load_extension``) and apsw."""

from __future__ import annotations

import os
import sqlite3
import sys
from typing import Any, Optional

from . import _quiver

ENTRYPOINT = "sqlite3_quiver_init"

_NO_ROUTE = (
    "cannot load SQLite extensions into this connection: {why}. Use apsw "
    "(`pip install apsw`, then pass an apsw.Connection) or a Python whose sqlite3 "
    "module has enable_load_extension."
)


def _is_apsw_connection(conn: Any) -> bool:
    apsw = sys.modules.get("apsw")
    return apsw is not None and isinstance(conn, apsw.Connection)


def _host_library() -> str:
    """The file of the ``_sqlite3`` module, whose SQLite library the stdlib uses."""
    import _sqlite3  # the C half of the stdlib sqlite3 package

    return getattr(_sqlite3, "__file__", None) or ""


def _load_into_apsw(conn: Any, path: str, entrypoint: Optional[str]) -> None:
    conn.enable_load_extension(True)
    try:
        conn.load_extension(path, entrypoint)
    finally:
        conn.enable_load_extension(False)


def _default_entrypoint(path: str) -> str:
    """The entry point SQLite derives from a file name: ``sqlite3_X_init`` with X the
    lowercased letters of the base name up to its first dot, less a leading "lib"."""
    base = os.path.basename(path).split(".", 1)[0]
    if base.startswith("lib"):
        base = base[3:]
    return "sqlite3_" + "".join(c.lower() for c in base if c.isascii() and c.isalpha()) + "_init"


def _load_with_python_api(conn: sqlite3.Connection, path: str, entrypoint: Optional[str]) -> None:
    """Fallback through Python's own enable_load_extension, switched off again after."""
    conn.enable_load_extension(True)
    try:
        if entrypoint is None or entrypoint == _default_entrypoint(path):
            conn.load_extension(path)
        elif sys.version_info >= (3, 12):
            conn.load_extension(path, entrypoint=entrypoint)
        else:
            raise sqlite3.OperationalError(
                f"this Python cannot pass the entry point {entrypoint!r} to "
                "load_extension (needs Python 3.12)"
            )
    finally:
        conn.enable_load_extension(False)


def load_extension(conn: Any, path: str, entrypoint: Optional[str] = None) -> None:
    """Load any SQLite extension (sqlite-vec, spatialite, ...) into ``conn``.

    Works on a stdlib ``sqlite3.Connection`` even where Python was built without
    ``enable_load_extension``: the extension is loaded through the SQLite C API with
    loading switched on for the C API only, never for SQL's ``load_extension()``.
    Also accepts an ``apsw.Connection``.

    >>> import sqlite3, sqlite_quiver
    >>> conn = sqlite3.connect(":memory:")
    >>> sqlite_quiver.load_extension(conn, sqlite_quiver.loadable_path(), "sqlite3_quiver_init")
    >>> conn.execute("select vec_length('[1,2,3]')").fetchone()
    (3,)
    """
    if not isinstance(path, str):
        raise TypeError(f"path must be a str, got {type(path).__name__}")
    if entrypoint is not None and not isinstance(entrypoint, str):
        raise TypeError(f"entrypoint must be a str or None, got {type(entrypoint).__name__}")
    if _is_apsw_connection(conn):
        _load_into_apsw(conn, path, entrypoint)
        return
    if not isinstance(conn, sqlite3.Connection):
        raise TypeError(
            "expected a sqlite3.Connection or an apsw.Connection, got "
            f"{type(conn).__module__}.{type(conn).__qualname__}"
        )
    try:
        _ = conn.total_changes  # raises ProgrammingError when closed
    except sqlite3.ProgrammingError as exc:
        raise ValueError(f"cannot load into this connection: {exc}") from exc
    route_error: Optional[str] = None
    if sys.implementation.name == "cpython":
        try:
            _quiver.load_extension_into(conn, path, entrypoint, _host_library())
            return
        except sqlite3.OperationalError as exc:
            if "does not export" not in str(exc) and "cannot locate" not in str(exc):
                raise
            route_error = str(exc)
    else:
        route_error = f"the C route needs CPython, this is {sys.implementation.name}"
    if hasattr(conn, "enable_load_extension"):
        _load_with_python_api(conn, path, entrypoint)
        return
    raise sqlite3.OperationalError(_NO_ROUTE.format(why=route_error))


def loadable_path() -> str:
    """Path of the sqlite-quiver extension for SQLite hosts inside this Python process
    (apsw, ADBC, other wrappers): the module file itself, entry point
    ``sqlite3_quiver_init``, sharing its caches with the Python API. For hosts without
    Python (the sqlite3 shell, C programs), use :func:`extension_path`.

    >>> import os
    >>> os.path.basename(loadable_path()).startswith("_quiver.")
    True
    """
    return str(_quiver.__file__)


# The plain extension's file name per platform; SQLite derives the entry point
# sqlite3_quiver_init from it.
_PLAIN_EXTENSION = {"win32": "quiver.dll", "darwin": "libquiver.dylib"}


def extension_path() -> str:
    """Path of the plain loadable extension installed with the package
    (``libquiver.so``, ``libquiver.dylib`` or ``quiver.dll``): it needs no Python, for
    the ``sqlite3`` shell (``.load PATH``), C programs, Go/Node/Rust hosts and other
    tools. Entry point ``sqlite3_quiver_init``. ``quiver path`` prints it.

    >>> import os, sqlite_quiver
    >>> path = sqlite_quiver.extension_path()
    >>> os.path.basename(path) in ("libquiver.so", "libquiver.dylib", "quiver.dll")
    True
    """
    name = _PLAIN_EXTENSION.get(sys.platform, "libquiver.so")
    path = os.path.join(os.path.dirname(os.path.abspath(_quiver.__file__)), name)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"the plain extension {name} is not installed beside {_quiver.__file__}: "
            "wheels and `pip install .` include it (a build without the cargo feature "
            "`plain-extension` does not); or build it with "
            "`cargo build --release -p quiver-ext`"
        )
    return path


def load(conn: Any) -> None:
    """Register sqlite-quiver's SQL functions and tables on ``conn``.

    Loading twice is harmless. Also lets numpy float32 arrays bind as vector
    parameters (a global ``sqlite3`` adapter).

    >>> import sqlite3, sqlite_quiver
    >>> conn = sqlite3.connect(":memory:")
    >>> sqlite_quiver.load(conn)
    >>> conn.execute("select vec_to_json(vec_normalize('[3,4]'))").fetchone()
    ('[0.600000,0.800000]',)
    """
    load_extension(conn, loadable_path(), ENTRYPOINT)
    from .ml import _point_runtime
    from .serialize import register_numpy_adapter

    register_numpy_adapter()
    # Where ONNX Runtime is, for ml_predict (found without importing onnxruntime).
    _point_runtime()
