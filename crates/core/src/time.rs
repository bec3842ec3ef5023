//! Time as stored: microseconds since the Unix epoch in a 64-bit integer.
//!
//! Both storage engines compare integers the same way, so dates are computed here in Rust
//! and never in SQL.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Microseconds since the Unix epoch.
pub fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The instant for a stored microsecond count (out-of-range values clamp to the epoch).
pub fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// The UTC day an instant falls on, as days since the epoch (the key of daily aggregates).
pub fn day_number(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(86_400)
}

/// The calendar date of a day number.
pub fn day_date(day: i64) -> NaiveDate {
    DateTime::<Utc>::UNIX_EPOCH.checked_add_signed(Duration::days(day)).unwrap_or_default().date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_trip_keeps_microsecond_precision() {
        let t = DateTime::parse_from_rfc3339("2026-03-01T12:34:56.123456Z").unwrap().with_timezone(&Utc);
        assert_eq!(from_micros(to_micros(t)), t);
    }

    #[test]
    fn day_number_splits_at_utc_midnight() {
        let before = DateTime::parse_from_rfc3339("2026-03-01T23:59:59Z").unwrap().with_timezone(&Utc);
        let after = DateTime::parse_from_rfc3339("2026-03-02T00:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(day_number(after) - day_number(before), 1);
        assert_eq!(day_date(day_number(after)).to_string(), "2026-03-02");
    }
}
