//! What a condition can talk about: the player's profile facts and behaviour measures, with
//! their types. The evaluator reads them from [`crate::PlayerFacts`]; the SQL compiler from the
//! `players`, `player_stats` and `player_daily` tables.

use serde::Serialize;

/// The type of a value in a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Type {
    Bool,
    /// A whole number: a count, an age in years.
    Number,
    /// An amount with a currency.
    Money,
    Text,
    /// A moment in time, e.g. `last_session` or `14d ago`.
    Instant,
    /// A number of days, e.g. `days_since_last_session` or `14d`.
    Days,
    /// A set of texts, e.g. `tags`.
    TextSet,
}

impl Type {
    pub fn describe(self) -> &'static str {
        match self {
            Type::Bool => "true/false",
            Type::Number => "a number",
            Type::Money => "money",
            Type::Text => "text",
            Type::Instant => "a date and time",
            Type::Days => "a number of days",
            Type::TextSet => "a set of texts",
        }
    }
}

/// A fact about the player, read as it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Country,
    Language,
    Gender,
    Brand,
    Currency,
    TrafficSource,
    Affiliate,
    Campaign,
    VipTier,
    KycStatus,
    Status,
    Age,
    Registered,
    Tags,
    ConsentEmail,
    ConsentSms,
    ConsentPush,
    ConsentMessenger,
    LastSession,
    LastDeposit,
    FirstDeposit,
    LastActivity,
    HasDeposited,
    DaysSinceLastSession,
    DaysSinceLastDeposit,
    DaysSinceRegistration,
    ChurnRisk,
    ActiveProbability,
    ExpectedDeposits30d,
    ExpectedDeposits90d,
    PredictedValue,
    Segments,
    EventType,
    EventAmount,
    EventMethod,
    EventStake,
    EventWin,
    EventWinMultiple,
    RecentDeposits,
    RecentDepositsSum,
    RecentFailedDeposits,
    RecentStakes,
    RecentTurnover,
    SharedDevice,
    SharedIp,
    SharedInstrument,
    BalanceMismatch,
}

impl Field {
    /// Whether the fact describes the event being judged and the moments before it (`event.*`,
    /// `recent.*`, `shared.*`, `ledger.*`): known only on the anomaly rules' event path, so a
    /// segment, which is also evaluated with no event at all, cannot name it.
    pub fn about_event(self) -> bool {
        matches!(
            self,
            Field::EventType
                | Field::EventAmount
                | Field::EventMethod
                | Field::EventStake
                | Field::EventWin
                | Field::EventWinMultiple
                | Field::RecentDeposits
                | Field::RecentDepositsSum
                | Field::RecentFailedDeposits
                | Field::RecentStakes
                | Field::RecentTurnover
                | Field::SharedDevice
                | Field::SharedIp
                | Field::SharedInstrument
                | Field::BalanceMismatch
        )
    }
}

/// Every field: its name in conditions, its type, and what it means.
pub const FIELDS: &[(Field, &str, Type, &str)] = &[
    (Field::Country, "country", Type::Text, "ISO 3166-1 alpha-2 country, e.g. \"DE\""),
    (Field::Language, "language", Type::Text, "ISO 639-1 language, e.g. \"de\""),
    (Field::Gender, "gender", Type::Text, "male, female, other or undisclosed"),
    (Field::Brand, "brand", Type::Text, "the brand (site) the player belongs to"),
    (Field::Currency, "currency", Type::Text, "the wallet currency, e.g. \"EUR\""),
    (Field::TrafficSource, "traffic_source", Type::Text, "where the player came from"),
    (Field::Affiliate, "affiliate", Type::Text, "the affiliate id"),
    (Field::Campaign, "campaign", Type::Text, "the acquisition campaign"),
    (Field::VipTier, "vip_tier", Type::Text, "the VIP tier; empty outside the programme"),
    (Field::KycStatus, "kyc_status", Type::Text, "none, pending, verified or rejected"),
    (Field::Status, "status", Type::Text, "the account status, e.g. active"),
    (Field::Age, "age", Type::Number, "age in whole years (unknown without a birth date)"),
    (Field::Registered, "registered", Type::Instant, "when the player registered"),
    (Field::Tags, "tags", Type::TextSet, "free-form tags; test with `tags contains \"x\"`"),
    (Field::ConsentEmail, "consent.email", Type::Bool, "agreed to marketing by email"),
    (Field::ConsentSms, "consent.sms", Type::Bool, "agreed to marketing by SMS"),
    (Field::ConsentPush, "consent.push", Type::Bool, "agreed to push notifications"),
    (Field::ConsentMessenger, "consent.messenger", Type::Bool, "agreed to messenger marketing"),
    (Field::LastSession, "last_session", Type::Instant, "the start of the latest session"),
    (Field::LastDeposit, "last_deposit", Type::Instant, "the latest completed deposit"),
    (Field::FirstDeposit, "first_deposit", Type::Instant, "the first completed deposit"),
    (Field::LastActivity, "last_activity", Type::Instant, "the latest session, deposit, withdrawal or round"),
    (Field::HasDeposited, "has_deposited", Type::Bool, "made at least one deposit"),
    (Field::DaysSinceLastSession, "days_since_last_session", Type::Days, "whole days since the latest session"),
    (Field::DaysSinceLastDeposit, "days_since_last_deposit", Type::Days, "whole days since the latest deposit"),
    (Field::DaysSinceRegistration, "days_since_registration", Type::Days, "whole days since registration"),
    (Field::ChurnRisk, "churn_risk", Type::Text, "low, medium or high, from the latest churn model fit"),
    (
        Field::ActiveProbability,
        "active_probability",
        Type::Number,
        "the churn model's chance (0 to 100, in whole percent) that the player is still active",
    ),
    (
        Field::ExpectedDeposits30d,
        "expected_deposits_30d",
        Type::Number,
        "deposits the churn model expects in the next 30 days (a fraction: `expected_deposits_30d >= 1`)",
    ),
    (
        Field::ExpectedDeposits90d,
        "expected_deposits_90d",
        Type::Number,
        "deposits the churn model expects in the next 90 days",
    ),
    (
        Field::PredictedValue,
        "predicted_value",
        Type::Money,
        "the lifetime value the models predict, in the player's currency",
    ),
    (
        Field::Segments,
        "segments",
        Type::TextSet,
        "the segments the player is in; test with `segments contains \"name\"`",
    ),
    (Field::EventType, "event.type", Type::Text, "anomaly rules: the event's type, e.g. \"payment.deposit.completed\""),
    (Field::EventAmount, "event.amount", Type::Money, "anomaly rules: the payment's amount"),
    (Field::EventMethod, "event.method", Type::Text, "anomaly rules: the payment's method, e.g. \"card\""),
    (Field::EventStake, "event.stake", Type::Money, "anomaly rules: the round's stake"),
    (Field::EventWin, "event.win", Type::Money, "anomaly rules: the round's win"),
    (
        Field::EventWinMultiple,
        "event.win_multiple",
        Type::Number,
        "anomaly rules: the round's win as a whole multiple of its stake",
    ),
    (
        Field::RecentDeposits,
        "recent.deposits",
        Type::Number,
        "anomaly rules: deposits completed within the rule's window, up to the event",
    ),
    (
        Field::RecentDepositsSum,
        "recent.deposits_sum",
        Type::Money,
        "anomaly rules: deposits completed within the rule's window, summed",
    ),
    (
        Field::RecentFailedDeposits,
        "recent.failed_deposits",
        Type::Number,
        "anomaly rules: deposits that failed within the rule's window",
    ),
    (Field::RecentStakes, "recent.stakes", Type::Money, "anomaly rules: amounts staked within the rule's window"),
    (
        Field::RecentTurnover,
        "recent.turnover",
        Type::Number,
        "anomaly rules: amounts staked within the rule's window, in whole percent of the deposits within it",
    ),
    (
        Field::SharedDevice,
        "shared.device",
        Type::Number,
        "anomaly rules: other players seen on the event's device (the session's device id)",
    ),
    (Field::SharedIp, "shared.ip", Type::Number, "anomaly rules: other players seen at the event's IP address"),
    (
        Field::SharedInstrument,
        "shared.instrument",
        Type::Number,
        "anomaly rules: other players who paid with the event's payment instrument",
    ),
    (
        Field::BalanceMismatch,
        "ledger.balance_mismatch",
        Type::Money,
        "anomaly rules: how far the player's cached balances are from the sums of their postings",
    ),
];

/// A behaviour measure, over a trailing window of days or the player's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    Sessions,
    ActiveDays,
    DepositsCount,
    DepositsSum,
    WithdrawalsCount,
    WithdrawalsSum,
    Stakes,
    Wins,
    Ggr,
    NetLoss,
    Rounds,
    BonusGranted,
    BonusConverted,
    BonusForfeited,
    CategoriesPlayed,
}

/// Every measure: its name, its type, whether it takes a window, and what it means.
pub const MEASURES: &[(Measure, &str, Type, Windows, &str)] = &[
    (Measure::Sessions, "sessions", Type::Number, Windows::Any, "sessions started"),
    (Measure::ActiveDays, "active_days", Type::Number, Windows::Required, "days with a session or a round"),
    (Measure::DepositsCount, "deposits_count", Type::Number, Windows::Any, "completed deposits"),
    (Measure::DepositsSum, "deposits_sum", Type::Money, Windows::Any, "completed deposits, summed"),
    (Measure::WithdrawalsCount, "withdrawals_count", Type::Number, Windows::Any, "completed withdrawals"),
    (Measure::WithdrawalsSum, "withdrawals_sum", Type::Money, Windows::Any, "completed withdrawals, summed"),
    (Measure::Stakes, "stakes", Type::Money, Windows::Any, "amounts staked"),
    (Measure::Wins, "wins", Type::Money, Windows::Any, "amounts won"),
    (Measure::Ggr, "ggr", Type::Money, Windows::Any, "gross gaming revenue: stakes minus wins"),
    (Measure::NetLoss, "net_loss", Type::Money, Windows::Any, "deposits minus withdrawals"),
    (Measure::Rounds, "rounds", Type::Number, Windows::Any, "game rounds played"),
    (Measure::BonusGranted, "bonus_granted", Type::Money, Windows::Any, "bonus money granted"),
    (Measure::BonusConverted, "bonus_converted", Type::Money, Windows::Any, "bonus money converted to cash"),
    (Measure::BonusForfeited, "bonus_forfeited", Type::Money, Windows::Any, "bonus money forfeited"),
    (
        Measure::CategoriesPlayed,
        "categories_played",
        Type::TextSet,
        Windows::Any,
        "game categories played, e.g. `categories_played(30d) contains \"live\"`",
    ),
];

/// Which windows a measure takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Windows {
    /// A window such as `30d`, or none for the lifetime.
    Any,
    /// Only a window.
    Required,
    /// Only the lifetime (no daily figures are kept).
    Lifetime,
}

/// The longest window: the daily figures reach this far back.
pub const MAX_WINDOW_DAYS: i64 = 730;

pub fn field(name: &str) -> Option<(Field, Type)> {
    FIELDS.iter().find(|(_, n, _, _)| *n == name).map(|(f, _, t, _)| (*f, *t))
}

pub fn field_name(f: Field) -> &'static str {
    FIELDS.iter().find(|(x, ..)| *x == f).map_or("?", |(_, n, _, _)| n)
}

pub fn measure(name: &str) -> Option<(Measure, Type, Windows)> {
    MEASURES.iter().find(|(_, n, ..)| *n == name).map(|(m, _, t, w, _)| (*m, *t, *w))
}

pub fn measure_name(m: Measure) -> &'static str {
    MEASURES.iter().find(|(x, ..)| *x == m).map_or("?", |(_, n, ..)| n)
}

/// The known name closest to `name`, to suggest for a typo.
pub fn closest(name: &str) -> Option<&'static str> {
    FIELDS
        .iter()
        .map(|(_, n, ..)| *n)
        .chain(MEASURES.iter().map(|(_, n, ..)| *n))
        .map(|known| (distance(name, known), known))
        .filter(|(d, known)| *d <= 2.max(known.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, known)| known)
}

/// Levenshtein distance, for suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + usize::from(ca != *cb));
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}
