//! Bulk ingest of Arrow record batches into a table, inside one SAVEPOINT (so it nests
//! in an open transaction): SQLite reads every value straight from Arrow memory through a
//! hidden temp Arrow table, and any failure rolls the whole ingest back.

use arrow_array::RecordBatch;
use arrow_schema::{DataType, SchemaRef};
use rusqlite::Connection;

use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};

use crate::arrow::registry::{build_table, check_names, register_built, unregister};
use crate::arrow::render::{is_rendered, render_batch, rendered_schema};
use crate::arrow::table::ArrowTable;
use crate::arrow::types::{declared_type, Reader, SqlValue};
use crate::sqlite::error::sql_error;
use crate::sqlite::ident::{quote_identifier, quote_table};
use crate::sqlite::stmt::DbLock;

/// What to do with the target table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Insert into an existing table; every Arrow column must exist in it.
    Append,
    /// Create the table (an error if it exists).
    Create,
    /// Drop the table if it exists, then create it.
    Replace,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "append" => Ok(Mode::Append),
            "create" => Ok(Mode::Create),
            "replace" => Ok(Mode::Replace),
            other => Err(format!(
                "insert_arrow: mode must be \"append\", \"create\" or \"replace\", got {other:?}"
            )),
        }
    }
}

/// The declared type of a column created by insert_arrow. Chosen so that query_arrow
/// reads the values back with their types (booleans, vectors) and decimals stay exact.
pub fn create_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::FixedSizeList(child, n) if matches!(child.data_type(), DataType::Float32) => {
            format!("float[{n}]")
        }
        DataType::FixedSizeList(child, n) if matches!(child.data_type(), DataType::Int8) => {
            format!("int8[{n}]")
        }
        DataType::Dictionary(_, v) => create_type(v),
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => "TEXT".into(),
        other => declared_type(other).to_string(),
    }
}

fn table_columns(conn: &Connection, quoted: &str) -> rusqlite::Result<Vec<String>> {
    let stmt = conn.prepare(&format!("SELECT * FROM {quoted} LIMIT 0"))?;
    Ok(stmt.column_names().into_iter().map(String::from).collect())
}

static NEXT_INGEST: AtomicU64 = AtomicU64::new(1);

/// Inserts every row of `batches` into `table`; returns the number of rows.
///
/// The batches are exposed as a hidden temp Arrow table and copied with one
/// `INSERT INTO table (...) SELECT ... FROM hidden` inside a SAVEPOINT: SQLite reads each
/// value straight from Arrow memory, and a failure rolls everything back.
pub fn insert(
    conn: &Connection,
    table: &str,
    schema: SchemaRef,
    batches: &[RecordBatch],
    mode: Mode,
) -> rusqlite::Result<usize> {
    if table.is_empty() || table.contains('\0') {
        return Err(sql_error(format!(
            "insert_arrow: invalid table name {table:?}"
        )));
    }
    // Hold the connection mutex for the whole ingest, so another thread sharing the
    // connection cannot interleave statements with its savepoint.
    // SAFETY: the handle of a live connection.
    let _lock = DbLock::new(unsafe { conn.handle() });
    let hidden = format!(
        "__quiver_ingest_{}",
        NEXT_INGEST.fetch_add(1, AtomicOrdering::Relaxed)
    );
    check_names("insert_arrow", &hidden, &schema)?;
    // Check every type (and value range) before writing anything.
    let data = Arc::new(build_table(
        "insert_arrow",
        schema.clone(),
        batches,
        Default::default(),
    )?);
    let vector_i8: Vec<bool> = schema
        .fields()
        .iter()
        .map(|f| {
            let empty = arrow_array::new_empty_array(f.data_type());
            matches!(Reader::new(&empty, f), Ok(Reader::VectorI8 { .. }))
        })
        .collect();
    if vector_i8.iter().any(|v| *v) {
        // Subtypes do not survive INSERT ... SELECT, and an int8 vector needs its subtype
        // to reach a vec0 table: bind row by row through vec_int8(?).
        return in_savepoint(conn, || {
            prepare_target(conn, table, &schema, mode)?;
            insert_rows(conn, table, &schema, &data, &vector_i8)
        });
    }
    let render: Vec<bool> = data
        .batches
        .first()
        .map(|b| b.columns.iter().map(is_rendered).collect())
        .unwrap_or_default();
    let result = if data.num_rows > CHUNK_ROWS && render.iter().any(|r| *r) {
        insert_rendered(conn, table, &hidden, &schema, batches, &render, mode)
    } else {
        register_built(conn, &hidden, data)?;
        in_savepoint(conn, || {
            prepare_target(conn, table, &schema, mode)?;
            insert_select(conn, table, &hidden, &schema)
        })
    };
    // The rendered ingest registers the hidden table only once a chunk is ready.
    let dropped = unregister(conn, &hidden);
    let n = result?;
    dropped?;
    Ok(n)
}

/// Rows per chunk of the rendered ingest: small enough that the helper thread keeps
/// only a few MB ahead, large enough that the per-chunk statement costs nothing.
const CHUNK_ROWS: usize = 65_536;

/// The ingest when some columns are computed text (timestamps, dates, decimals, JSON):
/// a helper thread renders chunk after chunk into plain text columns while SQLite
/// inserts the previous one, so formatting leaves SQLite's single-threaded path. The
/// hidden table is swapped to each chunk in turn; all inside one savepoint.
fn insert_rendered(
    conn: &Connection,
    table: &str,
    hidden: &str,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    render: &[bool],
    mode: Mode,
) -> rusqlite::Result<usize> {
    let rendered = rendered_schema(schema, render);
    let chunks: Vec<RecordBatch> = batches
        .iter()
        .flat_map(|b| {
            (0..b.num_rows())
                .step_by(CHUNK_ROWS)
                .map(move |lo| b.slice(lo, CHUNK_ROWS.min(b.num_rows() - lo)))
        })
        .collect();
    let expected_chunks = chunks.len();
    std::thread::scope(|scope| {
        // Two chunks in flight: the helper never runs far ahead of SQLite.
        let (send, receive) = std::sync::mpsc::sync_channel::<RenderedChunk>(2);
        let rendered_ref = &rendered;
        scope.spawn(move || {
            for chunk in &chunks {
                let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    render_chunk(schema, rendered_ref, chunk, render)
                }))
                .unwrap_or_else(|_| {
                    Err(sql_error(
                        "insert_arrow: internal error (panic) while formatting a chunk",
                    ))
                });
                // The receiver is gone when the ingest failed: stop rendering.
                if send.send(built).is_err() {
                    break;
                }
            }
        });
        let result = (|| {
            let mut chunks = receive.iter();
            let first = chunks
                .next()
                .ok_or_else(|| sql_error("insert_arrow: internal error: no chunk rendered"))??;
            register_built(conn, hidden, first)?;
            in_savepoint(conn, || {
                prepare_target(conn, table, schema, mode)?;
                let mut count = insert_select(conn, table, hidden, schema)?;
                let mut inserted_chunks = 1;
                for next in chunks.by_ref() {
                    register_built(conn, hidden, next?)?;
                    count += insert_select(conn, table, hidden, schema)?;
                    inserted_chunks += 1;
                }
                // A helper that stopped early must not commit a partial ingest.
                if inserted_chunks != expected_chunks {
                    return Err(sql_error(format!(
                        "insert_arrow: internal error: {inserted_chunks} of \
                         {expected_chunks} chunks were formatted"
                    )));
                }
                Ok(count)
            })
        })();
        // Unblocks the helper if it is waiting to send (the scope then joins it).
        drop(receive);
        result
    })
}

/// What the helper thread hands over: a rendered chunk, or why it could not be made.
type RenderedChunk = rusqlite::Result<Arc<ArrowTable>>;

/// One chunk with its computed-text columns rendered, built as an Arrow table.
fn render_chunk(
    schema: &SchemaRef,
    rendered: &SchemaRef,
    chunk: &RecordBatch,
    render: &[bool],
) -> rusqlite::Result<Arc<ArrowTable>> {
    let source = build_table(
        "insert_arrow",
        schema.clone(),
        std::slice::from_ref(chunk),
        Default::default(),
    )?;
    let readers = &source.batches[0].columns;
    let batch = render_batch(chunk, readers, render, rendered)?;
    Ok(Arc::new(build_table(
        "insert_arrow",
        rendered.clone(),
        &[batch],
        Default::default(),
    )?))
}

/// Runs `f` inside SAVEPOINT quiver_insert_arrow, rolling back to it on error.
fn in_savepoint(
    conn: &Connection,
    f: impl FnOnce() -> rusqlite::Result<usize>,
) -> rusqlite::Result<usize> {
    conn.execute_batch("SAVEPOINT quiver_insert_arrow")?;
    match f() {
        Ok(n) => {
            conn.execute_batch("RELEASE quiver_insert_arrow")?;
            Ok(n)
        }
        Err(e) => {
            let _ =
                conn.execute_batch("ROLLBACK TO quiver_insert_arrow; RELEASE quiver_insert_arrow");
            Err(e)
        }
    }
}

/// Drops / creates the target table, or checks that it has every Arrow column.
fn prepare_target(
    conn: &Connection,
    table: &str,
    schema: &SchemaRef,
    mode: Mode,
) -> rusqlite::Result<()> {
    let quoted = quote_table(table);
    if mode == Mode::Replace {
        conn.execute_batch(&format!("DROP TABLE IF EXISTS {quoted}"))?;
    }
    if mode != Mode::Append {
        let columns: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| {
                let t = create_type(f.data_type());
                format!("{} {t}", quote_identifier(f.name()))
                    .trim()
                    .to_string()
            })
            .collect();
        conn.execute_batch(&format!("CREATE TABLE {quoted} ({})", columns.join(", ")))?;
        return Ok(());
    }
    let existing = table_columns(conn, &quoted)
        .map_err(|e| sql_error(format!("insert_arrow: cannot append to {quoted}: {e}")))?;
    for f in schema.fields() {
        if !existing.iter().any(|c| c.eq_ignore_ascii_case(f.name())) {
            return Err(sql_error(format!(
                "insert_arrow: column \"{}\" ({}) is not in table {quoted} (its columns: {})",
                f.name(),
                f.data_type(),
                existing.join(", ")
            )));
        }
    }
    Ok(())
}

fn column_list(schema: &SchemaRef) -> Vec<String> {
    schema
        .fields()
        .iter()
        .map(|f| quote_identifier(f.name()))
        .collect()
}

/// One INSERT ... SELECT from the hidden Arrow table.
fn insert_select(
    conn: &Connection,
    table: &str,
    hidden: &str,
    schema: &SchemaRef,
) -> rusqlite::Result<usize> {
    let names = column_list(schema).join(", ");
    let sql = format!(
        "INSERT INTO {} ({names}) SELECT {names} FROM temp.{} ORDER BY rowid",
        quote_table(table),
        quote_identifier(hidden)
    );
    conn.execute(&sql, [])
}

struct Bind<'a>(SqlValue<'a>);

impl ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match &self.0 {
            SqlValue::Null => ValueRef::Null,
            SqlValue::Integer(i) => ValueRef::Integer(*i),
            SqlValue::Real(r) => ValueRef::Real(*r),
            SqlValue::Text(t) => ValueRef::Text(t.as_bytes()),
            SqlValue::Short(t) => ValueRef::Text(t.as_str().as_bytes()),
            SqlValue::Blob(b) | SqlValue::Vector(b, _) => ValueRef::Blob(b),
        }))
    }
}

/// Row by row: INSERT ... VALUES (?, vec_int8(?), ...).
fn insert_rows(
    conn: &Connection,
    table: &str,
    schema: &SchemaRef,
    data: &ArrowTable,
    vector_i8: &[bool],
) -> rusqlite::Result<usize> {
    let placeholders: Vec<String> = vector_i8
        .iter()
        .enumerate()
        .map(|(i, i8)| {
            if *i8 {
                format!("vec_int8(?{})", i + 1)
            } else {
                format!("?{}", i + 1)
            }
        })
        .collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quote_table(table),
        column_list(schema).join(", "),
        placeholders.join(", ")
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut count = 0;
    for batch in &data.batches {
        for row in 0..batch.len {
            for (i, reader) in batch.columns.iter().enumerate() {
                stmt.raw_bind_parameter(i + 1, Bind(reader.value(row)))?;
            }
            stmt.raw_execute()?;
            count += 1;
        }
    }
    Ok(count)
}
