//! Kafka consumer: enrich, gate consent, deduplicate and write statistics to ClickHouse
