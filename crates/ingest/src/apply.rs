//! What each event type does: to the player profile, the ledger and the aggregates.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use pitboss_core::event::{EventBody, EventError, EventType};
use pitboss_core::{Currency, Envelope};
use pitboss_payments::operations::{self, Change, Context, Operation};
use pitboss_payments::{LedgerError, TxKind};
use pitboss_players::{Activity, NewPlayer, Player, PlayerError, PlayerPatch, stats};
use pitboss_store::{StoreError, Tx};
use uuid::Uuid;

/// The actor recorded for changes that platform events cause.
pub(crate) const ACTOR: &str = "platform";

pub(crate) enum ApplyError {
    /// The event is refused, having changed nothing; the batch goes on.
    Rejected(EventError),
    /// The database failed; the batch fails as a whole.
    Store(StoreError),
}

impl From<StoreError> for ApplyError {
    fn from(e: StoreError) -> Self {
        ApplyError::Store(e)
    }
}

impl From<PlayerError> for ApplyError {
    fn from(e: PlayerError) -> Self {
        match e {
            PlayerError::Store(s) => ApplyError::Store(s),
            PlayerError::Invalid { field, message } => {
                ApplyError::Rejected(EventError::new(format!("payload.{field}"), message))
            }
            other => ApplyError::Rejected(EventError::new("player_id", other.to_string())),
        }
    }
}

impl From<LedgerError> for ApplyError {
    fn from(e: LedgerError) -> Self {
        let field = match &e {
            LedgerError::Store(_) => "",
            LedgerError::InsufficientFunds { .. } => "payload.amount",
            LedgerError::ReferenceReused { .. } => "payload",
            LedgerError::InvalidTransition { .. } => "type",
            _ => "payload",
        };
        match e {
            LedgerError::Store(s) => ApplyError::Store(s),
            other => ApplyError::Rejected(EventError::new(field, other.to_string())),
        }
    }
}

/// Players looked up during one batch: most batches name the same players many times.
#[derive(Default)]
pub(crate) struct PlayerCache {
    known: HashMap<String, (Uuid, Currency)>,
}

impl PlayerCache {
    async fn find(&mut self, tx: &mut Tx, external_id: &str) -> Result<(Uuid, Currency), ApplyError> {
        if let Some(p) = self.known.get(external_id) {
            return Ok(*p);
        }
        match pitboss_players::id_by_external(tx, external_id).await? {
            Some(p) => {
                self.known.insert(external_id.to_string(), p);
                Ok(p)
            }
            None => Err(ApplyError::Rejected(unknown_player(external_id))),
        }
    }

    /// Looks up, in one statement, every player of `refs` not yet known.
    pub(crate) async fn load(&mut self, tx: &mut Tx, refs: &[&str]) -> Result<(), StoreError> {
        let mut missing: Vec<&str> = refs.iter().copied().filter(|r| !self.known.contains_key(*r)).collect();
        missing.sort_unstable();
        missing.dedup();
        for (external, id, currency) in pitboss_players::ids_by_external(tx, &missing).await.map_err(|e| match e {
            PlayerError::Store(s) => s,
            other => StoreError::Config(other.to_string()),
        })? {
            self.known.insert(external, (id, currency));
        }
        Ok(())
    }

    /// A player the batch has just created.
    pub(crate) fn insert(&mut self, player: &Player) {
        self.known.insert(player.external_id.clone(), (player.id, player.currency));
    }

    /// A player already known to this batch.
    pub(crate) fn get(&self, external_id: &str) -> Option<(Uuid, Currency)> {
        self.known.get(external_id).copied()
    }
}

pub(crate) fn already_registered(external_id: &str) -> EventError {
    EventError::new(
        "player_id",
        format!("player '{external_id}' is already registered; send player.updated to change the profile"),
    )
}

pub(crate) fn unknown_player(external_id: &str) -> EventError {
    EventError::new(
        "player_id",
        format!("unknown player '{external_id}': send player.registered for this player first"),
    )
}

pub(crate) fn currency_mismatch(sent: Currency, wallet: Currency) -> EventError {
    EventError::new("payload.currency", format!("{sent} does not match the player's wallet currency {wallet}"))
}

/// What applying an event did.
pub(crate) struct Applied {
    pub player: Option<Uuid>,
    /// Set when the event was accepted but changed nothing (a replay or a stale payment event).
    pub note: Option<String>,
}

/// The player an event is about (`None` for a registration, whose player does not exist yet).
pub(crate) async fn resolve(
    tx: &mut Tx,
    players: &mut PlayerCache,
    event: &Envelope,
) -> Result<Option<(Uuid, Currency)>, ApplyError> {
    match event.body {
        EventBody::PlayerRegistered(_) => Ok(None),
        _ => players.find(tx, &event.player_ref).await.map(Some),
    }
}

pub(crate) async fn apply(
    tx: &mut Tx,
    players: &mut PlayerCache,
    event: &Envelope,
    resolved: Option<(Uuid, Currency)>,
    now: DateTime<Utc>,
) -> Result<Applied, ApplyError> {
    if let EventBody::PlayerRegistered(r) = &event.body {
        let new = NewPlayer::from_event(&event.player_ref, event.occurred_at, r)?;
        let player = match pitboss_players::create(tx, new, now).await {
            Err(PlayerError::DuplicateExternalId(id)) => return Err(ApplyError::Rejected(already_registered(&id))),
            other => other?,
        };
        players.insert(&player);
        return Ok(Applied { player: Some(player.id), note: None });
    }

    let (player, currency) = match resolved {
        Some(p) => p,
        None => players.find(tx, &event.player_ref).await?,
    };
    let ctx =
        Context { player, currency, method: payment_method(event), occurred_at: event.occurred_at, now, actor: ACTOR };
    let (change, activity): (Option<Change>, Option<Activity>) = match &event.body {
        EventBody::PlayerRegistered(_) => unreachable!("handled above"),
        EventBody::PlayerUpdated(u) => {
            let patch = PlayerPatch::from_event(u)?;
            pitboss_players::update(tx, player, &patch, now).await?;
            (None, None)
        }
        EventBody::SessionStarted(_) => (None, Some(Activity::SessionStarted)),
        EventBody::SessionEnded(_) => (None, None),
        _ => match money(event, currency)? {
            // Wagering progress moves no money; consumers (loyalty, CRM) read it from the bus.
            None => (None, None),
            Some(m) => {
                let change = operations::perform(tx, &ctx, &m.operation).await?;
                let activity = m.settled_activity(&change);
                (Some(change), activity)
            }
        },
    };
    if let Some(activity) = activity {
        stats::record(tx, player, activity, event.occurred_at, now).await?;
    }
    Ok(Applied { player: Some(player), note: change.and_then(|c| c.note) })
}

/// What a money event asks of the ledger, checked against the player's wallet.
pub(crate) struct Money {
    pub operation: Operation,
    /// A round's game category as kept.
    category: Option<String>,
}

impl Money {
    /// What the movement adds to the player's aggregates, once it has settled.
    pub(crate) fn settled_activity(&self, change: &Change) -> Option<Activity> {
        if !change.settled {
            return None;
        }
        Some(match &self.operation {
            Operation::PaymentRequested { kind, amount, .. }
            | Operation::PaymentCompleted { kind, amount, .. }
            | Operation::PaymentFailed { kind, amount, .. } => match kind {
                TxKind::Deposit => Activity::DepositCompleted { amount: *amount },
                _ => Activity::WithdrawalCompleted { amount: *amount },
            },
            Operation::Round { stake, win, .. } => {
                Activity::Round { stake: *stake, win: *win, category: self.category.clone().unwrap_or_default() }
            }
            Operation::Bonus { kind, amount, .. } => match kind {
                TxKind::BonusGrant => Activity::BonusGranted { amount: *amount },
                TxKind::BonusConvert => Activity::BonusConverted { amount: *amount },
                _ => Activity::BonusForfeited { amount: *amount },
            },
        })
    }
}

/// How a payment event says it is paid, if it is one and says.
pub(crate) fn payment_method(event: &Envelope) -> Option<&str> {
    match &event.body {
        EventBody::Payment(_, p) => p.method.as_deref(),
        _ => None,
    }
}

/// The ledger movement of a payment, round or bonus event in the wallet's currency (`None`
/// for events that move no money). Refused: another currency, a round's invalid category.
pub(crate) fn money(event: &Envelope, wallet: Currency) -> Result<Option<Money>, ApplyError> {
    let check_currency = |c: Currency| {
        if c == wallet { Ok(()) } else { Err(ApplyError::Rejected(currency_mismatch(c, wallet))) }
    };
    let operation = match &event.body {
        EventBody::Payment(t, p) => {
            check_currency(p.currency)?;
            let (kind, reference, amount) = (payment_kind(*t), p.transaction_id.clone(), p.amount.minor());
            match t {
                EventType::DepositRequested | EventType::WithdrawalRequested => {
                    Operation::PaymentRequested { kind, reference, amount }
                }
                EventType::DepositCompleted | EventType::WithdrawalCompleted => {
                    Operation::PaymentCompleted { kind, reference, amount }
                }
                EventType::WithdrawalCancelled => {
                    let reason = Some(p.reason.clone().unwrap_or_else(|| "cancelled".into()));
                    Operation::PaymentFailed { kind, reference, amount, reason }
                }
                _ => Operation::PaymentFailed { kind, reference, amount, reason: p.reason.clone() },
            }
        }
        EventBody::GameRound(g) => {
            check_currency(g.currency)?;
            let category = stats::category(&g.category)?;
            let operation =
                Operation::Round { round_id: g.round_id.clone(), stake: g.stake.minor(), win: g.win.minor() };
            return Ok(Some(Money { operation, category: Some(category) }));
        }
        EventBody::Bonus(t, b) => {
            check_currency(b.currency)?;
            let Some(kind) = bonus_kind(*t) else { return Ok(None) };
            Operation::Bonus { kind, bonus_id: b.bonus_id.clone(), amount: b.amount.minor() }
        }
        _ => return Ok(None),
    };
    Ok(Some(Money { operation, category: None }))
}

fn bonus_kind(t: EventType) -> Option<TxKind> {
    match t {
        EventType::BonusGranted => Some(TxKind::BonusGrant),
        EventType::BonusConverted => Some(TxKind::BonusConvert),
        EventType::BonusForfeited => Some(TxKind::BonusForfeit),
        _ => None,
    }
}

fn payment_kind(t: EventType) -> TxKind {
    match t {
        EventType::DepositRequested | EventType::DepositCompleted | EventType::DepositFailed => TxKind::Deposit,
        _ => TxKind::Withdrawal,
    }
}
