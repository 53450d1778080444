//! `arrow`: read-only virtual tables over Arrow record batches held in memory.
//!
//! Tables are made by `register` (Python's `register_arrow`), never by hand-written SQL:
//! the batches are staged in a process-wide registry under a numeric key and the table
//! is created as `CREATE VIRTUAL TABLE temp."name" USING arrow(<key>)`. The registry entry
//! belongs to the connection that staged it; it is removed on DROP TABLE (xDestroy) and
//! when the connection closes (the module's destructor). Tables, cursors and the registry
//! all hold `Arc`s of the batches, so buffers live as long as anything reads them.
//!
//! Written on the raw module API so that `xColumn` can hand out text/blob results without
//! an extra copy, set vector subtypes, and read constraint collations in xBestIndex.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::{Array, RecordBatch};
use arrow_schema::SchemaRef;
use rusqlite::ffi;
use rusqlite::types::ValueRef;
use rusqlite::Connection;

use crate::arrow::filter::{rowid_target, Filter, Op, Prepared, RowidTarget};
use crate::arrow::types::{declared_type, ColumnClass, Reader, SqlValue, TypeError};
use crate::sqlite::error::sql_error;
use crate::sqlite::value::value_ref;
use crate::sqlite::vtab::{connect_outcome, create_module_with_aux, fail, sqlite_string};

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
                    quote_identifier(f.name())
                } else {
                    format!("{} {t}", quote_identifier(f.name()))
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

/// `"name"` with embedded quotes doubled.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The data of one registered table. Re-registering with the same columns swaps the
/// `Arc` inside: cursors already open keep the data they started with.
pub(crate) type Slot = Arc<Mutex<Arc<ArrowTable>>>;

pub(crate) fn new_slot(table: Arc<ArrowTable>) -> Slot {
    Arc::new(Mutex::new(table))
}

fn current(slot: &Slot) -> Arc<ArrowTable> {
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

fn lookup(db: usize, key: u64) -> Option<Slot> {
    registry()
        .as_ref()
        .and_then(|m| m.get(&key))
        .filter(|e| e.db == db)
        .map(|e| e.slot.clone())
}

fn remove(key: u64) {
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

// ---------------------------------------------------------------------------------------
// The module.

#[repr(C)]
struct VTab {
    base: ffi::sqlite3_vtab,
    slot: Slot,
    key: u64,
    name: String,
}

#[repr(C)]
struct Cursor {
    base: ffi::sqlite3_vtab_cursor,
    table: Arc<ArrowTable>,
    filters: Vec<Filter>,
    /// Rows of the current chunk that pass the filters (None: every row of the chunk).
    selection: Option<Vec<u32>>,
    batch: usize,
    /// The batch-local rows [chunk_lo, chunk_hi) being walked.
    chunk_lo: usize,
    chunk_hi: usize,
    /// Index into selection (or offset from chunk_lo when selection is None).
    pos: usize,
    /// Rowid range given by a rowid constraint.
    rowid_range: (usize, usize),
    empty: bool,
    /// For a sorted scan: every selected (batch, row), in order; pos indexes it.
    ordered: Option<crate::arrow::sort::Ordered>,
}

/// Rows filtered at a time: bounds the selection buffer and lets LIMIT stop early.
const CHUNK_ROWS: usize = 65_536;

impl Cursor {
    fn row(&self) -> usize {
        match &self.selection {
            Some(s) => s[self.pos] as usize,
            None => self.chunk_lo + self.pos,
        }
    }

    fn chunk_len(&self) -> usize {
        match &self.selection {
            Some(s) => s.len(),
            None => self.chunk_hi - self.chunk_lo,
        }
    }

    fn eof(&self) -> bool {
        match &self.ordered {
            Some(o) => self.empty || self.pos >= o.len(),
            None => self.empty || self.batch >= self.table.batches.len(),
        }
    }

    /// The (batch, batch-local row) the cursor is on.
    fn current(&self) -> (usize, usize) {
        match &self.ordered {
            Some(o) => o
                .get(self.pos)
                .map_or((usize::MAX, 0), |(b, r)| (b as usize, r as usize)),
            None => (self.batch, self.row()),
        }
    }

    /// Moves to the first selected row at or after (batch, chunk_lo).
    fn settle(&mut self) {
        while self.batch < self.table.batches.len() {
            let b = &self.table.batches[self.batch];
            let (lo, hi) = self.rowid_range;
            let local_lo = lo.saturating_sub(b.offset).min(b.len);
            let local_hi = hi.saturating_sub(b.offset).min(b.len);
            self.chunk_lo = self.chunk_lo.max(local_lo);
            if self.chunk_lo >= local_hi {
                self.batch += 1;
                self.chunk_lo = 0;
                continue;
            }
            if self.filters.is_empty() {
                self.chunk_hi = local_hi;
                self.selection = None;
            } else {
                self.chunk_hi = (self.chunk_lo + CHUNK_ROWS).min(local_hi);
                let mut sel = self.selection.take().unwrap_or_default();
                sel.clear();
                sel.extend(self.chunk_lo as u32..self.chunk_hi as u32);
                for f in &self.filters {
                    f.retain(&b.columns[f.column], &mut sel);
                    if sel.is_empty() {
                        break;
                    }
                }
                self.selection = Some(sel);
            }
            self.pos = 0;
            if self.chunk_len() > 0 {
                return;
            }
            self.chunk_lo = self.chunk_hi;
        }
    }

    /// Skips `n` selected rows (OFFSET): whole chunks at a time where possible.
    fn skip(&mut self, mut n: usize) {
        if let Some(ordered) = &mut self.ordered {
            self.pos = self.pos.saturating_add(n);
            ordered.prepare(self.pos);
            return;
        }
        while n > 0 && !self.eof() {
            let left = self.chunk_len() - self.pos;
            if n < left {
                self.pos += n;
                return;
            }
            n -= left;
            self.chunk_lo = self.chunk_hi;
            self.settle();
        }
    }

    fn advance(&mut self) {
        self.pos += 1;
        if let Some(ordered) = &mut self.ordered {
            // A lazily sorted scan sorts the next block when it gets there.
            ordered.prepare(self.pos);
            return;
        }
        if self.pos >= self.chunk_len() {
            self.chunk_lo = self.chunk_hi;
            self.settle();
        }
    }
}

/// Runs `f`, turning a panic into SQLITE_ERROR with a message on `vtab`.
///
/// # Safety
/// `vtab` must be null or a live sqlite3_vtab of this module.
unsafe fn guard(vtab: *mut ffi::sqlite3_vtab, f: impl FnOnce() -> c_int) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(rc) => rc,
        Err(_) if !vtab.is_null() => {
            // SAFETY: per the contract.
            unsafe { fail(vtab, "arrow: internal error (panic)") }
        }
        Err(_) => ffi::SQLITE_ERROR,
    }
}

unsafe fn arg(argv: *const *const c_char, i: usize) -> String {
    // SAFETY: the caller checked i < argc; SQLite passes NUL-terminated strings.
    unsafe { CStr::from_ptr(*argv.add(i)) }
        .to_string_lossy()
        .into_owned()
}

/// The signature of xCreate / xConnect.
pub(crate) type XConnect = unsafe extern "C" fn(
    *mut ffi::sqlite3,
    *mut c_void,
    c_int,
    *const *const c_char,
    *mut *mut ffi::sqlite3_vtab,
    *mut *mut c_char,
) -> c_int;

/// Shared body of xCreate / xConnect: `resolve` finds the data from the module
/// arguments (argv[0] module, [1] schema, [2] table name, [3..] arguments) and returns it
/// with its registry key (0 for none).
///
/// # Safety
/// Arguments as SQLite passes them to xConnect.
pub(crate) unsafe fn connect_table(
    db: *mut ffi::sqlite3,
    argc: c_int,
    argv: *const *const c_char,
    pp_vtab: *mut *mut ffi::sqlite3_vtab,
    err: *mut *mut c_char,
    resolve: impl FnOnce(&[String]) -> Result<(Slot, u64), String>,
) -> c_int {
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<(), String> {
        // SAFETY: argc strings from SQLite.
        let args: Vec<String> = (0..argc.max(0) as usize)
            .map(|i| unsafe { arg(argv, i) })
            .collect();
        let name = args.get(2).cloned().unwrap_or_default();
        let (slot, key) = resolve(&args)?;
        let decl =
            std::ffi::CString::new(current(&slot).declaration()).map_err(|e| e.to_string())?;
        // SAFETY: db is the connection SQLite is connecting us to.
        let rc = unsafe { ffi::sqlite3_declare_vtab(db, decl.as_ptr()) };
        if rc != ffi::SQLITE_OK {
            return Err(format!("arrow table {name:?}: cannot declare its columns"));
        }
        let vtab = Box::new(VTab {
            // SAFETY: plain C struct; SQLite fills it.
            base: unsafe { std::mem::zeroed() },
            slot,
            key,
            name,
        });
        // SAFETY: pp_vtab is writable; VTab is repr(C) with the base struct first.
        unsafe { *pp_vtab = Box::into_raw(vtab).cast::<ffi::sqlite3_vtab>() };
        Ok(())
    }));
    // SAFETY: err is SQLite's error slot for this call.
    unsafe { connect_outcome(result, "arrow", err) }
}

unsafe extern "C" fn x_connect(
    db: *mut ffi::sqlite3,
    aux: *mut c_void,
    argc: c_int,
    argv: *const *const c_char,
    pp_vtab: *mut *mut ffi::sqlite3_vtab,
    err: *mut *mut c_char,
) -> c_int {
    // SAFETY: forwarded from SQLite; aux is the Box<usize> given to create_module_v2.
    unsafe {
        connect_table(db, argc, argv, pp_vtab, err, |args| {
            if args.len() != 4 {
                return Err(
                    "arrow tables are created by sqlite_quiver.register_arrow(), not by hand"
                        .to_string(),
                );
            }
            if !args[1].eq_ignore_ascii_case("temp") {
                return Err("arrow tables live in the temp schema; use register_arrow()".into());
            }
            let name = &args[2];
            let key: u64 = args[3]
                .trim()
                .parse()
                .map_err(|_| "arrow tables are created by sqlite_quiver.register_arrow()")?;
            let owner = *aux.cast::<usize>();
            let table = lookup(owner, key).ok_or_else(|| {
                format!(
                    "arrow table {name:?}: no data registered under key {key} (arrow tables \
                     are created by sqlite_quiver.register_arrow())"
                )
            })?;
            Ok((table, key))
        })
    }
}

unsafe extern "C" fn x_disconnect(vtab: *mut ffi::sqlite3_vtab) -> c_int {
    // SAFETY: vtab was made by Box::into_raw in x_connect and SQLite drops it once.
    unsafe {
        ffi::sqlite3_free((*vtab).zErrMsg.cast::<c_void>());
        drop(Box::from_raw(vtab.cast::<VTab>()));
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_destroy(vtab: *mut ffi::sqlite3_vtab) -> c_int {
    // SAFETY: vtab is one of ours.
    let key = unsafe { (*vtab.cast::<VTab>()).key };
    remove(key);
    // SAFETY: as for x_disconnect.
    unsafe { x_disconnect(vtab) }
}

// idxStr: one "column:op;" per used constraint, in argv order.
unsafe extern "C" fn x_best_index(
    vtab: *mut ffi::sqlite3_vtab,
    info: *mut ffi::sqlite3_index_info,
) -> c_int {
    // SAFETY: vtab is one of ours; SQLite hands a valid index_info whose arrays have
    // nConstraint entries.
    unsafe {
        guard(vtab, || {
            let table = current(&(*vtab.cast::<VTab>()).slot);
            let info = &mut *info;
            let n = table.num_rows.max(1) as f64;
            let mut rows = n;
            let mut plan = String::new();
            let mut argv = 0;
            let mut rowid_eq = false;
            // Whether every WHERE term is evaluated here exactly (SQLite re-checks
            // nothing): only then may LIMIT / OFFSET be applied by the table.
            let mut exact = true;
            let mut limits = Vec::new();
            for i in 0..info.nConstraint as usize {
                let c = &*info.aConstraint.add(i);
                if let Some(limit) = Limit::from_sqlite(c.op) {
                    if c.usable != 0 {
                        limits.push((i, limit));
                    }
                    continue;
                }
                if c.usable == 0 {
                    exact = false;
                    continue;
                }
                let Some(op) = Op::from_sqlite(c.op) else {
                    exact = false;
                    continue;
                };
                let column = c.iColumn;
                if column < 0 && op != Op::Eq {
                    exact = false;
                    continue;
                }
                // SQLite passes a row-value comparison `(a, b) < (x, y)` as `a <= x` and
                // re-checks the whole term itself whatever omit says: a <= / >= term may
                // be weaker than the query's, so it rules LIMIT / OFFSET out.
                if matches!(op, Op::Le | Op::Ge) {
                    exact = false;
                }
                let (class, nulls) = if column < 0 {
                    (ColumnClass::Numeric, 0)
                } else {
                    let col = column as usize;
                    (table.classes[col], table.null_counts[col])
                };
                let binary = {
                    let coll = ffi::sqlite3_vtab_collation(info, i as c_int);
                    coll.is_null()
                        || CStr::from_ptr(coll)
                            .to_bytes()
                            .eq_ignore_ascii_case(b"BINARY")
                };
                let (push, omit) = match op {
                    Op::IsNull | Op::IsNotNull => (column >= 0, true),
                    _ if column < 0 => (true, false),
                    _ => match class {
                        ColumnClass::Numeric => (true, true),
                        ColumnClass::Text => (binary, false),
                        ColumnClass::Other => (false, false),
                    },
                };
                if !push {
                    exact = false;
                    continue;
                }
                exact &= omit;
                argv += 1;
                let usage = &mut *info.aConstraintUsage.add(i);
                usage.argvIndex = argv;
                usage.omit = u8::from(omit) as _;
                plan.push_str(&format!("{}:{};", column, op.code()));
                rows *= match op {
                    Op::Eq if column < 0 => {
                        rowid_eq = true;
                        1.0 / n
                    }
                    Op::Eq => 0.05,
                    Op::Ne => 0.9,
                    Op::IsNull => (nulls as f64 / n).max(1.0 / n),
                    Op::IsNotNull => ((n - nulls as f64) / n).max(1.0 / n),
                    _ => 0.3,
                };
            }
            let rows = rows.max(1.0);
            // Rows come in rowid order; other orders (ORDER BY / GROUP BY on numeric or
            // text columns) are produced by sorting the selected rows.
            let mut order = Vec::new();
            let mut sort_cost = 0.0;
            let mut ordered_here = true;
            if info.nOrderBy > 0 {
                let terms = std::slice::from_raw_parts(info.aOrderBy, info.nOrderBy as usize);
                ordered_here = false;
                if terms.len() == 1 && terms[0].iColumn < 0 && terms[0].desc == 0 {
                    info.orderByConsumed = 1;
                    ordered_here = true;
                } else if terms.iter().all(|t| {
                    t.iColumn >= 0
                        && crate::arrow::sort::sortable(table.classes[t.iColumn as usize])
                }) {
                    order = terms
                        .iter()
                        .map(|t| crate::arrow::sort::OrderTerm {
                            column: t.iColumn as usize,
                            desc: t.desc != 0,
                        })
                        .collect();
                    info.orderByConsumed = 1;
                    ordered_here = true;
                    sort_cost = rows * rows.log2().max(1.0) * 0.05;
                }
            }
            // LIMIT / OFFSET (SQLite 3.38+ hands them over when the table is the only
            // one in the query and every WHERE term reaches it): taken when the rows
            // come out filtered and ordered here, so skipping OFFSET rows and sorting
            // only the first LIMIT + OFFSET is exactly what SQLite would do. SQLite
            // still applies the LIMIT itself; the OFFSET it leaves to the table (omit).
            let mut limit_plan = String::new();
            if exact && ordered_here && limits_are_reliable() {
                for (i, limit) in limits {
                    argv += 1;
                    let usage = &mut *info.aConstraintUsage.add(i);
                    usage.argvIndex = argv;
                    usage.omit = u8::from(limit == Limit::Offset) as _;
                    limit_plan.push(limit.code());
                }
            }
            info.estimatedRows = rows as i64;
            // A scan costs about a tenth of a native-table row visit per row; rows
            // handed to SQLite cost one each. A rowid lookup is direct.
            info.estimatedCost = if rowid_eq { 1.0 + rows } else { n * 0.1 + rows } + sort_cost;
            if !plan.is_empty() || !order.is_empty() || !limit_plan.is_empty() {
                info.idxNum = 1;
                plan.push('|');
                plan.push_str(&crate::arrow::sort::encode(&order));
                plan.push('|');
                plan.push_str(&limit_plan);
                info.idxStr = sqlite_string(&plan);
                info.needToFreeIdxStr = 1;
            }
            ffi::SQLITE_OK
        })
    }
}

unsafe extern "C" fn x_open(
    vtab: *mut ffi::sqlite3_vtab,
    pp_cursor: *mut *mut ffi::sqlite3_vtab_cursor,
) -> c_int {
    // SAFETY: vtab is one of ours.
    let table = current(unsafe { &(*vtab.cast::<VTab>()).slot });
    let cursor = Box::new(Cursor {
        // SAFETY: plain C struct; SQLite fills pVtab.
        base: unsafe { std::mem::zeroed() },
        table,
        filters: Vec::new(),
        selection: None,
        batch: 0,
        chunk_lo: 0,
        chunk_hi: 0,
        pos: 0,
        rowid_range: (0, usize::MAX),
        empty: true,
        ordered: None,
    });
    // SAFETY: pp_cursor is writable; Cursor is repr(C) with the base struct first.
    unsafe { *pp_cursor = Box::into_raw(cursor).cast::<ffi::sqlite3_vtab_cursor>() };
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_close(cursor: *mut ffi::sqlite3_vtab_cursor) -> c_int {
    // SAFETY: made by Box::into_raw in x_open; SQLite closes each cursor once.
    unsafe { drop(Box::from_raw(cursor.cast::<Cursor>())) };
    ffi::SQLITE_OK
}

/// A LIMIT or OFFSET handed to xBestIndex (SQLite 3.38+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    Limit,
    Offset,
}

impl Limit {
    /// SQLITE_INDEX_CONSTRAINT_LIMIT / _OFFSET (73 / 74): not in the 3.34 bindings.
    fn from_sqlite(op: u8) -> Option<Limit> {
        match op {
            73 => Some(Limit::Limit),
            74 => Some(Limit::Offset),
            _ => None,
        }
    }

    fn code(self) -> char {
        match self {
            Limit::Limit => 'l',
            Limit::Offset => 'o',
        }
    }

    fn from_code(c: char) -> Option<Limit> {
        match c {
            'l' => Some(Limit::Limit),
            'o' => Some(Limit::Offset),
            _ => None,
        }
    }
}

/// Whether this SQLite hands LIMIT / OFFSET to a virtual table only when the table may
/// apply them. Older releases (3.38 to at least 3.40) also hand a compound SELECT's
/// OFFSET to each of its arms, and accept the plan when a WHERE term is left unused;
/// 3.46.0 is the first release checked to refuse both. (One case no table can see:
/// an ORDER BY of 64 or more terms, which SQLite drops from planning but still hands
/// over the LIMIT / OFFSET for, as if there were none.)
fn limits_are_reliable() -> bool {
    // SAFETY: a plain version query, valid at any time.
    unsafe { ffi::sqlite3_libversion_number() >= 3_046_000 }
}

/// The integer value of a LIMIT / OFFSET argument (SQLite has made it an integer).
fn limit_value(value: ValueRef<'_>) -> Option<i64> {
    match value {
        ValueRef::Integer(n) => Some(n),
        ValueRef::Real(r) if r.fract() == 0.0 && r.abs() < 9.0e18 => Some(r as i64),
        _ => None,
    }
}

/// Parses idxStr into (column, op) pairs.
fn parse_plan(plan: &str) -> Option<Vec<(i32, Op)>> {
    plan.split(';')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (c, o) = s.split_once(':')?;
            Some((c.parse().ok()?, Op::from_code(o.parse().ok()?)?))
        })
        .collect()
}

unsafe extern "C" fn x_filter(
    cursor: *mut ffi::sqlite3_vtab_cursor,
    _idx_num: c_int,
    idx_str: *const c_char,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) -> c_int {
    // SAFETY: cursor is one of ours (x_open); argv holds argc live values.
    unsafe {
        let vtab = (*cursor).pVtab;
        guard(vtab, || {
            let c = &mut *cursor.cast::<Cursor>();
            let idx = if idx_str.is_null() {
                String::new()
            } else {
                CStr::from_ptr(idx_str).to_string_lossy().into_owned()
            };
            let mut sections = idx.splitn(3, '|');
            let filters = sections.next().unwrap_or("");
            let order = sections.next().unwrap_or("");
            let limit_plan = sections.next().unwrap_or("");
            let (Some(plan), Some(order), Some(limit_plan)) = (
                parse_plan(filters),
                crate::arrow::sort::decode(order),
                limit_plan
                    .chars()
                    .map(Limit::from_code)
                    .collect::<Option<Vec<_>>>(),
            ) else {
                return fail(vtab, "arrow: bad index plan");
            };
            if plan.len() + limit_plan.len() != argc as usize {
                return fail(vtab, "arrow: index plan does not match its arguments");
            }
            // Rows to skip, and how many to produce after them (None: all).
            let mut skip = 0usize;
            let mut take: Option<usize> = None;
            for (k, limit) in limit_plan.iter().enumerate() {
                let Some(n) = limit_value(value_ref(*argv.add(plan.len() + k))) else {
                    return fail(vtab, "arrow: LIMIT and OFFSET must be integers");
                };
                // Negative LIMIT: no limit; negative OFFSET: none (as SQLite).
                match limit {
                    Limit::Limit => take = usize::try_from(n).ok(),
                    Limit::Offset => skip = usize::try_from(n).unwrap_or(0),
                }
            }
            c.filters.clear();
            c.rowid_range = (0, usize::MAX);
            c.empty = false;
            for (i, (column, op)) in plan.into_iter().enumerate() {
                let value: ValueRef<'_> = value_ref(*argv.add(i));
                if column < 0 {
                    // rowid = ?: SQLite compares rowids as integers.
                    match rowid_target(value) {
                        RowidTarget::Row(r) if r >= 0 => {
                            let r = r as usize;
                            c.rowid_range = (c.rowid_range.0.max(r), c.rowid_range.1.min(r + 1));
                        }
                        RowidTarget::Row(_) | RowidTarget::Nothing => c.empty = true,
                        RowidTarget::Unknown => {}
                    }
                    continue;
                }
                let col = column as usize;
                match Filter::prepare(col, op, c.table.classes[col], value) {
                    Prepared::Filter(f) => c.filters.push(f),
                    Prepared::Nothing => c.empty = true,
                    Prepared::Everything => {}
                }
            }
            c.batch = 0;
            c.chunk_lo = 0;
            c.chunk_hi = 0;
            c.pos = 0;
            c.ordered = None;
            if !c.empty {
                c.settle();
                if !order.is_empty() {
                    let mut rows = Vec::new();
                    while !c.eof() {
                        rows.push((c.batch as u32, c.row() as u32));
                        c.advance();
                    }
                    let table = c.table.clone();
                    let first = take.map(|t| t.saturating_add(skip));
                    let mut ordered = crate::arrow::sort::Ordered::new(&table, rows, &order, first);
                    ordered.prepare(0);
                    c.ordered = Some(ordered);
                    c.pos = 0;
                }
                c.skip(skip);
            }
            ffi::SQLITE_OK
        })
    }
}

unsafe extern "C" fn x_next(cursor: *mut ffi::sqlite3_vtab_cursor) -> c_int {
    // SAFETY: cursor is one of ours.
    unsafe {
        let vtab = (*cursor).pVtab;
        guard(vtab, || {
            let c = &mut *cursor.cast::<Cursor>();
            c.advance();
            ffi::SQLITE_OK
        })
    }
}

unsafe extern "C" fn x_eof(cursor: *mut ffi::sqlite3_vtab_cursor) -> c_int {
    // SAFETY: cursor is one of ours.
    let c = unsafe { &*cursor.cast::<Cursor>() };
    c_int::from(c.eof())
}

/// Sets text as the result of `ctx` (SQLite copies it).
///
/// # Safety
/// `ctx` must be a live result context.
#[inline]
unsafe fn set_text(ctx: *mut ffi::sqlite3_context, t: &str) {
    // SAFETY: per the contract; SQLITE_TRANSIENT makes SQLite copy the bytes.
    unsafe {
        ffi::sqlite3_result_text64(
            ctx,
            t.as_ptr().cast::<c_char>(),
            t.len() as u64,
            ffi::SQLITE_TRANSIENT(),
            ffi::SQLITE_UTF8 as u8,
        )
    }
}

/// Sets `value` as the result of `ctx`.
///
/// # Safety
/// `ctx` must be a live result context.
pub unsafe fn set_result(ctx: *mut ffi::sqlite3_context, value: SqlValue<'_>) {
    // SAFETY: per the contract; SQLITE_TRANSIENT makes SQLite copy text and blobs.
    unsafe {
        match value {
            SqlValue::Null => ffi::sqlite3_result_null(ctx),
            SqlValue::Integer(i) => ffi::sqlite3_result_int64(ctx, i),
            SqlValue::Real(r) => ffi::sqlite3_result_double(ctx, r),
            SqlValue::Text(t) => ffi::sqlite3_result_text64(
                ctx,
                t.as_ptr().cast::<c_char>(),
                t.len() as u64,
                ffi::SQLITE_TRANSIENT(),
                ffi::SQLITE_UTF8 as u8,
            ),
            SqlValue::Short(t) => ffi::sqlite3_result_text64(
                ctx,
                t.as_str().as_ptr().cast::<c_char>(),
                t.as_str().len() as u64,
                ffi::SQLITE_TRANSIENT(),
                ffi::SQLITE_UTF8 as u8,
            ),
            SqlValue::Blob(b) => ffi::sqlite3_result_blob64(
                ctx,
                b.as_ptr().cast::<c_void>(),
                b.len() as u64,
                ffi::SQLITE_TRANSIENT(),
            ),
            SqlValue::Vector(b, subtype) => {
                ffi::sqlite3_result_blob64(
                    ctx,
                    b.as_ptr().cast::<c_void>(),
                    b.len() as u64,
                    ffi::SQLITE_TRANSIENT(),
                );
                ffi::sqlite3_result_subtype(ctx, subtype);
            }
        }
    }
}

unsafe extern "C" fn x_column(
    cursor: *mut ffi::sqlite3_vtab_cursor,
    ctx: *mut ffi::sqlite3_context,
    column: c_int,
) -> c_int {
    // SAFETY: cursor is one of ours and not at EOF when SQLite asks for a column.
    unsafe {
        let vtab = (*cursor).pVtab;
        guard(vtab, || {
            let c = &*cursor.cast::<Cursor>();
            let (batch_index, row) = c.current();
            let Some(batch) = c.table.batches.get(batch_index) else {
                ffi::sqlite3_result_null(ctx);
                return ffi::SQLITE_OK;
            };
            let Some(reader) = batch.columns.get(column as usize) else {
                ffi::sqlite3_result_null(ctx);
                return ffi::SQLITE_OK;
            };
            match reader {
                Reader::I64(a) if !a.is_null(row) => ffi::sqlite3_result_int64(ctx, a.value(row)),
                Reader::F64(a) if !a.is_null(row) && !a.value(row).is_nan() => {
                    ffi::sqlite3_result_double(ctx, a.value(row))
                }
                Reader::Utf8(a) if !a.is_null(row) => set_text(ctx, a.value(row)),
                Reader::Utf8View(a) if !a.is_null(row) => set_text(ctx, a.value(row)),
                Reader::LargeUtf8(a) if !a.is_null(row) => set_text(ctx, a.value(row)),
                Reader::Timestamp {
                    values,
                    nulls,
                    unit,
                    tz: None,
                } if !nulls.as_ref().is_some_and(|b| b.is_null(row)) => {
                    // Formatted on the stack and copied by SQLite: the same text as
                    // Reader::value, without the SqlValue round trip.
                    match crate::arrow::types::format_timestamp(values[row], *unit, None) {
                        Some(t) => set_text(ctx, &t),
                        None => ffi::sqlite3_result_null(ctx),
                    }
                }
                _ => set_result(ctx, reader.value(row)),
            }
            ffi::SQLITE_OK
        })
    }
}

unsafe extern "C" fn x_rowid(cursor: *mut ffi::sqlite3_vtab_cursor, rowid: *mut i64) -> c_int {
    // SAFETY: cursor is one of ours; rowid is writable.
    unsafe {
        let c = &*cursor.cast::<Cursor>();
        let (batch, row) = c.current();
        let offset = c.table.batches.get(batch).map_or(0, |b| b.offset);
        *rowid = (offset + row) as i64;
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_update(
    vtab: *mut ffi::sqlite3_vtab,
    _argc: c_int,
    _argv: *mut *mut ffi::sqlite3_value,
    _rowid: *mut i64,
) -> c_int {
    // SAFETY: vtab is one of ours.
    unsafe {
        let name = (*vtab.cast::<VTab>()).name.clone();
        fail(
            vtab,
            &format!(
                "arrow table {name:?} is read-only (register new data with register_arrow, \
                 or copy it into a native table with insert_arrow / CREATE TABLE AS)"
            ),
        )
    }
}

unsafe extern "C" fn x_rename(vtab: *mut ffi::sqlite3_vtab, _new: *const c_char) -> c_int {
    // SAFETY: vtab is one of ours.
    unsafe {
        fail(
            vtab,
            "arrow tables cannot be renamed; register the data again",
        )
    }
}

/// A module over `ArrowTable`s whose tables are made by `connect` (the scan, filter,
/// read-only callbacks are shared).
pub(crate) const fn module(connect: XConnect) -> ffi::sqlite3_module {
    ffi::sqlite3_module {
        iVersion: 1,
        xCreate: Some(connect),
        xConnect: Some(connect),
        xBestIndex: Some(x_best_index),
        xDisconnect: Some(x_disconnect),
        xDestroy: Some(x_destroy),
        xOpen: Some(x_open),
        xClose: Some(x_close),
        xFilter: Some(x_filter),
        xNext: Some(x_next),
        xEof: Some(x_eof),
        xColumn: Some(x_column),
        xRowid: Some(x_rowid),
        xUpdate: Some(x_update),
        xRename: Some(x_rename),
        // SAFETY: the remaining members are optional callbacks; all-zero means None.
        ..unsafe { std::mem::zeroed() }
    }
}

static MODULE: ffi::sqlite3_module = module(x_connect);

/// Called by SQLite when the connection closes (or the module is replaced): drops the
/// registry entries of that connection.
unsafe extern "C" fn destroy_client_data(p: *mut c_void) {
    let _ = catch_unwind(|| {
        // SAFETY: p is the Box<usize> made in load_module; SQLite calls this once.
        let db = *unsafe { Box::from_raw(p.cast::<usize>()) };
        if let Some(m) = registry().as_mut() {
            m.retain(|_, e| e.db != db);
        }
    });
}

pub fn load_module(conn: &Connection) -> rusqlite::Result<()> {
    // SAFETY: the handle of a live connection, kept as the module's client data.
    let db = unsafe { conn.handle() };
    let aux = Box::into_raw(Box::new(db as usize));
    // SAFETY: x_connect reads aux as the Box<usize> made here, and SQLite frees it with
    // destroy_client_data (also on failure).
    unsafe {
        create_module_with_aux(
            conn,
            c"arrow",
            &MODULE,
            aux.cast::<c_void>(),
            Some(destroy_client_data),
        )
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
