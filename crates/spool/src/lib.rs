//! Append-only, checksummed on-disk spool for events while Kafka is away
