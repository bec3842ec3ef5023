//! Pitboss segments: how the CRM sees the player base.
//!
//! A segment is a condition in the rule language (`pitboss_rules`), kept with every version of
//! it, and its members: the players the condition holds for. [`refresh`] evaluates a segment
//! over every player in one SQL statement per direction and records each entry and exit in the
//! same transaction, with a `segment.entered` / `segment.exited` message on the outbox for the
//! campaign triggers to consume; [`refresh::refresh_players`] does the same for a few players,
//! for the event path. A broken segment never stops the others: each refreshes on its own.
//!
//! This crate must never read another module's tables except through the rule compiler's
//! documented `FROM` (the player profile and aggregates), and never decide who may see a
//! segment: the web layer asks the policies.

/// Binds a compiled condition's parameters to a query, in order (one expansion per engine).
#[macro_export]
#[doc(hidden)]
macro_rules! bind_params {
    ($query:expr, $params:expr) => {{
        let mut q = $query;
        for p in $params {
            q = match p {
                pitboss_rules::sql::SqlValue::Int(v) => q.bind(*v),
                pitboss_rules::sql::SqlValue::Text(v) => q.bind(v.clone()),
                pitboss_rules::sql::SqlValue::Bool(v) => q.bind(*v),
            };
        }
        q
    }};
}

pub mod consumer;
mod error;
mod explain;
pub mod facts;
pub mod live;
mod model;
pub mod references;
pub mod refresh;
mod repo;
pub mod split;

pub use error::SegmentError;
pub use explain::{Explanation, explain};
pub use live::{LiveReport, refresh_players, schedule_all, update_players};
pub use model::{NewSegment, Segment, SegmentPatch, SegmentStatus, SegmentVersion, SizePoint};
pub use refresh::{RefreshReport, refresh, refresh_in};
pub use repo::{
    MemberRow, create, get, list, member_count_preview, member_rows, members, segments_of, sizes, update, versions,
};

/// The condition of a segment, parsed from its text or JSON form. Facts about an event
/// (`event.amount`, `recent.deposits`, ...) are refused: a segment is also evaluated with no
/// event at all, so they are for anomaly rules only.
pub fn parse_condition(
    text: Option<&str>,
    json: Option<&serde_json::Value>,
) -> Result<pitboss_rules::Rule, SegmentError> {
    let rule = match (text, json) {
        (Some(text), None) => {
            pitboss_rules::from_text(text).map_err(|e| SegmentError::Condition { rendered: e.render(text), error: e })
        }
        (None, Some(json)) => {
            pitboss_rules::from_json(json).map_err(|e| SegmentError::Condition { rendered: e.render(""), error: e })
        }
        (Some(_), Some(_)) => {
            Err(SegmentError::Invalid("give the condition as `condition` (text) or `condition_json`, not both".into()))
        }
        (None, None) => {
            Err(SegmentError::Invalid("a segment needs a condition: `condition` (text) or `condition_json`".into()))
        }
    }?;
    if let Some((field, span)) = rule.fields().into_iter().find(|(f, _)| f.about_event()) {
        let error = pitboss_rules::RuleError::at(
            span,
            format!(
                "`{}` describes an event, which only anomaly rules judge: a segment cannot use it",
                pitboss_rules::catalog::field_name(field)
            ),
        );
        return Err(SegmentError::Condition { rendered: error.render(&rule.text), error });
    }
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_cannot_name_an_event_fact() {
        let err = parse_condition(Some("country == \"DE\" and recent.deposits >= 3"), None).unwrap_err();
        let SegmentError::Condition { error, rendered } = err else { panic!("not a condition error: {err:?}") };
        assert!(error.message.contains("`recent.deposits` describes an event"), "{}", error.message);
        assert!(rendered.contains("^^^^^^^^^^^^^^^"), "{rendered}");
        let json =
            serde_json::json!({"compare": {"left": {"field": "event.amount"}, "op": ">", "right": {"money": "5 EUR"}}});
        assert!(parse_condition(None, Some(&json)).is_err());
        assert!(parse_condition(Some("country == \"DE\""), None).is_ok());
    }
}
