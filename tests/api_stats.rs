//! The statistics API against the real ClickHouse: a seeded stream (inserted into `events`
//! with the store's insert function; the materialized views fill the aggregates) must come
//! back exactly as computed here, every view scoped to the key's tenant, with stable error
//! codes, CSV equal to JSON, and the calls in the audit log.

mod api_common;

use std::collections::BTreeMap;

use api_common::*;
use hyper::Method;
use mailpulse_api::queries;
use mailpulse_store::wire::{compare, describe_query, describe_table};

const TENANT: &str = "acme";
const OTHER: &str = "globex";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_equals_the_seeded_truth() {
    let mut env = ApiEnv::start("api_truth").await;
    let mut events = generate(1, TENANT, "spring-sale", 3_000, 60);
    events.extend(generate(2, TENANT, "newsletter 7/26", 400, 5));
    events.extend(generate(3, OTHER, "spring-sale", 500, 10));
    insert(env.client(), &events).await;
    let truth = Truth::of(&events, TENANT, "spring-sale");
    let key = env.key(TENANT).await;

    // Deliveries not reported yet: delivered and the rates over it are null.
    let summary = env.get("/v1/campaigns/spring-sale", &key).await;
    assert_eq!(summary.status, 200, "{}", summary.text());
    let s = summary.json();
    assert!(s["delivered"].is_null() && s["open_rate"].is_null());
    assert_rate(
        rate(&s, "click_to_open_rate"),
        truth.clicks_unique,
        Some(truth.opens_unique),
        "CTOR without deliveries",
    );

    let put = request(
        env.addr,
        Method::PUT,
        "/v1/campaigns/spring-sale/deliveries",
        &[
            ("authorization", &format!("Bearer {key}")),
            ("content-type", "application/json"),
        ],
        r#"{"delivered": 1200}"#,
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(n(&put.json(), "delivered"), 1200);

    let s = env.get("/v1/campaigns/spring-sale", &key).await.json();
    let t = &truth.totals;
    assert_eq!(s["campaign"], "spring-sale");
    assert_eq!(s["first_day"], "2026-03-02");
    assert_eq!(s["last_day"], "2026-03-04");
    assert_eq!(n(&s, "delivered"), 1200);
    assert_eq!(n(&s, "opens_total"), t.opens);
    assert_eq!(n(&s, "opens_machine"), t.opens_machine);
    assert_eq!(n(&s, "opens_human"), t.opens - t.opens_machine);
    assert_eq!(n(&s, "clicks_total"), t.clicks);
    assert_eq!(n(&s, "clicks_machine"), t.clicks_machine);
    assert_eq!(n(&s, "clicks_human"), t.clicks - t.clicks_machine);
    assert_eq!(n(&s, "unsubscribes"), t.unsubscribes);
    assert_eq!(n(&s, "opens_unique"), truth.opens_unique);
    assert_eq!(n(&s, "opens_unique_human"), truth.opens_unique_human);
    assert_eq!(n(&s, "clicks_unique"), truth.clicks_unique);
    assert_eq!(n(&s, "clicks_unique_human"), truth.clicks_unique_human);
    assert!(
        t.opens_machine > 0 && t.opens > truth.opens_unique,
        "the stream is varied"
    );
    let delivered = Some(1200);
    assert_rate(
        rate(&s, "open_rate"),
        truth.opens_unique,
        delivered,
        "open rate",
    );
    assert_rate(
        rate(&s, "click_through_rate"),
        truth.clicks_unique,
        delivered,
        "CTR",
    );
    assert_rate(
        rate(&s, "click_to_open_rate"),
        truth.clicks_unique,
        Some(truth.opens_unique),
        "CTOR",
    );
    assert_rate(
        rate(&s, "open_rate_human"),
        truth.opens_unique_human,
        delivered,
        "human open rate",
    );
    assert_rate(
        rate(&s, "click_to_open_rate_human"),
        truth.clicks_unique_human,
        Some(truth.opens_unique_human),
        "human CTOR",
    );

    // The list: both of this tenant's campaigns, none of the other's.
    let list = env.get("/v1/campaigns", &key).await.json();
    let names: Vec<&str> = list["campaigns"]
        .as_array()
        .expect("campaigns array")
        .iter()
        .map(|c| c["campaign"].as_str().expect("campaign name"))
        .collect();
    assert_eq!(
        names,
        vec!["spring-sale", "newsletter 7/26"],
        "latest activity first"
    );
    let first = &list["campaigns"][0];
    assert_eq!(n(first, "opens_total"), t.opens);
    assert_eq!(n(first, "clicks_total"), t.clicks);
    assert_eq!(n(first, "delivered"), 1200);
    assert!(list["campaigns"][1]["delivered"].is_null());

    // Links.
    let links = env
        .get("/v1/campaigns/spring-sale/links", &key)
        .await
        .json();
    let links = links["links"].as_array().expect("links array");
    assert_eq!(links.len(), truth.links.len());
    let mut previous = u64::MAX;
    for link in links {
        let name = link["link"].as_str().expect("link id");
        let (url, counts) = &truth.links[name];
        assert_eq!(link["url"].as_str(), Some(url.as_str()));
        assert_eq!(n(link, "clicks_total"), counts.clicks, "{name}");
        assert_eq!(n(link, "clicks_machine"), counts.clicks_machine, "{name}");
        assert_eq!(
            n(link, "clicks_human"),
            counts.clicks - counts.clicks_machine
        );
        assert!(n(link, "clicks_total") <= previous, "most clicked first");
        previous = n(link, "clicks_total");
    }

    // Breakdowns.
    for (dimension, values) in &truth.breakdown {
        let path = format!("/v1/campaigns/spring-sale/breakdown/{dimension}");
        let answer = env.get(&path, &key).await.json();
        assert_eq!(answer["dimension"], *dimension);
        let got: BTreeMap<String, (u64, u64, u64, u64)> = answer["values"]
            .as_array()
            .expect("values array")
            .iter()
            .map(|v| {
                (
                    v["value"].as_str().expect("value").to_string(),
                    (
                        n(v, "opens_total"),
                        n(v, "opens_machine"),
                        n(v, "clicks_total"),
                        n(v, "clicks_machine"),
                    ),
                )
            })
            .collect();
        let expected: BTreeMap<String, (u64, u64, u64, u64)> = values
            .iter()
            .map(|(value, c)| {
                (
                    value.clone(),
                    (c.opens, c.opens_machine, c.clicks, c.clicks_machine),
                )
            })
            .collect();
        assert_eq!(got, expected, "breakdown by {dimension}");
    }

    // Hourly series over an explicit window, empty hours filled with zeros.
    let from = SEED_START + 3 * 3600;
    let to = SEED_START + 20 * 3600;
    let path = format!(
        "/v1/campaigns/spring-sale/timeseries?interval=hour&from={from}&to=2026-03-02T20:30:00Z"
    );
    let series = env.get(&path, &key).await.json();
    assert_eq!(series["from"], "2026-03-02T03:00:00Z");
    assert_eq!(series["to"], "2026-03-02T20:00:00Z");
    let points = series["points"].as_array().expect("points");
    assert_eq!(points.len(), 18);
    for (i, point) in points.iter().enumerate() {
        let hour = from + i as u32 * 3600;
        let counts = truth.hourly.get(&hour).cloned().unwrap_or_default();
        assert_eq!(n(point, "opens_total"), counts.opens, "hour {hour}");
        assert_eq!(
            n(point, "opens_machine"),
            counts.opens_machine,
            "hour {hour}"
        );
        assert_eq!(n(point, "clicks_total"), counts.clicks, "hour {hour}");
        assert_eq!(n(point, "unsubscribes"), counts.unsubscribes, "hour {hour}");
    }
    assert!(to <= SEED_START + 60 * 3600);

    // Daily series over the data's own range.
    let series = env
        .get("/v1/campaigns/spring-sale/timeseries?interval=day", &key)
        .await
        .json();
    let days: Vec<(String, u64, u64)> = series["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| {
            (
                p["bucket"].as_str().expect("bucket").to_string(),
                n(p, "opens_total"),
                n(p, "clicks_total"),
            )
        })
        .collect();
    let expected: Vec<(String, u64, u64)> = truth
        .daily
        .iter()
        .map(|(day, c)| {
            (
                mailpulse_api::time::format_timestamp(*day)[..10].to_string(),
                c.opens,
                c.clicks,
            )
        })
        .collect();
    assert_eq!(days, expected);

    // A campaign id with a slash and a space, percent-encoded.
    let other = Truth::of(&events, TENANT, "newsletter 7/26");
    let s = env
        .get("/v1/campaigns/newsletter%207%2F26", &key)
        .await
        .json();
    assert_eq!(n(&s, "opens_total"), other.totals.opens);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_campaign_answers_not_found_without_data() {
    let mut env = ApiEnv::start("api_scope").await;
    let events = generate(4, TENANT, "secret-launch", 300, 4);
    insert(env.client(), &events).await;
    let owner = env.key(TENANT).await;
    let intruder = env.key(OTHER).await;
    assert!(Truth::of(&events, TENANT, "secret-launch").totals.opens > 0);

    assert_eq!(
        env.get("/v1/campaigns/secret-launch", &owner).await.status,
        200
    );
    for path in [
        "/v1/campaigns/secret-launch",
        "/v1/campaigns/secret-launch/links",
        "/v1/campaigns/secret-launch/breakdown/country",
        "/v1/campaigns/secret-launch/timeseries?interval=hour",
        "/v1/campaigns/secret-launch?format=csv",
    ] {
        let answer = env.get(path, &intruder).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.text());
        assert_eq!(answer.error_code(), "campaign_not_found", "{path}");
        let body = answer.json();
        let keys: Vec<&String> = body.as_object().expect("object").keys().collect();
        assert_eq!(keys, vec!["error"], "{path}: nothing but the error");
        assert_eq!(
            body["error"]["message"], "campaign `secret-launch` not found",
            "{path}"
        );
    }
    // The same answer as a campaign that exists nowhere.
    let nowhere = env.get("/v1/campaigns/no-such-campaign", &intruder).await;
    assert_eq!(nowhere.status, 404);
    assert_eq!(nowhere.error_code(), "campaign_not_found");
    let list = env.get("/v1/campaigns", &intruder).await.json();
    assert_eq!(list["campaigns"], serde_json::json!([]));
    // A delivery report by the intruder lands in its own tenant, not the owner's.
    let put = request(
        env.addr,
        Method::PUT,
        "/v1/campaigns/secret-launch/deliveries",
        &[("authorization", &format!("Bearer {intruder}"))],
        r#"{"delivered": 5}"#,
    )
    .await;
    assert_eq!(put.status, 200);
    let owner_view = env.get("/v1/campaigns/secret-launch", &owner).await.json();
    assert!(owner_view["delivered"].is_null());
    let intruder_view = env
        .get("/v1/campaigns/secret-launch", &intruder)
        .await
        .json();
    assert_eq!(n(&intruder_view, "delivered"), 5);
    assert_eq!(n(&intruder_view, "opens_total"), 0);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_parameters_fail_with_stable_codes() {
    let mut env = ApiEnv::start("api_errors").await;
    insert(env.client(), &generate(5, TENANT, "c1", 50, 2)).await;
    let key = env.key(TENANT).await;
    // Each header set is refused with 401 `invalid_api_key` and a challenge.
    let header_sets: [Vec<(&str, String)>; 4] = [
        vec![],
        vec![("authorization", "Bearer not-a-key".into())],
        vec![("authorization", format!("Bearer {}", "A".repeat(43)))],
        vec![("authorization", format!("Basic {key}"))],
    ];
    for headers in &header_sets {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = request(env.addr, Method::GET, "/v1/campaigns", &headers, "").await;
        assert_eq!(answer.status, 401, "{headers:?}");
        assert_eq!(answer.error_code(), "invalid_api_key");
        assert!(answer.headers.contains_key("www-authenticate"));
    }
    for (path, status, code) in [
        (
            "/v1/campaigns/c1/breakdown/planet",
            400,
            "invalid_parameter",
        ),
        (
            "/v1/campaigns/c1/timeseries?interval=week",
            400,
            "invalid_parameter",
        ),
        (
            "/v1/campaigns/c1/timeseries?from=yesterday",
            400,
            "invalid_parameter",
        ),
        (
            "/v1/campaigns/c1/timeseries?from=2026-03-02&to=2026-03-01",
            400,
            "invalid_parameter",
        ),
        (
            "/v1/campaigns/c1/timeseries?interval=hour&from=2020-01-01&to=2026-01-01",
            400,
            "invalid_parameter",
        ),
        ("/v1/campaigns/c1?format=xml", 400, "invalid_parameter"),
        ("/v1/campaigns/c2", 404, "campaign_not_found"),
        ("/v1/nothing-here", 404, "not_found"),
    ] {
        let answer = env.get(path, &key).await;
        assert_eq!(answer.status, status, "{path}: {}", answer.text());
        assert_eq!(answer.error_code(), code, "{path}");
        let message = answer.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(!message.is_empty(), "{path} explains itself");
    }
    let auth = format!("Bearer {key}");
    let wrong_method = request(
        env.addr,
        Method::POST,
        "/v1/campaigns/c1",
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.headers["allow"], "GET, HEAD");
    for body in [r#"{"delivered": -1}"#, r#"{"sent": 3}"#, "nope"] {
        let answer = request(
            env.addr,
            Method::PUT,
            "/v1/campaigns/c1/deliveries",
            &[("authorization", &auth)],
            body,
        )
        .await;
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(answer.error_code(), "invalid_parameter");
    }
    let huge = format!(r#"{{"delivered": 1, "pad": "{}"}}"#, "x".repeat(100_000));
    let answer = request(
        env.addr,
        Method::PUT,
        "/v1/campaigns/c1/deliveries",
        &[("authorization", &auth)],
        &huge,
    )
    .await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.error_code(), "payload_too_large");
    // The dashboard cookie is refused for a state-changing call.
    let cookie = format!("mailpulse_key={key}");
    let answer = request(
        env.addr,
        Method::PUT,
        "/v1/campaigns/c1/deliveries",
        &[("cookie", &cookie)],
        r#"{"delivered": 1}"#,
    )
    .await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        request(
            env.addr,
            Method::GET,
            "/v1/campaigns",
            &[("cookie", &cookie)],
            ""
        )
        .await
        .status,
        200,
        "the cookie works for reads"
    );

    // A revoked key stops working once the key cache expires.
    let tenant = mailpulse_api::TenantId::parse(TENANT).expect("tenant");
    let listed = mailpulse_api::tenant::list_keys(env.client())
        .await
        .expect("list keys");
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].revoked);
    let revoked = mailpulse_api::tenant::revoke_key(env.client(), &tenant, &listed[0].key_id)
        .await
        .expect("revoke");
    assert!(revoked);
    tokio::time::sleep(TEST_KEY_TTL * 2).await;
    let answer = env.get("/v1/campaigns", &key).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.error_code(), "invalid_api_key");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_exports_carry_the_same_numbers_as_json() {
    let mut env = ApiEnv::start("api_csv").await;
    insert(env.client(), &generate(6, TENANT, "csv-camp", 600, 30)).await;
    let key = env.key(TENANT).await;
    for (path, array) in [
        ("/v1/campaigns", Some("campaigns")),
        ("/v1/campaigns/csv-camp", None),
        ("/v1/campaigns/csv-camp/links", Some("links")),
        (
            "/v1/campaigns/csv-camp/breakdown/email_client",
            Some("values"),
        ),
        (
            "/v1/campaigns/csv-camp/timeseries?interval=hour",
            Some("points"),
        ),
    ] {
        let json = env.get(path, &key).await.json();
        let rows: Vec<serde_json::Value> = match array {
            Some(field) => json[field].as_array().expect("rows").clone(),
            None => vec![json.clone()],
        };
        assert!(!rows.is_empty(), "{path} has rows");
        let separator = if path.contains('?') { '&' } else { '?' };
        let by_param = env.get(&format!("{path}{separator}format=csv"), &key).await;
        let auth = format!("Bearer {key}");
        let by_accept = request(
            env.addr,
            Method::GET,
            path,
            &[("authorization", &auth), ("accept", "text/csv")],
            "",
        )
        .await;
        assert_eq!(by_param.body, by_accept.body, "{path}: both ways agree");
        assert!(by_param.headers["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/csv")));
        let mut reader = csv::Reader::from_reader(by_param.body.as_ref());
        let header: Vec<String> = reader
            .headers()
            .expect("CSV header")
            .iter()
            .map(str::to_string)
            .collect();
        let fields: Vec<String> = rows[0]
            .as_object()
            .expect("row object")
            .keys()
            .cloned()
            .collect();
        let mut sorted_header = header.clone();
        sorted_header.sort();
        assert_eq!(
            sorted_header, fields,
            "{path}: CSV columns are the JSON fields"
        );
        let records: Vec<csv::StringRecord> = reader
            .records()
            .collect::<Result<_, _>>()
            .expect("CSV records");
        assert_eq!(records.len(), rows.len(), "{path}");
        for (record, row) in records.iter().zip(&rows) {
            for (column, cell) in header.iter().zip(record.iter()) {
                let expected = match &row[column] {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                assert_eq!(cell, expected, "{path} column {column}");
            }
        }
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_written_to_the_audit_log_with_the_key_id() {
    let mut env = ApiEnv::start("api_audit").await;
    insert(env.client(), &generate(7, TENANT, "audited", 40, 2)).await;
    let key = env.key(TENANT).await;
    let key_id = mailpulse_api::tenant::list_keys(env.client())
        .await
        .expect("keys")[0]
        .key_id
        .clone();
    assert_eq!(env.get("/v1/campaigns/audited", &key).await.status, 200);
    assert_eq!(env.get("/v1/campaigns/missing", &key).await.status, 404);
    env.stop().await; // writes the queue
    let client = env.client();
    #[derive(Debug, serde::Deserialize, clickhouse::Row)]
    struct Logged {
        tenant: String,
        actor: String,
        action: String,
        subject: String,
        outcome: String,
    }
    let rows = client
        .query("SELECT tenant, actor, action, subject, outcome FROM audit_log ORDER BY outcome")
        .fetch_all::<Logged>()
        .await
        .expect("audit rows");
    let summary: Vec<(&str, &str, &str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r.tenant.as_str(),
                r.actor.as_str(),
                r.action.as_str(),
                r.subject.as_str(),
                r.outcome.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (TENANT, key_id.as_str(), "stats.summary", "", "not_found"),
            (TENANT, key_id.as_str(), "stats.summary", "", "ok"),
        ]
    );
}

/// Every query's row struct against the server's result header, and every written row
/// against its table (the client runs without validation, so a mismatch would silently
/// misread).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_types_match_their_queries_and_tables() {
    let mut env = ApiEnv::start("api_rows").await;
    let client = env.client();
    let bind = |sql: &str, values: &[&str]| {
        let mut sql = sql.to_string();
        for value in values {
            sql = sql.replacen('?', value, 1);
        }
        sql
    };
    type Check = Box<dyn Fn(&[(String, String)]) -> Vec<String>>;
    let totals: fn() -> Check = || Box::new(|c| compare(&queries::TotalsRow::default(), c));
    let buckets: fn() -> Check = || Box::new(|c| compare(&queries::BucketRow::default(), c));
    let checks: Vec<(String, Check)> = vec![
        (bind(&queries::totals_sql(), &["'t'", "'c'"]), totals()),
        (bind(&queries::campaigns_sql(), &["'t'", "10"]), totals()),
        (
            bind(queries::DELIVERIES_SQL, &["'t'", "'c'"]),
            Box::new(|c| compare(&queries::DeliveriesRow::default(), c)),
        ),
        (
            bind(queries::ALL_DELIVERIES_SQL, &["'t'"]),
            Box::new(|c| compare(&queries::DeliveriesRow::default(), c)),
        ),
        (
            bind(queries::RECIPIENTS_SQL, &["'t'", "'c'", "'t'", "'c'"]),
            Box::new(|c| compare(&queries::RecipientsRow::default(), c)),
        ),
        (
            bind(queries::ALL_RECIPIENTS_SQL, &["'t'"]),
            Box::new(|c| compare(&queries::DeliveriesRow::default(), c)),
        ),
        (
            bind(queries::LINKS_SQL, &["'t'", "'c'", "10"]),
            Box::new(|c| compare(&queries::LinkRow::default(), c)),
        ),
        (
            bind(queries::BREAKDOWN_SQL, &["'t'", "'c'", "'country'", "10"]),
            Box::new(|c| compare(&queries::BreakdownRow::default(), c)),
        ),
        (
            bind(&queries::hourly_sql(), &["'t'", "'c'", "0", "4000000000"]),
            buckets(),
        ),
        (
            bind(
                &queries::daily_sql(),
                &["'t'", "'c'", "'1970-01-02'", "'2100-01-01'"],
            ),
            buckets(),
        ),
        (
            bind(queries::UNIQUES_SQL, &["'t'", "'c'"]),
            Box::new(|c| compare(&queries::UniquesRow::default(), c)),
        ),
        (
            mailpulse_api::tenant::LATEST_KEYS_SQL.to_string(),
            Box::new(|c| compare(&mailpulse_api::tenant::LatestKeyRow::default(), c)),
        ),
    ];
    for (sql, check) in &checks {
        let columns = describe_query(client, sql).await.expect("query header");
        let problems = check(&columns);
        assert!(problems.is_empty(), "{sql}\n{problems:#?}");
    }
    let table = |name: &'static str| async move {
        describe_table(client, name).await.expect("describe table")
    };
    let written = [
        (
            "audit_log",
            compare(
                &mailpulse_api::audit::AuditRow::default(),
                &table("audit_log").await,
            ),
        ),
        (
            "campaign_deliveries",
            compare(
                &queries::DeliveryReport::default(),
                &table("campaign_deliveries").await,
            ),
        ),
        (
            "tenants",
            compare(
                &mailpulse_api::tenant::KeyVersionRow::default(),
                &table("tenants").await,
            ),
        ),
    ];
    for (name, problems) in written {
        assert!(problems.is_empty(), "{name}: {problems:#?}");
    }
    env.stop().await;
}
