//! Tracking tokens: compact signed pixel, click and unsubscribe tokens and URL minting.
//!
//! A token is a versioned binary record — key id, kind, tenant, campaign, subscriber, link and
//! destination (clicks), issue and expiry times — followed by a 128-bit keyed BLAKE3 tag, all
//! base64url without padding. The byte layout is specified in `schemas/token.md`; golden
//! vectors are in `crates/token/tests/vectors.json`.
//!
//! [`sign`] validates everything (it is off the hot path and may parse URLs); [`verify`] runs
//! on every edge request, so it only decodes, checks the tag in constant time and slices.

mod claims;
mod format;
mod keyring;
mod minter;
mod sign;
mod varint;
mod verify;

pub use claims::{Action, Claims};
pub use format::{FORMAT_VERSION, MAC_LEN, MAX_ID_LEN, MAX_KEY_ID_LEN, MAX_URL_LEN};
pub use keyring::KeyRing;
pub use mailpulse_event::EventKind;
pub use minter::{link_id_for, UrlMinter};
pub use sign::sign;
pub use verify::{verify, VerifiedToken};

/// Why a token could not be signed or verified.
///
/// Verification errors say only what the edge needs to answer and count: none of them reveals
/// which byte was wrong, and none allocates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The signing key configuration is unusable: fix `keys.signing` / `keys.active`.
    #[error("invalid signing keys: {0}")]
    InvalidKeyRing(String),
    /// The caller asked to sign something unsafe or out of bounds.
    #[error("cannot sign: `{field}` {reason}")]
    InvalidClaim {
        field: &'static str,
        reason: &'static str,
    },
    /// The tracking base URL is unusable: fix the configuration.
    #[error("invalid tracking base URL: {0}")]
    InvalidBaseUrl(&'static str),
    /// Not a token: bad encoding, wrong length or broken structure.
    #[error("malformed token")]
    Malformed,
    /// A token format this build does not read.
    #[error("unsupported token version {found}")]
    UnsupportedVersion { found: u8 },
    /// Names a key that is not in the ring: retired, or never ours.
    #[error("token signed with an unknown key")]
    UnknownKey,
    /// The tag does not match: forged, tampered or truncated.
    #[error("bad token signature")]
    BadSignature,
    /// Authentic but past its expiry.
    #[error("token expired at {expires_at}")]
    Expired { expires_at: u64 },
}
