//! Segments built on other segments (`segments contains "VIP candidates"`): a reference must
//! name an active segment, must not lead back to the segment itself, and a segment in use
//! cannot be archived. On the live path, a segment is evaluated after those it refers to.

use std::collections::{HashMap, HashSet};

use pitboss_rules::catalog::Field;
use pitboss_rules::{NodeKind, OperandKind, Rule, RuleError};
use pitboss_store::{Tx, sqlx, tx};
use uuid::Uuid;

use crate::SegmentError;
use crate::live::LiveSegment;

/// The segment names a rule refers to, with where.
pub fn referenced(rule: &Rule) -> Vec<(String, pitboss_rules::ast::Span)> {
    let mut out = Vec::new();
    let mut stack = vec![&rule.root];
    while let Some(node) = stack.pop() {
        match &node.kind {
            NodeKind::All(parts) | NodeKind::Any(parts) => stack.extend(parts),
            NodeKind::Not(inner) => stack.push(inner),
            NodeKind::Contains { set, value } if set.kind == OperandKind::Field(Field::Segments) => {
                out.push((value.clone(), node.span));
            }
            _ => {}
        }
    }
    out
}

fn names(rule_text: &str) -> Vec<String> {
    pitboss_rules::from_text(rule_text)
        .map(|r| referenced(&r).into_iter().map(|(n, _)| n).collect())
        .unwrap_or_default()
}

/// The active segments: id, name and condition text.
async fn active(tx: &mut Tx) -> Result<Vec<(Uuid, String, String)>, SegmentError> {
    let rows = tx!(tx, |c| {
        sqlx::query_as("SELECT id, name, condition_text FROM segments WHERE status = 'active'").fetch_all(c).await
    })?;
    Ok(rows)
}

/// The active segments' names and the names each refers to, except `except`.
async fn graph(tx: &mut Tx, except: Option<Uuid>) -> Result<HashMap<String, Vec<String>>, SegmentError> {
    let rows = active(tx).await?;
    Ok(rows.into_iter().filter(|(id, ..)| Some(*id) != except).map(|(_, name, text)| (name, names(&text))).collect())
}

/// Refuses a condition for segment `this` (`id` when it exists) whose references name no
/// active segment or lead back to `this`; the error points at the reference.
pub(crate) async fn check(tx: &mut Tx, this: &str, id: Option<Uuid>, rule: &Rule) -> Result<(), SegmentError> {
    let refs = referenced(rule);
    if refs.is_empty() {
        return Ok(());
    }
    let graph = graph(tx, id).await?;
    let fail = |span, message: String| {
        let error = RuleError::at(span, message);
        SegmentError::Condition { rendered: error.render(&rule.text), error }
    };
    for (name, span) in refs {
        if name == this {
            return Err(fail(span, format!("a segment cannot be built on itself (`{this}`)")));
        }
        if !graph.contains_key(&name) {
            return Err(fail(span, format!("there is no active segment named `{name}`")));
        }
        if let Some(path) = path_back(&graph, &name, this) {
            return Err(fail(
                span,
                format!(
                    "`{name}` is built on this segment ({this} → {} → {this}): segments cannot go round in a circle",
                    path.join(" → ")
                ),
            ));
        }
    }
    Ok(())
}

/// The chain of references from `from` to `to`, if there is one.
fn path_back(graph: &HashMap<String, Vec<String>>, from: &str, to: &str) -> Option<Vec<String>> {
    let mut seen = HashSet::new();
    let mut stack = vec![vec![from.to_string()]];
    while let Some(path) = stack.pop() {
        let last = path.last()?.clone();
        if !seen.insert(last.clone()) {
            continue;
        }
        for next in graph.get(&last).into_iter().flatten() {
            if next == to {
                return Some(path);
            }
            let mut longer = path.clone();
            longer.push(next.clone());
            stack.push(longer);
        }
    }
    None
}

/// The active segments other than `id` built on segment `name`: (id, name), by name.
pub(crate) async fn used_by(tx: &mut Tx, name: &str, id: Uuid) -> Result<Vec<(Uuid, String)>, SegmentError> {
    let mut users: Vec<(Uuid, String)> = active(tx)
        .await?
        .into_iter()
        .filter(|(other, _, text)| *other != id && names(text).iter().any(|r| r == name))
        .map(|(other, name, _)| (other, name))
        .collect();
    users.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(users)
}

/// The segments in an order where each comes after those it is built on; a segment whose
/// references cannot be met that way (an archived or missing segment, a circle edited into the
/// database) comes back apart, with why.
pub fn order(segments: Vec<LiveSegment>) -> (Vec<LiveSegment>, Vec<(Uuid, String)>) {
    let present: HashSet<String> = segments.iter().map(|s| s.name.clone()).collect();
    let mut placed: HashSet<String> = HashSet::new();
    let mut ordered = Vec::with_capacity(segments.len());
    let mut waiting = segments;
    loop {
        let before = waiting.len();
        let (ready, rest): (Vec<LiveSegment>, Vec<LiveSegment>) =
            waiting.into_iter().partition(|s| referenced(&s.rule).iter().all(|(n, _)| placed.contains(n)));
        for s in &ready {
            placed.insert(s.name.clone());
        }
        ordered.extend(ready);
        waiting = rest;
        if waiting.is_empty() || waiting.len() == before {
            break;
        }
    }
    let broken = waiting
        .into_iter()
        .map(|s| {
            let missing: Vec<String> =
                referenced(&s.rule).into_iter().map(|(n, _)| n).filter(|n| !present.contains(n)).collect();
            let why = if missing.is_empty() {
                "its segment references go round in a circle".to_string()
            } else {
                format!("it is built on segments that are not active: {}", missing.join(", "))
            };
            (s.id, why)
        })
        .collect();
    (ordered, broken)
}
