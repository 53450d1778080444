//! Bulk ingest of Arrow record batches into a table, inside one SAVEPOINT (so it nests
//! in an open transaction): every value is bound straight from Arrow memory, and any
//! failure rolls the whole ingest back.

use arrow_array::RecordBatch;
use arrow_schema::{DataType, SchemaRef};
use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::Connection;

use crate::arrow_table::{quote_identifier, ArrowTable};
use crate::arrow_types::{declared_type, Reader, SqlValue};
use crate::errors::sql_error;

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

struct Bind<'a>(SqlValue<'a>);

impl ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match &self.0 {
            SqlValue::Null => ValueRef::Null,
            SqlValue::Integer(i) => ValueRef::Integer(*i),
            SqlValue::Real(r) => ValueRef::Real(*r),
            SqlValue::Text(t) => ValueRef::Text(t.as_bytes()),
            SqlValue::Blob(b) | SqlValue::Vector(b, _) => ValueRef::Blob(b),
        }))
    }
}

fn table_columns(conn: &Connection, quoted: &str) -> rusqlite::Result<Vec<String>> {
    let stmt = conn.prepare(&format!("SELECT * FROM {quoted} LIMIT 0"))?;
    Ok(stmt.column_names().into_iter().map(String::from).collect())
}

/// Inserts every row of `batches` into `table`; returns the number of rows.
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
    if schema.fields().is_empty() {
        return Err(sql_error("insert_arrow: the data has no columns"));
    }
    // Check every type (and value range) before writing anything.
    let data = ArrowTable::new(schema.clone(), batches)
        .map_err(|e| sql_error(format!("insert_arrow: {e}")))?;
    let quoted = quote_identifier(table);
    conn.execute_batch("SAVEPOINT quiver_insert_arrow")?;
    let result = (|| {
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
        } else {
            let existing = table_columns(conn, &quoted)
                .map_err(|e| sql_error(format!("insert_arrow: cannot append to {quoted}: {e}")))?;
            for f in schema.fields() {
                if !existing.iter().any(|c| c.eq_ignore_ascii_case(f.name())) {
                    return Err(sql_error(format!(
                        "insert_arrow: column \"{}\" ({}) is not in table {quoted} (its \
                         columns: {})",
                        f.name(),
                        f.data_type(),
                        existing.join(", ")
                    )));
                }
            }
        }
        let names: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| quote_identifier(f.name()))
            .collect();
        let first = data.batches.first();
        let placeholders: Vec<String> = (0..names.len())
            .map(|i| match first.map(|b| &b.columns[i]) {
                Some(Reader::VectorI8 { .. }) => format!("vec_int8(?{})", i + 1),
                _ => format!("?{}", i + 1),
            })
            .collect();
        let sql = format!(
            "INSERT INTO {quoted} ({}) VALUES ({})",
            names.join(", "),
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
    })();
    match result {
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
