//! A corpus of forged and tampered tokens derived from valid ones: every one must be refused.

mod common;

use common::{click_claims, decode, encode, open_claims, ring, signed, ISSUED_AT, KEY_2};
use mailpulse_token::{verify, KeyRing, TokenError, MAC_LEN};

fn valid_tokens() -> Vec<String> {
    vec![signed(&click_claims()), signed(&open_claims())]
}

#[test]
fn fixtures_verify_unmodified() {
    for token in valid_tokens() {
        verify(&ring(), &token, ISSUED_AT).expect("unmodified token verifies");
    }
}

#[test]
fn flipping_any_bit_of_any_byte_is_rejected() {
    let ring = ring();
    for token in valid_tokens() {
        let bytes = decode(&token);
        for index in 0..bytes.len() {
            for bit in 0..8 {
                let mut tampered = bytes.clone();
                tampered[index] ^= 1 << bit;
                let result = verify(&ring, &encode(&tampered), ISSUED_AT);
                assert!(result.is_err(), "byte {index} bit {bit} flipped verified");
            }
            let mut inverted = bytes.clone();
            inverted[index] ^= 0xff;
            assert!(verify(&ring, &encode(&inverted), ISSUED_AT).is_err());
        }
    }
}

#[test]
fn truncation_at_every_length_is_rejected() {
    let ring = ring();
    for token in valid_tokens() {
        let bytes = decode(&token);
        for len in 0..bytes.len() {
            let result = verify(&ring, &encode(&bytes[..len]), ISSUED_AT);
            assert!(result.is_err(), "truncated to {len} bytes verified");
        }
        for len in 0..token.len() {
            let result = verify(&ring, &token[..len], ISSUED_AT);
            assert!(result.is_err(), "truncated to {len} characters verified");
        }
    }
}

#[test]
fn appended_bytes_are_rejected() {
    let ring = ring();
    for token in valid_tokens() {
        let bytes = decode(&token);
        for extra in [&[0u8][..], &[0xff], &[0, 0], &bytes[..MAC_LEN], &bytes] {
            let mut extended = bytes.clone();
            extended.extend_from_slice(extra);
            let result = verify(&ring, &encode(&extended), ISSUED_AT);
            assert!(result.is_err(), "{} bytes appended verified", extra.len());
        }
        for suffix in ["A", "AA", "AAA", "AAAA", "=", "==", ".", "/"] {
            let result = verify(&ring, &format!("{token}{suffix}"), ISSUED_AT);
            assert!(result.is_err(), "suffix {suffix:?} verified");
        }
    }
}

#[test]
fn swapping_the_key_id_is_rejected() {
    let ring = ring();
    let bytes = decode(&signed(&click_claims()));
    // Layout: version, key id length, key id (k1), then the rest.
    assert_eq!(&bytes[1..4], b"\x02k1", "fixture layout");
    let rest = &bytes[4..];
    let with_key_id = |id: &[u8]| {
        let mut forged = vec![bytes[0], id.len() as u8];
        forged.extend_from_slice(id);
        forged.extend_from_slice(rest);
        encode(&forged)
    };
    assert_eq!(
        verify(&ring, &with_key_id(b"key-two"), ISSUED_AT),
        Err(TokenError::BadSignature),
        "another key of the ring"
    );
    assert_eq!(
        verify(&ring, &with_key_id(b"k2"), ISSUED_AT),
        Err(TokenError::UnknownKey),
        "a key id not in the ring"
    );
    assert_eq!(
        verify(&ring, &with_key_id(b""), ISSUED_AT),
        Err(TokenError::Malformed),
        "an empty key id"
    );
}

#[test]
fn every_other_version_byte_is_rejected() {
    let ring = ring();
    let bytes = decode(&signed(&open_claims()));
    for version in (0..=u8::MAX).filter(|v| *v != bytes[0]) {
        let mut changed = bytes.clone();
        changed[0] = version;
        assert_eq!(
            verify(&ring, &encode(&changed), ISSUED_AT),
            Err(TokenError::UnsupportedVersion { found: version })
        );
    }
}

#[test]
fn a_token_signed_with_another_secret_under_our_key_id_is_rejected() {
    // An attacker who knows the format but not the key.
    let attacker = KeyRing::from_keys([("k1", [0x99; 32])], "").expect("attacker ring");
    let forged = mailpulse_token::sign(&attacker, &click_claims()).expect("valid claims");
    assert_eq!(
        verify(&ring(), &forged, ISSUED_AT),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn removing_a_key_from_the_ring_retires_its_tokens() {
    let signing_ring =
        KeyRing::from_keys([("k1", common::KEY_1), ("key-two", KEY_2)], "key-two").expect("ring");
    let token = mailpulse_token::sign(&signing_ring, &open_claims()).expect("valid claims");
    verify(&ring(), &token, ISSUED_AT).expect("verifies while key-two is in the ring");
    let after_retirement = KeyRing::from_keys([("k1", common::KEY_1)], "").expect("ring");
    assert_eq!(
        verify(&after_retirement, &token, ISSUED_AT),
        Err(TokenError::UnknownKey)
    );
}

#[test]
fn expiry_is_enforced_from_the_expiry_instant() {
    let ring = ring();
    let claims = click_claims();
    let expires_at = claims.expires_at.expect("fixture expires");
    let token = signed(&claims);
    verify(&ring, &token, expires_at - 1).expect("valid until the last second");
    assert_eq!(
        verify(&ring, &token, expires_at),
        Err(TokenError::Expired { expires_at })
    );
    assert_eq!(
        verify(&ring, &token, u64::MAX),
        Err(TokenError::Expired { expires_at })
    );
    // No expiry: valid forever.
    verify(&ring, &signed(&open_claims()), u64::MAX).expect("never expires");
}

#[test]
fn oversized_input_is_refused_before_decoding() {
    let huge = "A".repeat(1 << 20);
    assert_eq!(verify(&ring(), &huge, 0), Err(TokenError::Malformed));
}
