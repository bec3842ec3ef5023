//! The text form: `country in ["DE", "AT"] and deposits_sum(30d) >= 100 EUR and last_session > 14d ago`.
//!
//! ```text
//! condition  := any
//! any        := all ("or" all)*
//! all        := unary ("and" unary)*
//! unary      := "not" unary | "(" condition ")" | test
//! test       := term (cmp term | "in" list | "not" "in" list | "contains" term)?
//! term       := NUMBER CURRENCY? | STRING | "true" | "false" | DAYS "ago"? | IDENT ("(" DAYS? ")")?
//! list       := "[" (term ("," term)*)? "]"
//! ```
//!
//! `and` binds tighter than `or`; parentheses group. Limits keep a runaway condition from
//! costing the server: [`MAX_TEXT`] bytes, [`MAX_DEPTH`] levels of nesting, [`MAX_NODES`] parts.

use crate::ast::{CmpOp, Cond, CondKind, Span, Term, TermKind};
use crate::error::RuleError;
use crate::lexer::{Tok, lex};

pub const MAX_TEXT: usize = 20_000;
pub const MAX_DEPTH: usize = 32;
pub const MAX_NODES: usize = 2_000;

/// Parses the text form.
pub fn parse(text: &str) -> Result<Cond, RuleError> {
    if text.len() > MAX_TEXT {
        return Err(RuleError::at(
            Span::new(MAX_TEXT, text.len()),
            format!("the condition is {} bytes long; the limit is {MAX_TEXT}", text.len()),
        ));
    }
    let tokens = lex(text)?;
    if tokens.is_empty() {
        return Err(RuleError::at(Span::new(0, 0), "the condition is empty: write one, e.g. `country == \"DE\"`"));
    }
    let mut p = Parser { tokens, pos: 0, depth: 0, nodes: 0, end: text.len() };
    let cond = p.any()?;
    if let Some((tok, span)) = p.peek() {
        let hint = match tok {
            Tok::RParen => "this `)` closes nothing",
            _ => "join conditions with `and` or `or`",
        };
        return Err(RuleError::at(*span, format!("unexpected {}: {hint}", tok.describe())));
    }
    Ok(cond)
}

struct Parser {
    tokens: Vec<(Tok, Span)>,
    pos: usize,
    depth: usize,
    nodes: usize,
    end: usize,
}

fn is_keyword(tok: &Tok, word: &str) -> bool {
    matches!(tok, Tok::Ident(s) if s == word)
}

impl Parser {
    fn peek(&self) -> Option<&(Tok, Span)> {
        self.tokens.get(self.pos)
    }

    fn peek_is(&self, word: &str) -> bool {
        self.peek().is_some_and(|(t, _)| is_keyword(t, word))
    }

    fn next(&mut self) -> Option<(Tok, Span)> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn end_span(&self) -> Span {
        Span::new(self.end, self.end)
    }

    fn count(&mut self, span: Span) -> Result<(), RuleError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(RuleError::at(span, format!("the condition has more than {MAX_NODES} parts; split it")));
        }
        Ok(())
    }

    fn any(&mut self) -> Result<Cond, RuleError> {
        let first = self.all()?;
        let mut parts = vec![first];
        while self.peek_is("or") {
            self.next();
            parts.push(self.all()?);
        }
        Ok(join(parts, CondKind::Any))
    }

    fn all(&mut self) -> Result<Cond, RuleError> {
        let first = self.unary()?;
        let mut parts = vec![first];
        while self.peek_is("and") {
            self.next();
            parts.push(self.unary()?);
        }
        Ok(join(parts, CondKind::All))
    }

    fn unary(&mut self) -> Result<Cond, RuleError> {
        self.depth += 1;
        let result = self.unary_inner();
        self.depth -= 1;
        result
    }

    fn unary_inner(&mut self) -> Result<Cond, RuleError> {
        let Some((tok, span)) = self.peek().cloned() else {
            return Err(RuleError::at(self.end_span(), "the condition ends too early: a test is missing here"));
        };
        if self.depth > MAX_DEPTH {
            return Err(RuleError::at(span, format!("the condition nests deeper than {MAX_DEPTH} levels")));
        }
        self.count(span)?;
        if is_keyword(&tok, "not") {
            self.next();
            let inner = self.unary()?;
            let span = span.to(inner.span);
            return Ok(Cond { kind: CondKind::Not(Box::new(inner)), span });
        }
        if tok == Tok::LParen {
            self.next();
            let inner = self.any()?;
            match self.next() {
                Some((Tok::RParen, close)) => Ok(Cond { span: span.to(close), ..inner }),
                Some((t, s)) => Err(RuleError::at(s, format!("expected `)` to close the `(`, found {}", t.describe()))),
                None => Err(RuleError::at(span, "this `(` is never closed")),
            }
        } else {
            self.test()
        }
    }

    fn test(&mut self) -> Result<Cond, RuleError> {
        let left = self.term()?;
        let op = match self.peek().map(|(t, _)| t.clone()) {
            Some(Tok::Eq) => Some(CmpOp::Eq),
            Some(Tok::Ne) => Some(CmpOp::Ne),
            Some(Tok::Lt) => Some(CmpOp::Lt),
            Some(Tok::Le) => Some(CmpOp::Le),
            Some(Tok::Gt) => Some(CmpOp::Gt),
            Some(Tok::Ge) => Some(CmpOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.next();
            let right = self.term()?;
            let span = left.span.to(right.span);
            return Ok(Cond { kind: CondKind::Compare { left, op, right }, span });
        }
        if self.peek_is("in") {
            self.next();
            let (values, close) = self.list()?;
            let span = left.span.to(close);
            return Ok(Cond { kind: CondKind::In { left, values, negated: false }, span });
        }
        if self.peek_is("not") && self.tokens.get(self.pos + 1).is_some_and(|(t, _)| is_keyword(t, "in")) {
            self.next();
            self.next();
            let (values, close) = self.list()?;
            let span = left.span.to(close);
            return Ok(Cond { kind: CondKind::In { left, values, negated: true }, span });
        }
        if self.peek_is("contains") {
            self.next();
            let value = self.term()?;
            let span = left.span.to(value.span);
            return Ok(Cond { kind: CondKind::Contains { set: left, value }, span });
        }
        let span = left.span;
        Ok(Cond { kind: CondKind::Is(left), span })
    }

    fn list(&mut self) -> Result<(Vec<Term>, Span), RuleError> {
        let open = match self.next() {
            Some((Tok::LBracket, s)) => s,
            Some((t, s)) => {
                return Err(RuleError::at(
                    s,
                    format!("expected a list like `[\"DE\", \"AT\"]`, found {}", t.describe()),
                ));
            }
            None => return Err(RuleError::at(self.end_span(), "expected a list like `[\"DE\", \"AT\"]` here")),
        };
        let mut values = Vec::new();
        loop {
            if let Some((Tok::RBracket, close)) = self.peek().cloned() {
                self.next();
                return Ok((values, open.to(close)));
            }
            if !values.is_empty() {
                match self.next() {
                    Some((Tok::Comma, _)) => {}
                    Some((t, s)) => {
                        return Err(RuleError::at(
                            s,
                            format!("expected `,` or `]` in the list, found {}", t.describe()),
                        ));
                    }
                    None => return Err(RuleError::at(open, "this `[` is never closed")),
                }
            }
            let value = self.term()?;
            self.count(value.span)?;
            values.push(value);
        }
    }

    fn term(&mut self) -> Result<Term, RuleError> {
        let Some((tok, span)) = self.next() else {
            return Err(RuleError::at(self.end_span(), "the condition ends too early: a value is missing here"));
        };
        let term = |kind, span| Ok(Term { kind, span });
        match tok {
            Tok::Number(n) => {
                // `100 EUR`: a currency code right after a number makes it money.
                if let Some((Tok::Ident(code), cspan)) = self.peek().cloned()
                    && code.len() == 3
                    && code.chars().all(|c| c.is_ascii_uppercase())
                {
                    self.next();
                    return term(TermKind::Money { amount: n, currency: code }, span.to(cspan));
                }
                term(TermKind::Number(n), span)
            }
            Tok::Str(s) => term(TermKind::Text(s), span),
            Tok::Days(d) => {
                if self.peek_is("ago") {
                    let (_, ago) = self.next().unwrap_or((Tok::Comma, span));
                    return term(TermKind::Ago(d), span.to(ago));
                }
                term(TermKind::Days(d), span)
            }
            Tok::Ident(word) => match word.as_str() {
                "true" => term(TermKind::Bool(true), span),
                "false" => term(TermKind::Bool(false), span),
                "and" | "or" | "not" | "in" | "contains" | "ago" => {
                    Err(RuleError::at(span, format!("expected a value before `{word}`")))
                }
                _ => {
                    if let Some((Tok::LParen, _)) = self.peek() {
                        self.next();
                        let window = match self.peek().cloned() {
                            Some((Tok::Days(d), _)) => {
                                self.next();
                                Some(d)
                            }
                            _ => None,
                        };
                        return match self.next() {
                            Some((Tok::RParen, close)) => term(TermKind::Call { name: word, window }, span.to(close)),
                            Some((t, s)) => Err(RuleError::at(
                                s,
                                format!(
                                    "`{word}(...)` takes one window such as `30d`, or none for lifetime; found {}",
                                    t.describe()
                                ),
                            )),
                            None => Err(RuleError::at(span, format!("`{word}(` is never closed"))),
                        };
                    }
                    term(TermKind::Field(word), span)
                }
            },
            other => Err(RuleError::at(span, format!("expected a value, found {}", other.describe()))),
        }
    }
}

/// One part stays itself; several become `All`/`Any`.
fn join(mut parts: Vec<Cond>, make: fn(Vec<Cond>) -> CondKind) -> Cond {
    if parts.len() == 1 {
        return parts.remove(0);
    }
    let span = parts[0].span.to(parts[parts.len() - 1].span);
    Cond { kind: make(parts), span }
}
