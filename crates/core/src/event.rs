//! The event envelope and the payload of every event type the casino platform sends.
//!
//! An event arrives as JSON. [`Envelope::parse`] turns one JSON value into a typed, validated
//! event or into an [`EventError`] that names the offending field, so that one bad item in a batch
//! can be rejected with a reason while the rest go through.

use std::fmt;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::money::{Amount, Currency};

/// The envelope version this build understands.
pub const ENVELOPE_VERSION: u32 = 1;

/// How far in the future `occurred_at` may lie, to absorb clock skew between the platform and us.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(5);

/// Longest accepted identifier or label (transaction ids, game names, sources...).
pub const MAX_LABEL_LEN: usize = 200;

crate::string_enum!(
    /// Every event type Pitboss accepts, by its wire name.
    EventType {
        PlayerRegistered => "player.registered",
        PlayerUpdated => "player.updated",
        SessionStarted => "session.started",
        SessionEnded => "session.ended",
        DepositRequested => "payment.deposit.requested",
        DepositCompleted => "payment.deposit.completed",
        DepositFailed => "payment.deposit.failed",
        WithdrawalRequested => "payment.withdrawal.requested",
        WithdrawalCompleted => "payment.withdrawal.completed",
        WithdrawalFailed => "payment.withdrawal.failed",
        WithdrawalCancelled => "payment.withdrawal.cancelled",
        GameRound => "game.round",
        BonusGranted => "bonus.granted",
        BonusWagered => "bonus.wagered",
        BonusConverted => "bonus.converted",
        BonusForfeited => "bonus.forfeited",
    }
);

/// Marketing consent per channel. A channel not mentioned is not consented.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Consents {
    pub email: bool,
    pub sms: bool,
    pub push: bool,
    pub messenger: bool,
}

/// `player.registered`: a new account on the casino platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlayerRegistered {
    #[schema(example = "anna@example.com")]
    pub email: Option<String>,
    /// E.164, e.g. `+4915112345678`.
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub birth_date: Option<NaiveDate>,
    /// `male`, `female`, `other` or `undisclosed`.
    pub gender: Option<String>,
    /// ISO 3166-1 alpha-2, e.g. `DE`.
    pub country: String,
    /// ISO 639-1, e.g. `de`.
    pub language: Option<String>,
    /// The wallet currency: every money event for this player must use it.
    pub currency: Currency,
    /// When the account was created; defaults to the envelope's `occurred_at`.
    pub registered_at: Option<DateTime<Utc>>,
    /// e.g. `organic`, `affiliate`, `paid_search`, `social`.
    pub traffic_source: Option<String>,
    pub affiliate_id: Option<String>,
    pub campaign: Option<String>,
    #[serde(default)]
    pub consents: Consents,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The brand (site or skin) the player signed up with, e.g. `main`: 1 to 64 of `a-z`,
    /// `0-9`, `_`, `-` (lower-cased). Defaults to `main`.
    // Left out of the stored copy when absent, so that events stored before brands existed
    // keep their content hash (and a resend of one is still a `duplicate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "main")]
    pub brand: Option<String>,
}

/// `player.updated`: changed profile fields. A field left out (or null) is unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct PlayerUpdated {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub gender: Option<String>,
    pub country: Option<String>,
    pub language: Option<String>,
    pub traffic_source: Option<String>,
    pub affiliate_id: Option<String>,
    pub campaign: Option<String>,
    pub consents: Option<Consents>,
    /// `active`, `blocked`, `self_excluded` or `closed`.
    pub status: Option<String>,
    /// `none`, `pending`, `verified` or `rejected`.
    pub kyc_status: Option<String>,
    pub vip_tier: Option<String>,
    /// Replaces the whole tag set when present.
    pub tags: Option<Vec<String>>,
    /// Moves the player to another brand (site or skin); the rules of `player.registered`.
    // Left out when absent, like `PlayerRegistered::brand`, to keep stored content hashes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
}

/// `session.started`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionStarted {
    pub session_id: String,
    pub ip: Option<String>,
    /// e.g. `desktop`, `ios`, `android`.
    pub device: Option<String>,
    /// The platform's fingerprint of the device, the same for every account that uses it; the
    /// anomaly rules count the players who share one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
}

/// `session.ended`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionEnded {
    pub session_id: String,
    pub duration_seconds: Option<u64>,
}

/// Every `payment.deposit.*` and `payment.withdrawal.*` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Payment {
    /// The platform's transaction reference: the idempotency key of the ledger transaction.
    /// Every event in one payment's life (requested, completed, ...) carries the same one.
    pub transaction_id: String,
    pub amount: Amount,
    pub currency: Currency,
    /// e.g. `card`, `bank_transfer`, `e_wallet`.
    pub method: Option<String>,
    /// Why a payment failed or was cancelled.
    pub reason: Option<String>,
    /// The payment provider's token for the card, account or wallet paid with (never a card
    /// number); the anomaly rules count the players who share one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrument: Option<String>,
}

/// `game.round`: one settled round, stake and win together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GameRound {
    pub round_id: String,
    pub game: String,
    pub provider: String,
    /// e.g. `slots`, `live_casino`, `table`, `crash`.
    pub category: String,
    pub stake: Amount,
    pub win: Amount,
    pub currency: Currency,
}

/// Every `bonus.*` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Bonus {
    /// The bonus instance; with the event type it is the ledger's idempotency key.
    pub bonus_id: String,
    pub amount: Amount,
    pub currency: Currency,
    pub campaign: Option<String>,
}

/// The typed payload of an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EventBody {
    PlayerRegistered(PlayerRegistered),
    PlayerUpdated(PlayerUpdated),
    SessionStarted(SessionStarted),
    SessionEnded(SessionEnded),
    Payment(EventType, Payment),
    GameRound(GameRound),
    Bonus(EventType, Bonus),
}

/// What is wrong with one event, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct EventError {
    /// The offending field, as a dotted path (`payload.amount`), or empty for the whole item.
    pub field: String,
    pub message: String,
}

impl EventError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> EventError {
        EventError { field: field.into(), message: message.into() }
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.field, self.message) }
    }
}

impl std::error::Error for EventError {}

/// The envelope exactly as sent, for documentation: see [`Envelope`] for the validated form.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RawEnvelope {
    /// A UUIDv7 chosen by the sender; resending the same id is answered `duplicate`.
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// Envelope version; 1 if left out.
    pub version: Option<u32>,
    /// The casino platform's id of the player (the profile's `external_id`).
    pub player_id: String,
    pub occurred_at: DateTime<Utc>,
    /// The sending system, e.g. `platform`, `payments-gateway`.
    pub source: Option<String>,
    /// The type's payload; see the schema of each type.
    pub payload: Value,
}

/// A validated event.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub id: Uuid,
    pub event_type: EventType,
    pub version: u32,
    /// The platform's player id (`external_id` of the profile).
    pub player_ref: String,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub source: String,
    pub body: EventBody,
}

impl Envelope {
    /// Validates one JSON item of a batch.
    pub fn parse(item: &Value, received_at: DateTime<Utc>) -> Result<Envelope, EventError> {
        let obj = item.as_object().ok_or_else(|| EventError::new("", "each event must be a JSON object"))?;
        let field = |name: &str| obj.get(name).filter(|v| !v.is_null());

        let id_text = field("id")
            .ok_or_else(|| EventError::new("id", "is required (a UUIDv7)"))?
            .as_str()
            .ok_or_else(|| EventError::new("id", "must be a string holding a UUIDv7"))?;
        let id = Uuid::parse_str(id_text).map_err(|_| EventError::new("id", format!("'{id_text}' is not a UUID")))?;
        if !crate::id::is_v7(&id) {
            return Err(EventError::new(
                "id",
                format!("'{id}' is a version {} UUID; event ids must be UUIDv7", id.get_version_num()),
            ));
        }

        let type_name = field("type")
            .ok_or_else(|| EventError::new("type", "is required"))?
            .as_str()
            .ok_or_else(|| EventError::new("type", "must be a string"))?;
        let event_type = EventType::from_name(type_name).ok_or_else(|| {
            let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            EventError::new("type", format!("unknown event type '{type_name}'; known types: {}", known.join(", ")))
        })?;

        let version = match field("version") {
            None => ENVELOPE_VERSION,
            Some(v) => match v.as_u64() {
                Some(n) if n == u64::from(ENVELOPE_VERSION) => ENVELOPE_VERSION,
                _ => {
                    return Err(EventError::new(
                        "version",
                        format!("unsupported version {v}; this server understands version {ENVELOPE_VERSION}"),
                    ));
                }
            },
        };

        let player_ref = label(field("player_id"), "player_id")?;

        let occurred_text = field("occurred_at")
            .ok_or_else(|| EventError::new("occurred_at", "is required (RFC 3339, e.g. 2026-03-01T12:00:00Z)"))?
            .as_str()
            .ok_or_else(|| EventError::new("occurred_at", "must be an RFC 3339 string"))?;
        let occurred_at = DateTime::parse_from_rfc3339(occurred_text)
            .map_err(|e| {
                EventError::new("occurred_at", format!("'{occurred_text}' is not an RFC 3339 timestamp ({e})"))
            })?
            .with_timezone(&Utc);
        if occurred_at > received_at + MAX_CLOCK_SKEW {
            return Err(EventError::new(
                "occurred_at",
                format!("{occurred_text} is in the future (received at {})", received_at.to_rfc3339()),
            ));
        }

        let source = match field("source") {
            None => "platform".to_string(),
            some => label(some, "source")?,
        };

        let payload = field("payload").ok_or_else(|| EventError::new("payload", "is required (an object)"))?;
        let body = EventBody::parse(event_type, payload)?;

        Ok(Envelope { id, event_type, version, player_ref, occurred_at, received_at, source, body })
    }

    /// The envelope in its wire form, with `received_at` added.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "type": self.event_type,
            "version": self.version,
            "player_id": self.player_ref,
            "occurred_at": self.occurred_at,
            "received_at": self.received_at,
            "source": self.source,
            "payload": self.body,
        })
    }

    /// A digest of what the sender said (everything but `received_at`), so that a resent id
    /// can be told apart from an id reused for a different event.
    pub fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut v = self.to_json();
        if let Some(o) = v.as_object_mut() {
            o.remove("received_at");
        }
        let mut bytes = Vec::with_capacity(512);
        canonical(&v, &mut bytes);
        hex::encode(Sha256::digest(&bytes))
    }
}

/// Writes `v` as compact JSON with every object's keys in sorted order, whatever order the map
/// keeps them in: serde_json's `preserve_order` feature, switched on by any crate in the build,
/// must not change the hashes stored with events.
fn canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(o) => {
            let mut fields: Vec<(&String, &Value)> = o.iter().collect();
            fields.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in fields.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                compact(k.as_str(), out);
                out.push(b':');
                canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(item, out);
            }
            out.push(b']');
        }
        other => compact(other, out),
    }
}

/// A string or scalar as compact JSON, as `Value`'s `Display` writes it.
fn compact<T: serde::Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) {
    // Writing a `Value` into memory cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

impl EventBody {
    fn parse(event_type: EventType, payload: &Value) -> Result<EventBody, EventError> {
        use EventType as T;
        if !payload.is_object() {
            return Err(EventError::new("payload", "must be a JSON object"));
        }
        let body = match event_type {
            T::PlayerRegistered => EventBody::PlayerRegistered(typed(payload)?),
            T::PlayerUpdated => EventBody::PlayerUpdated(typed(payload)?),
            T::SessionStarted => {
                let s: SessionStarted = typed(payload)?;
                check_label(&s.session_id, "payload.session_id")?;
                if let Some(device_id) = &s.device_id {
                    check_label(device_id, "payload.device_id")?;
                }
                EventBody::SessionStarted(s)
            }
            T::SessionEnded => {
                let s: SessionEnded = typed(payload)?;
                check_label(&s.session_id, "payload.session_id")?;
                EventBody::SessionEnded(s)
            }
            T::DepositRequested
            | T::DepositCompleted
            | T::DepositFailed
            | T::WithdrawalRequested
            | T::WithdrawalCompleted
            | T::WithdrawalFailed
            | T::WithdrawalCancelled => {
                let p: Payment = typed(payload)?;
                check_label(&p.transaction_id, "payload.transaction_id")?;
                if let Some(method) = &p.method {
                    check_label(method, "payload.method")?;
                }
                if let Some(instrument) = &p.instrument {
                    check_label(instrument, "payload.instrument")?;
                }
                if p.amount.minor() == 0 {
                    return Err(EventError::new("payload.amount", "a payment amount must be greater than zero"));
                }
                EventBody::Payment(event_type, p)
            }
            T::GameRound => {
                let g: GameRound = typed(payload)?;
                check_label(&g.round_id, "payload.round_id")?;
                check_label(&g.game, "payload.game")?;
                check_label(&g.provider, "payload.provider")?;
                check_label(&g.category, "payload.category")?;
                EventBody::GameRound(g)
            }
            T::BonusGranted | T::BonusWagered | T::BonusConverted | T::BonusForfeited => {
                let b: Bonus = typed(payload)?;
                check_label(&b.bonus_id, "payload.bonus_id")?;
                EventBody::Bonus(event_type, b)
            }
        };
        Ok(body)
    }
}

/// Deserialises a payload, turning serde's message into one that names the field.
fn typed<T: DeserializeOwned>(payload: &Value) -> Result<T, EventError> {
    serde_json::from_value(payload.clone()).map_err(|e| {
        let msg = e.to_string();
        // serde names a missing field as "missing field `x`"; point at it.
        if let Some(rest) = msg.strip_prefix("missing field `") {
            let name = rest.split('`').next().unwrap_or_default();
            return EventError::new(format!("payload.{name}"), "is required");
        }
        EventError::new("payload", msg)
    })
}

fn label(v: Option<&Value>, field: &str) -> Result<String, EventError> {
    let s = v
        .ok_or_else(|| EventError::new(field, "is required"))?
        .as_str()
        .ok_or_else(|| EventError::new(field, "must be a string"))?;
    check_label(s, field)?;
    Ok(s.to_string())
}

fn check_label(s: &str, field: &str) -> Result<(), EventError> {
    if s.trim().is_empty() {
        Err(EventError::new(field, "must not be empty"))
    } else if s.len() > MAX_LABEL_LEN {
        Err(EventError::new(field, format!("is longer than {MAX_LABEL_LEN} characters")))
    } else {
        Ok(())
    }
}

/// The JSON Schema of each event type's payload, keyed by type name.
pub fn payload_schemas() -> Vec<(EventType, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)> {
    use EventType as T;
    fn schema<S: ToSchema>() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        S::schema()
    }
    EventType::ALL
        .iter()
        .map(|t| {
            let s = match t {
                T::PlayerRegistered => schema::<PlayerRegistered>(),
                T::PlayerUpdated => schema::<PlayerUpdated>(),
                T::SessionStarted => schema::<SessionStarted>(),
                T::SessionEnded => schema::<SessionEnded>(),
                T::GameRound => schema::<GameRound>(),
                T::BonusGranted | T::BonusWagered | T::BonusConverted | T::BonusForfeited => schema::<Bonus>(),
                _ => schema::<Payment>(),
            };
            (*t, s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn deposit(amount: Value) -> Value {
        json!({
            "id": Uuid::now_v7(), "type": "payment.deposit.completed", "player_id": "p-1",
            "occurred_at": "2026-03-01T11:59:00Z",
            "payload": {"transaction_id": "tx-1", "amount": amount, "currency": "EUR"}
        })
    }

    #[test]
    fn a_valid_deposit_parses_with_defaults() {
        let e = Envelope::parse(&deposit(json!(2500)), now()).unwrap();
        assert_eq!(e.event_type, EventType::DepositCompleted);
        assert_eq!(e.source, "platform");
        assert_eq!(e.version, 1);
        match e.body {
            EventBody::Payment(_, p) => assert_eq!(p.amount.minor(), 2500),
            other => panic!("unexpected body {other:?}"),
        }
    }

    #[test]
    fn bad_amounts_are_named_precisely() {
        let err = Envelope::parse(&deposit(json!(-10)), now()).unwrap_err();
        assert_eq!(err.field, "payload");
        assert!(err.message.contains("zero or positive"), "{err}");
        let err = Envelope::parse(&deposit(json!(0)), now()).unwrap_err();
        assert_eq!(err.field, "payload.amount");
        let err = Envelope::parse(&deposit(json!(1e25)), now()).unwrap_err();
        assert!(err.message.contains("maximum"), "{err}");
    }

    #[test]
    fn unknown_types_and_currencies_are_refused_with_the_reason() {
        let mut e = deposit(json!(100));
        e["type"] = json!("payment.deposit.teleported");
        let err = Envelope::parse(&e, now()).unwrap_err();
        assert_eq!(err.field, "type");
        assert!(err.message.contains("known types"));

        let mut e = deposit(json!(100));
        e["payload"]["currency"] = json!("EURO");
        let err = Envelope::parse(&e, now()).unwrap_err();
        assert!(err.message.contains("ISO 4217"), "{err}");
    }

    #[test]
    fn missing_fields_point_at_the_field() {
        let mut e = deposit(json!(100));
        e["payload"].as_object_mut().unwrap().remove("transaction_id");
        let err = Envelope::parse(&e, now()).unwrap_err();
        assert_eq!(err.field, "payload.transaction_id");
    }

    #[test]
    fn ids_must_be_uuid_v7_and_times_not_in_the_future() {
        let mut e = deposit(json!(100));
        e["id"] = json!("6f1c1f4e-8a8b-4c43-9a7e-1d5f0c0b7a11");
        assert!(Envelope::parse(&e, now()).unwrap_err().message.contains("UUIDv7"));
        let mut e = deposit(json!(100));
        e["occurred_at"] = json!("2026-03-01T13:00:00Z");
        assert!(Envelope::parse(&e, now()).unwrap_err().message.contains("future"));
    }

    #[test]
    fn content_hash_ignores_received_at_but_not_content() {
        let item = deposit(json!(100));
        let a = Envelope::parse(&item, now()).unwrap();
        let b = Envelope::parse(&item, now() + Duration::seconds(3)).unwrap();
        assert_eq!(a.content_hash(), b.content_hash());
        let mut other = item.clone();
        other["payload"]["amount"] = json!(101);
        let c = Envelope::parse(&other, now()).unwrap();
        assert_ne!(a.content_hash(), c.content_hash());
    }

    #[test]
    fn a_registration_without_a_brand_is_stored_and_hashed_as_before_brands_existed() {
        let item = json!({
            "id": Uuid::now_v7(), "type": "player.registered", "player_id": "p-1",
            "occurred_at": "2026-03-01T11:59:00Z", "payload": {"country": "DE", "currency": "EUR"}
        });
        let e = Envelope::parse(&item, now()).unwrap();
        assert!(e.to_json()["payload"].get("brand").is_none(), "{}", e.to_json());
        match &e.body {
            EventBody::PlayerRegistered(r) => assert_eq!(r.brand, None),
            other => panic!("unexpected body {other:?}"),
        }
        let mut branded = item.clone();
        branded["payload"]["brand"] = json!("luckystar");
        let b = Envelope::parse(&branded, now()).unwrap();
        assert_eq!(b.to_json()["payload"]["brand"], "luckystar");
        assert_ne!(e.content_hash(), b.content_hash());

        let update = PlayerUpdated { vip_tier: Some("gold".into()), ..Default::default() };
        assert!(serde_json::to_value(&update).unwrap().get("brand").is_none());
    }

    #[test]
    fn the_content_hash_of_an_event_never_changes() {
        // Stored hashes are compared with those of resent events, across versions and builds.
        let item = json!({
            "id": "01956a4e-7b1c-7cc3-9a4f-3c2d1e0f9a8b", "type": "player.registered", "player_id": "p-1",
            "occurred_at": "2026-03-01T11:59:00Z", "source": "platform",
            "payload": {"country": "DE", "currency": "EUR", "email": "anna@example.com", "tags": ["vip"],
                        "consents": {"sms": true}}
        });
        let e = Envelope::parse(&item, now()).unwrap();
        // The SHA-256 of the envelope as compact JSON with sorted keys, as it has always been.
        assert_eq!(e.content_hash(), "c3d38b0c06683924451bfd28cf4195afbce21e29a60cba5d632cf529349027b0");
    }

    #[test]
    fn every_type_has_a_payload_schema() {
        assert_eq!(payload_schemas().len(), EventType::ALL.len());
    }
}
