//! `schemas/openapi.yaml` and the server describe the same API: every route the server has is
//! documented and every documented operation is served; each answers, with a valid key and a
//! seeded campaign and subscriber, one of its documented statuses and content types; and JSON
//! answers have exactly the documented fields (top level and array items). The one destructive
//! call, `DELETE /v1/tenants/{tenant}`, runs with a throwaway tenant's key.

mod api_common;

use std::collections::BTreeSet;

use api_common::*;
use hyper::Method;
use serde_json::Value;

const SPEC: &str = include_str!("../schemas/openapi.yaml");

fn spec() -> Value {
    serde_yaml::from_str(SPEC).expect("schemas/openapi.yaml is valid YAML")
}

/// Resolves a local `$ref` (`#/components/...`).
fn resolve<'a>(spec: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("only local refs: {reference}"));
            let target = spec
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {reference}"));
            resolve(spec, target)
        }
        None => node,
    }
}

fn documented(spec: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

#[test]
fn every_served_route_is_documented_and_every_documented_one_is_served() {
    let spec = spec();
    assert!(spec["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.")));
    let config = mailpulse_config::Config::load_with_env(None, &[]).expect("default config");
    let served: BTreeSet<(String, String)> = served_router(&config)
        .routes()
        .map(|route| (route.method().to_string(), route.pattern().to_string()))
        .collect();
    let documented = documented(&spec);
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not in schemas/openapi.yaml: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );
}

#[test]
fn every_ref_resolves_and_every_operation_has_an_id() {
    let spec = spec();
    fn walk(spec: &Value, node: &Value) {
        match node {
            Value::Object(map) => {
                if map.contains_key("$ref") {
                    resolve(spec, node);
                }
                map.values().for_each(|child| walk(spec, child));
            }
            Value::Array(items) => items.iter().for_each(|child| walk(spec, child)),
            _ => {}
        }
    }
    walk(&spec, &spec);
    let mut ids = BTreeSet::new();
    for (method, path) in documented(&spec) {
        let id = spec["paths"][&path][method.to_lowercase()]["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id.to_string()), "operationId {id} used twice");
    }
}

/// The set of a JSON object's keys.
fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

/// Checks `value` against an object schema: the same fields, and array items likewise.
fn check_fields(spec: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(spec, schema);
    if schema["type"] != "object" {
        return;
    }
    let properties = schema["properties"].as_object().expect("properties");
    let documented: BTreeSet<String> = properties.keys().cloned().collect();
    assert_eq!(
        keys(value),
        documented,
        "{at}: fields differ from the schema"
    );
    for (name, property) in properties {
        let property = resolve(spec, property);
        if property["type"] == "array" {
            for (i, item) in value[name].as_array().expect("array").iter().enumerate() {
                check_fields(spec, &property["items"], item, &format!("{at}.{name}[{i}]"));
            }
        }
    }
}

/// The campaign, subscriber and throwaway tenant the sweep uses.
const CAMPAIGN: &str = "docs-camp";
const SUBSCRIBER: &str = "docs-sub";
const THROWAWAY: &str = "docs-throwaway";

/// A request body and its content type for an operation that takes one.
fn body_for(method: &str, path: &str, key: &str) -> (String, &'static str) {
    let json = "application/json";
    match (method, path) {
        ("PUT", "/v1/campaigns/{campaign}/deliveries") => (r#"{"delivered": 10}"#.into(), json),
        ("PUT", "/v1/subscribers/{subscriber}/consent") => {
            (r#"{"tracking": "granted"}"#.into(), json)
        }
        ("PUT", "/v1/tracking-policy") => (
            r#"{"basis": "legitimate_interest", "level": null}"#.into(),
            json,
        ),
        ("PUT", "/v1/campaigns/{campaign}/tracking-policy") => {
            (r#"{"level": "pseudonymous"}"#.into(), json)
        }
        ("PUT", "/v1/retention") => (r#"{"days": 400}"#.into(), json),
        ("POST", "/v1/consent/import") => (format!("{SUBSCRIBER},granted\n"), "text/csv"),
        ("POST", "/v1/deliveries") => (
            format!(
                "{{\"v\":1,\"campaign\":\"{CAMPAIGN}\",\"subscriber\":\"{SUBSCRIBER}\",\
                 \"status\":\"delivered\",\"ts_ms\":1772409600000}}\n"
            ),
            "application/x-ndjson",
        ),
        ("POST", "/login") => (
            format!("key={key}&next=/"),
            "application/x-www-form-urlencoded",
        ),
        _ => (String::new(), json),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_answers_as_documented() {
    let mut env = ApiEnv::start_with_kafka("api_openapi").await;
    insert(env.client(), &generate(9, "acme", CAMPAIGN, 400, 30)).await;
    let key = env.key("acme").await;
    let throwaway_key = env.key(THROWAWAY).await;
    // A consent change first, so the consent view, its history items and the export have rows.
    mailpulse_privacy::Privacy::new(&env.config)
        .expect("privacy service")
        .set_consent(
            "acme",
            SUBSCRIBER,
            mailpulse_privacy::Tracking::Granted,
            "test",
        )
        .await
        .expect("consent set");
    let spec = spec();
    let mut checked = 0;
    for (method, path) in documented(&spec) {
        let operation = &spec["paths"][&path][method.to_lowercase()];
        let mut url = path
            .replace("{campaign}", CAMPAIGN)
            .replace("{subscriber}", SUBSCRIBER)
            .replace("{tenant}", THROWAWAY);
        if let Some(dimension) = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolve(&spec, p))
            .find(|p| p["name"] == "dimension")
        {
            let first = dimension["schema"]["enum"][0].as_str().expect("enum");
            url = url.replace("{dimension}", first);
        }
        // Only the throwaway tenant is ever removed.
        let key = if path == "/v1/tenants/{tenant}" {
            &throwaway_key
        } else {
            &key
        };
        let auth = format!("Bearer {key}");
        let (body, content_type) = body_for(&method, &path, key);
        let method_value = Method::from_bytes(method.as_bytes()).expect("method");
        let answer = request(
            env.addr,
            method_value,
            &url,
            &[("authorization", &auth), ("content-type", content_type)],
            &body,
        )
        .await;
        let status = answer.status.as_u16().to_string();
        // Every call of the sweep is a valid one: it must succeed, not merely fail as documented.
        assert!(
            answer.status.as_u16() < 400,
            "{method} {url} failed: {status} {}",
            answer.text()
        );
        let responses = &operation["responses"];
        assert!(
            responses.get(&status).is_some(),
            "{method} {url} answered {status}, documented: {:?}: {}",
            keys(responses),
            answer.text()
        );
        let documented_response = resolve(&spec, &responses[&status]);
        if let Some(content) = documented_response["content"].as_object() {
            let got = answer.headers["content-type"]
                .to_str()
                .expect("content type")
                .to_string();
            assert!(
                content
                    .keys()
                    .any(|documented| got.starts_with(documented.as_str())),
                "{method} {url}: content type {got} not in {:?}",
                content.keys().collect::<Vec<_>>()
            );
            if got.starts_with("application/json") {
                let schema = &content["application/json"]["schema"];
                check_fields(&spec, schema, &answer.json(), &format!("{method} {url}"));
            }
        }
        checked += 1;
    }
    assert!(checked >= 27, "only {checked} operations checked");

    // The served document is this file.
    let served = env.get("/openapi.yaml", &key).await;
    assert_eq!(served.text(), SPEC);

    // Error answers follow the documented Error schema.
    let error = env.get("/v1/campaigns/absent", &key).await;
    let schema = &spec["components"]["schemas"]["Error"];
    check_fields(&spec, schema, &error.json(), "404 error");
    check_fields(
        &spec,
        &schema["properties"]["error"],
        &error.json()["error"],
        "404 error.error",
    );
    // So do the refusals that carry a per-line report.
    for (path, content_type, body, schema_name) in [
        (
            "/v1/deliveries",
            "application/x-ndjson",
            "{\"v\":1,\"tenant\":\"globex\"}\nnot json\n",
            "DeliveriesRefused",
        ),
        (
            "/v1/consent/import?format=csv",
            "text/csv",
            "x1,nope\n",
            "ImportRefused",
        ),
    ] {
        let refused = env.send(Method::POST, path, &key, content_type, body).await;
        assert_eq!(refused.status, 422, "{path}: {}", refused.text());
        let schema = &spec["components"]["schemas"][schema_name];
        check_fields(&spec, schema, &refused.json(), path);
        check_fields(
            &spec,
            &schema["properties"]["report"],
            &refused.json()["report"],
            &format!("{path} report"),
        );
    }
    env.stop().await;
}
