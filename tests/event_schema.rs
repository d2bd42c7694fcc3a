//! Contract test: the JSON Schemas in `schemas/` and the Rust types that produce and consume
//! the topics' payloads agree — same fields, same required fields, same enum values — and every
//! example payload decodes and round-trips.

use std::collections::BTreeSet;
use std::path::Path;

use mailpulse_event::{
    ConsentRecord, ConsentState, Event, EventKind, Geo, MarketingConsent, Network, NetworkClass,
    TrackingLevel,
};
use serde_json::Value;

fn read_json(relative: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn enum_values<T: serde::Serialize>(variants: &[T]) -> BTreeSet<String> {
    variants
        .iter()
        .map(|v| {
            serde_json::to_value(v)
                .expect("serialise")
                .as_str()
                .expect("string")
                .to_owned()
        })
        .collect()
}

fn examples(prefix: &str) -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/examples");
    let mut found: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .expect("schemas/examples")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(prefix) && name.ends_with(".json"))
        .map(|name| {
            let value = read_json(&format!("schemas/examples/{name}"));
            (name, value)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!found.is_empty(), "no {prefix}* examples");
    found
}

/// An event with every optional field set, so serialisation shows every field.
fn full_event() -> Event {
    Event::from_json(
        &serde_json::to_vec(&read_json("schemas/examples/event.click.json")).expect("bytes"),
    )
    .map(|mut event| {
        event.geo = Geo {
            country: Some("DE".into()),
            region: Some("BE".into()),
            city: Some("Berlin".into()),
        };
        event.network = Network {
            asn: Some(3320),
            org: Some("Deutsche Telekom AG".into()),
            class: NetworkClass::Other,
            prefix: Some("93.184.216.0/24".into()),
        };
        event.head = true;
        event.dnt = true;
        event.gpc = true;
        event.end_pixel = true;
        event
    })
    .expect("click example decodes")
}

#[test]
fn event_fields_match_the_schema_exactly() {
    let schema = read_json("schemas/event.v1.json");
    let props = &schema["properties"];
    let serialised = serde_json::to_value(full_event()).expect("serialise");
    assert_eq!(keys(&serialised), keys(props), "top-level fields");
    assert_eq!(
        keys(&serialised["geo"]),
        keys(&props["geo"]["properties"]),
        "geo fields"
    );
    assert_eq!(
        keys(&serialised["network"]),
        keys(&props["network"]["properties"]),
        "network fields"
    );
    assert_eq!(
        strings(&props["type"]["enum"]),
        enum_values(&[EventKind::Open, EventKind::Click, EventKind::Unsubscribe])
    );
    assert_eq!(
        strings(&props["network"]["properties"]["class"]["enum"]),
        enum_values(&[
            NetworkClass::Apple,
            NetworkClass::Google,
            NetworkClass::Microsoft,
            NetworkClass::Yahoo,
            NetworkClass::Hosting,
            NetworkClass::Other,
        ])
    );
    assert_eq!(
        props["v"]["const"],
        serde_json::json!(mailpulse_event::EVENT_SCHEMA_VERSION)
    );
}

#[test]
fn event_examples_decode_round_trip_and_need_exactly_the_required_fields() {
    let schema = read_json("schemas/event.v1.json");
    let required = strings(&schema["required"]);
    let click_required = strings(&schema["then"]["required"]);
    for (name, example) in examples("event.") {
        let bytes = serde_json::to_vec(&example).expect("bytes");
        let event = Event::from_json(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let again: Value = serde_json::from_slice(&event.to_json()).expect("json");
        assert_eq!(again, example, "{name} round-trips unchanged");

        let mut needed = required.clone();
        if example["type"] == "click" {
            needed.extend(click_required.iter().cloned());
        }
        for field in keys(&example) {
            let mut without = example.clone();
            without.as_object_mut().expect("object").remove(&field);
            let decoded = Event::from_json(&serde_json::to_vec(&without).expect("bytes"));
            assert_eq!(
                decoded.is_err(),
                needed.contains(&field),
                "{name} without `{field}`: the schema says required = {}",
                needed.contains(&field)
            );
        }
    }
}

#[test]
fn the_decoder_enforces_the_schema_s_value_rules() {
    let example = read_json("schemas/examples/event.open.json");
    for (field, bad) in [
        ("visitor", serde_json::json!("not-hex")),
        ("tenant", serde_json::json!("")),
        ("subscriber", serde_json::json!("x".repeat(257))),
        ("v", serde_json::json!(2)),
        ("type", serde_json::json!("bounce")),
    ] {
        let mut payload = example.clone();
        payload[field] = bad.clone();
        assert!(
            Event::from_json(&serde_json::to_vec(&payload).expect("bytes")).is_err(),
            "{field} = {bad} accepted"
        );
    }
}

#[test]
fn consent_fields_and_examples_match_the_schema() {
    let schema = read_json("schemas/consent.v1.json");
    let props = &schema["properties"];
    let full = ConsentRecord {
        v: 1,
        tenant: "acme".into(),
        subscriber: "s".into(),
        state: ConsentState::Granted,
        level: Some(TrackingLevel::Pseudonymous),
        ts_ms: 1,
        source: "api".into(),
        marketing: Some(MarketingConsent::Subscribed),
    };
    assert_eq!(
        keys(&serde_json::to_value(&full).expect("json")),
        keys(props)
    );
    assert_eq!(
        strings(&props["state"]["enum"]),
        enum_values(&[
            ConsentState::Granted,
            ConsentState::Denied,
            ConsentState::Restricted
        ])
    );
    assert_eq!(
        strings(&props["level"]["enum"]),
        enum_values(&[
            TrackingLevel::Off,
            TrackingLevel::Anonymous,
            TrackingLevel::Pseudonymous,
            TrackingLevel::Identified,
        ])
    );
    assert_eq!(
        strings(&props["marketing"]["enum"]),
        enum_values(&[MarketingConsent::Subscribed, MarketingConsent::Unsubscribed])
    );
    let required = strings(&schema["required"]);
    for (name, example) in examples("consent.") {
        let record = ConsentRecord::from_json(&serde_json::to_vec(&example).expect("bytes"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            serde_json::to_value(&record).expect("json"),
            example,
            "{name} round-trips"
        );
        for field in keys(&example) {
            let mut without = example.clone();
            without.as_object_mut().expect("object").remove(&field);
            let decoded = ConsentRecord::from_json(&serde_json::to_vec(&without).expect("bytes"));
            assert_eq!(
                decoded.is_err(),
                required.contains(&field),
                "{name} without `{field}`"
            );
        }
    }
}
