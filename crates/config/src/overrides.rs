//! `MAILPULSE_<SECTION>_<KEY>` environment overrides.

use crate::ConfigError;

/// Sections of [`crate::Config`]; an override must name one of them.
const SECTIONS: &[&str] = &[
    "kafka",
    "clickhouse",
    "edge",
    "keys",
    "aggregator",
    "api",
    "privacy",
    "log",
];

/// Variables that start with the prefix but are not overrides: the config file path and the
/// local stack scripts' download cache.
const NOT_OVERRIDES: &[&str] = &["MAILPULSE_CONFIG", "MAILPULSE_CACHE_DIR"];

pub(crate) fn apply(table: &mut toml::Table, env: &[(String, String)]) -> Result<(), ConfigError> {
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("MAILPULSE_") else {
            continue;
        };
        if NOT_OVERRIDES.contains(&name.as_str()) {
            continue;
        }
        let lower = rest.to_ascii_lowercase();
        let Some((section, key)) = lower.split_once('_') else {
            return Err(env_error(name, "expected MAILPULSE_<SECTION>_<KEY>"));
        };
        if !SECTIONS.contains(&section) {
            return Err(env_error(
                name,
                &format!(
                    "unknown section `{section}` (known: {})",
                    SECTIONS.join(", ")
                ),
            ));
        }
        let entry = table
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(section_table) = entry else {
            return Err(env_error(name, "section in the config file is not a table"));
        };
        section_table.insert(key.to_string(), parse_value(value));
    }
    Ok(())
}

/// Reads an environment value as a TOML scalar or array when it parses as one (`8080`, `true`,
/// `["a", "b"]`), otherwise as a plain string, so `MAILPULSE_KAFKA_BROKERS=host:9092` needs no
/// quotes.
fn parse_value(raw: &str) -> toml::Value {
    let wrapped = format!("v = {raw}");
    match wrapped.parse::<toml::Table>() {
        Ok(mut table) => table
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn env_error(name: &str, message: &str) -> ConfigError {
    ConfigError::Env {
        name: name.to_string(),
        message: message.to_string(),
    }
}
