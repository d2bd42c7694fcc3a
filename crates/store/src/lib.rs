//! ClickHouse storage: the schema migrations, the row types written and read, the aggregator's
//! watermark queries and the campaign statistics queries.
//!
//! The schema lives in `schemas/migrations/*.sql` (documented in `schemas/README.md`). It runs on
//! ClickHouse 18.16 — the only server these machines can install — and on current releases, so it
//! avoids everything 18.16 lacks. Because 18.16 cannot answer the client's schema validation,
//! the client runs with validation off; [`wire`] lets tests compare each row type with the
//! server's column types instead.

mod client;
pub mod deliveries;
mod error;
pub mod migrate;
pub mod offsets;
pub mod rows;
pub mod stats;
pub mod wire;

pub use client::connect;
pub use error::StoreError;
pub use rows::{EventKindCode, EventRow, TrackingLevelCode, EVENTS_TABLE};
pub use stats::{BreakdownEntry, CampaignSummary, LinkStats};

/// The ClickHouse client type, re-exported so callers need no direct dependency.
pub use clickhouse::Client;
