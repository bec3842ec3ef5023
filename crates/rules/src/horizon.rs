//! When a rule's answer for a player changes by the passing of time alone.
//!
//! A segment such as `last_session < 14d ago` must take a player in on day 14 without any
//! event. Only a few things in a condition move with the clock: `Nd ago`, the `days_since_*`
//! facts, `age`, and windowed measures (a day of activity leaves the window). Each yields the
//! instants at which its test can flip; the rule is evaluated at those instants in order, and
//! the first at which the answer differs is when the player's membership changes. The caller
//! keeps a durable timer for that instant.
//!
//! The facts are taken as they are: an event changes them and the caller computes again.

use chrono::{Datelike, NaiveDate};

use crate::catalog::{Field, Measure, Type};
use crate::check::{Literal, Node, NodeKind, Operand, OperandKind, Rule};
use crate::eval::{Day, PlayerFacts};
use crate::rates::Rates;

const DAY_MICROS: i64 = 86_400_000_000;

/// How far ahead to look: beyond the longest window, nothing a rule reads can move except age
/// and the `days_since_*` facts, whose instants are computed directly.
const HORIZON_DAYS: i64 = 200 * 366;

impl Rule {
    /// The first instant after `now` at which the rule's answer for `facts` is not what it is
    /// at `now`, if the passing of time alone ever changes it.
    pub fn next_change(&self, facts: &PlayerFacts, now: i64, rates: &Rates) -> Option<i64> {
        let mut instants = Vec::new();
        candidates(&self.root, facts, &mut instants);
        instants.retain(|t| *t > now && *t <= now + HORIZON_DAYS * DAY_MICROS);
        instants.sort_unstable();
        instants.dedup();
        let current = self.holds(facts, now, rates);
        instants.into_iter().find(|t| self.holds(facts, *t, rates) != current)
    }
}

/// The instants at which some test in `node` can change its answer, given `facts`.
fn candidates(node: &Node, facts: &PlayerFacts, out: &mut Vec<i64>) {
    match &node.kind {
        NodeKind::All(parts) | NodeKind::Any(parts) => parts.iter().for_each(|p| candidates(p, facts, out)),
        NodeKind::Not(inner) => candidates(inner, facts, out),
        NodeKind::Compare { left, right, .. } => {
            operand(left, right, facts, out);
            operand(right, left, facts, out);
        }
        NodeKind::In { left, values, .. } => {
            let numbers: Vec<i64> = values.iter().filter_map(whole).collect();
            moving(left, &numbers, facts, out);
        }
        NodeKind::Contains { set, .. } => moving(set, &[], facts, out),
        NodeKind::Is(operand) => moving(operand, &[], facts, out),
    }
}

fn whole(literal: &Literal) -> Option<i64> {
    match literal {
        Literal::Number(n) | Literal::Days(n) => Some(*n),
        _ => None,
    }
}

/// Instants for `this`, compared with `other`.
fn operand(this: &Operand, other: &Operand, facts: &PlayerFacts, out: &mut Vec<i64>) {
    match (&this.kind, &other.kind) {
        // `X < Nd ago` flips when now passes X + N days (at it for `<=`, just after for `<`).
        (OperandKind::Ago(days), OperandKind::Field(f)) => {
            if let Some(x) = instant(*f, facts) {
                let at = x + days * DAY_MICROS;
                out.extend([at, at + 1]);
            }
        }
        (_, OperandKind::Literal(lit)) => moving(this, whole(lit).as_slice(), facts, out),
        _ => moving(this, &[], facts, out),
    }
}

/// Instants at which the value of `operand` moves so that a comparison with one of `numbers`
/// can flip; with no numbers, the next instant its value moves at all (the caller then looks
/// again from there).
fn moving(operand: &Operand, numbers: &[i64], facts: &PlayerFacts, out: &mut Vec<i64>) {
    match &operand.kind {
        OperandKind::Field(Field::Age) => {
            let Some(born) = facts.birth_date else { return };
            if numbers.is_empty() {
                // Every birthday for the next years: the answer is looked at again from each.
                out.extend((1..=150).filter_map(|years| birthday(born, years)));
            } else {
                out.extend(numbers.iter().flat_map(|n| [birthday(born, *n), birthday(born, n + 1)]).flatten());
            }
        }
        OperandKind::Field(f) if operand.ty == Type::Days => {
            let Some(x) = since(*f, facts) else { return };
            if numbers.is_empty() {
                out.extend((1..=crate::catalog::MAX_WINDOW_DAYS * 2).map(|n| x + n * DAY_MICROS));
            } else {
                out.extend(numbers.iter().flat_map(|n| [x + n * DAY_MICROS, x + (n + 1) * DAY_MICROS]));
            }
        }
        // A day of activity leaves a window of N days at the start of day + N.
        OperandKind::Measure(Measure::CategoriesPlayed, Some(window)) => {
            out.extend(facts.categories.iter().map(|c| (c.last_played.div_euclid(DAY_MICROS) + window) * DAY_MICROS));
        }
        // Only a day that adds something to the measure changes it by leaving.
        OperandKind::Measure(m, Some(window)) => {
            out.extend(facts.daily.iter().filter(|d| counts_for(*m, d)).map(|d| (d.day + window) * DAY_MICROS));
        }
        _ => {}
    }
}

/// Whether a day's figures add anything to the measure.
fn counts_for(m: Measure, d: &Day) -> bool {
    match m {
        Measure::Sessions => d.sessions != 0,
        Measure::ActiveDays => d.sessions > 0 || d.rounds > 0,
        Measure::DepositsCount => d.deposit_count != 0,
        Measure::DepositsSum => d.deposit_sum != 0,
        Measure::WithdrawalsCount => d.withdrawal_count != 0,
        Measure::WithdrawalsSum => d.withdrawal_sum != 0,
        Measure::Stakes => d.stake_sum != 0,
        Measure::Wins => d.win_sum != 0,
        Measure::Ggr => d.stake_sum != d.win_sum,
        Measure::NetLoss => d.deposit_sum != d.withdrawal_sum,
        Measure::Rounds => d.rounds != 0,
        Measure::BonusGranted => d.bonus_granted != 0,
        Measure::BonusConverted => d.bonus_converted != 0,
        Measure::BonusForfeited => d.bonus_forfeited != 0,
        // Categories leave by their own dates (above).
        Measure::CategoriesPlayed => false,
    }
}

/// The instant an instant-typed fact holds, if known.
fn instant(f: Field, facts: &PlayerFacts) -> Option<i64> {
    let l = &facts.lifetime;
    match f {
        Field::Registered => Some(facts.registered_at),
        Field::LastSession => l.last_session_at,
        Field::LastDeposit => l.last_deposit_at,
        Field::FirstDeposit => l.first_deposit_at,
        Field::LastActivity => l.last_activity_at,
        _ => None,
    }
}

/// The instant a `days_since_*` fact counts from.
fn since(f: Field, facts: &PlayerFacts) -> Option<i64> {
    match f {
        Field::DaysSinceLastSession => facts.lifetime.last_session_at,
        Field::DaysSinceLastDeposit => facts.lifetime.last_deposit_at,
        Field::DaysSinceRegistration => Some(facts.registered_at),
        _ => None,
    }
}

/// Midnight UTC of the day the player turns `years` (1 March for 29 February outside leap
/// years, as [`crate::age`] counts it).
fn birthday(born: NaiveDate, years: i64) -> Option<i64> {
    let year = born.year().checked_add(i32::try_from(years).ok()?)?;
    let day =
        NaiveDate::from_ymd_opt(year, born.month(), born.day()).or_else(|| NaiveDate::from_ymd_opt(year, 3, 1))?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Lifetime;
    use crate::from_text;

    /// 2026-11-23 12:00 UTC.
    const NOW: i64 = 1_795_435_200_000_000;

    fn player() -> PlayerFacts {
        PlayerFacts {
            country: "DE".into(),
            currency: Some("EUR".parse().unwrap()),
            birth_date: NaiveDate::from_ymd_opt(2000, 11, 25),
            registered_at: NOW - 100 * DAY_MICROS,
            lifetime: Lifetime {
                sessions: 1,
                deposit_count: 1,
                deposit_sum: 5_000,
                last_session_at: Some(NOW - 3 * DAY_MICROS),
                last_deposit_at: Some(NOW - 3 * DAY_MICROS),
                ..Default::default()
            },
            daily: vec![Day {
                day: (NOW - 3 * DAY_MICROS) / DAY_MICROS,
                sessions: 1,
                deposit_count: 1,
                deposit_sum: 5_000,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn next(text: &str, facts: &PlayerFacts) -> Option<i64> {
        from_text(text).unwrap().next_change(facts, NOW, &Rates::new())
    }

    #[test]
    fn a_player_who_stops_playing_enters_on_day_fourteen() {
        let p = player();
        let at = next("last_session < 14d ago", &p).unwrap();
        assert_eq!(at, p.lifetime.last_session_at.unwrap() + 14 * DAY_MICROS + 1);
        let at = next("days_since_last_session >= 14d", &p).unwrap();
        assert_eq!(at, p.lifetime.last_session_at.unwrap() + 14 * DAY_MICROS);
    }

    #[test]
    fn a_deposit_leaves_its_window() {
        let p = player();
        let at = next("deposits_sum(7d) >= 50 EUR", &p).unwrap();
        // The deposit's day is day 0 of the window; it leaves when day +7 starts.
        assert_eq!(at, (p.daily[0].day + 7) * DAY_MICROS);
        assert_eq!(next("deposits_sum(7d) >= 60 EUR", &p), None, "false now and never true without events");
    }

    #[test]
    fn a_birthday_moves_age() {
        let p = player();
        let at = next("age >= 26", &p).unwrap();
        assert_eq!(at, birthday(p.birth_date.unwrap(), 26).unwrap());
        assert_eq!(next("age >= 18", &p), None);
        assert_eq!(next(r#"country == "DE""#, &p), None);
    }

    #[test]
    fn the_whole_rule_decides_not_one_test() {
        let p = player();
        // The session test flips on day 14, but the country test keeps the answer false.
        assert_eq!(next(r#"last_session < 14d ago and country == "AT""#, &p), None);
        let text = "last_session < 14d ago or deposits_sum(7d) >= 50 EUR";
        // True now by the deposit; false when it leaves the 7-day window; true again on day 14.
        let first = next(text, &p).unwrap();
        assert_eq!(first, (p.daily[0].day + 7) * DAY_MICROS);
        let second = from_text(text).unwrap().next_change(&p, first, &Rates::new()).unwrap();
        assert_eq!(second, p.lifetime.last_session_at.unwrap() + 14 * DAY_MICROS + 1);
    }

    #[test]
    fn every_instant_found_is_a_real_change_and_none_is_missed() {
        // A brute-force sweep hour by hour over 40 days finds the same first change.
        let p = player();
        let rules = [
            "last_session < 14d ago",
            "days_since_last_deposit > 20d and deposits_count(30d) == 0",
            "age == 25 or sessions(5d) > 0",
            "not (deposits_sum(10d) >= 50 EUR) and registered < 110d ago",
        ];
        for text in rules {
            let rule = from_text(text).unwrap();
            let rates = Rates::new();
            let now_holds = rule.holds(&p, NOW, &rates);
            let swept =
                (1..=40 * 24).map(|h| NOW + h * 3_600_000_000).find(|t| rule.holds(&p, *t, &rates) != now_holds);
            let found = rule.next_change(&p, NOW, &rates);
            match (swept, found) {
                (Some(s), Some(f)) => assert!(f <= s && s - f < 3_600_000_000, "{text}: swept {s}, found {f}"),
                (None, Some(f)) => assert!(f > NOW + 40 * 24 * 3_600_000_000, "{text}: found {f} inside the sweep"),
                (s, f) => assert_eq!(s, f, "{text}"),
            }
        }
    }
}
