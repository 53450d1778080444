//! SQL identifiers in generated statements.

/// `"name"` with embedded quotes doubled: safe to splice into SQL text as an identifier.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    #[test]
    fn doubles_embedded_quotes() {
        assert_eq!(super::quote_identifier("a\"b"), "\"a\"\"b\"");
        assert_eq!(super::quote_identifier("t"), "\"t\"");
    }
}
