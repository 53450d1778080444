"""Vector BLOBs from Python values, byte-for-byte as sqlite-vec writes them."""

from __future__ import annotations

import math
import struct
from typing import Any, Iterable, Sequence, Union

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


# How numpy array parameters bind: "vector" (1-D float32/int8 arrays as sqlite-vec
# BLOBs, set by sqlite_quiver.load) or "npy" (every numeric array as a .npy BLOB, set by
# sqlite_quiver.register_numpy). sqlite3 adapters are global, so this is too.
_NDARRAY_MODE = "vector"


def set_ndarray_mode(mode: str) -> None:
    """Switch how numpy array parameters bind: ``"vector"`` or ``"npy"``."""
    global _NDARRAY_MODE
    if mode not in ("vector", "npy"):
        raise ValueError(f"expected 'vector' or 'npy', got {mode!r}")
    _NDARRAY_MODE = mode


def _adapt_ndarray(arr: Any) -> bytes:
    if _NDARRAY_MODE == "npy":
        from .arrays import to_npy

        return to_npy(arr)
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
    """Let numpy float32 (and int8) 1-D arrays be passed straight as SQL parameters."""
    np = _numpy()
    if np is None:
        return
    import sqlite3

    sqlite3.register_adapter(np.ndarray, _adapt_ndarray)
