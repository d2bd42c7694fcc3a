//! Data-subject rights and tracking policies for mailpulse (`docs/privacy.md`).
//!
//! One [`Privacy`] value serves the command line and the HTTP API alike; each right is one
//! call:
//!
//! | right / setting        | call                          |
//! |------------------------|-------------------------------|
//! | consent (set, read)    | [`Privacy::set_consent`], [`Privacy::consent`] |
//! | bulk consent import    | [`Privacy::import`]           |
//! | tenant/campaign policy | [`Privacy::set_policy`], [`Privacy::policies`] |
//! | erasure                | [`Privacy::forget`]           |
//! | access / portability   | [`Privacy::export`]           |
//! | tenant removal         | [`Privacy::delete_tenant`]    |
//! | retention              | [`Privacy::set_retention`], [`Privacy::run_retention`] |
//!
//! The compacted consent topic is the source of truth for consent and policies (the
//! aggregator gates on it); `consent_history` in ClickHouse keeps every change for audit and
//! export. Deletions are ClickHouse `ALTER TABLE … DELETE` mutations, awaited until
//! `system.mutations` reports them done (18.16 has no `mutations_sync`).

mod consent;
mod erasure;
mod error;
mod export;
pub mod history;
pub mod ids;
pub mod import;
mod mutations;
mod progress;
pub mod retention;
mod tenant;
pub mod topic;
pub mod tracking;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailpulse_config::Config;
use mailpulse_store::Client;

pub use consent::{ConsentReceipt, ConsentView, PolicyReceipt, PolicyView};
pub use erasure::ErasureReceipt;
pub use error::PrivacyError;
pub use export::{ExportSummary, EXPORT_SCHEMA};
pub use import::{ImportFormat, ImportMode, ImportReport, LineError};
pub use mutations::TableCount;
pub use retention::RetentionReport;
pub use tenant::TenantDeletionReceipt;
pub use tracking::Tracking;

/// How long a call waits for the running aggregators to apply a consent change.
const DEFAULT_APPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a call waits for ClickHouse to finish its delete mutations.
const DEFAULT_MUTATION_TIMEOUT: Duration = Duration::from_secs(600);

/// The privacy operations, bound to one deployment's Kafka and ClickHouse.
#[derive(Debug)]
pub struct Privacy {
    store: Client,
    database: String,
    topic: topic::ConsentTopic,
    keys: ids::SubscriberKeys,
    retention_days: u32,
    apply_timeout: Duration,
    mutation_timeout: Duration,
}

impl Privacy {
    /// Connects to the configured ClickHouse and consent topic (nothing is sent yet).
    pub fn new(config: &Config) -> Result<Privacy, PrivacyError> {
        if !mailpulse_config::valid_identifier(&config.clickhouse.database) {
            return Err(PrivacyError::invalid(
                "clickhouse.database",
                "must be [A-Za-z0-9_] and start with a letter or _",
            ));
        }
        Ok(Privacy {
            store: mailpulse_store::connect(&config.clickhouse),
            database: config.clickhouse.database.clone(),
            topic: topic::ConsentTopic::new(&config.kafka)?,
            keys: ids::SubscriberKeys::new(&config.keys)?,
            retention_days: config.privacy.retention_days,
            apply_timeout: DEFAULT_APPLY_TIMEOUT,
            mutation_timeout: DEFAULT_MUTATION_TIMEOUT,
        })
    }

    /// How long erasure and tenant removal wait for the aggregators (default 60 s).
    pub fn with_apply_timeout(mut self, timeout: Duration) -> Privacy {
        self.apply_timeout = timeout;
        self
    }

    /// How long deletions wait for ClickHouse's mutations (default 10 min).
    pub fn with_mutation_timeout(mut self, timeout: Duration) -> Privacy {
        self.mutation_timeout = timeout;
        self
    }

    /// The ClickHouse client, for callers that read alongside (tests, the API).
    pub fn store(&self) -> &Client {
        &self.store
    }

    /// Every key a subscriber's rows can be stored under (the id and its pseudonyms).
    pub fn subscriber_keys(&self, tenant: &str, subscriber: &str) -> Vec<String> {
        self.keys.all(tenant, subscriber)
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Checks a `source` label: short, printable.
pub(crate) fn check_source(source: &str) -> Result<(), PrivacyError> {
    if source.is_empty() || source.len() > 64 || source.chars().any(char::is_control) {
        return Err(PrivacyError::invalid(
            "source",
            "must be 1-64 bytes without control characters",
        ));
    }
    Ok(())
}
