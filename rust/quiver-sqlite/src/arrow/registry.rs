//! The process-wide registry behind `register_arrow` / `unregister_arrow`.
//!
//! Tables are made by `register` (Python's `register_arrow`), never by hand-written SQL:
//! the batches are staged in a process-wide registry under a numeric key and the table
//! is created as `CREATE VIRTUAL TABLE temp."name" USING arrow(<key>)`. The registry entry
//! belongs to the connection that staged it; it is removed on DROP TABLE (xDestroy) and
//! when the connection closes (the module's destructor). Tables, cursors and the registry
//! all hold `Arc`s of the batches, so buffers live as long as anything reads them.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use rusqlite::Connection;

use crate::arrow::table::{ArrowTable, TableOptions};
use crate::sqlite::error::sql_error;
use crate::sqlite::ident::quote_identifier;

/// The data of one registered table. Re-registering with the same columns swaps the
/// `Arc` inside: cursors already open keep the data they started with.
pub(crate) type Slot = Arc<Mutex<Arc<ArrowTable>>>;

pub(crate) fn new_slot(table: Arc<ArrowTable>) -> Slot {
    Arc::new(Mutex::new(table))
}

pub(crate) fn current(slot: &Slot) -> Arc<ArrowTable> {
    slot.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

struct Entry {
    db: usize,
    slot: Slot,
}

static REGISTRY: Mutex<Option<HashMap<u64, Entry>>> = Mutex::new(None);
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

fn registry() -> MutexGuard<'static, Option<HashMap<u64, Entry>>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

fn stage(db: usize, table: Arc<ArrowTable>) -> u64 {
    let key = NEXT_KEY.fetch_add(1, AtomicOrdering::Relaxed);
    registry().get_or_insert_with(HashMap::new).insert(
        key,
        Entry {
            db,
            slot: new_slot(table),
        },
    );
    key
}

pub(crate) fn lookup(db: usize, key: u64) -> Option<Slot> {
    registry()
        .as_ref()
        .and_then(|m| m.get(&key))
        .filter(|e| e.db == db)
        .map(|e| e.slot.clone())
}

pub(crate) fn remove(key: u64) {
    if let Some(m) = registry().as_mut() {
        m.remove(&key);
    }
}

/// Number of tables staged in the registry (all connections); for tests.
pub fn registry_len() -> usize {
    registry().as_ref().map_or(0, |m| m.len())
}

/// The registry key in `CREATE VIRTUAL TABLE ... USING arrow(<key>)`.
fn arrow_key(sql: &str) -> Option<u64> {
    let upper = sql.to_ascii_uppercase();
    let start = upper.find(" USING ARROW(")? + " USING ARROW(".len();
    let rest = &sql[start..];
    rest[..rest.find(')')?].trim().parse().ok()
}

/// What a temp object named `name` is: None, Some(true) for an Arrow table.
fn existing(conn: &Connection, name: &str) -> rusqlite::Result<Option<bool>> {
    Ok(existing_sql(conn, name)?.map(|sql| sql.as_deref().is_some_and(is_arrow_sql)))
}

/// The SQL of the temp table or view named `name`, if there is one.
fn existing_sql(conn: &Connection, name: &str) -> rusqlite::Result<Option<Option<String>>> {
    let mut stmt = conn.prepare(
        "SELECT sql FROM temp.sqlite_master WHERE name = ?1 COLLATE NOCASE \
         AND type IN ('table', 'view')",
    )?;
    let mut rows = stmt.query([name])?;
    match rows.next()? {
        None => Ok(None),
        Some(row) => Ok(Some(row.get::<_, Option<String>>(0)?)),
    }
}

fn is_arrow_sql(sql: &str) -> bool {
    let upper = sql.to_ascii_uppercase();
    upper.starts_with("CREATE VIRTUAL TABLE") && upper.contains(" USING ARROW(")
}

/// Checks the table name and the column names (non-empty, unique ignoring case).
pub fn check_names(what: &str, name: &str, schema: &SchemaRef) -> rusqlite::Result<()> {
    if name.is_empty() || name.contains('\0') {
        return Err(sql_error(format!(
            "{what}: invalid table name {name:?} (must be non-empty, without NUL)"
        )));
    }
    if name.to_ascii_lowercase().starts_with("sqlite_") {
        return Err(sql_error(format!(
            "{what}: table name {name:?} is reserved (sqlite_ prefix)"
        )));
    }
    if schema.fields().is_empty() {
        return Err(sql_error(format!("{what}: the data has no columns")));
    }
    let mut seen = std::collections::HashSet::new();
    for f in schema.fields() {
        if f.name().is_empty() || f.name().contains('\0') {
            return Err(sql_error(format!(
                "{what}: invalid column name {:?}",
                f.name()
            )));
        }
        if !seen.insert(f.name().to_lowercase()) {
            return Err(sql_error(format!(
                "{what}: duplicate column name {:?} (SQLite column names are \
                 case-insensitive)",
                f.name()
            )));
        }
    }
    Ok(())
}

/// Checks the types and builds the readers (a panic becomes an error).
pub fn build_table(
    what: &str,
    schema: SchemaRef,
    batches: &[RecordBatch],
    options: TableOptions,
) -> rusqlite::Result<ArrowTable> {
    catch_unwind(AssertUnwindSafe(|| {
        ArrowTable::with_options(schema, batches, options)
    }))
    .map_err(|_| sql_error(format!("{what}: internal error (panic) reading the data")))?
    .map_err(|e| sql_error(format!("{what}: {e}")))
}

/// Registers `batches` as the read-only table `temp.name`, replacing an Arrow table of
/// that name. A temp table or view of that name that is not an Arrow table is an error.
pub fn register(
    conn: &Connection,
    name: &str,
    schema: SchemaRef,
    batches: &[RecordBatch],
    options: TableOptions,
) -> rusqlite::Result<()> {
    check_names("register_arrow", name, &schema)?;
    let table = build_table("register_arrow", schema, batches, options)?;
    register_built(conn, name, Arc::new(table))
}

/// Registers an already built table as `temp.name` (see `register`).
pub fn register_built(
    conn: &Connection,
    name: &str,
    table: Arc<ArrowTable>,
) -> rusqlite::Result<()> {
    let quoted = quote_identifier(name);
    // SAFETY: only the address is used, as the owner's identity.
    let db = unsafe { conn.handle() } as usize;
    match existing_sql(conn, name)? {
        Some(Some(sql)) if is_arrow_sql(&sql) => {
            // Same columns: swap the data in place (statements already reading the old
            // data finish on it; new ones see the new data).
            if let Some(slot) = arrow_key(&sql).and_then(|k| lookup(db, k)) {
                let mut guard = slot.lock().unwrap_or_else(|e| e.into_inner());
                if guard.declaration() == table.declaration() && guard.classes == table.classes {
                    *guard = table;
                    return Ok(());
                }
            }
            conn.execute_batch(&format!("DROP TABLE temp.{quoted}"))
                .map_err(|e| {
                    sql_error(format!(
                        "register_arrow: cannot replace temp.{quoted} with data of other \
                         columns while a statement is reading it ({e}); finish or reset that \
                         statement first"
                    ))
                })?;
        }
        Some(_) => {
            return Err(sql_error(format!(
                "register_arrow: temp.{quoted} already exists and is not an Arrow table"
            )))
        }
        None => {}
    }
    let key = stage(db, table);
    let created = conn.execute_batch(&format!(
        "CREATE VIRTUAL TABLE temp.{quoted} USING arrow({key})"
    ));
    if created.is_err() {
        remove(key);
    }
    created
}

/// Drops the Arrow table `temp.name`. Returns false when there is none.
pub fn unregister(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    match existing(conn, name)? {
        Some(true) => {
            conn.execute_batch(&format!("DROP TABLE temp.{}", quote_identifier(name)))?;
            Ok(true)
        }
        Some(false) => Err(sql_error(format!(
            "unregister_arrow: temp.{} is not an Arrow table",
            quote_identifier(name)
        ))),
        None => Ok(false),
    }
}

/// Drops the registry entries of connection `db` (it is closing).
pub(crate) fn forget_connection(db: usize) {
    if let Some(m) = registry().as_mut() {
        m.retain(|_, e| e.db != db);
    }
}

#[cfg(all(test, feature = "bundled"))]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    fn sample(n: i64) -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("x", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let ids: Vec<Option<i64>> = (0..n).map(|i| (i % 10 != 3).then_some(i)).collect();
        let xs: Vec<f64> = (0..n).map(|i| i as f64 / 2.0).collect();
        let ss: Vec<Option<String>> = (0..n).map(|i| Some(format!("s{}", i % 4))).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(Float64Array::from(xs)),
                Arc::new(StringArray::from(ss)),
            ],
        )
        .unwrap();
        (
            schema,
            vec![
                batch.slice(0, (n / 2) as usize),
                batch.slice((n / 2) as usize, (n - n / 2) as usize),
            ],
        )
    }

    fn conn() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        crate::register(&c).unwrap();
        c
    }

    #[test]
    fn register_query_filter_and_drop() {
        let c = conn();
        let (schema, batches) = sample(1000);
        register(&c, "t", schema, &batches, TableOptions::default()).unwrap();
        let count: i64 = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 1000);
        let (n, sum): (i64, i64) = c
            .query_row(
                "SELECT count(*), sum(id) FROM t WHERE id >= 100 AND id < 200 AND s = 's1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let expected: Vec<i64> = (100..200).filter(|i| i % 10 != 3 && i % 4 == 1).collect();
        assert_eq!(n as usize, expected.len());
        assert_eq!(sum, expected.iter().sum::<i64>());
        let nulls: i64 = c
            .query_row("SELECT count(*) FROM t WHERE id IS NULL", [], |r| r.get(0))
            .unwrap();
        assert_eq!(nulls, 100);
        let x: f64 = c
            .query_row("SELECT x FROM t WHERE rowid = 777", [], |r| r.get(0))
            .unwrap();
        assert_eq!(x, 388.5);
        assert!(c.execute("DELETE FROM t", []).is_err());
        // SAFETY: only the address is used.
        let db = unsafe { c.handle() } as usize;
        let owned = || {
            registry()
                .as_ref()
                .map_or(0, |m| m.values().filter(|e| e.db == db).count())
        };
        assert_eq!(owned(), 1);
        assert!(unregister(&c, "t").unwrap());
        assert_eq!(owned(), 0);
        assert!(!unregister(&c, "t").unwrap());
    }

    #[test]
    fn same_columns_swap_in_place() {
        let c = conn();
        let (schema, batches) = sample(10);
        register(&c, "t", schema.clone(), &batches, TableOptions::default()).unwrap();
        let (schema2, batches2) = sample(20);
        register(&c, "t", schema2, &batches2, TableOptions::default()).unwrap();
        let count: i64 = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 20);
    }

    #[test]
    fn hand_made_tables_are_refused() {
        let c = conn();
        let err = c
            .execute_batch("CREATE VIRTUAL TABLE temp.x USING arrow(12345678)")
            .unwrap_err();
        assert!(err.to_string().contains("register_arrow"), "{err}");
        let err = c
            .execute_batch("CREATE VIRTUAL TABLE main.x USING arrow(1)")
            .unwrap_err();
        assert!(err.to_string().contains("temp"), "{err}");
    }
}
