//! Tracking URLs: routes, base URL handling, and that what is minted verifies.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::ring;
use mailpulse_token::{link_id_for, verify, EventKind, TokenError, UrlMinter};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Splits `<base>/<route>/<token>` into the route and the verified token.
fn route_and_token(url: &str, base: &str) -> (String, mailpulse_token::VerifiedToken) {
    let rest = url.strip_prefix(base).expect("URL starts with the base");
    let (route, token) = rest
        .trim_start_matches('/')
        .split_once('/')
        .expect("route/token");
    assert!(!token.contains('/'), "token is one path segment");
    let verified = verify(&ring(), token, now()).expect("minted token verifies");
    (route.to_owned(), verified)
}

#[test]
fn mints_the_three_routes_with_their_claims() {
    let minter = UrlMinter::new("https://t.example.com", ring()).expect("valid base");
    let before = now();

    let pixel = minter.pixel_url("acme", "spring", "s-1").expect("pixel");
    let (route, token) = route_and_token(&pixel, "https://t.example.com");
    assert_eq!(route, "o");
    assert_eq!(token.kind(), EventKind::Open);
    assert_eq!(
        (token.tenant(), token.campaign(), token.subscriber()),
        ("acme", "spring", "s-1")
    );
    assert!(token.issued_at() >= before && token.issued_at() <= now());
    assert_eq!(token.expires_at(), None);

    let destination = "https://shop.example.com/deals";
    let link = link_id_for("spring", destination);
    let click = minter
        .click_url("acme", "spring", "s-1", &link, destination)
        .expect("click");
    let (route, token) = route_and_token(&click, "https://t.example.com");
    assert_eq!(route, "c");
    assert_eq!(token.kind(), EventKind::Click);
    assert_eq!(token.link(), Some(link.as_str()));
    assert_eq!(token.url(), Some(destination));

    let unsubscribe = minter
        .unsubscribe_url("acme", "spring", "s-1")
        .expect("unsub");
    let (route, token) = route_and_token(&unsubscribe, "https://t.example.com");
    assert_eq!(route, "u");
    assert_eq!(token.kind(), EventKind::Unsubscribe);
}

#[test]
fn trailing_slashes_and_path_prefixes_are_handled() {
    for (base, expected_prefix) in [
        ("https://t.example.com/", "https://t.example.com/o/"),
        ("https://t.example.com//", "https://t.example.com/o/"),
        ("http://localhost:8080/mp", "http://localhost:8080/mp/o/"),
        ("http://localhost:8080/mp/", "http://localhost:8080/mp/o/"),
    ] {
        let minter = UrlMinter::new(base, ring()).expect("valid base");
        let url = minter.pixel_url("t", "c", "s").expect("pixel");
        assert!(url.starts_with(expected_prefix), "{base} gave {url}");
        assert!(!url[expected_prefix.len()..].contains('/'), "{url}");
    }
}

#[test]
fn refuses_unusable_base_urls() {
    for base in [
        "",
        "t.example.com",
        "ftp://t.example.com",
        "https://t.example.com/?x=1",
        "https://t.example.com/#f",
        "https://t.example.com /",
    ] {
        assert!(
            matches!(
                UrlMinter::new(base, ring()),
                Err(TokenError::InvalidBaseUrl(_))
            ),
            "accepted {base:?}"
        );
    }
}

#[test]
fn ttl_sets_expiry_relative_to_issue() {
    let minter = UrlMinter::new("https://t.example.com", ring())
        .expect("valid base")
        .with_ttl(3600);
    let url = minter.unsubscribe_url("t", "c", "s").expect("unsub");
    let (_, token) = route_and_token(&url, "https://t.example.com");
    assert_eq!(token.expires_at(), Some(token.issued_at() + 3600));
}

#[test]
fn click_urls_refuse_unsafe_destinations() {
    let minter = UrlMinter::new("https://t.example.com", ring()).expect("valid base");
    let result = minter.click_url("t", "c", "s", "l", "javascript:alert(1)");
    assert!(matches!(
        result,
        Err(TokenError::InvalidClaim {
            field: "destination",
            ..
        })
    ));
}

#[test]
fn link_ids_are_stable_short_and_distinct() {
    let a = link_id_for("spring", "https://shop.example.com/a");
    assert_eq!(a, link_id_for("spring", "https://shop.example.com/a"));
    assert_eq!(a.len(), 16);
    assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(a, link_id_for("spring", "https://shop.example.com/b"));
    assert_ne!(a, link_id_for("summer", "https://shop.example.com/a"));
    // Framing: moving characters between campaign and destination changes the id.
    assert_ne!(link_id_for("ab", "c"), link_id_for("a", "bc"));
}
