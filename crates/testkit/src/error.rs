use std::time::Duration;

/// Why a harness operation failed. Tests usually `expect` these; the message says what to fix.
#[derive(thiserror::Error)]
pub enum TestkitError {
    /// `scripts/stack` could not be run, or reported the stack unhealthy: read the message (it
    /// carries the script's output), then `scripts/stack status` / `scripts/stack logs`.
    #[error("local stack: {0}")]
    Stack(String),
    /// The broker refused or failed a request: the broker may be down (`scripts/stack status`).
    #[error("kafka: {action}: {source}")]
    Kafka {
        action: String,
        source: rdkafka::error::KafkaError,
    },
    /// ClickHouse refused or failed a request: it may be down, or the SQL is wrong for 18.16.
    #[error("clickhouse: {action}: {source}")]
    ClickHouse {
        action: String,
        source: clickhouse::error::Error,
    },
    /// A service did not answer in time: it is probably down or stopped.
    #[error("{action}: no answer within {after:?} (is the service down? `scripts/stack status`)")]
    Timeout { action: String, after: Duration },
    /// The generated test configuration was rejected: a harness bug.
    #[error("test configuration: {0}")]
    Config(#[from] mailpulse_config::ConfigError),
}

/// `expect` prints `Debug`: show the readable message (with the script output's line breaks)
/// rather than an escaped struct dump.
impl std::fmt::Debug for TestkitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl TestkitError {
    pub(crate) fn kafka(action: impl Into<String>, source: rdkafka::error::KafkaError) -> Self {
        Self::Kafka {
            action: action.into(),
            source,
        }
    }

    pub(crate) fn clickhouse(action: impl Into<String>, source: clickhouse::error::Error) -> Self {
        Self::ClickHouse {
            action: action.into(),
            source,
        }
    }
}

/// Runs `future` with a deadline, turning expiry into [`TestkitError::Timeout`].
pub(crate) async fn within<T>(
    after: Duration,
    action: impl Into<String>,
    future: impl std::future::Future<Output = Result<T, TestkitError>>,
) -> Result<T, TestkitError> {
    match tokio::time::timeout(after, future).await {
        Ok(result) => result,
        Err(_) => Err(TestkitError::Timeout {
            action: action.into(),
            after,
        }),
    }
}
