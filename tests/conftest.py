import builtins
import sqlite3

import numpy as np
import pytest

import sqlite_quiver


@pytest.fixture
def conn():
    c = sqlite3.connect(":memory:")
    sqlite_quiver.load(c)
    yield c
    c.close()


@pytest.fixture
def no_tqdm(monkeypatch):
    """Imports of tqdm fail, as where it is not installed (progress bars fall back to
    a line on stderr)."""
    real_import = builtins.__import__

    def without_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_tqdm)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def one(conn, sql, params=()):
    """The single value a query returns."""
    rows = conn.execute(sql, params).fetchall()
    assert len(rows) == 1 and len(rows[0]) == 1, rows
    return rows[0][0]


def f32(blob):
    return np.frombuffer(blob, dtype="<f4")
