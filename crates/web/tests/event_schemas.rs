//! The published event schemas (docs/events/schemas.json): in step with the code, complete,
//! and self-contained.

use std::collections::BTreeSet;
use std::path::PathBuf;

use pitboss_core::EventType;
use pitboss_web::openapi::event_schemas;
use serde_json::Value;

const REGENERATE: &str = "cargo run -- event-schemas --out docs/events/schemas.json";

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/events/schemas.json")
}

/// The schema a `{"$ref": "#/..."}` points at inside `bundle`, or the schema itself.
fn resolve<'a>(bundle: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let target = r.strip_prefix('#').and_then(|pointer| bundle.pointer(pointer));
            resolve(bundle, target.unwrap_or_else(|| panic!("{r} does not resolve inside the bundle")))
        }
        None => schema,
    }
}

/// True when `reference` is a local JSON pointer (`#/...`) to something inside `bundle`.
fn resolves(bundle: &Value, reference: &str) -> bool {
    reference.strip_prefix('#').and_then(|pointer| bundle.pointer(pointer)).is_some()
}

/// Every `$ref` value anywhere in `v`, with the JSON path where it was found.
fn refs(v: &Value, at: String, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                if k == "$ref"
                    && let Some(r) = child.as_str()
                {
                    out.push((at.clone(), r.to_string()));
                }
                refs(child, format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                refs(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_committed_schemas_are_the_ones_the_code_generates() {
    let generated = serde_json::to_string_pretty(&event_schemas()).expect("the bundle serialises") + "\n";
    let path = committed_path();
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {} ({e}); generate it with `{REGENERATE}`", path.display()));
    if committed != generated {
        let line = committed.lines().zip(generated.lines()).position(|(a, b)| a != b).map_or_else(
            || {
                format!(
                    "the files differ in length ({} vs {} lines)",
                    committed.lines().count(),
                    generated.lines().count()
                )
            },
            |i| {
                format!(
                    "first difference at line {}:\n  committed: {}\n  generated: {}",
                    i + 1,
                    committed.lines().nth(i).unwrap_or_default(),
                    generated.lines().nth(i).unwrap_or_default()
                )
            },
        );
        panic!(
            "docs/events/schemas.json is out of date with the event types in the code; regenerate it with \
             `{REGENERATE}` and commit the result.\n{line}"
        );
    }
}

#[test]
fn the_bundle_has_a_payload_schema_for_each_of_the_16_event_types() {
    let bundle = event_schemas();
    assert_eq!(bundle["$schema"], "https://json-schema.org/draft/2020-12/schema");
    let payloads = bundle["payloads"].as_object().expect("a `payloads` object");
    let documented: BTreeSet<&str> = payloads.keys().map(String::as_str).collect();
    let types: BTreeSet<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(types.len(), 16);
    assert_eq!(documented, types);

    for (name, schema) in payloads {
        let s = resolve(&bundle, schema);
        assert_eq!(s["type"], "object", "{name}: {s}");
        assert!(s["properties"].as_object().is_some_and(|p| !p.is_empty()), "{name} has no properties: {s}");
    }

    let required = |name: &str| -> BTreeSet<String> {
        let s = resolve(&bundle, &payloads[name]);
        s["required"]
            .as_array()
            .map(|r| r.iter().map(|f| f.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(required("player.registered"), set(&["country", "currency"]));
    assert!(required("player.updated").is_empty(), "every field of player.updated is optional");
    assert_eq!(required("session.started"), set(&["session_id"]));
    for t in ["payment.deposit.requested", "payment.deposit.completed", "payment.withdrawal.cancelled"] {
        assert_eq!(required(t), set(&["transaction_id", "amount", "currency"]), "{t}");
    }
    assert_eq!(required("game.round"), set(&["round_id", "game", "provider", "category", "stake", "win", "currency"]));
    for t in ["bonus.granted", "bonus.wagered", "bonus.converted", "bonus.forfeited"] {
        assert_eq!(required(t), set(&["bonus_id", "amount", "currency"]), "{t}");
    }

    // Amounts are integers (minor units), currencies strings (ISO 4217 codes).
    let payment = resolve(&bundle, &payloads["payment.deposit.completed"]);
    assert_eq!(resolve(&bundle, &payment["properties"]["amount"])["type"], "integer");
    assert_eq!(resolve(&bundle, &payment["properties"]["currency"])["type"], "string");
    let round = resolve(&bundle, &payloads["game.round"]);
    assert_eq!(resolve(&bundle, &round["properties"]["stake"])["type"], "integer");

    let envelope = resolve(&bundle, &bundle["envelope"]);
    let envelope_required: BTreeSet<&str> =
        envelope["required"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert_eq!(envelope_required, BTreeSet::from(["id", "type", "player_id", "occurred_at", "payload"]));
    assert_eq!(envelope["properties"]["id"]["format"], "uuid");
    assert_eq!(envelope["properties"]["occurred_at"]["format"], "date-time");
}

#[test]
fn every_ref_in_the_bundle_resolves_inside_it() {
    for (what, bundle) in [
        ("the generated bundle", event_schemas()),
        (
            "docs/events/schemas.json",
            serde_json::from_str(&std::fs::read_to_string(committed_path()).unwrap_or_default()).unwrap_or_else(|e| {
                panic!("docs/events/schemas.json is not JSON ({e}); regenerate it with `{REGENERATE}`")
            }),
        ),
    ] {
        let mut found = Vec::new();
        refs(&bundle, String::new(), &mut found);
        assert!(found.len() > 16, "{what}: the payloads alone hold 16 references");
        let broken: Vec<String> =
            found.iter().filter(|(_, r)| !resolves(&bundle, r)).map(|(at, r)| format!("{at}: {r}")).collect();
        assert!(broken.is_empty(), "{what}: references that point outside the bundle:\n{}", broken.join("\n"));
    }
}
