//! The SLA clock: business time in a calendar. A calendar has a time zone, opening hours per
//! weekday (none on a closed day) and holidays (whole days closed); an SLA target such as "first
//! response within 4 business hours" counts only the open hours, and not the time a ticket waits
//! on the player (its pauses).
//!
//! Opening hours are wall-clock times in the calendar's zone, so a day on which the clocks change
//! is as long as the zone makes it: a 24-hour calendar's day is 23 hours in spring and 25 in
//! autumn, and an opening hour that falls in the spring gap starts when the clocks resume.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The most days the clock looks ahead for open time: a target that cannot be met within it
/// (a calendar open a few hours a year) has no due time.
const HORIZON_DAYS: i64 = 3 * 366;

/// What is wrong with a calendar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("{weekday}: an opening period must start before it ends ({start} to {end})")]
    Backwards { weekday: &'static str, start: NaiveTime, end: NaiveTime },
    #[error("{weekday}: opening periods overlap ({first} and {second})")]
    Overlap { weekday: &'static str, first: String, second: String },
    #[error("the calendar is never open: give opening hours on at least one weekday")]
    NeverOpen,
}

/// A stretch during which the clock stands still (the ticket waited on the player); `until`
/// is `None` while it still waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

/// A business calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    tz: Tz,
    /// Opening periods per weekday, Monday first, each `[start, end)` and in order; `end` may be
    /// midnight of the next day, written as `None`.
    week: [Vec<(NaiveTime, Option<NaiveTime>)>; 7],
    holidays: BTreeSet<NaiveDate>,
}

const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

impl Calendar {
    /// A calendar from opening periods per weekday (Monday first; `None` as an end is
    /// midnight), checked: each period starts before it ends, none overlap, and some day opens.
    pub fn new(
        tz: Tz,
        week: [Vec<(NaiveTime, Option<NaiveTime>)>; 7],
        holidays: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Calendar, CalendarError> {
        let mut week = week;
        for (day, periods) in week.iter_mut().enumerate() {
            let weekday = WEEKDAYS[day];
            periods.sort();
            for &(start, end) in periods.iter() {
                if end.is_some_and(|end| end <= start) {
                    return Err(CalendarError::Backwards { weekday, start, end: end.unwrap_or(start) });
                }
            }
            for pair in periods.windows(2) {
                let ((a, a_end), (b, _)) = (pair[0], pair[1]);
                if a_end.is_none_or(|end| end > b) {
                    return Err(CalendarError::Overlap { weekday, first: format!("{a}"), second: format!("{b}") });
                }
            }
        }
        if week.iter().all(Vec::is_empty) {
            return Err(CalendarError::NeverOpen);
        }
        Ok(Calendar { tz, week, holidays: holidays.into_iter().collect() })
    }

    /// Open round the clock, every day, in `tz`.
    pub fn always_open(tz: Tz) -> Calendar {
        let all_day = vec![(NaiveTime::MIN, None)];
        Calendar { tz, week: std::array::from_fn(|_| all_day.clone()), holidays: BTreeSet::new() }
    }

    /// Open `from` to `to` on weekdays (Monday to Friday), in `tz`.
    pub fn weekdays(
        tz: Tz,
        from: NaiveTime,
        to: NaiveTime,
        holidays: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Calendar, CalendarError> {
        let day = vec![(from, Some(to))];
        let week = std::array::from_fn(|i| if i < 5 { day.clone() } else { Vec::new() });
        Calendar::new(tz, week, holidays)
    }

    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// The open stretches of one local day, as instants.
    fn open_on(&self, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if self.holidays.contains(&date) {
            return Vec::new();
        }
        let next_midnight = date.succ_opt().map(|d| d.and_time(NaiveTime::MIN));
        self.week[date.weekday().num_days_from_monday() as usize]
            .iter()
            .filter_map(|&(start, end)| {
                let start = self.instant(date.and_time(start))?;
                let end = match end {
                    Some(end) => self.instant(date.and_time(end))?,
                    None => self.instant(next_midnight?)?,
                };
                (start < end).then_some((start, end))
            })
            .collect()
    }

    /// The instant a wall-clock time names: the earlier of two in the autumn fold, and the end
    /// of the spring gap for a time that does not exist.
    fn instant(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(earlier, _) => Some(earlier.with_timezone(&Utc)),
            // In the gap: the first minute after it that exists.
            LocalResult::None => (1..=180)
                .find_map(|minutes| self.tz.from_local_datetime(&(local + Duration::minutes(minutes))).earliest())
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    /// The open stretches from `from` on, day by day in the calendar's zone, as far as the
    /// horizon.
    fn open_from(&self, from: DateTime<Utc>) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let first = from.with_timezone(&self.tz).date_naive();
        (0..HORIZON_DAYS)
            .filter_map(move |n| first.checked_add_signed(Duration::days(n)))
            .flat_map(move |date| self.open_on(date))
            .filter(move |&(_, end)| end > from)
            .map(move |(start, end)| (start.max(from), end))
    }

    /// Business time between two instants, the pauses left out.
    pub fn elapsed(&self, from: DateTime<Utc>, to: DateTime<Utc>, pauses: &[Pause]) -> Duration {
        if to <= from {
            return Duration::zero();
        }
        let mut total = Duration::zero();
        for (start, end) in self.open_from(from) {
            if start >= to {
                break;
            }
            for (a, b) in running(start, end.min(to), pauses) {
                total += b - a;
            }
        }
        total
    }

    /// When `budget` of business time will have passed since `from`, the pauses left out; `None`
    /// while a pause without end stops the clock before it is used up (or past the horizon).
    pub fn due(&self, from: DateTime<Utc>, budget: Duration, pauses: &[Pause]) -> Option<DateTime<Utc>> {
        let mut left = budget;
        if left <= Duration::zero() {
            return Some(from);
        }
        let open_pause = pauses.iter().filter(|p| p.until.is_none()).map(|p| p.from).min();
        for (start, end) in self.open_from(from) {
            if open_pause.is_some_and(|p| start >= p) {
                return None;
            }
            for (a, b) in running(start, end, pauses) {
                if b - a >= left {
                    return Some(a + left);
                }
                left -= b - a;
            }
        }
        None
    }
}

/// The parts of `[start, end)` outside every pause, in order.
fn running(start: DateTime<Utc>, end: DateTime<Utc>, pauses: &[Pause]) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut parts = vec![(start, end)];
    for pause in pauses {
        let until = pause.until.unwrap_or(DateTime::<Utc>::MAX_UTC);
        parts = parts
            .into_iter()
            .flat_map(|(a, b)| {
                if until <= a || pause.from >= b {
                    vec![(a, b)]
                } else {
                    [(a, pause.from.max(a)), (until.min(b), b)].into_iter().filter(|(x, y)| x < y).collect()
                }
            })
            .collect();
    }
    parts
}

#[cfg(test)]
mod tests {
    use chrono_tz::{America, Asia, Europe};

    use super::*;

    fn at(tz: Tz, y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        tz.with_ymd_and_hms(y, m, d, h, min, 0).single().unwrap().with_timezone(&Utc)
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn office(tz: Tz, holidays: &[NaiveDate]) -> Calendar {
        Calendar::weekdays(tz, hm(9, 0), hm(17, 0), holidays.iter().copied()).unwrap()
    }

    #[test]
    fn round_the_clock_counts_every_minute() {
        let c = Calendar::always_open(Europe::London);
        let from = at(Europe::London, 2026, 6, 1, 10, 0);
        assert_eq!(c.due(from, Duration::hours(4), &[]), Some(from + Duration::hours(4)));
        assert_eq!(c.elapsed(from, from + Duration::hours(30), &[]), Duration::hours(30));
    }

    #[test]
    fn a_weekend_and_a_holiday_stop_the_clock() {
        // Friday 4 December 2026, 16:00 in Berlin; four business hours: one on Friday, three on
        // Monday, so Monday 12:00.
        let berlin = Europe::Berlin;
        let friday = at(berlin, 2026, 12, 4, 16, 0);
        assert_eq!(office(berlin, &[]).due(friday, Duration::hours(4), &[]), Some(at(berlin, 2026, 12, 7, 12, 0)));
        // With Monday a holiday: Tuesday 12:00.
        let monday = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        assert_eq!(
            office(berlin, &[monday]).due(friday, Duration::hours(4), &[]),
            Some(at(berlin, 2026, 12, 8, 12, 0))
        );
        // Opened on Saturday: the clock starts on Monday at nine.
        let saturday = at(berlin, 2026, 12, 5, 11, 0);
        assert_eq!(office(berlin, &[]).due(saturday, Duration::hours(1), &[]), Some(at(berlin, 2026, 12, 7, 10, 0)));
        assert_eq!(office(berlin, &[]).elapsed(friday, at(berlin, 2026, 12, 7, 12, 0), &[]), Duration::hours(4));
    }

    #[test]
    fn waiting_on_the_player_pauses_the_clock() {
        let berlin = Europe::Berlin;
        let friday = at(berlin, 2026, 12, 4, 16, 0);
        // Half an hour on Friday, then waiting on the player until Monday 10:00: three and a half
        // hours from then.
        let pause = Pause { from: at(berlin, 2026, 12, 4, 16, 30), until: Some(at(berlin, 2026, 12, 7, 10, 0)) };
        let c = office(berlin, &[]);
        assert_eq!(c.due(friday, Duration::hours(4), &[pause]), Some(at(berlin, 2026, 12, 7, 13, 30)));
        assert_eq!(c.elapsed(friday, at(berlin, 2026, 12, 7, 11, 0), &[pause]), Duration::minutes(90));
        // Still waiting: no due time, and the clock stands at the half hour.
        let open = Pause { until: None, ..pause };
        assert_eq!(c.due(friday, Duration::hours(4), &[open]), None);
        assert_eq!(c.elapsed(friday, at(berlin, 2026, 12, 9, 12, 0), &[open]), Duration::minutes(30));
        // A budget used up before the pause began is due regardless.
        assert_eq!(c.due(friday, Duration::minutes(20), &[open]), Some(friday + Duration::minutes(20)));
    }

    #[test]
    fn a_day_is_as_long_as_the_zone_makes_it() {
        let ny = America::New_York;
        let c = Calendar::always_open(ny);
        // Clocks go forward on Sunday 8 March 2026 and back on Sunday 1 November 2026.
        let spring = c.elapsed(at(ny, 2026, 3, 7, 12, 0), at(ny, 2026, 3, 8, 12, 0), &[]);
        let autumn = c.elapsed(at(ny, 2026, 10, 31, 12, 0), at(ny, 2026, 11, 1, 12, 0), &[]);
        assert_eq!((spring, autumn), (Duration::hours(23), Duration::hours(25)));
        // An opening hour in the spring gap (02:30 does not exist) starts when the clocks resume.
        let mut week: [Vec<(NaiveTime, Option<NaiveTime>)>; 7] = Default::default();
        week[6] = vec![(hm(2, 30), Some(hm(5, 0)))];
        let night = Calendar::new(ny, week, []).unwrap();
        let saturday = at(ny, 2026, 3, 7, 12, 0);
        assert_eq!(night.due(saturday, Duration::minutes(30), &[]), Some(at(ny, 2026, 3, 8, 3, 30)));
    }

    #[test]
    fn the_same_instant_is_business_time_in_one_zone_and_not_in_another() {
        // 08:00 UTC on a Monday: 17:00 in Tokyo (closing), 08:00 in London (not yet open).
        let instant = Utc.with_ymd_and_hms(2026, 12, 7, 8, 0, 0).unwrap();
        let tokyo = office(Asia::Tokyo, &[]);
        let london = office(Europe::London, &[]);
        // One business hour from then: Tokyo's next is Tuesday 09:00-10:00; London's 09:00-10:00
        // the same day.
        assert_eq!(tokyo.due(instant, Duration::hours(1), &[]), Some(at(Asia::Tokyo, 2026, 12, 8, 10, 0)));
        assert_eq!(london.due(instant, Duration::hours(1), &[]), Some(at(Europe::London, 2026, 12, 7, 10, 0)));
    }

    #[test]
    fn a_bad_calendar_is_refused_with_the_reason() {
        let mut week: [Vec<(NaiveTime, Option<NaiveTime>)>; 7] = Default::default();
        week[0] = vec![(hm(17, 0), Some(hm(9, 0)))];
        assert!(matches!(
            Calendar::new(Europe::Paris, week, []),
            Err(CalendarError::Backwards { weekday: "Monday", .. })
        ));
        let mut week: [Vec<(NaiveTime, Option<NaiveTime>)>; 7] = Default::default();
        week[2] = vec![(hm(9, 0), Some(hm(13, 0))), (hm(12, 0), Some(hm(18, 0)))];
        assert!(matches!(
            Calendar::new(Europe::Paris, week, []),
            Err(CalendarError::Overlap { weekday: "Wednesday", .. })
        ));
        assert_eq!(Calendar::new(Europe::Paris, Default::default(), []), Err(CalendarError::NeverOpen));
        // Lunch closed: 9-12 and 13-17; two hours from 11:00 end at 14:00.
        let mut week: [Vec<(NaiveTime, Option<NaiveTime>)>; 7] = Default::default();
        week[0] = vec![(hm(13, 0), Some(hm(17, 0))), (hm(9, 0), Some(hm(12, 0)))];
        let c = Calendar::new(Europe::Paris, week, []).unwrap();
        let monday = at(Europe::Paris, 2026, 12, 7, 11, 0);
        assert_eq!(c.due(monday, Duration::hours(2), &[]), Some(at(Europe::Paris, 2026, 12, 7, 14, 0)));
    }
}
