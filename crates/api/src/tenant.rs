//! Tenants and their API keys, stored in the `tenants` table (`schemas/migrations/0006_*.sql`).
//!
//! A key is 32 random bytes, base64url without padding (43 characters). Only its BLAKE3 hash
//! is stored, so a copy of the table grants nothing; the key is shown once, when created. Each
//! key has a short random `key_id` that names it in lists and in the audit log.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use clickhouse::Client;
use serde::{Deserialize, Serialize};

use crate::ApiError;

/// Longest tenant id, in bytes (the tracking token's limit for ids).
pub const MAX_TENANT_LEN: usize = 256;
/// Random bytes in a key.
const KEY_BYTES: usize = 32;
/// Characters of a key: 32 bytes in unpadded base64.
pub const KEY_CHARS: usize = 43;

/// A tenant id: what tracking tokens carry and every statistics row is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// Accepts the ids tracking tokens accept: 1-256 bytes, no control characters.
    pub fn parse(id: &str) -> Result<TenantId, ApiError> {
        if id.is_empty() {
            Err(ApiError::InvalidTenant("must not be empty"))
        } else if id.len() > MAX_TENANT_LEN {
            Err(ApiError::InvalidTenant("must be at most 256 bytes"))
        } else if id.chars().any(char::is_control) {
            Err(ApiError::InvalidTenant(
                "must not contain control characters",
            ))
        } else {
            Ok(TenantId(id.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The BLAKE3 hash of a key, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    /// Hashes a presented key. The lookup that follows is by this hash, so how long it takes
    /// tells an attacker nothing about stored keys (they cannot choose hash prefixes).
    pub fn of(key: &str) -> KeyHash {
        KeyHash(*blake3::hash(key.as_bytes()).as_bytes())
    }

    /// Reads the stored hex form.
    pub fn from_hex(hex_text: &str) -> Option<KeyHash> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_text, &mut bytes).ok()?;
        Some(KeyHash(bytes))
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

/// Whether `key` has the shape of a key this module issues (checked before hashing, so junk
/// is refused without a lookup).
pub fn well_formed_key(key: &str) -> bool {
    key.len() == KEY_CHARS
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A key just created: the only moment the key itself exists outside its holder.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub tenant: TenantId,
    pub key_id: String,
    /// Show once; it cannot be recovered from the table.
    pub key: String,
}

/// One key as listed (never the key or its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub tenant: String,
    pub key_id: String,
    /// Seconds since the Unix epoch.
    pub created_at: u32,
    pub revoked: bool,
}

/// A live key: what the authenticator caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveKey {
    pub tenant: TenantId,
    pub key_id: String,
    pub hash: KeyHash,
}

/// One version of a key, as written to `tenants`.
#[derive(Debug, Default, Serialize, clickhouse::Row)]
pub struct KeyVersionRow<'a> {
    pub tenant: &'a str,
    pub key_id: &'a str,
    pub key_hash: &'a str,
    pub created_at: u32,
    pub revoked: u8,
    pub version: u64,
}

/// Result row of [`LATEST_KEYS_SQL`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, clickhouse::Row)]
pub struct LatestKeyRow {
    pub tenant: String,
    pub key_id: String,
    pub key_hash: String,
    pub created_at: u32,
    pub revoked: u8,
}

/// The latest version of every key. `argMax` rather than `FINAL` so unmerged versions never
/// resurrect a revoked key.
pub const LATEST_KEYS_SQL: &str = "SELECT \
       tenant, \
       key_id, \
       argMax(key_hash, version) AS key_hash, \
       argMax(created_at, version) AS created_at, \
       argMax(revoked, version) AS revoked \
     FROM tenants GROUP BY tenant, key_id ORDER BY tenant, created_at, key_id";

/// Creates a key for `tenant` (the tenant exists once it has a key).
pub async fn create_key(client: &Client, tenant: &TenantId) -> Result<NewKey, ApiError> {
    let mut secret = [0u8; KEY_BYTES];
    let mut id = [0u8; 6];
    getrandom::fill(&mut secret)
        .and_then(|()| getrandom::fill(&mut id))
        .map_err(|e| ApiError::Internal(format!("no randomness for a key: {e}")))?;
    let key = URL_SAFE_NO_PAD.encode(secret);
    let key_id = format!("k{}", hex::encode(id));
    let hash = KeyHash::of(&key).to_hex();
    write_version(client, tenant.as_str(), &key_id, &hash, now_secs(), false).await?;
    Ok(NewKey {
        tenant: tenant.clone(),
        key_id,
        key,
    })
}

/// Revokes one key. Returns false when the tenant has no such key.
pub async fn revoke_key(
    client: &Client,
    tenant: &TenantId,
    key_id: &str,
) -> Result<bool, ApiError> {
    let current = client
        .query(
            "SELECT tenant, key_id, \
               argMax(key_hash, version) AS key_hash, \
               argMax(created_at, version) AS created_at, \
               argMax(revoked, version) AS revoked \
             FROM tenants WHERE tenant = ? AND key_id = ? GROUP BY tenant, key_id",
        )
        .bind(tenant.as_str())
        .bind(key_id)
        .fetch_all::<LatestKeyRow>()
        .await?;
    let Some(current) = current.into_iter().next() else {
        return Ok(false);
    };
    write_version(
        client,
        tenant.as_str(),
        key_id,
        &current.key_hash,
        current.created_at,
        true,
    )
    .await?;
    Ok(true)
}

/// Every key of every tenant, revoked ones included.
pub async fn list_keys(client: &Client) -> Result<Vec<KeyInfo>, ApiError> {
    Ok(client
        .query(LATEST_KEYS_SQL)
        .fetch_all::<LatestKeyRow>()
        .await?
        .into_iter()
        .map(|row| KeyInfo {
            tenant: row.tenant,
            key_id: row.key_id,
            created_at: row.created_at,
            revoked: row.revoked != 0,
        })
        .collect())
}

/// Every key that authenticates now.
pub async fn active_keys(client: &Client) -> Result<Vec<ActiveKey>, ApiError> {
    let rows = client
        .query(LATEST_KEYS_SQL)
        .fetch_all::<LatestKeyRow>()
        .await?;
    Ok(rows
        .into_iter()
        .filter(|row| row.revoked == 0)
        .filter_map(|row| {
            let hash = KeyHash::from_hex(&row.key_hash)?;
            let tenant = TenantId::parse(&row.tenant).ok()?;
            Some(ActiveKey {
                tenant,
                key_id: row.key_id,
                hash,
            })
        })
        .collect())
}

async fn write_version(
    client: &Client,
    tenant: &str,
    key_id: &str,
    key_hash: &str,
    created_at: u32,
    revoked: bool,
) -> Result<(), ApiError> {
    let mut insert = client.insert::<KeyVersionRow<'_>>("tenants").await?;
    insert
        .write(&KeyVersionRow {
            tenant,
            key_id,
            key_hash,
            created_at,
            revoked: u8::from(revoked),
            version: now_nanos(),
        })
        .await?;
    insert.end().await?;
    Ok(())
}

pub(crate) fn now_secs() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

/// A version that orders writes from one clock: nanoseconds since the epoch.
pub(crate) fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_follow_the_token_rules() {
        assert!(TenantId::parse("acme").is_ok());
        assert!(TenantId::parse("tenant with spaces ünïcode").is_ok());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse("a\nb").is_err());
        assert!(TenantId::parse(&"x".repeat(257)).is_err());
    }

    #[test]
    fn a_key_hash_round_trips_through_hex_and_differs_per_key() {
        let a = KeyHash::of("a".repeat(43).as_str());
        let b = KeyHash::of("b".repeat(43).as_str());
        assert_ne!(a, b);
        assert_eq!(KeyHash::from_hex(&a.to_hex()), Some(a));
        assert_eq!(KeyHash::from_hex("zz"), None);
        // The documented construction: plain BLAKE3 of the key text.
        assert_eq!(
            a.to_hex(),
            blake3::hash("a".repeat(43).as_bytes()).to_hex().as_str()
        );
    }

    #[test]
    fn only_43_base64url_characters_are_a_key() {
        let key = URL_SAFE_NO_PAD.encode([7u8; KEY_BYTES]);
        assert!(well_formed_key(&key));
        assert!(!well_formed_key(&key[1..]));
        assert!(!well_formed_key(&format!("{}+", &key[1..])));
    }
}
