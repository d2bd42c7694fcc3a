//! An append-only, checksummed, segmented on-disk queue of `(key, payload)` records.
//!
//! The edge writes events here while Kafka is unreachable or its in-memory queue is full, and
//! replays them, oldest first, when the broker is back. Records are framed as
//! `[len: u32 LE][crc32(body): u32 LE][body]` with `body = [key_len: u16 LE][key][payload]`, so a
//! torn write at the end of a segment (power loss, `kill -9`) is detected and skipped instead of
//! being replayed as garbage. Appends are fsynced in batches ([`SpoolOptions::fsync_every`]
//! records, or by [`Spool::sync`] on a timer), trading a few milliseconds of exposure for write
//! throughput.
//!
//! Segments roll at [`SpoolOptions::segment_bytes`]; a segment is deleted once every record in
//! it has been acknowledged ([`Spool::ack_through`]), so disk use falls as replay progresses.

mod frame;
mod segment;
mod spool;

pub use spool::{Position, Record, Spool, SpoolOptions, SpoolStats};

/// What went wrong with the spool, and what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The spool holds `max_bytes` already: the record was not written. Alert; the caller decides
    /// whether to drop.
    #[error("spool is full ({used} of {max} bytes)")]
    Full { used: u64, max: u64 },
    /// The record cannot be framed (key longer than 65535 bytes or record over 1 MiB).
    #[error("record too large to spool: {0}")]
    TooLarge(&'static str),
    /// Disk trouble: the record may not be durable.
    #[error("spool I/O error on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl SpoolError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> SpoolError {
        SpoolError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
