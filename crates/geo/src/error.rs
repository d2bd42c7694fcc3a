use std::path::PathBuf;

/// Why a database could not be (re)loaded. Lookups themselves never fail.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The file is missing or unreadable: fix the path or its permissions (for the local stack,
    /// `scripts/stack up` downloads the databases).
    #[error("cannot read MMDB file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file was read but is not a valid MMDB database: replace it.
    #[error("{path} is not a valid MMDB database: {source}")]
    Invalid {
        path: PathBuf,
        source: maxminddb::MaxMindDbError,
    },
}
