//! Validation of one event: each field named, in order; wrong JSON types are rejected
//! per field, never for the whole item or batch.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::engagement::event::Revenue;

pub(crate) fn signer() -> Signer {
    Signer::new(b"engagement-tests-engagement-tests-engagement")
}

pub(crate) const NOW: &str = "2026-11-23T12:00:00Z";

pub(crate) fn token(signer: &Signer) -> String {
    let now: DateTime<Utc> = NOW.parse().unwrap();
    signer.tracking_token(
        "home.hero",
        "home-hero-default",
        1,
        "web",
        "mobile",
        "fr",
        3,
        crate::tokens::Validity {
            issued_at: (now - Duration::days(20)).timestamp() as u64,
            expires_at: (now + Duration::hours(1)).timestamp() as u64,
        },
    )
}

/// A batch's context in these tests: `visitor-1` from the network `net:test`.
pub(crate) fn context<'a>(
    signer: &'a Signer,
    names: &'a SourceNamer,
    person_keys: &'a HashMap<String, String>,
    server_key: Option<&'a str>,
    traffic: TrafficClass,
) -> EventContext<'a> {
    EventContext {
        signer,
        now: NOW.parse().unwrap(),
        batch_person: Some("visitor-1"),
        person_keys,
        verified_person: None,
        origin: Origin {
            network: "net:test",
            server_key,
            traffic,
            names,
        },
    }
}

pub(crate) fn parse_with(
    value: serde_json::Value,
    traffic: TrafficClass,
) -> Result<NewEvent, Rejection> {
    let signer = signer();
    let names = SourceNamer::new(b"engagement-tests");
    let nobody_known = HashMap::new();
    parse_event(
        0,
        &value,
        &context(&signer, &names, &nobody_known, None, traffic),
    )
}

pub(crate) fn parse(value: serde_json::Value) -> Result<NewEvent, Rejection> {
    parse_with(value, TrafficClass::Human)
}

#[test]
fn only_a_vouched_for_person_is_a_source_of_their_own() {
    let signer = signer();
    let names = SourceNamer::new(b"engagement-tests");
    let known = HashMap::from([("known-1".to_string(), "p:42".to_string())]);
    let source = |anonymous_id: &str, server_key: Option<&str>| {
        let ctx = context(&signer, &names, &known, server_key, TrafficClass::Unknown);
        let event = serde_json::json!({"event_id": "e", "type": "click",
            "tracking_token": token(&signer), "anonymous_id": anonymous_id});
        parse_event(0, &event, &ctx).unwrap().source
    };
    // Under a server key, a person the graph knows is their own source...
    assert_eq!(source("known-1", Some("key:k")), names.person("p:42"));
    // ...an id anyone could make up is the key's word only, and without a key the
    // network's.
    assert_eq!(source("made-up-1", Some("key:k")), "key:k");
    assert_eq!(source("made-up-2", Some("key:k")), "key:k");
    assert_eq!(source("known-1", None), "net:test");
}

#[test]
fn expired_tokens_and_events_before_the_decision_are_rejected() {
    let s = signer();
    let now: DateTime<Utc> = NOW.parse().unwrap();
    let expired = s.tracking_token(
        "home.hero",
        "v",
        1,
        "web",
        "desktop",
        "en",
        1,
        crate::tokens::Validity {
            issued_at: (now - Duration::days(2)).timestamp() as u64,
            expires_at: (now - Duration::days(1)).timestamp() as u64,
        },
    );
    let rejection =
        parse(serde_json::json!({"event_id": "e", "type": "click", "tracking_token": expired}))
            .unwrap_err();
    assert_eq!(rejection.field, "tracking_token");
    assert!(rejection.reason.contains("expired"), "{}", rejection.reason);
    let backdated = parse(serde_json::json!({"event_id": "e", "type": "click",
        "tracking_token": token(&s), "occurred_at": "2026-11-01T00:00:00Z"}))
    .unwrap_err();
    assert_eq!(backdated.field, "occurred_at");
}

#[test]
fn a_conversion_takes_its_decision_from_the_token() {
    let t = token(&signer());
    let event = parse(serde_json::json!({
        "event_id": "e-1", "type": "conversion", "tracking_token": t,
        "occurred_at": "2026-11-23T11:59:00Z",
        "revenue": {"amount": "12.50", "currency": "EUR"},
        "placement": "forged.placement"
    }))
    .unwrap();
    assert_eq!(event.decision.placement, "home.hero");
    assert_eq!(
        event.revenue,
        Some(Revenue {
            minor: 1250,
            currency: "EUR".into()
        })
    );
    assert_eq!(event.person_key.as_deref(), Some("anon:visitor-1"));
}

#[test]
fn each_bad_field_is_named() {
    let t = token(&signer());
    let cases = [
        (
            serde_json::json!({"type": "click", "tracking_token": t}),
            "event_id",
        ),
        (
            serde_json::json!({"event_id": "a b", "type": "click", "tracking_token": t}),
            "event_id",
        ),
        (
            serde_json::json!({"event_id": "e", "type": "teleport", "tracking_token": t}),
            "type",
        ),
        (
            serde_json::json!({"event_id": "e", "type": "click", "tracking_token": "x.y.z"}),
            "tracking_token",
        ),
        (
            serde_json::json!({"event_id": "e", "type": "click", "tracking_token": t, "occurred_at": "2026-11-23T12:10:00Z"}),
            "occurred_at",
        ),
        (
            serde_json::json!({"event_id": "e", "type": "click", "tracking_token": t, "occurred_at": "2026-09-01T00:00:00Z"}),
            "occurred_at",
        ),
        (
            serde_json::json!({"event_id": "e", "type": "conversion", "tracking_token": t, "revenue": {"amount": "-1.00", "currency": "EUR"}}),
            "revenue.amount",
        ),
        (
            serde_json::json!({"event_id": "e", "type": "conversion", "tracking_token": t, "revenue": {"amount": "1.005", "currency": "EUR"}}),
            "revenue.amount",
        ),
        (
            serde_json::json!({"event_id": "e", "type": "conversion", "tracking_token": t, "revenue": {"amount": "1", "currency": "EURO"}}),
            "revenue.currency",
        ),
        (
            serde_json::json!({"event_id": "e", "type": "feedback", "tracking_token": t, "feedback": {"kind": "nps", "score": 11}}),
            "feedback.score",
        ),
        (
            serde_json::json!({"event_id": "e", "type": "feedback", "tracking_token": t, "feedback": {"kind": "csat", "score": 0}}),
            "feedback.score",
        ),
        (
            serde_json::json!({"event_id": "e", "type": "feedback", "tracking_token": t}),
            "feedback",
        ),
    ];
    for (event, field) in cases {
        let rejection = parse(event.clone()).expect_err(&event.to_string());
        assert_eq!(rejection.field, field, "{event}: {}", rejection.reason);
    }
}

#[test]
fn amounts_are_exact_in_minor_units() {
    assert_eq!(parse_amount("12.5", 2), Ok(1250));
    assert_eq!(parse_amount("0.01", 2), Ok(1));
    assert_eq!(parse_amount("1500", 0), Ok(1500));
    assert_eq!(parse_amount("1.234", 3), Ok(1234));
    assert!(parse_amount("1.2.3", 2).is_err());
    assert!(parse_amount("", 2).is_err());
    assert!(parse_amount("99999999999999999999", 2).is_err());
    assert!(
        parse_amount("10000000001", 2).is_err(),
        "over the per-event ceiling"
    );
}

#[test]
fn a_field_of_the_wrong_type_is_rejected_by_name_with_its_reason() {
    let t = token(&signer());
    let feedback = serde_json::json!({"event_id": "e", "type": "feedback", "tracking_token": t,
        "feedback": {"kind": "nps", "score": 9}});
    let conversion = serde_json::json!({"event_id": "e", "type": "conversion", "tracking_token": t,
        "revenue": {"amount": "1.00", "currency": "EUR"}});
    let object = "must be an object {\"kind\", \"score\", \"comment\"}";
    let revenue_object = "must be an object {\"amount\", \"currency\"}";
    #[rustfmt::skip]
    let cases = [
        (&feedback, "event_id", serde_json::json!(1), "event_id", "must be a string"),
        (&feedback, "type", serde_json::json!(true), "type", "must be a string"),
        (&feedback, "tracking_token", serde_json::json!([]), "tracking_token", "must be a string"),
        (&feedback, "occurred_at", serde_json::json!(5), "occurred_at", "must be a string"),
        (&feedback, "anonymous_id", serde_json::json!({}), "anonymous_id", "must be a string"),
        (&feedback, "feedback", serde_json::json!(9), "feedback", object),
        (&feedback, "feedback", serde_json::json!(["nps", 9]), "feedback", object),
        (&feedback, "feedback", serde_json::json!(null), "feedback", "is required for a feedback event"),
        (&feedback, "feedback", serde_json::json!({"kind": ["nps"], "score": 9}), "feedback.kind", "must be csat, nps or ces"),
        (&feedback, "feedback", serde_json::json!({"kind": "nps", "score": 9.5}), "feedback.score", "is required, as a whole number"),
        (&feedback, "feedback", serde_json::json!({"kind": "nps", "score": "9"}), "feedback.score", "is required, as a whole number"),
        (&feedback, "feedback", serde_json::json!({"kind": "nps", "score": 9, "comment": 1}), "feedback.comment", "must be a string"),
        (&conversion, "revenue", serde_json::json!("12"), "revenue", revenue_object),
        (&conversion, "revenue", serde_json::json!(["12", "EUR"]), "revenue", revenue_object),
        (&conversion, "revenue", serde_json::json!({"amount": true, "currency": "EUR"}), "revenue.amount", "is required, as a decimal string like \"12.50\""),
        (&conversion, "revenue", serde_json::json!({"amount": "1", "currency": 978}), "revenue.currency", "is required (ISO 4217, e.g. \"EUR\")"),
    ];
    for (base, key, value, field, reason) in cases {
        let mut event = base.clone();
        event[key] = value;
        let rejection = parse(event.clone()).expect_err(&event.to_string());
        assert_eq!(
            (rejection.field.as_str(), rejection.reason.as_str()),
            (field, reason),
            "{event}"
        );
    }
    let rejection = parse(serde_json::json!(["e", "click"])).unwrap_err();
    assert_eq!(
        (rejection.field.as_str(), rejection.reason.as_str()),
        ("", "an event must be a JSON object")
    );
}

#[test]
fn the_first_problem_in_the_checks_order_wins() {
    // A wrong type later in the event does not hide an earlier problem, whatever the
    // order of the fields in the document.
    let event = serde_json::json!({"feedback": {"kind": "nps", "score": "x"}, "occurred_at": 1,
        "type": "feedback", "tracking_token": token(&signer())});
    assert_eq!(parse(event).unwrap_err().field, "event_id");
    let event = serde_json::json!({"feedback": {"score": "x", "kind": "nps"}, "occurred_at": 1,
        "event_id": "e", "type": "feedback", "tracking_token": token(&signer())});
    assert_eq!(parse(event).unwrap_err().field, "occurred_at");
}

#[test]
fn an_amount_may_be_a_json_number() {
    let event = parse(serde_json::json!({"event_id": "e", "type": "conversion",
        "tracking_token": token(&signer()), "revenue": {"amount": 12.5, "currency": "EUR"}}))
    .unwrap();
    assert_eq!(event.revenue.map(|r| r.minor), Some(1250));
}
