//! Rendering of computed-text columns: timestamps, dates, times, decimals, uint64 as
//! text and nested types as JSON are text that SQLite only sees after formatting each
//! cell. `render_batch` formats such columns once into utf8 view arrays, so that a
//! consumer (insert_arrow's INSERT ... SELECT) only copies text. insert_arrow renders
//! chunks on a helper thread, ahead of SQLite's single-threaded insert.

use std::sync::Arc;

use arrow_array::builder::LargeStringBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::arrow::types::{Reader, SqlValue};
use crate::sqlite::error::sql_error;

/// Whether this column's SQL values are text formatted per cell (or NULL), and nothing
/// else: the columns worth rendering ahead of time.
pub fn is_rendered(reader: &Reader) -> bool {
    matches!(
        reader,
        Reader::Decimal { .. }
            | Reader::Date32(_)
            | Reader::Date64(_)
            | Reader::Timestamp { .. }
            | Reader::Time { .. }
            | Reader::U64Text(_)
            | Reader::Json(_)
    )
}

/// `schema` with the rendered columns (`render[i]`) turned into nullable utf8 views.
pub fn rendered_schema(schema: &SchemaRef, render: &[bool]) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(render)
        .map(|(f, rendered)| {
            if *rendered {
                Field::new(f.name(), DataType::LargeUtf8, true)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The text of every cell of `reader` (`len` rows), NULLs kept.
fn render_column(reader: &Reader, len: usize) -> rusqlite::Result<ArrayRef> {
    let mut out = LargeStringBuilder::with_capacity(len, len * 32);
    for row in 0..len {
        match reader.value(row) {
            SqlValue::Null => out.append_null(),
            SqlValue::Text(t) => out.append_value(t),
            SqlValue::Short(t) => out.append_value(t.as_str()),
            other => {
                return Err(sql_error(format!(
                    "internal error: rendering a text column met a non-text value {other:?}"
                )))
            }
        }
    }
    Ok(Arc::new(out.finish()))
}

/// `batch` with each column `i` where `render[i]` replaced by its text, read through
/// `readers` (the batch's readers); the other columns are shared, not copied.
pub fn render_batch(
    batch: &RecordBatch,
    readers: &[Reader],
    render: &[bool],
    schema: &SchemaRef,
) -> rusqlite::Result<RecordBatch> {
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (i, column) in batch.columns().iter().enumerate() {
        columns.push(if render[i] {
            render_column(&readers[i], batch.num_rows())?
        } else {
            column.clone()
        });
    }
    RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| sql_error(format!("internal error: rendered batch: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrow::table::ArrowTable;
    use arrow_array::{Array, Int64Array, LargeStringArray, TimestampMicrosecondArray};

    #[test]
    fn timestamps_render_as_their_sql_text_and_keep_nulls() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new(
                "ts",
                DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, None),
                true,
            ),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(TimestampMicrosecondArray::from(vec![
                    Some(0),
                    None,
                    Some(-1),
                ])),
            ],
        )
        .unwrap();
        let table = ArrowTable::new(schema.clone(), std::slice::from_ref(&batch)).unwrap();
        let readers = &table.batches[0].columns;
        let render: Vec<bool> = readers.iter().map(is_rendered).collect();
        assert_eq!(render, [false, true]);
        let out_schema = rendered_schema(&schema, &render);
        let out = render_batch(&batch, readers, &render, &out_schema).unwrap();
        assert_eq!(out.column(0).as_ref(), batch.column(0).as_ref());
        let text = out
            .column(1)
            .as_any()
            .downcast_ref::<LargeStringArray>()
            .unwrap();
        assert_eq!(text.value(0), "1970-01-01 00:00:00.000000");
        assert!(text.is_null(1));
        assert_eq!(text.value(2), "1969-12-31 23:59:59.999999");
    }
}
