//! The data behind an Arrow table: its batches, a reader per (batch, column), and per
//! column the declared SQLite type, value class and null count.

use arrow_array::{Array, RecordBatch};
use arrow_schema::SchemaRef;

use crate::arrow::types::{declared_type, ColumnClass, Reader, TypeError};

/// One batch, with a reader per column.
pub struct Batch {
    /// Row number (rowid) of the batch's first row.
    pub offset: usize,
    pub len: usize,
    pub columns: Vec<Reader>,
}

/// The data behind one Arrow table.
pub struct ArrowTable {
    pub schema: SchemaRef,
    pub batches: Vec<Batch>,
    pub num_rows: usize,
    /// Per column: how many cells read as NULL.
    pub null_counts: Vec<usize>,
    pub classes: Vec<ColumnClass>,
    /// Per column: the declared SQLite type.
    pub decls: Vec<&'static str>,
}

/// How some Arrow types are shown to SQL (register_arrow's options).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// Timestamps as INTEGER counts of the column's unit since the epoch, not text.
    pub timestamps_as_epoch: bool,
    /// uint64 columns as decimal TEXT (any value) instead of INTEGER (error above i64).
    pub uint64_as_text: bool,
}

/// The reader of a top-level column, with the options applied.
fn column_reader(
    array: &arrow_array::ArrayRef,
    field: &arrow_schema::Field,
    options: TableOptions,
) -> Result<Reader, TypeError> {
    use arrow_array::cast::AsArray;
    use arrow_schema::DataType;
    if options.uint64_as_text && field.data_type() == &DataType::UInt64 {
        return Ok(Reader::U64Text(array.as_primitive().clone()));
    }
    let reader = Reader::new(array, field)?;
    Ok(match reader {
        Reader::Timestamp { values, nulls, .. } if options.timestamps_as_epoch => {
            Reader::Duration { values, nulls }
        }
        other => other,
    })
}

fn column_decl(reader: &Reader, field: &arrow_schema::Field) -> &'static str {
    match reader {
        Reader::U64Text(_) => "TEXT",
        Reader::Duration { .. } => "INTEGER",
        _ => declared_type(field.data_type()),
    }
}

impl ArrowTable {
    /// Checks every column's type (and values where needed) and builds the readers.
    pub fn new(schema: SchemaRef, batches: &[RecordBatch]) -> Result<ArrowTable, TypeError> {
        Self::with_options(schema, batches, TableOptions::default())
    }

    /// As `new`, with options for timestamps and uint64.
    pub fn with_options(
        schema: SchemaRef,
        batches: &[RecordBatch],
        options: TableOptions,
    ) -> Result<ArrowTable, TypeError> {
        let fields: Vec<_> = schema.fields().iter().cloned().collect();
        let mut out = Vec::with_capacity(batches.len());
        let mut offset = 0;
        let mut null_counts = vec![0usize; fields.len()];
        for batch in batches {
            if batch.num_rows() == 0 {
                continue;
            }
            let columns = batch
                .columns()
                .iter()
                .zip(&fields)
                .map(|(c, f)| column_reader(c, f, options))
                .collect::<Result<Vec<_>, _>>()?;
            for (i, c) in columns.iter().enumerate() {
                null_counts[i] += count_nulls(c, batch.num_rows());
            }
            out.push(Batch {
                offset,
                len: batch.num_rows(),
                columns,
            });
            offset += batch.num_rows();
        }
        // Types are checked even when there are no rows.
        let mut classes = Vec::with_capacity(fields.len());
        let mut decls = Vec::with_capacity(fields.len());
        for f in &fields {
            let empty = arrow_array::new_empty_array(f.data_type());
            let reader = column_reader(&empty, f, options)?;
            classes.push(reader.class());
            decls.push(column_decl(&reader, f));
        }
        Ok(ArrowTable {
            schema,
            batches: out,
            num_rows: offset,
            null_counts,
            classes,
            decls,
        })
    }

    /// `CREATE TABLE x(...)` for sqlite3_declare_vtab.
    pub(crate) fn declaration(&self) -> String {
        let columns: Vec<String> = self
            .schema
            .fields()
            .iter()
            .zip(&self.decls)
            .map(|(f, t)| {
                if t.is_empty() {
                    crate::sqlite::ident::quote_identifier(f.name())
                } else {
                    format!("{} {t}", crate::sqlite::ident::quote_identifier(f.name()))
                }
            })
            .collect();
        format!("CREATE TABLE x({})", columns.join(", "))
    }
}

fn count_nulls(reader: &Reader, len: usize) -> usize {
    fn nan_or_null<T: arrow_array::ArrowPrimitiveType>(
        a: &arrow_array::PrimitiveArray<T>,
        is_nan: impl Fn(&T::Native) -> bool,
    ) -> usize {
        match a.nulls() {
            None => a.values().iter().filter(|v| is_nan(v)).count(),
            Some(n) => a
                .values()
                .iter()
                .enumerate()
                .filter(|(i, v)| n.is_null(*i) || is_nan(v))
                .count(),
        }
    }
    match reader {
        Reader::Null => len,
        Reader::Bool(a) => a.null_count(),
        Reader::I8(a) => a.null_count(),
        Reader::I16(a) => a.null_count(),
        Reader::I32(a) => a.null_count(),
        Reader::I64(a) => a.null_count(),
        Reader::U8(a) => a.null_count(),
        Reader::U16(a) => a.null_count(),
        Reader::U32(a) => a.null_count(),
        Reader::U64(a) => a.null_count(),
        Reader::F32(a) => nan_or_null(a, |v| v.is_nan()),
        Reader::F64(a) => nan_or_null(a, |v| v.is_nan()),
        Reader::Utf8(a) => a.null_count(),
        Reader::LargeUtf8(a) => a.null_count(),
        Reader::Utf8View(a) => a.null_count(),
        Reader::Binary(a) => a.null_count(),
        Reader::Date32(a) => a.null_count(),
        Reader::Date64(a) => a.null_count(),
        Reader::Timestamp { nulls, .. }
        | Reader::Time { nulls, .. }
        | Reader::Duration { nulls, .. } => nulls.as_ref().map_or(0, |n| n.null_count()),
        _ => (0..len).filter(|r| reader.is_null(*r)).count(),
    }
}
