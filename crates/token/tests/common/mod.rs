//! Fixtures shared by the integration tests.
#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use mailpulse_token::{sign, Action, Claims, KeyRing};

pub const KEY_1: [u8; 32] = [0x11; 32];
pub const KEY_2: [u8; 32] = [0x22; 32];
pub const ISSUED_AT: u64 = 1_700_000_000;

/// A ring of two keys of different id lengths, `k1` active.
pub fn ring() -> KeyRing {
    KeyRing::from_keys([("k1", KEY_1), ("key-two", KEY_2)], "k1").expect("fixture ring")
}

pub fn click_claims() -> Claims<'static> {
    Claims {
        tenant: "acme",
        campaign: "spring-sale",
        subscriber: "sub-000123",
        action: Action::Click {
            link: "l1",
            destination: "https://shop.example.com/deals?utm_source=mail",
        },
        issued_at: ISSUED_AT,
        expires_at: Some(ISSUED_AT + 86_400),
    }
}

pub fn open_claims() -> Claims<'static> {
    Claims {
        action: Action::Open,
        expires_at: None,
        ..click_claims()
    }
}

pub fn signed(claims: &Claims<'_>) -> String {
    sign(&ring(), claims).expect("fixture claims are valid")
}

pub fn decode(token: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(token)
        .expect("fixture token decodes")
}

pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}
