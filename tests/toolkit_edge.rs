//! The toolkit's output against a real in-process edge on the local stack: every wrapped link
//! of the corpus redirects to where the original pointed, both pixels answer, and one-click
//! unsubscribe records an event per `POST` and none per `GET`.

mod common;
mod toolkit_common;

use std::time::Duration;

use common::{get, path_of, request, RunningEdge};
use hyper::{Method, StatusCode};
use mailpulse_event::{Event, EventKind};
use mailpulse_testkit::{consume, test_config, TestTopic};
use toolkit_common::*;

async fn edge(prefix: &str) -> (mailpulse_config::Config, TestTopic, TestTopic, RunningEdge) {
    let config = test_config(prefix).expect("the local stack is up");
    let events = TestTopic::with_name(&config.kafka.events_topic, 2)
        .await
        .expect("events topic");
    let salt = TestTopic::with_name(&config.kafka.salt_topic, 1)
        .await
        .expect("salt topic");
    let edge = RunningEdge::start(&config).await;
    (config, events, salt, edge)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_wrapped_link_of_the_corpus_redirects_to_its_original_through_the_edge() {
    let (_config, events, _salt, edge) = edge("toolkit_redirects").await;
    let manifest = manifest();
    let rewriter = rewriter(&manifest.placeholders);
    let mut clicks = 0;
    let mut opens = 0;
    for name in manifest.html.keys() {
        let input = fixture(name);
        let output = rewriter.rewrite_html(&input, &RECIPIENT).expect("rewrites");
        let (without_pixels, pixels) = strip_pixels(&output);
        for pixel in &pixels {
            let response = get(edge.addr, &path_of(pixel), &[]).await;
            assert_eq!(response.status, StatusCode::OK, "{name}: pixel {pixel}");
            assert_eq!(response.body.as_ref(), mailpulse_edge::PIXEL_GIF);
            opens += 1;
        }
        let base = base_of(&input);
        for span in replaced_spans(&input, &without_pixels) {
            if span.url.route != 'c' {
                continue;
            }
            let path = format!("/c/{}", span.url.token);
            let response = get(edge.addr, &path, &[("user-agent", "Mozilla/5.0")]).await;
            assert_eq!(response.status, StatusCode::FOUND, "{name}: {path}");
            assert_eq!(
                response.headers["location"],
                expected_destination(&span.original, base.as_deref()).as_str(),
                "{name}: {:?} redirects to its original",
                span.original
            );
            clicks += 1;
        }
    }
    let expected_clicks: usize = manifest.html.values().map(|e| e.tracked).sum();
    assert_eq!(clicks, expected_clicks);

    let messages = consume(events.name(), clicks + opens + 1, Duration::from_secs(20))
        .await
        .expect("consume");
    assert_eq!(messages.len(), clicks + opens, "one event per request");
    let click_events = messages
        .iter()
        .map(|m| Event::from_json(m.payload.as_deref().expect("payload")).expect("event"))
        .filter(|event| event.kind == EventKind::Click)
        .count();
    assert_eq!(click_events, clicks);
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_click_unsubscribe_records_one_event_per_post_and_none_per_get() {
    let (_config, events, _salt, edge) = edge("toolkit_unsubscribe").await;
    let rewriter = rewriter(&["{{unsubscribe}}".to_string()]);
    let (list_unsubscribe, _) = rewriter
        .list_unsubscribe_headers(&RECIPIENT, None)
        .expect("headers");
    let url = list_unsubscribe
        .trim_start_matches('<')
        .trim_end_matches('>');
    let path = path_of(url);
    assert!(path.starts_with("/u/"));

    // A link scanner's GET and HEAD: a confirmation page, no event.
    let page = get(edge.addr, &path, &[("user-agent", "Barracuda/1.0")]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains("<form method=\"post\">"), "{html}");
    assert_eq!(
        request(edge.addr, Method::HEAD, &path, &[]).await.status,
        StatusCode::OK
    );

    // RFC 8058 POST from a mailbox provider, then the confirmation form's empty-typed POST.
    let (status, body) = post(
        edge.addr,
        &path,
        Some("application/x-www-form-urlencoded"),
        "List-Unsubscribe=One-Click",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains("You are unsubscribed"));
    let (status, _) = post(edge.addr, &path, None, "").await;
    assert_eq!(status, StatusCode::OK);

    // Forged, wrong-kind and other-method requests record nothing.
    let token = path.trim_start_matches("/u/");
    let mut forged = token.as_bytes().to_vec();
    let middle = forged.len() / 2;
    forged[middle] = if forged[middle] == b'A' { b'B' } else { b'A' };
    let forged = format!("/u/{}", String::from_utf8(forged).expect("ascii"));
    let (status, _) = post(edge.addr, &forged, None, "List-Unsubscribe=One-Click").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        get(edge.addr, &forged, &[]).await.status,
        StatusCode::NOT_FOUND
    );
    let pixel = rewriter
        .minter()
        .pixel_url(RECIPIENT.tenant, RECIPIENT.campaign, RECIPIENT.subscriber)
        .expect("pixel");
    let wrong_kind = format!("/u/{}", path_of(&pixel).trim_start_matches("/o/"));
    let (status, _) = post(edge.addr, &wrong_kind, None, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let put = request(edge.addr, Method::PUT, &path, &[]).await;
    assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(put.headers["allow"], "GET, HEAD, POST");

    let messages = consume(events.name(), 3, Duration::from_secs(15))
        .await
        .expect("consume");
    assert_eq!(messages.len(), 2, "exactly one event per valid POST");
    for message in &messages {
        let event = Event::from_json(message.payload.as_deref().expect("payload")).expect("event");
        assert_eq!(event.kind, EventKind::Unsubscribe);
        assert_eq!(
            (
                event.tenant.as_str(),
                event.campaign.as_str(),
                event.subscriber.as_str()
            ),
            (RECIPIENT.tenant, RECIPIENT.campaign, RECIPIENT.subscriber)
        );
        assert_eq!(event.link, None);
        let payload = String::from_utf8_lossy(message.payload.as_deref().unwrap_or_default());
        assert!(!payload.contains("127.0.0.1"), "no client IP in the event");
    }
    edge.stop().await;
}
