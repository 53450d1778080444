//! Strict JSON array-of-numbers parser.
//!
//! Grammar (JSON whitespace = space, tab, LF, CR allowed between tokens):
//!
//! ```text
//! vector := ws '[' ws number (ws ',' ws number)* ws ']' ws
//! number := [+-]? ([0-9]+ ('.' [0-9]*)? | '.' [0-9]+) ([eE] [+-]? [0-9]+)?
//! ```
//!
//! The number forms are the decimal ones C's `strtod` reads (as sqlite-vec
//! does): `.5`, `-.5`, `5.`, `+1`, `01` and exponents are accepted; NaN,
//! infinity, hex floats, a lone sign or dot, trailing commas and trailing
//! text are rejected before any number is converted.

use super::{check_dimensions, CodecError};

/// Parses a JSON array of numbers into float32. Numbers are read as f64 and
/// then rounded to f32, as sqlite-vec does with `strtod`; a number whose
/// magnitude rounds to infinity is an error.
pub fn parse_json_f32(text: &str) -> Result<Vec<f32>, CodecError> {
    parse_array(text, |index, token| {
        // The grammar above is a subset of what `f64::from_str` accepts, and
        // a too-large exponent parses as infinity, so this cannot fail.
        let wide = token.parse::<f64>().unwrap_or(f64::INFINITY);
        let x = wide as f32;
        if x.is_finite() {
            Ok(x)
        } else {
            Err(CodecError::F32Overflow {
                index,
                text: token.to_owned(),
            })
        }
    })
}

/// Parses a JSON array of integers in -128..=127. Numbers written with a
/// fraction or exponent (even `3.0` or `1e2`) are rejected: an int8 column
/// takes integers, and accepting some decimals but not others would surprise.
pub fn parse_json_i8(text: &str) -> Result<Vec<i8>, CodecError> {
    parse_array(text, |index, token| {
        if token.contains(['.', 'e', 'E']) {
            return Err(CodecError::I8NotInteger {
                index,
                text: token.to_owned(),
            });
        }
        // Any digit string that does not fit in i8 (however long) is out of
        // range; the grammar already guarantees it is an integer.
        token.parse::<i8>().map_err(|_| CodecError::I8OutOfRange {
            index,
            text: token.to_owned(),
        })
    })
}

/// Runs the grammar over `text`, converting each number token with `convert`
/// (given the element index), then checks the dimension count.
fn parse_array<T>(
    text: &str,
    mut convert: impl FnMut(usize, &str) -> Result<T, CodecError>,
) -> Result<Vec<T>, CodecError> {
    let mut cursor = Cursor { text, pos: 0 };
    let mut out = Vec::new();
    cursor.skip_ws();
    cursor.expect(b'[', "'['")?;
    cursor.skip_ws();
    if cursor.peek() == Some(b']') {
        return Err(CodecError::Empty);
    }
    loop {
        let token = cursor.number()?;
        out.push(convert(out.len(), token)?);
        cursor.skip_ws();
        match cursor.peek() {
            Some(b',') => {
                cursor.pos += 1;
                cursor.skip_ws();
            }
            Some(b']') => {
                cursor.pos += 1;
                break;
            }
            _ => return Err(cursor.error("',' or ']'")),
        }
    }
    cursor.skip_ws();
    if cursor.peek().is_some() {
        return Err(cursor.error("end of input"));
    }
    check_dimensions(out.len())?;
    Ok(out)
}

/// A byte position in the text. It only ever advances over ASCII bytes, so
/// it always sits on a char boundary.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Consumes `byte` or fails saying `expected`.
    fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), CodecError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }

    /// Consumes one or more ASCII digits or fails saying "a digit".
    fn digits(&mut self) -> Result<(), CodecError> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.error("a digit"));
        }
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        Ok(())
    }

    /// Consumes ASCII digits (possibly none) and says whether there were any.
    fn optional_digits(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Consumes one number and returns its text.
    fn number(&mut self) -> Result<&'a str, CodecError> {
        let start = self.pos;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.pos += 1;
        }
        let integer = self.optional_digits();
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !self.optional_digits() && !integer {
                return Err(self.error("a digit"));
            }
        } else if !integer {
            return Err(if self.pos == start {
                self.error("a number")
            } else {
                self.error("a digit")
            });
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.digits()?;
        }
        Ok(&self.text[start..self.pos])
    }

    /// A grammar error at the current position.
    fn error(&self, expected: &'static str) -> CodecError {
        let found = match self.text.get(self.pos..).and_then(|s| s.chars().next()) {
            Some(c) => format!("{c:?}"),
            None => "end of input".to_owned(),
        };
        CodecError::Json {
            expected,
            offset: self.pos,
            found,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MAX_DIMENSIONS;

    fn message(r: Result<Vec<f32>, CodecError>) -> String {
        r.map(|v| format!("unexpectedly parsed {v:?}"))
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn accepts_json_numbers() {
        assert_eq!(parse_json_f32("[1,2,3]"), Ok(vec![1.0, 2.0, 3.0]));
        assert_eq!(
            parse_json_f32(" \t\n[ -1.5 ,0, 2e3,1E-1 , -0.25e+1 ]\r\n"),
            Ok(vec![-1.5, 0.0, 2000.0, 0.1, -2.5])
        );
        assert_eq!(parse_json_f32("[0.1]"), Ok(vec![0.1]));
        // Underflow to zero is fine; only overflow is an error.
        assert_eq!(parse_json_f32("[1e-60]"), Ok(vec![0.0]));
        assert_eq!(parse_json_f32("[3.4028234e38]"), Ok(vec![f32::MAX]));
        assert_eq!(
            parse_json_i8("[1,-2,127,-128, 0]"),
            Ok(vec![1, -2, 127, -128, 0])
        );
        assert_eq!(parse_json_i8("[-0]"), Ok(vec![0]));
    }

    #[test]
    fn accepts_the_number_forms_strtod_reads() {
        assert_eq!(
            parse_json_f32("[.1, .2, .3, 4]"),
            Ok(vec![0.1, 0.2, 0.3, 4.0])
        );
        assert_eq!(
            parse_json_f32("[-.5, 5., +1, 01, -007.50, 1.e1, .5E-1, +2e+0]"),
            Ok(vec![-0.5, 5.0, 1.0, 1.0, -7.5, 10.0, 0.05, 2.0])
        );
        assert_eq!(parse_json_i8("[+1, 01, -007]"), Ok(vec![1, 1, -7]));
        assert!(parse_json_i8("[5.]").is_err());
    }

    #[test]
    fn grammar_errors() {
        let cases = [
            (
                "[1,2",
                "expected ',' or ']' at offset 4, found end of input",
            ),
            (
                "[1,2 ",
                "expected ',' or ']' at offset 5, found end of input",
            ),
            ("[1,,2]", "expected a number at offset 3, found ','"),
            ("[1,2,]", "expected a number at offset 5, found ']'"),
            ("abc", "expected '[' at offset 0, found 'a'"),
            ("", "expected '[' at offset 0, found end of input"),
            ("[1,\"a\"]", "expected a number at offset 3, found '\"'"),
            ("[1] x", "expected end of input at offset 4, found 'x'"),
            ("[1][2]", "expected end of input at offset 3, found '['"),
            ("[1 2]", "expected ',' or ']' at offset 3, found '2'"),
            ("[.]", "expected a digit at offset 2, found ']'"),
            ("[-.]", "expected a digit at offset 3, found ']'"),
            ("[.e1]", "expected a digit at offset 2, found 'e'"),
            ("[+]", "expected a digit at offset 2, found ']'"),
            ("[++1]", "expected a digit at offset 2, found '+'"),
            ("[0x10]", "expected ',' or ']' at offset 2, found 'x'"),
            ("[1.2.3]", "expected ',' or ']' at offset 4, found '.'"),
            ("[-]", "expected a digit at offset 2, found ']'"),
            ("[1e]", "expected a digit at offset 3, found ']'"),
            ("[1e+]", "expected a digit at offset 4, found ']'"),
            ("[NaN]", "expected a number at offset 1, found 'N'"),
            ("[Infinity]", "expected a number at offset 1, found 'I'"),
            ("[1,é]", "expected a number at offset 3, found 'é'"),
            ("[1\u{0}]", "expected ',' or ']' at offset 2, found '\\0'"),
        ];
        for (text, want) in cases {
            assert_eq!(
                message(parse_json_f32(text)),
                format!("invalid JSON vector: {want}"),
                "input {text:?}"
            );
            // The int8 parser shares the grammar.
            assert!(parse_json_i8(text).is_err(), "input {text:?}");
        }
    }

    #[test]
    fn empty_and_too_long() {
        assert_eq!(parse_json_f32("[]"), Err(CodecError::Empty));
        assert_eq!(parse_json_f32(" [ ] "), Err(CodecError::Empty));
        assert_eq!(parse_json_i8("[]"), Err(CodecError::Empty));
        assert_eq!(CodecError::Empty.to_string(), "vector is empty");
        let long = format!("[{}0]", "0,".repeat(70_000 - 1));
        assert_eq!(
            message(parse_json_f32(&long)),
            "vector has 70000 dimensions, the maximum is 65536"
        );
        let max = format!("[{}0]", "0,".repeat(MAX_DIMENSIONS - 1));
        assert_eq!(parse_json_i8(&max).map(|v| v.len()), Ok(MAX_DIMENSIONS));
    }

    #[test]
    fn f32_overflow() {
        assert_eq!(
            message(parse_json_f32("[1, 2, 1e39]")),
            "element 2 is 1e39, which is outside the float32 range"
        );
        assert!(parse_json_f32("[-3.5e38]").is_err());
        assert!(parse_json_f32("[1e999999999999999999999]").is_err());
    }

    #[test]
    fn i8_values() {
        let msg = |text: &str| parse_json_i8(text).map_err(|e| e.to_string());
        assert_eq!(
            msg("[1, 300]"),
            Err("int8 element 1 is 300, outside -128..=127".to_owned())
        );
        assert_eq!(
            msg("[-129]"),
            Err("int8 element 0 is -129, outside -128..=127".to_owned())
        );
        assert_eq!(
            msg("[99999999999999999999999]"),
            Err("int8 element 0 is 99999999999999999999999, outside -128..=127".to_owned())
        );
        assert_eq!(
            msg("[1.5]"),
            Err("element 0 is 1.5, int8 vectors take integers".to_owned())
        );
        assert_eq!(
            msg("[2, 3.0]"),
            Err("element 1 is 3.0, int8 vectors take integers".to_owned())
        );
        assert_eq!(
            msg("[1e2]"),
            Err("element 0 is 1e2, int8 vectors take integers".to_owned())
        );
    }
}
