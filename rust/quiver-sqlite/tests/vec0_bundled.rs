//! vec0 on the bundled (newer) SQLite: the `ORDER BY distance LIMIT ?` form, which
//! SQLite hands to virtual tables from 3.41, and IN lists taken whole.

use rusqlite::Connection;

fn conn() -> Connection {
    let c = Connection::open_in_memory().unwrap();
    quiver_sqlite::register(&c).unwrap();
    c.execute_batch(
        "CREATE VIRTUAL TABLE t USING vec0(emb float[2], genre text, chunk_size=8);
         INSERT INTO t(rowid, emb, genre) VALUES
           (1, '[0, 0]', 'a'), (2, '[1, 0]', 'b'), (3, '[2, 0]', 'a'), (4, '[3, 0]', 'c'),
           (5, '[4, 0]', 'b'), (6, '[5, 0]', 'a');",
    )
    .unwrap();
    c
}

fn ids(c: &Connection, sql: &str) -> Vec<i64> {
    let mut s = c.prepare(sql).unwrap();
    s.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn order_by_distance_limit() {
    let c = conn();
    assert_eq!(
        ids(
            &c,
            "SELECT rowid FROM t WHERE emb MATCH '[2.1, 0]' ORDER BY distance LIMIT 3"
        ),
        vec![3, 4, 2]
    );
    assert_eq!(
        ids(
            &c,
            "SELECT rowid FROM t WHERE emb MATCH '[2.1, 0]' AND genre = 'a' ORDER BY distance LIMIT 2"
        ),
        vec![3, 1]
    );
    assert_eq!(
        ids(
            &c,
            "SELECT rowid FROM t WHERE emb MATCH '[0, 0]' ORDER BY distance LIMIT 2 OFFSET 2"
        ),
        vec![3, 4]
    );
}

#[test]
fn in_lists_apply_before_top_k() {
    let c = conn();
    assert_eq!(
        ids(
            &c,
            "SELECT rowid FROM t WHERE emb MATCH '[5, 0]' AND k = 3 AND genre IN ('a', 'c')"
        ),
        vec![6, 4, 3]
    );
    assert_eq!(
        ids(
            &c,
            "SELECT rowid FROM t WHERE emb MATCH '[0, 0]' AND k = 2 AND rowid IN (5, 2, 6)"
        ),
        vec![2, 5]
    );
}

#[test]
fn refuses_unfilterable_terms() {
    let c = Connection::open_in_memory().unwrap();
    quiver_sqlite::register(&c).unwrap();
    c.execute_batch("CREATE VIRTUAL TABLE t USING vec0(emb float[2], +note text)")
        .unwrap();
    let err = c
        .prepare("SELECT rowid FROM t WHERE emb MATCH '[0,0]' AND k = 2 AND note = 'x'")
        .and_then(|mut s| s.query([]).and_then(|mut r| r.next().map(|_| ())))
        .unwrap_err();
    assert!(
        err.to_string().contains("cannot be applied before"),
        "{err}"
    );
}
