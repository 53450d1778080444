"""Hostile models (issue 16, item 3): models that reference files, and declared input
shapes that would size huge allocations, refused at save time and at load time (a
`quiver_models` row written with plain sqlite3, with a correct sha256)."""

import hashlib
import sqlite3

import numpy as np
import pytest
from hostile_child import run_child

import sqlite_quiver
from sqlite_quiver import ml

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _identity_model(width):
    """y = x, x declared [None, width]."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, width])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, width])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return model.SerializeToString()


def _add_model(width=2, external=None):
    """y = x + w, x of shape [None, width]; w stored in file `external` if given."""
    w = numpy_helper.from_array(np.ones(2, dtype=np.float32), "w")
    if external is not None:
        w.ClearField("raw_data")
        w.data_location = TensorProto.EXTERNAL
        for key, value in [("location", external), ("offset", "0"), ("length", "8")]:
            entry = w.external_data.add()
            entry.key, entry.value = key, value
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, width])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, width])
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return model.SerializeToString()


def _store_raw(conn, name, data):
    """Overwrites model `name` version 1 as a hostile file would: new bytes, and the
    sha256 that matches them."""
    conn.execute(
        "update quiver_models set model = ?, sha256 = ? where name = ?",
        (data, hashlib.sha256(data).hexdigest(), name),
    )
    conn.commit()
    ml.configure(threads=1)  # drops cached sessions: the next call loads from the row


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """The working directory is tmp_path, holding the user's 'secret' (8 bytes that
    read as two float32 values)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "secret.txt").write_bytes(np.array([1234.5, 6789.0], np.float32).tobytes())
    return tmp_path


def test_external_data_is_refused_at_save(conn, in_tmp):
    with pytest.raises(ValueError, match='tensor "w" keeps its data in an external file'):
        ml.save_model(conn, "evil", _add_model(external="secret.txt"))


def test_external_data_is_refused_at_load(in_tmp):
    """A stored model with external data used to return the file's bytes."""
    conn = sqlite3.connect(in_tmp / "m.db")
    sqlite_quiver.load(conn)
    ml.save_model(conn, "evil", _add_model())
    assert conn.execute("select ml_predict('evil', '[0, 0]')").fetchone() is not None
    _store_raw(conn, "evil", _add_model(external="secret.txt"))
    with pytest.raises(sqlite3.OperationalError, match="keeps its data in an external file"):
        conn.execute("select ml_predict('evil', '[0, 0]')").fetchone()
    with pytest.raises(sqlite3.OperationalError, match="external file"):
        conn.execute("select * from ml_predict_batch('evil', 'select 1, 0.0, 0.0')").fetchall()
    conn.close()


@pytest.mark.parametrize("width", [1 << 40, 1 << 62, (1 << 20) + 1])
def test_huge_declared_input_is_refused(tmp_path, width):
    """[None, 2**40] aborted the process (save_model and ml_predict); 2**62 panicked."""
    db = tmp_path / "m.db"
    conn = sqlite3.connect(db)
    sqlite_quiver.load(conn)
    ml.save_model(conn, "wide", _add_model())
    _store_raw(conn, "wide", _identity_model(width))
    conn.close()
    model_path = tmp_path / "wide.onnx"
    model_path.write_bytes(_identity_model(width))
    steps = run_child(
        f"""
        import sqlite3
        from sqlite_quiver import ml
        conn = sqlite3.connect({str(db)!r})
        sqlite_quiver.load(conn)
        step(lambda: ml.save_model(conn, "w2", open({str(model_path)!r}, "rb").read()))
        step(lambda: conn.execute("select ml_predict('wide', '[0, 0]')").fetchone())
        """
    )
    assert len(steps) == 2, steps
    for s in steps:
        assert f"declares {width} features, more than the 1048576 supported" in s["error"], s


def _loop_model(trips):
    """y = x after a Loop of `trips` iterations that does nothing useful."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Identity", ["v_in"], ["v_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [None, 2]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [None, 2]),
        ],
    )
    trip = numpy_helper.from_array(np.array(trips, dtype=np.int64), "trip")
    cond = numpy_helper.from_array(np.array(True), "cond")
    graph = helper.make_graph(
        [helper.make_node("Loop", ["trip", "cond", "x"], ["y"], body=body)],
        "g",
        [x],
        [y],
        [trip, cond],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return model.SerializeToString()


def test_time_limit_stops_a_runaway_model(tmp_path):
    """A Loop with 10**15 trips never returned; with max_run_seconds it is stopped."""
    db = tmp_path / "m.db"
    conn = sqlite3.connect(db)
    sqlite_quiver.load(conn)
    ml.save_model(conn, "slow", _loop_model(3))
    assert conn.execute("select ml_predict('slow', '[1, 2]')").fetchone() == ("[1.0,2.0]",)
    _store_raw(conn, "slow", _loop_model(10**15))
    conn.close()
    steps = run_child(
        f"""
        import sqlite3, time
        from sqlite_quiver import ml
        ml.configure(max_run_seconds=0.5)
        conn = sqlite3.connect({str(db)!r})
        sqlite_quiver.load(conn)
        t0 = time.monotonic()
        step(lambda: conn.execute("select ml_predict('slow', '[1, 2]')").fetchone())
        step(lambda: time.monotonic() - t0 < 60)
        step(lambda: ml.settings()["max_run_seconds"])
        ml.configure(max_run_seconds=0)
        step(lambda: ml.settings()["max_run_seconds"])
        """,
        timeout=120,
    )
    assert "ran longer than the time limit of 0.500 s" in steps[0]["error"], steps
    assert steps[1:] == [{"ok": True}, {"ok": 0.5}, {"ok": None}]
    with pytest.raises(ValueError, match="non-negative number of seconds"):
        ml.configure(max_run_seconds=-1)


def test_interrupt_stops_a_runaway_model(tmp_path):
    """conn.interrupt() stops a model run (SQLite 3.41+ reports interrupts to the
    watchdog; apsw bundles a new SQLite). No time limit is set."""
    apsw = pytest.importorskip("apsw")
    if apsw.sqlite_lib_version() < "3.41":
        pytest.fail(f"apsw bundles SQLite {apsw.sqlite_lib_version()}, expected 3.41 or newer")
    db = tmp_path / "m.db"
    conn = sqlite3.connect(db)
    sqlite_quiver.load(conn)
    ml.save_model(conn, "slow", _loop_model(3))
    _store_raw(conn, "slow", _loop_model(10**15))
    conn.close()
    steps = run_child(
        f"""
        import apsw, threading, time
        from sqlite_quiver import ml
        conn = apsw.Connection({str(db)!r})
        sqlite_quiver.load(conn)
        step(lambda: ml.settings()["max_run_seconds"])
        threading.Timer(0.5, conn.interrupt).start()
        t0 = time.monotonic()
        for sql in ("select ml_predict('slow', '[1, 2]')",
                    "select * from ml_predict_batch('slow', 'select 1, 1.0, 2.0')"):
            step(lambda: conn.execute(sql).fetchall())
            step(lambda: time.monotonic() - t0 < 60)
            threading.Timer(0.5, conn.interrupt).start()
            t0 = time.monotonic()
        """,
        timeout=150,
    )
    assert steps[0] == {"ok": None}, steps
    for i in (1, 3):
        assert "interrupted" in steps[i]["error"], steps
        assert steps[i + 1] == {"ok": True}, steps


@pytest.mark.parametrize(
    ("column", "value"),
    [("version", "'one'"), ("sha256", "x'00'"), ("version", "2.5")],
)
def test_damaged_registry_row_names_the_registry(tmp_path, column, value):
    conn = sqlite3.connect(tmp_path / "m.db")
    sqlite_quiver.load(conn)
    ml.save_model(conn, "m", _identity_model(2))
    conn.execute(f"update quiver_models set {column} = {value}")
    conn.commit()
    ml.configure(threads=1)  # drops cached sessions: the next call reads the row
    with pytest.raises(sqlite3.OperationalError) as err:
        conn.execute("select ml_predict('m', '[1, 2]')").fetchone()
    assert "the model registry (quiver_models) is damaged" in str(err.value)
    assert "Invalid column type" not in str(err.value)
