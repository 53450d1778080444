//! Parsing `CREATE VIRTUAL TABLE t USING vec0(...)` arguments, sqlite-vec's syntax.
//!
//! ```text
//! embedding float[768] distance_metric=cosine     vector column (float/f32, int8/i8, bit)
//! id integer primary key | id text primary key    primary key (default: rowid)
//! user_id integer partition key                   partition key (filterable)
//! genre text | year integer | score float | b boolean   metadata (filterable)
//! +title text                                     auxiliary (stored, not filterable)
//! chunk_size=1024                                 table option
//! ```

use quiver_kernels::MAX_DIMENSIONS;

use super::index_spec::{self, IndexSpec, Ivf, Rescore};
use crate::sqlite::ident::quote_identifier;
use crate::vec::metric::Metric;
use crate::vec::vector::ElementType;

/// Largest accepted `chunk_size` (vectors per chunk).
pub const MAX_CHUNK_SIZE: usize = 1 << 16;
/// The most vectors a chunk holds by default (sqlite-vec's default chunk size).
pub const DEFAULT_CHUNK_SIZE: usize = 1024;
/// By default a chunk's vectors of the widest column take at most this many bytes. A
/// single-row write into a chunk BLOB walks its overflow pages up to the written offset,
/// so a chunk must stay well inside SQLite's default page cache (2 MB): 1024 x 768-d
/// float32 (3 MB) made SQL inserts on a file database several times slower.
pub const DEFAULT_CHUNK_BYTES: usize = 256 << 10;

#[derive(Clone, Debug, PartialEq)]
pub struct VectorColumn {
    pub element: ElementType,
    /// Number of elements (bits for bit vectors).
    pub dims: usize,
    pub metric: Metric,
    /// `indexed by rescore(...)`, if declared.
    pub index: Option<Rescore>,
    /// `indexed by ivf(...)`, if declared.
    pub ivf: Option<Ivf>,
}

impl VectorColumn {
    /// Bytes of one stored vector.
    pub fn bytes(&self) -> usize {
        match self.element {
            ElementType::Float32 => self.dims * 4,
            ElementType::Int8 => self.dims,
            ElementType::Bit => self.dims / 8,
        }
    }
}

/// Type of a metadata / partition column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarType {
    Boolean,
    Integer,
    Float,
    Text,
}

impl ScalarType {
    pub fn name(self) -> &'static str {
        match self {
            ScalarType::Boolean => "boolean",
            ScalarType::Integer => "integer",
            ScalarType::Float => "float",
            ScalarType::Text => "text",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ColumnKind {
    /// `id integer primary key`: the column is the rowid.
    IntegerKey,
    /// `id text primary key`: a unique text id next to an internal rowid.
    TextKey,
    Vector(VectorColumn),
    Partition(ScalarType),
    Metadata(ScalarType),
    /// `+name [type]`: stored as given, returned as stored.
    Auxiliary(Option<String>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
    /// Index among columns of the same storage group: vector columns count vector
    /// columns, metadata and partition columns share one count ("scalars"), aux
    /// columns count aux columns.
    pub slot: usize,
}

impl Column {
    /// The visible `rowid` column of a table without a declared primary key (a user
    /// column cannot be named `rowid`).
    pub fn is_implicit_rowid(&self) -> bool {
        self.kind == ColumnKind::IntegerKey && self.name == IMPLICIT_ROWID
    }

    /// How messages name this column: `rowid`, or `primary key 'id'`.
    pub fn key_label(&self) -> String {
        if self.is_implicit_rowid() {
            IMPLICIT_ROWID.to_string()
        } else {
            format!("primary key '{}'", self.name)
        }
    }
}

/// Name of the first column of a table without a declared primary key, as in sqlite-vec.
pub const IMPLICIT_ROWID: &str = "rowid";

#[derive(Clone, Debug, PartialEq)]
pub struct TableConfig {
    /// The declared columns in sqlite-vec's order: the primary key (or the implicit
    /// `rowid`) first, the others in declaration order; hidden `distance`, `k` follow.
    pub columns: Vec<Column>,
    pub chunk_size: usize,
}

impl TableConfig {
    pub fn vector_columns(&self) -> impl Iterator<Item = (usize, &VectorColumn)> {
        self.columns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match &c.kind {
                ColumnKind::Vector(v) => Some((i, v)),
                _ => None,
            })
    }

    pub fn n_vectors(&self) -> usize {
        self.vector_columns().count()
    }

    /// Types of the filterable scalar columns (partition and metadata), by slot.
    pub fn scalar_types(&self) -> Vec<ScalarType> {
        self.columns
            .iter()
            .filter_map(|c| match c.kind {
                ColumnKind::Partition(t) | ColumnKind::Metadata(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    pub fn n_aux(&self) -> usize {
        self.columns
            .iter()
            .filter(|c| matches!(c.kind, ColumnKind::Auxiliary(_)))
            .count()
    }

    pub fn text_key(&self) -> bool {
        self.columns.iter().any(|c| c.kind == ColumnKind::TextKey)
    }

    /// Index of the column named `name` (case-insensitive).
    pub fn find(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// Index of the hidden `distance` column in the declared schema.
    pub fn distance_column(&self) -> usize {
        self.columns.len()
    }

    /// Index of the hidden `k` column in the declared schema.
    pub fn k_column(&self) -> usize {
        self.columns.len() + 1
    }

    /// The schema passed to sqlite3_declare_vtab: sqlite-vec 0.1.9's, column for column
    /// (names, no declared types, the key first, hidden `distance` and `k` last), so that
    /// `SELECT *`, positional INSERT and `pragma table_info` match. The key column is
    /// `NOT NULL` where sqlite-vec's WITHOUT ROWID declaration makes it so; the table
    /// keeps its rowid (`oid` always reaches it, `rowid` too when a key is declared).
    pub fn declare_sql(&self) -> String {
        let mut parts: Vec<String> = self
            .columns
            .iter()
            .map(|c| match c.kind {
                _ if c.is_implicit_rowid() => "rowid".to_string(),
                ColumnKind::IntegerKey | ColumnKind::TextKey => {
                    format!("{} primary key not null", quote_identifier(&c.name))
                }
                _ => quote_identifier(&c.name),
            })
            .collect();
        parts.push("distance HIDDEN".to_string());
        parts.push("k HIDDEN".to_string());
        format!("CREATE TABLE x({})", parts.join(", "))
    }

    /// Parses the module arguments (everything between the parentheses).
    pub fn parse(args: &[&str]) -> Result<TableConfig, String> {
        let mut columns: Vec<Column> = Vec::new();
        let mut chunk_size = None;
        let (mut n_vec, mut n_scalar, mut n_aux) = (0usize, 0usize, 0usize);
        for raw in args {
            let arg = raw.trim();
            if arg.is_empty() {
                continue;
            }
            if let Some((key, value)) = table_option(arg) {
                match key.as_str() {
                    "chunk_size" => {
                        let n = value.parse::<usize>().map_err(|_| {
                            format!("vec0: chunk_size: expected a positive integer, got '{value}'")
                        })?;
                        check_chunk_size(n)?;
                        chunk_size = Some(n);
                    }
                    other => {
                        return Err(format!(
                            "vec0: unknown table option '{other}' (expected chunk_size)"
                        ))
                    }
                }
                continue;
            }
            let column = parse_column(arg, &mut n_vec, &mut n_scalar, &mut n_aux)?;
            if columns
                .iter()
                .any(|c| c.name.eq_ignore_ascii_case(&column.name))
            {
                return Err(format!("vec0: duplicate column name '{}'", column.name));
            }
            if matches!(column.kind, ColumnKind::IntegerKey | ColumnKind::TextKey)
                && columns
                    .iter()
                    .any(|c| matches!(c.kind, ColumnKind::IntegerKey | ColumnKind::TextKey))
            {
                return Err(
                    "vec0 constructor error: More than one primary key definition was \
                            provided, vec0 only suports a single primary key column"
                        .to_string(),
                );
            }
            columns.push(column);
        }
        if n_vec == 0 {
            return Err(
                "vec0: expected at least one vector column, e.g. 'embedding float[768]'"
                    .to_string(),
            );
        }
        let chunk_size = chunk_size.unwrap_or_else(|| default_chunk_size(&columns));
        // sqlite-vec's column order: the declared primary key, or a visible `rowid`, first;
        // the other columns in declaration order.
        match columns
            .iter()
            .position(|c| matches!(c.kind, ColumnKind::IntegerKey | ColumnKind::TextKey))
        {
            Some(key) => {
                let key = columns.remove(key);
                columns.insert(0, key);
            }
            None => columns.insert(
                0,
                Column {
                    name: IMPLICIT_ROWID.to_string(),
                    kind: ColumnKind::IntegerKey,
                    slot: 0,
                },
            ),
        }
        Ok(TableConfig {
            columns,
            chunk_size,
        })
    }
}

/// Accepts a chunk size: a multiple of 8 between 8 and [`MAX_CHUNK_SIZE`].
pub fn check_chunk_size(n: usize) -> Result<(), String> {
    if n == 0 || !n.is_multiple_of(8) || n > MAX_CHUNK_SIZE {
        return Err(format!(
            "vec0: chunk_size: expected a multiple of 8 between 8 and {MAX_CHUNK_SIZE}, got {n}"
        ));
    }
    Ok(())
}

/// The chunk size of a new table without `chunk_size=`: as many vectors of the widest
/// column as fit in [`DEFAULT_CHUNK_BYTES`], a multiple of 8 between 8 and
/// [`DEFAULT_CHUNK_SIZE`].
fn default_chunk_size(columns: &[Column]) -> usize {
    let widest = columns
        .iter()
        .filter_map(|c| match &c.kind {
            ColumnKind::Vector(v) => Some(v.bytes()),
            _ => None,
        })
        .max()
        .unwrap_or(1)
        .max(1);
    ((DEFAULT_CHUNK_BYTES / widest) / 8 * 8).clamp(8, DEFAULT_CHUNK_SIZE)
}

/// `key=value` with a bare identifier key (column definitions contain a space first).
fn table_option(arg: &str) -> Option<(String, String)> {
    let (key, value) = arg.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || key.contains(char::is_whitespace) {
        return None;
    }
    Some((key.to_ascii_lowercase(), unquote(value.trim()).to_string()))
}

fn unquote(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2
        && ((b[0] == b'"' && b[b.len() - 1] == b'"')
            || (b[0] == b'\'' && b[b.len() - 1] == b'\'')
            || (b[0] == b'`' && b[b.len() - 1] == b'`')
            || (b[0] == b'[' && b[b.len() - 1] == b']'))
    {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("vec0: empty column name".to_string());
    }
    let lower = name.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "distance" | "k" | "rowid" | "oid" | "_rowid_"
    ) {
        return Err(format!(
            "vec0: column name '{name}' is reserved (distance and k are hidden columns)"
        ));
    }
    Ok(())
}

fn parse_column(
    arg: &str,
    n_vec: &mut usize,
    n_scalar: &mut usize,
    n_aux: &mut usize,
) -> Result<Column, String> {
    if let Some(rest) = arg.strip_prefix('+') {
        let mut words = rest.split_whitespace();
        let name = unquote(words.next().unwrap_or("")).to_string();
        check_name(&name)?;
        let ty: Vec<&str> = words.collect();
        let ty = if ty.is_empty() {
            None
        } else {
            let t = ty.join(" ").to_ascii_lowercase();
            if !matches!(
                t.as_str(),
                "text" | "integer" | "int" | "float" | "real" | "double" | "blob" | "any"
            ) {
                return Err(format!(
                    "vec0: auxiliary column '{name}': unknown type '{t}' (expected text, \
                     integer, float or blob)"
                ));
            }
            Some(t.to_uppercase())
        };
        *n_aux += 1;
        return Ok(Column {
            name,
            kind: ColumnKind::Auxiliary(ty),
            slot: *n_aux - 1,
        });
    }
    let (arg, index) = index_spec::split_indexed_by(arg);
    let words = column_words(arg);
    let name = unquote(&words[0]).to_string();
    check_name(&name)?;
    let Some(ty_word) = words.get(1) else {
        return Err(format!(
            "vec0: column '{name}': expected a type (float[N], int8[N], bit[N], integer, \
             float, text, boolean)"
        ));
    };
    let ty = ty_word.to_ascii_lowercase();
    let rest: Vec<String> = words[2..].iter().map(|w| w.to_ascii_lowercase()).collect();
    if let Some((element, dims)) = vector_type(&ty, &name, arg)? {
        let mut metric = if element == ElementType::Bit {
            Metric::Hamming
        } else {
            Metric::L2
        };
        for option in rest.iter() {
            let Some((key, value)) = option.split_once('=') else {
                return Err(could_not_parse(arg, format!(
                    "vec0: column '{name}': unknown option '{option}' (expected distance_metric=...)"
                )));
            };
            if key != "distance_metric" {
                return Err(could_not_parse(
                    arg,
                    format!(
                        "vec0: column '{name}': unknown option '{key}' (expected distance_metric)"
                    ),
                ));
            }
            metric = match (unquote(value), element) {
                ("hamming", ElementType::Bit) => Metric::Hamming,
                (m, ElementType::Bit) => {
                    return Err(could_not_parse(
                        arg,
                        format!(
                            "vec0: column '{name}': bit vectors support distance_metric=hamming \
                         only, got '{m}'"
                        ),
                    ))
                }
                ("l2", _) => Metric::L2,
                ("l1", _) => Metric::L1,
                ("cosine", _) => Metric::Cosine,
                ("dot", _) => Metric::Dot,
                (m, _) => {
                    return Err(could_not_parse(
                        arg,
                        format!(
                        "vec0: column '{name}': unknown distance_metric '{m}' (expected l2, l1, \
                         cosine or dot)"
                    ),
                    ))
                }
            };
        }
        let spec = match index {
            Some(text) => Some(
                index_spec::parse_index(&name, text, element == ElementType::Float32, dims)
                    .map_err(|e| could_not_parse(arg, e))?,
            ),
            None => None,
        };
        let (index, ivf) = match spec {
            Some(IndexSpec::Rescore(r)) => (Some(r), None),
            Some(IndexSpec::Ivf(i)) => (None, Some(i)),
            None => (None, None),
        };
        *n_vec += 1;
        return Ok(Column {
            name,
            kind: ColumnKind::Vector(VectorColumn {
                element,
                dims,
                metric,
                index,
                ivf,
            }),
            slot: *n_vec - 1,
        });
    }
    if index.is_some() {
        return Err(format!(
            "vec0: column '{name}': 'indexed by' applies to vector columns only"
        ));
    }
    let scalar = match ty.as_str() {
        "boolean" | "bool" => ScalarType::Boolean,
        "integer" | "int" | "int64" | "integer64" => ScalarType::Integer,
        "float" | "double" | "real" | "float64" | "f64" => ScalarType::Float,
        "text" => ScalarType::Text,
        other => {
            return Err(format!(
                "vec0: column '{name}': unknown type '{other}' (expected float[N], int8[N], \
                 bit[N], integer, float, text or boolean)"
            ))
        }
    };
    let rest = rest.join(" ");
    match rest.as_str() {
        "" => {
            *n_scalar += 1;
            Ok(Column {
                name,
                kind: ColumnKind::Metadata(scalar),
                slot: *n_scalar - 1,
            })
        }
        "primary key" => match scalar {
            ScalarType::Integer => Ok(Column {
                name,
                kind: ColumnKind::IntegerKey,
                slot: 0,
            }),
            ScalarType::Text => Ok(Column {
                name,
                kind: ColumnKind::TextKey,
                slot: 0,
            }),
            other => Err(format!(
                "vec0: primary key '{name}' must be integer or text, got {}",
                other.name()
            )),
        },
        "partition key" => match scalar {
            ScalarType::Integer | ScalarType::Text => {
                *n_scalar += 1;
                Ok(Column {
                    name,
                    kind: ColumnKind::Partition(scalar),
                    slot: *n_scalar - 1,
                })
            }
            other => Err(format!(
                "vec0: partition key '{name}' must be integer or text, got {}",
                other.name()
            )),
        },
        other => Err(format!(
            "vec0: column '{name}': unknown constraint '{other}' (expected primary key or \
             partition key)"
        )),
    }
}

/// The words of a column definition, as sqlite-vec's tokenizer sees them: spaces
/// inside a dimension (`float [ 4 ]`) and around `=` (`distance_metric = cosine`) do
/// not split words; `name float[4] distance_metric = cosine` gives
/// `[name, float[4], distance_metric=cosine]`.
fn column_words(arg: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    // Set while the last word is an unfinished `[...]` or ends with / awaits `=`.
    let mut glue = false;
    for word in arg.split_whitespace() {
        let joins = glue || word.starts_with('[') || (word.starts_with('=') && !words.is_empty());
        match words.last_mut() {
            Some(last) if joins => last.push_str(word),
            _ => words.push(word.to_string()),
        }
        let last = words.last().map(String::as_str).unwrap_or("");
        glue = last.ends_with('=') || (last.contains('[') && !last.contains(']'));
    }
    words
}

/// `float[768]` -> (Float32, 768); `None` if `ty` is not a vector type.
/// A vector column definition sqlite-vec refuses as unparsable: sqlite-vec's words first,
/// quiver's detail after them.
fn could_not_parse(arg: &str, detail: String) -> String {
    format!(
        "vec0 constructor error: could not parse vector column '{}' ({detail})",
        arg.trim()
    )
}

fn vector_type(ty: &str, name: &str, arg: &str) -> Result<Option<(ElementType, usize)>, String> {
    let Some((base, rest)) = ty.split_once('[') else {
        return Ok(None);
    };
    let element = match base {
        // float4 is SQL's name for a 4-byte float (sqlite-vec reads any name starting
        // with "float" as float32; the names below mean float32 too).
        "float" | "f32" | "float32" | "float4" => ElementType::Float32,
        "int8" | "i8" => ElementType::Int8,
        "bit" | "bits" => ElementType::Bit,
        other if other.starts_with("float") || other.starts_with("f32") => {
            // sqlite-vec stores float8[N] / float16[N] / float64[N] as float32 without a
            // word; a column that silently holds another type than declared is worse.
            return Err(format!(
                "vec0: column '{name}': unsupported vector type '{other}' (sqlite-vec would \
                 silently store float32): vectors are stored as float32, write float[N]"
            ));
        }
        other => {
            return Err(format!(
                "vec0: column '{name}': unknown vector type '{other}' (expected float, int8 or bit)"
            ))
        }
    };
    let dims = rest
        .strip_suffix(']')
        .and_then(|d| d.trim().parse::<usize>().ok())
        .filter(|&d| d > 0)
        .ok_or_else(|| {
            could_not_parse(
                arg,
                format!("vec0: column '{name}': expected {base}[N] with N >= 1, got '{ty}'"),
            )
        })?;
    if dims > MAX_DIMENSIONS {
        return Err(format!(
            "vec0 constructor error: Dimension on vector column too large, provided {dims}, \
             maximum {MAX_DIMENSIONS} (vec0: column '{name}')"
        ));
    }
    if element == ElementType::Bit && dims % 8 != 0 {
        return Err(format!(
            "vec0: column '{name}': bit vectors need a multiple of 8 dimensions, got {dims}"
        ));
    }
    Ok(Some((element, dims)))
}

/// Splits the argument list of `USING vec0(...)` in a CREATE statement's SQL text, for
/// callers that only have `sqlite_schema.sql` (the Python bulk paths).
pub fn module_args_from_sql(sql: &str) -> Option<Vec<String>> {
    let lower = sql.to_ascii_lowercase();
    let using = lower.find("using")?;
    let open = using + sql[using..].find('(')?;
    let close = sql.rfind(')')?;
    if close <= open {
        return None;
    }
    let inner = &sql[open + 1..close];
    let mut args = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut current = String::new();
    for ch in inner.chars() {
        match quote {
            Some(q) => {
                if ch == q {
                    quote = None;
                }
                current.push(ch);
            }
            None => match ch {
                '\'' | '"' | '`' => {
                    quote = Some(ch);
                    current.push(ch);
                }
                '(' | '[' => {
                    depth += 1;
                    current.push(ch);
                }
                ')' | ']' => {
                    depth -= 1;
                    current.push(ch);
                }
                ',' if depth == 0 => args.push(std::mem::take(&mut current)),
                _ => current.push(ch),
            },
        }
    }
    args.push(current);
    Some(args.into_iter().map(|a| a.trim().to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sqlite_vec_syntax() {
        let c = TableConfig::parse(&[
            "id text primary key",
            "embedding float[4] distance_metric=cosine",
            "user_id integer partition key",
            "genre text",
            "+title text",
            "chunk_size=16",
        ])
        .unwrap();
        assert_eq!(c.chunk_size, 16);
        assert!(c.text_key());
        assert_eq!(c.n_vectors(), 1);
        assert_eq!(
            c.scalar_types(),
            vec![ScalarType::Integer, ScalarType::Text]
        );
        assert_eq!(c.n_aux(), 1);
    }

    #[test]
    fn key_first_like_sqlite_vec() {
        let c = TableConfig::parse(&["e float[2]", "+a text", "id integer primary key", "m int"])
            .unwrap();
        let names: Vec<&str> = c.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "e", "a", "m"]);
        assert_eq!(
            c.declare_sql(),
            "CREATE TABLE x(\"id\" primary key not null, \"e\", \"a\", \"m\", distance HIDDEN, \
             k HIDDEN)"
        );
        let c = TableConfig::parse(&["e float[2]"]).unwrap();
        assert!(c.columns[0].is_implicit_rowid());
        assert_eq!((c.distance_column(), c.k_column()), (2, 3));
        assert!(c
            .declare_sql()
            .starts_with("CREATE TABLE x(rowid, \"e\", distance"));
    }

    #[test]
    fn rejects_bad_definitions() {
        for bad in [
            &["embedding float[0]"][..],
            &["embedding vector[3]"],
            &["genre text"],
            &["e float[3]", "e int8[3]"],
            &["e float[3] distance_metric=foo"],
            &["e bit[3]"],
            &["e float[3]", "chunk_size=7"],
            &["e float[3]", "foo=1"],
            &["e float[3]", "distance float"],
        ] {
            assert!(TableConfig::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn spaces_inside_types_and_around_equals() {
        for arg in [
            "e float[4] distance_metric = cosine",
            "e float[4] distance_metric= cosine",
            "e float[4] distance_metric =cosine",
            "e  float [ 4 ]  distance_metric=cosine",
        ] {
            let c = TableConfig::parse(&[arg]).unwrap();
            let (_, v) = c.vector_columns().next().unwrap();
            assert_eq!((v.dims, v.metric), (4, Metric::Cosine), "{arg}");
        }
        assert_eq!(
            column_words("name float[4] distance_metric = cosine"),
            vec!["name", "float[4]", "distance_metric=cosine"]
        );
    }

    #[test]
    fn vector_type_names() {
        for (arg, element) in [
            ("e float4[2]", ElementType::Float32),
            ("e F32[2]", ElementType::Float32),
            ("e i8[2]", ElementType::Int8),
            ("e bits[8]", ElementType::Bit),
        ] {
            let c = TableConfig::parse(&[arg]).unwrap();
            assert_eq!(c.vector_columns().next().unwrap().1.element, element);
        }
        for ty in ["float8", "float16", "float64", "f32x"] {
            let err = TableConfig::parse(&[&format!("e {ty}[2]")]).unwrap_err();
            assert!(err.contains("write float[N]"), "{err}");
        }
    }

    #[test]
    fn splits_sql() {
        let args = module_args_from_sql(
            "CREATE VIRTUAL TABLE t USING vec0(e float[3], +t text, chunk_size=8)",
        )
        .unwrap();
        assert_eq!(args, vec!["e float[3]", "+t text", "chunk_size=8"]);
    }
}
