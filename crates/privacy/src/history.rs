//! `consent_history`: every consent and policy change with its time, source and position on
//! the consent topic, for audit, `consent show` and export.

use clickhouse::Client;
use mailpulse_event::{ConsentState, TrackingBasis, TrackingLevel};
use serde::{Deserialize, Serialize};

use crate::topic::Delivered;
use crate::PrivacyError;

pub const HISTORY_TABLE: &str = "consent_history";

/// What a history row is about (`scope` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Subscriber,
    Campaign,
    Tenant,
}

/// One row to insert (schema: `schemas/migrations/0005_privacy.sql`). Field order and types
/// must match the table: `tests/privacy_schema.rs` compares them with `DESCRIBE TABLE`.
#[derive(Debug, Clone, Serialize, clickhouse::Row)]
pub struct HistoryInsert<'a> {
    pub tenant: &'a str,
    /// `Enum8` code of [`Scope`].
    pub scope: i8,
    pub campaign: &'a str,
    pub subscriber: &'a str,
    /// `Enum8` code: 0 none (policies), 1 granted, 2 denied, 3 restricted.
    pub state: i8,
    /// `Enum8` code: -1 default, else the level's code.
    pub level: i8,
    /// `Enum8` code: 0 default, 1 opt_in, 2 legitimate_interest.
    pub basis: i8,
    pub ts_ms: u64,
    pub source: &'a str,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
    /// Seconds since the Unix epoch.
    pub recorded_at: u32,
}

impl<'a> HistoryInsert<'a> {
    /// A subscriber's consent change, delivered at `at`.
    pub fn subscriber(
        tenant: &'a str,
        subscriber: &'a str,
        state: ConsentState,
        level: Option<TrackingLevel>,
        ts_ms: u64,
        source: &'a str,
        at: Delivered,
    ) -> HistoryInsert<'a> {
        HistoryInsert {
            tenant,
            scope: scope_code(Scope::Subscriber),
            campaign: "",
            subscriber,
            state: state_code(Some(state)),
            level: level_code(level),
            basis: basis_code(None),
            ts_ms,
            source,
            kafka_partition: at.partition,
            kafka_offset: at.offset,
            recorded_at: secs(ts_ms),
        }
    }

    /// A tenant (`campaign` `None`) or campaign policy change, delivered at `at`.
    pub fn policy(
        tenant: &'a str,
        campaign: Option<&'a str>,
        basis: Option<TrackingBasis>,
        level: Option<TrackingLevel>,
        ts_ms: u64,
        source: &'a str,
        at: Delivered,
    ) -> HistoryInsert<'a> {
        let scope = if campaign.is_some() {
            Scope::Campaign
        } else {
            Scope::Tenant
        };
        HistoryInsert {
            tenant,
            scope: scope_code(scope),
            campaign: campaign.unwrap_or(""),
            subscriber: "",
            state: state_code(None),
            level: level_code(level),
            basis: basis_code(basis),
            ts_ms,
            source,
            kafka_partition: at.partition,
            kafka_offset: at.offset,
            recorded_at: secs(ts_ms),
        }
    }
}

fn secs(ts_ms: u64) -> u32 {
    u32::try_from(ts_ms / 1000).unwrap_or(u32::MAX)
}

pub fn scope_code(scope: Scope) -> i8 {
    match scope {
        Scope::Subscriber => 1,
        Scope::Campaign => 2,
        Scope::Tenant => 3,
    }
}

pub fn state_code(state: Option<ConsentState>) -> i8 {
    match state {
        None => 0,
        Some(ConsentState::Granted) => 1,
        Some(ConsentState::Denied) => 2,
        Some(ConsentState::Restricted) => 3,
    }
}

pub fn level_code(level: Option<TrackingLevel>) -> i8 {
    match level {
        None => -1,
        Some(TrackingLevel::Off) => 0,
        Some(TrackingLevel::Anonymous) => 1,
        Some(TrackingLevel::Pseudonymous) => 2,
        Some(TrackingLevel::Identified) => 3,
    }
}

pub fn basis_code(basis: Option<TrackingBasis>) -> i8 {
    match basis {
        None => 0,
        Some(TrackingBasis::OptIn) => 1,
        Some(TrackingBasis::LegitimateInterest) => 2,
    }
}

/// Inserts rows as one INSERT.
pub async fn insert(client: &Client, rows: &[HistoryInsert<'_>]) -> Result<(), PrivacyError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut insert = client.insert::<HistoryInsert<'_>>(HISTORY_TABLE).await?;
    for row in rows {
        insert.write(row).await?;
    }
    insert.end().await?;
    Ok(())
}

/// One change as read back: enums as their names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct ConsentChange {
    pub scope: String,
    pub campaign: String,
    pub subscriber: String,
    pub state: String,
    pub level: String,
    pub basis: String,
    pub ts_ms: u64,
    pub source: String,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
}

/// The columns of [`ConsentChange`], enums as strings.
const CHANGE_COLUMNS: &str = "toString(scope) AS scope, campaign, subscriber, \
     toString(state) AS state, toString(level) AS level, toString(basis) AS basis, \
     ts_ms, source, kafka_partition, kafka_offset";

/// A subscriber's changes, oldest first. Result columns: [`ConsentChange`].
pub fn subscriber_history_sql() -> String {
    format!(
        "SELECT {CHANGE_COLUMNS} FROM {HISTORY_TABLE} \
         WHERE tenant = ? AND scope = 'subscriber' AND subscriber = ? \
         ORDER BY ts_ms, kafka_partition, kafka_offset"
    )
}

/// A tenant's policy changes (tenant-wide and per campaign), oldest first.
pub fn policy_history_sql() -> String {
    format!(
        "SELECT {CHANGE_COLUMNS} FROM {HISTORY_TABLE} \
         WHERE tenant = ? AND scope != 'subscriber' \
         ORDER BY ts_ms, kafka_partition, kafka_offset"
    )
}

pub async fn subscriber_history(
    client: &Client,
    tenant: &str,
    subscriber: &str,
) -> Result<Vec<ConsentChange>, PrivacyError> {
    Ok(client
        .query(&subscriber_history_sql())
        .bind(tenant)
        .bind(subscriber)
        .fetch_all::<ConsentChange>()
        .await?)
}

pub async fn policy_history(
    client: &Client,
    tenant: &str,
) -> Result<Vec<ConsentChange>, PrivacyError> {
    Ok(client
        .query(&policy_history_sql())
        .bind(tenant)
        .fetch_all::<ConsentChange>()
        .await?)
}
