"""arrow_ipc: Arrow IPC files (Feather v2) as tables, for hosts other than Python."""

import datetime as dt
import os
import sqlite3

import pyarrow as pa
import pyarrow.feather as feather
import pytest
from hostile_child import run_child

import sqlite_quiver


def sample():
    return pa.table(
        {
            "id": pa.array(range(1000), pa.int64()),
            "x": pa.array([i / 7 if i % 11 else None for i in range(1000)], pa.float64()),
            "s": pa.array([f"s{i % 13}" for i in range(1000)]),
            "cat": pa.array([["a", "b", None][i % 3] for i in range(1000)]).dictionary_encode(),
            "ts": pa.array(
                [dt.datetime(2024, 1, 1) + dt.timedelta(hours=i) for i in range(1000)],
                pa.timestamp("ms"),
            ),
            "v": pa.array([[i, -i] for i in range(1000)], pa.list_(pa.float32(), 2)),
            "l": pa.array([[i] * (i % 3) for i in range(1000)], pa.list_(pa.int32())),
        }
    )


@pytest.mark.parametrize("compression", ["uncompressed", "lz4"])
def test_ipc_file_matches_registered_table(conn, tmp_path, compression):
    t = sample()
    path = tmp_path / "data.arrow"
    feather.write_feather(t, path, compression=compression, chunksize=300)
    conn.execute(f"create virtual table f using arrow_ipc('{path}')")
    sqlite_quiver.register_arrow(conn, "r", t)
    for where in [
        "1",
        "id between 100 and 120",
        "x > 50",
        "x is null",
        "s = 's3'",
        "cat = 'b'",
        "cat is null",
        "rowid = 777",
    ]:
        a = conn.execute(f"select rowid, * from f where {where}").fetchall()
        b = conn.execute(f"select rowid, * from r where {where}").fetchall()
        assert a == b, where
        assert a, where
    assert conn.execute("select count(*) from f").fetchone() == (1000,)
    assert conn.execute("select vec_length(v) from f limit 1").fetchone() == (2,)


def test_ipc_table_persists_in_a_file_database(tmp_path):
    path = tmp_path / "d.arrow"
    feather.write_feather(pa.table({"a": [1, 2, 3]}), path)
    db = tmp_path / "x.db"
    c = sqlite3.connect(db)
    sqlite_quiver.load(c)
    quoted = str(path).replace("'", "''")
    c.execute(f"create virtual table main.f using arrow_ipc('{quoted}')")
    c.commit()
    c.close()
    c = sqlite3.connect(db)
    sqlite_quiver.load(c)
    # A stored arrow_ipc table opens only once the user trusts the database's schema.
    with pytest.raises(sqlite3.OperationalError, match=r"arrow_ipc_trust\(1\)"):
        c.execute("select sum(a) from f").fetchone()
    assert c.execute("select arrow_ipc_trust(1)").fetchone() == (0,)
    assert c.execute("select sum(a) from f").fetchone() == (6,)
    with pytest.raises(sqlite3.OperationalError, match="read-only"):
        c.execute("insert into f values (4)")
    c.execute("drop table f")
    c.close()


def test_path_with_quote(conn, tmp_path):
    path = tmp_path / "it's.arrow"
    feather.write_feather(pa.table({"a": [5]}), path)
    quoted = str(path).replace("'", "''")
    conn.execute(f"create virtual table temp.f using arrow_ipc('{quoted}')")
    assert conn.execute("select a from f").fetchall() == [(5,)]


def test_bad_files(conn, tmp_path):
    with pytest.raises(sqlite3.OperationalError, match="cannot open"):
        conn.execute("create virtual table f using arrow_ipc('/nonexistent/x.arrow')")
    junk = tmp_path / "junk.arrow"
    junk.write_bytes(b"not an arrow file at all, just text")
    with pytest.raises(sqlite3.OperationalError, match="not a valid Arrow IPC file"):
        conn.execute(f"create virtual table f using arrow_ipc('{junk}')")
    stream = tmp_path / "stream.arrows"
    t = pa.table({"a": [1]})
    with pa.ipc.new_stream(stream, t.schema) as w:
        w.write_table(t)
    with pytest.raises(sqlite3.OperationalError, match="stream"):
        conn.execute(f"create virtual table f using arrow_ipc('{stream}')")
    truncated = tmp_path / "trunc.arrow"
    feather.write_feather(sample(), truncated)
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2] + data[-16:])
    with pytest.raises(sqlite3.OperationalError, match="arrow_ipc"):
        conn.execute(f"create virtual table f using arrow_ipc('{truncated}')")
    with pytest.raises(sqlite3.OperationalError, match="one argument"):
        conn.execute("create virtual table f using arrow_ipc()")
    assert conn.execute("select count(*) from sqlite_master").fetchone() == (0,)


def _hostile_db(tmp_path, target):
    """A database file declaring an arrow_ipc table over `target`, written with plain
    sqlite3 (as someone else would hand it over)."""
    db = tmp_path / "evil.db"
    raw = sqlite3.connect(db)
    raw.execute("pragma writable_schema = on")
    quoted = str(target).replace("'", "''")
    sql = f"CREATE VIRTUAL TABLE evil USING arrow_ipc('{quoted}')"
    raw.execute(
        "insert into sqlite_master(type, name, tbl_name, rootpage, sql) "
        "values ('table', 'evil', 'evil', 0, ?)",
        (sql,),
    )
    raw.commit()
    raw.close()
    return db


def test_fifo_is_refused_not_hung(tmp_path):
    """A FIFO used to block the first query forever (open waits for a writer)."""
    fifo = tmp_path / "pipe.arrow"
    os.mkfifo(fifo)
    db = _hostile_db(tmp_path, fifo)
    steps = run_child(
        f"""
        import sqlite3
        c = sqlite3.connect({str(db)!r})
        sqlite_quiver.load(c)
        c.execute("select arrow_ipc_trust(1)")
        step(lambda: c.execute("select * from evil").fetchall())
        step(lambda: c.execute("create virtual table temp.t2 using arrow_ipc('{fifo}')"))
        step(lambda: c.execute("create virtual table temp.t3 using arrow_ipc('{tmp_path}')"))
        """,
        timeout=60,
    )
    for s in steps:
        assert "is not a regular file" in s["error"], steps


def test_database_file_cannot_read_user_files(tmp_path):
    """A downloaded database declaring arrow_ipc over one of the user's files."""
    secret = tmp_path / "secret.arrow"
    feather.write_feather(pa.table({"secret": ["hunter2"]}), secret)
    db = _hostile_db(tmp_path, secret)
    c = sqlite3.connect(db)
    sqlite_quiver.load(c)
    with pytest.raises(sqlite3.OperationalError, match=r'"main"."evil" is declared in a database'):
        c.execute("select * from evil").fetchall()
    # Not through a view stored in the file either, and the trust switch is direct-only.
    raw = sqlite3.connect(db)
    raw.execute("create view v as select arrow_ipc_trust(1) as t")
    raw.commit()
    raw.close()
    c.close()
    c = sqlite3.connect(db)
    sqlite_quiver.load(c)
    with pytest.raises(sqlite3.OperationalError, match="unsafe use of arrow_ipc_trust"):
        c.execute("select * from v").fetchall()
    with pytest.raises(sqlite3.OperationalError, match="is declared in a database"):
        c.execute("select * from evil").fetchall()
    # The user's explicit opt-in, per connection.
    assert c.execute("select arrow_ipc_trust(1)").fetchone() == (0,)
    assert c.execute("select * from evil").fetchall() == [("hunter2",)]
    assert c.execute("select arrow_ipc_trust(0)").fetchone() == (1,)
    c.close()
    with pytest.raises(sqlite3.OperationalError, match="expected 1 or 0"):
        conn = sqlite3.connect(":memory:")
        sqlite_quiver.load(conn)
        conn.execute("select arrow_ipc_trust('yes')")


def test_tables_this_connection_created_reopen(tmp_path):
    """Created by the user in main: reopened after a schema reset on the same
    connection without any opt-in; a new connection needs it."""
    path = tmp_path / "d.arrow"
    feather.write_feather(pa.table({"a": [1, 2]}), path)
    db = tmp_path / "own.db"
    c = sqlite3.connect(db)
    sqlite_quiver.load(c)
    c.execute(f"create virtual table f using arrow_ipc('{path}')")
    c.commit()
    other = sqlite3.connect(db)
    other.execute("create table bump(x)")  # schema change: c reloads its schema
    other.commit()
    other.close()
    assert c.execute("select sum(a) from f").fetchone() == (3,)
    c.close()
