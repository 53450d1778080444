"""The examples in the docstrings of every module of the installed package run and print
what they show, and every public function has one."""

from __future__ import annotations

import doctest
import importlib
import inspect
import io
import pkgutil
import sqlite3

import pytest

import sqlite_quiver
from sqlite_quiver import serialize

# libquiver.so beside the module is the plain SQLite extension, not a Python module.
NOT_PYTHON = {"libquiver"}
MODULES = ["sqlite_quiver"] + [
    f"sqlite_quiver.{m.name}"
    for m in pkgutil.iter_modules(sqlite_quiver.__path__)
    if m.name not in NOT_PYTHON
]
# The compiled module documents its functions; its examples live in the Python wrappers.
WITHOUT_EXAMPLES = {"sqlite_quiver._quiver"}
# Modules of optional extras, checked where the extra is installed (CI installs them).
NEEDS = {"sqlite_quiver.ray": "ray.data", "sqlite_quiver.dask": "dask.dataframe"}


def import_module(name: str):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    return importlib.import_module(name)


@pytest.fixture(autouse=True)
def restore_sqlite3_adapters():
    """The examples of register_numpy change process-wide sqlite3 state: put it back."""
    adapters, converters = dict(sqlite3.adapters), dict(sqlite3.converters)
    encoder = serialize._NDARRAY_ENCODER
    yield
    sqlite3.adapters.clear()
    sqlite3.adapters.update(adapters)
    sqlite3.converters.clear()
    sqlite3.converters.update(converters)
    serialize.set_ndarray_encoder(encoder)


def test_every_module_is_listed():
    assert {"sqlite_quiver.arrow", "sqlite_quiver.vectors", "sqlite_quiver.serialize"} <= set(
        MODULES
    )


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report = io.StringIO()
    for test in doctest.DocTestFinder().find(module):
        runner.run(test, out=report.write)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, report.getvalue()
    if name not in WITHOUT_EXAMPLES:
        assert result.attempted > 0, f"{name} has no docstring examples"


@pytest.mark.parametrize("name", sorted(set(MODULES) - WITHOUT_EXAMPLES))
def test_public_functions_have_examples(name):
    module = import_module(name)
    missing = [
        fname
        for fname, obj in vars(module).items()
        if inspect.isfunction(obj)
        and obj.__module__ == name
        and not fname.startswith("_")
        and ">>>" not in (obj.__doc__ or "")
    ]
    assert missing == [], f"{name}: public functions without a docstring example"
