"""numpy arrays as self-describing ``.npy`` BLOBs (what ``numpy.save`` writes).

A ``.npy`` BLOB carries its dtype, shape and order, is readable by
``numpy.load(io.BytesIO(blob), allow_pickle=False)`` and by the SQL ``nd_*`` functions.
Only bool, integer (8 to 64 bit, signed and unsigned) and float16/32/64 arrays are
accepted: object arrays (which numpy would pickle), strings, structured and complex
dtypes are refused, so loading a BLOB never runs code.

>>> import numpy as np, sqlite3, sqlite_quiver
>>> conn = sqlite3.connect(":memory:", detect_types=sqlite3.PARSE_DECLTYPES)
>>> sqlite_quiver.load(conn)
>>> sqlite_quiver.register_numpy(conn)
>>> _ = conn.execute("create table t (a NDARRAY)")
>>> _ = conn.execute("insert into t values (?)", [np.arange(6, dtype=np.int16).reshape(2, 3)])
>>> conn.execute("select nd_shape(a), nd_dtype(a), nd_get(a, 1, 2) from t").fetchone()
('[2,3]', 'int16', 5)
>>> conn.execute("select a from t").fetchone()[0].dtype
dtype('int16')
"""

from __future__ import annotations

import io
import sqlite3
from typing import Any

# numpy is imported where it is used, so `import sqlite_quiver` stays light.
from . import serialize

__all__ = ["NDARRAY", "from_npy", "register_numpy", "to_npy", "unregister_numpy"]

#: The declared column type whose values the converter turns back into arrays.
NDARRAY = "NDARRAY"

_KINDS = "biuf"


def _check_dtype(dtype: Any) -> None:
    if dtype.kind not in _KINDS or dtype.fields is not None or dtype.itemsize > 8:
        raise TypeError(
            f"a {dtype} array cannot be stored as a .npy BLOB: only bool, int8..int64, "
            "uint8..uint64 and float16/32/64 arrays are supported (object, string, "
            "structured, complex and long-double arrays are refused)"
        )


def to_npy(array: Any) -> bytes:
    """``.npy`` bytes of ``array`` (anything ``numpy.asarray`` takes), as ``numpy.save``
    writes them.

    >>> import numpy as np
    >>> to_npy(np.array([1, 2], dtype=np.uint8))[:6]
    b'\\x93NUMPY'
    """
    import numpy as np  # on use: `import sqlite_quiver` stays light

    arr = np.asarray(array)
    _check_dtype(arr.dtype)
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def from_npy(blob: bytes) -> Any:
    """The numpy array in a ``.npy`` BLOB (never unpickles).

    >>> import numpy as np
    >>> from_npy(to_npy(np.eye(2))).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    import numpy as np  # on use: `import sqlite_quiver` stays light

    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected a .npy BLOB (bytes), got {type(blob).__name__}")
    data = bytes(blob)
    if not data.startswith(b"\x93NUMPY"):
        raise ValueError(
            f"not a .npy array (expected the magic \\x93NUMPY, got a BLOB of {len(data)} bytes)"
        )
    arr = np.load(io.BytesIO(data), allow_pickle=False)
    _check_dtype(arr.dtype)
    return arr


def register_numpy(conn_or_module: Any = sqlite3) -> None:
    """Bind numpy arrays as ``.npy`` BLOBs and read columns declared ``NDARRAY`` back
    as arrays (with ``detect_types=sqlite3.PARSE_DECLTYPES``).

    ``conn_or_module`` is the ``sqlite3`` module or a ``sqlite3.Connection``; either way
    the registration is global to the ``sqlite3`` module, because that is where sqlite3
    keeps adapters and converters. From then on EVERY numpy array parameter binds as a
    ``.npy`` BLOB, including 1-D float32 arrays that ``sqlite_quiver.load`` otherwise
    binds as raw float32 vector BLOBs. Vector functions take them through ``vec_f32(?)``
    (which accepts a 1-D ``.npy``), or pass ``serialize_float32(a)`` explicitly.

    >>> import numpy as np
    >>> register_numpy()
    >>> sqlite3.adapters[(np.ndarray, sqlite3.PrepareProtocol)]  # doctest: +ELLIPSIS
    <function ...>
    """
    import numpy as np  # on use: `import sqlite_quiver` stays light

    if conn_or_module is not sqlite3 and not isinstance(conn_or_module, sqlite3.Connection):
        raise TypeError(
            "register_numpy takes the sqlite3 module or a sqlite3.Connection, got "
            f"{type(conn_or_module).__name__} (for apsw, bind to_npy(array) and read "
            "with from_npy(blob))"
        )
    serialize.set_ndarray_encoder(to_npy)
    sqlite3.register_adapter(np.ndarray, serialize._adapt_ndarray)
    sqlite3.register_converter(NDARRAY, from_npy)


def unregister_numpy() -> None:
    """Undo :func:`register_numpy`: numpy arrays bind as vector BLOBs again (1-D
    float32/int8 only) and ``NDARRAY`` columns come back as bytes.

    >>> unregister_numpy()
    """
    import numpy as np  # on use: `import sqlite_quiver` stays light

    serialize.set_ndarray_encoder(None)
    sqlite3.register_adapter(np.ndarray, serialize._adapt_ndarray)
    sqlite3.converters.pop(NDARRAY, None)
