//! Identifiers: every row and event Pitboss creates is keyed by a UUIDv7, so ids sort by creation time.

use uuid::Uuid;

/// A new time-ordered id (UUIDv7).
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// True when the id is a UUIDv7, the only version the event envelope accepts.
pub fn is_v7(id: &Uuid) -> bool {
    id.get_version_num() == 7
}
