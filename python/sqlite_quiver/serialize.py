"""Vector BLOBs from Python values, byte-for-byte as sqlite-vec writes them.

>>> import sqlite_quiver
>>> conn = sqlite_quiver.connect_with_vec()
>>> conn.execute("select vec_to_json(?)", [serialize_float32([0.5, -1])]).fetchone()
('[0.500000,-1.000000]',)
"""

from __future__ import annotations

import math
import struct
from typing import Any, Callable, Iterable, Optional, Sequence, Union

VectorLike = Union[Sequence[float], Iterable[float], Any]


def _as_numpy(vector: Any) -> Any:
    np = _numpy()
    if np is not None and isinstance(vector, np.ndarray):
        return vector
    return None


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:  # numpy is optional for these helpers
        return None
    return numpy


def serialize_float32(vector: VectorLike) -> bytes:
    """Little-endian float32 bytes of ``vector`` (a list or a 1-D numpy array).

    >>> serialize_float32([1.0, -2.0]).hex()
    '0000803f000000c0'
    """
    arr = _as_numpy(vector)
    if arr is not None:
        np = _numpy()
        if arr.ndim != 1:
            raise ValueError(f"expected a 1-D array, got shape {arr.shape}")
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"expected a numeric array, got dtype {arr.dtype}")
        out = arr.astype("<f4", copy=False)
        if not np.isfinite(out).all():
            bad = int(np.flatnonzero(~np.isfinite(out))[0])
            raise ValueError(f"expected finite values, got {out[bad]} at element {bad}")
        return out.tobytes()
    values = list(vector)
    for i, x in enumerate(values):
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise TypeError(f"element {i}: expected a number, got {type(x).__name__}")
        if not math.isfinite(x):
            raise ValueError(f"expected finite values, got {x} at element {i}")
    return struct.pack(f"<{len(values)}f", *values)


def serialize_int8(vector: VectorLike) -> bytes:
    """int8 bytes of ``vector`` (integers in -128..127).

    >>> serialize_int8([1, -1, 127]).hex()
    '01ff7f'
    """
    arr = _as_numpy(vector)
    if arr is not None:
        if arr.ndim != 1:
            raise ValueError(f"expected a 1-D array, got shape {arr.shape}")
        if arr.dtype.kind not in "iu":
            raise TypeError(f"expected an integer array, got dtype {arr.dtype}")
        if arr.size and (arr.min() < -128 or arr.max() > 127):
            raise ValueError("int8 vectors take integers in -128..127")
        return arr.astype("i1").tobytes()
    values = list(vector)
    for i, x in enumerate(values):
        if isinstance(x, bool) or not isinstance(x, int):
            raise TypeError(f"element {i}: expected an integer, got {type(x).__name__}")
        if not -128 <= x <= 127:
            raise ValueError(f"element {i} is {x}, outside the int8 range -128..127")
    return struct.pack(f"{len(values)}b", *values)


# How numpy array parameters bind: None binds 1-D float32/int8 arrays as sqlite-vec
# BLOBs (the default, set by sqlite_quiver.load); an encoder (arrays.to_npy, set by
# sqlite_quiver.register_numpy) binds every array through it. sqlite3 adapters are global,
# so this is too. The encoder is passed in so that this module imports nothing of arrays.py.
_NDARRAY_ENCODER: Optional[Callable[[Any], bytes]] = None


def set_ndarray_encoder(encoder: Optional[Callable[[Any], bytes]]) -> None:
    """Bind numpy array parameters through ``encoder`` (e.g. ``.npy`` bytes), or as
    vector BLOBs again with ``None``.

    >>> set_ndarray_encoder(lambda arr: b"npy")
    >>> import numpy as np
    >>> _adapt_ndarray(np.zeros(2))
    b'npy'
    >>> set_ndarray_encoder(None)
    """
    global _NDARRAY_ENCODER
    if encoder is not None and not callable(encoder):
        raise TypeError(f"expected a callable or None, got {type(encoder).__name__}")
    _NDARRAY_ENCODER = encoder


def _adapt_ndarray(arr: Any) -> bytes:
    if _NDARRAY_ENCODER is not None:
        return _NDARRAY_ENCODER(arr)
    if arr.ndim != 1:
        raise ValueError(f"only 1-D arrays bind as vectors, got shape {arr.shape}")
    if arr.dtype == "<f4" or arr.dtype == ">f4":
        return serialize_float32(arr)
    if arr.dtype == "i1":
        return arr.tobytes()
    raise TypeError(
        f"a {arr.dtype} array does not bind as a vector: convert it with "
        ".astype(numpy.float32) (or numpy.int8 with vec_int8(?))"
    )


def register_numpy_adapter() -> None:
    """Let numpy float32 (and int8) 1-D arrays be passed straight as SQL parameters
    (``sqlite_quiver.load`` does this).

    >>> import numpy as np, sqlite3
    >>> register_numpy_adapter()
    >>> conn = sqlite3.connect(":memory:")
    >>> conn.execute("select hex(?)", [np.array([1.0], dtype=np.float32)]).fetchone()
    ('0000803F',)
    """
    np = _numpy()
    if np is None:
        return
    import sqlite3

    sqlite3.register_adapter(np.ndarray, _adapt_ndarray)
