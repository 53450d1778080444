import subprocess
import sys

from sqlite_quiver import cli


def test_demo_runs(capsys):
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "[0.365148,0.547723,0.182574,-0.730297]" in out
    assert "doc-7" in out
    assert "OperationalError: vec_distance_l2: expected two vectors" in out


def test_sql_command(tmp_path, capsys):
    db = str(tmp_path / "a.db")
    assert cli.main(["sql", db, "create table t(v); insert into t values (vec_f32('[3,4]'))"]) == 0
    capsys.readouterr()
    assert cli.main(["sql", db, "select vec_distance_l2(v, '[0,0]') as d from t"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].strip() == "d" and out[2].strip() == "5"


def test_sql_error_exit_code(tmp_path, capsys):
    assert cli.main(["sql", ":memory:", "select vec_f32('[1,')"]) == 1
    assert "vec_f32: argument 1" in capsys.readouterr().err


def test_console_script_help():
    proc = subprocess.run(
        [sys.executable, "-m", "sqlite_quiver.cli", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert "demo" in proc.stdout and "sql" in proc.stdout
