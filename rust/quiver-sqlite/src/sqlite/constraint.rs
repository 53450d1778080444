//! SQLite's constraint operators as xBestIndex sees them (`sqlite3_index_constraint.op`),
//! shared by every virtual table. The codes are SQLite's own values; rusqlite's 3.34
//! bindings lack the newer ones (LIMIT / OFFSET, 3.38), so they are spelled out here.

use std::cmp::Ordering;

/// `SQLITE_INDEX_CONSTRAINT_MATCH`.
pub const MATCH: u8 = 64;
/// `SQLITE_INDEX_CONSTRAINT_LIMIT` (SQLite 3.38+).
pub const LIMIT: u8 = 73;
/// `SQLITE_INDEX_CONSTRAINT_OFFSET` (SQLite 3.38+).
pub const OFFSET: u8 = 74;

/// A comparison a virtual table can evaluate itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    IsNull,
    IsNotNull,
    Is,
    IsNot,
}

const ALL: [Op; 10] = [
    Op::Eq,
    Op::Ne,
    Op::Lt,
    Op::Le,
    Op::Gt,
    Op::Ge,
    Op::IsNull,
    Op::IsNotNull,
    Op::Is,
    Op::IsNot,
];

impl Op {
    /// The operator of SQLite's constraint code `op`, if it is a comparison.
    pub fn from_sqlite(op: u8) -> Option<Op> {
        ALL.into_iter().find(|o| o.code() == op)
    }

    /// SQLite's constraint code (also the code quiver writes into idxStr).
    pub fn code(self) -> u8 {
        match self {
            Op::Eq => 2,
            Op::Gt => 4,
            Op::Le => 8,
            Op::Lt => 16,
            Op::Ge => 32,
            Op::Ne => 68,
            Op::IsNot => 69,
            Op::IsNotNull => 70,
            Op::IsNull => 71,
            Op::Is => 72,
        }
    }

    /// Whether `value <op> constant` holds given how the value compares to the constant
    /// (false for the NULL tests, which do not compare).
    #[inline]
    pub fn holds(self, ord: Ordering) -> bool {
        match self {
            Op::Eq | Op::Is => ord == Ordering::Equal,
            Op::Ne | Op::IsNot => ord != Ordering::Equal,
            Op::Lt => ord == Ordering::Less,
            Op::Le => ord != Ordering::Greater,
            Op::Gt => ord == Ordering::Greater,
            Op::Ge => ord != Ordering::Less,
            Op::IsNull | Op::IsNotNull => false,
        }
    }
}

/// The SQL spelling of constraint code `op`, for error messages.
pub fn op_name(op: u8) -> String {
    if let Some(o) = Op::from_sqlite(op) {
        return match o {
            Op::Eq => "=",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Lt => "<",
            Op::Ge => ">=",
            Op::Ne => "!=",
            Op::IsNot => "IS NOT",
            Op::IsNotNull => "IS NOT NULL",
            Op::IsNull => "IS NULL",
            Op::Is => "IS",
        }
        .into();
    }
    match op {
        MATCH => "MATCH".into(),
        65 => "LIKE".into(),
        66 => "GLOB".into(),
        67 => "REGEXP".into(),
        LIMIT => "LIMIT".into(),
        OFFSET => "OFFSET".into(),
        o => format!("operator {o}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_match_sqlite() {
        for op in ALL {
            assert_eq!(Op::from_sqlite(op.code()), Some(op));
        }
        assert_eq!(
            Op::from_sqlite(rusqlite::ffi::SQLITE_INDEX_CONSTRAINT_EQ as u8),
            Some(Op::Eq)
        );
        assert_eq!(
            Op::from_sqlite(rusqlite::ffi::SQLITE_INDEX_CONSTRAINT_ISNOTNULL as u8),
            Some(Op::IsNotNull)
        );
        assert_eq!(Op::from_sqlite(MATCH), None);
        assert_eq!(op_name(8), "<=");
        assert_eq!(op_name(MATCH), "MATCH");
    }

    #[test]
    fn holds_follows_the_comparison() {
        assert!(Op::Le.holds(Ordering::Equal) && !Op::Lt.holds(Ordering::Equal));
        assert!(Op::Ne.holds(Ordering::Less) && !Op::IsNull.holds(Ordering::Equal));
    }
}
