//! Shared by the `drill_*` fault drills: each drill runs a real edge and a real aggregator (the
//! `mailpulse` binary, configured through `MAILPULSE_*` like in production) on its own topics,
//! database and campaign, drives steady pixel traffic through the edge while it breaks
//! something, then checks the outcome against the truth of what the edge answered:
//!
//! - [`env::DrillEnv`]: the drill's configuration, topics and migrated database;
//! - [`process`]: `mailpulse edge` / `mailpulse aggregate` child processes (SIGTERM, SIGKILL,
//!   logs, metrics);
//! - [`load::Load`]: pixel hits at a fixed rate over keep-alive connections, every outcome kept;
//! - [`verdict`]: every 200-answered hit is in ClickHouse exactly once, and the campaign
//!   statistics say so;
//! - [`leak_scan`]: none of the client IPs sent (through `X-Forwarded-For` from a trusted proxy)
//!   appears in any Kafka message, ClickHouse string column, spool file or log of the drill.
//!
//! Drills stop shared services: one test per binary, and `cargo test` runs binaries one at a time.
#![allow(dead_code)] // each drill binary uses a different part

pub mod env;
pub mod leak_scan;
pub mod load;
pub mod process;
pub mod verdict;

use std::time::Duration;

/// Client addresses the load claims to come from; none may leave the edge.
pub const CLIENT_IPS: [&str; 4] = [
    "81.20.145.1",
    "185.199.108.153",
    "2a00:1450:4001:82b::200e",
    "203.0.113.77",
];

/// Prints a drill's progress with its elapsed time (kept in the test output on failure).
pub fn note(started: std::time::Instant, message: impl std::fmt::Display) {
    eprintln!("[{:>6.1}s] {message}", started.elapsed().as_secs_f64());
}

/// Sleeps on the test runtime.
pub async fn sleep(seconds: f64) {
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
}
