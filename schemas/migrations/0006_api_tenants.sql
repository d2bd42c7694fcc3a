-- The statistics API's tenancy. One row per API key version: a key is created with version 1
-- and revoked by inserting the same (tenant, key_id) with a higher version and `revoked = 1`;
-- readers take the row with the highest version (argMax), so unmerged parts never matter.
-- Only the BLAKE3 hash of a key is stored (hex); the key itself is shown once, at creation.
CREATE TABLE IF NOT EXISTS tenants
(
    tenant String,
    key_id String,
    key_hash String,
    created_at DateTime('UTC'),
    revoked UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, key_id);

-- Who did what through the API or the CLI. `actor` is an API key id (never the key) or `cli`;
-- `subject` is a subscriber id only when the call named one, else ''. Append-only; retention
-- by dropping monthly partitions.
CREATE TABLE IF NOT EXISTS audit_log
(
    ts DateTime('UTC'),
    tenant String,
    actor String,
    action String,
    subject String,
    outcome String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant, ts);

-- Emails delivered per campaign, as reported by the sending system through the API
-- (`PUT /v1/campaigns/{campaign}/deliveries`): the denominator of open and click-through
-- rates. The latest report wins (highest version).
CREATE TABLE IF NOT EXISTS campaign_deliveries
(
    tenant String,
    campaign String,
    delivered UInt64,
    reported_at DateTime('UTC'),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, campaign);
