//! sqlite-vec's scalar functions (same names, arguments, BLOB formats, subtypes),
//! plus `vec_distance_dot` and `quiver_version`.

use std::borrow::Cow;
use std::ffi::c_int;
use std::sync::Arc;

use quiver_kernels::{dispatch, distance};
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Result};

use crate::sqlite::error::{arg_error, sql_error};
use crate::vec::metric::Metric;
use crate::vec::vector::{
    check_f32_blob, check_finite, describe_value, read_bit_vector, read_f32_vector,
    read_finite_vector, read_i8_vector, with_f32_slice, ElementType, Vector, SUBTYPE_BIT,
    SUBTYPE_INT8,
};

/// What vector-returning functions give back: the BLOB and its subtype.
type VectorOut = (Vec<u8>, Option<u32>);

fn vector_out(v: &Vector<'_>) -> VectorOut {
    (v.to_blob(), Some(v.element_type().subtype()))
}

/// The `index`-th argument read as any vector (float32 elements finite).
fn vector_arg<'a>(ctx: &'a Context<'_>, function: &str, index: usize) -> Result<Vector<'a>> {
    read_finite_vector(ctx.get_raw(index), ctx.get_subtype(index))
        .map_err(|m| arg_error(function, index, m))
}

fn integer_arg(ctx: &Context<'_>, function: &str, index: usize, name: &str) -> Result<i64> {
    match ctx.get_raw(index) {
        ValueRef::Integer(i) => Ok(i),
        other => Err(arg_error(
            function,
            index,
            format!("expected an integer {name}, got {}", describe_value(other)),
        )),
    }
}

/// Both arguments must be vectors of the same type and dimension count; the message
/// ends with sqlite-vec's.
fn same_shape(function: &str, a: &Vector<'_>, b: &Vector<'_>) -> Result<()> {
    if a.element_type() != b.element_type() || a.dims() != b.dims() {
        // sqlite-vec's wording, its spelling included, so code matching it keeps working.
        let sqlite_vec = if a.element_type() != b.element_type() {
            format!(
                "Vector type mistmatch. First vector has type {}, while the second has type {}.",
                a.element_type().name(),
                b.element_type().name()
            )
        } else {
            format!(
                "Vector dimension mistmatch. First vector has {} dimensions, while the second \
                 has {} dimensions.",
                a.dims(),
                b.dims()
            )
        };
        return Err(sql_error(format!(
            "{function}: expected two vectors of the same type and dimensions, got {} \
             (argument 1) and {} (argument 2) (sqlite-vec: {sqlite_vec})",
            a.describe(),
            b.describe()
        )));
    }
    Ok(())
}

/// Float32 inputs that produced a non-finite result: name the argument that holds
/// a NaN or infinity; if neither does, the result really overflowed and is returned.
fn check_finite_args(function: &str, a: &[f32], b: &[f32]) -> Result<()> {
    check_finite(a).map_err(|m| arg_error(function, 0, m))?;
    check_finite(b).map_err(|m| arg_error(function, 1, m))
}

/// `metric` between float32 vectors (None: undefined, e.g. cosine of a zero vector).
/// L1 is summed in f64 as sqlite-vec does (it does not overflow where float32 would).
fn distance_f32(metric: Metric, a: &[f32], b: &[f32]) -> Option<f64> {
    match metric {
        Metric::L2 => Some(distance::l2_f32(a, b).into()),
        Metric::L1 => Some(distance::l1_f32_wide(a, b)),
        Metric::Cosine => distance::cosine_f32(a, b).map(f64::from),
        Metric::Dot => Some((-distance::dot_f32(a, b)).into()),
        // Bit vectors only; never asked for float32.
        Metric::Hamming => None,
    }
}

/// `metric` between int8 vectors, typed as sqlite-vec returns it.
fn distance_i8(metric: Metric, a: &[i8], b: &[i8]) -> Value {
    let real = |x: Option<f32>| x.map_or(Value::Null, |d| Value::Real(f64::from(d)));
    match metric {
        Metric::L2 => real(Some(distance::l2_i8(a, b))),
        // sqlite-vec returns an INTEGER for the L1 distance of int8 vectors.
        Metric::L1 => Value::Integer((dispatch::best().l1_i8)(a, b)),
        Metric::Cosine => real(distance::cosine_i8(a, b)),
        Metric::Dot => Value::Integer(-(dispatch::best().dot_i8)(a, b)),
        // Bit vectors only; never asked for int8.
        Metric::Hamming => Value::Null,
    }
}

/// A distance argument: a vector BLOB read in place, or JSON text parsed once per
/// statement (kept as SQLite auxiliary data while the argument is a constant).
enum DistanceArg<'a> {
    /// float32 BLOB bytes, validated; may be unaligned (stored rows usually are).
    F32Bytes(&'a [u8]),
    Borrowed(Vector<'a>),
    Parsed(Arc<Vector<'static>>),
}

fn distance_arg<'a>(ctx: &'a Context<'_>, function: &str, index: usize) -> Result<DistanceArg<'a>> {
    let raw = ctx.get_raw(index);
    match raw {
        ValueRef::Blob(bytes) if !matches!(ctx.get_subtype(index), SUBTYPE_BIT | SUBTYPE_INT8) => {
            check_f32_blob(bytes).map_err(|m| arg_error(function, index, m))?;
            return Ok(DistanceArg::F32Bytes(bytes));
        }
        ValueRef::Text(_) => {}
        _ => return vector_arg(ctx, function, index).map(DistanceArg::Borrowed),
    }
    if let Some(parsed) = ctx.get_aux::<Vector<'static>>(index as c_int)? {
        return Ok(DistanceArg::Parsed(parsed));
    }
    let owned = match vector_arg(ctx, function, index)? {
        Vector::Float32(v) => Vector::Float32(Cow::Owned(v.into_owned())),
        Vector::Int8(v) => Vector::Int8(Cow::Owned(v.into_owned())),
        Vector::Bit(v) => Vector::Bit(Cow::Owned(v.into_owned())),
    };
    ctx.set_aux(index as c_int, owned).map(DistanceArg::Parsed)
}

/// Runs `f` on the argument as a `Vector`, float32 BLOBs viewed through `slot`'s
/// scratch buffer when their memory is unaligned (no allocation per row).
fn with_vector<R>(arg: &DistanceArg<'_>, slot: usize, f: impl FnOnce(&Vector<'_>) -> R) -> R {
    match arg {
        DistanceArg::F32Bytes(bytes) => {
            with_f32_slice(bytes, slot, |x| f(&Vector::Float32(Cow::Borrowed(x))))
        }
        DistanceArg::Borrowed(v) => f(v),
        DistanceArg::Parsed(v) => f(v),
    }
}

fn vec_distance(ctx: &Context<'_>, metric: Metric) -> Result<Value> {
    let name = metric.function_name();
    let a = distance_arg(ctx, name, 0)?;
    let b = distance_arg(ctx, name, 1)?;
    with_vector(&a, 0, |a| {
        with_vector(&b, 1, |b| distance(name, metric, a, b))
    })
}

fn distance(name: &str, metric: Metric, a: &Vector<'_>, b: &Vector<'_>) -> Result<Value> {
    same_shape(name, a, b)?;
    match (a, b) {
        (Vector::Float32(x), Vector::Float32(y)) => match distance_f32(metric, x, y) {
            None => Ok(Value::Null),
            Some(d) => {
                if !d.is_finite() {
                    check_finite_args(name, x, y)?;
                }
                Ok(Value::Real(d))
            }
        },
        (Vector::Int8(x), Vector::Int8(y)) => Ok(distance_i8(metric, x, y)),
        _ => Err(sql_error(format!(
            "{name}: cannot compute this distance between bit vectors; use vec_distance_hamming"
        ))),
    }
}

fn vec_distance_hamming(ctx: &Context<'_>) -> Result<f64> {
    let name = "vec_distance_hamming";
    let a = vector_arg(ctx, name, 0)?;
    let b = vector_arg(ctx, name, 1)?;
    match (&a, &b) {
        (Vector::Bit(x), Vector::Bit(y)) => {
            same_shape(name, &a, &b)?;
            Ok(distance::hamming_bits(x, y) as f64)
        }
        (Vector::Bit(_), _) => Err(arg_error(
            name,
            1,
            format!("expected a bit vector, got {}", b.describe()),
        )),
        _ => Err(arg_error(
            name,
            0,
            format!(
                "expected a bit vector, got {} (sqlite-vec: Cannot calculate hamming distance \
                 between two {} vectors.)",
                a.describe(),
                a.element_type().name()
            ),
        )),
    }
}

fn vec_f32(ctx: &Context<'_>) -> Result<VectorOut> {
    let v = read_f32_vector(ctx.get_raw(0), ctx.get_subtype(0))
        .map_err(|m| arg_error("vec_f32", 0, m))?;
    Ok(vector_out(&Vector::Float32(v)))
}

fn vec_int8(ctx: &Context<'_>) -> Result<VectorOut> {
    let v = read_i8_vector(ctx.get_raw(0), ctx.get_subtype(0))
        .map_err(|m| arg_error("vec_int8", 0, m))?;
    Ok(vector_out(&Vector::Int8(v)))
}

fn vec_bit(ctx: &Context<'_>) -> Result<VectorOut> {
    let v = read_bit_vector(ctx.get_raw(0), ctx.get_subtype(0))
        .map_err(|m| arg_error("vec_bit", 0, m))?;
    Ok(vector_out(&Vector::Bit(v)))
}

fn vec_add_sub(ctx: &Context<'_>, subtract: bool) -> Result<VectorOut> {
    let name = if subtract { "vec_sub" } else { "vec_add" };
    let a = vector_arg(ctx, name, 0)?;
    let b = vector_arg(ctx, name, 1)?;
    same_shape(name, &a, &b)?;
    let out = match (&a, &b) {
        (Vector::Float32(x), Vector::Float32(y)) => {
            let out: Vec<f32> = x
                .iter()
                .zip(y.iter())
                .map(|(p, q)| if subtract { p - q } else { p + q })
                .collect();
            check_finite(&out)
                .map_err(|_| sql_error(format!("{name}: the result overflows float32")))?;
            Vector::Float32(Cow::Owned(out))
        }
        (Vector::Int8(x), Vector::Int8(y)) => {
            let mut out = Vec::with_capacity(x.len());
            for (i, (p, q)) in x.iter().zip(y.iter()).enumerate() {
                let r = if subtract {
                    p.checked_sub(*q)
                } else {
                    p.checked_add(*q)
                };
                // sqlite-vec wraps around silently; a wrong vector is worse than an error.
                out.push(r.ok_or_else(|| {
                    let exact = if subtract {
                        i16::from(*p) - i16::from(*q)
                    } else {
                        i16::from(*p) + i16::from(*q)
                    };
                    sql_error(format!(
                        "{name}: element {i} is {exact}, outside the int8 range -128..=127"
                    ))
                })?);
            }
            Vector::Int8(Cow::Owned(out))
        }
        _ => {
            let verb = if subtract { "subtract" } else { "add" };
            return Err(sql_error(format!(
                "{name}: bit vectors cannot be added or subtracted (sqlite-vec: Cannot {verb} \
                 two bitvectors together.)"
            )));
        }
    };
    Ok(vector_out(&out))
}

fn vec_normalize(ctx: &Context<'_>) -> Result<VectorOut> {
    let name = "vec_normalize";
    let v = vector_arg(ctx, name, 0)?;
    let Vector::Float32(x) = &v else {
        return Err(arg_error(
            name,
            0,
            format!("expected a float32 vector, got {}", v.describe()),
        ));
    };
    let norm = distance::norm_f32(x);
    if norm == 0.0 {
        return Err(arg_error(name, 0, "cannot normalize a zero vector"));
    }
    let out: Vec<f32> = x.iter().map(|e| e / norm).collect();
    Ok(vector_out(&Vector::Float32(Cow::Owned(out))))
}

fn vec_slice(ctx: &Context<'_>) -> Result<VectorOut> {
    let name = "vec_slice";
    let v = vector_arg(ctx, name, 0)?;
    let start = integer_arg(ctx, name, 1, "start")?;
    let end = integer_arg(ctx, name, 2, "end")?;
    let dims = v.dims() as i64;
    if let Some((arg, svec)) = slice_bounds_error(start, end, dims) {
        let detail = if arg == 1 {
            format!("expected a start index in 0..{dims}, got {start}")
        } else {
            format!("expected an end index in {}..={dims}, got {end}", start + 1)
        };
        return Err(arg_error(
            name,
            arg,
            format!("{detail} (sqlite-vec: {svec})"),
        ));
    }
    let (s, e) = (start as usize, end as usize);
    let out = match &v {
        Vector::Float32(x) => Vector::Float32(Cow::Borrowed(&x[s..e])),
        Vector::Int8(x) => Vector::Int8(Cow::Borrowed(&x[s..e])),
        Vector::Bit(x) => {
            if !s.is_multiple_of(8) || !e.is_multiple_of(8) {
                let which = if s.is_multiple_of(8) { "end" } else { "start" };
                return Err(sql_error(format!(
                    "{name}: bit vectors slice on byte boundaries: start and end must be \
                     multiples of 8, got {s} and {e} (sqlite-vec: {which} index must be \
                     divisible by 8.)"
                )));
            }
            Vector::Bit(Cow::Borrowed(&x[s / 8..e / 8]))
        }
    };
    Ok(vector_out(&out))
}

/// The argument (1 = start, 2 = end) and sqlite-vec's message for slice bounds it
/// refuses, checked in sqlite-vec's order so the same mistake names the same cause.
fn slice_bounds_error(start: i64, end: i64, dims: i64) -> Option<(usize, &'static str)> {
    if start < 0 {
        Some((1, "slice 'start' index must be a postive number."))
    } else if end < 0 {
        Some((2, "slice 'end' index must be a postive number."))
    } else if start > dims {
        Some((
            1,
            "slice 'start' index is greater than the number of dimensions",
        ))
    } else if end > dims {
        Some((
            2,
            "slice 'end' index is greater than the number of dimensions",
        ))
    } else if start > end {
        Some((1, "slice 'start' index is greater than 'end' index"))
    } else if start == end {
        Some((
            2,
            "slice 'start' index is equal to the 'end' index, vectors must have non-zero length",
        ))
    } else {
        None
    }
}

fn vec_quantize_binary(ctx: &Context<'_>) -> Result<VectorOut> {
    let name = "vec_quantize_binary";
    let v = vector_arg(ctx, name, 0)?;
    if !v.dims().is_multiple_of(8) {
        return Err(arg_error(
            name,
            0,
            format!(
                "expected a dimension count divisible by 8, got {}",
                v.describe()
            ),
        ));
    }
    let positive: Vec<bool> = match &v {
        Vector::Float32(x) => x.iter().map(|&e| e > 0.0).collect(),
        Vector::Int8(x) => x.iter().map(|&e| e > 0).collect(),
        Vector::Bit(_) => {
            return Err(arg_error(
                name,
                0,
                "expected a float32 or int8 vector, got a bit vector",
            ))
        }
    };
    let bytes = positive
        .chunks_exact(8)
        .map(|bits| {
            bits.iter()
                .enumerate()
                .fold(0u8, |byte, (i, &on)| byte | (u8::from(on) << i))
        })
        .collect();
    Ok((bytes, Some(ElementType::Bit.subtype())))
}

fn vec_quantize_int8(ctx: &Context<'_>) -> Result<VectorOut> {
    let name = "vec_quantize_int8";
    let v = vector_arg(ctx, name, 0)?;
    let Vector::Float32(x) = &v else {
        return Err(arg_error(
            name,
            0,
            format!("expected a float32 vector, got {}", v.describe()),
        ));
    };
    match ctx.get_raw(1) {
        ValueRef::Text(b"unit") => {}
        other => {
            return Err(arg_error(
                name,
                1,
                format!(
                    "expected the range 'unit' (the only one sqlite-vec defines), got {}",
                    match other {
                        ValueRef::Text(t) => format!("'{}'", String::from_utf8_lossy(t)),
                        _ => describe_value(other),
                    }
                ),
            ))
        }
    }
    // sqlite-vec's 'unit' mapping: [-1, 1] onto 256 steps, truncated toward zero,
    // computed as it does (a float32 step, the rest in double: 0.2 gives 24, not 25).
    // Values outside [-1, 1] saturate at -128 / 127.
    let step = f64::from(2.0f32 / 255.0);
    let out: Vec<i8> = x
        .iter()
        .map(|&e| ((f64::from(e) + 1.0) / step - 128.0) as i8)
        .collect();
    Ok(vector_out(&Vector::Int8(Cow::Owned(out))))
}

fn vec_length(ctx: &Context<'_>) -> Result<i64> {
    Ok(vector_arg(ctx, "vec_length", 0)?.dims() as i64)
}

fn vec_type(ctx: &Context<'_>) -> Result<&'static str> {
    Ok(vector_arg(ctx, "vec_type", 0)?.element_type().name())
}

fn vec_to_json(ctx: &Context<'_>) -> Result<String> {
    Ok(vector_arg(ctx, "vec_to_json", 0)?.to_json())
}

/// The sqlite-vec API level this implements, tagged with quiver's own version.
pub fn vec_version_string() -> String {
    format!("v0.1.9-quiver.{}", env!("CARGO_PKG_VERSION"))
}

/// `vec_debug()`: sqlite-vec's four lines (version, date, commit, build flags). The
/// build date and commit are not recorded in quiver builds; the build flags name the
/// kernel set chosen at run time (sqlite-vec names the SIMD flags it was compiled with).
pub fn vec_debug_string() -> String {
    format!(
        "Version: {}\nDate: unknown\nCommit: unknown\nBuild flags: {}",
        vec_version_string(),
        dispatch::best().name
    )
}

/// `quiver_index_state(table [, column])`: the index state of a vec0 vector column as
/// JSON text.
fn index_state(ctx: &Context<'_>) -> Result<String> {
    let table: String = ctx.get(0)?;
    let column: Option<String> = if ctx.len() > 1 { ctx.get(1)? } else { None };
    // SAFETY: the connection is only used for reads during this call, on the thread
    // SQLite calls us on.
    let conn = unsafe { ctx.get_connection() }?;
    crate::vec0::bulk::index_state(&conn, &table, column.as_deref())
        .map_err(|e| sql_error(format!("quiver_index_state: {e}")))
}

/// `quiver_cache_budget(bytes)`: sets the vector cache's budget (NULL: the default) and
/// returns the budget now in effect.
fn set_cache_budget(ctx: &Context<'_>) -> Result<i64> {
    let bytes = match ctx.get_raw(0) {
        ValueRef::Null => None,
        ValueRef::Integer(n) if n > 0 => Some(n as usize),
        other => {
            return Err(arg_error(
                "quiver_cache_budget",
                0,
                format!(
                    "expected a positive integer number of bytes (or NULL for the default, \
                     half of RAM), got {}",
                    describe_value(other)
                ),
            ))
        }
    };
    Ok(crate::vec0::cache::set_budget(bytes) as i64)
}

/// Registers every scalar function on `conn`.
pub fn register(conn: &Connection) -> Result<()> {
    let pure = FunctionFlags::SQLITE_UTF8
        | FunctionFlags::SQLITE_DETERMINISTIC
        | FunctionFlags::SQLITE_INNOCUOUS;
    // Reads argument subtypes; and also sets a result subtype.
    let reads = pure | FunctionFlags::SQLITE_SUBTYPE;
    let makes = reads | FunctionFlags::SQLITE_RESULT_SUBTYPE;

    conn.create_scalar_function("vec_version", 0, pure, |_| Ok(vec_version_string()))?;
    conn.create_scalar_function("vec_debug", 0, pure, |_| Ok(vec_debug_string()))?;
    conn.create_scalar_function("quiver_version", 0, pure, |_| Ok(env!("CARGO_PKG_VERSION")))?;
    conn.create_scalar_function("quiver_kernels", 0, pure, |_| Ok(dispatch::best().name))?;
    // Not deterministic: the cache changes between calls.
    conn.create_scalar_function("quiver_cache_info", 0, FunctionFlags::SQLITE_UTF8, |_| {
        Ok(crate::vec0::cache::info_json())
    })?;
    for n_args in [1, 2] {
        conn.create_scalar_function(
            "quiver_index_state",
            n_args,
            FunctionFlags::SQLITE_UTF8,
            index_state,
        )?;
    }
    conn.create_scalar_function("quiver_cache_budget", 0, FunctionFlags::SQLITE_UTF8, |_| {
        Ok(crate::vec0::cache::budget() as i64)
    })?;
    // Not innocuous: changes process-wide state (kept out of triggers and views of
    // untrusted schemas, like other settings).
    conn.create_scalar_function(
        "quiver_cache_budget",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
        set_cache_budget,
    )?;
    conn.create_scalar_function("vec_f32", 1, makes, vec_f32)?;
    conn.create_scalar_function("vec_int8", 1, makes, vec_int8)?;
    conn.create_scalar_function("vec_bit", 1, makes, vec_bit)?;
    conn.create_scalar_function("vec_length", 1, reads, vec_length)?;
    conn.create_scalar_function("vec_type", 1, reads, vec_type)?;
    conn.create_scalar_function("vec_to_json", 1, reads, vec_to_json)?;
    conn.create_scalar_function("vec_add", 2, makes, |c| vec_add_sub(c, false))?;
    conn.create_scalar_function("vec_sub", 2, makes, |c| vec_add_sub(c, true))?;
    conn.create_scalar_function("vec_normalize", 1, makes, vec_normalize)?;
    conn.create_scalar_function("vec_slice", 3, makes, vec_slice)?;
    conn.create_scalar_function("vec_quantize_binary", 1, makes, vec_quantize_binary)?;
    conn.create_scalar_function("vec_quantize_int8", 2, makes, vec_quantize_int8)?;
    for metric in [Metric::L2, Metric::L1, Metric::Cosine, Metric::Dot] {
        conn.create_scalar_function(metric.function_name(), 2, reads, move |c| {
            vec_distance(c, metric)
        })?;
    }
    conn.create_scalar_function("vec_distance_hamming", 2, reads, vec_distance_hamming)?;
    Ok(())
}
