//! The statistics views, scoped to one tenant: campaign list, campaign summary, links,
//! breakdowns and time series. Each is a flat, serialisable shape so the same value answers
//! as JSON and as CSV. Uniques are in the summary only, and exact.

use std::collections::BTreeMap;

use clickhouse::Client;
use serde::Serialize;

use crate::queries::{
    self, BreakdownRow, BucketRow, DeliveriesRow, LinkRow, RecipientsRow, TotalsRow,
};
use crate::tenant::{now_nanos, now_secs, TenantId};
use crate::time::{format_day, format_timestamp, DAY, HOUR};
use crate::ApiError;

/// Most campaigns a list returns.
pub const MAX_CAMPAIGNS: u64 = 1_000;
/// Most links a campaign's link view returns.
pub const MAX_LINKS: u64 = 1_000;
/// Most values a breakdown returns.
pub const MAX_BREAKDOWN_VALUES: u64 = 250;
/// Most buckets a time series returns.
pub const MAX_POINTS: u64 = 5_000;
/// The upper bound of an open-ended range: 2100-01-01, inside both `Date` and `DateTime`.
const UNBOUNDED_TO: u32 = 4_102_444_800;

/// One campaign in the list.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CampaignListEntry {
    pub campaign: String,
    /// First and last day with events (`YYYY-MM-DD`); null before the first event.
    pub first_day: Option<String>,
    pub last_day: Option<String>,
    /// Emails delivered ([`delivered`]); null if never reported.
    pub delivered: Option<u64>,
    pub opens_total: u64,
    pub opens_human: u64,
    pub opens_machine: u64,
    pub clicks_total: u64,
    pub clicks_human: u64,
    pub clicks_machine: u64,
    pub unsubscribes: u64,
}

/// A campaign's headline numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CampaignSummary {
    pub campaign: String,
    pub first_day: Option<String>,
    pub last_day: Option<String>,
    /// Emails delivered ([`delivered`]); null if unknown.
    pub delivered: Option<u64>,
    pub opens_total: u64,
    pub opens_human: u64,
    pub opens_machine: u64,
    /// Distinct subscribers who opened (exact; anonymous opens never count).
    pub opens_unique: u64,
    /// Distinct subscribers with an open not classified as a machine open (exact).
    pub opens_unique_human: u64,
    pub clicks_total: u64,
    pub clicks_human: u64,
    pub clicks_machine: u64,
    pub clicks_unique: u64,
    pub clicks_unique_human: u64,
    pub unsubscribes: u64,
    /// opens_unique / delivered (openers whose every open was a machine's count too); null
    /// when delivered is unknown or 0, as every rate with a 0 or unknown denominator.
    pub open_rate: Option<f64>,
    /// clicks_unique / delivered.
    pub click_through_rate: Option<f64>,
    /// clicks_unique / opens_unique.
    pub click_to_open_rate: Option<f64>,
    /// The headline open rate: opens_unique_human / delivered.
    pub open_rate_human: Option<f64>,
    /// clicks_unique_human / delivered.
    pub click_through_rate_human: Option<f64>,
    /// clicks_unique_human / opens_unique_human. A subscriber whose click counts as human but
    /// whose opens were all machine opens (images blocked) is a clicker without an opener, so
    /// this can exceed 1.
    pub click_to_open_rate_human: Option<f64>,
}

/// Clicks of one link.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LinkEntry {
    pub link: String,
    pub url: String,
    pub clicks_total: u64,
    pub clicks_human: u64,
    pub clicks_machine: u64,
}

/// Opens and clicks of one value of a dimension (`""` is "unknown").
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BreakdownEntry {
    pub value: String,
    pub opens_total: u64,
    pub opens_human: u64,
    pub opens_machine: u64,
    pub clicks_total: u64,
    pub clicks_human: u64,
    pub clicks_machine: u64,
}

/// One bucket of a time series.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SeriesPoint {
    /// Start of the bucket: `YYYY-MM-DDTHH:00:00Z` (hourly) or `YYYY-MM-DD` (daily).
    pub bucket: String,
    pub opens_total: u64,
    pub opens_human: u64,
    pub opens_machine: u64,
    pub clicks_total: u64,
    pub clicks_human: u64,
    pub clicks_machine: u64,
    pub unsubscribes: u64,
}

/// The breakdown dimensions `campaign_breakdown` holds.
pub const DIMENSIONS: [&str; 6] = [
    "country",
    "email_client",
    "device",
    "os",
    "browser",
    "network",
];

/// Bucket size of a time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Hour,
    Day,
}

impl Interval {
    pub fn parse(text: &str) -> Result<Interval, ApiError> {
        match text {
            "hour" => Ok(Interval::Hour),
            "day" => Ok(Interval::Day),
            _ => Err(ApiError::invalid("interval must be `hour` or `day`")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Hour => "hour",
            Interval::Day => "day",
        }
    }

    fn seconds(self) -> u32 {
        match self {
            Interval::Hour => HOUR,
            Interval::Day => DAY,
        }
    }

    fn label(self, bucket: u32) -> String {
        match self {
            Interval::Hour => format_timestamp(bucket),
            // A bucket start is a whole day here, so the division is exact.
            Interval::Day => format_day(u16::try_from(bucket / DAY).unwrap_or(u16::MAX)),
        }
    }
}

/// A time series with the range it covers (null bounds when there is no data and none was
/// asked for).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub campaign: String,
    pub interval: &'static str,
    pub from: Option<String>,
    pub to: Option<String>,
    pub points: Vec<SeriesPoint>,
}

fn ratio(numerator: u64, denominator: Option<u64>) -> Option<f64> {
    match denominator {
        Some(d) if d > 0 => Some(numerator as f64 / d as f64),
        _ => None,
    }
}

/// A campaign's delivered count: the distinct recipients with a `delivered` status when the
/// senders reported any per-recipient statuses saying so (`POST /v1/deliveries`), else the
/// campaign-level count of `PUT /v1/campaigns/{campaign}/deliveries`, else unknown.
pub fn delivered(recipients_delivered: u64, reported: Option<u64>) -> Option<u64> {
    if recipients_delivered > 0 {
        Some(recipients_delivered)
    } else {
        reported
    }
}

fn day_or_none(rows: u64, day: u16) -> Option<String> {
    (rows > 0).then(|| format_day(day))
}

/// Every campaign of the tenant with its totals: campaigns with events, latest first, after
/// them campaigns with delivery reports or statuses but no events yet. `delivered` here counts
/// recipients with `delivery_daily`'s `uniq` (within about 1 % on large campaigns; the
/// summary's count is exact).
pub async fn campaigns(
    client: &Client,
    tenant: &TenantId,
) -> Result<Vec<CampaignListEntry>, ApiError> {
    let totals_sql = queries::campaigns_sql();
    let totals = client
        .query(&totals_sql)
        .bind(tenant.as_str())
        .bind(MAX_CAMPAIGNS)
        .fetch_all::<TotalsRow>();
    let reports = client
        .query(queries::ALL_DELIVERIES_SQL)
        .bind(tenant.as_str())
        .fetch_all::<DeliveriesRow>();
    let recipients = client
        .query(queries::ALL_RECIPIENTS_SQL)
        .bind(tenant.as_str())
        .fetch_all::<DeliveriesRow>();
    let (totals, reports, recipients) = tokio::try_join!(totals, reports, recipients)?;
    // Campaign → (delivered recipients, reported count), for campaigns with either.
    let mut deliveries: BTreeMap<String, (u64, Option<u64>)> = BTreeMap::new();
    for row in recipients {
        deliveries.entry(row.campaign).or_default().0 = row.delivered;
    }
    for row in reports {
        deliveries.entry(row.campaign).or_default().1 = Some(row.delivered);
    }
    let mut list: Vec<CampaignListEntry> = totals
        .into_iter()
        .map(|row| {
            let (recipients, reported) = deliveries.remove(&row.campaign).unwrap_or_default();
            list_entry(row, delivered(recipients, reported))
        })
        .collect();
    for (campaign, (recipients, reported)) in deliveries {
        let row = TotalsRow {
            campaign,
            ..TotalsRow::default()
        };
        list.push(list_entry(row, delivered(recipients, reported)));
    }
    Ok(list)
}

fn list_entry(row: TotalsRow, delivered: Option<u64>) -> CampaignListEntry {
    CampaignListEntry {
        first_day: day_or_none(row.rows, row.first_day),
        last_day: day_or_none(row.rows, row.last_day),
        delivered,
        opens_total: row.opens_total,
        opens_human: row.opens_total.saturating_sub(row.opens_machine),
        opens_machine: row.opens_machine,
        clicks_total: row.clicks_total,
        clicks_human: row.clicks_total.saturating_sub(row.clicks_machine),
        clicks_machine: row.clicks_machine,
        unsubscribes: row.unsubscribes,
        campaign: row.campaign,
    }
}

/// A campaign's summary; `CampaignNotFound` when the tenant has no such campaign.
pub async fn summary(
    client: &Client,
    tenant: &TenantId,
    campaign: &str,
) -> Result<CampaignSummary, ApiError> {
    let totals_sql = queries::totals_sql();
    let totals = client
        .query(&totals_sql)
        .bind(tenant.as_str())
        .bind(campaign)
        .fetch_all::<TotalsRow>();
    let uniques = client
        .query(queries::UNIQUES_SQL)
        .bind(tenant.as_str())
        .bind(campaign)
        .fetch_one::<queries::UniquesRow>();
    let reports = client
        .query(queries::DELIVERIES_SQL)
        .bind(tenant.as_str())
        .bind(campaign)
        .fetch_all::<DeliveriesRow>();
    let recipients = client
        .query(queries::RECIPIENTS_SQL)
        .bind(tenant.as_str())
        .bind(campaign)
        .bind(tenant.as_str())
        .bind(campaign)
        .fetch_one::<RecipientsRow>();
    let (totals, uniques, reports, recipients) =
        tokio::try_join!(totals, uniques, reports, recipients)?;
    let reported = reports.first().map(|row| row.delivered);
    let delivered = delivered(recipients.delivered, reported);
    let has_deliveries = reported.is_some() || recipients.status_rows > 0;
    let Some(totals) = totals.into_iter().next().or_else(|| {
        has_deliveries.then(|| TotalsRow {
            campaign: campaign.to_string(),
            ..TotalsRow::default()
        })
    }) else {
        return Err(ApiError::CampaignNotFound(campaign.to_string()));
    };
    let opens_unique = uniques.opens_unique;
    let clicks_unique = uniques.clicks_unique;
    let opens_unique_human = uniques.opens_unique_human;
    let clicks_unique_human = uniques.clicks_unique_human;
    Ok(CampaignSummary {
        campaign: campaign.to_string(),
        first_day: day_or_none(totals.rows, totals.first_day),
        last_day: day_or_none(totals.rows, totals.last_day),
        delivered,
        opens_total: totals.opens_total,
        opens_human: totals.opens_total.saturating_sub(totals.opens_machine),
        opens_machine: totals.opens_machine,
        opens_unique,
        opens_unique_human,
        clicks_total: totals.clicks_total,
        clicks_human: totals.clicks_total.saturating_sub(totals.clicks_machine),
        clicks_machine: totals.clicks_machine,
        clicks_unique,
        clicks_unique_human,
        unsubscribes: totals.unsubscribes,
        open_rate: ratio(opens_unique, delivered),
        click_through_rate: ratio(clicks_unique, delivered),
        click_to_open_rate: ratio(clicks_unique, Some(opens_unique)),
        open_rate_human: ratio(opens_unique_human, delivered),
        click_through_rate_human: ratio(clicks_unique_human, delivered),
        click_to_open_rate_human: ratio(clicks_unique_human, Some(opens_unique_human)),
    })
}

async fn exists(client: &Client, tenant: &TenantId, campaign: &str) -> Result<bool, ApiError> {
    let rows = client
        .query(queries::EXISTS_SQL)
        .bind(tenant.as_str())
        .bind(campaign)
        .bind(tenant.as_str())
        .bind(campaign)
        .bind(tenant.as_str())
        .bind(campaign)
        .fetch_one::<u64>()
        .await?;
    Ok(rows > 0)
}

/// Runs `view` and the existence check concurrently: one round trip, and an unknown campaign
/// (or another tenant's) is `CampaignNotFound`, never an empty success.
async fn existing<T>(
    client: &Client,
    tenant: &TenantId,
    campaign: &str,
    view: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let (found, value) = tokio::try_join!(exists(client, tenant, campaign), view)?;
    if found {
        Ok(value)
    } else {
        Err(ApiError::CampaignNotFound(campaign.to_string()))
    }
}

/// Clicks per link, most first.
pub async fn links(
    client: &Client,
    tenant: &TenantId,
    campaign: &str,
) -> Result<Vec<LinkEntry>, ApiError> {
    let rows = async {
        Ok(client
            .query(queries::LINKS_SQL)
            .bind(tenant.as_str())
            .bind(campaign)
            .bind(MAX_LINKS)
            .fetch_all::<LinkRow>()
            .await?)
    };
    let rows = existing(client, tenant, campaign, rows).await?;
    Ok(rows
        .into_iter()
        .map(|row| LinkEntry {
            clicks_human: row.clicks_total.saturating_sub(row.clicks_machine),
            link: row.link,
            url: row.url,
            clicks_total: row.clicks_total,
            clicks_machine: row.clicks_machine,
        })
        .collect())
}

/// Opens and clicks per value of `dimension` (one of [`DIMENSIONS`]), most first.
pub async fn breakdown(
    client: &Client,
    tenant: &TenantId,
    campaign: &str,
    dimension: &str,
) -> Result<Vec<BreakdownEntry>, ApiError> {
    if !DIMENSIONS.contains(&dimension) {
        return Err(ApiError::invalid(format!(
            "dimension must be one of {}",
            DIMENSIONS.join(", ")
        )));
    }
    let rows = async {
        Ok(client
            .query(queries::BREAKDOWN_SQL)
            .bind(tenant.as_str())
            .bind(campaign)
            .bind(dimension)
            .bind(MAX_BREAKDOWN_VALUES)
            .fetch_all::<BreakdownRow>()
            .await?)
    };
    let rows = existing(client, tenant, campaign, rows).await?;
    Ok(rows
        .into_iter()
        .map(|row| BreakdownEntry {
            opens_human: row.opens_total.saturating_sub(row.opens_machine),
            clicks_human: row.clicks_total.saturating_sub(row.clicks_machine),
            value: row.value,
            opens_total: row.opens_total,
            opens_machine: row.opens_machine,
            clicks_total: row.clicks_total,
            clicks_machine: row.clicks_machine,
        })
        .collect())
}

/// Buckets of `interval` from `from` to `to` (Unix seconds, inclusive, rounded down to the
/// bucket), empty buckets filled with zeros. Without bounds, the range of the data.
pub async fn series(
    client: &Client,
    tenant: &TenantId,
    campaign: &str,
    interval: Interval,
    from: Option<u32>,
    to: Option<u32>,
) -> Result<Series, ApiError> {
    let step = interval.seconds();
    let from = from.map(|t| t - t % step);
    let to = to.map(|t| t - t % step);
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            return Err(ApiError::invalid("`from` must not be later than `to`"));
        }
        check_length(from, to, interval)?;
    }
    let lower = from.unwrap_or(0);
    let upper = to.unwrap_or(UNBOUNDED_TO);
    let rows = async {
        let rows = match interval {
            Interval::Hour => {
                client
                    .query(&queries::hourly_sql())
                    .bind(tenant.as_str())
                    .bind(campaign)
                    .bind(lower)
                    .bind(upper)
                    .fetch_all::<BucketRow>()
                    .await?
            }
            Interval::Day => {
                client
                    .query(&queries::daily_sql())
                    .bind(tenant.as_str())
                    .bind(campaign)
                    .bind(format_day(day_number(lower)))
                    .bind(format_day(day_number(upper)))
                    .fetch_all::<BucketRow>()
                    .await?
            }
        };
        Ok(rows)
    };
    let rows = existing(client, tenant, campaign, rows).await?;
    let (Some(first), Some(last)) = (
        from.or(rows.first().map(|r| r.bucket)),
        to.or(rows.last().map(|r| r.bucket)),
    ) else {
        return Ok(Series {
            campaign: campaign.to_string(),
            interval: interval.as_str(),
            from: None,
            to: None,
            points: Vec::new(),
        });
    };
    check_length(first, last, interval)?;
    Ok(Series {
        campaign: campaign.to_string(),
        interval: interval.as_str(),
        from: Some(interval.label(first)),
        to: Some(interval.label(last)),
        points: fill(rows, first, last, interval),
    })
}

fn day_number(secs: u32) -> u16 {
    u16::try_from(secs / DAY).unwrap_or(u16::MAX)
}

fn check_length(from: u32, to: u32, interval: Interval) -> Result<(), ApiError> {
    let points = u64::from(to.saturating_sub(from) / interval.seconds()) + 1;
    if points > MAX_POINTS {
        return Err(ApiError::invalid(format!(
            "{points} {}s requested, at most {MAX_POINTS}: narrow `from`/`to` or use a longer interval",
            interval.as_str()
        )));
    }
    Ok(())
}

/// One point per bucket from `first` to `last`, zeros where no row is.
fn fill(rows: Vec<BucketRow>, first: u32, last: u32, interval: Interval) -> Vec<SeriesPoint> {
    let step = interval.seconds();
    let mut rows = rows.into_iter().peekable();
    let mut points = Vec::with_capacity(((last - first) / step + 1) as usize);
    let mut bucket = first;
    loop {
        let row = match rows.peek() {
            Some(row) if row.bucket == bucket => rows.next(),
            _ => None,
        }
        .unwrap_or(BucketRow {
            bucket,
            ..BucketRow::default()
        });
        points.push(SeriesPoint {
            bucket: interval.label(bucket),
            opens_total: row.opens_total,
            opens_human: row.opens_total.saturating_sub(row.opens_machine),
            opens_machine: row.opens_machine,
            clicks_total: row.clicks_total,
            clicks_human: row.clicks_total.saturating_sub(row.clicks_machine),
            clicks_machine: row.clicks_machine,
            unsubscribes: row.unsubscribes,
        });
        match bucket.checked_add(step) {
            Some(next) if next <= last => bucket = next,
            _ => break,
        }
    }
    points
}

/// Records the number of emails delivered for a campaign (the latest report wins).
pub async fn report_deliveries(
    client: &Client,
    tenant: &TenantId,
    campaign: &str,
    delivered: u64,
) -> Result<(), ApiError> {
    let mut insert = client
        .insert::<queries::DeliveryReport<'_>>("campaign_deliveries")
        .await?;
    insert
        .write(&queries::DeliveryReport {
            tenant: tenant.as_str(),
            campaign,
            delivered,
            reported_at: now_secs(),
            version: now_nanos(),
        })
        .await?;
    insert.end().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_recipient_deliveries_win_over_the_reported_count() {
        assert_eq!(delivered(40, Some(1000)), Some(40));
        assert_eq!(delivered(0, Some(1000)), Some(1000));
        assert_eq!(delivered(0, None), None);
        assert_eq!(delivered(7, None), Some(7));
    }

    #[test]
    fn rates_are_null_without_a_denominator() {
        assert_eq!(ratio(5, None), None);
        assert_eq!(ratio(5, Some(0)), None);
        assert_eq!(ratio(1, Some(4)), Some(0.25));
    }

    #[test]
    fn missing_buckets_are_filled_with_zeros() {
        let row = |bucket, opens| BucketRow {
            bucket,
            opens_total: opens,
            opens_machine: 1,
            ..BucketRow::default()
        };
        let start = 1_767_225_600;
        let points = fill(
            vec![row(start, 5), row(start + 2 * HOUR, 7)],
            start,
            start + 3 * HOUR,
            Interval::Hour,
        );
        let opens: Vec<u64> = points.iter().map(|p| p.opens_total).collect();
        assert_eq!(opens, vec![5, 0, 7, 0]);
        assert_eq!(points[0].opens_human, 4);
        assert_eq!(points[1].bucket, "2026-01-01T01:00:00Z");
        let days = fill(vec![], start, start + DAY, Interval::Day);
        assert_eq!(days.len(), 2);
        assert_eq!(days[1].bucket, "2026-01-02");
    }

    #[test]
    fn over_long_ranges_are_refused() {
        assert!(check_length(0, (MAX_POINTS as u32 - 1) * HOUR, Interval::Hour).is_ok());
        assert!(check_length(0, MAX_POINTS as u32 * HOUR, Interval::Hour).is_err());
    }
}
