"""``_quiver.pyi`` against the compiled module ``sqlite_quiver._quiver``, in the spirit of
mypy's stubtest: the same public names, the same kind of object behind each (variable,
function, class, property), and for every function and method the same parameters
(names, order, kinds, defaults). The runtime side is read with ``inspect.signature``
from the ``__text_signature__`` PyO3 generates; the stub is parsed with ``ast``."""

from __future__ import annotations

import ast
import builtins
import inspect
from pathlib import Path
from typing import Any, List, NamedTuple, Optional

import pytest

import sqlite_quiver
from sqlite_quiver import _quiver

STUB = Path(sqlite_quiver.__file__).with_name("_quiver.pyi")

# Attributes every extension module or class has, which a stub does not declare.
MODULE_ATTRS = {"__all__", "__doc__", "__file__", "__loader__", "__name__", "__package__"}
MODULE_ATTRS |= {"__spec__", "__builtins__", "__cached__", "__path__"}
CLASS_ATTRS = {"__doc__", "__module__", "__dict__", "__weakref__", "__qualname__"}
# abi3 builds expose the type's tp_new slot as `__new__` on classes without a Python
# constructor (calling it raises TypeError); it is not part of the stubbed API.
CLASS_ATTRS |= {"__new__"}


class _NoDefault:
    def __repr__(self) -> str:
        return "<no default>"


NO_DEFAULT: Any = _NoDefault()
ANY_DEFAULT: Any = Ellipsis  # `= ...` in a stub: some default, value not stated


class Param(NamedTuple):
    name: str
    kind: inspect._ParameterKind
    default: Any


def stub_params(fn: ast.FunctionDef) -> List[Param]:
    """The parameters of a stub function, in order."""
    a = fn.args
    positional = [*a.posonlyargs, *a.args]
    defaults = [NO_DEFAULT] * (len(positional) - len(a.defaults)) + list(a.defaults)
    out = []
    for i, (arg, default) in enumerate(zip(positional, defaults)):
        kind = (
            inspect.Parameter.POSITIONAL_ONLY
            if i < len(a.posonlyargs)
            else inspect.Parameter.POSITIONAL_OR_KEYWORD
        )
        out.append(Param(arg.arg, kind, _literal(default)))
    if a.vararg is not None:
        out.append(Param(a.vararg.arg, inspect.Parameter.VAR_POSITIONAL, NO_DEFAULT))
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        kind = inspect.Parameter.KEYWORD_ONLY
        out.append(Param(arg.arg, kind, NO_DEFAULT if default is None else _literal(default)))
    if a.kwarg is not None:
        out.append(Param(a.kwarg.arg, inspect.Parameter.VAR_KEYWORD, NO_DEFAULT))
    return out


def _literal(node: Any) -> Any:
    if node is NO_DEFAULT:
        return NO_DEFAULT
    return ast.literal_eval(node)


def runtime_params(obj: Any) -> List[Param]:
    """The parameters of a compiled function or method, in order."""
    sig = inspect.signature(obj)
    return [
        Param(p.name, p.kind, NO_DEFAULT if p.default is inspect.Parameter.empty else p.default)
        for p in sig.parameters.values()
    ]


def compare_params(where: str, stub: List[Param], runtime: List[Param]) -> List[str]:
    """What differs between two parameter lists (empty when they agree)."""
    if [p.name for p in stub] != [p.name for p in runtime]:
        return [
            f"{where}: parameters {[p.name for p in stub]} in the stub, "
            f"{[p.name for p in runtime]} at run time"
        ]
    errors = []
    for s, r in zip(stub, runtime):
        if s.kind != r.kind:
            errors.append(
                f"{where}: parameter {s.name!r} is {s.kind.description} in the stub, "
                f"{r.kind.description} at run time"
            )
        if s.default is ANY_DEFAULT and r.default is not NO_DEFAULT:
            continue
        if s.default is not r.default and s.default != r.default:
            errors.append(
                f"{where}: parameter {s.name!r} defaults to {s.default!r} in the stub, "
                f"{r.default!r} at run time"
            )
    return errors


def _is_property(fn: ast.FunctionDef) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "property" for d in fn.decorator_list)


def _declared(body: List[ast.stmt]) -> dict:
    """Names a stub body declares: functions, classes and annotated variables."""
    out: dict = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = node
    return out


def _public(name: str) -> bool:
    # `_Alias = ...` helpers of a stub are not part of the module; dunders are.
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def compare_class(stub: ast.ClassDef, cls: type) -> List[str]:
    where = cls.__name__
    declared = {n: v for n, v in _declared(stub.body).items() if _public(n)}
    present = {n for n in vars(cls) if n not in CLASS_ATTRS}
    errors = [f"{where}.{n}: at run time, missing from the stub" for n in present - set(declared)]
    errors += [f"{where}.{n}: in the stub, missing at run time" for n in set(declared) - present]
    for name in sorted(present & set(declared)):
        node, attr = declared[name], vars(cls)[name]
        is_getter = inspect.isdatadescriptor(attr) and not callable(attr)
        if not isinstance(node, ast.FunctionDef):
            errors.append(f"{where}.{name}: the stub declares no method or property")
        elif _is_property(node) != is_getter:
            kinds = ("a property", "a method")
            errors.append(
                f"{where}.{name}: {kinds[not _is_property(node)]} in the stub, "
                f"{kinds[not is_getter]} at run time"
            )
        elif not is_getter:
            # Both sides' first parameter is the instance (`$self` at run time).
            stub_p, run_p = stub_params(node)[1:], runtime_params(attr)[1:]
            errors += compare_params(f"{where}.{name}", stub_p, run_p)
    return errors


def stub_mismatches(stub_source: str, module: Any) -> List[str]:
    """Every disagreement between a stub's text and a compiled module."""
    declared = {n: v for n, v in _declared(ast.parse(stub_source).body).items() if _public(n)}
    present = {n for n in dir(module) if n not in MODULE_ATTRS}
    errors = [f"{n}: at run time, missing from the stub" for n in sorted(present - set(declared))]
    errors += [f"{n}: in the stub, missing at run time" for n in sorted(set(declared) - present)]
    for name in sorted(present & set(declared)):
        node, obj = declared[name], getattr(module, name)
        if isinstance(node, ast.ClassDef):
            if not isinstance(obj, type):
                errors.append(f"{name}: a class in the stub, a {type(obj).__name__} at run time")
            else:
                errors += compare_class(node, obj)
        elif isinstance(node, ast.FunctionDef):
            if isinstance(obj, type) or not callable(obj):
                errors.append(f"{name}: a function in the stub, {type(obj).__name__} at run time")
            else:
                errors += compare_params(name, stub_params(node), runtime_params(obj))
        else:
            expected = _builtin_type(node.annotation)
            if callable(obj) or (expected is not None and not isinstance(obj, expected)):
                errors.append(
                    f"{name}: {ast.unparse(node.annotation)} in the stub, "
                    f"{type(obj).__name__} at run time"
                )
    return errors


def _builtin_type(annotation: ast.expr) -> Optional[type]:
    if isinstance(annotation, ast.Name):
        found = getattr(builtins, annotation.id, None)
        if isinstance(found, type):
            return found
    return None


@pytest.fixture(scope="module")
def stub_source() -> str:
    return STUB.read_text(encoding="utf-8")


def test_stub_matches_compiled_module(stub_source):
    assert stub_mismatches(stub_source, _quiver) == []


# The checker itself: each edit of the real stub must be reported.
@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("def kernels() -> str: ...\n", "", "kernels: at run time, missing from the stub"),
        (
            "def kernels() -> str: ...\n",
            "def kernels() -> str: ...\ndef kernel_names() -> str: ...\n",
            "kernel_names: in the stub, missing at run time",
        ),
        (
            "def unregister_arrow(conn: Any, name: str)",
            "def unregister_arrow(conn: Any, table: str)",
            "unregister_arrow: parameters ['conn', 'table'] in the stub, ['conn', 'name']",
        ),
        (
            "def unregister_arrow(conn: Any, name: str)",
            "def unregister_arrow(name: str, conn: Any)",
            "unregister_arrow: parameters ['name', 'conn'] in the stub, ['conn', 'name']",
        ),
        (
            'mode: str = "append"',
            'mode: str = "create"',
            "insert_arrow: parameter 'mode' defaults to 'create' in the stub, 'append'",
        ),
        (
            "data: Any, *, timestamps",
            "data: Any, timestamps",
            "register_arrow: parameter 'timestamps' is positional or keyword in the stub, "
            "keyword-only at run time",
        ),
        (
            "def host_sqlite_version_number(host_library: str)",
            "def host_sqlite_version_number(host_library: str = 'x')",
            "host_sqlite_version_number: parameter 'host_library' defaults to 'x' in the stub",
        ),
        ("VEC_VERSION: str", "VEC_VERSION: int", "VEC_VERSION: int in the stub, str at run time"),
        (
            "    def to_polars(self) -> Any: ...\n",
            "",
            "ArrowResult.to_polars: at run time, missing from the stub",
        ),
        (
            "    def to_polars(self) -> Any: ...\n",
            "    def to_polars(self, lazy: bool) -> Any: ...\n",
            "ArrowResult.to_polars: parameters ['lazy'] in the stub, [] at run time",
        ),
        (
            "    @property\n    def num_rows(self) -> int: ...\n",
            "    def num_rows(self) -> int: ...\n",
            "ArrowResult.num_rows: a method in the stub, a property at run time",
        ),
        (
            "requested_schema: Any = None",
            "requested_schema: Any",
            "ArrowResult.__arrow_c_stream__: parameter 'requested_schema' defaults to "
            "<no default> in the stub, None at run time",
        ),
    ],
)
def test_checker_reports_a_wrong_stub(stub_source, old, new, expected):
    assert stub_source.count(old) == 1, f"the stub no longer contains {old!r}"
    errors = stub_mismatches(stub_source.replace(old, new), _quiver)
    assert any(e.startswith(expected) for e in errors), errors
