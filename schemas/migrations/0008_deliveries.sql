-- Per-recipient delivery statuses from the senders' mail systems (`mailpulse.deliveries` topic,
-- schema `schemas/delivery.v1.json`), written by the aggregator. Open rate = unique human opens
-- / delivered recipients. (`campaign_deliveries` of 0006 holds a campaign-level count reported
-- through the API instead; a campaign with rows here has exact per-recipient figures.)
--
-- One row per (campaign, status, recipient): a status reported twice collapses on merge and
-- `uniqExact(subscriber_key)` ignores the duplicates not merged yet, so redelivery from Kafka
-- never inflates a count. `subscriber_key` is the keyed pseudonym of the subscriber id (the
-- same key as pseudonymous `events` rows), never the id itself. `reason` has email addresses
-- redacted.
CREATE TABLE IF NOT EXISTS deliveries
(
    tenant String,
    campaign String,
    status Enum8('sent' = 1, 'delivered' = 2, 'bounced' = 3, 'complained' = 4),
    subscriber_key String,
    ts DateTime('UTC'),
    reason String,
    ingested_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (tenant, campaign, status, subscriber_key);

-- Daily recipients per status, for time series: `uniqMerge(recipients)` over the days wanted.
CREATE TABLE IF NOT EXISTS delivery_daily
(
    tenant String,
    campaign String,
    day Date,
    status Enum8('sent' = 1, 'delivered' = 2, 'bounced' = 3, 'complained' = 4),
    recipients AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, campaign, day, status);

CREATE MATERIALIZED VIEW IF NOT EXISTS delivery_daily_mv TO delivery_daily AS
SELECT tenant, campaign, toDate(ts) AS day, status, uniqState(subscriber_key) AS recipients
FROM deliveries
GROUP BY tenant, campaign, day, status;
