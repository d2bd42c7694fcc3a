//! The edge's request parsing on hostile input: route and token extraction from the path
//! (`mailpulse_edge::parse_route`, what the handler uses), token verification of whatever the
//! path carries, and the client address from `X-Forwarded-For` / `Forwarded`.
//!
//! Input: the path, a newline, then header values separated by newlines (alternately
//! `x-forwarded-for` and `forwarded`). Checked: nothing panics; a token is always a slice of the
//! path (never copied or built); the client address of an untrusted peer is the peer whatever
//! the headers say, and a trusted peer's headers can name any address but never make it fail.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;

use hyper::header::{HeaderName, HeaderValue};
use hyper::HeaderMap;
use libfuzzer_sys::fuzz_target;
use mailpulse_edge::{parse_route, ParsedRoute, TrustedProxies};
use mailpulse_token::{verify, KeyRing};

/// 2100-01-01: after the seeds were minted (they carry no expiry).
const NOW: u64 = 4_102_444_800;

fn keyring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        KeyRing::parse(mailpulse_config::DEV_SIGNING_KEYS, "").expect("development key ring")
    })
}

fn proxies() -> &'static TrustedProxies {
    static PROXIES: OnceLock<TrustedProxies> = OnceLock::new();
    PROXIES.get_or_init(|| {
        TrustedProxies::parse(&["127.0.0.1/32".to_string(), "10.0.0.0/8".to_string()])
            .expect("proxy list")
    })
}

/// True when `part` lies inside `whole` (the same memory, not an equal copy).
fn is_slice_of(part: &str, whole: &str) -> bool {
    let start = whole.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    at >= start && at + part.len() <= start + whole.len()
}

fn route(path: &str) {
    let token = match parse_route(path) {
        ParsedRoute::Pixel(token) | ParsedRoute::Click(token) | ParsedRoute::Unsubscribe(token) => {
            token
        }
        ParsedRoute::Health | ParsedRoute::Ready | ParsedRoute::Metrics => {
            assert!(path.starts_with('/') && path.len() <= 8, "{path:?}");
            return;
        }
        ParsedRoute::Other => return,
    };
    assert!(is_slice_of(token, path), "token borrowed from the path");
    assert!(path.ends_with(token) || path.ends_with(".gif"));
    // Whatever it is, verification answers; forged input never verifies.
    let _ = verify(keyring(), token, NOW);
}

fn client_address(lines: &[&[u8]]) {
    let mut headers = HeaderMap::new();
    for (index, line) in lines.iter().enumerate() {
        let Ok(value) = HeaderValue::from_bytes(line) else {
            continue;
        };
        let name = if index % 2 == 0 {
            HeaderName::from_static("x-forwarded-for")
        } else {
            HeaderName::from_static("forwarded")
        };
        headers.append(name, value);
    }
    let trusted_peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40_000);
    let _ = proxies().client_ip(trusted_peer, &headers);
    let untrusted = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)), 40_000);
    assert_eq!(
        proxies().client_ip(untrusted, &headers),
        untrusted.ip(),
        "an untrusted peer cannot choose its address"
    );
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|b| *b == b'\n');
    let path = lines.next().unwrap_or_default();
    if let Ok(path) = std::str::from_utf8(path) {
        route(path);
    }
    let headers: Vec<&[u8]> = lines.take(16).collect();
    client_address(&headers);
});
