//! Tracking URLs for outgoing mail: `<base>/o/<token>` (pixel), `<base>/c/<token>` (click),
//! `<base>/u/<token>` (unsubscribe).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::claims::{Action, Claims};
use crate::{sign, KeyRing, TokenError};

/// Mints tracking URLs under one base URL with one key ring.
#[derive(Debug, Clone)]
pub struct UrlMinter {
    /// Absolute `http`/`https` URL of the edge, without trailing slash.
    base_url: String,
    keyring: KeyRing,
    /// Lifetime of minted tokens; `None` mints tokens that never expire.
    ttl_secs: Option<u64>,
}

impl UrlMinter {
    /// `base_url` may carry a path prefix (`https://t.example.com/mp/`); a trailing slash is
    /// dropped. It must not carry a query or fragment, which would swallow the token path.
    pub fn new(base_url: &str, keyring: KeyRing) -> Result<UrlMinter, TokenError> {
        let trimmed = base_url.trim_end_matches('/');
        crate::claims::normalise_destination(trimmed)
            .map_err(|_| TokenError::InvalidBaseUrl("must be an absolute http or https URL"))?;
        if trimmed.contains(['?', '#']) {
            return Err(TokenError::InvalidBaseUrl(
                "must not have a query or fragment",
            ));
        }
        Ok(UrlMinter {
            base_url: trimmed.to_owned(),
            keyring,
            ttl_secs: None,
        })
    }

    /// The base URL every minted URL starts with (no trailing slash): lets a rewriter recognise
    /// links that already point at the edge.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Tokens minted from now on expire `ttl_secs` after they are issued.
    pub fn with_ttl(mut self, ttl_secs: u64) -> UrlMinter {
        self.ttl_secs = Some(ttl_secs);
        self
    }

    pub fn pixel_url(
        &self,
        tenant: &str,
        campaign: &str,
        subscriber: &str,
    ) -> Result<String, TokenError> {
        self.mint_now(tenant, campaign, subscriber, Action::Open)
    }

    pub fn click_url(
        &self,
        tenant: &str,
        campaign: &str,
        subscriber: &str,
        link: &str,
        destination: &str,
    ) -> Result<String, TokenError> {
        let action = Action::Click { link, destination };
        self.mint_now(tenant, campaign, subscriber, action)
    }

    pub fn unsubscribe_url(
        &self,
        tenant: &str,
        campaign: &str,
        subscriber: &str,
    ) -> Result<String, TokenError> {
        self.mint_now(tenant, campaign, subscriber, Action::Unsubscribe)
    }

    /// The URL for explicit claims (their own issue and expiry times; the TTL is not applied).
    pub fn url_for(&self, claims: &Claims<'_>) -> Result<String, TokenError> {
        let token = sign(&self.keyring, claims)?;
        let route = match claims.action {
            Action::Open => "o",
            Action::Click { .. } => "c",
            Action::Unsubscribe => "u",
        };
        Ok(format!("{}/{route}/{token}", self.base_url))
    }

    fn mint_now(
        &self,
        tenant: &str,
        campaign: &str,
        subscriber: &str,
        action: Action<'_>,
    ) -> Result<String, TokenError> {
        let issued_at = unix_now_secs();
        self.url_for(&Claims {
            tenant,
            campaign,
            subscriber,
            action,
            issued_at,
            expires_at: self
                .ttl_secs
                .map(|ttl| issued_at.saturating_add(ttl.max(1))),
        })
    }
}

/// A stable short id for a link of a campaign: the same destination in the same campaign gets
/// the same id in every recipient's copy, so per-link statistics group across recipients.
/// 16 hex characters (the first 8 bytes of a BLAKE3 hash of the length-framed pair).
pub fn link_id_for(campaign: &str, destination: &str) -> String {
    let mut hasher = blake3::Hasher::new_derive_key("mailpulse link id v1");
    hasher.update(&(campaign.len() as u64).to_le_bytes());
    hasher.update(campaign.as_bytes());
    hasher.update(destination.as_bytes());
    hex::encode(&hasher.finalize().as_bytes()[..8])
}

fn unix_now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}
