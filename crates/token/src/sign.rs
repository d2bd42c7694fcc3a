//! Minting: validate the claims, lay them out (see `schemas/token.md`), append the tag, encode.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::claims::{Action, Claims};
use crate::format::{self, FORMAT_VERSION};
use crate::{varint, KeyRing, TokenError};

/// Signs `claims` with the ring's active key into a URL-safe token.
pub fn sign(keyring: &KeyRing, claims: &Claims<'_>) -> Result<String, TokenError> {
    let destination = claims.validate()?;
    let key = keyring.active_key();

    let mut bytes = Vec::with_capacity(64 + destination.as_ref().map_or(0, String::len));
    bytes.push(FORMAT_VERSION);
    format::put_field(&mut bytes, key.id.as_bytes());
    bytes.push(format::kind_byte(claims.action.kind()));
    format::put_field(&mut bytes, claims.tenant.as_bytes());
    format::put_field(&mut bytes, claims.campaign.as_bytes());
    format::put_field(&mut bytes, claims.subscriber.as_bytes());
    if let (Action::Click { link, .. }, Some(destination)) = (claims.action, &destination) {
        format::put_field(&mut bytes, link.as_bytes());
        format::put_field(&mut bytes, destination.as_bytes());
    }
    varint::put(&mut bytes, claims.issued_at);
    // 0 means "never"; validation guarantees a real expiry is later than issued_at, so not 0.
    varint::put(&mut bytes, claims.expires_at.unwrap_or(0));
    let tag = format::mac(&key.secret, &bytes);
    bytes.extend_from_slice(&tag);

    Ok(URL_SAFE_NO_PAD.encode(&bytes))
}
