"""Loading into stdlib sqlite3 (with and without enable_load_extension) and apsw."""

import os
import sqlite3
import subprocess
import sys
import textwrap

import numpy
import pytest

import sqlite_quiver

# Where this sqlite_quiver and its dependency numpy live, for other interpreters.
PACKAGE_PARENTS = os.pathsep.join(
    dict.fromkeys(os.path.dirname(os.path.dirname(m.__file__)) for m in (sqlite_quiver, numpy))
)
SYSTEM_PYTHON = "/usr/bin/python3.11"


def run_python(code, python=sys.executable):
    """Run `code` in a fresh interpreter that imports this sqlite_quiver."""
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE_PARENTS + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [python, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def assert_sql_load_extension_disabled(conn):
    with pytest.raises(sqlite3.OperationalError, match="not authorized"):
        conn.execute("select load_extension('nonexistent')").fetchall()


def test_load_into_stdlib_connection():
    conn = sqlite3.connect(":memory:")
    sqlite_quiver.load(conn)
    assert conn.execute("select vec_length('[1,2,3]')").fetchone() == (3,)
    assert_sql_load_extension_disabled(conn)


def test_loading_twice_is_harmless():
    conn = sqlite3.connect(":memory:")
    sqlite_quiver.load(conn)
    sqlite_quiver.load(conn)
    assert conn.execute("select vec_distance_l2('[0]', '[2]')").fetchone() == (2.0,)
    assert_sql_load_extension_disabled(conn)


def test_connect_with_vec_passes_kwargs(tmp_path):
    path = tmp_path / "x.db"
    conn = sqlite_quiver.connect_with_vec(str(path), isolation_level=None)
    assert conn.isolation_level is None
    conn.execute("create table t(v)")
    conn.execute("insert into t values (vec_f32('[1,2]'))")
    conn.close()
    # The file stays a plain SQLite database.
    plain = sqlite3.connect(str(path))
    assert plain.execute("select length(v) from t").fetchone() == (8,)


def test_closed_connection_is_a_value_error():
    conn = sqlite3.connect(":memory:")
    conn.close()
    with pytest.raises(ValueError, match="closed"):
        sqlite_quiver.load(conn)


@pytest.mark.parametrize("obj", [None, 42, "db.sqlite", object()])
def test_not_a_connection_is_a_type_error(obj):
    with pytest.raises(TypeError, match="expected a sqlite3.Connection or an apsw.Connection"):
        sqlite_quiver.load(obj)


def test_load_extension_bad_path_is_a_clear_error():
    conn = sqlite3.connect(":memory:")
    with pytest.raises(sqlite3.OperationalError, match="nope"):
        sqlite_quiver.load_extension(conn, "/nonexistent/nope.so")
    assert_sql_load_extension_disabled(conn)
    with pytest.raises(TypeError):
        sqlite_quiver.load_extension(conn, 42)


def test_load_other_extension_sqlite_vec():
    sqlite_vec = pytest.importorskip("sqlite_vec")
    conn = sqlite3.connect(":memory:")
    sqlite_quiver.load_extension(conn, sqlite_vec.loadable_path())
    assert conn.execute("select vec_version()").fetchone() == ("v0.1.9",)
    assert_sql_load_extension_disabled(conn)


def test_loadable_path_is_the_module_file():
    path = sqlite_quiver.loadable_path()
    assert os.path.isfile(path)
    assert path == sqlite_quiver._quiver.__file__


def test_default_python_has_no_enable_load_extension_yet_loads():
    # This machine's CPython is built without it: the C route must still work.
    out = run_python(
        """
        import sqlite3, sqlite_quiver
        c = sqlite3.connect(":memory:")
        print(hasattr(c, "enable_load_extension"))
        sqlite_quiver.load(c)
        print(c.execute("select vec_distance_l2('[1,2]', '[4,6]')").fetchone()[0])
        """
    )
    assert out.split()[-1] == "5.0"


@pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason="Debian python3.11 not installed")
@pytest.mark.skipif(
    sys.version_info[:2] != (3, 11),
    reason="the Debian python3.11 runs with this interpreter's site-packages, whose compiled "
    "dependencies (numpy) are built for another Python version; runs under CPython 3.11",
)
def test_debian_python_with_enable_load_extension():
    out = run_python(
        """
        import sqlite3, sqlite_quiver
        c = sqlite3.connect(":memory:")
        assert hasattr(c, "enable_load_extension")
        sqlite_quiver.load(c)
        print(c.execute("select vec_to_json(vec_normalize('[3,4]'))").fetchone()[0])
        try:
            c.execute("select load_extension('x')")
        except sqlite3.OperationalError as e:
            print("sql-load:", e)
        """,
        python=SYSTEM_PYTHON,
    )
    assert "[0.600000,0.800000]" in out
    assert "sql-load: not authorized" in out


@pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason="Debian python3.11 not installed")
@pytest.mark.skipif(
    sys.version_info[:2] != (3, 11),
    reason="the Debian python3.11 runs with this interpreter's site-packages, whose compiled "
    "dependencies (numpy) are built for another Python version; runs under CPython 3.11",
)
def test_fallback_through_python_enable_load_extension():
    # Where the C route is unavailable, a Python with enable_load_extension is used,
    # and extension loading is switched off again afterwards.
    out = run_python(
        """
        import sqlite3, sqlite_quiver
        from sqlite_quiver import _loader
        def no_c_route(*args):
            raise sqlite3.OperationalError("the SQLite library does not export sqlite3_load_extension")
        _loader._quiver.load_extension_into = no_c_route
        c = sqlite3.connect(":memory:")
        sqlite_quiver.load(c)
        print(c.execute("select vec_length('[1,2]')").fetchone()[0])
        try:
            c.execute("select load_extension('x')")
        except sqlite3.OperationalError as e:
            print("sql-load:", e)
        """,
        python=SYSTEM_PYTHON,
    )
    assert out.split("\n")[0] == "2"
    assert "sql-load: not authorized" in out


def test_no_route_names_what_to_use():
    out = run_python(
        """
        import sqlite3, sqlite_quiver
        from sqlite_quiver import _loader
        def no_c_route(*args):
            raise sqlite3.OperationalError("the SQLite library does not export sqlite3_load_extension")
        _loader._quiver.load_extension_into = no_c_route
        c = sqlite3.connect(":memory:")
        assert not hasattr(c, "enable_load_extension")
        try:
            sqlite_quiver.load(c)
        except sqlite3.OperationalError as e:
            print(e)
        """
    )
    assert "apsw" in out and "enable_load_extension" in out


def test_apsw_connection():
    pytest.importorskip("apsw")
    out = run_python(
        """
        import apsw, sqlite_quiver
        c = apsw.Connection(":memory:")
        sqlite_quiver.load(c)
        sqlite_quiver.load(c)
        print(c.execute("select vec_distance_dot('[1,2]', '[3,4]')").fetchall()[0][0])
        try:
            c.execute("select load_extension('x')").fetchall()
        except apsw.SQLError as e:
            print("sql-load:", e)
        """
    )
    assert out.split("\n")[0] == "-11.0"
    assert "not authorized" in out


def test_two_sqlite_libraries_in_one_process_are_refused_clearly():
    pytest.importorskip("apsw")
    out = run_python(
        """
        import sqlite3, apsw, sqlite_quiver
        sqlite_quiver.load(sqlite3.connect(":memory:"))
        try:
            sqlite_quiver.load(apsw.Connection(":memory:"))
        except Exception as e:
            print(type(e).__name__, e)
        """
    )
    assert "already bound to a different SQLite library" in out


@pytest.mark.parametrize("bound_first", ["stdlib", "apsw"])
def test_a_connection_of_the_other_sqlite_library_is_an_error_not_a_crash(bound_first):
    """A connection sqlite-quiver was never loaded into, of another SQLite library than
    the one it is bound to: every Python entry point refuses it (it used to crash)."""
    pytest.importorskip("apsw")
    out = run_python(
        f"""
        import sqlite3, apsw, numpy as np, pyarrow as pa, sqlite_quiver
        std, other = sqlite3.connect(":memory:"), apsw.Connection(":memory:")
        if {bound_first!r} == "apsw":
            std, other = other, std
        sqlite_quiver.load(std)
        print(apsw.sqlite_lib_version() != sqlite3.sqlite_version)
        calls = [
            lambda: sqlite_quiver.query_arrow(other, "select 1"),
            lambda: sqlite_quiver.register_arrow(other, "t", pa.table({{"x": [1]}})),
            lambda: sqlite_quiver.insert_arrow(other, "t", pa.table({{"x": [1]}}), "create"),
            lambda: sqlite_quiver.insert_vectors(other, "t", np.ones((1, 2), np.float32)),
            lambda: sqlite_quiver.search(other, "t", np.ones((1, 2), np.float32), k=1),
            lambda: sqlite_quiver.vectors.cache_bytes(other, "t"),
        ]
        for call in calls:
            try:
                call()
                print("no error")
            except ValueError as e:
                print(e)
        print(std.execute("select vec_length('[1,2]')").fetchall())
        """
    )
    different, *errors, last = out.splitlines()
    assert len(errors) == 6 and last == "[(2,)]", out
    for message in errors:
        assert message.startswith("sqlite-quiver is not loaded into this connection"), out
        if different == "True":
            assert "another SQLite library than the one sqlite-quiver is bound to" in message
