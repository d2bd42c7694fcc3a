-- Exact campaign-level uniques: one row per (campaign, kind, machine flag, subscriber key),
-- duplicates collapse on merge and `uniqExact` ignores the ones not merged yet.
CREATE TABLE IF NOT EXISTS campaign_uniques
(
    tenant String,
    campaign String,
    kind Enum8('open' = 1, 'click' = 2, 'unsubscribe' = 3),
    machine UInt8,
    subscriber_key String
)
ENGINE = ReplacingMergeTree
ORDER BY (tenant, campaign, kind, machine, subscriber_key);

CREATE MATERIALIZED VIEW IF NOT EXISTS campaign_uniques_mv TO campaign_uniques AS
SELECT tenant, campaign, kind, machine, subscriber_key
FROM events
WHERE subscriber_key != ''
GROUP BY tenant, campaign, kind, machine, subscriber_key;
