//! Why a privacy call failed, by what the caller can do about it. Each variant has a stable
//! [`PrivacyError::code`] that the HTTP API returns in its JSON error body.

use std::time::Duration;

use mailpulse_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// A tenant, subscriber, campaign or value cannot be used: fix the request.
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// An import had malformed lines and `partial` was not asked for: nothing was applied.
    /// The report lists every bad line.
    #[error("{} malformed import line(s); nothing applied", .0.errors_total)]
    MalformedImport(Box<crate::import::ImportReport>),
    /// Kafka failed while an import was being applied. The report says how many lines were
    /// applied before; repeating the whole import is safe (setting a value again is harmless).
    #[error("import interrupted: {} of {} lines applied before Kafka failed", .0.applied, .0.valid)]
    ImportInterrupted(Box<crate::import::ImportReport>),
    /// An import is larger than one call accepts: split it.
    #[error("import too large: more than {max_lines} lines; split it into several imports")]
    ImportTooLarge { max_lines: usize },
    /// The input could not be read (I/O error, not UTF-8): fix the input and retry.
    #[error("cannot read the input: {0}")]
    Input(String),
    /// The consent topic did not accept a record: retry when Kafka is healthy. Records
    /// delivered before the failure stay applied (the topic has no transactions).
    #[error("Kafka did not accept the consent record: {0}")]
    Kafka(#[source] rdkafka::error::KafkaError),
    /// The change is in effect (the consent topic has it) but its history row could not be
    /// written: repeat the call to record it.
    #[error("the change is in effect but its history row was not written: {0}")]
    HistoryNotRecorded(#[source] StoreError),
    /// ClickHouse failed: retry when it is healthy (every call is safe to repeat).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The running aggregators did not confirm that they apply the denial in time, so nothing
    /// was deleted (deleting first could let an in-flight event back in): retry.
    #[error(
        "aggregator(s) {replicas:?} did not apply the consent change within {waited:?}; \
         nothing was deleted, retry"
    )]
    AggregatorLagging {
        replicas: Vec<String>,
        waited: Duration,
    },
    /// ClickHouse did not finish a delete mutation in time. It keeps running on the server;
    /// repeating the call waits for it again.
    #[error("the delete on `{table}` did not finish within {waited:?}; it continues on the server, retry to wait again")]
    MutationTimeout { table: String, waited: Duration },
    /// The export could not be written to its destination (the client went away).
    #[error("cannot write the export: {0}")]
    Output(#[source] std::io::Error),
}

impl PrivacyError {
    /// Stable, machine-readable error code.
    pub fn code(&self) -> &'static str {
        match self {
            PrivacyError::Invalid { .. } => "invalid_request",
            PrivacyError::MalformedImport(_) => "malformed_import",
            PrivacyError::ImportInterrupted(_) => "import_interrupted",
            PrivacyError::ImportTooLarge { .. } => "import_too_large",
            PrivacyError::Input(_) => "unreadable_input",
            PrivacyError::Kafka(_) => "kafka_unavailable",
            PrivacyError::HistoryNotRecorded(_) => "history_not_recorded",
            PrivacyError::Store(error) if error.is_transient() => "clickhouse_unavailable",
            PrivacyError::Store(_) => "clickhouse_error",
            PrivacyError::AggregatorLagging { .. } => "aggregator_lagging",
            PrivacyError::MutationTimeout { .. } => "delete_in_progress",
            PrivacyError::Output(_) => "output_closed",
        }
    }

    /// Whether retrying the same call later is the right reaction.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PrivacyError::Kafka(_)
                | PrivacyError::Store(_)
                | PrivacyError::HistoryNotRecorded(_)
                | PrivacyError::ImportInterrupted(_)
                | PrivacyError::AggregatorLagging { .. }
                | PrivacyError::MutationTimeout { .. }
        )
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> PrivacyError {
        PrivacyError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl From<clickhouse::error::Error> for PrivacyError {
    fn from(error: clickhouse::error::Error) -> Self {
        PrivacyError::Store(StoreError::from(error))
    }
}
