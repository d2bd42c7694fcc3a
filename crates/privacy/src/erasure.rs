//! Erasure (right to be forgotten): one call removes every subscriber-level row of one
//! subscriber of one tenant.
//!
//! Order matters, because ClickHouse mutations only rewrite the parts that exist when they
//! start:
//!
//! 1. A `denied` record is written to the consent topic (the erasure's own history row is the
//!    one record that stays, see [`KEPT`]).
//! 2. The call waits until every running aggregator reports that it applied that record and
//!    that no insert gated with an older consent book is still running (the aggregator
//!    re-checks consent right before every INSERT attempt), then until no older INSERT is
//!    still running on the server. From then on the subscriber's events, including those
//!    still in flight in Kafka, can only be stored anonymously.
//! 3. `ALTER TABLE … DELETE` runs on every table with a subscriber column, matching the id
//!    and its pseudonyms, and the call waits until `system.mutations` reports them done.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use crate::ids::{check_subscriber, check_tenant};
use crate::mutations::{delete_everywhere, tables_with_columns, Condition, TableCount};
use crate::progress::{wait_applied, wait_for_older_inserts};
use crate::topic::Delivered;
use crate::tracking::Tracking;
use crate::{now_ms, Privacy, PrivacyError};

/// The `source` of the denial an erasure records.
pub const ERASURE_SOURCE: &str = "erasure";

/// What an erasure deliberately leaves, and why (also in `docs/privacy.md`).
pub const KEPT: &[&str] = &[
    "consent_history: this erasure's own `denied` record (tenant, subscriber id, time, \
     source `erasure`), the proof that the request was honoured",
    "consent topic: the subscriber's latest record is this denial; aggregators need it so \
     that later events stay anonymous",
    "aggregate tables (campaign_hourly, campaign_daily, link_daily, campaign_breakdown, \
     ingest_offsets): anonymous counters and uniq sketches, which hold no ids",
    "audit_log: entries naming the subscriber as the subject of an API call (accountability)",
    "Kafka events topic: raw events until the topic's retention expires; they can only be \
     stored anonymously from now on",
];

/// What [`Privacy::forget`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErasureReceipt {
    pub tenant: String,
    pub subscriber: String,
    /// When the call started, ms since the epoch.
    pub requested_at_ms: u64,
    /// When every deletion had completed, ms since the epoch.
    pub completed_at_ms: u64,
    /// Where the denial landed on the consent topic.
    pub denial: Delivered,
    /// Rows removed per table (tables with a subscriber column, whether or not they had any).
    pub removed: Vec<TableCount>,
    pub rows_removed_total: u64,
    /// What is kept, and why.
    pub kept: Vec<String>,
}

impl Privacy {
    /// Erases a subscriber: denial first, then every subscriber-level row. Safe to repeat.
    pub async fn forget(
        &self,
        tenant: &str,
        subscriber: &str,
    ) -> Result<ErasureReceipt, PrivacyError> {
        check_tenant(tenant)?;
        check_subscriber(subscriber)?;
        let requested_at_ms = now_ms();
        let since = Instant::now();

        let denial = self
            .set_consent(tenant, subscriber, Tracking::Denied, ERASURE_SOURCE)
            .await?
            .delivered;
        let target = BTreeMap::from([(denial.partition, denial.offset)]);
        wait_applied(&self.store, self.topic.name(), &target, self.apply_timeout).await?;
        wait_for_older_inserts(&self.store, since, self.apply_timeout).await?;

        let keys = self.keys.all(tenant, subscriber);
        let tenant_is = || Condition::new("tenant = ?", vec![tenant.to_string()]);
        let mut plan = Vec::new();
        for table in
            tables_with_columns(&self.store, &self.database, &["tenant", "subscriber_key"]).await?
        {
            plan.push((
                table,
                tenant_is().and(Condition::one_of("subscriber_key", &keys)),
            ));
        }
        for table in
            tables_with_columns(&self.store, &self.database, &["tenant", "subscriber"]).await?
        {
            let mut condition = tenant_is().and(Condition::new(
                "subscriber = ?",
                vec![subscriber.to_string()],
            ));
            if table == crate::history::HISTORY_TABLE {
                // Keep exactly this erasure's record (integers, safe to inline).
                condition = condition.and(Condition::new(
                    format!(
                        "NOT (kafka_partition = {} AND kafka_offset = {})",
                        denial.partition, denial.offset
                    ),
                    Vec::new(),
                ));
            }
            plan.push((table, condition));
        }
        let removed =
            delete_everywhere(&self.store, &self.database, &plan, self.mutation_timeout).await?;
        let rows_removed_total = removed.iter().map(|table| table.rows).sum();
        tracing::info!(tenant, rows_removed_total, "subscriber erased");
        Ok(ErasureReceipt {
            tenant: tenant.to_string(),
            subscriber: subscriber.to_string(),
            requested_at_ms,
            completed_at_ms: now_ms(),
            denial,
            removed,
            rows_removed_total,
            kept: KEPT.iter().map(|line| line.to_string()).collect(),
        })
    }
}
