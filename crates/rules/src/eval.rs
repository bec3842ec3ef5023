//! Evaluating a rule for one player in memory, with a trace of every node: the answer, and why.

use std::cmp::Ordering;

use chrono::{Datelike, NaiveDate};
use pitboss_core::event::Consents;
use pitboss_core::money::{Currency, Money};
use serde::Serialize;

use crate::ast::CmpOp;
use crate::catalog::{Field, Measure};
use crate::check::{Literal, Node, NodeKind, Operand, OperandKind, Rule};
use crate::rates::Rates;

/// What the rule engine knows about a player: the profile, lifetime figures and daily figures.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlayerFacts {
    pub country: String,
    pub language: Option<String>,
    pub gender: Option<String>,
    pub brand: String,
    pub currency: Option<Currency>,
    pub traffic_source: Option<String>,
    pub affiliate: Option<String>,
    pub campaign: Option<String>,
    pub vip_tier: String,
    pub kyc_status: String,
    pub status: String,
    pub birth_date: Option<NaiveDate>,
    /// Microseconds since the Unix epoch, as every instant here.
    pub registered_at: i64,
    pub tags: Vec<String>,
    pub consents: Consents,
    pub lifetime: Lifetime,
    /// One entry per day with activity (day = days since the epoch, UTC), any order.
    pub daily: Vec<Day>,
    /// The game categories played, with when each was last played.
    pub categories: Vec<CategoryPlayed>,
    /// The names of the segments the player is in.
    pub segments: Vec<String>,
    /// The churn and lifetime-value models' figures, once a fit has scored the player.
    pub prediction: Option<Prediction>,
    /// The event an anomaly rule judges, and what led up to it; `None` for segments.
    pub event: Option<EventFacts>,
}

/// What anomaly rules see of the event they judge (amounts in the player's currency, minor
/// units) and of the moments before it, within the rule's own window; the loader fills only
/// what the rules it runs read (see [`crate::Rule::fields`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventFacts {
    /// e.g. `payment.deposit.completed`.
    pub event_type: String,
    /// A payment's amount.
    pub amount: Option<i64>,
    pub method: Option<String>,
    /// A round's stake and win.
    pub stake: Option<i64>,
    pub win: Option<i64>,
    /// Completed deposits within the window, how many and their sum.
    pub recent_deposits: i64,
    pub recent_deposits_sum: i64,
    pub recent_failed_deposits: i64,
    pub recent_stakes: i64,
    /// Other players seen with the same device, IP address or payment instrument; `None` when
    /// the event carries none.
    pub shared_device: Option<i64>,
    pub shared_ip: Option<i64>,
    pub shared_instrument: Option<i64>,
    /// The sum, over the player's accounts, of how far each cached balance is from its postings.
    pub balance_mismatch: Option<i64>,
}

/// A game category the player has played.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CategoryPlayed {
    /// Trimmed, in lower case.
    pub category: String,
    /// Microseconds since the Unix epoch.
    pub last_played: i64,
}

/// The models' figures for a player.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Prediction {
    /// low, medium or high.
    pub churn_risk: String,
    /// The chance the player is still active, in whole percent.
    pub active_percent: i64,
    /// Deposits expected in the next 30 and 90 days (estimates, fractional).
    pub expected_30d: f64,
    pub expected_90d: f64,
    /// Predicted lifetime value, minor units of the player's currency.
    pub predicted_value: i64,
}

/// Lifetime figures, in the player's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lifetime {
    pub sessions: i64,
    pub deposit_count: i64,
    pub deposit_sum: i64,
    pub withdrawal_count: i64,
    pub withdrawal_sum: i64,
    pub rounds: i64,
    pub stake_sum: i64,
    pub win_sum: i64,
    pub bonus_granted: i64,
    pub bonus_converted: i64,
    pub bonus_forfeited: i64,
    pub last_session_at: Option<i64>,
    pub first_deposit_at: Option<i64>,
    pub last_deposit_at: Option<i64>,
    pub last_activity_at: Option<i64>,
}

/// One day's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Day {
    pub day: i64,
    pub sessions: i64,
    pub deposit_count: i64,
    pub deposit_sum: i64,
    pub withdrawal_count: i64,
    pub withdrawal_sum: i64,
    pub rounds: i64,
    pub stake_sum: i64,
    pub win_sum: i64,
    pub bonus_granted: i64,
    pub bonus_converted: i64,
    pub bonus_forfeited: i64,
}

/// Why a node came out as it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trace {
    /// The node as written.
    pub text: String,
    pub result: bool,
    /// The values it compared, e.g. `deposits_sum(30d) = 120.00 EUR`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Trace>,
}

/// A value during evaluation; `Unknown` (no birth date, never deposited, no exchange rate)
/// makes any comparison false.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Unknown(String),
    Bool(bool),
    Number(i64),
    /// A model's estimate, compared with whole numbers as they are (not rounded).
    Estimate(f64),
    Money(i64, Currency),
    Text(String),
    Instant(i64),
    Days(i64),
    Set(Vec<String>),
}

const DAY_MICROS: i64 = 86_400_000_000;

impl Rule {
    /// Whether the rule holds for `facts` at `now`, with the trace.
    pub fn evaluate(&self, facts: &PlayerFacts, now: i64, rates: &Rates) -> Trace {
        Eval { facts, now, rates, text: &self.text }.node(&self.root)
    }

    /// Whether the rule holds, without building a trace (the event path's question).
    pub fn holds(&self, facts: &PlayerFacts, now: i64, rates: &Rates) -> bool {
        Eval { facts, now, rates, text: &self.text }.holds(&self.root)
    }
}

/// What a test read, for its line in the trace.
enum Read<'n> {
    Compared(&'n Operand, Val, CmpOp, &'n Operand, Val),
    One(&'n Operand, Val),
    None,
}

struct Eval<'a> {
    facts: &'a PlayerFacts,
    now: i64,
    rates: &'a Rates,
    text: &'a str,
}

impl Eval<'_> {
    fn snippet(&self, span: crate::ast::Span) -> String {
        self.text.get(span.start..span.end).unwrap_or_default().to_string()
    }

    fn node(&self, node: &Node) -> Trace {
        let text = self.snippet(node.span);
        match &node.kind {
            NodeKind::All(parts) => {
                let children: Vec<Trace> = parts.iter().map(|p| self.node(p)).collect();
                Trace { result: children.iter().all(|c| c.result), text, detail: None, children }
            }
            NodeKind::Any(parts) => {
                let children: Vec<Trace> = parts.iter().map(|p| self.node(p)).collect();
                Trace { result: children.iter().any(|c| c.result), text, detail: None, children }
            }
            NodeKind::Not(inner) => {
                let child = self.node(inner);
                Trace { result: !child.result, text, detail: None, children: vec![child] }
            }
            leaf => {
                let (result, read) = self.leaf(leaf);
                let detail = match read {
                    Read::Compared(left, l, op, right, r) => {
                        format!("{} {} {}", self.show(left, &l), op.as_str(), self.show(right, &r))
                    }
                    Read::One(operand, v) => self.show(operand, &v),
                    Read::None => String::new(),
                };
                Trace { text, result, detail: Some(detail), children: vec![] }
            }
        }
    }

    /// The answer alone: no trace, and `all`/`any` stop at the first part that decides.
    fn holds(&self, node: &Node) -> bool {
        match &node.kind {
            NodeKind::All(parts) => parts.iter().all(|p| self.holds(p)),
            NodeKind::Any(parts) => parts.iter().any(|p| self.holds(p)),
            NodeKind::Not(inner) => !self.holds(inner),
            leaf => self.leaf(leaf).0,
        }
    }

    /// A test's answer, and the values it read (for the trace).
    fn leaf<'n>(&self, kind: &'n NodeKind) -> (bool, Read<'n>) {
        match kind {
            NodeKind::Compare { left, op, right } => {
                let (mut l, mut r) = (self.value(left), self.value(right));
                // Money in two currencies: the fixed amount is converted into the player's
                // currency (as the SQL compiler does), never the other way round.
                if let (Val::Money(_, cl), Val::Money(_, cr)) = (&l, &r)
                    && cl != cr
                {
                    let (cl, cr) = (*cl, *cr);
                    if matches!(right.kind, OperandKind::Literal(_)) {
                        r = self.convert(r, cl);
                    } else {
                        l = self.convert(l, cr);
                    }
                }
                let result = compare(&l, &r).is_some_and(|o| op.holds(o));
                (result, Read::Compared(left, l, *op, right, r))
            }
            NodeKind::In { left, values, negated } => {
                let v = self.value(left);
                let found = values.iter().any(|lit| compare(&v, &literal(lit)) == Some(Ordering::Equal));
                let result = !matches!(v, Val::Unknown(_)) && found != *negated;
                (result, Read::One(left, v))
            }
            NodeKind::Contains { set, value } => {
                let v = self.value(set);
                let result = matches!(&v, Val::Set(items) if items.iter().any(|i| i == value));
                (result, Read::One(set, v))
            }
            NodeKind::Is(operand) => {
                let v = self.value(operand);
                (v == Val::Bool(true), Read::One(operand, v))
            }
            // Not leaves; `node` and `holds` answer them before asking here.
            NodeKind::All(_) | NodeKind::Any(_) | NodeKind::Not(_) => (false, Read::None),
        }
    }

    fn convert(&self, v: Val, to: Currency) -> Val {
        match v {
            Val::Money(amount, from) => match self.rates.convert(amount, from, to) {
                Some(converted) => Val::Money(converted, to),
                None => Val::Unknown(format!("no exchange rate from {from} to {to}")),
            },
            other => other,
        }
    }

    fn show(&self, operand: &Operand, v: &Val) -> String {
        let value = match v {
            Val::Unknown(why) => format!("unknown ({why})"),
            Val::Bool(b) => b.to_string(),
            Val::Number(n) => n.to_string(),
            Val::Estimate(x) => format!("{x:.2}"),
            Val::Money(m, c) => Money::new(*m, *c).to_string(),
            Val::Text(t) => format!("\"{t}\""),
            Val::Instant(t) => chrono::DateTime::from_timestamp_micros(*t)
                .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default(),
            Val::Days(d) => format!("{d}d"),
            Val::Set(items) => format!("{items:?}"),
        };
        match operand.kind {
            OperandKind::Literal(_) => value,
            _ => format!("{} = {value}", self.snippet(operand.span)),
        }
    }

    fn value(&self, operand: &Operand) -> Val {
        match &operand.kind {
            OperandKind::Literal(lit) => literal(lit),
            OperandKind::Ago(days) => Val::Instant(self.now - days * DAY_MICROS),
            OperandKind::Field(f) => self.field(*f),
            OperandKind::Measure(m, window) => self.measure(*m, *window),
        }
    }

    fn field(&self, f: Field) -> Val {
        let p = self.facts;
        let text = |v: &str| Val::Text(v.to_string());
        let opt = |v: &Option<String>, what: &str| match v {
            Some(v) => Val::Text(v.clone()),
            None => Val::Unknown(format!("no {what}")),
        };
        let instant = |v: Option<i64>, what: &str| v.map_or(Val::Unknown(format!("never {what}")), Val::Instant);
        let since = |v: Option<i64>, what: &str| {
            v.map_or(Val::Unknown(format!("never {what}")), |t| Val::Days((self.now - t).div_euclid(DAY_MICROS)))
        };
        match f {
            Field::Country => text(&p.country),
            Field::Language => opt(&p.language, "language"),
            Field::Gender => opt(&p.gender, "gender given"),
            Field::Brand => text(&p.brand),
            Field::Currency => p.currency.map_or(Val::Unknown("no currency".into()), |c| text(c.as_str())),
            Field::TrafficSource => opt(&p.traffic_source, "traffic source"),
            Field::Affiliate => opt(&p.affiliate, "affiliate"),
            Field::Campaign => opt(&p.campaign, "campaign"),
            Field::VipTier => text(&p.vip_tier),
            Field::KycStatus => text(&p.kyc_status),
            Field::Status => text(&p.status),
            Field::Age => match p.birth_date {
                Some(born) => Val::Number(age(born, self.now)),
                None => Val::Unknown("no birth date".into()),
            },
            Field::Registered => Val::Instant(p.registered_at),
            Field::Tags => Val::Set(p.tags.clone()),
            Field::ConsentEmail => Val::Bool(p.consents.email),
            Field::ConsentSms => Val::Bool(p.consents.sms),
            Field::ConsentPush => Val::Bool(p.consents.push),
            Field::ConsentMessenger => Val::Bool(p.consents.messenger),
            Field::LastSession => instant(p.lifetime.last_session_at, "played"),
            Field::LastDeposit => instant(p.lifetime.last_deposit_at, "deposited"),
            Field::FirstDeposit => instant(p.lifetime.first_deposit_at, "deposited"),
            Field::LastActivity => instant(p.lifetime.last_activity_at, "active"),
            Field::HasDeposited => Val::Bool(p.lifetime.deposit_count > 0),
            Field::DaysSinceLastSession => since(p.lifetime.last_session_at, "played"),
            Field::DaysSinceLastDeposit => since(p.lifetime.last_deposit_at, "deposited"),
            Field::DaysSinceRegistration => Val::Days((self.now - p.registered_at).div_euclid(DAY_MICROS)),
            Field::ChurnRisk => p.prediction.as_ref().map_or(not_scored(), |x| text(&x.churn_risk)),
            Field::ActiveProbability => p.prediction.as_ref().map_or(not_scored(), |x| Val::Number(x.active_percent)),
            Field::ExpectedDeposits30d => p.prediction.as_ref().map_or(not_scored(), |x| Val::Estimate(x.expected_30d)),
            Field::ExpectedDeposits90d => p.prediction.as_ref().map_or(not_scored(), |x| Val::Estimate(x.expected_90d)),
            Field::PredictedValue => match (&p.prediction, p.currency) {
                (Some(x), Some(c)) => Val::Money(x.predicted_value, c),
                (None, _) => not_scored(),
                (_, None) => Val::Unknown("no currency".into()),
            },
            Field::Segments => Val::Set(p.segments.clone()),
            event => self.event_field(event),
        }
    }

    /// An `event.*`, `recent.*`, `shared.*` or `ledger.*` fact.
    fn event_field(&self, f: Field) -> Val {
        let Some(e) = &self.facts.event else {
            return Val::Unknown("no event: only anomaly rules judge one".into());
        };
        let money = |v: Option<i64>, what: &str| match (v, self.facts.currency) {
            (Some(v), Some(c)) => Val::Money(v, c),
            (None, _) => Val::Unknown(format!("the event has no {what}")),
            (_, None) => Val::Unknown("no currency".into()),
        };
        let count =
            |v: Option<i64>, what: &str| v.map_or(Val::Unknown(format!("the event names no {what}")), Val::Number);
        match f {
            Field::EventType => Val::Text(e.event_type.clone()),
            Field::EventAmount => money(e.amount, "amount"),
            Field::EventMethod => e.method.clone().map_or(Val::Unknown("no payment method".into()), Val::Text),
            Field::EventStake => money(e.stake, "stake"),
            Field::EventWin => money(e.win, "win"),
            Field::EventWinMultiple => match (e.stake, e.win) {
                (Some(stake), Some(win)) if stake > 0 => Val::Number(win / stake),
                (Some(_), Some(_)) => Val::Unknown("a round without a stake".into()),
                _ => Val::Unknown("the event is not a round".into()),
            },
            Field::RecentDeposits => Val::Number(e.recent_deposits),
            Field::RecentDepositsSum => money(Some(e.recent_deposits_sum), "deposits"),
            Field::RecentFailedDeposits => Val::Number(e.recent_failed_deposits),
            Field::RecentStakes => money(Some(e.recent_stakes), "stakes"),
            Field::RecentTurnover if e.recent_deposits_sum > 0 => {
                Val::Number(e.recent_stakes.saturating_mul(100) / e.recent_deposits_sum)
            }
            Field::RecentTurnover => Val::Unknown("no deposits within the window".into()),
            Field::SharedDevice => count(e.shared_device, "device"),
            Field::SharedIp => count(e.shared_ip, "IP address"),
            Field::SharedInstrument => count(e.shared_instrument, "payment instrument"),
            Field::BalanceMismatch => money(e.balance_mismatch, "balance check"),
            _ => Val::Unknown("not an event fact".into()),
        }
    }

    /// The categories played within the window (the same days as the other measures), or ever.
    fn categories(&self, window: Option<i64>) -> Val {
        let today = self.now.div_euclid(DAY_MICROS);
        let played = |c: &&CategoryPlayed| {
            let day = c.last_played.div_euclid(DAY_MICROS);
            window.is_none_or(|days| day > today - days && day <= today)
        };
        Val::Set(self.facts.categories.iter().filter(played).map(|c| c.category.clone()).collect())
    }

    fn measure(&self, m: Measure, window: Option<i64>) -> Val {
        let p = self.facts;
        // Not money: known whatever the currency.
        if m == Measure::CategoriesPlayed {
            return self.categories(window);
        }
        let Some(currency) = p.currency else { return Val::Unknown("no currency".into()) };
        let money = |v: i64| Val::Money(v, currency);
        let Some(days) = window else {
            let l = &p.lifetime;
            return match m {
                Measure::Sessions => Val::Number(l.sessions),
                Measure::ActiveDays => {
                    Val::Number(p.daily.iter().filter(|d| d.sessions > 0 || d.rounds > 0).count() as i64)
                }
                Measure::DepositsCount => Val::Number(l.deposit_count),
                Measure::DepositsSum => money(l.deposit_sum),
                Measure::WithdrawalsCount => Val::Number(l.withdrawal_count),
                Measure::WithdrawalsSum => money(l.withdrawal_sum),
                Measure::Stakes => money(l.stake_sum),
                Measure::Wins => money(l.win_sum),
                Measure::Ggr => money(l.stake_sum - l.win_sum),
                Measure::NetLoss => money(l.deposit_sum - l.withdrawal_sum),
                Measure::Rounds => Val::Number(l.rounds),
                Measure::BonusGranted => money(l.bonus_granted),
                Measure::BonusConverted => money(l.bonus_converted),
                Measure::BonusForfeited => money(l.bonus_forfeited),
                Measure::CategoriesPlayed => self.categories(None),
            };
        };
        // The same window as the player statistics: the `days` days up to and including today.
        let today = self.now.div_euclid(DAY_MICROS);
        let in_window = p.daily.iter().filter(|d| d.day > today - days && d.day <= today);
        let sum = |f: fn(&Day) -> i64| in_window.clone().map(f).sum::<i64>();
        match m {
            Measure::Sessions => Val::Number(sum(|d| d.sessions)),
            Measure::ActiveDays => {
                Val::Number(in_window.clone().filter(|d| d.sessions > 0 || d.rounds > 0).count() as i64)
            }
            Measure::DepositsCount => Val::Number(sum(|d| d.deposit_count)),
            Measure::DepositsSum => money(sum(|d| d.deposit_sum)),
            Measure::WithdrawalsCount => Val::Number(sum(|d| d.withdrawal_count)),
            Measure::WithdrawalsSum => money(sum(|d| d.withdrawal_sum)),
            Measure::Stakes => money(sum(|d| d.stake_sum)),
            Measure::Wins => money(sum(|d| d.win_sum)),
            Measure::Ggr => money(sum(|d| d.stake_sum - d.win_sum)),
            Measure::NetLoss => money(sum(|d| d.deposit_sum - d.withdrawal_sum)),
            Measure::Rounds => Val::Number(sum(|d| d.rounds)),
            Measure::BonusGranted => money(sum(|d| d.bonus_granted)),
            Measure::BonusConverted => money(sum(|d| d.bonus_converted)),
            Measure::BonusForfeited => money(sum(|d| d.bonus_forfeited)),
            Measure::CategoriesPlayed => self.categories(Some(days)),
        }
    }
}

fn not_scored() -> Val {
    Val::Unknown("not scored by the churn model yet".into())
}

fn literal(lit: &Literal) -> Val {
    match lit {
        Literal::Bool(b) => Val::Bool(*b),
        Literal::Number(n) => Val::Number(*n),
        Literal::Money(m, c) => Val::Money(*m, *c),
        Literal::Text(t) => Val::Text(t.clone()),
        Literal::Days(d) => Val::Days(*d),
    }
}

fn compare(a: &Val, b: &Val) -> Option<Ordering> {
    match (a, b) {
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        (Val::Number(x), Val::Number(y)) | (Val::Instant(x), Val::Instant(y)) | (Val::Days(x), Val::Days(y)) => {
            Some(x.cmp(y))
        }
        // As the databases compare a double with an integer: the integer as a double.
        (Val::Estimate(x), Val::Number(y)) => x.partial_cmp(&(*y as f64)),
        (Val::Number(x), Val::Estimate(y)) => (*x as f64).partial_cmp(y),
        (Val::Estimate(x), Val::Estimate(y)) => x.partial_cmp(y),
        (Val::Money(x, cx), Val::Money(y, cy)) if cx == cy => Some(x.cmp(y)),
        (Val::Text(x), Val::Text(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Whole years between a birth date and `now`.
pub fn age(born: NaiveDate, now: i64) -> i64 {
    let today = chrono::DateTime::from_timestamp_micros(now).map(|t| t.date_naive()).unwrap_or(born);
    let mut years = i64::from(today.year() - born.year());
    if (today.month(), today.day()) < (born.month(), born.day()) {
        years -= 1;
    }
    years
}
