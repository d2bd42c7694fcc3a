-- One row per stored event: the single insert target of the aggregator. Every statistic is a
-- materialized view of this table, so one INSERT of a batch counts the batch once, as a block.
-- No raw IP address and no raw User-Agent, ever. Anonymous rows carry no subscriber key, no
-- visitor hash, no region or city, and their time is truncated to the hour.
CREATE TABLE IF NOT EXISTS events
(
    event_id UUID,
    kind Enum8('open' = 1, 'click' = 2, 'unsubscribe' = 3),
    ts DateTime('UTC'),
    tenant String,
    campaign String,
    subscriber_key String,
    link String,
    url String,
    visitor String,
    country String,
    region String,
    city String,
    asn UInt32,
    network_class String,
    browser String,
    os String,
    device String,
    email_client String,
    machine UInt8,
    machine_reason String,
    dnt UInt8,
    gpc UInt8,
    tracking_level Enum8('off' = 0, 'anonymous' = 1, 'pseudonymous' = 2, 'identified' = 3),
    edge String,
    kafka_topic String,
    kafka_partition Int32,
    kafka_offset Int64,
    ingested_at DateTime('UTC')
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant, campaign, kind, ts, event_id);
