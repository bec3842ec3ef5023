//! Errors that point at the faulty part of a condition.

use thiserror::Error;

use crate::ast::Span;

/// What is wrong with a condition, and where.
#[derive(Debug, Clone, PartialEq, Eq, Error, serde::Serialize)]
#[error("{message}")]
pub struct RuleError {
    pub message: String,
    /// Where in the text form, as byte offsets.
    pub span: Span,
    /// Where in the JSON form (`/all/1/right`), when the condition came as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl RuleError {
    pub fn at(span: Span, message: impl Into<String>) -> RuleError {
        RuleError { message: message.into(), span, path: None }
    }

    pub fn at_path(path: impl Into<String>, message: impl Into<String>) -> RuleError {
        RuleError { message: message.into(), span: Span::default(), path: Some(path.into()) }
    }

    /// The message with the text it points at underlined, for people.
    pub fn render(&self, text: &str) -> String {
        if let Some(path) = &self.path {
            return format!("at {path}: {}", self.message);
        }
        let start = self.span.start.min(text.len());
        let end = self.span.end.clamp(start, text.len());
        if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            return self.message.clone();
        }
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
        let line = &text[line_start..line_end];
        let column = text[line_start..start].chars().count();
        let width = text[start..end].chars().count().max(1);
        format!("{}\n  {line}\n  {}{}", self.message, " ".repeat(column), "^".repeat(width))
    }
}
