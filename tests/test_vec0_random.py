"""Thousands of random inserts / updates / deletes / rollbacks / queries on vec0,
every query compared with a numpy model of the table."""

from __future__ import annotations

import copy
import sqlite3

import numpy as np
import pytest

import sqlite_quiver

DIMS = 6
GENRES = ["a", "b", "c", None]


def model_knn(model: dict, q: np.ndarray, k: int, genre=None, metric="l2"):
    items = [(rid, v) for rid, (v, g) in model.items() if genre is None or g == genre]
    if not items:
        return [], np.zeros(0)
    ids = np.array([r for r, _ in items])
    X = np.stack([v for _, v in items]).astype(np.float64)
    if metric == "l2":
        d = np.sqrt(((X - q) ** 2).sum(1))
    else:
        d = 1 - (X @ q) / (np.linalg.norm(X, axis=1) * np.linalg.norm(q))
    order = np.lexsort((ids, d))[:k]
    return list(ids[order]), d[order]


@pytest.mark.parametrize("seed,metric,chunk", [(0, "l2", 8), (1, "cosine", 16), (2, "l2", 64)])
def test_random_operations_match_numpy_model(tmp_path, seed, metric, chunk):
    rng = np.random.default_rng(seed)
    conn = sqlite_quiver.connect_with_vec(str(tmp_path / "r.db"), isolation_level=None)
    conn.execute(
        f"create virtual table t using vec0(emb float[{DIMS}] distance_metric={metric}, "
        f"genre text, +note text, chunk_size={chunk})"
    )
    model: dict[int, tuple[np.ndarray, str | None]] = {}
    saved: list[dict] = []  # model snapshots: [transaction start, savepoint...]
    in_txn = False
    next_id = 1

    def vec():
        return rng.standard_normal(DIMS).astype(np.float32)

    n_queries = 0
    for step in range(3000):
        op = rng.random()
        if op < 0.30:
            v, g = vec(), GENRES[rng.integers(4)]
            if rng.random() < 0.3:
                cur = conn.execute(
                    "insert into t(emb, genre, note) values (?, ?, ?)", (v.tobytes(), g, "n")
                )
                rid = cur.lastrowid
            else:
                rid = next_id + int(rng.integers(0, 3))
                if rid in model:
                    with pytest.raises(sqlite3.OperationalError, match="UNIQUE"):
                        conn.execute(
                            "insert into t(rowid, emb, genre) values (?, ?, ?)",
                            (rid, v.tobytes(), g),
                        )
                    continue
                conn.execute(
                    "insert into t(rowid, emb, genre) values (?, ?, ?)", (rid, v.tobytes(), g)
                )
            model[rid] = (v, g)
            next_id = max(next_id, rid + 1)
        elif op < 0.38 and model:
            rid = int(rng.choice(list(model)))
            v, g = vec(), GENRES[rng.integers(4)]
            conn.execute(
                "insert or replace into t(rowid, emb, genre) values (?, ?, ?)",
                (rid, v.tobytes(), g),
            )
            model[rid] = (v, g)
        elif op < 0.48 and model:
            rid = int(rng.choice(list(model)))
            v = vec()
            conn.execute("update t set emb = ? where rowid = ?", (v.tobytes(), rid))
            model[rid] = (v, model[rid][1])
        elif op < 0.53 and model:
            rid = int(rng.choice(list(model)))
            g = GENRES[rng.integers(4)]
            conn.execute("update t set genre = ? where rowid = ?", (g, rid))
            model[rid] = (model[rid][0], g)
        elif op < 0.65 and model:
            rid = int(rng.choice(list(model)))
            conn.execute("delete from t where rowid = ?", (rid,))
            del model[rid]
        elif op < 0.68:
            # bad input: must change nothing
            with pytest.raises(sqlite3.OperationalError):
                conn.execute("insert into t(rowid, emb) values (?, '[1, 2]')", (next_id + 50,))
        elif op < 0.72 and not in_txn:
            conn.execute("begin")
            in_txn = True
            saved = [copy.deepcopy(model)]
        elif op < 0.75 and in_txn:
            conn.execute(f"savepoint s{len(saved)}")
            saved.append(copy.deepcopy(model))
        elif op < 0.78 and in_txn and len(saved) > 1:
            conn.execute(f"rollback to s{len(saved) - 1}")
            model = copy.deepcopy(saved[-1])
        elif op < 0.81 and in_txn:
            conn.execute("rollback")
            model = saved[0]
            saved, in_txn = [], False
        elif op < 0.84 and in_txn:
            conn.execute("commit")
            saved, in_txn = [], False
        else:
            q = vec().astype(np.float64)
            k = int(rng.integers(1, 15))
            genre = GENRES[rng.integers(3)] if rng.random() < 0.4 else None
            sql = "select rowid, distance from t where emb match ? and k = ?"
            params: tuple = (q.astype(np.float32).tobytes(), k)
            if genre is not None:
                sql += " and genre = ?"
                params += (genre,)
            rows = conn.execute(sql, params).fetchall()
            want_ids, want_d = model_knn(model, q, k, genre, metric)
            assert [r[0] for r in rows] == want_ids, (step, sql)
            np.testing.assert_allclose([r[1] for r in rows], want_d, rtol=1e-4, atol=1e-5)
            n_queries += 1
        if step % 500 == 0:
            assert conn.execute("select count(*) from t").fetchone() == (len(model),)
    if in_txn:
        conn.execute("commit")
    assert n_queries > 300
    assert conn.execute("select count(*) from t").fetchone() == (len(model),)
    got = {r: np.frombuffer(e, np.float32) for r, e in conn.execute("select rowid, emb from t")}
    assert set(got) == set(model)
    for rid, (v, _) in model.items():
        assert np.array_equal(got[rid], v)
    assert conn.execute("pragma integrity_check").fetchone() == ("ok",)


def test_random_bulk_batches_and_sql_writes_match_model():
    rng = np.random.default_rng(42)
    conn = sqlite_quiver.connect_with_vec(isolation_level=None)
    conn.execute(f"create virtual table t using vec0(emb float[{DIMS}], genre text, chunk_size=16)")
    model: dict[int, tuple[np.ndarray, str | None]] = {}
    next_id = 1
    for step in range(300):
        op = rng.random()
        if op < 0.4:
            n = int(rng.integers(1, 40))
            X = rng.standard_normal((n, DIMS)).astype(np.float32)
            g = [GENRES[i] for i in rng.integers(0, 3, n)]
            ids = list(range(next_id, next_id + n))
            sqlite_quiver.insert_vectors(conn, "t", X, ids=ids, genre=g)
            for i, rid in enumerate(ids):
                model[rid] = (X[i], g[i])
            next_id += n
        elif op < 0.6 and model:
            for rid in rng.choice(list(model), size=min(5, len(model)), replace=False):
                conn.execute("delete from t where rowid = ?", (int(rid),))
                del model[int(rid)]
        elif op < 0.7 and model:
            rid = int(rng.choice(list(model)))
            v = rng.standard_normal(DIMS).astype(np.float32)
            sqlite_quiver.insert_vectors(conn, "t", v[None], ids=[rid], genre=["a"], replace=True)
            model[rid] = (v, "a")
        else:
            Q = rng.standard_normal((4, DIMS)).astype(np.float32)
            k = int(rng.integers(1, 12))
            genre = "a" if rng.random() < 0.3 else None
            filters = {"genre": genre} if genre else {}
            ids, dist = sqlite_quiver.search(conn, "t", Q, k, **filters)
            for qi in range(4):
                want_ids, want_d = model_knn(model, Q[qi].astype(np.float64), k, genre)
                got = [int(i) for i in ids[qi] if i != -1]
                assert got == want_ids, step
                np.testing.assert_allclose(dist[qi][: len(got)], want_d, rtol=1e-4, atol=1e-4)
    assert conn.execute("select count(*) from t").fetchone() == (len(model),)
