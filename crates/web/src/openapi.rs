//! The OpenAPI document, generated from the handlers' annotations and the types they use,
//! and the JSON Schemas of the events, cut from the same source.

use pitboss_core::event::{self, EventType};
use serde_json::{Map, Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

struct ApiKeyAuth;

impl Modify for ApiKeyAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key from `pitboss api-key create`, as `Authorization: Bearer <key>`"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Pitboss", description = "The back office and CRM of an online casino."),
    paths(
        routes::events::ingest,
        routes::events::schemas,
        routes::players::search,
        routes::players::create,
        routes::players::fetch,
        routes::players::update,
        routes::players::player_stats,
        routes::players::balances,
        routes::payments::list,
        routes::payments::fetch,
        routes::payments::change_status,
        routes::payments::adjust,
        routes::payments::list_requests,
        routes::payments::approve_request,
        routes::payments::reject_request,
        routes::monitor::list,
        routes::monitor::totals,
        routes::monitor::stream,
        routes::disputes::open,
        routes::disputes::list,
        routes::disputes::fetch,
        routes::disputes::add_note,
        routes::disputes::resolve,
        routes::ops::player_breaches,
        routes::withdrawals::list,
        routes::withdrawals::fetch,
        routes::withdrawals::approve,
        routes::withdrawals::reject,
        routes::alerts::list,
        routes::alerts::fetch,
        routes::alerts::acknowledge,
        routes::alerts::assign,
        routes::alerts::resolve,
        routes::alerts::player_alerts,
        routes::alerts::rules,
        routes::alerts::rule,
        routes::alerts::create_rule,
        routes::alerts::change_rule,
        routes::alerts::subscriptions,
        routes::alerts::subscribe,
        routes::alerts::unsubscribe,
        routes::tickets::list,
        routes::tickets::create,
        routes::tickets::fetch,
        routes::tickets::change,
        routes::tickets::write,
        routes::tickets::merge,
        routes::tickets::bulk,
        routes::tickets::player_tickets,
        routes::tickets::queue_list,
        routes::tickets::save_queue,
        routes::tickets::routing,
        routes::tickets::add_route,
        routes::tickets::remove_route,
        routes::tickets::view_list,
        routes::tickets::save_view,
        routes::tickets::delete_view,
        routes::tickets::inbound_mail,
        routes::tickets::quarantine,
        routes::templates::list,
        routes::templates::save,
        routes::templates::remove,
        routes::templates::preview,
        routes::calls::call_event,
        routes::attachments::upload,
        routes::attachments::download,
        routes::calls::ticket_calls,
        routes::contacts::contacts,
        routes::kb::list,
        routes::kb::create,
        routes::kb::fetch,
        routes::kb::save,
        routes::kb::publish,
        routes::kb::archive,
        routes::kb::suggestions,
        routes::kb::faq,
        routes::kb::faq_article,
        routes::access::list,
        routes::segments::list,
        routes::segments::create,
        routes::segments::preview,
        routes::segments::fetch,
        routes::segments::update,
        routes::segments::refresh,
        routes::segments::members,
        routes::segments::versions,
        routes::segments::sizes,
        routes::segments::groups,
        routes::segments::player_segments,
        routes::models::list,
        routes::models::fetch,
        routes::models::refit,
        routes::models::player_predictions,
        routes::segments::explain,
        routes::ops::locks,
        routes::ops::set_lock,
        routes::ops::lift_lock,
        routes::ops::check,
        routes::ops::jurisdictions,
        routes::ops::player_exclusions,
        routes::ops::exclude,
        routes::ops::player_limits,
        routes::ops::set_limit,
        routes::system::healthz,
        routes::system::readyz,
        routes::system::metrics,
    ),
    components(schemas(
        crate::Problem,
        pitboss_core::RawEnvelope,
        pitboss_core::EventError,
        event::PlayerRegistered,
        event::PlayerUpdated,
        event::SessionStarted,
        event::SessionEnded,
        event::Payment,
        event::GameRound,
        event::Bonus,
        event::Consents,
        pitboss_ingest::BatchReport,
        pitboss_ingest::ItemReport,
        pitboss_ingest::ItemStatus,
        routes::players::PlayerPage,
    )),
    modifiers(&ApiKeyAuth),
    tags(
        (name = "events", description = "Facts from the casino platform"),
        (name = "players", description = "The master player profile"),
        (name = "payments", description = "The money ledger"),
        (name = "audit", description = "Who did what"),
        (name = "models", description = "Churn risk and lifetime value: fits, diagnostics and each player's predictions"),
        (name = "ops", description = "Account locks, and whether a player may act now"),
        (name = "helpdesk", description = "Tickets with their SLA clocks, queues, routing, saved views, email, response templates, and the knowledge base with its suggestions for a ticket"),
        (name = "faq", description = "The public FAQ for the casino's website: published knowledge base articles, no key needed"),
        (name = "system", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI document as served at `/api/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// A JSON Schema bundle: the envelope, each event type's payload, and their shared parts.
pub fn event_schemas() -> Value {
    let doc = serde_json::to_value(document()).unwrap_or_default();
    let defs = doc.pointer("/components/schemas").cloned().unwrap_or_else(|| json!({}));
    let text = defs.to_string().replace("#/components/schemas/", "#/$defs/");
    let defs: Value = serde_json::from_str(&text).unwrap_or_default();
    let mut payloads = Map::new();
    for (t, schema) in event::payload_schemas() {
        let name = payload_name(t);
        let value = match serde_json::to_value(schema) {
            Ok(Value::Object(o)) if o.contains_key("$ref") => Value::Object(o),
            _ => json!({"$ref": format!("#/$defs/{name}")}),
        };
        payloads.insert(t.as_str().to_string(), value);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Pitboss platform events",
        "description": "Every event is an envelope (see `envelope`) whose `payload` follows the schema of its `type` (see `payloads`). Amounts are integers in minor units; currencies are ISO 4217 codes; times are RFC 3339.",
        "envelope": {"$ref": "#/$defs/RawEnvelope"},
        "payloads": payloads,
        "$defs": defs,
    })
}

fn payload_name(t: EventType) -> &'static str {
    use EventType as T;
    match t {
        T::PlayerRegistered => "PlayerRegistered",
        T::PlayerUpdated => "PlayerUpdated",
        T::SessionStarted => "SessionStarted",
        T::SessionEnded => "SessionEnded",
        T::GameRound => "GameRound",
        T::BonusGranted | T::BonusWagered | T::BonusConverted | T::BonusForfeited => "Bonus",
        _ => "Payment",
    }
}
