/// Why a storage operation failed, by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// ClickHouse could not be reached or did not answer in time: retry later.
    #[error("ClickHouse is unavailable: {0}")]
    Unavailable(#[source] clickhouse::error::Error),
    /// ClickHouse answered with an error (missing table, bad SQL, limits): retrying may help if
    /// the cause is transient; otherwise run `mailpulse migrate` or fix the deployment.
    #[error("ClickHouse refused the query: {0}")]
    Query(#[source] clickhouse::error::Error),
    /// A migration statement failed: fix the schema or the server, then migrate again.
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        version: u32,
        name: &'static str,
        #[source]
        source: clickhouse::error::Error,
    },
    /// The configured database name cannot be used in SQL.
    #[error("invalid database name `{0}`")]
    InvalidDatabase(String),
}

impl StoreError {
    /// Whether waiting and trying again is the right reaction.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<clickhouse::error::Error> for StoreError {
    fn from(error: clickhouse::error::Error) -> Self {
        use clickhouse::error::Error as E;
        match error {
            E::Network(_) | E::TimedOut => StoreError::Unavailable(error),
            _ => StoreError::Query(error),
        }
    }
}
