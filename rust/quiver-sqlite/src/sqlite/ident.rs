//! SQL identifiers in generated statements.

/// `"name"` with embedded quotes doubled: safe to splice into SQL text as an identifier.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `name` or `schema.name` (split at the first dot, as the vec0 bulk API reads table
/// names) quoted as a possibly schema-qualified table name.
pub fn quote_table(table: &str) -> String {
    match table.split_once('.') {
        Some((schema, name)) => format!("{}.{}", quote_identifier(schema), quote_identifier(name)),
        None => quote_identifier(table),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn doubles_embedded_quotes() {
        assert_eq!(super::quote_identifier("a\"b"), "\"a\"\"b\"");
        assert_eq!(super::quote_identifier("t"), "\"t\"");
    }
}
