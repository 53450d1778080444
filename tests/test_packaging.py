"""The installed package: the plain extension inside it, `quiver path`, import cost."""

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import sqlite_quiver

PLAIN_NAMES = ("libquiver.so", "libquiver.dylib", "quiver.dll")


def run_python(code):
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_plain_extension_is_beside_the_module():
    path = sqlite_quiver.extension_path()
    assert os.path.isfile(path)
    assert os.path.basename(path) in PLAIN_NAMES
    assert os.path.dirname(path) == os.path.dirname(os.path.abspath(sqlite_quiver.__file__))
    # A separate library from the Python module (which needs libpython's symbols).
    assert not os.path.samefile(path, sqlite_quiver.loadable_path())


def test_plain_extension_loads_into_apsw_without_the_module():
    # A fresh process that never imports sqlite_quiver's module: only the plain library.
    out = run_python(
        f"""
        import apsw, sys
        conn = apsw.Connection(":memory:")
        conn.enable_load_extension(True)
        conn.load_extension({sqlite_quiver.extension_path()!r})
        print(conn.execute("select vec_distance_l2('[1,2]', '[4,6]'), vec_version()").fetchall())
        assert "sqlite_quiver" not in sys.modules
        """
    )
    assert out.strip() == f"[(5.0, 'v0.1.9-quiver.{sqlite_quiver.__version__}')]"


@pytest.mark.skipif(
    sys.platform in ("darwin", "win32"),
    reason="macOS's sqlite3 shell cannot .load extensions and Windows has none; "
    "the apsw test above loads the same file",
)
def test_sqlite3_shell_loads_plain_extension():
    shell = shutil.which("sqlite3")
    assert shell, "the sqlite3 shell is needed for this test (Debian: apt-get install sqlite3)"
    proc = subprocess.run(
        [
            shell,
            ":memory:",
            f".load {sqlite_quiver.extension_path()}",
            "select vec_distance_l2('[1,2]', '[4,6]');",
            "select vec_to_json(vec_normalize('[2,3,1,-4]'));",
            "select count(*) from vec_each(vec_bit(X'FF'));",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["5.0", "[0.365148,0.547723,0.182574,-0.730297]", "8"]


def test_quiver_path_command_prints_the_plain_extension():
    proc = subprocess.run(
        [sys.executable, "-m", "sqlite_quiver.cli", "path"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == sqlite_quiver.extension_path() + "\n"


def test_quiver_console_script_is_registered():
    scripts = importlib.metadata.distribution("sqlite-quiver").entry_points
    quiver = [ep for ep in scripts if ep.group == "console_scripts" and ep.name == "quiver"]
    assert [ep.value for ep in quiver] == ["sqlite_quiver.cli:main"]


def test_import_does_not_load_heavy_packages():
    out = run_python(
        """
        import json, sys
        import sqlite_quiver
        heavy = ("numpy", "pyarrow", "onnxruntime", "sklearn", "onnx", "skl2onnx",
                 "pandas", "polars")
        print(json.dumps([m for m in heavy if m in sys.modules]))
        """
    )
    assert json.loads(out) == []


def test_heavy_packages_load_on_use():
    out = run_python(
        """
        import json, sys
        import sqlite_quiver
        conn = sqlite_quiver.connect_with_vec()
        conn.execute("create virtual table t using vec0(emb float[2])")
        sqlite_quiver.insert_vectors(conn, "t", [[1, 0], [0, 1]])
        ids, dist = sqlite_quiver.search(conn, "t", [[1, 0]], k=1)
        print(json.dumps([ids.tolist(), "numpy" in sys.modules, "pyarrow" in sys.modules]))
        """
    )
    assert json.loads(out) == [[[1]], True, False]
