//! Access and portability: everything held about one subscriber as JSON Lines
//! (`schemas/export.v1.json`), streamed from ClickHouse to the writer as it is read.
//!
//! Lines, in order: one `export` header; `event` lines (their `events` rows under the id or
//! a pseudonym, oldest first); `campaign_unique` lines (the campaigns and kinds they are
//! counted as a unique in); `consent` lines (their consent history, oldest first);
//! `table_row` lines (rows of any other table keyed by subscriber, e.g. `deliveries`, with
//! that table's columns); one `end` trailer with the counts, so a reader can tell a complete
//! export from a cut one.

use serde::Serialize;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::ids::{check_subscriber, check_tenant};
use crate::mutations::{quoted, tables_with_columns, Condition};
use crate::{now_ms, Privacy, PrivacyError};

/// The `schema` of the header line.
pub const EXPORT_SCHEMA: &str = "mailpulse.export.v1";

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    pub events: u64,
    pub campaign_uniques: u64,
    pub consent_changes: u64,
    pub table_rows: u64,
}

#[derive(Serialize)]
struct Header<'a> {
    record: &'static str,
    schema: &'static str,
    tenant: &'a str,
    subscriber: &'a str,
    subscriber_keys: &'a [String],
    generated_at_ms: u64,
}

#[derive(Serialize)]
struct Trailer {
    record: &'static str,
    #[serde(flatten)]
    counts: ExportSummary,
}

const EVENT_COLUMNS: &str = "'event' AS record, toString(event_id) AS event_id, \
     toString(kind) AS kind, toString(ts) AS ts, tenant, campaign, subscriber_key, link, url, \
     visitor, country, region, city, asn, network_class, browser, os, device, email_client, \
     machine, machine_reason, dnt, gpc, toString(tracking_level) AS tracking_level, edge, \
     kafka_topic, kafka_partition, kafka_offset, toString(ingested_at) AS ingested_at";

const UNIQUE_COLUMNS: &str =
    "DISTINCT 'campaign_unique' AS record, tenant, campaign, toString(kind) AS kind, machine, \
     subscriber_key";

const CONSENT_COLUMNS: &str = "'consent' AS record, tenant, subscriber, toString(state) AS state, \
     toString(level) AS level, ts_ms, source, kafka_partition, kafka_offset";

impl Privacy {
    /// Writes the subscriber's export to `out` and flushes it.
    pub async fn export<W>(
        &self,
        tenant: &str,
        subscriber: &str,
        out: &mut W,
    ) -> Result<ExportSummary, PrivacyError>
    where
        W: AsyncWrite + Unpin,
    {
        check_tenant(tenant)?;
        check_subscriber(subscriber)?;
        let keys = self.keys.all(tenant, subscriber);
        let header = Header {
            record: "export",
            schema: EXPORT_SCHEMA,
            tenant,
            subscriber,
            subscriber_keys: &keys,
            generated_at_ms: now_ms(),
        };
        write_json_line(out, &header).await?;

        let by_key = Condition::new("tenant = ?", vec![tenant.to_string()])
            .and(Condition::one_of("subscriber_key", &keys));
        let events = self
            .stream(
                out,
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE {} ORDER BY ts, event_id",
                    by_key.sql
                ),
                &by_key,
            )
            .await?;
        let campaign_uniques = self
            .stream(
                out,
                &format!(
                    "SELECT {UNIQUE_COLUMNS} FROM campaign_uniques WHERE {} \
                     ORDER BY campaign, kind, machine",
                    by_key.sql
                ),
                &by_key,
            )
            .await?;
        let by_id = Condition::new(
            "tenant = ? AND scope = 'subscriber' AND subscriber = ?",
            vec![tenant.to_string(), subscriber.to_string()],
        );
        let consent_changes = self
            .stream(
                out,
                &format!(
                    "SELECT {CONSENT_COLUMNS} FROM consent_history WHERE {} \
                     ORDER BY ts_ms, kafka_partition, kafka_offset",
                    by_id.sql
                ),
                &by_id,
            )
            .await?;
        let mut table_rows = 0;
        for table in
            tables_with_columns(&self.store, &self.database, &["tenant", "subscriber_key"]).await?
        {
            if table == "events" || table == "campaign_uniques" {
                continue;
            }
            table_rows += self
                .stream(
                    out,
                    &format!(
                        "SELECT 'table_row' AS record, ? AS source_table, * FROM {} WHERE {}",
                        quoted(&table),
                        by_key.sql
                    ),
                    &Condition::new("", vec![table.clone()]).and_binds(&by_key),
                )
                .await?;
        }
        let counts = ExportSummary {
            events,
            campaign_uniques,
            consent_changes,
            table_rows,
        };
        write_json_line(
            out,
            &Trailer {
                record: "end",
                counts,
            },
        )
        .await?;
        out.flush().await.map_err(PrivacyError::Output)?;
        Ok(counts)
    }

    /// Copies a query's `JSONEachRow` output to `out` chunk by chunk; returns the line count.
    async fn stream<W>(
        &self,
        out: &mut W,
        sql: &str,
        condition: &Condition,
    ) -> Result<u64, PrivacyError>
    where
        W: AsyncWrite + Unpin,
    {
        let query = condition
            .binds
            .iter()
            .fold(self.store.query(sql), |query, value| {
                query.bind(value.as_str())
            })
            // Numbers as numbers (18.16 quotes 64-bit integers by default).
            .with_setting("output_format_json_quote_64bit_integers", "0");
        let mut cursor = query.fetch_bytes("JSONEachRow")?;
        let mut lines = 0u64;
        while let Some(chunk) = cursor.next().await? {
            lines += chunk.iter().filter(|byte| **byte == b'\n').count() as u64;
            out.write_all(&chunk).await.map_err(PrivacyError::Output)?;
        }
        Ok(lines)
    }
}

async fn write_json_line<W, T>(out: &mut W, value: &T) -> Result<(), PrivacyError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let mut line = serde_json::to_vec(value).unwrap_or_default();
    line.push(b'\n');
    out.write_all(&line).await.map_err(PrivacyError::Output)
}
