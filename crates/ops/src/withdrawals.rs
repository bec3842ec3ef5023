//! The withdrawal approval queue. When the platform asks for a withdrawal (its money is then
//! held in the ledger), the review policy decides whether it waits for an officer: from an
//! amount (in euros, every currency through the reference rates), or when a rule about the
//! player holds (written in the segments' rule language: KYC not verified, a risk tag...).
//! Others are approved at once by the rules. From a higher amount a second officer, not the
//! first, must approve too (maker-checker). The queue shows VIP players' payouts first, then the
//! longest waiting.
//!
//! Every decision is a conditional update of the review's state, so that of two officers
//! acting at once on the same withdrawal only one succeeds; a rejection fails the withdrawal in
//! the ledger (its hold is released) in the same transaction. Approvals and rejections go to
//! the outbox (`payment.withdrawal.approved`, `payment.withdrawal.rejected`) for the platform
//! to pay out or tell the player.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use pitboss_core::Currency;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_payments::{LedgerTransaction, TxKind, TxStatus, ledger};
use pitboss_rules::{PlayerFacts, Rates, Rule};
use pitboss_store::{Db, Tx, db, exec, sqlx, tx};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::OpsError;

/// Who approves what the rules let through.
pub const RULES_ACTOR: &str = "system:withdrawal-rules";

pitboss_core::string_enum!(
    /// Where a withdrawal's review is: `waiting` for an officer, or after one officer's
    /// approval waiting for a second, different one (`second_approval`), or decided; `closed`
    /// when the platform settled or cancelled the withdrawal before anyone decided.
    ReviewState {
        Waiting => "waiting",
        SecondApproval => "second_approval",
        Approved => "approved",
        Rejected => "rejected",
        Closed => "closed",
    }
);

/// When a withdrawal waits, and when it needs two officers.
#[derive(Debug, Clone)]
pub struct ReviewPolicy {
    /// Withdrawals worth this many euro cents or more wait for an officer.
    pub review_from_eur: i64,
    /// From this many euro cents, a second officer must approve too.
    pub second_approval_from_eur: i64,
    /// Rules about the player that make a withdrawal wait, each with the reason shown.
    pub rules: Vec<(String, Rule)>,
}

/// The shipped rules: an unverified identity, or a player marked as a risk.
pub const DEFAULT_RULES: &[(&str, &str)] =
    &[("identity not verified", r#"kyc_status != "verified""#), ("marked high risk", r#"tags contains "high_risk""#)];

impl Default for ReviewPolicy {
    fn default() -> Self {
        let rules: BTreeMap<String, String> =
            DEFAULT_RULES.iter().map(|(name, rule)| (name.to_string(), rule.to_string())).collect();
        ReviewPolicy::new(200_000, 1_000_000, &rules).unwrap_or_else(|_| ReviewPolicy {
            review_from_eur: 200_000,
            second_approval_from_eur: 1_000_000,
            rules: Vec::new(),
        })
    }
}

impl ReviewPolicy {
    /// A policy from settings: amounts in euro cents, rules by the reason they give.
    pub fn new(
        review_from_eur: i64,
        second_approval_from_eur: i64,
        rules: &BTreeMap<String, String>,
    ) -> Result<ReviewPolicy, OpsError> {
        if review_from_eur < 0 || second_approval_from_eur < 0 {
            return Err(OpsError::invalid("withdrawal_review", "amounts are zero or more"));
        }
        let rules = rules
            .iter()
            .map(|(name, text)| {
                pitboss_rules::from_text(text)
                    .map(|rule| (name.clone(), rule))
                    .map_err(|e| OpsError::invalid("withdrawal_review_rules", format!("{name}: {}", e.render(text))))
            })
            .collect::<Result<_, _>>()?;
        Ok(ReviewPolicy { review_from_eur, second_approval_from_eur, rules })
    }

    /// Why a withdrawal of `amount_eur` (None: no rate known) by a player with these facts
    /// waits; empty when it may be paid at once.
    pub fn reasons(&self, amount_eur: Option<i64>, facts: &PlayerFacts, now: i64, rates: &Rates) -> Vec<String> {
        let mut reasons = Vec::new();
        match amount_eur {
            None => reasons.push("no reference rate for its currency, so its value is unknown".to_string()),
            Some(eur) if eur >= self.review_from_eur => reasons.push(format!(
                "worth {} or more",
                pitboss_core::money::Money::new(self.review_from_eur, Currency::EUR)
            )),
            Some(_) => {}
        }
        for (name, rule) in &self.rules {
            if rule.holds(facts, now, rates) {
                reasons.push(name.clone());
            }
        }
        reasons
    }

    /// Whether a withdrawal of this value needs two officers (one of unknown value does).
    pub fn needs_second(&self, amount_eur: Option<i64>) -> bool {
        amount_eur.is_none_or(|eur| eur >= self.second_approval_from_eur)
    }
}

/// A withdrawal's review.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Review {
    /// The withdrawal in the ledger.
    pub transaction_id: Uuid,
    pub player_id: Uuid,
    pub currency: Currency,
    /// Minor units of `currency`.
    pub amount: i64,
    /// The value in euro cents at the reference rate; absent when no rate is known.
    pub amount_eur: Option<i64>,
    /// A VIP player's payout: it comes first in the queue.
    pub vip: bool,
    /// Why it waits; empty when the rules approved it at once.
    pub reasons: Vec<String>,
    /// Two officers must approve it.
    pub needs_second: bool,
    pub state: ReviewState,
    /// The first approval, when two are needed.
    pub first_by: Option<String>,
    pub first_at: Option<DateTime<Utc>>,
    pub first_note: Option<String>,
    /// The final approval or the rejection.
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
    pub requested_at: DateTime<Utc>,
}

const COLUMNS: &str = "transaction_id, player_id, currency, amount, amount_eur, vip, reasons, needs_second, state, \
    first_by, first_at, first_note, decided_by, decided_at, decision_reason, requested_at";

#[derive(sqlx::FromRow)]
struct ReviewRow {
    transaction_id: Uuid,
    player_id: Uuid,
    currency: String,
    amount: i64,
    amount_eur: Option<i64>,
    vip: bool,
    reasons: String,
    needs_second: bool,
    state: String,
    first_by: Option<String>,
    first_at: Option<i64>,
    first_note: Option<String>,
    decided_by: Option<String>,
    decided_at: Option<i64>,
    decision_reason: Option<String>,
    requested_at: i64,
}

impl ReviewRow {
    fn into_review(self) -> Review {
        Review {
            transaction_id: self.transaction_id,
            player_id: self.player_id,
            currency: self.currency.parse().unwrap_or(Currency::EUR),
            amount: self.amount,
            amount_eur: self.amount_eur,
            vip: self.vip,
            reasons: serde_json::from_str(&self.reasons).unwrap_or_default(),
            needs_second: self.needs_second,
            state: self.state.parse().unwrap_or(ReviewState::Waiting),
            first_by: self.first_by,
            first_at: self.first_at.map(from_micros),
            first_note: self.first_note,
            decided_by: self.decided_by,
            decided_at: self.decided_at.map(from_micros),
            decision_reason: self.decision_reason,
            requested_at: from_micros(self.requested_at),
        }
    }
}

/// Applies the policy to a withdrawal the platform asked for (by its reference), once: a
/// withdrawal already reviewed, no longer pending, or unknown to the ledger is left alone.
/// Returns the new review.
pub async fn assess(
    tx: &mut Tx,
    policy: &ReviewPolicy,
    rates: &Rates,
    reference: &str,
    now: DateTime<Utc>,
) -> Result<Option<Review>, OpsError> {
    let Some(withdrawal) = ledger::find(tx, TxKind::Withdrawal, reference).await? else { return Ok(None) };
    let Some(player_id) = withdrawal.player_id.filter(|_| withdrawal.status == TxStatus::Pending) else {
        return Ok(None);
    };
    if get_in(tx, withdrawal.id).await?.is_some() {
        return Ok(None);
    }
    let player = pitboss_players::get_in(tx, player_id).await?;
    let mut facts = pitboss_segments::facts::load_in(tx, &[player_id], to_micros(now)).await?;
    let Some(facts) = facts.remove(&player_id) else { return Ok(None) };
    let amount_eur = rates.convert(withdrawal.amount, withdrawal.currency, Currency::EUR);
    let reasons = policy.reasons(amount_eur, &facts, to_micros(now), rates);
    let state = if reasons.is_empty() { ReviewState::Approved } else { ReviewState::Waiting };
    let review = Review {
        transaction_id: withdrawal.id,
        player_id,
        currency: withdrawal.currency,
        amount: withdrawal.amount,
        amount_eur,
        vip: !matches!(player.vip_tier.as_str(), "" | "none"),
        reasons,
        needs_second: policy.needs_second(amount_eur),
        state,
        first_by: None,
        first_at: None,
        first_note: None,
        decided_by: (state == ReviewState::Approved).then(|| RULES_ACTOR.to_string()),
        decided_at: (state == ReviewState::Approved).then_some(now),
        decision_reason: (state == ReviewState::Approved).then(|| "no review rule applies".to_string()),
        requested_at: withdrawal.created_at,
    };
    insert(tx, &review, now).await?;
    if state == ReviewState::Approved {
        announce(tx, "payment.withdrawal.approved", &review, &withdrawal, now).await?;
    }
    Ok(Some(review))
}

async fn insert(tx: &mut Tx, r: &Review, now: DateTime<Utc>) -> Result<(), OpsError> {
    let reasons = serde_json::to_string(&r.reasons).unwrap_or_else(|_| "[]".into());
    exec!(
        tx,
        "INSERT INTO withdrawal_reviews (transaction_id, player_id, currency, amount, amount_eur, vip, reasons, \
         needs_second, state, decided_by, decided_at, decision_reason, requested_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        r.transaction_id,
        r.player_id,
        r.currency.as_str(),
        r.amount,
        r.amount_eur,
        r.vip,
        reasons,
        r.needs_second,
        r.state.as_str(),
        r.decided_by.as_deref(),
        r.decided_at.map(to_micros),
        r.decision_reason.as_deref(),
        to_micros(r.requested_at),
        to_micros(now),
    )?;
    Ok(())
}

async fn get_in(tx: &mut Tx, id: Uuid) -> Result<Option<Review>, OpsError> {
    let sql = format!("SELECT {COLUMNS} FROM withdrawal_reviews WHERE transaction_id = $1");
    let row: Option<ReviewRow> = tx!(tx, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    Ok(row.map(ReviewRow::into_review))
}

/// A withdrawal's review.
pub async fn get(db: &Db, id: Uuid) -> Result<Review, OpsError> {
    let sql = format!("SELECT {COLUMNS} FROM withdrawal_reviews WHERE transaction_id = $1");
    let row: Option<ReviewRow> = db!(db, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    row.map(ReviewRow::into_review).ok_or(OpsError::ReviewNotFound(id))
}

/// Most reviews one read returns.
pub const MAX_PAGE: u32 = 500;

/// The open queue: withdrawals waiting for a first or a second approval, VIP players' first,
/// then the longest waiting. `offset` pages on.
pub async fn queue(db: &Db, limit: u32, offset: u32) -> Result<Vec<Review>, OpsError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let sql = format!(
        "SELECT {COLUMNS} FROM withdrawal_reviews WHERE state IN ('waiting', 'second_approval') \
         ORDER BY vip DESC, requested_at, transaction_id LIMIT {limit} OFFSET {offset}"
    );
    let rows: Vec<ReviewRow> = db!(db, |c| sqlx::query_as(&sql).fetch_all(c).await)?;
    Ok(rows.into_iter().map(ReviewRow::into_review).collect())
}

/// The reviews decided lately (approved or rejected, by the rules or by officers, or closed by
/// the platform), newest first.
pub async fn decided(db: &Db, limit: u32) -> Result<Vec<Review>, OpsError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let sql = format!(
        "SELECT {COLUMNS} FROM withdrawal_reviews WHERE state IN ('approved', 'rejected', 'closed') \
         ORDER BY decided_at DESC, transaction_id LIMIT {limit}"
    );
    let rows: Vec<ReviewRow> = db!(db, |c| sqlx::query_as(&sql).fetch_all(c).await)?;
    Ok(rows.into_iter().map(ReviewRow::into_review).collect())
}

/// Who closes a review the platform settled first.
pub const PLATFORM_ACTOR: &str = "platform";

/// Takes a withdrawal the platform settled or cancelled (by its reference) out of the queue,
/// if it was still waiting for an officer; true if it was.
pub async fn close(tx: &mut Tx, reference: &str, now: DateTime<Utc>) -> Result<bool, OpsError> {
    let Some(withdrawal) = ledger::find(tx, TxKind::Withdrawal, reference).await? else { return Ok(false) };
    if withdrawal.status == TxStatus::Pending {
        return Ok(false);
    }
    let reason = format!("{} by the platform before a decision", withdrawal.status);
    let closed = exec!(
        tx,
        "UPDATE withdrawal_reviews SET state = $1, decided_by = $2, decided_at = $3, decision_reason = $4, \
         updated_at = $3 WHERE transaction_id = $5 AND state IN ('waiting', 'second_approval')",
        ReviewState::Closed.as_str(),
        PLATFORM_ACTOR,
        to_micros(now),
        reason,
        withdrawal.id,
    )?;
    Ok(closed == 1)
}

/// What an officer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

/// An officer's approval or rejection of a waiting withdrawal. A rejection needs a reason and
/// fails the withdrawal in the ledger (releasing its hold); an approval of one that needs two
/// officers is the first, and the second must come from someone else. Refused when the
/// withdrawal is no longer waiting for this (someone decided first, or the platform settled
/// it), so no withdrawal is decided twice.
pub async fn decide(
    tx: &mut Tx,
    id: Uuid,
    decision: Decision,
    actor: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Review, OpsError> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > MAX_REASON) {
        return Err(OpsError::invalid("reason", format!("at most {MAX_REASON} characters")));
    }
    let review = get_in(tx, id).await?.ok_or(OpsError::ReviewNotFound(id))?;
    let withdrawal = ledger::get_in(tx, id).await?;
    if withdrawal.status != TxStatus::Pending {
        return Err(OpsError::Decided(format!(
            "the withdrawal is already {} in the ledger; there is nothing left to decide",
            withdrawal.status
        )));
    }
    let from = review.state;
    let to = match (decision, from) {
        (_, ReviewState::Approved | ReviewState::Rejected | ReviewState::Closed) => {
            return Err(OpsError::Decided(format!(
                "the withdrawal was already {} by {}",
                from,
                review.decided_by.as_deref().unwrap_or("someone else")
            )));
        }
        (Decision::Reject, _) if reason.is_none() => {
            return Err(OpsError::invalid("reason", "say why the withdrawal is rejected"));
        }
        (Decision::Reject, _) => ReviewState::Rejected,
        (Decision::Approve, ReviewState::Waiting) if review.needs_second => ReviewState::SecondApproval,
        (Decision::Approve, _) if review.first_by.as_deref() == Some(actor) => {
            return Err(OpsError::SameOfficer(
                "you gave the first approval; a second officer must give the other".into(),
            ));
        }
        (Decision::Approve, _) => ReviewState::Approved,
    };
    // Who did it, when and why: in the first approval's columns, or the decision's.
    let (by, at, note) = match to {
        ReviewState::SecondApproval => ("first_by", "first_at", "first_note"),
        _ => ("decided_by", "decided_at", "decision_reason"),
    };
    let sql = format!(
        "UPDATE withdrawal_reviews SET state = $1, {by} = $2, {at} = $3, {note} = $4, updated_at = $3 \
         WHERE transaction_id = $5 AND state = $6"
    );
    let changed = exec!(tx, &sql, to.as_str(), actor, to_micros(now), reason, id, from.as_str())?;
    if changed == 1 && to == ReviewState::Rejected {
        ledger::transition(tx, id, TxStatus::Failed, reason, actor, now).await?;
    }
    if changed != 1 {
        return Err(OpsError::Decided("another officer decided this withdrawal at the same moment".into()));
    }
    let review = get_in(tx, id).await?.ok_or(OpsError::ReviewNotFound(id))?;
    match to {
        ReviewState::Approved => announce(tx, "payment.withdrawal.approved", &review, &withdrawal, now).await?,
        ReviewState::Rejected => announce(tx, "payment.withdrawal.rejected", &review, &withdrawal, now).await?,
        _ => {}
    }
    Ok(review)
}

/// The longest reason an officer may give.
pub const MAX_REASON: usize = 1_000;

/// Tells the platform (and every module) what was decided, with the withdrawal's reference.
async fn announce(
    tx: &mut Tx,
    topic: &str,
    review: &Review,
    withdrawal: &LedgerTransaction,
    now: DateTime<Utc>,
) -> Result<(), OpsError> {
    let decision = serde_json::json!({
        "transaction_id": withdrawal.id,
        "reference": withdrawal.reference,
        "amount": withdrawal.amount,
        "currency": withdrawal.currency,
        "decided_by": review.decided_by,
        "reason": review.decision_reason,
    });
    crate::announce(tx, topic, review.player_id, "withdrawal", &decision, now).await
}
