//! vec0 writes through SQL: xUpdate checks every value of a row before anything is
//! written, then inserts, updates or deletes it in the shadow tables.

use std::ffi::c_int;

use rusqlite::ffi;
use rusqlite::types::{Value, ValueRef};

use super::config::ColumnKind;
use super::input::{self, VectorUse};
use super::ivf;
use super::pending::{self, Inserted};
use super::rescore;
use super::shadow::Shadow;
use super::storage::{NewRow, RowChange};
use crate::sqlite::error::error_message;
use crate::sqlite::value::{owned, value_ref};
use crate::sqlite::vtab::set_error;
use crate::vec::vector::{describe_value, sql_type_name};

use super::vtab::{guard, Vec0Tab};

/// An xUpdate failure: most are plain errors; a value that breaks a column's declared
/// type is a constraint violation (SQLITE_CONSTRAINT, `IntegrityError` in Python), as in
/// sqlite-vec.
enum WriteError {
    Error(String),
    Constraint(String),
}

impl From<String> for WriteError {
    fn from(message: String) -> Self {
        WriteError::Error(message)
    }
}

impl From<&str> for WriteError {
    fn from(message: &str) -> Self {
        WriteError::Error(message.to_string())
    }
}

fn check_aux(name: &str, ty: &Option<String>, v: ValueRef<'_>) -> Result<Value, WriteError> {
    let ok = matches!(
        (ty.as_deref(), v),
        (_, ValueRef::Null)
            | (None, _)
            | (Some("ANY"), _)
            | (Some("TEXT"), ValueRef::Text(_))
            | (Some("INTEGER" | "INT"), ValueRef::Integer(_))
            | (
                Some("FLOAT" | "REAL" | "DOUBLE"),
                ValueRef::Real(_) | ValueRef::Integer(_)
            )
            | (Some("BLOB"), ValueRef::Blob(_))
    );
    if !ok {
        let declared = ty.as_deref().unwrap_or("ANY");
        return Err(WriteError::Constraint(format!(
            "Auxiliary column type mismatch: The auxiliary column {name} has type {declared}, \
             but {} was provided. vec0: auxiliary column '{name}': expected {}, got {}",
            sql_type_name(v),
            declared.to_lowercase(),
            describe_value(v)
        )));
    }
    Ok(match (ty.as_deref(), v) {
        (Some("FLOAT" | "REAL" | "DOUBLE"), ValueRef::Integer(i)) => Value::Real(i as f64),
        _ => owned(v),
    })
}

/// A row to insert from xUpdate's argv (`cols` = the column values).
///
/// # Safety
/// `cols` must hold live values, one per declared column (hidden ones included).
unsafe fn new_row(
    shadow: &Shadow,
    rowid_arg: ValueRef<'_>,
    cols: &[*mut ffi::sqlite3_value],
) -> Result<NewRow, WriteError> {
    let config = &shadow.config;
    let mut row = NewRow {
        rowid: input::read_rowid("rowid", rowid_arg)?,
        ..Default::default()
    };
    for (i, col) in config.columns.iter().enumerate() {
        // SAFETY: cols holds live values, one per declared column.
        let (v, subtype) = unsafe { (value_ref(cols[i]), ffi::sqlite3_value_subtype(cols[i])) };
        match &col.kind {
            ColumnKind::IntegerKey => {
                if let Some(id) = input::read_rowid(&col.key_label(), v)? {
                    if row.rowid.is_some_and(|r| r != id) {
                        return Err(WriteError::from(format!(
                            "vec0: rowid and {} differ ({} and {id})",
                            col.key_label(),
                            row.rowid.unwrap_or_default()
                        )));
                    }
                    row.rowid = Some(id);
                }
            }
            ColumnKind::TextKey => row.text_id = Some(input::read_text_id(&col.name, v)?),
            ColumnKind::Vector(vc) => {
                let q = input::read_vector(&col.name, vc, v, subtype, VectorUse::Insert)?;
                row.vectors.push(input::vector_bytes(&q));
            }
            ColumnKind::Partition(ty) | ColumnKind::Metadata(ty) => {
                row.scalars.push(input::read_scalar(&col.name, *ty, v)?)
            }
            ColumnKind::Auxiliary(ty) => row.aux.push(check_aux(&col.name, ty, v)?),
        }
    }
    for (hidden, name) in [
        (config.distance_column(), "distance"),
        (config.k_column(), "k"),
    ] {
        if let Some(&p) = cols.get(hidden) {
            // SAFETY: as above: p is one of the live values SQLite passed to xUpdate.
            if !matches!(unsafe { value_ref(p) }, ValueRef::Null) {
                return Err(WriteError::from(format!(
                    "A value was provided for the hidden \"{name}\" column. vec0: the hidden \
                     columns distance and k cannot be written"
                )));
            }
        }
    }
    Ok(row)
}

/// xUpdate.
///
/// # Safety
/// `argv` must be xUpdate's live values; `p_rowid` writable.
unsafe fn update(
    t: &Vec0Tab,
    argv: &[*mut ffi::sqlite3_value],
    p_rowid: *mut i64,
) -> Result<c_int, WriteError> {
    let shadow = &t.shadow;
    let conn = &t.conn;
    // SAFETY: argv values are live for this call.
    let arg = |i: usize| unsafe { value_ref(argv[i]) };
    let mut tx = pending::lock(&t.tx);
    if argv.len() == 1 {
        let rowid = input::read_rowid("rowid", arg(0))?.ok_or("vec0: DELETE of a NULL rowid")?;
        tx.flush(shadow, conn).map_err(error_message)?;
        shadow
            .delete_with(conn, rowid, &mut tx.tokens)
            .map_err(error_message)?;
        return Ok(ffi::SQLITE_OK);
    }
    // SAFETY: db is live; we are inside xUpdate.
    let on_conflict = unsafe { ffi::sqlite3_vtab_on_conflict(t.db) };
    let replace = on_conflict == ffi::SQLITE_REPLACE;
    let ignore = on_conflict == ffi::SQLITE_IGNORE;
    let cols = &argv[2..];
    if let Some(c) = shadow.command_column() {
        // SAFETY: cols are live values, one per declared column.
        let command = unsafe { value_ref(cols[c]) };
        if let ValueRef::Text(text) = command {
            if let Some(n) = rescore::oversample_command(text) {
                if shadow
                    .config
                    .vector_columns()
                    .all(|(_, c)| c.index.is_none() && c.ivf.is_none_or(|i| i.quantizer.is_none()))
                {
                    return Err(WriteError::Error(format!(
                        "vec0: 'oversample=N' needs a column with 'indexed by rescore(...)' \
                         or 'indexed by ivf(quantizer=int8|binary, ...)'; table '{}' has none",
                        shadow.name
                    )));
                }
                t.oversample.set(Some(n?));
                return Ok(ffi::SQLITE_OK);
            }
        }
        if let ValueRef::Text(text) = command {
            if let Some(n) = ivf::nprobe_command(text) {
                let Some(nlist) = config_nlist(shadow) else {
                    return Err(WriteError::Error(format!(
                        "vec0: 'nprobe=N' needs a column with 'indexed by ivf(...)'; table \
                         '{}' has none",
                        shadow.name
                    )));
                };
                let n = n?;
                if n > nlist {
                    return Err(WriteError::Error(format!(
                        "vec0: nprobe ({n}) must not exceed nlist ({nlist})"
                    )));
                }
                t.nprobe.set(Some(n));
                return Ok(ffi::SQLITE_OK);
            }
            // The value of the ivf column (for 'set-centroid:N').
            let vector = match shadow.ivf_columns().first() {
                Some(&vi) => {
                    let (ci, vc) = shadow
                        .config
                        .vector_columns()
                        .nth(vi)
                        .ok_or("vec0: bad ivf column")?;
                    // SAFETY: cols are live values, one per declared column.
                    let (v, subtype) =
                        unsafe { (value_ref(cols[ci]), ffi::sqlite3_value_subtype(cols[ci])) };
                    if matches!(v, ValueRef::Null) {
                        None
                    } else {
                        let name = &shadow.config.columns[ci].name;
                        let q = input::read_vector(name, vc, v, subtype, VectorUse::Update)?;
                        Some(input::vector_bytes(&q))
                    }
                }
                None => None,
            };
            tx.flush(shadow, conn).map_err(error_message)?;
            let tokens = &mut tx.tokens;
            if let Some(result) = ivf::command(shadow, conn, tokens, text, vector.as_deref()) {
                result.map_err(error_message)?;
                return Ok(ffi::SQLITE_OK);
            }
        }
        if !matches!(command, ValueRef::Null) {
            shadow.command(conn, command).map_err(error_message)?;
            return Ok(ffi::SQLITE_OK);
        }
    }
    if matches!(arg(0), ValueRef::Null) {
        // SAFETY: cols are live values.
        let row = unsafe { new_row(shadow, arg(1), cols)? };
        // Buffered in memory until the chunk is full or the table is read (pending.rs).
        match tx
            .insert(shadow, conn, row, replace, ignore)
            .map_err(error_message)?
        {
            // INSERT OR IGNORE: SQLite skips the row and counts no change.
            Inserted::Ignored => return Ok(ffi::SQLITE_CONSTRAINT),
            // SAFETY: p_rowid is writable during an INSERT.
            Inserted::Rowid(rowid) => unsafe { *p_rowid = rowid },
        }
        return Ok(ffi::SQLITE_OK);
    }
    // UPDATE.
    tx.flush(shadow, conn).map_err(error_message)?;
    let old = input::read_rowid("rowid", arg(0))?.ok_or("vec0: UPDATE of a NULL rowid")?;
    let new_arg = input::read_rowid("rowid", arg(1))?;
    let config = &shadow.config;
    let mut change = RowChange::default();
    let mut new_rowid = new_arg.unwrap_or(old);
    for (i, col) in config.columns.iter().enumerate() {
        let p = cols[i];
        // SAFETY: p is live.
        if unsafe { ffi::sqlite3_value_nochange(p) } != 0 {
            match col.kind {
                ColumnKind::Vector(_) => change.vectors.push(None),
                ColumnKind::Partition(_) | ColumnKind::Metadata(_) => change.scalars.push(None),
                ColumnKind::Auxiliary(_) => change.aux.push(None),
                _ => {}
            }
            continue;
        }
        // SAFETY: p is live.
        let (v, subtype) = unsafe { (value_ref(p), ffi::sqlite3_value_subtype(p)) };
        match &col.kind {
            ColumnKind::IntegerKey => {
                let id = input::read_rowid(&col.key_label(), v)?
                    .ok_or_else(|| format!("vec0: {} cannot be NULL", col.key_label()))?;
                if new_rowid == old && id != old {
                    new_rowid = id;
                } else if id != old && id != new_rowid {
                    return Err(WriteError::from(format!(
                        "vec0: rowid and {} differ ({new_rowid} and {id})",
                        col.key_label()
                    )));
                }
            }
            ColumnKind::TextKey => {
                let id = input::read_text_id(&col.name, v)?;
                let current = shadow.text_id_of(conn, old).map_err(error_message)?;
                if current.as_deref() != Some(id.as_str()) {
                    if shadow
                        .rowid_of_text_id(conn, &id)
                        .map_err(error_message)?
                        .is_some()
                    {
                        return Err(WriteError::from(format!(
                            "UNIQUE constraint failed on {0} primary key: {0}.{1} (a row with id \
                             '{id}' already exists)",
                            shadow.name, col.name
                        )));
                    }
                    change.text_id = Some(id);
                }
            }
            ColumnKind::Vector(vc) => {
                let q = input::read_vector(&col.name, vc, v, subtype, VectorUse::Update)?;
                change.vectors.push(Some(input::vector_bytes(&q)));
            }
            ColumnKind::Partition(ty) | ColumnKind::Metadata(ty) => change
                .scalars
                .push(Some(input::read_scalar(&col.name, *ty, v)?)),
            ColumnKind::Auxiliary(ty) => change.aux.push(Some(check_aux(&col.name, ty, v)?)),
        }
    }
    if new_rowid != old {
        if shadow
            .rowid_exists(conn, new_rowid)
            .map_err(error_message)?
        {
            if ignore {
                // UPDATE OR IGNORE: skipped, no change counted.
                return Ok(ffi::SQLITE_CONSTRAINT);
            }
            if replace {
                shadow
                    .delete_with(conn, new_rowid, &mut tx.tokens)
                    .map_err(error_message)?;
            } else {
                return Err(WriteError::from(format!(
                    "UNIQUE constraint failed on {0} primary key: {0}.rowid (cannot change rowid \
                     {old} to {new_rowid}: a row with that rowid exists)",
                    shadow.name
                )));
            }
        }
        change.new_rowid = Some(new_rowid);
    }
    let moved = change.new_rowid.is_some();
    shadow
        .update_with(conn, old, &change, &mut tx.tokens)
        .map_err(error_message)?;
    if moved {
        tx.rowid_moved();
    }
    Ok(ffi::SQLITE_OK)
}

pub(super) unsafe extern "C" fn x_update(
    vtab: *mut ffi::sqlite3_vtab,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
    p_rowid: *mut i64,
) -> c_int {
    // SAFETY: vtab is ours; argv holds argc live values.
    unsafe {
        guard(vtab, || {
            let t = &*vtab.cast::<Vec0Tab>();
            let args = std::slice::from_raw_parts(argv, argc.max(0) as usize);
            let expected = t.shadow.config.columns.len()
                + 4
                + usize::from(t.shadow.command_column().is_some());
            if args.len() != 1 && args.len() != expected {
                return Err(format!(
                    "vec0: unexpected argument count {} in xUpdate",
                    args.len()
                ));
            }
            match update(t, args, p_rowid) {
                Ok(rc) => Ok(rc),
                Err(WriteError::Error(message)) => Err(message),
                Err(WriteError::Constraint(message)) => {
                    set_error(vtab, &message);
                    Ok(ffi::SQLITE_CONSTRAINT)
                }
            }
        })
    }
}

/// The nlist of the table's first ivf column, if any.
fn config_nlist(shadow: &super::shadow::Shadow) -> Option<usize> {
    shadow
        .config
        .vector_columns()
        .find_map(|(_, c)| c.ivf.map(|i| i.nlist))
}
