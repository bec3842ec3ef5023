//! Type checking: a parsed condition becomes a [`Rule`], or an error pointing at the part that
//! does not make sense (an unknown field, a date compared with money, an impossible window).

use std::str::FromStr;

use pitboss_core::money::Currency;

use crate::ast::{CmpOp, Cond, CondKind, Span, Term, TermKind};
use crate::catalog::{self, Field, MAX_WINDOW_DAYS, Measure, Type, Windows};
use crate::error::RuleError;

/// A checked condition, ready to evaluate or compile to SQL.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The text form the spans point into.
    pub text: String,
    pub root: Node,
}

impl Rule {
    /// Whether any part of the condition reads `field`.
    pub fn reads(&self, field: Field) -> bool {
        self.fields().iter().any(|(f, _)| *f == field)
    }

    /// Every fact the condition reads, with where, in no particular order.
    pub fn fields(&self) -> Vec<(Field, Span)> {
        self.operands()
            .into_iter()
            .filter_map(|o| if let OperandKind::Field(f) = o.kind { Some((f, o.span)) } else { None })
            .collect()
    }

    /// Whether the condition reads nothing about the player but the judged event's facts (no
    /// profile fact, no measure), so that an anomaly rule needs no player facts loaded.
    pub fn reads_only_event_facts(&self) -> bool {
        self.operands().iter().all(|o| match o.kind {
            OperandKind::Field(f) => f.about_event(),
            OperandKind::Measure(..) => false,
            OperandKind::Literal(_) | OperandKind::Ago(_) => true,
        })
    }

    /// Every operand of every test, in no particular order.
    fn operands(&self) -> Vec<&Operand> {
        let mut out = Vec::new();
        let mut stack = vec![&self.root];
        while let Some(node) = stack.pop() {
            match &node.kind {
                NodeKind::All(parts) | NodeKind::Any(parts) => stack.extend(parts),
                NodeKind::Not(inner) => stack.push(inner),
                NodeKind::Compare { left, right, .. } => out.extend([left, right]),
                NodeKind::In { left, .. } => out.push(left),
                NodeKind::Contains { set, .. } => out.push(set),
                NodeKind::Is(operand) => out.push(operand),
            }
        }
        out
    }
}

/// A checked condition node, with where it came from (for the trace).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    Compare { left: Operand, op: CmpOp, right: Operand },
    In { left: Operand, values: Vec<Literal>, negated: bool },
    Contains { set: Operand, value: String },
    Is(Operand),
}

/// A value a node reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Operand {
    pub kind: OperandKind,
    pub ty: Type,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OperandKind {
    Field(Field),
    /// A measure over the trailing `window` days, or the lifetime.
    Measure(Measure, Option<i64>),
    Literal(Literal),
    /// Now minus this many days.
    Ago(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Bool(bool),
    Number(i64),
    /// Minor units of the currency.
    Money(i64, Currency),
    Text(String),
    Days(i64),
}

/// Checks a condition parsed from `text`.
pub fn check(cond: &Cond, text: &str) -> Result<Rule, RuleError> {
    Ok(Rule { text: text.to_string(), root: node(cond)? })
}

fn node(cond: &Cond) -> Result<Node, RuleError> {
    let kind = match &cond.kind {
        CondKind::All(parts) => NodeKind::All(parts.iter().map(node).collect::<Result<_, _>>()?),
        CondKind::Any(parts) => NodeKind::Any(parts.iter().map(node).collect::<Result<_, _>>()?),
        CondKind::Not(inner) => NodeKind::Not(Box::new(node(inner)?)),
        CondKind::Compare { left, op, right } => {
            let (left, right) = (operand(left)?, operand(right)?);
            compatible(&left, *op, &right, cond.span)?;
            NodeKind::Compare { left, op: *op, right }
        }
        CondKind::In { left, values, negated } => {
            let left = operand(left)?;
            if !matches!(left.ty, Type::Text | Type::Number) {
                return Err(RuleError::at(
                    left.span,
                    format!("`in [...]` tests text or numbers; this is {}", left.ty.describe()),
                ));
            }
            let mut literals = Vec::with_capacity(values.len());
            for v in values {
                let value = operand(v)?;
                let OperandKind::Literal(lit) = value.kind else {
                    return Err(RuleError::at(v.span, "a list holds plain values, like `[\"DE\", \"AT\"]`"));
                };
                if value.ty != left.ty {
                    return Err(RuleError::at(
                        v.span,
                        format!(
                            "the list holds {}, but it is tested against {}",
                            value.ty.describe(),
                            left.ty.describe()
                        ),
                    ));
                }
                literals.push(lit);
            }
            if literals.is_empty() {
                return Err(RuleError::at(
                    cond.span,
                    "the list is empty, so this test can never hold; name some values",
                ));
            }
            NodeKind::In { left, values: literals, negated: *negated }
        }
        CondKind::Contains { set, value } => {
            let set = operand(set)?;
            if set.ty != Type::TextSet {
                return Err(RuleError::at(
                    set.span,
                    format!("`contains` tests a set such as `tags`; this is {}", set.ty.describe()),
                ));
            }
            let TermKind::Text(text) = &value.kind else {
                return Err(RuleError::at(value.span, "`contains` takes a text, like `tags contains \"vip\"`"));
            };
            // Game categories are kept trimmed and in lower case: `"Live"` means `"live"`.
            let value = match set.kind {
                OperandKind::Measure(Measure::CategoriesPlayed, _) => text.trim().to_lowercase(),
                _ => text.clone(),
            };
            NodeKind::Contains { set, value }
        }
        CondKind::Is(term) => {
            let value = operand(term)?;
            if value.ty != Type::Bool {
                return Err(RuleError::at(
                    value.span,
                    format!("this is {}, not a test: compare it with something, e.g. `... > 0`", value.ty.describe()),
                ));
            }
            NodeKind::Is(value)
        }
    };
    Ok(Node { kind, span: cond.span })
}

fn compatible(left: &Operand, op: CmpOp, right: &Operand, span: Span) -> Result<(), RuleError> {
    if left.ty != right.ty {
        return Err(RuleError::at(
            span,
            format!(
                "cannot compare {} with {}: the left side is {}, the right side is {}",
                left.ty.describe(),
                right.ty.describe(),
                left.ty.describe(),
                right.ty.describe()
            ),
        ));
    }
    let ordered = !matches!(left.ty, Type::Text | Type::Bool | Type::TextSet);
    if !ordered && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
        return Err(RuleError::at(span, format!("{} can only be compared with `==` or `!=`", left.ty.describe())));
    }
    if left.ty == Type::TextSet {
        return Err(RuleError::at(span, "a set is tested with `contains`, e.g. `tags contains \"vip\"`"));
    }
    let is_age = |o: &Operand| o.kind == OperandKind::Field(Field::Age);
    let is_number = |o: &Operand| matches!(o.kind, OperandKind::Literal(Literal::Number(_)));
    if (is_age(left) && !is_number(right)) || (is_age(right) && !is_number(left)) {
        return Err(RuleError::at(span, "`age` is compared with a number of years, like `age >= 18`"));
    }
    if let (OperandKind::Literal(_), OperandKind::Literal(_)) = (&left.kind, &right.kind) {
        return Err(RuleError::at(span, "this compares two fixed values; one side should be a fact about the player"));
    }
    Ok(())
}

fn operand(term: &Term) -> Result<Operand, RuleError> {
    let span = term.span;
    let (kind, ty) = match &term.kind {
        TermKind::Field(name) => match catalog::field(name) {
            Some((field, ty)) => (OperandKind::Field(field), ty),
            None if catalog::measure(name).is_some() => {
                return Err(RuleError::at(
                    span,
                    format!(
                        "`{name}` is a measure: give it a window like `{name}(30d)`, or `{name}()` for the lifetime"
                    ),
                ));
            }
            None => return Err(unknown(name, span)),
        },
        TermKind::Call { name, window } => {
            let Some((measure, ty, windows)) = catalog::measure(name) else {
                if catalog::field(name).is_some() {
                    return Err(RuleError::at(
                        span,
                        format!("`{name}` is a fact, not a measure: write it without `(...)`"),
                    ));
                }
                return Err(unknown(name, span));
            };
            match (windows, window) {
                (Windows::Required, None) => {
                    return Err(RuleError::at(span, format!("`{name}` needs a window, e.g. `{name}(30d)`")));
                }
                (Windows::Lifetime, Some(_)) => {
                    return Err(RuleError::at(
                        span,
                        format!("`{name}` is kept for the lifetime only: write `{name}()`"),
                    ));
                }
                (_, Some(days)) if !(1..=MAX_WINDOW_DAYS).contains(days) => {
                    return Err(RuleError::at(
                        span,
                        format!("a window of {days} days is impossible: use 1 to {MAX_WINDOW_DAYS} days"),
                    ));
                }
                _ => {}
            }
            (OperandKind::Measure(measure, *window), ty)
        }
        TermKind::Number(text) => {
            let n = text.parse::<i64>().map_err(|_| {
                RuleError::at(
                    span,
                    format!("`{text}` is not a whole number; amounts of money need a currency, like `{text} EUR`"),
                )
            })?;
            (OperandKind::Literal(Literal::Number(n)), Type::Number)
        }
        TermKind::Money { amount, currency } => {
            let code = Currency::from_str(currency)
                .map_err(|_| RuleError::at(span, format!("`{currency}` is not an ISO 4217 currency code")))?;
            (OperandKind::Literal(Literal::Money(minor_units(amount, code, span)?, code)), Type::Money)
        }
        TermKind::Text(text) => (OperandKind::Literal(Literal::Text(text.clone())), Type::Text),
        TermKind::Bool(b) => (OperandKind::Literal(Literal::Bool(*b)), Type::Bool),
        TermKind::Days(days) => (OperandKind::Literal(Literal::Days(*days)), Type::Days),
        TermKind::Ago(days) => {
            if *days < 0 || *days > 100 * 366 {
                return Err(RuleError::at(span, "that is further back than any player's history"));
            }
            (OperandKind::Ago(*days), Type::Instant)
        }
    };
    Ok(Operand { kind, ty, span })
}

fn unknown(name: &str, span: Span) -> RuleError {
    match catalog::closest(name) {
        Some(known) => RuleError::at(span, format!("there is no field `{name}`; did you mean `{known}`?")),
        None => RuleError::at(
            span,
            format!("there is no field `{name}`; the fields are listed in the segment editor's help"),
        ),
    }
}

/// `12.50` EUR → 1250: no more decimals than the currency has.
fn minor_units(text: &str, currency: Currency, span: Span) -> Result<i64, RuleError> {
    currency.minor_units(text).map_err(|e| RuleError::at(span, e))
}
