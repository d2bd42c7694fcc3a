//! Campaign statistics read from the aggregate tables (never by scanning `events`).
//!
//! Totals come from `campaign_daily`, exact uniques from `campaign_uniques`, links from
//! `link_daily` and breakdowns from `campaign_breakdown`. Uniques count subscriber keys, so
//! events stored anonymously (no consent, DNT/GPC) count in totals but never as uniques.

use std::collections::BTreeMap;

use clickhouse::Client;
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Longest list of links a summary returns.
const MAX_LINKS: u64 = 1000;

/// Values per breakdown dimension a summary returns, most opens and clicks first.
const TOP_PER_DIMENSION: u64 = 10;

/// A campaign's statistics, as `mailpulse stats` prints them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CampaignSummary {
    pub tenant: String,
    pub campaign: String,
    pub opens_total: u64,
    /// Distinct subscribers with at least one open (exact).
    pub opens_unique: u64,
    pub opens_human: u64,
    pub opens_machine: u64,
    /// Distinct subscribers with at least one open not classified as a machine open (exact).
    pub opens_unique_human: u64,
    pub clicks_total: u64,
    /// Distinct subscribers with at least one click (exact).
    pub clicks_unique: u64,
    pub clicks_human: u64,
    pub clicks_machine: u64,
    /// Distinct subscribers with at least one click not classified as a scanner (exact).
    pub clicks_unique_human: u64,
    pub unsubscribes: u64,
    /// Distinct recipients the senders reported per delivery status (`deliveries`; zero when
    /// none were reported). Open rate = `opens_unique_human / delivered`.
    pub sent: u64,
    pub delivered: u64,
    pub bounced: u64,
    pub complained: u64,
    /// Per link, most clicks first.
    pub links: Vec<LinkStats>,
    /// Per dimension (`country`, `email_client`, `device`, `os`, `browser`, `network`), the top
    /// values by opens + clicks. `""` is "unknown".
    pub breakdown: BTreeMap<String, Vec<BreakdownEntry>>,
}

/// Clicks of one link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct LinkStats {
    pub link: String,
    pub url: String,
    pub clicks_total: u64,
    pub clicks_machine: u64,
    /// Distinct clicking subscribers, by ClickHouse's `uniq`: exact for small counts, an
    /// estimate (about 1 % error) for large ones.
    pub clicks_unique_approx: u64,
}

/// Opens and clicks of one value of a dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BreakdownEntry {
    pub value: String,
    pub opens: u64,
    pub opens_machine: u64,
    pub clicks: u64,
    pub clicks_machine: u64,
}

/// Result row of [`TOTALS_SQL`].
#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row)]
pub struct TotalsRow {
    pub opens_total: u64,
    pub opens_machine: u64,
    pub clicks_total: u64,
    pub clicks_machine: u64,
    pub unsubscribes: u64,
}

pub const TOTALS_SQL: &str = "SELECT \
       sumMerge(opens) AS opens_total, \
       sumMerge(opens_machine) AS opens_machine, \
       sumMerge(clicks) AS clicks_total, \
       sumMerge(clicks_machine) AS clicks_machine, \
       sumMerge(unsubscribes) AS unsubscribes \
     FROM campaign_daily WHERE tenant = ? AND campaign = ?";

/// Result row of [`UNIQUES_SQL`].
#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row)]
pub struct UniquesRow {
    pub opens_unique: u64,
    pub opens_unique_human: u64,
    pub clicks_unique: u64,
    pub clicks_unique_human: u64,
}

pub const UNIQUES_SQL: &str = "SELECT \
       uniqExactIf(subscriber_key, kind = 'open') AS opens_unique, \
       uniqExactIf(subscriber_key, kind = 'open' AND machine = 0) AS opens_unique_human, \
       uniqExactIf(subscriber_key, kind = 'click') AS clicks_unique, \
       uniqExactIf(subscriber_key, kind = 'click' AND machine = 0) AS clicks_unique_human \
     FROM campaign_uniques WHERE tenant = ? AND campaign = ?";

pub const LINKS_SQL: &str = "SELECT \
       link, \
       anyLastMerge(url) AS url, \
       sumMerge(clicks) AS clicks_total, \
       sumMerge(clicks_machine) AS clicks_machine, \
       uniqMerge(clickers) AS clicks_unique_approx \
     FROM link_daily WHERE tenant = ? AND campaign = ? \
     GROUP BY link ORDER BY clicks_total DESC, link LIMIT ?";

/// Result row of [`BREAKDOWN_SQL`].
#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row)]
pub struct BreakdownRow {
    pub dimension: String,
    pub value: String,
    pub opens_total: u64,
    pub opens_machine: u64,
    pub clicks_total: u64,
    pub clicks_machine: u64,
}

pub const BREAKDOWN_SQL: &str = "SELECT \
       dimension, \
       value, \
       sumMerge(opens) AS opens_total, \
       sumMerge(opens_machine) AS opens_machine, \
       sumMerge(clicks) AS clicks_total, \
       sumMerge(clicks_machine) AS clicks_machine \
     FROM campaign_breakdown WHERE tenant = ? AND campaign = ? \
     GROUP BY dimension, value \
     ORDER BY dimension, opens_total + clicks_total DESC, value \
     LIMIT ? BY dimension";

/// Reads the summary of one campaign. A campaign without events has all counts zero.
pub async fn campaign_summary(
    client: &Client,
    tenant: &str,
    campaign: &str,
) -> Result<CampaignSummary, StoreError> {
    let totals = client
        .query(TOTALS_SQL)
        .bind(tenant)
        .bind(campaign)
        .fetch_one::<TotalsRow>()
        .await?;
    let uniques = client
        .query(UNIQUES_SQL)
        .bind(tenant)
        .bind(campaign)
        .fetch_one::<UniquesRow>()
        .await?;
    let deliveries = crate::deliveries::delivery_counts(client, tenant, campaign).await?;
    let links = client
        .query(LINKS_SQL)
        .bind(tenant)
        .bind(campaign)
        .bind(MAX_LINKS)
        .fetch_all::<LinkStats>()
        .await?;
    let breakdown_rows = client
        .query(BREAKDOWN_SQL)
        .bind(tenant)
        .bind(campaign)
        .bind(TOP_PER_DIMENSION)
        .fetch_all::<BreakdownRow>()
        .await?;

    let mut breakdown: BTreeMap<String, Vec<BreakdownEntry>> = BTreeMap::new();
    for row in breakdown_rows {
        breakdown
            .entry(row.dimension)
            .or_default()
            .push(BreakdownEntry {
                value: row.value,
                opens: row.opens_total,
                opens_machine: row.opens_machine,
                clicks: row.clicks_total,
                clicks_machine: row.clicks_machine,
            });
    }

    Ok(CampaignSummary {
        tenant: tenant.to_string(),
        campaign: campaign.to_string(),
        opens_total: totals.opens_total,
        opens_unique: uniques.opens_unique,
        opens_human: totals.opens_total.saturating_sub(totals.opens_machine),
        opens_machine: totals.opens_machine,
        opens_unique_human: uniques.opens_unique_human,
        clicks_total: totals.clicks_total,
        clicks_unique: uniques.clicks_unique,
        clicks_human: totals.clicks_total.saturating_sub(totals.clicks_machine),
        clicks_machine: totals.clicks_machine,
        clicks_unique_human: uniques.clicks_unique_human,
        unsubscribes: totals.unsubscribes,
        sent: deliveries.sent,
        delivered: deliveries.delivered,
        bounced: deliveries.bounced,
        complained: deliveries.complained,
        links,
        breakdown,
    })
}
