-- The aggregator's watermark: the highest Kafka offset stored per topic partition. It is
-- written by the same INSERT as the rows it describes, so a batch the client believes failed
-- but the server stored is recognised on retry (offset <= watermark → already stored).
CREATE TABLE IF NOT EXISTS ingest_offsets
(
    kafka_topic String,
    kafka_partition Int32,
    max_offset AggregateFunction(max, Int64)
)
ENGINE = AggregatingMergeTree
ORDER BY (kafka_topic, kafka_partition);

CREATE MATERIALIZED VIEW IF NOT EXISTS ingest_offsets_mv TO ingest_offsets AS
SELECT kafka_topic, kafka_partition, maxState(kafka_offset) AS max_offset
FROM events
GROUP BY kafka_topic, kafka_partition;
