//! The edge against the real broker: events in the topic, no IP anywhere, forged tokens and
//! open-redirect attempts refused.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{get, path_of, request, RunningEdge};
use hyper::{Method, StatusCode};
use mailpulse_event::{Event, EventKind};
use mailpulse_testkit::{consume, test_config, TestTopic};
use mailpulse_token::{KeyRing, UrlMinter};

fn minter(config: &mailpulse_config::Config) -> UrlMinter {
    let keys = KeyRing::parse(&config.keys.signing, &config.keys.active).expect("keys");
    UrlMinter::new("http://edge.test", keys).expect("minter")
}

async fn edge_with_topics(
    prefix: &str,
) -> (mailpulse_config::Config, TestTopic, TestTopic, RunningEdge) {
    let mut config = test_config(prefix).expect("stack");
    config.edge.trusted_proxies = vec!["127.0.0.1/32".into()];
    let events = TestTopic::with_name(&config.kafka.events_topic, 3)
        .await
        .expect("events topic");
    let salt = TestTopic::with_name(&config.kafka.salt_topic, 1)
        .await
        .expect("salt topic");
    let edge = RunningEdge::start(&config).await;
    (config, events, salt, edge)
}

/// Public addresses with known GeoIP answers (DB-IP country database).
const CLIENT_IPS: [(&str, &str); 4] = [
    ("8.8.8.8", "US"),
    ("81.20.145.1", "EE"),
    ("1.1.1.1", "AU"),
    ("2a00:1450:4001:81c::200e", "DE"),
];

#[tokio::test(flavor = "multi_thread")]
async fn pixel_hits_from_distinct_ips_become_exactly_n_open_events_and_no_ip_reaches_kafka() {
    let (config, events, _salt, edge) = edge_with_topics("edge_pixels").await;
    let minter = minter(&config);
    let hits = 24;
    let mut client_ips = Vec::new();
    for i in 0..hits {
        // Distinct addresses: the known ones, then a spread of other public ones.
        let ip = match CLIENT_IPS.get(i) {
            Some((ip, _)) => ip.to_string(),
            None => format!("93.184.{}.{}", 200 + i % 50, 10 + i),
        };
        let url = minter
            .pixel_url("acme", "spring", &format!("sub-{i}"))
            .expect("sign");
        let response = get(
            edge.addr,
            &format!("{}.gif", path_of(&url)),
            &[
                ("x-forwarded-for", ip.as_str()),
                ("user-agent", "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15"),
                ("dnt", if i.is_multiple_of(2) { "1" } else { "0" }),
                ("sec-gpc", "1"),
            ],
        )
        .await;
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(response.body.as_ref(), mailpulse_edge::PIXEL_GIF);
        assert_eq!(response.headers["content-type"], "image/gif");
        client_ips.push(ip);
    }
    // A HEAD fetches no image: no open.
    let url = minter
        .pixel_url("acme", "spring", "head-only")
        .expect("sign");
    let head = request(edge.addr, Method::HEAD, &path_of(&url), &[]).await;
    assert_eq!(head.status, StatusCode::OK);

    // Wait for every expected event, then look a little longer for an extra one.
    consume(events.name(), hits, Duration::from_secs(20))
        .await
        .expect("consume");
    let messages = consume(events.name(), hits + 1, Duration::from_secs(3))
        .await
        .expect("consume");
    assert_eq!(messages.len(), hits, "exactly one event per pixel hit");
    let mut ids = HashSet::new();
    let mut subscribers = HashSet::new();
    for message in &messages {
        let payload = message.payload.as_deref().expect("payload");
        let event = Event::from_json(payload).expect("valid event");
        assert_eq!(event.kind, EventKind::Open);
        assert_eq!(
            (event.tenant.as_str(), event.campaign.as_str()),
            ("acme", "spring")
        );
        assert!(event.gpc);
        assert_eq!(event.visitor.len(), 32);
        assert_eq!(
            message.key.as_deref(),
            Some(event.partition_key().as_bytes())
        );
        let index: usize = event.subscriber["sub-".len()..]
            .parse()
            .expect("subscriber index");
        assert_eq!(event.dnt, index.is_multiple_of(2), "DNT recorded as sent");
        if let Some((_, country)) = CLIENT_IPS.get(index) {
            assert_eq!(
                event.geo.country.as_deref(),
                Some(*country),
                "geo of {}",
                client_ips[index]
            );
        }
        assert!(ids.insert(event.id), "event ids are unique");
        subscribers.insert(event.subscriber);
    }
    assert_eq!(subscribers.len(), hits);

    // No IP string, in any common spelling, anywhere in the topic's bytes.
    let all_bytes: Vec<u8> = messages
        .iter()
        .flat_map(|m| m.key.iter().chain(m.payload.iter()).flatten().copied())
        .collect();
    let haystack = String::from_utf8_lossy(&all_bytes);
    for ip in &client_ips {
        assert!(!haystack.contains(ip.as_str()), "{ip} leaked into Kafka");
    }
    assert!(
        !haystack.contains("2a00:1450"),
        "IPv6 prefix leaked into Kafka"
    );
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn clicks_redirect_to_exactly_the_signed_destination() {
    let (config, events, _salt, edge) = edge_with_topics("edge_clicks").await;
    let minter = minter(&config);
    let destination = "https://shop.example.com/spring?utm_source=mail&x=%2F%2Fevil";
    let url = minter
        .click_url("acme", "spring", "sub-1", "hero", destination)
        .expect("sign");
    let response = get(edge.addr, &path_of(&url), &[("user-agent", "Mozilla/5.0")]).await;
    assert_eq!(response.status, StatusCode::FOUND);
    assert_eq!(response.headers["location"], destination);
    assert_eq!(response.headers["cache-control"], "no-store");

    let messages = consume(events.name(), 1, Duration::from_secs(15))
        .await
        .expect("consume");
    let event = Event::from_json(messages[0].payload.as_deref().expect("payload")).expect("event");
    assert_eq!(event.kind, EventKind::Click);
    assert_eq!(event.link.as_deref(), Some("hero"));
    assert_eq!(event.url.as_deref(), Some(destination));
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_tampered_and_open_redirect_attempts_record_nothing() {
    let (config, events, _salt, edge) = edge_with_topics("edge_forged").await;
    let minter = minter(&config);
    let good_click = path_of(
        &minter
            .click_url(
                "acme",
                "spring",
                "sub-1",
                "hero",
                "https://shop.example.com/",
            )
            .expect("sign"),
    );
    let good_token = good_click.trim_start_matches("/c/").to_string();
    let other_ring = KeyRing::parse(
        "dev:0000000000000000000000000000000000000000000000000000000000000000",
        "",
    )
    .expect("ring");
    let foreign = path_of(
        &UrlMinter::new("http://x.test", other_ring)
            .expect("minter")
            .click_url("acme", "spring", "sub-1", "hero", "https://evil.example/")
            .expect("sign"),
    );
    let mut flipped = good_token.clone().into_bytes();
    let middle = flipped.len() / 2;
    flipped[middle] = if flipped[middle] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).expect("ascii");
    let truncated = &good_token[..good_token.len() - 3];
    let attempts = [
        format!("/c/{flipped}"),
        format!("/c/{truncated}"),
        format!("/c/{good_token}AAAA"),
        foreign,
        "/c/".to_string(),
        "/c/not-a-token".to_string(),
        "/c//evil.example.com".to_string(),
        "/c/%2F%2Fevil.example.com".to_string(),
        format!("/c/{good_token}/..%2F..%2Fevil"),
        "/c/?url=https://evil.example.com".to_string(),
        "/c/https:%2F%2Fevil.example.com".to_string(),
        // A pixel token is not a click token.
        path_of(&minter.pixel_url("acme", "spring", "sub-1").expect("sign")).replace("/o/", "/c/"),
    ];
    for attempt in &attempts {
        let response = get(edge.addr, attempt, &[("host", "evil.example.com")]).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{attempt}");
        assert!(
            response.headers.get("location").is_none(),
            "{attempt} redirected"
        );
    }
    // The same corruptions on the pixel route: still a pixel, never an event.
    let (_pixel_token_on_click_route, corruptions) = attempts.split_last().expect("attempts");
    for attempt in corruptions.iter().map(|a| a.replacen("/c/", "/o/", 1)) {
        let response = get(edge.addr, &attempt, &[]).await;
        assert_eq!(response.status, StatusCode::OK, "{attempt}");
        assert_eq!(response.body.as_ref(), mailpulse_edge::PIXEL_GIF);
    }
    // The valid click, query-string tricks appended, still goes only where it was signed to.
    let response = get(
        edge.addr,
        &format!("{good_click}?url=https://evil.example.com"),
        &[],
    )
    .await;
    assert_eq!(response.headers["location"], "https://shop.example.com/");

    let messages = consume(events.name(), 2, Duration::from_secs(8))
        .await
        .expect("consume");
    assert_eq!(messages.len(), 1, "only the one valid click was recorded");
    let metrics = get(edge.addr, "/metrics", &[]).await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains("mailpulse_edge_invalid_tokens_total{reason=\"bad_signature\"}"),
        "{text}"
    );
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_readiness_report_state() {
    let (_config, _events, _salt, edge) = edge_with_topics("edge_ready").await;
    assert_eq!(get(edge.addr, "/healthz", &[]).await.status, StatusCode::OK);
    let ready = get(edge.addr, "/readyz", &[]).await;
    assert_eq!(ready.status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_slice(&ready.body).expect("json");
    assert_eq!(body["geo_db"], true);
    assert_eq!(body["broker_up"], true);
    assert_eq!(
        get(edge.addr, "/nope", &[]).await.status,
        StatusCode::NOT_FOUND
    );
    edge.stop().await;
}
