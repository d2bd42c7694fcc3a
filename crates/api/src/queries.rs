//! The SQL behind every view and its result rows. Everything reads the aggregate tables
//! (`campaign_daily`, `campaign_hourly`, `link_daily`, `campaign_breakdown`,
//! `campaign_uniques`, `campaign_deliveries`, `delivery_daily`; the summary's delivered count
//! also reads `deliveries`), never `events`, and every statement filters on
//! the caller's tenant first: the tables are ordered by `(tenant, campaign, …)`, so a query
//! touches one campaign's rows, however many raw events exist.
//!
//! Row structs must match their queries' result types exactly (the client runs without
//! validation): `tests/api_stats.rs` compares each with the server's result header.

use serde::{Deserialize, Serialize};

/// Whether the campaign has statistics, a delivery report or delivery statuses (one round
/// trip). Binds: tenant, campaign, three times.
pub const EXISTS_SQL: &str = "SELECT \
       (SELECT count() FROM campaign_daily WHERE tenant = ? AND campaign = ?) \
     + (SELECT count() FROM campaign_deliveries WHERE tenant = ? AND campaign = ?) \
     + (SELECT count() FROM delivery_daily WHERE tenant = ? AND campaign = ?) AS rows";

/// Result row of [`TOTALS_SQL`] and, grouped by campaign, of [`CAMPAIGNS_SQL`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, clickhouse::Row)]
pub struct TotalsRow {
    pub campaign: String,
    /// Aggregate rows read; 0 means the campaign has no events.
    pub rows: u64,
    /// Days since the epoch (`Date`).
    pub first_day: u16,
    pub last_day: u16,
    pub opens_total: u64,
    pub opens_machine: u64,
    pub clicks_total: u64,
    pub clicks_machine: u64,
    pub unsubscribes: u64,
}

const TOTALS_COLUMNS: &str = "campaign, \
       count() AS rows, \
       min(day) AS first_day, \
       max(day) AS last_day, \
       sumMerge(opens) AS opens_total, \
       sumMerge(opens_machine) AS opens_machine, \
       sumMerge(clicks) AS clicks_total, \
       sumMerge(clicks_machine) AS clicks_machine, \
       sumMerge(unsubscribes) AS unsubscribes";

/// One campaign's totals. Binds: tenant, campaign.
pub fn totals_sql() -> String {
    format!(
        "SELECT {TOTALS_COLUMNS} FROM campaign_daily \
         WHERE tenant = ? AND campaign = ? GROUP BY campaign"
    )
}

/// Every campaign's totals, latest first. Binds: tenant, limit.
pub fn campaigns_sql() -> String {
    format!(
        "SELECT {TOTALS_COLUMNS} FROM campaign_daily WHERE tenant = ? \
         GROUP BY campaign ORDER BY last_day DESC, campaign LIMIT ?"
    )
}

/// Result row of [`DELIVERIES_SQL`] and [`ALL_DELIVERIES_SQL`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, clickhouse::Row)]
pub struct DeliveriesRow {
    pub campaign: String,
    pub delivered: u64,
}

/// The latest delivery report of one campaign. Binds: tenant, campaign.
pub const DELIVERIES_SQL: &str = "SELECT campaign, argMax(delivered, version) AS delivered \
     FROM campaign_deliveries WHERE tenant = ? AND campaign = ? GROUP BY campaign";

/// The latest delivery report of every campaign. Binds: tenant.
pub const ALL_DELIVERIES_SQL: &str = "SELECT campaign, argMax(delivered, version) AS delivered \
     FROM campaign_deliveries WHERE tenant = ? GROUP BY campaign";

/// Result row of [`RECIPIENTS_SQL`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, clickhouse::Row)]
pub struct RecipientsRow {
    /// Distinct recipients with a `delivered` status (exact).
    pub delivered: u64,
    /// Rows of the campaign in `delivery_daily`, any status: 0 means no statuses at all.
    pub status_rows: u64,
}

/// One campaign's delivered recipients from the per-recipient statuses, exact (the number
/// `mailpulse stats` prints). `deliveries` is ordered by `(tenant, campaign, status, …)`, so
/// this reads the campaign's `delivered` rows only. Binds: tenant, campaign, tenant, campaign.
pub const RECIPIENTS_SQL: &str = "SELECT \
       (SELECT uniqExact(subscriber_key) FROM deliveries \
        WHERE tenant = ? AND campaign = ? AND status = 'delivered') AS delivered, \
       (SELECT count() FROM delivery_daily WHERE tenant = ? AND campaign = ?) AS status_rows";

/// Every campaign's delivered recipients from `delivery_daily` (campaigns with any status;
/// 0 when none is `delivered`). `uniq` states: exact for small campaigns, within about 1 % for
/// large ones — reading `deliveries` for every campaign of a tenant would grow with all its
/// recipients. Binds: tenant.
pub const ALL_RECIPIENTS_SQL: &str = "SELECT campaign, \
       uniqMergeIf(recipients, status = 'delivered') AS delivered \
     FROM delivery_daily WHERE tenant = ? GROUP BY campaign";

/// A delivery report as written.
#[derive(Debug, Default, Serialize, clickhouse::Row)]
pub struct DeliveryReport<'a> {
    pub tenant: &'a str,
    pub campaign: &'a str,
    pub delivered: u64,
    pub reported_at: u32,
    pub version: u64,
}

/// Result row of [`LINKS_SQL`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, clickhouse::Row)]
pub struct LinkRow {
    pub link: String,
    pub url: String,
    pub clicks_total: u64,
    pub clicks_machine: u64,
}

/// Clicks per link, most first. Binds: tenant, campaign, limit. The per-link `uniq` states
/// are left alone: merging them costs time in proportion to the clicks stored (about 0.3 s at
/// 10M events), everything else here stays in milliseconds; `v_link_clicks` has them for BI.
pub const LINKS_SQL: &str = "SELECT \
       link, \
       anyLastMerge(url) AS url, \
       sumMerge(clicks) AS clicks_total, \
       sumMerge(clicks_machine) AS clicks_machine \
     FROM link_daily WHERE tenant = ? AND campaign = ? \
     GROUP BY link ORDER BY clicks_total DESC, link LIMIT ?";

/// Result row of [`BREAKDOWN_SQL`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, clickhouse::Row)]
pub struct BreakdownRow {
    pub value: String,
    pub opens_total: u64,
    pub opens_machine: u64,
    pub clicks_total: u64,
    pub clicks_machine: u64,
}

/// Opens and clicks per value of one dimension, most first. Binds: tenant, campaign,
/// dimension, limit.
pub const BREAKDOWN_SQL: &str = "SELECT \
       value, \
       sumMerge(opens) AS opens_total, \
       sumMerge(opens_machine) AS opens_machine, \
       sumMerge(clicks) AS clicks_total, \
       sumMerge(clicks_machine) AS clicks_machine \
     FROM campaign_breakdown WHERE tenant = ? AND campaign = ? AND dimension = ? \
     GROUP BY value ORDER BY opens_total + clicks_total DESC, value LIMIT ?";

/// Result row of the time-series queries.
#[derive(Debug, Clone, Default, Serialize, Deserialize, clickhouse::Row)]
pub struct BucketRow {
    /// Start of the bucket, Unix seconds.
    pub bucket: u32,
    pub opens_total: u64,
    pub opens_machine: u64,
    pub clicks_total: u64,
    pub clicks_machine: u64,
    pub unsubscribes: u64,
}

/// Counters only: the buckets' `uniq` states would make the cost grow with the events per
/// bucket (see [`LINKS_SQL`]); `v_campaign_hourly`/`v_campaign_daily` have them for BI.
const BUCKET_COLUMNS: &str = "sumMerge(opens) AS opens_total, \
       sumMerge(opens_machine) AS opens_machine, \
       sumMerge(clicks) AS clicks_total, \
       sumMerge(clicks_machine) AS clicks_machine, \
       sumMerge(unsubscribes) AS unsubscribes";

/// Hourly buckets in `[from, to]`. Binds: tenant, campaign, from and to (Unix seconds).
pub fn hourly_sql() -> String {
    format!(
        "SELECT toUInt32(hour) AS bucket, {BUCKET_COLUMNS} FROM campaign_hourly \
         WHERE tenant = ? AND campaign = ? AND hour >= ? AND hour <= ? \
         GROUP BY hour ORDER BY hour"
    )
}

/// Daily buckets in `[from, to]`. Binds: tenant, campaign, from and to as `YYYY-MM-DD`.
pub fn daily_sql() -> String {
    format!(
        "SELECT toUInt32(toUInt32(day) * 86400) AS bucket, {BUCKET_COLUMNS} FROM campaign_daily \
         WHERE tenant = ? AND campaign = ? AND day >= toDate(?) AND day <= toDate(?) \
         GROUP BY day ORDER BY day"
    )
}

/// Result row of [`UNIQUES_SQL`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, clickhouse::Row)]
pub struct UniquesRow {
    pub opens_unique: u64,
    pub opens_unique_human: u64,
    pub clicks_unique: u64,
    pub clicks_unique_human: u64,
}

/// Exact uniques from `campaign_uniques` (the numbers of `mailpulse stats`): one hash table
/// keyed by subscriber, where each subscriber gets a bit mask of what they did — bit 0 human
/// open, 1 machine open, 2 human click, 3 machine click (`(kind - 1) * 2 + machine`) — instead
/// of four `uniqExact` sets (about 1.5× faster on ClickHouse 18.16). Unsubscribe rows are skipped
/// through the primary key; unmerged duplicate rows collapse in the GROUP BY. Binds: tenant,
/// campaign.
pub const UNIQUES_SQL: &str = "SELECT \
       countIf(bitAnd(did, 3) != 0) AS opens_unique, \
       countIf(bitAnd(did, 1) != 0) AS opens_unique_human, \
       countIf(bitAnd(did, 12) != 0) AS clicks_unique, \
       countIf(bitAnd(did, 4) != 0) AS clicks_unique_human \
     FROM ( \
       SELECT groupBitOr(toUInt8(bitShiftLeft(toUInt8(1), (toUInt8(kind) - 1) * 2 + machine))) AS did \
       FROM campaign_uniques \
       WHERE tenant = ? AND campaign = ? AND kind IN ('open', 'click') \
       GROUP BY subscriber_key)";
