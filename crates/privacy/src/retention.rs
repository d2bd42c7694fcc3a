//! Raw-event retention: `privacy.retention_days` (default 396) for every tenant, overridden
//! per tenant in `tenant_retention`.
//!
//! A run ([`Privacy::run_retention`]):
//! 1. drops every monthly partition of `events` that ended before the *longest* retention of
//!    any tenant (cheap: whole files are removed);
//! 2. deletes, with `ALTER TABLE … DELETE`, the rows of tenants whose retention is shorter
//!    than that longest one, in `events` and every other per-subscriber table with a `ts`
//!    (e.g. `deliveries`), where rows past the longest retention go too (no monthly
//!    partitions to drop there);
//! 3. deletes `campaign_uniques` rows (subscriber keys) of campaigns that no longer have any
//!    raw event, so subscriber keys do not outlive the events they came from;
//! 4. prunes `consent_progress` heartbeats of aggregator processes gone for a day.
//!
//! Every action is recorded in `retention_log` and logged. Aggregate tables (anonymous counts
//! and sketches) are kept.
//!
//! `mailpulse retention run` runs it once; every `mailpulse aggregate` process runs it a minute
//! after start and then every hour ([`run_periodically`]). Runs are idempotent: a second replica running at the same time
//! finds little or nothing left to do.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use uuid::Uuid;

use crate::ids::check_tenant;
use crate::mutations::{count, start_delete, tables_with_columns, wait_done, Condition};
use crate::{now_ms, Privacy, PrivacyError};

const SECS_PER_DAY: u64 = 86_400;

/// Longest retention accepted, days (a hundred years: "keep").
const MAX_RETENTION_DAYS: u32 = 36_500;

/// How often [`run_periodically`] runs.
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

/// Heartbeats of aggregators silent this long are pruned.
const PROGRESS_PRUNE_AFTER_SECS: u64 = SECS_PER_DAY;

/// One thing a run removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionAction {
    /// `drop_partition` or `delete_rows`.
    pub action: String,
    pub table: String,
    /// The dropped partition (`YYYYMM`), else empty.
    pub partition: String,
    /// The tenant of a per-tenant delete; `*` for "every tenant without an override"; else
    /// empty.
    pub tenant: String,
    /// Rows older than this (seconds since the epoch) were removed.
    pub cutoff: u64,
    pub rows: u64,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionReport {
    pub run_id: String,
    /// Seconds since the epoch.
    pub run_at: u64,
    pub default_days: u32,
    /// Tenants with their own retention.
    pub overrides: BTreeMap<String, u32>,
    pub actions: Vec<RetentionAction>,
    pub partitions_dropped: u64,
    pub rows_removed_total: u64,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Override {
    tenant: String,
    retention_days: u32,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct PartitionRows {
    partition: String,
    rows: u64,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct CampaignKey {
    tenant: String,
    campaign: String,
}

/// A `retention_log` row (schema: `schemas/migrations/0005_privacy.sql`).
#[derive(Debug, Serialize, clickhouse::Row)]
pub struct RetentionLogRow<'a> {
    pub run_id: &'a str,
    pub run_at: u32,
    /// `Enum8`: 1 drop_partition, 2 delete_rows.
    pub action: i8,
    pub table_name: &'a str,
    pub partition: &'a str,
    pub tenant: &'a str,
    pub cutoff: u32,
    pub rows: u64,
}

/// A `tenant_retention` row.
#[derive(Debug, Serialize, clickhouse::Row)]
pub struct TenantRetentionRow<'a> {
    pub tenant: &'a str,
    /// 0: back to the default.
    pub retention_days: u32,
    pub seq: u64,
    pub updated_at: u32,
}

impl Privacy {
    /// Sets a tenant's raw-event retention (`None`: back to `privacy.retention_days`).
    pub async fn set_retention(&self, tenant: &str, days: Option<u32>) -> Result<(), PrivacyError> {
        check_tenant(tenant)?;
        if let Some(days) = days {
            if days == 0 || days > MAX_RETENTION_DAYS {
                return Err(PrivacyError::invalid(
                    "days",
                    format!("must be 1-{MAX_RETENTION_DAYS}"),
                ));
            }
        }
        let now = now_ms();
        let mut insert = self
            .store
            .insert::<TenantRetentionRow<'_>>("tenant_retention")
            .await?;
        insert
            .write(&TenantRetentionRow {
                tenant,
                retention_days: days.unwrap_or(0),
                seq: now,
                updated_at: secs_u32(now / 1000),
            })
            .await?;
        insert.end().await?;
        tracing::info!(tenant, ?days, "retention set");
        Ok(())
    }

    /// Tenants with their own retention, days.
    pub async fn retention_overrides(&self) -> Result<BTreeMap<String, u32>, PrivacyError> {
        Ok(self
            .store
            .query(
                "SELECT tenant, argMax(retention_days, seq) AS retention_days \
                 FROM tenant_retention GROUP BY tenant",
            )
            .fetch_all::<Override>()
            .await?
            .into_iter()
            .filter(|row| row.retention_days > 0)
            .map(|row| (row.tenant, row.retention_days))
            .collect())
    }

    /// One retention run, now.
    pub async fn run_retention(&self) -> Result<RetentionReport, PrivacyError> {
        self.run_retention_at(now_ms() / 1000).await
    }

    /// One retention run as if the time were `now` (seconds since the epoch).
    pub async fn run_retention_at(&self, now: u64) -> Result<RetentionReport, PrivacyError> {
        let overrides = self.retention_overrides().await?;
        let default_days = self.retention_days.max(1);
        let longest = overrides
            .values()
            .copied()
            .chain([default_days])
            .max()
            .unwrap_or(default_days);
        let cutoff_of = |days: u32| now.saturating_sub(u64::from(days) * SECS_PER_DAY);
        let mut report = RetentionReport {
            run_id: Uuid::now_v7().to_string(),
            run_at: now,
            default_days,
            overrides: overrides.clone(),
            actions: Vec::new(),
            partitions_dropped: 0,
            rows_removed_total: 0,
        };

        // 1. Whole months past everyone's retention.
        let global_cutoff = cutoff_of(longest);
        for part in self.event_partitions().await? {
            let Some(month_end) = month_end(&part.partition) else {
                continue;
            };
            if month_end <= global_cutoff {
                self.store
                    .query(&format!(
                        "ALTER TABLE events DROP PARTITION {}",
                        part.partition
                    ))
                    .execute()
                    .await?;
                report.partitions_dropped += 1;
                report.actions.push(RetentionAction {
                    action: "drop_partition".into(),
                    table: "events".into(),
                    partition: part.partition.clone(),
                    tenant: String::new(),
                    cutoff: month_end,
                    rows: part.rows,
                });
            }
        }

        // 2. Per-subscriber raw tables (`events`, and any other with tenant, subscriber_key
        //    and ts): rows of tenants with a shorter retention than the longest; in tables
        //    without monthly partitions, also rows past the longest.
        let mut deletes: Vec<(String, u64, Condition)> = Vec::new();
        for (tenant, days) in &overrides {
            if *days < longest {
                let cutoff = cutoff_of(*days);
                deletes.push((
                    tenant.clone(),
                    cutoff,
                    Condition::new(
                        format!("tenant = ? AND ts < toDateTime({cutoff})"),
                        vec![tenant.clone()],
                    ),
                ));
            }
        }
        if default_days < longest {
            let cutoff = cutoff_of(default_days);
            let others: Vec<String> = overrides.keys().cloned().collect();
            let mut condition = Condition::new(format!("ts < toDateTime({cutoff})"), Vec::new());
            if !others.is_empty() {
                let listed = Condition::one_of("tenant", &others);
                condition = condition.and(Condition::new(
                    format!("NOT ({})", listed.sql),
                    listed.binds,
                ));
            }
            deletes.push(("*".to_string(), cutoff, condition));
        }
        let raw_tables = tables_with_columns(
            &self.store,
            &self.database,
            &["tenant", "subscriber_key", "ts"],
        )
        .await?;
        let mut mutated = BTreeSet::new();
        for table in &raw_tables {
            let mut conditions = deletes.clone();
            if table != "events" {
                conditions.push((
                    String::new(),
                    global_cutoff,
                    Condition::new(format!("ts < toDateTime({global_cutoff})"), Vec::new()),
                ));
            }
            for (tenant, cutoff, condition) in &conditions {
                let rows = count(&self.store, table, condition).await?;
                if rows == 0 {
                    continue;
                }
                start_delete(&self.store, table, condition).await?;
                mutated.insert(table.clone());
                report.actions.push(RetentionAction {
                    action: "delete_rows".into(),
                    table: table.clone(),
                    partition: String::new(),
                    tenant: tenant.clone(),
                    cutoff: *cutoff,
                    rows,
                });
            }
        }
        wait_done(&self.store, &self.database, &mutated, self.mutation_timeout).await?;

        // 3. Subscriber keys of campaigns without raw events left.
        let orphans = self
            .store
            .query(
                "SELECT DISTINCT tenant, campaign FROM campaign_uniques \
                 WHERE (tenant, campaign) NOT IN (SELECT DISTINCT tenant, campaign FROM events)",
            )
            .fetch_all::<CampaignKey>()
            .await?;
        if !orphans.is_empty() {
            let pairs = vec!["(?, ?)"; orphans.len()].join(", ");
            let binds = orphans
                .iter()
                .flat_map(|key| [key.tenant.clone(), key.campaign.clone()])
                .collect();
            let condition = Condition::new(format!("(tenant, campaign) IN ({pairs})"), binds);
            let rows = count(&self.store, "campaign_uniques", &condition).await?;
            start_delete(&self.store, "campaign_uniques", &condition).await?;
            let tables = BTreeSet::from(["campaign_uniques".to_string()]);
            wait_done(&self.store, &self.database, &tables, self.mutation_timeout).await?;
            report.actions.push(RetentionAction {
                action: "delete_rows".into(),
                table: "campaign_uniques".into(),
                partition: String::new(),
                tenant: String::new(),
                cutoff: now,
                rows,
            });
        }

        // 4. Heartbeats of aggregators long gone (no personal data; keeps the table small).
        let stale = Condition::new(
            format!(
                "reported_at < toDateTime({})",
                now.saturating_sub(PROGRESS_PRUNE_AFTER_SECS)
            ),
            Vec::new(),
        );
        if count(&self.store, "consent_progress", &stale).await? > 0 {
            start_delete(&self.store, "consent_progress", &stale).await?;
        }

        report.rows_removed_total = report.actions.iter().map(|a| a.rows).sum();
        self.log_retention(&report).await?;
        for action in &report.actions {
            tracing::info!(
                action = %action.action,
                table = %action.table,
                partition = %action.partition,
                tenant = %action.tenant,
                cutoff = action.cutoff,
                rows = action.rows,
                "retention removed data"
            );
        }
        tracing::info!(
            partitions_dropped = report.partitions_dropped,
            rows_removed_total = report.rows_removed_total,
            "retention run finished"
        );
        Ok(report)
    }

    async fn event_partitions(&self) -> Result<Vec<PartitionRows>, PrivacyError> {
        Ok(self
            .store
            .query(
                "SELECT partition, sum(rows) AS rows FROM system.parts \
                 WHERE database = ? AND table = 'events' AND active \
                 GROUP BY partition ORDER BY partition",
            )
            .bind(self.database.as_str())
            .fetch_all::<PartitionRows>()
            .await?)
    }

    async fn log_retention(&self, report: &RetentionReport) -> Result<(), PrivacyError> {
        if report.actions.is_empty() {
            return Ok(());
        }
        let mut insert = self
            .store
            .insert::<RetentionLogRow<'_>>("retention_log")
            .await?;
        for action in &report.actions {
            insert
                .write(&RetentionLogRow {
                    run_id: &report.run_id,
                    run_at: secs_u32(report.run_at),
                    action: if action.action == "drop_partition" {
                        1
                    } else {
                        2
                    },
                    table_name: &action.table,
                    partition: &action.partition,
                    tenant: &action.tenant,
                    cutoff: secs_u32(action.cutoff),
                    rows: action.rows,
                })
                .await?;
        }
        insert.end().await?;
        Ok(())
    }
}

/// Runs retention a minute after start (or after `every`, if shorter), then every `every`,
/// until `shutdown` turns true; failures are logged and the next run tries again. The first
/// run comes early so that processes restarted more often than `every` still run it.
pub async fn run_periodically(
    privacy: Arc<Privacy>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut wait = every.min(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = every;
        if let Err(error) = privacy.run_retention().await {
            tracing::warn!(%error, "retention run failed; retrying at the next interval");
        }
    }
}

fn secs_u32(secs: u64) -> u32 {
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// The end of the month a `YYYYMM` partition holds (the next month's first second, UTC).
fn month_end(partition: &str) -> Option<u64> {
    if partition.len() != 6 || !partition.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i64 = partition[..4].parse().ok()?;
    let month: i64 = partition[4..].parse().ok()?;
    if !(1..=12).contains(&month) {
        return None;
    }
    let (year, month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    u64::try_from(days_from_civil(year, month, 1) * SECS_PER_DAY as i64).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_ends_are_the_next_months_first_second() {
        assert_eq!(month_end("197001"), Some(31 * SECS_PER_DAY));
        assert_eq!(month_end("202402"), Some(1_709_251_200)); // 2024-03-01T00:00:00Z
        assert_eq!(month_end("202312"), Some(1_704_067_200)); // 2024-01-01T00:00:00Z
        assert_eq!(month_end("202413"), None);
        assert_eq!(month_end("all"), None);
    }

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }
}
