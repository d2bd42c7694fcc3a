//! The edge's per-request crypto: verifying a tracking token and hashing the visitor, plus
//! signing (done per recipient when mail is sent). One element = one token or one hash.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mailpulse_pseudonym::{visitor_hash, RatchetState};
use mailpulse_token::{sign, verify, Action, Claims, KeyRing};

const ISSUED_AT: u64 = 1_700_000_000;

fn keyring() -> KeyRing {
    // Two keys, as during a rotation: verification has to pick the right one.
    KeyRing::from_keys([("k2026a", [0x11; 32]), ("k2026b", [0x22; 32])], "k2026b")
        .expect("benchmark key ring")
}

fn open_claims() -> Claims<'static> {
    Claims {
        tenant: "acme-corp",
        campaign: "2026-spring-sale",
        subscriber: "sub-0001234567",
        action: Action::Open,
        issued_at: ISSUED_AT,
        expires_at: None,
    }
}

fn click_claims() -> Claims<'static> {
    Claims {
        action: Action::Click {
            link: "3f2a9c0d1e4b5a67",
            destination: "https://shop.example.com/spring/deals?utm_source=newsletter&utm_medium=email&utm_campaign=spring",
        },
        ..open_claims()
    }
}

fn tokens(c: &mut Criterion) {
    let ring = keyring();
    let open = sign(&ring, &open_claims()).expect("open token");
    let click = sign(&ring, &click_claims()).expect("click token");

    let mut group = c.benchmark_group("token");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify_open", |b| {
        b.iter(|| verify(&ring, black_box(&open), ISSUED_AT))
    });
    group.bench_function("verify_click", |b| {
        b.iter(|| verify(&ring, black_box(&click), ISSUED_AT))
    });
    group.bench_function("sign_open", |b| {
        b.iter(|| sign(&ring, black_box(&open_claims())))
    });
    group.bench_function("sign_click", |b| {
        b.iter(|| sign(&ring, black_box(&click_claims())))
    });
    group.finish();
}

fn visitor(c: &mut Criterion) {
    let salt = RatchetState::from_parts(20_500, [0x33; 32]).salt();
    let ip: IpAddr = "203.0.113.7".parse().expect("benchmark IP");
    let user_agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";

    let mut group = c.benchmark_group("pseudonym");
    group.throughput(Throughput::Elements(1));
    group.bench_function("visitor_hash", |b| {
        b.iter(|| {
            visitor_hash(
                &salt,
                black_box("acme-corp"),
                black_box(ip),
                black_box(user_agent),
            )
        })
    });
    group.bench_function("visitor_hash_hex", |b| {
        b.iter(|| {
            visitor_hash(
                &salt,
                black_box("acme-corp"),
                black_box(ip),
                black_box(user_agent),
            )
            .to_hex()
        })
    });
    group.finish();
}

criterion_group!(benches, tokens, visitor);
criterion_main!(benches);
