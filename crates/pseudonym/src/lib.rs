//! Visitor pseudonymisation: keyed hashes under a forward-only daily salt ratchet.
//!
//! The edge never stores or forwards a visitor's IP address; it sends [`visitor_hash`] instead,
//! keyed with the day's salt from [`RatchetState`]. The salt changes at midnight UTC and the old
//! one cannot be recomputed from anything kept, so hashes of different days cannot be linked
//! and no hash can be brute-forced back to an IP afterwards. Scheme and threat model:
//! `crates/pseudonym/README.md`; golden vectors: `crates/pseudonym/tests/vectors.json`.

mod hash;
mod ratchet;
mod state_file;
mod wipe;

use std::path::PathBuf;

pub use hash::{
    parse_key_hex, subscriber_pseudonym, subscriber_pseudonym_hex, visitor_hash, HexDigest,
    VisitorHash,
};
pub use ratchet::{day_of, today, DaySalt, RatchetState, MAX_ADVANCE_DAYS};
pub use state_file::StateFile;

/// What went wrong with the ratchet, its file or a key.
#[derive(Debug, thiserror::Error)]
pub enum PseudonymError {
    /// The state is already past the requested day; earlier salts are gone by design.
    #[error("the salt ratchet is at day {current} and cannot go back to day {requested}")]
    Backwards { current: u32, requested: u32 },
    /// The requested day is implausibly far ahead: check the clock or the state's source.
    #[error("refusing to advance the salt ratchet from day {from} to day {to}: check the clock")]
    TooFarAhead { from: u32, to: u32 },
    /// No randomness to seed a fresh state.
    #[error("the operating system provided no randomness: {0}")]
    NoRandomness(getrandom::Error),
    /// The state file could not be read or written.
    #[error("salt state file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The state file exists but is damaged: remove it and reseed.
    #[error("salt state file {path} is unusable ({reason}); remove it to reseed")]
    CorruptStateFile { path: PathBuf, reason: &'static str },
    /// A configured key is not 32 bytes of hex: fix `keys.subscriber_hash`.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
}
