//! Refitting on a schedule: the next refit is due `every` after the newest recorded fit
//! (whoever made it), so a restart does not refit at once and a refit on demand pushes the next
//! scheduled one back. With no fit recorded yet, the first is due at once.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use pitboss_core::time::to_micros;
use pitboss_rules::Rates;
use pitboss_store::Db;

use crate::compute::RefitSettings;
use crate::refit::{Requester, refit_detached};
use crate::repo::last_fitted_at;

/// Longest single sleep: the due time is read again after it, so a fit made by another
/// process (or on demand) is noticed within this.
const MAX_SLEEP: Duration = Duration::from_secs(3600);
/// Wait after a database failure before trying again.
const RETRY: Duration = Duration::from_secs(300);

/// How long until the next refit is due, given the newest fit's time (microseconds), the
/// interval and now; zero when due.
pub fn until_due(last: Option<i64>, every: Duration, now: i64) -> Duration {
    let Some(last) = last else { return Duration::ZERO };
    let every = i64::try_from(every.as_micros()).unwrap_or(i64::MAX);
    let due = last.saturating_add(every);
    Duration::from_micros(u64::try_from(due.saturating_sub(now)).unwrap_or(0))
}

/// Starts the schedule; abort the handle to stop it (a refit cut short rolls back whole).
pub fn spawn_scheduler(
    db: Db,
    rates: Arc<Rates>,
    settings: RefitSettings,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let wait = match last_fitted_at(&db).await {
                Ok(last) => until_due(last, every, to_micros(Utc::now())),
                Err(e) => {
                    tracing::warn!(error = %e, "the refit schedule could not read the last fit; trying again later");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            if !wait.is_zero() {
                tokio::time::sleep(wait.min(MAX_SLEEP)).await;
                continue;
            }
            // A failed fit is recorded too, so it also sets the next due time: no retry storm.
            if let Err(e) = refit_detached(db.clone(), rates.clone(), settings, Requester::schedule()).await {
                tracing::warn!(error = %e, "a scheduled refit could not be recorded; trying again later");
                tokio::time::sleep(RETRY).await;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_refit_is_due_an_interval_after_the_last() {
        let hour = Duration::from_secs(3600);
        let h = 3_600_000_000i64;
        assert_eq!(until_due(None, hour * 24, 5), Duration::ZERO);
        assert_eq!(until_due(Some(0), hour * 24, 23 * h), hour);
        assert_eq!(until_due(Some(0), hour * 24, 25 * h), Duration::ZERO);
        assert_eq!(until_due(Some(i64::MAX - 1), hour, 0), Duration::from_micros(i64::MAX as u64));
    }
}
