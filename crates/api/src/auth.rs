//! Who is calling: the API key from `Authorization: Bearer <key>` (or, for the dashboard's
//! read-only requests, the `mailpulse_key` cookie), checked against an in-memory copy of the
//! live keys that is reloaded from ClickHouse when it is older than a short TTL.
//!
//! The cookie counts only on GET and HEAD: a browser sends cookies with requests other sites
//! trigger, so a state-changing call must carry the key in a header (no CSRF through it).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use clickhouse::Client;
use hyper::header::{AUTHORIZATION, COOKIE};
use hyper::{HeaderMap, Method};
use tokio::sync::Mutex;

use crate::tenant::{active_keys, well_formed_key, KeyHash, TenantId};
use crate::ApiError;

/// The dashboard's cookie.
pub const KEY_COOKIE: &str = "mailpulse_key";

/// How long a loaded key list is trusted; a revoked key stops working within this time.
pub const DEFAULT_KEY_TTL: Duration = Duration::from_secs(10);
/// A key not in the list triggers a reload (it may have been created a moment ago), but the
/// list is reloaded at most this often: a request with an unknown key waits for the next
/// reload, so a flood of wrong keys costs one query per interval, not one per request, and a
/// new key is never refused.
const MISS_RELOAD_INTERVAL: Duration = Duration::from_millis(250);
/// When ClickHouse cannot be read, an older list keeps answering for at most this long.
const MAX_STALE: Duration = Duration::from_secs(600);

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The tenant every query of this request is scoped to.
    pub tenant: TenantId,
    /// The key's id, for the audit log (never the key).
    pub key_id: String,
}

struct Snapshot {
    keys: HashMap<KeyHash, Caller>,
    /// When the query that loaded it started.
    loaded_at: Instant,
}

/// Checks keys against the cached key list.
pub struct Authenticator {
    client: Client,
    ttl: Duration,
    snapshot: RwLock<Option<Snapshot>>,
    /// One reload at a time; callers that waited for it use its result.
    reloading: Mutex<()>,
}

enum Lookup {
    Found(Caller),
    /// Not in a list this old.
    Missing(Duration),
    /// The list is older than the TTL (or was never loaded).
    Stale,
}

impl Authenticator {
    pub fn new(client: Client, ttl: Duration) -> Authenticator {
        Authenticator {
            client,
            ttl,
            snapshot: RwLock::new(None),
            reloading: Mutex::new(()),
        }
    }

    /// The caller of a request with these headers.
    pub async fn authenticate(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Caller, ApiError> {
        let key = presented_key(method, headers).ok_or(ApiError::InvalidApiKey)?;
        self.authenticate_key(key).await
    }

    /// The caller a key belongs to.
    pub async fn authenticate_key(&self, key: &str) -> Result<Caller, ApiError> {
        if !well_formed_key(key) {
            return Err(ApiError::InvalidApiKey);
        }
        let hash = KeyHash::of(key);
        let missed_at = Instant::now();
        match self.lookup(&hash) {
            Lookup::Found(caller) => return Ok(caller),
            Lookup::Missing(age) => {
                if let Some(wait) = MISS_RELOAD_INTERVAL.checked_sub(age) {
                    tokio::time::sleep(wait).await;
                }
            }
            Lookup::Stale => {}
        }
        self.reload(missed_at).await?;
        match self.lookup_any_age(&hash) {
            Some(caller) => Ok(caller),
            None => Err(ApiError::InvalidApiKey),
        }
    }

    fn lookup(&self, hash: &KeyHash) -> Lookup {
        let guard = self
            .snapshot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(snapshot) = guard.as_ref() else {
            return Lookup::Stale;
        };
        let age = snapshot.loaded_at.elapsed();
        if age >= self.ttl {
            return Lookup::Stale;
        }
        match snapshot.keys.get(hash) {
            Some(caller) => Lookup::Found(caller.clone()),
            None => Lookup::Missing(age),
        }
    }

    fn lookup_any_age(&self, hash: &KeyHash) -> Option<Caller> {
        let guard = self
            .snapshot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.as_ref()?.keys.get(hash).cloned()
    }

    /// Reloads the key list unless a load that started at or after `needed_after` already
    /// did (callers waiting together share one query).
    async fn reload(&self, needed_after: Instant) -> Result<(), ApiError> {
        let _reloading = self.reloading.lock().await;
        if self.loaded_at().is_some_and(|at| at >= needed_after) {
            return Ok(());
        }
        let started = Instant::now();
        match active_keys(&self.client).await {
            Ok(keys) => {
                let keys = keys
                    .into_iter()
                    .map(|key| {
                        let caller = Caller {
                            tenant: key.tenant,
                            key_id: key.key_id,
                        };
                        (key.hash, caller)
                    })
                    .collect();
                let mut guard = self
                    .snapshot
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                // Dated by the query's start: a key created after it may be missing.
                *guard = Some(Snapshot {
                    keys,
                    loaded_at: started,
                });
                Ok(())
            }
            Err(error) => {
                let usable = self.loaded_at().is_some_and(|at| at.elapsed() < MAX_STALE);
                if usable {
                    tracing::warn!(%error, "API key reload failed; using the previous list");
                    Ok(())
                } else {
                    Err(error)
                }
            }
        }
    }

    fn loaded_at(&self) -> Option<Instant> {
        let guard = self
            .snapshot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.as_ref().map(|snapshot| snapshot.loaded_at)
    }
}

/// The key a request presents: the bearer token, else (GET/HEAD only) the dashboard cookie.
pub fn presented_key<'h>(method: &Method, headers: &'h HeaderMap) -> Option<&'h str> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
    }
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == KEY_COOKIE).then_some(value)
        })
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_bearer_key_is_read_whatever_the_method() {
        let map = headers(&[("authorization", "Bearer abc")]);
        assert_eq!(presented_key(&Method::GET, &map), Some("abc"));
        assert_eq!(presented_key(&Method::PUT, &map), Some("abc"));
        let map = headers(&[("authorization", "Basic abc")]);
        assert_eq!(presented_key(&Method::GET, &map), None);
    }

    #[test]
    fn the_cookie_counts_only_on_reads() {
        let map = headers(&[("cookie", "theme=dark; mailpulse_key=xyz")]);
        assert_eq!(presented_key(&Method::GET, &map), Some("xyz"));
        assert_eq!(presented_key(&Method::HEAD, &map), Some("xyz"));
        assert_eq!(presented_key(&Method::POST, &map), None);
        assert_eq!(presented_key(&Method::PUT, &map), None);
    }
}
