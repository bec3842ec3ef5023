//! The syntax tree both forms of a condition parse to, with the spans errors point at.

use serde::{Deserialize, Serialize};

/// Byte offsets into the condition's text (`start..end`); for the JSON form, offsets into its
/// canonical text (see [`crate::to_text`]) and a JSON path in the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => ordering == Equal,
            CmpOp::Ne => ordering != Equal,
            CmpOp::Lt => ordering == Less,
            CmpOp::Le => ordering != Greater,
            CmpOp::Gt => ordering == Greater,
            CmpOp::Ge => ordering != Less,
        }
    }
}

/// A condition: true or false for a player at an instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    pub kind: CondKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CondKind {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Compare {
        left: Term,
        op: CmpOp,
        right: Term,
    },
    /// `left in [values]`, or `not in` when `negated`.
    In {
        left: Term,
        values: Vec<Term>,
        negated: bool,
    },
    /// `set contains value`.
    Contains {
        set: Term,
        value: Term,
    },
    /// A true/false fact on its own, e.g. `has_deposited`.
    Is(Term),
}

/// A value: a fact about the player, or a literal.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub kind: TermKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TermKind {
    /// A profile or behaviour fact, e.g. `country`, `last_session`.
    Field(String),
    /// A behaviour measure over a trailing window of days (none: lifetime), e.g.
    /// `deposits_sum(30d)`.
    Call {
        name: String,
        window: Option<i64>,
    },
    /// A number as written.
    Number(String),
    /// An amount as written, with its currency: `100 EUR`, `12.50 GBP`.
    Money {
        amount: String,
        currency: String,
    },
    Text(String),
    Bool(bool),
    /// A duration in days, e.g. in `days_since_last_session > 14d`.
    Days(i64),
    /// The instant that many days before now: `14d ago`.
    Ago(i64),
}
