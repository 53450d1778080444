"""Checks an installed wheel where the test extras cannot be installed (musllinux: no
onnxruntime, pyarrow or scikit-learn wheels there): loading, vectors, the bulk API, the
plain extension in the sqlite3 shell and the CLI. Run from outside the repository:
``python .ci/smoke.py``. Prints one line per check and the count at the end."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from typing import Callable, List

import sqlite_quiver

CHECKS: List[Callable[[], None]] = []


def check(fn: Callable[[], None]) -> Callable[[], None]:
    CHECKS.append(fn)
    return fn


@check
def installed_copy() -> None:
    assert "site-packages" in sqlite_quiver.__file__, sqlite_quiver.__file__


@check
def scalar_functions() -> None:
    conn = sqlite_quiver.connect_with_vec()
    row = conn.execute("select vec_distance_l2('[1,2]', '[4,6]'), vec_length('[1,2,3]')")
    assert row.fetchone() == (5.0, 3)


@check
def vec0_knn_and_bulk() -> None:
    conn = sqlite_quiver.connect_with_vec()
    conn.execute("create virtual table t using vec0(emb float[2], genre text)")
    sqlite_quiver.insert_vectors(conn, "t", [[0, 0], [1, 0], [5, 5]], genre=["a", "b", "a"])
    ids, _ = sqlite_quiver.search(conn, "t", [[0.9, 0]], k=1, genre="a")
    assert ids.tolist() == [[1]], ids
    rows = conn.execute("select rowid from t where emb match '[0.9,0]' and k = 2").fetchall()
    assert rows == [(2,), (1,)], rows


@check
def plain_extension_in_sqlite3_shell() -> None:
    path = sqlite_quiver.extension_path()
    assert os.path.isfile(path), path
    shell = shutil.which("sqlite3")
    assert shell, "install the sqlite3 shell"
    out = subprocess.run(
        [shell, ":memory:", f".load {path}", "select vec_distance_l2('[1,2]', '[4,6]');"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "5.0", out


@check
def cli() -> None:
    for args, expect in ((["path"], sqlite_quiver.extension_path()), (["--version"], "")):
        proc = subprocess.run(
            [sys.executable, "-m", "sqlite_quiver.cli", *args], capture_output=True, text=True
        )
        assert proc.returncode == 0 and expect in proc.stdout, proc


def main() -> int:
    failed = 0
    for fn in CHECKS:
        try:
            fn()
            print(f"ok   {fn.__name__}")
        except (AssertionError, sqlite3.Error, OSError, subprocess.SubprocessError) as exc:
            failed += 1
            print(f"FAIL {fn.__name__}: {exc!r}")
    print(f"{len(CHECKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
