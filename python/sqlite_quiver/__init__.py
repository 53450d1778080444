"""sqlite-quiver: vector search, Arrow data and ML inference inside SQLite.

>>> import sqlite3, sqlite_quiver
>>> conn = sqlite3.connect(":memory:")
>>> sqlite_quiver.load(conn)
>>> conn.execute("select vec_distance_l2('[1,2]', '[4,6]')").fetchone()
(5.0,)
"""

from __future__ import annotations

import sqlite3
from typing import Any

from . import _quiver, ml
from ._loader import extension_path, load, load_extension, loadable_path
from .arrays import from_npy, register_numpy, to_npy, unregister_numpy
from .arrow import ArrowResult, insert_arrow, query_arrow, register_arrow, unregister_arrow
from .serialize import register_numpy_adapter, serialize_float32, serialize_int8
from .vectors import (
    assign_index,
    insert_vectors,
    search,
    set_scan_threads,
    set_threads,
    train_index,
)

__version__: str = _quiver.__version__

__all__ = [
    "__version__",
    "ArrowResult",
    "assign_index",
    "insert_arrow",
    "query_arrow",
    "register_arrow",
    "unregister_arrow",
    "connect_with_vec",
    "extension_path",
    "from_npy",
    "insert_vectors",
    "kernels",
    "load",
    "load_extension",
    "loadable_path",
    "ml",
    "register_numpy",
    "register_numpy_adapter",
    "search",
    "serialize_float32",
    "serialize_int8",
    "set_scan_threads",
    "set_threads",
    "to_npy",
    "train_index",
    "unregister_numpy",
]


def connect_with_vec(database: Any = ":memory:", **kwargs: Any) -> sqlite3.Connection:
    """``sqlite3.connect(database, **kwargs)`` with sqlite-quiver loaded, and numpy
    arrays accepted as vector parameters.

    >>> conn = connect_with_vec()
    >>> conn.execute("select vec_length(?)", [serialize_float32([1, 2, 3])]).fetchone()
    (3,)
    """
    conn = sqlite3.connect(database, **kwargs)
    try:
        load(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def kernels() -> str:
    """The SIMD kernel path this CPU uses: ``"avx512"``, ``"avx2+fma"``, ``"neon"`` or
    ``"scalar"``.

    >>> kernels() in ("avx512", "avx2+fma", "neon", "scalar")
    True
    """
    return _quiver.kernels()
