//! Tenant removal: every row of one tenant in every table, its API keys, and its records on
//! the consent topic.
//!
//! 1. A `removed:<T>` record tells the aggregators to drop the tenant's events from tokens
//!    issued until now (mails already sent), and tombstones delete the tenant's subscriber,
//!    tenant and campaign keys from the compacted topic.
//! 2. As for erasure, the call waits until every running aggregator applied them.
//! 3. `ALTER TABLE … DELETE WHERE tenant = T` runs on every table with a `tenant` column —
//!    raw events, aggregates, uniques, consent history, retention settings and log, and the
//!    API's `tenants` (keys) and `audit_log` — and is awaited.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mailpulse_event::{ConsentRecord, PolicyRecord, TenantRemoval, POLICY_SCHEMA_VERSION};
use serde::{Deserialize, Serialize};

use crate::ids::check_tenant;
use crate::mutations::{delete_everywhere, tables_with_columns, Condition, TableCount};
use crate::progress::{wait_applied, wait_for_older_inserts};
use crate::{now_ms, Privacy, PrivacyError};

/// How long after the deletion a second sweep runs, for rows that batching writers (the API's
/// audit queue, flushed every second) write late.
const STRAGGLER_WINDOW: Duration = Duration::from_secs(3);

/// What [`Privacy::delete_tenant`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantDeletionReceipt {
    pub tenant: String,
    pub requested_at_ms: u64,
    pub completed_at_ms: u64,
    /// Consent-topic keys deleted (tombstones written).
    pub consent_keys_removed: u64,
    /// Rows removed per table (every table with a `tenant` column).
    pub removed: Vec<TableCount>,
    pub rows_removed_total: u64,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Name {
    name: String,
}

impl Privacy {
    /// Removes a tenant and everything stored for it. Safe to repeat.
    pub async fn delete_tenant(
        &self,
        tenant: &str,
        source: &str,
    ) -> Result<TenantDeletionReceipt, PrivacyError> {
        check_tenant(tenant)?;
        crate::check_source(source)?;
        let requested_at_ms = now_ms();
        let since = Instant::now();

        let removal = TenantRemoval {
            v: POLICY_SCHEMA_VERSION,
            tenant: tenant.to_string(),
            issued_before_s: requested_at_ms / 1000,
            ts_ms: requested_at_ms,
            source: source.to_string(),
        };
        let mut keys = vec![PolicyRecord::key(tenant, None)];
        keys.extend(
            self.history_names(
                "SELECT DISTINCT subscriber AS name FROM consent_history \
                 WHERE tenant = ? AND scope = 'subscriber'",
                tenant,
            )
            .await?
            .iter()
            .map(|subscriber| ConsentRecord::key(tenant, subscriber)),
        );
        keys.extend(
            self.history_names(
                "SELECT DISTINCT campaign AS name FROM consent_history \
                 WHERE tenant = ? AND scope = 'campaign'",
                tenant,
            )
            .await?
            .iter()
            .map(|campaign| PolicyRecord::key(tenant, Some(campaign))),
        );
        let removal_key = TenantRemoval::key(tenant);
        let removal_payload = removal.to_json();
        let mut records: Vec<(&str, Option<&[u8]>)> =
            vec![(removal_key.as_str(), Some(removal_payload.as_slice()))];
        records.extend(keys.iter().map(|key| (key.as_str(), None)));
        let mut targets: BTreeMap<i32, i64> = BTreeMap::new();
        for delivery in self.topic.publish_all(records).await {
            let at = delivery.map_err(PrivacyError::Kafka)?;
            let highest = targets.entry(at.partition).or_insert(at.offset);
            *highest = (*highest).max(at.offset);
        }
        wait_applied(&self.store, self.topic.name(), &targets, self.apply_timeout).await?;
        wait_for_older_inserts(&self.store, since, self.apply_timeout).await?;

        let plan: Vec<(String, Condition)> =
            tables_with_columns(&self.store, &self.database, &["tenant"])
                .await?
                .into_iter()
                .map(|table| {
                    (
                        table,
                        Condition::new("tenant = ?", vec![tenant.to_string()]),
                    )
                })
                .collect();
        let mut removed =
            delete_everywhere(&self.store, &self.database, &plan, self.mutation_timeout).await?;
        // Writers that batch (the API's audit queue flushes every second) may still land rows
        // of calls made just before the removal: sweep once more after they have had time.
        tokio::time::sleep(STRAGGLER_WINDOW).await;
        let swept =
            delete_everywhere(&self.store, &self.database, &plan, self.mutation_timeout).await?;
        for (table, late) in removed.iter_mut().zip(swept) {
            table.rows += late.rows;
        }
        let rows_removed_total = removed.iter().map(|table| table.rows).sum();
        tracing::info!(tenant, rows_removed_total, "tenant removed");
        Ok(TenantDeletionReceipt {
            tenant: tenant.to_string(),
            requested_at_ms,
            completed_at_ms: now_ms(),
            consent_keys_removed: keys.len() as u64,
            removed,
            rows_removed_total,
        })
    }

    async fn history_names(&self, sql: &str, tenant: &str) -> Result<Vec<String>, PrivacyError> {
        Ok(self
            .store
            .query(sql)
            .bind(tenant)
            .fetch_all::<Name>()
            .await?
            .into_iter()
            .map(|row| row.name)
            .collect())
    }
}
