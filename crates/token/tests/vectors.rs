//! Golden vectors from `tests/vectors/reference.py`, an independent implementation of
//! `schemas/token.md`: signing must reproduce them byte for byte and verification must agree.

use mailpulse_token::{link_id_for, sign, verify, Action, Claims, EventKind, KeyRing, TokenError};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    keys: std::collections::BTreeMap<String, String>,
    signing: String,
    valid: Vec<ValidVector>,
    rejections: Vec<Rejection>,
    link_ids: Vec<LinkIdVector>,
}

#[derive(Deserialize)]
struct ValidVector {
    name: String,
    active: String,
    claims: VectorClaims,
    token: String,
}

#[derive(Deserialize)]
struct VectorClaims {
    kind: String,
    tenant: String,
    campaign: String,
    subscriber: String,
    link: Option<String>,
    url: Option<String>,
    issued_at: u64,
    expires_at: Option<u64>,
}

#[derive(Deserialize)]
struct Rejection {
    name: String,
    token: String,
    now: u64,
    error: String,
}

#[derive(Deserialize)]
struct LinkIdVector {
    campaign: String,
    destination: String,
    link_id: String,
}

fn vectors() -> Vectors {
    serde_json::from_str(include_str!("vectors.json")).expect("vectors.json parses")
}

impl VectorClaims {
    fn claims(&self) -> Claims<'_> {
        let action = match self.kind.as_str() {
            "open" => Action::Open,
            "unsubscribe" => Action::Unsubscribe,
            "click" => Action::Click {
                link: self.link.as_deref().expect("click vector has a link"),
                destination: self.url.as_deref().expect("click vector has a url"),
            },
            other => panic!("unknown kind {other} in vectors"),
        };
        Claims {
            tenant: &self.tenant,
            campaign: &self.campaign,
            subscriber: &self.subscriber,
            action,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
        }
    }
}

#[test]
fn sign_reproduces_every_vector() {
    let vectors = vectors();
    for vector in &vectors.valid {
        let ring = KeyRing::parse(&vectors.signing, &vector.active).expect("vector key ring");
        let token = sign(&ring, &vector.claims.claims()).expect("vector claims are valid");
        assert_eq!(token, vector.token, "vector {:?}", vector.name);
    }
}

#[test]
fn verify_accepts_every_vector_with_its_claims() {
    let vectors = vectors();
    // Verification uses the whole ring whichever key is active.
    let ring = KeyRing::parse(&vectors.signing, "").expect("vector key ring");
    for vector in &vectors.valid {
        let expected = &vector.claims;
        let now = expected.issued_at;
        let token = verify(&ring, &vector.token, now)
            .unwrap_or_else(|e| panic!("vector {:?} rejected: {e}", vector.name));
        assert_eq!(token.key_id(), vector.active, "{}", vector.name);
        assert_eq!(token.kind().as_str(), expected.kind, "{}", vector.name);
        assert_eq!(token.tenant(), expected.tenant, "{}", vector.name);
        assert_eq!(token.campaign(), expected.campaign, "{}", vector.name);
        assert_eq!(token.subscriber(), expected.subscriber, "{}", vector.name);
        assert_eq!(token.link(), expected.link.as_deref(), "{}", vector.name);
        assert_eq!(token.url(), expected.url.as_deref(), "{}", vector.name);
        assert_eq!(token.issued_at(), expected.issued_at, "{}", vector.name);
        assert_eq!(token.expires_at(), expected.expires_at, "{}", vector.name);
        if token.kind() == EventKind::Click {
            assert!(token.link().is_some() && token.url().is_some());
        }
    }
}

#[test]
fn verify_rejects_every_rejection_vector_with_the_named_error() {
    let vectors = vectors();
    let ring = KeyRing::parse(&vectors.signing, "").expect("vector key ring");
    for rejection in &vectors.rejections {
        let error = verify(&ring, &rejection.token, rejection.now)
            .expect_err(&format!("vector {:?} verified", rejection.name));
        let name = match error {
            TokenError::Malformed => "malformed",
            TokenError::UnsupportedVersion { .. } => "unsupported_version",
            TokenError::UnknownKey => "unknown_key",
            TokenError::BadSignature => "bad_signature",
            TokenError::Expired { .. } => "expired",
            other => panic!("unexpected error {other:?}"),
        };
        assert_eq!(name, rejection.error, "vector {:?}", rejection.name);
    }
}

#[test]
fn retired_key_verifies_only_while_in_the_ring() {
    let vectors = vectors();
    let retired_hex = &vectors.keys["retired"];
    let with_retired = KeyRing::parse(&format!("{},retired:{retired_hex}", vectors.signing), "")
        .expect("ring with the retired key");
    let rejection = vectors
        .rejections
        .iter()
        .find(|r| r.name == "retired key")
        .expect("retired key vector");
    let token = verify(&with_retired, &rejection.token, 0).expect("verifies while in the ring");
    assert_eq!(token.key_id(), "retired");
}

#[test]
fn link_ids_match_vectors() {
    for vector in vectors().link_ids {
        assert_eq!(
            link_id_for(&vector.campaign, &vector.destination),
            vector.link_id,
            "{:?} {:?}",
            vector.campaign,
            vector.destination
        );
    }
}
