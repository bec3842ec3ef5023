//! Writing a condition back as text, in one canonical layout.

use crate::ast::{Cond, CondKind, Span, Term, TermKind};

/// The canonical text of a condition: what the JSON form is shown and checked as.
pub fn to_text(cond: &Cond) -> String {
    to_text_with_spans(cond).0
}

/// The text, and the span of every condition and value in it, in pre-order (a node before its
/// parts), so that an error in the text can be traced to the JSON node it came from.
pub(crate) fn to_text_with_spans(cond: &Cond) -> (String, Vec<Span>) {
    let mut w = Writer { out: String::new(), spans: Vec::new() };
    w.cond(cond, Context::Top);
    (w.out, w.spans)
}

struct Writer {
    out: String,
    spans: Vec<Span>,
}

#[derive(Clone, Copy, PartialEq)]
enum Context {
    Top,
    InAll,
    InAny,
    InNot,
}

impl Writer {
    fn open(&mut self) -> usize {
        self.spans.push(Span::new(self.out.len(), self.out.len()));
        self.spans.len() - 1
    }

    fn close(&mut self, i: usize) {
        self.spans[i].end = self.out.len();
    }

    fn cond(&mut self, cond: &Cond, ctx: Context) {
        let i = self.open();
        self.cond_inner(cond, ctx);
        self.close(i);
    }

    fn term(&mut self, term: &Term) {
        let i = self.open();
        write_term(term, &mut self.out);
        self.close(i);
    }

    fn cond_inner(&mut self, cond: &Cond, ctx: Context) {
        match &cond.kind {
            CondKind::All(parts) => {
                // An `and` inside an `and` keeps its parentheses, so that the text parses back to
                // the same tree (the JSON form's errors are placed by that tree).
                let paren = matches!(ctx, Context::InNot | Context::InAll);
                self.join(parts, " and ", Context::InAll, paren);
            }
            CondKind::Any(parts) => {
                let paren = matches!(ctx, Context::InAll | Context::InNot | Context::InAny);
                self.join(parts, " or ", Context::InAny, paren);
            }
            CondKind::Not(inner) => {
                self.out.push_str("not ");
                self.cond(inner, Context::InNot);
            }
            CondKind::Compare { left, op, right } => {
                self.term(left);
                self.out.push(' ');
                self.out.push_str(op.as_str());
                self.out.push(' ');
                self.term(right);
            }
            CondKind::In { left, values, negated } => {
                self.term(left);
                self.out.push_str(if *negated { " not in [" } else { " in [" });
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.term(v);
                }
                self.out.push(']');
            }
            CondKind::Contains { set, value } => {
                self.term(set);
                self.out.push_str(" contains ");
                self.term(value);
            }
            CondKind::Is(term) => self.term(term),
        }
    }

    fn join(&mut self, parts: &[Cond], sep: &str, ctx: Context, paren: bool) {
        if paren {
            self.out.push('(');
        }
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                self.out.push_str(sep);
            }
            self.cond(p, ctx);
        }
        if paren {
            self.out.push(')');
        }
    }
}

pub(crate) fn write_term(term: &Term, out: &mut String) {
    match &term.kind {
        TermKind::Field(name) => out.push_str(name),
        TermKind::Call { name, window } => {
            out.push_str(name);
            out.push('(');
            if let Some(days) = window {
                out.push_str(&format!("{days}d"));
            }
            out.push(')');
        }
        TermKind::Number(n) => out.push_str(n),
        TermKind::Money { amount, currency } => out.push_str(&format!("{amount} {currency}")),
        TermKind::Text(t) => {
            out.push('"');
            out.push_str(&t.replace('\\', "\\\\").replace('"', "\\\""));
            out.push('"');
        }
        TermKind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        TermKind::Days(d) => out.push_str(&format!("{d}d")),
        TermKind::Ago(d) => out.push_str(&format!("{d}d ago")),
    }
}
