//! What a segment is, as stored and as shown.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pitboss_core::string_enum!(
    /// Whether the segment is kept current.
    SegmentStatus { Active => "active", Archived => "archived" }
);

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Segment {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// Increases with every change of the condition or description.
    pub version: i64,
    /// The condition in the rule language's text form (canonical when it came as JSON).
    pub condition: String,
    /// The same condition in the JSON form.
    #[schema(value_type = Object)]
    pub condition_json: serde_json::Value,
    pub status: SegmentStatus,
    /// An A/B split of the members, if any.
    pub split: Option<crate::split::Split>,
    pub member_count: i64,
    /// When the members were last computed in full (microseconds since the Unix epoch).
    pub evaluated_at: Option<i64>,
    pub created_at: i64,
    pub created_by: String,
    pub updated_at: i64,
    pub updated_by: String,
}

/// A segment to create; the condition as text or as JSON.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct NewSegment {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The text form, e.g. `country in ["DE", "AT"] and deposits_sum(30d) >= 100 EUR`.
    pub condition: Option<String>,
    /// The JSON form.
    #[schema(value_type = Option<Object>)]
    pub condition_json: Option<serde_json::Value>,
    pub split: Option<crate::split::Split>,
}

/// A change; absent fields stay. Send `expected_version` to refuse a change on a segment
/// someone else changed meanwhile.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct SegmentPatch {
    pub description: Option<String>,
    pub condition: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub condition_json: Option<serde_json::Value>,
    pub status: Option<SegmentStatus>,
    /// A new split of the members into groups; `remove_split` removes it.
    pub split: Option<crate::split::Split>,
    #[serde(default)]
    pub remove_split: bool,
    pub expected_version: Option<i64>,
}

/// One version of a segment's condition.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SegmentVersion {
    pub version: i64,
    pub condition: String,
    pub created_at: i64,
    pub created_by: String,
}

/// The segment's size at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct SizePoint {
    pub at: i64,
    pub members: i64,
}
