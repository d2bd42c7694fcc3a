//! The edge: the HTTP service every opened email and clicked link hits.
//!
//! `GET /o/{token}` answers the tracking pixel, `GET /c/{token}` redirects to the signed
//! destination; both record an event without waiting on the back end. `POST /u/{token}` is
//! one-click unsubscribe (a `GET` only shows a confirmation form; see `unsubscribe.rs`). The client IP is used in
//! memory for the geo lookup and the visitor hash, then dropped: nothing that leaves this
//! process carries it.

mod client_ip;
mod metrics;
mod response;
mod routes;
mod salt;
mod server;
mod sink;
mod state;
mod unsubscribe;

pub use client_ip::TrustedProxies;
pub use response::PIXEL_GIF;
pub use routes::{parse_route, ParsedRoute};
pub use server::{build_state, local_addr, run, serve};
pub use state::EdgeState;

/// Why the edge could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// A configuration value is unusable: fix it and restart.
    #[error("configuration: {0}")]
    Config(String),
    #[error("GeoIP: {0}")]
    Geo(#[from] mailpulse_geo::GeoError),
    #[error("salt: {0}")]
    Salt(#[from] mailpulse_pseudonym::PseudonymError),
    #[error("Kafka client: {0}")]
    Kafka(rdkafka::error::KafkaError),
    #[error("spool: {0}")]
    Spool(#[from] mailpulse_spool::SpoolError),
    #[error("spool replay did not complete; will retry")]
    ReplayIncomplete,
    #[error("I/O: {0}")]
    Io(std::io::Error),
}
