-- Privacy and data-subject rights (docs/privacy.md).
--
-- Every consent and tracking-policy change, for audit and export. The compacted consent topic
-- is the source of truth and keeps only the latest record per key; this table keeps the whole
-- history. Subscriber rows name the subscriber; tenant and campaign policy rows have
-- subscriber ''. After an erasure only the erasure's own `denied` row names the subscriber.
CREATE TABLE IF NOT EXISTS consent_history
(
    tenant String,
    scope Enum8('subscriber' = 1, 'campaign' = 2, 'tenant' = 3),
    campaign String,
    subscriber String,
    state Enum8('none' = 0, 'granted' = 1, 'denied' = 2, 'restricted' = 3),
    level Enum8('default' = -1, 'off' = 0, 'anonymous' = 1, 'pseudonymous' = 2, 'identified' = 3),
    basis Enum8('default' = 0, 'opt_in' = 1, 'legitimate_interest' = 2),
    ts_ms UInt64,
    source String,
    kafka_partition Int32,
    kafka_offset Int64,
    recorded_at DateTime('UTC')
)
ENGINE = MergeTree
ORDER BY (tenant, subscriber, ts_ms);

-- How far each running aggregator process has applied the consent topic. `applied_offset` is
-- the next offset of the partition: every record below it is in that process's consent book
-- and no insert gated with an older book is still running. Partition -1 is a heartbeat written
-- before the process reads any consent. Erasure waits on it before deleting.
CREATE TABLE IF NOT EXISTS consent_progress
(
    consent_topic String,
    replica String,
    kafka_partition Int32,
    applied_offset Int64,
    seq UInt64,
    reported_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(seq)
ORDER BY (consent_topic, replica, kafka_partition);

-- Per-tenant raw-event retention, overriding `privacy.retention_days`. Latest `seq` wins.
CREATE TABLE IF NOT EXISTS tenant_retention
(
    tenant String,
    retention_days UInt32,
    seq UInt64,
    updated_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(seq)
ORDER BY tenant;

-- What each retention run removed: one row per dropped partition or per delete mutation.
CREATE TABLE IF NOT EXISTS retention_log
(
    run_id String,
    run_at DateTime('UTC'),
    action Enum8('drop_partition' = 1, 'delete_rows' = 2),
    table_name String,
    partition String,
    tenant String,
    cutoff DateTime('UTC'),
    rows UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(run_at)
ORDER BY (run_at, run_id);
