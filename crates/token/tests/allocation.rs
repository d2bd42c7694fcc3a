//! Verification allocates exactly once (the token's own buffer). Alone in its test binary so
//! no concurrently running test disturbs the global allocation counter.

mod common;

use std::alloc::System;

use common::{click_claims, open_claims, ring, signed, ISSUED_AT};
use mailpulse_token::verify;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn verify_allocates_once_and_failures_never_more() {
    let ring = ring();
    let cases = [
        (signed(&click_claims()), 1),
        (signed(&open_claims()), 1),
        // Rejected before decoding: nothing allocated.
        ("A".repeat(10_000), 0),
        // Decoded (one buffer), then refused.
        ("AgJrMQ".to_owned(), 1),
    ];
    for (token, expected) in &cases {
        // The least of a few runs, so a stray allocation elsewhere in the process cannot
        // make the test fail; verify itself allocates the same on every run.
        let allocations = (0..5)
            .map(|_| {
                let region = Region::new(GLOBAL);
                let result = verify(&ring, token, ISSUED_AT);
                let allocations = region.change().allocations;
                drop(result);
                allocations
            })
            .min()
            .unwrap_or(usize::MAX);
        assert_eq!(allocations, *expected, "token {token:.20}…");
    }
}
