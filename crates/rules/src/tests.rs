use serde_json::json;

use super::*;

const EXAMPLE: &str = r#"country in ["DE", "AT"] and deposits_sum(30d) >= 100 EUR and last_session > 14d ago"#;

fn err(text: &str) -> RuleError {
    from_text(text).expect_err(text)
}

/// The text an error points at.
fn pointed<'a>(text: &'a str, e: &RuleError) -> &'a str {
    &text[e.span.start..e.span.end]
}

#[test]
fn the_example_from_the_segment_editor_parses_and_checks() {
    let rule = from_text(EXAMPLE).unwrap();
    assert!(matches!(rule.root.kind, NodeKind::All(ref parts) if parts.len() == 3));
}

#[test]
fn and_binds_tighter_than_or_and_parentheses_group() {
    let rule = from_text("has_deposited or country == \"DE\" and age >= 18").unwrap();
    let NodeKind::Any(parts) = &rule.root.kind else { panic!("{:?}", rule.root) };
    assert!(matches!(parts[1].kind, NodeKind::All(_)));
    let rule = from_text("(has_deposited or country == \"DE\") and age >= 18").unwrap();
    assert!(matches!(rule.root.kind, NodeKind::All(_)));
}

#[test]
fn an_unknown_field_is_named_with_a_suggestion() {
    let text = "contry == \"DE\"";
    let e = err(text);
    assert_eq!(pointed(text, &e), "contry");
    assert!(e.message.contains("did you mean `country`"), "{e}");
    assert!(e.render(text).contains("^^^^^^"), "{}", e.render(text));
}

#[test]
fn a_date_compared_with_money_is_refused_at_the_comparison() {
    let text = "registered == 1 and last_deposit > 100 EUR";
    let e = err(text);
    assert!(e.message.contains("cannot compare a number of days") || e.message.contains("cannot compare"), "{e}");
    let text = "last_deposit > 100 EUR";
    let e = err(text);
    assert_eq!(pointed(text, &e), text);
    assert!(e.message.contains("cannot compare a date and time with money"), "{e}");
}

#[test]
fn impossible_windows_and_wrong_uses_of_measures_are_refused() {
    for (text, part, says) in [
        ("deposits_sum(0d) > 0 EUR", "deposits_sum(0d)", "impossible"),
        ("deposits_sum(1000d) > 0 EUR", "deposits_sum(1000d)", "impossible"),
        ("active_days() > 3", "active_days()", "needs a window"),
        ("deposits_sum > 0 EUR", "deposits_sum", "is a measure"),
        ("country() == \"DE\"", "country()", "is a fact"),
        ("deposits_sum(30d) > 100", "deposits_sum(30d) > 100", "money with a number"),
        ("deposits_sum(30d) > 100.123 EUR", "100.123 EUR", "more decimals"),
        ("deposits_sum(30d) > 100 XYZ", "100 XYZ", "ISO 4217"),
        ("days_since_last_session > 14h", "14h", "unit of time"),
        ("country > \"DE\"", "country > \"DE\"", "`==` or `!=`"),
        ("age > sessions()", "age > sessions()", "number of years"),
        ("country in []", "country in []", "empty"),
        ("sessions(7d)", "sessions(7d)", "not a test"),
        ("tags contains 3", "3", "takes a text"),
        ("1 == 1", "1 == 1", "fact about the player"),
    ] {
        let e = err(text);
        assert_eq!(pointed(text, &e), part, "{text}: {e}");
        assert!(e.message.contains(says), "{text}: {e}");
    }
}

#[test]
fn unbalanced_and_unfinished_conditions_point_at_the_problem() {
    for (text, part, says) in [
        ("(country == \"DE\"", "(", "never closed"),
        ("country == \"DE\")", ")", "closes nothing"),
        ("country ==", "", "value is missing"),
        ("country == \"DE", "\"DE", "no closing"),
        ("country == \"DE\" has_deposited", "has_deposited", "join conditions"),
        ("", "", "empty"),
        ("country in [\"DE\" \"AT\"]", "\"AT\"", "`,` or `]`"),
        ("country == \"DE\" and", "", "too early"),
        ("country == \"DE\" ; drop", ";", "no meaning"),
    ] {
        let e = err(text);
        assert_eq!(pointed(text, &e), part, "{text}: {e}");
        assert!(e.message.contains(says), "{text}: {e}");
    }
}

#[test]
fn categories_are_matched_as_stored_and_windows_apply_to_them() {
    let mut p = player();
    p.categories = vec![CategoryPlayed { category: "live".into(), last_played: NOW - 40 * DAY }];
    assert!(holds(r#"categories_played() contains " Live ""#, &p), "trimmed and in lower case");
    assert!(holds(r#"categories_played(60d) contains "live""#, &p));
    assert!(!holds(r#"categories_played(30d) contains "live""#, &p));
    assert!(!holds(r#"churn_risk == "high""#, &p) && !holds(r#"churn_risk != "high""#, &p), "not scored yet");
    p.prediction = Some(Prediction {
        churn_risk: "high".into(),
        active_percent: 12,
        expected_30d: 0.4,
        expected_90d: 1.2,
        predicted_value: 25_000,
    });
    assert!(holds(r#"churn_risk == "high" and active_probability < 20 and predicted_value > 240 EUR"#, &p));
    assert!(holds("expected_deposits_30d < 1 and expected_deposits_90d > 1", &p), "compared as they are");
    assert!(!holds("expected_deposits_90d >= 2", &p));
    assert!(!holds(r#"segments contains "whales""#, &p));
    p.segments = vec!["whales".into()];
    assert!(holds(r#"segments contains "whales""#, &p));
}

#[test]
fn enormous_conditions_are_refused() {
    let deep = format!("{}has_deposited{}", "(".repeat(100), ")".repeat(100));
    assert!(err(&deep).message.contains("nests deeper"));
    let long = vec!["has_deposited"; 3000].join(" or ");
    let e = err(&long);
    assert!(e.message.contains("bytes long") || e.message.contains("parts"), "{e}");
}

#[test]
fn text_and_json_forms_convert_both_ways() {
    let j = text_to_json(EXAMPLE).unwrap();
    assert_eq!(j["all"][1]["compare"]["left"], json!({"measure": "deposits_sum", "window": "30d"}));
    assert_eq!(j["all"][1]["compare"]["right"], json!({"money": "100 EUR"}));
    let text = json_to_text(&j).unwrap();
    assert_eq!(text, EXAMPLE);
    for t in [
        "not (has_deposited or tags contains \"vip\")",
        "country not in [\"DE\"] and (age >= 18 or consent.email == true)",
        "sessions() > 3 and (sessions(7d) > 1 and rounds(7d) > 10)",
        "days_since_last_session >= 14d",
        "categories_played(30d) contains \"live\" and segments contains \"VIP candidates\"",
        "churn_risk in [\"medium\", \"high\"] and predicted_value >= 100 EUR and active_probability < 40",
        "bonus_forfeited(7d) > bonus_converted(7d) or categories_played() contains \"slots\"",
    ] {
        let back = json_to_text(&text_to_json(t).unwrap()).unwrap();
        assert_eq!(back, t);
    }
}

#[test]
fn json_errors_carry_the_path_of_the_faulty_part() {
    let bad = json!({"all": [
        {"compare": {"left": {"field": "country"}, "op": "==", "right": {"text": "DE"}}},
        {"compare": {"left": {"field": "contry"}, "op": "==", "right": {"text": "AT"}}}
    ]});
    let e = from_json(&bad).unwrap_err();
    assert_eq!(e.path.as_deref(), Some("/all/1/compare/left"), "{e:?}");
    assert!(e.message.contains("did you mean `country`"));

    let bad = json!({"all": [{"compare": {"left": {"field": "last_deposit"}, "op": ">", "right": {"money": "100 EUR"}}}, {"is": {"field": "has_deposited"}}]});
    assert_eq!(from_json(&bad).unwrap_err().path.as_deref(), Some("/all/0"));
    let bad = json!({"any": [{"is": {"field": "has_deposited"}}, {"compare": {"left": {"field": "country"}, "op": "~", "right": {"text": "x"}}}]});
    assert_eq!(from_json(&bad).unwrap_err().path.as_deref(), Some("/any/1/compare/op"));
    let bad = json!({"all": [{"is": {"field": "has_deposited"}, "extra": 1}]});
    assert!(from_json(&bad).unwrap_err().message.contains("exactly one key"));
    let bad = json!({"some": []});
    assert!(from_json(&bad).unwrap_err().message.contains("`some` is not a condition"));
    let bad = json!({"all": []});
    assert_eq!(from_json(&bad).unwrap_err().path.as_deref(), Some("/all"));
}

fn eur() -> pitboss_core::money::Currency {
    "EUR".parse().unwrap()
}

const DAY: i64 = 86_400_000_000;
/// 2026-11-23 12:00 UTC.
const NOW: i64 = 1_795_435_200_000_000;

fn player() -> PlayerFacts {
    let today = NOW / DAY;
    PlayerFacts {
        country: "DE".into(),
        brand: "main".into(),
        currency: Some(eur()),
        vip_tier: "none".into(),
        kyc_status: "verified".into(),
        status: "active".into(),
        birth_date: chrono::NaiveDate::from_ymd_opt(2000, 11, 24),
        registered_at: NOW - 400 * DAY,
        tags: vec!["vip".into()],
        lifetime: Lifetime {
            sessions: 10,
            deposit_count: 3,
            deposit_sum: 30_000,
            last_session_at: Some(NOW - 20 * DAY),
            last_deposit_at: Some(NOW - 5 * DAY),
            ..Default::default()
        },
        daily: vec![
            Day { day: today - 5, deposit_count: 1, deposit_sum: 12_000, ..Default::default() },
            Day { day: today - 40, deposit_count: 2, deposit_sum: 18_000, sessions: 3, ..Default::default() },
        ],
        ..Default::default()
    }
}

fn holds(text: &str, facts: &PlayerFacts) -> bool {
    from_text(text).unwrap().holds(facts, NOW, &Rates::new().with("USD".parse().unwrap(), 920_000))
}

#[test]
fn evaluation_reads_profile_windows_and_instants() {
    let p = player();
    assert!(holds(r#"country in ["DE", "AT"] and deposits_sum(30d) >= 100 EUR"#, &p));
    assert!(!holds("deposits_sum(30d) >= 121 EUR", &p));
    assert!(holds("deposits_sum(60d) == 300 EUR and deposits_sum() == 300 EUR", &p));
    assert!(holds("last_session < 14d ago and days_since_last_session == 20d", &p));
    assert!(holds("age == 25", &p), "one day before the 26th birthday");
    assert!(holds("tags contains \"vip\" and has_deposited and not consent.email", &p));
    assert!(holds("active_days(60d) == 1 and sessions(60d) == 3", &p));
    // 100 USD is 92 EUR at the configured rate.
    assert!(holds("deposits_sum(30d) >= 130 USD", &p));
    assert!(!holds("deposits_sum(30d) >= 131 USD", &p));
    // No rate for GBP: never true, in either direction.
    assert!(!holds("deposits_sum(30d) >= 1 GBP", &p));
    assert!(!holds("deposits_sum(30d) < 1 GBP", &p));
    // Unknown facts make a test false, and `not` of it true.
    let mut unknown = player();
    unknown.birth_date = None;
    assert!(!holds("age >= 18", &unknown) && !holds("age < 18", &unknown));
    assert!(holds("not age >= 18", &unknown));
}

#[test]
fn the_trace_says_why() {
    let rule = from_text(EXAMPLE).unwrap();
    let trace = rule.evaluate(&player(), NOW, &Rates::new());
    assert!(!trace.result);
    assert_eq!(trace.children.len(), 3);
    assert!(trace.children[0].result);
    assert_eq!(trace.children[1].detail.as_deref(), Some("deposits_sum(30d) = 120.00 EUR >= 100.00 EUR"));
    assert!(!trace.children[2].result);
    assert!(trace.children[2].detail.as_deref().unwrap().starts_with("last_session = "), "{:?}", trace.children[2]);
}

#[test]
fn event_facts_are_read_on_the_event_path_and_unknown_without_an_event() {
    let rule =
        from_text("event.type == \"game.round\" and event.win_multiple >= 500 and event.win >= 100 EUR").unwrap();
    assert!(rule.reads(catalog::Field::EventWinMultiple));
    assert!(rule.fields().iter().all(|(f, _)| f.about_event()) && rule.reads_only_event_facts());
    assert!(!from_text("event.amount >= 5 EUR and deposits_count(7d) > 2").unwrap().reads_only_event_facts());
    assert!(!from_text("event.amount >= 5 EUR and country == \"DE\"").unwrap().reads_only_event_facts());
    let mut p = player();
    assert!(!rule.holds(&p, NOW, &Rates::new()), "no event: unknown, so false");
    p.event =
        Some(EventFacts { event_type: "game.round".into(), stake: Some(100), win: Some(60_000), ..Default::default() });
    let trace = rule.evaluate(&p, NOW, &Rates::new());
    assert!(trace.result, "{trace:?}");
    assert_eq!(trace.children[1].detail.as_deref(), Some("event.win_multiple = 600 >= 500"));
    p.event.as_mut().unwrap().win = Some(40_000);
    assert!(!rule.holds(&p, NOW, &Rates::new()));

    // Turnover is the stakes in whole percent of the deposits; with no deposits it is unknown.
    let little_play = from_text("recent.deposits_sum >= 100 EUR and recent.turnover < 30").unwrap();
    p.event = Some(EventFacts {
        recent_deposits: 1,
        recent_deposits_sum: 20_000,
        recent_stakes: 5_000,
        ..Default::default()
    });
    assert!(little_play.holds(&p, NOW, &Rates::new()), "25% turned over");
    p.event.as_mut().unwrap().recent_stakes = 6_000;
    assert!(!little_play.holds(&p, NOW, &Rates::new()), "30% turned over");
    p.event.as_mut().unwrap().recent_deposits_sum = 0;
    assert!(!from_text("recent.turnover < 30").unwrap().holds(&p, NOW, &Rates::new()));
    // A fact the event does not carry (no device id) is unknown, not zero.
    assert!(!from_text("shared.device < 1").unwrap().holds(&p, NOW, &Rates::new()));
    p.event.as_mut().unwrap().shared_device = Some(0);
    assert!(from_text("shared.device < 1").unwrap().holds(&p, NOW, &Rates::new()));
}
