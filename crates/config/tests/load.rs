use std::io::Write;

use mailpulse_config::{Config, ConfigError, GeoGranularity};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_apply_without_file_or_env() {
    let config = Config::load_with_env(None, &[]).expect("defaults are valid");
    assert_eq!(config.kafka.events_topic, "mailpulse.events");
    assert_eq!(config.edge.listen, "127.0.0.1:8080");
    assert_eq!(config.api.listen, "127.0.0.1:8081");
    assert_eq!(config.clickhouse.database, "mailpulse");
}

#[test]
fn env_overrides_file_and_file_overrides_defaults() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(
        file,
        "[kafka]\nbrokers = \"file:9092\"\nevents_topic = \"from.file\"\n[edge]\ngeo_granularity = \"city\""
    )
    .expect("write");
    let config = Config::load_with_env(
        Some(file.path()),
        &env(&[
            ("MAILPULSE_KAFKA_BROKERS", "env:9092"),
            ("MAILPULSE_EDGE_SPOOL_MAX_BYTES", "4096"),
            ("MAILPULSE_EDGE_TRUSTED_PROXIES", "[\"10.0.0.0/8\"]"),
            ("MAILPULSE_CONFIG", "ignored.toml"),
            ("UNRELATED", "x"),
        ]),
    )
    .expect("valid");
    assert_eq!(config.kafka.brokers, "env:9092");
    assert_eq!(config.kafka.events_topic, "from.file");
    assert_eq!(config.edge.geo_granularity, GeoGranularity::City);
    assert_eq!(config.edge.spool_max_bytes, 4096);
    assert_eq!(config.edge.trusted_proxies, vec!["10.0.0.0/8".to_string()]);
}

#[test]
fn unknown_key_and_bad_values_are_refused_with_the_name() {
    let err = Config::load_with_env(None, &env(&[("MAILPULSE_KAFKA_BROKRES", "x")]))
        .expect_err("typo refused");
    assert!(err.to_string().contains("brokres"), "{err}");

    let err = Config::load_with_env(None, &env(&[("MAILPULSE_NOPE_X", "1")]))
        .expect_err("unknown section refused");
    assert!(matches!(err, ConfigError::Env { .. }), "{err}");

    let err = Config::load_with_env(None, &env(&[("MAILPULSE_KAFKA_EVENTS_TOPIC", "bad topic")]))
        .expect_err("bad topic refused");
    assert!(err.to_string().contains("kafka.events_topic"), "{err}");

    let err = Config::load_with_env(None, &env(&[("MAILPULSE_CLICKHOUSE_DATABASE", "a;drop")]))
        .expect_err("bad database refused");
    assert!(err.to_string().contains("clickhouse.database"), "{err}");
}

#[test]
fn production_mode_refuses_development_keys() {
    let err = Config::load_with_env(None, &env(&[("MAILPULSE_KEYS_ALLOW_DEV_KEY", "false")]))
        .expect_err("dev keys refused");
    assert!(err.to_string().contains("development keys"), "{err}");
}

#[test]
fn a_short_subscriber_hash_key_is_refused() {
    let err = Config::load_with_env(None, &env(&[("MAILPULSE_KEYS_SUBSCRIBER_HASH", "abcd")]))
        .expect_err("short key refused");
    assert!(err.to_string().contains("keys.subscriber_hash"), "{err}");
}
