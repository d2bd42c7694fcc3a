//! One configuration model for every mailpulse component.
//!
//! Values come from, lowest precedence first: the defaults documented on each field, a TOML
//! file (`--config`, or `MAILPULSE_CONFIG`), and environment variables named
//! `MAILPULSE_<SECTION>_<KEY>` (e.g. `MAILPULSE_KAFKA_BROKERS`, `MAILPULSE_EDGE_LISTEN`).
//! Section names contain no underscore, so the first `_` after the section ends it.
//! [`Config::load`] validates the result, so a bad value refuses to start with a clear message.

mod model;
mod overrides;

pub use model::*;

use std::path::Path;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: String, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads the file (if given) and applies `MAILPULSE_*` overrides from the process
    /// environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(path, &env)
    }

    /// As [`Config::load`], with the environment given explicitly (for tests).
    pub fn load_with_env(
        path: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let (text, origin) = match path {
            Some(path) => (
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?,
                path.display().to_string(),
            ),
            None => (String::new(), "<defaults>".to_string()),
        };
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    path: origin.clone(),
                    message: e.to_string(),
                })?;
        overrides::apply(&mut table, env)?;
        let config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    path: origin,
                    message: e.message().to_string(),
                })?;
        config.validate()?;
        Ok(config)
    }
}
