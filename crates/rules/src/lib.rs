//! Pitboss rules: the one rule engine.
//!
//! Segments, anomaly rules, AML rules and campaign triggers are all conditions over the same
//! player facts. A condition is written as text (`country in ["DE", "AT"] and
//! deposits_sum(30d) >= 100 EUR and last_session > 14d ago`) or as JSON (see [`json`]); both are
//! checked against the catalog of facts and measures ([`catalog`]) with errors that point at the
//! faulty part. A checked [`Rule`] is evaluated in memory on the event path, with a per-node
//! [`Trace`] saying why it held, or compiled to SQL for scans over every player ([`sql`]). The
//! two must always agree; the tests hold them to it.
//!
//! This crate must never do I/O: callers load the facts and run the SQL.

pub mod ast;
mod cache;
pub mod catalog;
mod check;
mod error;
mod eval;
mod horizon;
pub mod json;
mod lexer;
mod parse;
mod rates;
pub mod sql;
mod text;

#[cfg(test)]
mod tests;

pub use cache::RuleCache;
pub use check::{Literal, Node, NodeKind, Operand, OperandKind, Rule};
pub use error::RuleError;
pub use eval::{CategoryPlayed, Day, EventFacts, Lifetime, PlayerFacts, Prediction, Trace, age};
pub use parse::{MAX_DEPTH, MAX_NODES, MAX_TEXT};
pub use rates::Rates;
pub use text::to_text;

/// Parses and checks the text form.
pub fn from_text(text: &str) -> Result<Rule, RuleError> {
    let cond = parse::parse(text)?;
    check::check(&cond, text)
}

/// Parses and checks the JSON form; errors carry the JSON path of the part at fault.
pub fn from_json(value: &serde_json::Value) -> Result<Rule, RuleError> {
    let (cond, paths) = json::from_json(value)?;
    let (text, spans) = text::to_text_with_spans(&cond);
    from_text(&text).map_err(|mut e| {
        // The innermost node whose text holds the error.
        let at = spans
            .iter()
            .zip(&paths)
            .filter(|(s, _)| s.start <= e.span.start && e.span.end <= s.end)
            .min_by_key(|(s, _)| s.end - s.start)
            .map(|(_, p)| p.clone());
        e.path = Some(at.unwrap_or_else(|| "/".into()));
        e
    })
}

/// The JSON form of a text condition (checked first).
pub fn text_to_json(text: &str) -> Result<serde_json::Value, RuleError> {
    let cond = parse::parse(text)?;
    check::check(&cond, text)?;
    Ok(json::to_json(&cond))
}

/// The canonical text of a JSON condition (checked first).
pub fn json_to_text(value: &serde_json::Value) -> Result<String, RuleError> {
    Ok(from_json(value)?.text)
}
