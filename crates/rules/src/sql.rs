//! Compiling a rule to SQL, for scans over every player (a segment's full evaluation).
//!
//! The condition becomes a boolean expression over `players p LEFT JOIN player_stats s ON
//! s.player_id = p.id`, with windowed measures as sub-queries on `player_daily`, in the portable
//! subset both engines run. Dates and instants are computed here, at `now` (never by the
//! database's clock), and every test is wrapped in `COALESCE(..., FALSE)` so that an unknown
//! value makes it false, as in the evaluator, also under `not`. A money threshold is converted
//! into each currency that has a rate; players of any other currency do not match, as in the
//! evaluator.

use chrono::{DateTime, Months, NaiveDate};
use pitboss_core::money::Currency;

use crate::ast::CmpOp;
use crate::catalog::{Field, Measure};
use crate::check::{Literal, Node, NodeKind, Operand, OperandKind, Rule};
use crate::rates::Rates;

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    Int(i64),
    Text(String),
    Bool(bool),
}

/// A compiled condition: `WHERE {sql}` with `params` bound to `$first..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    pub sql: String,
    pub params: Vec<SqlValue>,
}

/// The FROM clause the compiled condition is written against.
pub const FROM: &str = "players p LEFT JOIN player_stats s ON s.player_id = p.id";

const DAY_MICROS: i64 = 86_400_000_000;

impl Rule {
    /// The condition as SQL over [`FROM`], at `now`, with placeholders numbered from
    /// `first_param` (so it can follow a query's own parameters).
    pub fn to_sql(&self, now: i64, rates: &Rates, first_param: usize) -> Compiled {
        let mut c = Compiler { now, rates, params: Vec::new(), first: first_param };
        let sql = c.node(&self.root);
        Compiled { sql, params: c.params }
    }
}

struct Compiler<'a> {
    now: i64,
    rates: &'a Rates,
    params: Vec<SqlValue>,
    first: usize,
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        same => same,
    }
}

fn sql_op(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Ne => "<>",
        CmpOp::Eq => "=",
        other => other.as_str(),
    }
}

fn definite(expr: String) -> String {
    format!("COALESCE(({expr}), FALSE)")
}

impl Compiler<'_> {
    fn bind(&mut self, v: SqlValue) -> String {
        self.params.push(v);
        format!("${}", self.first + self.params.len() - 1)
    }

    fn node(&mut self, node: &Node) -> String {
        match &node.kind {
            NodeKind::All(parts) => {
                let parts: Vec<String> = parts.iter().map(|p| self.node(p)).collect();
                format!("({})", parts.join(" AND "))
            }
            NodeKind::Any(parts) => {
                let parts: Vec<String> = parts.iter().map(|p| self.node(p)).collect();
                format!("({})", parts.join(" OR "))
            }
            NodeKind::Not(inner) => format!("(NOT {})", self.node(inner)),
            NodeKind::Compare { left, op, right } => self.compare(left, *op, right),
            NodeKind::In { left, values, negated } if left.kind == OperandKind::Field(Field::Age) => {
                let each: Vec<String> = values
                    .iter()
                    .filter_map(|v| match v {
                        Literal::Number(n) => Some(self.age(CmpOp::Eq, *n)),
                        _ => None,
                    })
                    .collect();
                let any = format!("({})", each.join(" OR "));
                if *negated { format!("(p.birth_date IS NOT NULL AND NOT {any})") } else { any }
            }
            NodeKind::In { left, values, negated } => {
                let column = self.value(left);
                let list: Vec<String> = values.iter().map(|v| self.literal(v)).collect();
                let not = if *negated { "NOT " } else { "" };
                definite(format!("{column} {not}IN ({})", list.join(", ")))
            }
            NodeKind::Contains { set, value } => {
                let v = self.bind(SqlValue::Text(value.clone()));
                match set.kind {
                    OperandKind::Measure(Measure::CategoriesPlayed, window) => {
                        let within = match window {
                            Some(days) => {
                                let (from, to) = self.window_instants(days);
                                format!(" AND c.last_played >= {from} AND c.last_played < {to}")
                            }
                            None => String::new(),
                        };
                        format!(
                            "EXISTS (SELECT 1 FROM player_categories c WHERE c.player_id = p.id AND c.category = {v}{within})"
                        )
                    }
                    OperandKind::Field(Field::Segments) => format!(
                        "EXISTS (SELECT 1 FROM segment_members m JOIN segments g ON g.id = m.segment_id \
                         WHERE m.player_id = p.id AND g.name = {v})"
                    ),
                    _ => format!("EXISTS (SELECT 1 FROM player_tags t WHERE t.player_id = p.id AND t.tag = {v})"),
                }
            }
            NodeKind::Is(operand) => {
                let v = self.value(operand);
                definite(format!("{v} = TRUE"))
            }
        }
    }

    fn compare(&mut self, left: &Operand, op: CmpOp, right: &Operand) -> String {
        // The fact on the left, the fixed value on the right.
        let (fact, op, other) = match (&left.kind, &right.kind) {
            (OperandKind::Literal(_) | OperandKind::Ago(_), _) => (right, flip(op), left),
            _ => (left, op, right),
        };
        match (&fact.kind, &other.kind) {
            (OperandKind::Field(Field::Age), OperandKind::Literal(Literal::Number(n))) => self.age(op, *n),
            (OperandKind::Field(f), OperandKind::Literal(Literal::Days(k))) if since_column(*f).is_some() => {
                self.days_since(*f, op, *k)
            }
            (_, OperandKind::Literal(Literal::Money(amount, currency))) => self.money(fact, op, *amount, *currency),
            _ => {
                let (l, r) = (self.value(fact), self.value(other));
                definite(format!("{l} {} {r}", sql_op(op)))
            }
        }
    }

    /// `age OP n` as a comparison of the birth date (ISO text) with dates computed here.
    fn age(&mut self, op: CmpOp, n: i64) -> String {
        let today = DateTime::from_timestamp_micros(self.now).map(|t| t.date_naive()).unwrap_or_default();
        // born on or before `born_by(k)` ⇔ at least k years old today.
        let born_by = |k: i64| -> String {
            let date = u32::try_from(k.clamp(0, 1000) * 12)
                .ok()
                // Month arithmetic clamps 29 February to the 28th in other years, which is when
                // the evaluator's birthday comparison says such a person has their birthday.
                .and_then(|m| today.checked_sub_months(Months::new(m)))
                .unwrap_or(NaiveDate::MIN);
            date.format("%Y-%m-%d").to_string()
        };
        let at_least = |c: &mut Compiler, k: i64| {
            let d = c.bind(SqlValue::Text(born_by(k)));
            definite(format!("p.birth_date <= {d}"))
        };
        let younger_than = |c: &mut Compiler, k: i64| {
            let d = c.bind(SqlValue::Text(born_by(k)));
            definite(format!("p.birth_date > {d}"))
        };
        match op {
            CmpOp::Ge => at_least(self, n),
            CmpOp::Gt => at_least(self, n + 1),
            CmpOp::Lt => younger_than(self, n),
            CmpOp::Le => younger_than(self, n + 1),
            CmpOp::Eq => format!("({} AND {})", at_least(self, n), younger_than(self, n + 1)),
            CmpOp::Ne => format!("({} OR {})", younger_than(self, n), at_least(self, n + 1)),
        }
    }

    /// `days_since_x OP k` as a comparison of the instant with instants computed here:
    /// whole days since t ≥ k ⇔ t ≤ now − k days.
    fn days_since(&mut self, f: Field, op: CmpOp, k: i64) -> String {
        let column = since_column(f).unwrap_or("NULL");
        let by = |c: &mut Compiler, k: i64, cmp: &str| {
            let t = c.bind(SqlValue::Int(c.now.saturating_sub(k.saturating_mul(DAY_MICROS))));
            definite(format!("{column} {cmp} {t}"))
        };
        match op {
            CmpOp::Ge => by(self, k, "<="),
            CmpOp::Gt => by(self, k + 1, "<="),
            CmpOp::Lt => by(self, k, ">"),
            CmpOp::Le => by(self, k + 1, ">"),
            CmpOp::Eq => format!("({} AND {})", by(self, k, "<="), by(self, k + 1, ">")),
            CmpOp::Ne => format!("({} OR {})", by(self, k, ">"), by(self, k + 1, "<=")),
        }
    }

    /// A money fact against a fixed amount, converted into each currency with a rate.
    fn money(&mut self, fact: &Operand, op: CmpOp, amount: i64, currency: Currency) -> String {
        let value = self.value(fact);
        let mut currencies = self.rates.currencies();
        if !currencies.contains(&currency) {
            currencies.push(currency);
        }
        let mut arms = Vec::new();
        for c in currencies {
            if let Some(threshold) = self.rates.convert(amount, currency, c) {
                let code = self.bind(SqlValue::Text(c.as_str().to_string()));
                let t = self.bind(SqlValue::Int(threshold));
                arms.push(format!("WHEN {code} THEN {t}"));
            }
        }
        // The fact once, against the threshold in the player's currency: a currency without a
        // rate leaves the threshold NULL, and so the test false. (One arm per currency, each
        // with its own copy of a windowed sub-query, made PostgreSQL's plans large and slow.)
        definite(format!("{value} {} (CASE p.currency {} ELSE NULL END)", sql_op(op), arms.join(" ")))
    }

    fn literal(&mut self, lit: &Literal) -> String {
        match lit {
            Literal::Bool(b) => self.bind(SqlValue::Bool(*b)),
            Literal::Number(n) | Literal::Money(n, _) | Literal::Days(n) => self.bind(SqlValue::Int(*n)),
            Literal::Text(t) => self.bind(SqlValue::Text(t.clone())),
        }
    }

    fn value(&mut self, operand: &Operand) -> String {
        match &operand.kind {
            OperandKind::Literal(lit) => self.literal(lit),
            OperandKind::Ago(days) => self.bind(SqlValue::Int(self.now - days * DAY_MICROS)),
            OperandKind::Field(f) => self.field(*f),
            OperandKind::Measure(m, window) => self.measure(*m, *window),
        }
    }

    fn field(&mut self, f: Field) -> String {
        let column = match f {
            Field::Country => "p.country",
            Field::Language => "p.language",
            Field::Gender => "p.gender",
            Field::Brand => "p.brand",
            Field::Currency => "p.currency",
            Field::TrafficSource => "p.traffic_source",
            Field::Affiliate => "p.affiliate_id",
            Field::Campaign => "p.campaign",
            Field::VipTier => "p.vip_tier",
            Field::KycStatus => "p.kyc_status",
            Field::Status => "p.status",
            Field::Registered => "p.registered_at",
            Field::ConsentEmail => "p.consent_email",
            Field::ConsentSms => "p.consent_sms",
            Field::ConsentPush => "p.consent_push",
            Field::ConsentMessenger => "p.consent_messenger",
            Field::LastSession => "s.last_session_at",
            Field::LastDeposit => "s.last_deposit_at",
            Field::FirstDeposit => "s.first_deposit_at",
            Field::LastActivity => "s.last_activity_at",
            Field::HasDeposited => "(COALESCE(s.deposit_count, 0) > 0)",
            // Compared with a number of days, these take the index-friendly path above; against
            // another fact they are computed (whole days, rounding down).
            Field::DaysSinceLastSession | Field::DaysSinceLastDeposit | Field::DaysSinceRegistration => {
                let column = since_column(f).unwrap_or("NULL");
                let now = self.bind(SqlValue::Int(self.now));
                return format!("(({now} - {column}) / {DAY_MICROS})");
            }
            // The checker lets `age` meet only fixed numbers, which take the path above.
            Field::Age => "NULL",
            // Sets are only tested with `contains`.
            Field::Tags | Field::Segments => "NULL",
            Field::ChurnRisk => "(SELECT pp.churn_risk FROM player_predictions pp WHERE pp.player_id = p.id)",
            Field::ActiveProbability => {
                "(SELECT pp.active_percent FROM player_predictions pp WHERE pp.player_id = p.id)"
            }
            Field::ExpectedDeposits30d => {
                "(SELECT pp.expected_30d FROM player_predictions pp WHERE pp.player_id = p.id)"
            }
            Field::ExpectedDeposits90d => {
                "(SELECT pp.expected_90d FROM player_predictions pp WHERE pp.player_id = p.id)"
            }
            Field::PredictedValue => "(SELECT pp.predicted_value FROM player_predictions pp WHERE pp.player_id = p.id)",
            // Facts about an event (`Field::about_event`), which segments refuse: a scan has none.
            _ => "NULL",
        };
        column.to_string()
    }

    fn measure(&mut self, m: Measure, window: Option<i64>) -> String {
        let Some(days) = window else {
            let lifetime = |col: &str| format!("COALESCE(s.{col}, 0)");
            return match m {
                Measure::Sessions => lifetime("sessions_count"),
                Measure::ActiveDays => {
                    "(SELECT COUNT(*) FROM player_daily d WHERE d.player_id = p.id AND (d.sessions_count > 0 OR d.rounds_count > 0))"
                        .to_string()
                }
                Measure::DepositsCount => lifetime("deposit_count"),
                Measure::DepositsSum => lifetime("deposit_sum"),
                Measure::WithdrawalsCount => lifetime("withdrawal_count"),
                Measure::WithdrawalsSum => lifetime("withdrawal_sum"),
                Measure::Stakes => lifetime("stake_sum"),
                Measure::Wins => lifetime("win_sum"),
                Measure::Ggr => format!("({} - {})", lifetime("stake_sum"), lifetime("win_sum")),
                Measure::NetLoss => format!("({} - {})", lifetime("deposit_sum"), lifetime("withdrawal_sum")),
                Measure::Rounds => lifetime("rounds_count"),
                Measure::BonusGranted => lifetime("bonus_granted_sum"),
                Measure::BonusConverted => lifetime("bonus_converted_sum"),
                Measure::BonusForfeited => lifetime("bonus_forfeited_sum"),
                // Only tested with `contains`.
                Measure::CategoriesPlayed => "NULL".to_string(),
            };
        };
        let today = self.now.div_euclid(DAY_MICROS);
        let from = self.bind(SqlValue::Int(today - days));
        let to = self.bind(SqlValue::Int(today));
        let window = format!("FROM player_daily d WHERE d.player_id = p.id AND d.day > {from} AND d.day <= {to}");
        let sum = |expr: &str| format!("(SELECT COALESCE(SUM({expr}), 0) {window})");
        match m {
            Measure::Sessions => sum("d.sessions_count"),
            Measure::ActiveDays => {
                format!("(SELECT COUNT(*) {window} AND (d.sessions_count > 0 OR d.rounds_count > 0))")
            }
            Measure::DepositsCount => sum("d.deposit_count"),
            Measure::DepositsSum => sum("d.deposit_sum"),
            Measure::WithdrawalsCount => sum("d.withdrawal_count"),
            Measure::WithdrawalsSum => sum("d.withdrawal_sum"),
            Measure::Stakes => sum("d.stake_sum"),
            Measure::Wins => sum("d.win_sum"),
            Measure::Ggr => sum("d.stake_sum - d.win_sum"),
            Measure::NetLoss => sum("d.deposit_sum - d.withdrawal_sum"),
            Measure::Rounds => sum("d.rounds_count"),
            Measure::BonusGranted => sum("d.bonus_granted_sum"),
            Measure::BonusConverted => sum("d.bonus_converted_sum"),
            Measure::BonusForfeited => sum("d.bonus_forfeited_sum"),
            Measure::CategoriesPlayed => "NULL".to_string(),
        }
    }

    /// The instants a window of `days` days up to and including today spans: [from, to).
    fn window_instants(&mut self, days: i64) -> (String, String) {
        let today = self.now.div_euclid(DAY_MICROS);
        let from = self.bind(SqlValue::Int((today - days + 1) * DAY_MICROS));
        let to = self.bind(SqlValue::Int((today + 1) * DAY_MICROS));
        (from, to)
    }
}

fn since_column(f: Field) -> Option<&'static str> {
    match f {
        Field::DaysSinceLastSession => Some("s.last_session_at"),
        Field::DaysSinceLastDeposit => Some("s.last_deposit_at"),
        Field::DaysSinceRegistration => Some("p.registered_at"),
        _ => None,
    }
}
