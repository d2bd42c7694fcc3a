//! Golden vectors from `tests/vectors/reference.py`, an independent implementation of the
//! scheme in `README.md`: the ratchet, both hashes and the state file record must match.

use mailpulse_pseudonym::{
    parse_key_hex, subscriber_pseudonym, visitor_hash, RatchetState, StateFile,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    ratchet: Ratchet,
    visitor_hash: Vec<VisitorVector>,
    subscriber_pseudonym: Vec<PseudonymVector>,
    state_record: StateRecord,
}

#[derive(Deserialize)]
struct Ratchet {
    seed_day: u32,
    seed_state: String,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    day: u32,
    state: String,
    salt: String,
}

#[derive(Deserialize)]
struct VisitorVector {
    day: u32,
    tenant: String,
    ip: String,
    user_agent: String,
    hash: String,
}

#[derive(Deserialize)]
struct PseudonymVector {
    key: String,
    tenant: String,
    subscriber: String,
    pseudonym: String,
}

#[derive(Deserialize)]
struct StateRecord {
    day: u32,
    state: String,
    record: String,
}

fn vectors() -> Vectors {
    serde_json::from_str(include_str!("vectors.json")).expect("vectors.json parses")
}

fn key(hex: &str) -> [u8; 32] {
    parse_key_hex(hex).expect("32-byte hex in vectors")
}

fn seeded(ratchet: &Ratchet) -> RatchetState {
    RatchetState::from_parts(ratchet.seed_day, key(&ratchet.seed_state))
}

#[test]
fn ratchet_steps_match() {
    let vectors = vectors();
    let mut ratchet = seeded(&vectors.ratchet);
    for step in &vectors.ratchet.steps {
        ratchet.advance_to(step.day).expect("forward");
        assert_eq!(
            hex::encode(ratchet.state_bytes()),
            step.state,
            "day {}",
            step.day
        );
        assert_eq!(
            hex::encode(ratchet.salt().as_bytes()),
            step.salt,
            "day {}",
            step.day
        );
    }
    // Jumping straight to the last day gives the same as stepping.
    let last = vectors.ratchet.steps.last().expect("steps");
    let mut jumped = seeded(&vectors.ratchet);
    jumped.advance_to(last.day).expect("forward");
    assert_eq!(hex::encode(jumped.salt().as_bytes()), last.salt);
}

#[test]
fn visitor_hashes_match() {
    let vectors = vectors();
    for vector in &vectors.visitor_hash {
        let mut ratchet = seeded(&vectors.ratchet);
        ratchet.advance_to(vector.day).expect("forward");
        let ip = vector.ip.parse().expect("vector IP");
        let hash = visitor_hash(&ratchet.salt(), &vector.tenant, ip, &vector.user_agent);
        assert_eq!(
            hash.to_hex().as_str(),
            vector.hash,
            "{} {} {:?}",
            vector.tenant,
            vector.ip,
            vector.user_agent
        );
    }
}

#[test]
fn subscriber_pseudonyms_match() {
    for vector in vectors().subscriber_pseudonym {
        assert_eq!(
            subscriber_pseudonym(&key(&vector.key), &vector.tenant, &vector.subscriber),
            vector.pseudonym,
            "{} {}",
            vector.tenant,
            vector.subscriber
        );
    }
}

#[test]
fn state_file_record_matches_and_loads() {
    let expected = vectors().state_record;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("salt.state");
    let state = RatchetState::from_parts(expected.day, key(&expected.state));
    StateFile::store(&path, &state).expect("store");
    let written = std::fs::read(&path).expect("read back");
    assert_eq!(hex::encode(&written), expected.record);

    std::fs::write(&path, hex::decode(&expected.record).expect("hex")).expect("write vector");
    let loaded = StateFile::load(&path).expect("load").expect("present");
    assert_eq!(loaded.day(), expected.day);
    assert_eq!(hex::encode(loaded.state_bytes()), expected.state);
}
