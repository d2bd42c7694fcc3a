//! One drill's world: a configuration aimed at the stack with unique topics, database, consumer
//! group, spool and campaign, the topics created and the database migrated.

use std::path::PathBuf;

use mailpulse_config::{Config, ConsentBasis};
use mailpulse_testkit::{test_config, TestDatabase, TestTopic};

pub const TENANT: &str = "drill";

pub struct DrillEnv {
    pub config: Config,
    /// Unique to this drill, so the statistics read back are this drill's only.
    pub campaign: String,
    /// Logs and scratch files of this drill (`target/drills/<database>`).
    pub dir: PathBuf,
    pub topics: Vec<TestTopic>,
    pub db: TestDatabase,
}

impl DrillEnv {
    pub async fn new(prefix: &str) -> DrillEnv {
        let mut config = test_config(prefix).expect("the local stack is up");
        // Subscriber-level rows, so every hit is countable by its subscriber.
        config.privacy.default_basis = ConsentBasis::LegitimateInterest;
        // The load claims its client address through X-Forwarded-For from this proxy.
        config.edge.trusted_proxies = vec!["127.0.0.1/32".into()];
        config.edge.shutdown_flush_ms = 3_000;
        config.aggregator.batch_max_ms = 200;
        config.aggregator.retry_initial_ms = 100;
        let campaign = config.clickhouse.database.clone();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("drills")
            .join(&config.clickhouse.database);
        std::fs::create_dir_all(&dir).expect("drill directory");
        let kafka = &config.kafka;
        let mut topics = Vec::new();
        for (name, partitions) in [
            (&kafka.events_topic, 3),
            (&kafka.consent_topic, 1),
            (&kafka.dlq_topic, 1),
            (&kafka.salt_topic, 1),
            (&kafka.deliveries_topic, 1),
        ] {
            topics.push(
                TestTopic::with_name(name, partitions)
                    .await
                    .expect("drill topic created"),
            );
        }
        let db = TestDatabase::with_name(&config.clickhouse.database)
            .await
            .expect("drill database created");
        mailpulse_store::migrate::migrate(&config.clickhouse)
            .await
            .expect("migrations apply");
        DrillEnv {
            config,
            campaign,
            dir,
            topics,
            db,
        }
    }

    /// For drills that restart the broker under load: a non-idempotent producer.
    ///
    /// tansu 0.6.0 cannot take an idempotent producer through a restart under load: librdkafka
    /// bumps the producer epoch for requests that were in flight when the broker went away
    /// (KIP-360), and tansu's `InitProducerId` answers that with `todo!()` and its produce path
    /// with `panic!("more or less than one row")` — the storage task dies and the broker serves
    /// nothing until restarted. Without idempotence a retried batch may be stored twice in
    /// Kafka, which the aggregator must then drop by event id: the statistics must still count
    /// every hit once, so the drill is no weaker for it.
    pub fn producer_survives_broker_restart(&mut self) {
        self.config
            .kafka
            .properties
            .insert("enable.idempotence".into(), "false".into());
    }

    /// Topic names of this drill.
    pub fn topic_names(&self) -> Vec<String> {
        self.topics.iter().map(|t| t.name().to_string()).collect()
    }

    /// `MAILPULSE_*` variables that point a spawned `mailpulse` at this drill.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        let c = &self.config;
        let proxies = c
            .edge
            .trusted_proxies
            .iter()
            .map(|p| format!("\"{p}\""))
            .collect::<Vec<_>>()
            .join(",");
        let properties = c
            .kafka
            .properties
            .iter()
            .map(|(key, value)| format!("\"{key}\" = \"{value}\""))
            .collect::<Vec<_>>()
            .join(", ");
        [
            ("KAFKA_BROKERS", c.kafka.brokers.clone()),
            ("KAFKA_PROPERTIES", format!("{{{properties}}}")),
            ("KAFKA_EVENTS_TOPIC", c.kafka.events_topic.clone()),
            ("KAFKA_CONSENT_TOPIC", c.kafka.consent_topic.clone()),
            ("KAFKA_DLQ_TOPIC", c.kafka.dlq_topic.clone()),
            ("KAFKA_SALT_TOPIC", c.kafka.salt_topic.clone()),
            ("KAFKA_DELIVERIES_TOPIC", c.kafka.deliveries_topic.clone()),
            ("CLICKHOUSE_URL", c.clickhouse.url.clone()),
            ("CLICKHOUSE_DATABASE", c.clickhouse.database.clone()),
            ("EDGE_GEO_DB", c.edge.geo_db.display().to_string()),
            ("EDGE_ASN_DB", c.edge.asn_db.display().to_string()),
            ("EDGE_SPOOL_DIR", c.edge.spool_dir.display().to_string()),
            ("EDGE_SPOOL_MAX_BYTES", c.edge.spool_max_bytes.to_string()),
            ("EDGE_TRUSTED_PROXIES", format!("[{proxies}]")),
            (
                "EDGE_SHUTDOWN_FLUSH_MS",
                c.edge.shutdown_flush_ms.to_string(),
            ),
            (
                "EDGE_HEADER_TIMEOUT_MS",
                c.edge.header_timeout_ms.to_string(),
            ),
            ("EDGE_WORKERS", c.edge.workers.to_string()),
            ("AGGREGATOR_GROUP_ID", c.aggregator.group_id.clone()),
            (
                "AGGREGATOR_BATCH_MAX_MS",
                c.aggregator.batch_max_ms.to_string(),
            ),
            (
                "AGGREGATOR_RETRY_INITIAL_MS",
                c.aggregator.retry_initial_ms.to_string(),
            ),
            ("PRIVACY_DEFAULT_BASIS", "legitimate_interest".to_string()),
            ("LOG_LEVEL", "info".to_string()),
        ]
        .into_iter()
        .map(|(key, value)| (format!("MAILPULSE_{key}"), value))
        .collect()
    }
}
