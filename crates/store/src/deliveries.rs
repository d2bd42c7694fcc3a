//! Per-recipient delivery statuses (`deliveries`, `schemas/migrations/0008_deliveries.sql`):
//! the rows the aggregator writes and the counts the campaign summary reads.

use std::time::Duration;

use clickhouse::Client;
use mailpulse_event::DeliveryStatus;
use serde::{Deserialize, Serialize};

use crate::StoreError;

pub const DELIVERIES_TABLE: &str = "deliveries";

/// One row of `deliveries`. Field order and types must match the table (checked against
/// `DESCRIBE TABLE` in `tests/toolkit_deliveries.rs`).
#[derive(Debug, Clone, Serialize, clickhouse::Row)]
pub struct DeliveryRow<'a> {
    pub tenant: &'a str,
    pub campaign: &'a str,
    /// `Enum8` code of the status ([`status_code`]).
    pub status: i8,
    /// Keyed pseudonym of the subscriber id, never the id.
    pub subscriber_key: &'a str,
    /// Seconds since the Unix epoch.
    pub ts: u32,
    pub reason: &'a str,
    /// Seconds since the Unix epoch.
    pub ingested_at: u32,
}

/// The `Enum8` code of a status in `deliveries` and `delivery_daily`.
pub fn status_code(status: DeliveryStatus) -> i8 {
    match status {
        DeliveryStatus::Sent => 1,
        DeliveryStatus::Delivered => 2,
        DeliveryStatus::Bounced => 3,
        DeliveryStatus::Complained => 4,
    }
}

/// Writes `rows` as one INSERT; `timeout` bounds sending and the answer separately.
pub async fn insert_deliveries<'a, I>(
    client: &Client,
    rows: I,
    timeout: Duration,
) -> Result<u64, StoreError>
where
    I: IntoIterator<Item = DeliveryRow<'a>>,
{
    let mut insert = client
        .insert::<DeliveryRow<'_>>(DELIVERIES_TABLE)
        .await?
        .with_timeouts(Some(timeout), Some(timeout));
    let mut written = 0u64;
    for row in rows {
        insert.write(&row).await?;
        written += 1;
    }
    insert.end().await?;
    Ok(written)
}

/// Distinct recipients of a campaign per delivery status (exact).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct DeliveryCounts {
    pub sent: u64,
    pub delivered: u64,
    pub bounced: u64,
    pub complained: u64,
}

pub const DELIVERY_COUNTS_SQL: &str = "SELECT \
       uniqExactIf(subscriber_key, status = 'sent') AS sent, \
       uniqExactIf(subscriber_key, status = 'delivered') AS delivered, \
       uniqExactIf(subscriber_key, status = 'bounced') AS bounced, \
       uniqExactIf(subscriber_key, status = 'complained') AS complained \
     FROM deliveries WHERE tenant = ? AND campaign = ?";

/// The campaign's delivery counts; all zero when nothing was reported.
pub async fn delivery_counts(
    client: &Client,
    tenant: &str,
    campaign: &str,
) -> Result<DeliveryCounts, StoreError> {
    Ok(client
        .query(DELIVERY_COUNTS_SQL)
        .bind(tenant)
        .bind(campaign)
        .fetch_one::<DeliveryCounts>()
        .await?)
}

/// A bounce or complaint reason fit to store: email addresses redacted (SMTP replies quote the
/// recipient's), control characters dropped, at most 256 characters.
pub fn sanitise_reason(reason: &str) -> String {
    const MAX_CHARS: usize = 256;
    let mut out = String::with_capacity(reason.len().min(MAX_CHARS));
    for word in reason.split_inclusive(char::is_whitespace) {
        let trimmed = word.trim_end();
        if trimmed.contains('@') {
            out.push_str("<redacted>");
            out.push_str(&word[trimmed.len()..]);
        } else {
            out.push_str(word);
        }
    }
    out.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_CHARS)
        .collect::<String>()
        .trim_end()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_lose_addresses_and_length() {
        assert_eq!(
            sanitise_reason("550 5.1.1 <maria@example.com>: Recipient address rejected"),
            "550 5.1.1 <redacted> Recipient address rejected"
        );
        assert_eq!(sanitise_reason("abuse\r\nreport"), "abuse  report");
        assert_eq!(sanitise_reason(&"x".repeat(1000)).len(), 256);
        assert_eq!(sanitise_reason(""), "");
    }

    #[test]
    fn status_codes_match_the_enum_in_the_migration() {
        let migration = include_str!("../../../schemas/migrations/0008_deliveries.sql");
        for status in [
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered,
            DeliveryStatus::Bounced,
            DeliveryStatus::Complained,
        ] {
            let declared = format!("'{}' = {}", status.as_str(), status_code(status));
            assert!(migration.contains(&declared), "{declared}");
        }
    }
}
