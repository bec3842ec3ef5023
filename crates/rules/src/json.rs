//! The JSON form of a condition, for programs and the segment editor:
//!
//! ```json
//! {"all": [
//!   {"in": {"left": {"field": "country"}, "values": [{"text": "DE"}, {"text": "AT"}]}},
//!   {"compare": {"left": {"measure": "deposits_sum", "window": "30d"}, "op": ">=", "right": {"money": "100 EUR"}}},
//!   {"compare": {"left": {"field": "last_session"}, "op": ">", "right": {"ago": "14d"}}}
//! ]}
//! ```
//!
//! Conditions: `all`, `any` (lists), `not`, `compare` (`left`, `op`, `right`), `in` and `not_in`
//! (`left`, `values`), `contains` (`set`, `value`), `is` (a true/false term). Terms: `field`,
//! `measure` (with an optional `window`), `number`, `money` ("12.50 EUR"), `text`, `bool`,
//! `days` ("14d"), `ago` ("14d"). It is checked by writing it as text ([`crate::to_text`]) and
//! checking that; errors then carry the JSON path of the part at fault.

use serde_json::{Map, Value, json};

use crate::ast::{CmpOp, Cond, CondKind, Span, Term, TermKind};
use crate::error::RuleError;
use crate::parse::{MAX_DEPTH, MAX_NODES};

/// The JSON form of a condition.
pub fn to_json(cond: &Cond) -> Value {
    match &cond.kind {
        CondKind::All(parts) => json!({ "all": parts.iter().map(to_json).collect::<Vec<_>>() }),
        CondKind::Any(parts) => json!({ "any": parts.iter().map(to_json).collect::<Vec<_>>() }),
        CondKind::Not(inner) => json!({ "not": to_json(inner) }),
        CondKind::Compare { left, op, right } => {
            json!({ "compare": { "left": term_json(left), "op": op.as_str(), "right": term_json(right) } })
        }
        CondKind::In { left, values, negated } => {
            let key = if *negated { "not_in" } else { "in" };
            json!({ key: { "left": term_json(left), "values": values.iter().map(term_json).collect::<Vec<_>>() } })
        }
        CondKind::Contains { set, value } => {
            json!({ "contains": { "set": term_json(set), "value": term_json(value) } })
        }
        CondKind::Is(term) => json!({ "is": term_json(term) }),
    }
}

fn term_json(term: &Term) -> Value {
    match &term.kind {
        TermKind::Field(name) => json!({ "field": name }),
        TermKind::Call { name, window } => match window {
            Some(days) => json!({ "measure": name, "window": format!("{days}d") }),
            None => json!({ "measure": name }),
        },
        TermKind::Number(n) => match n.parse::<i64>() {
            Ok(v) => json!({ "number": v }),
            Err(_) => json!({ "number": n }),
        },
        TermKind::Money { amount, currency } => json!({ "money": format!("{amount} {currency}") }),
        TermKind::Text(t) => json!({ "text": t }),
        TermKind::Bool(b) => json!({ "bool": b }),
        TermKind::Days(d) => json!({ "days": format!("{d}d") }),
        TermKind::Ago(d) => json!({ "ago": format!("{d}d") }),
    }
}

/// Reads the JSON form; each node keeps its JSON path.
pub(crate) fn from_json(value: &Value) -> Result<(Cond, Vec<String>), RuleError> {
    let mut reader = Reader { paths: Vec::new(), nodes: 0 };
    let cond = reader.cond(value, "", 0)?;
    Ok((cond, reader.paths))
}

struct Reader {
    /// Paths in the order the nodes were read (pre-order), to pair with the parsed text's nodes.
    paths: Vec<String>,
    nodes: usize,
}

fn single<'a>(value: &'a Value, path: &str, what: &str) -> Result<(&'a str, &'a Value), RuleError> {
    let Some(map) = value.as_object() else {
        return Err(RuleError::at_path(or_root(path), format!("expected {what} as an object with one key")));
    };
    if map.len() != 1 {
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        return Err(RuleError::at_path(or_root(path), format!("expected {what} with exactly one key, found {keys:?}")));
    }
    let (k, v) = map.iter().next().map(|(k, v)| (k.as_str(), v)).unwrap_or(("", value));
    Ok((k, v))
}

fn or_root(path: &str) -> String {
    if path.is_empty() { "/".into() } else { path.to_string() }
}

fn get<'a>(map: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a Value, RuleError> {
    map.get(key).ok_or_else(|| RuleError::at_path(or_root(path), format!("`{key}` is missing")))
}

fn object<'a>(value: &'a Value, path: &str, keys: &[&str]) -> Result<&'a Map<String, Value>, RuleError> {
    let map = value
        .as_object()
        .ok_or_else(|| RuleError::at_path(or_root(path), format!("expected an object with {keys:?}")))?;
    if let Some(extra) = map.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err(RuleError::at_path(format!("{path}/{extra}"), format!("unknown key `{extra}`; expected {keys:?}")));
    }
    Ok(map)
}

fn days(value: &Value, path: &str) -> Result<i64, RuleError> {
    let text = value.as_str().unwrap_or_default();
    let parsed = text
        .strip_suffix('d')
        .and_then(|n| n.parse::<i64>().ok())
        .or_else(|| text.strip_suffix('w').and_then(|n| n.parse::<i64>().ok()).map(|w| w * 7));
    parsed.ok_or_else(|| RuleError::at_path(path, "expected a duration such as \"30d\" or \"2w\""))
}

impl Reader {
    fn cond(&mut self, value: &Value, path: &str, depth: usize) -> Result<Cond, RuleError> {
        self.nodes += 1;
        if depth > MAX_DEPTH || self.nodes > MAX_NODES {
            return Err(RuleError::at_path(or_root(path), "the condition is too large or too deeply nested"));
        }
        let (key, inner) = single(value, path, "a condition (all, any, not, compare, in, not_in, contains, is)")?;
        let here = format!("{path}/{key}");
        let span = Span::default();
        let list = |reader: &mut Reader, make: fn(Vec<Cond>) -> CondKind| -> Result<Cond, RuleError> {
            let items = inner.as_array().ok_or_else(|| RuleError::at_path(&here, "expected a list of conditions"))?;
            match items.len() {
                0 => Err(RuleError::at_path(&here, "the list is empty; give at least one condition")),
                // One part is that part: the text form has no one-part `and`.
                1 => reader.cond(&items[0], &format!("{here}/0"), depth + 1),
                _ => {
                    reader.paths.push(or_root(path));
                    let parts = items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| reader.cond(item, &format!("{here}/{i}"), depth + 1))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(Cond { kind: make(parts), span })
                }
            }
        };
        match key {
            "all" => list(self, CondKind::All),
            "any" => list(self, CondKind::Any),
            "not" => {
                self.paths.push(or_root(path));
                let inner = self.cond(inner, &here, depth + 1)?;
                Ok(Cond { kind: CondKind::Not(Box::new(inner)), span })
            }
            "compare" => {
                self.paths.push(or_root(path));
                let map = object(inner, &here, &["left", "op", "right"])?;
                let op_path = format!("{here}/op");
                let op: CmpOp = serde_json::from_value(get(map, "op", &here)?.clone())
                    .map_err(|_| RuleError::at_path(&op_path, "`op` is one of ==, !=, <, <=, >, >="))?;
                let left = self.term(get(map, "left", &here)?, &format!("{here}/left"))?;
                let right = self.term(get(map, "right", &here)?, &format!("{here}/right"))?;
                Ok(Cond { kind: CondKind::Compare { left, op, right }, span })
            }
            "in" | "not_in" => {
                self.paths.push(or_root(path));
                let map = object(inner, &here, &["left", "values"])?;
                let left = self.term(get(map, "left", &here)?, &format!("{here}/left"))?;
                let values_path = format!("{here}/values");
                let items = get(map, "values", &here)?
                    .as_array()
                    .ok_or_else(|| RuleError::at_path(&values_path, "expected a list of values"))?;
                let values = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.term(v, &format!("{values_path}/{i}")))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Cond { kind: CondKind::In { left, values, negated: key == "not_in" }, span })
            }
            "contains" => {
                self.paths.push(or_root(path));
                let map = object(inner, &here, &["set", "value"])?;
                let set = self.term(get(map, "set", &here)?, &format!("{here}/set"))?;
                let value = self.term(get(map, "value", &here)?, &format!("{here}/value"))?;
                Ok(Cond { kind: CondKind::Contains { set, value }, span })
            }
            "is" => {
                self.paths.push(or_root(path));
                let term = self.term(inner, &here)?;
                Ok(Cond { kind: CondKind::Is(term), span })
            }
            other => Err(RuleError::at_path(
                here.clone(),
                format!("`{other}` is not a condition; use all, any, not, compare, in, not_in, contains or is"),
            )),
        }
    }

    fn term(&mut self, value: &Value, path: &str) -> Result<Term, RuleError> {
        self.paths.push(path.to_string());
        let span = Span::default();
        let map = value
            .as_object()
            .ok_or_else(|| RuleError::at_path(path, "expected a value object, e.g. {\"field\": \"country\"}"))?;
        if let Some(name) = map.get("measure") {
            let map = object(value, path, &["measure", "window"])?;
            let name = name
                .as_str()
                .filter(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_') && !n.is_empty())
                .ok_or_else(|| {
                    RuleError::at_path(format!("{path}/measure"), "expected a measure's name, e.g. \"deposits_sum\"")
                })?;
            let window = map.get("window").map(|w| days(w, &format!("{path}/window"))).transpose()?;
            return Ok(Term { kind: TermKind::Call { name: name.to_string(), window }, span });
        }
        let (key, v) = single(value, path, "a value (field, measure, number, money, text, bool, days, ago)")?;
        let at = format!("{path}/{key}");
        let text = || v.as_str().map(str::to_string).ok_or_else(|| RuleError::at_path(&at, "expected a text"));
        let name = |t: String| {
            let ok = t.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && t.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
            if ok { Ok(t) } else { Err(RuleError::at_path(&at, format!("`{t}` is not a field name"))) }
        };
        let kind = match key {
            "field" => TermKind::Field(name(text()?)?),
            "number" => TermKind::Number(match v {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => return Err(RuleError::at_path(&at, "expected a number")),
            }),
            "money" => {
                let t = text()?;
                let (amount, currency) = t
                    .split_once(' ')
                    .ok_or_else(|| RuleError::at_path(&at, "expected an amount and a currency, like \"100 EUR\""))?;
                TermKind::Money { amount: amount.to_string(), currency: currency.trim().to_string() }
            }
            "text" => TermKind::Text(text()?),
            "bool" => TermKind::Bool(v.as_bool().ok_or_else(|| RuleError::at_path(&at, "expected true or false"))?),
            "days" => TermKind::Days(days(v, &at)?),
            "ago" => TermKind::Ago(days(v, &at)?),
            other => return Err(RuleError::at_path(at.clone(), format!("`{other}` is not a kind of value"))),
        };
        Ok(Term { kind, span })
    }
}
