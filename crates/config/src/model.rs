//! The configuration structs. Every field has a default, documented beside it; the README's
//! configuration table is generated from the same text.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::ConfigError;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub kafka: KafkaConfig,
    pub clickhouse: ClickHouseConfig,
    pub edge: EdgeConfig,
    pub keys: KeysConfig,
    pub aggregator: AggregatorConfig,
    pub api: ApiConfig,
    pub privacy: PrivacyConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma-separated. Default `127.0.0.1:9092`.
    pub brokers: String,
    /// Tracking events. Default `mailpulse.events`.
    pub events_topic: String,
    /// Compacted latest consent state per subscriber. Default `mailpulse.consent`.
    pub consent_topic: String,
    /// Messages the aggregator could not process, with the reason. Default `mailpulse.dlq`.
    pub dlq_topic: String,
    /// The visitor-hash salt ratchet shared by edge replicas. Default `mailpulse.salt`.
    pub salt_topic: String,
    /// Senders' delivery statuses (sent, delivered, bounced, complained). Default
    /// `mailpulse.deliveries`.
    pub deliveries_topic: String,
    /// Extra librdkafka properties for every client (security, SASL, …). Default empty.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            events_topic: "mailpulse.events".into(),
            consent_topic: "mailpulse.consent".into(),
            dlq_topic: "mailpulse.dlq".into(),
            salt_topic: "mailpulse.salt".into(),
            deliveries_topic: "mailpulse.deliveries".into(),
            properties: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// HTTP endpoint. Default `http://127.0.0.1:8123`.
    pub url: String,
    /// Database. Default `mailpulse`.
    pub database: String,
    /// User. Default `default`.
    pub user: String,
    /// Password. Default empty.
    pub password: String,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8123".into(),
            database: "mailpulse".into(),
            user: "default".into(),
            password: String::new(),
        }
    }
}

/// Geo resolution detail recorded on events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeoGranularity {
    /// No location at all.
    None,
    /// Country only (default).
    #[default]
    Country,
    /// Country and region (subdivision).
    Region,
    /// Country, region and city.
    City,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeConfig {
    /// Listen address. Default `127.0.0.1:8080`.
    pub listen: String,
    /// Public base URL of tracking links (`sign` mints `<base>/o/…`). Default `http://127.0.0.1:8080`.
    pub tracking_base_url: String,
    /// This instance's name on events. Default: the host name, else `edge`.
    pub instance: String,
    /// CIDRs of proxies whose `X-Forwarded-For` / `Forwarded` is believed. Default none.
    pub trusted_proxies: Vec<String>,
    /// Country/region/city MMDB (DB-IP flat or MaxMind GeoIP2 layout). Default `.stack/geo/country.mmdb`.
    pub geo_db: PathBuf,
    /// ASN MMDB in MaxMind's GeoLite2-ASN layout. Default `.stack/geo/asn.mmdb`.
    pub asn_db: PathBuf,
    /// `none`, `country`, `region` or `city`. Default `country`.
    pub geo_granularity: GeoGranularity,
    /// Record the truncated network (IPv4 /24, IPv6 /48). Default `false`.
    pub record_network_prefix: bool,
    /// Spool directory for events while Kafka is away. Default `.stack/spool`.
    pub spool_dir: PathBuf,
    /// Spool size limit in bytes; beyond it events are dropped loudly. Default 1 GiB.
    pub spool_max_bytes: u64,
    /// Spool records written between fsyncs (also fsynced every 100 ms). Default 256.
    pub spool_fsync_every: usize,
    /// Events queued in memory for Kafka before new ones go to the spool; bounds the edge's
    /// memory when the broker falls behind (about 0.6 KB each). Default 20000.
    pub queue_max_messages: u32,
    /// Producer batching delay, ms. Default 5.
    pub linger_ms: u32,
    /// Producer compression: `lz4`, `zstd` or `none`. Default `lz4`.
    pub compression: String,
    /// Time allowed to flush on SIGTERM before the rest is spooled, ms. Default 5000.
    pub shutdown_flush_ms: u64,
    /// Maximum concurrent connections. Default 10000.
    pub max_connections: usize,
    /// Time allowed to receive a request's headers, ms (slow-loris guard). Default 5000.
    pub header_timeout_ms: u64,
    /// Async worker threads; 0 means one per core. Default 0.
    pub workers: usize,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            tracking_base_url: "http://127.0.0.1:8080".into(),
            instance: std::env::var("HOSTNAME").unwrap_or_else(|_| "edge".into()),
            trusted_proxies: Vec::new(),
            geo_db: ".stack/geo/country.mmdb".into(),
            asn_db: ".stack/geo/asn.mmdb".into(),
            geo_granularity: GeoGranularity::Country,
            record_network_prefix: false,
            spool_dir: ".stack/spool".into(),
            spool_max_bytes: 1 << 30,
            spool_fsync_every: 256,
            queue_max_messages: 20_000,
            linger_ms: 5,
            compression: "lz4".into(),
            shutdown_flush_ms: 5_000,
            max_connections: 10_000,
            header_timeout_ms: 5_000,
            workers: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysConfig {
    /// Token signing keys as `id:hex32bytes`, comma-separated; every listed key verifies.
    /// Default: a development key, refused unless `allow_dev_key` is true.
    pub signing: String,
    /// Id of the key that signs new tokens. Default: the first of `signing`.
    pub active: String,
    /// Key for pseudonymous subscriber ids (64 hex). Default: a development key.
    pub subscriber_hash: String,
    /// Permit the built-in development keys (local stack and tests only). Default `true`.
    pub allow_dev_key: bool,
}

/// Publicly known development key material: fine for the local stack, useless as a secret.
pub const DEV_SIGNING_KEYS: &str =
    "dev:6d61696c70756c73652d646576656c6f706d656e742d6b65792d303030303031";
pub const DEV_SUBSCRIBER_HASH_KEY: &str =
    "6d61696c70756c73652d73756273637269626572206861736820646576203031";

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            signing: DEV_SIGNING_KEYS.into(),
            active: String::new(),
            subscriber_hash: DEV_SUBSCRIBER_HASH_KEY.into(),
            allow_dev_key: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AggregatorConfig {
    /// Consumer group. Default `mailpulse-aggregator`.
    pub group_id: String,
    /// Rows per ClickHouse insert. Default 50000.
    pub batch_max_rows: usize,
    /// Longest a batch waits before it is written, ms. Default 500.
    pub batch_max_ms: u64,
    /// First retry delay when ClickHouse is unavailable, ms (doubles up to 30 s). Default 200.
    pub retry_initial_ms: u64,
    /// Redelivered duplicates are recognised by event id within this window, seconds. Default 86400.
    pub dedup_window_secs: u64,
    /// Listen address of `/healthz`, `/readyz` and `/metrics`. Default `127.0.0.1:9102`.
    pub admin_listen: String,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        Self {
            group_id: "mailpulse-aggregator".into(),
            batch_max_rows: 50_000,
            batch_max_ms: 500,
            retry_initial_ms: 200,
            dedup_window_secs: 86_400,
            admin_listen: "127.0.0.1:9102".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Listen address of the stats/admin API and dashboard. Default `127.0.0.1:8081`.
    pub listen: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8081".into(),
        }
    }
}

/// What a tenant's events may record unless a subscriber or campaign says less.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentBasis {
    /// Track a subscriber only after consent was granted (EU default).
    #[default]
    OptIn,
    /// Track until the subscriber objects.
    LegitimateInterest,
}

/// What happens to an event whose subscriber has not consented.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnconsentedPolicy {
    /// Count it in anonymous aggregates only (default).
    #[default]
    Aggregate,
    /// Drop it.
    Drop,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Default consent basis of tenants: `opt_in` or `legitimate_interest`. Default `opt_in`.
    pub default_basis: ConsentBasis,
    /// Default for events without consent: `aggregate` or `drop`. Default `aggregate`.
    pub default_unconsented: UnconsentedPolicy,
    /// Default raw-event retention, days. Default 396 (13 months).
    pub retention_days: u32,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            default_basis: ConsentBasis::OptIn,
            default_unconsented: UnconsentedPolicy::Aggregate,
            retention_days: 396,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `tracing` filter. Default `info`.
    pub level: String,
    /// `text` or `json`. Default `text`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

impl Config {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.kafka.brokers.trim().is_empty() {
            return invalid("kafka.brokers must not be empty".into());
        }
        for (name, topic) in [
            ("kafka.events_topic", &self.kafka.events_topic),
            ("kafka.consent_topic", &self.kafka.consent_topic),
            ("kafka.dlq_topic", &self.kafka.dlq_topic),
            ("kafka.salt_topic", &self.kafka.salt_topic),
            ("kafka.deliveries_topic", &self.kafka.deliveries_topic),
        ] {
            if !valid_topic(topic) {
                return invalid(format!(
                    "{name} `{topic}` is not a valid Kafka topic name (1-249 of [A-Za-z0-9._-])"
                ));
            }
        }
        if !valid_identifier(&self.clickhouse.database) {
            return invalid(format!(
                "clickhouse.database `{}` must be [A-Za-z0-9_] and start with a letter or _",
                self.clickhouse.database
            ));
        }
        if !matches!(self.edge.compression.as_str(), "lz4" | "zstd" | "none") {
            return invalid(format!(
                "edge.compression `{}` must be lz4, zstd or none (snappy breaks the local broker)",
                self.edge.compression
            ));
        }
        if !(self.edge.tracking_base_url.starts_with("http://")
            || self.edge.tracking_base_url.starts_with("https://"))
        {
            return invalid("edge.tracking_base_url must start with http:// or https://".into());
        }
        let hash_key = self.keys.subscriber_hash.trim();
        if hash_key.len() != 64 || !hash_key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return invalid(
                "keys.subscriber_hash must be 64 hex characters (a 32-byte key)".into(),
            );
        }
        if self.aggregator.batch_max_rows == 0 {
            return invalid("aggregator.batch_max_rows must be at least 1".into());
        }
        if !self.keys.allow_dev_key
            && (self.keys.signing.contains(DEV_SIGNING_KEYS)
                || self.keys.subscriber_hash == DEV_SUBSCRIBER_HASH_KEY)
        {
            return invalid(
                "the development keys are in use but keys.allow_dev_key is false: set \
                 MAILPULSE_KEYS_SIGNING and MAILPULSE_KEYS_SUBSCRIBER_HASH"
                    .into(),
            );
        }
        Ok(())
    }
}

fn valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 249
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Safe to interpolate into SQL as a database or table name.
pub fn valid_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
