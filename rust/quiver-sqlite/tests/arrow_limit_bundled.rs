//! LIMIT / OFFSET on Arrow tables with the bundled SQLite (3.46 or later, where the table
//! takes them): every query is compared with the same query on a native table holding
//! the same rows, including the cases where SQLite hands the table a weaker term than
//! the query's (row values) or a compound's OFFSET.

use std::sync::Arc;

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use rusqlite::types::Value;
use rusqlite::Connection;

const ROWS: i64 = 20_000;

/// Arrow table `t` and native table `n` with the same rows (a: small ints with ties and
/// NULLs, x: floats, s: text), in uneven batches.
fn conn() -> Connection {
    let c = Connection::open_in_memory().unwrap();
    quiver_sqlite::register(&c).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("a", DataType::Int64, true),
        Field::new("x", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let a = |i: i64| (i % 11 != 0).then_some(i * 7 % 13);
    let x = |i: i64| (i % 17 != 0).then_some((i * 7919 % 10_007) as f64 / 100.0);
    let s = |i: i64| (i % 5 != 0).then(|| format!("s{}", i % 23));
    let mut batches = Vec::new();
    let mut lo = 0;
    for size in [1, 4_999, 7_000, 8_000] {
        let ids: Vec<i64> = (lo..lo + size).collect();
        batches.push(
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(ids.clone())),
                    Arc::new(Int64Array::from(
                        ids.iter().map(|&i| a(i)).collect::<Vec<_>>(),
                    )),
                    Arc::new(Float64Array::from(
                        ids.iter().map(|&i| x(i)).collect::<Vec<_>>(),
                    )),
                    Arc::new(StringArray::from(
                        ids.iter().map(|&i| s(i)).collect::<Vec<_>>(),
                    )),
                ],
            )
            .unwrap(),
        );
        lo += size;
    }
    assert_eq!(lo, ROWS);
    quiver_sqlite::arrow::registry::register(&c, "t", schema, &batches, Default::default())
        .unwrap();
    c.execute_batch(
        "CREATE TABLE n(id INTEGER, a INTEGER, x REAL, s TEXT);
         INSERT INTO n(rowid, id, a, x, s) SELECT rowid, id, a, x, s FROM t;",
    )
    .unwrap();
    c
}

fn rows(c: &Connection, sql: &str) -> Vec<Vec<Value>> {
    let mut stmt = c.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The idxStr the Arrow table chose for `sql` (its VFilter's P4).
fn plan(c: &Connection, sql: &str) -> String {
    let mut stmt = c.prepare(&format!("EXPLAIN {sql}")).unwrap();
    let found: Vec<Option<String>> = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(1)?, r.get::<_, Option<String>>(5)?))
        })
        .unwrap()
        .filter_map(|r| r.ok())
        .filter(|(op, _)| op == "VFilter")
        .map(|(_, p4)| p4)
        .collect();
    found.first().cloned().flatten().unwrap_or_default()
}

fn same(c: &Connection, sql: &str) {
    assert_eq!(
        rows(c, &sql.replace("{t}", "t")),
        rows(c, &sql.replace("{t}", "n")),
        "{sql}"
    );
}

#[test]
fn limit_and_offset_match_a_native_table() {
    let c = conn();
    for sql in [
        "SELECT id, a FROM {t} LIMIT 7 OFFSET 4995",
        "SELECT id FROM {t} WHERE a > 3 LIMIT 5 OFFSET 9000",
        "SELECT id FROM {t} WHERE a = 4 AND x < 50 LIMIT 9 OFFSET 33",
        "SELECT id, x FROM {t} ORDER BY x, id LIMIT 6 OFFSET 100",
        "SELECT id, x FROM {t} WHERE a IS NOT NULL ORDER BY x DESC LIMIT 4 OFFSET 2",
        "SELECT id FROM {t} ORDER BY a, id LIMIT 5 OFFSET 12000",
        "SELECT id FROM {t} LIMIT -1 OFFSET 19990",
        "SELECT id FROM {t} LIMIT 3 OFFSET -4",
        "SELECT id FROM {t} LIMIT 0 OFFSET 5",
        "SELECT id FROM {t} WHERE a < 2 LIMIT 3 OFFSET 1000000",
        // Terms the table does not take exactly: SQLite keeps LIMIT / OFFSET.
        "SELECT id FROM {t} WHERE s = 's3' LIMIT 4 OFFSET 7",
        "SELECT id FROM {t} WHERE s LIKE 's1%' LIMIT 4 OFFSET 7",
        "SELECT id FROM {t} WHERE rowid > 5 LIMIT 2 OFFSET 3",
        "SELECT id FROM {t} WHERE id BETWEEN 100 AND 300 LIMIT 2 OFFSET 3",
        "SELECT id FROM {t} WHERE a IN (1, 2) ORDER BY id LIMIT 4 OFFSET 7",
        // Row values: SQLite passes a weaker term and re-checks the real one.
        "SELECT a, x FROM {t} WHERE (a, x) < (5, 20.0) ORDER BY id LIMIT 3 OFFSET 10",
        "SELECT id FROM {t} WHERE (a, x) > (5, 20.0) LIMIT 3 OFFSET 10",
        "SELECT id, x FROM {t} WHERE (a, id) < (3, 5000) ORDER BY x, id LIMIT 2",
        // A compound's LIMIT / OFFSET belongs to the whole compound.
        "SELECT id FROM {t} WHERE a = 1 UNION ALL SELECT id FROM {t} WHERE a = 2 \
         LIMIT 2 OFFSET 8",
        "SELECT id FROM {t} WHERE a = 1 UNION ALL SELECT id FROM {t} WHERE a = 2 \
         ORDER BY 1 LIMIT 3 OFFSET 5",
        "SELECT a FROM {t} UNION SELECT a FROM {t} WHERE a > 100 ORDER BY 1 LIMIT 4",
        "SELECT a FROM {t} UNION SELECT a FROM {t} WHERE a > 100 ORDER BY 1 LIMIT 4 OFFSET 2",
        "SELECT count(*) FROM (SELECT a FROM {t} UNION SELECT a FROM {t} WHERE a > 100 \
         LIMIT 4)",
        "SELECT x FROM {t} WHERE a = 1 UNION ALL SELECT x FROM {t} WHERE a = 2 \
         ORDER BY 1 DESC LIMIT 3",
        // A correlated subquery: LIMIT / OFFSET per outer row.
        "SELECT id, (SELECT x FROM {t} AS u WHERE u.a = o.a ORDER BY x LIMIT 1 OFFSET 2) \
         FROM {t} AS o WHERE id < 30",
    ] {
        same(&c, sql);
    }
}

#[test]
fn the_table_takes_limit_and_offset_only_when_exact() {
    let c = conn();
    // The taken LIMIT ('l') and OFFSET ('o'), in either order.
    let limits = |sql: &str| {
        let mut taken: Vec<char> = plan(&c, sql)
            .rsplit('|')
            .next()
            .unwrap_or("")
            .chars()
            .collect();
        taken.sort_unstable();
        taken.into_iter().collect::<String>()
    };
    assert_eq!(limits("SELECT * FROM t LIMIT 10 OFFSET 7"), "lo");
    assert_eq!(
        limits("SELECT * FROM t WHERE a > 3 ORDER BY x LIMIT 10 OFFSET 7"),
        "lo"
    );
    assert_eq!(limits("SELECT * FROM t LIMIT 10"), "l");
    for sql in [
        "SELECT * FROM t WHERE s = 's3' LIMIT 10 OFFSET 7",
        "SELECT * FROM t WHERE a >= 3 LIMIT 10 OFFSET 7",
        "SELECT * FROM t WHERE rowid > 3 LIMIT 10 OFFSET 7",
        "SELECT * FROM t WHERE (a, x) < (5, 2.0) LIMIT 10 OFFSET 7",
    ] {
        assert_eq!(limits(sql), "", "{sql}");
    }
}
