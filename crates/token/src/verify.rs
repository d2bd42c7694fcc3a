//! Verification, on the edge's hot path: bounded input, one allocation, tag checked in constant
//! time before any field is interpreted, no URL parsing (the destination was checked at signing).

use std::ops::Range;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use mailpulse_event::EventKind;

use crate::format::{self, FORMAT_VERSION, MAC_LEN, MAX_ID_LEN, MAX_KEY_ID_LEN, MAX_URL_LEN};
use crate::{varint, KeyRing, TokenError};

/// An authenticated token. Owns one buffer holding all its text fields back to back; the
/// accessors borrow from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    text: String,
    key_id: Range<usize>,
    tenant: Range<usize>,
    campaign: Range<usize>,
    subscriber: Range<usize>,
    /// Link id and destination, clicks only.
    click: Option<(Range<usize>, Range<usize>)>,
    kind: EventKind,
    issued_at: u64,
    expires_at: Option<u64>,
}

impl VerifiedToken {
    pub fn key_id(&self) -> &str {
        self.field(&self.key_id)
    }
    pub fn tenant(&self) -> &str {
        self.field(&self.tenant)
    }
    pub fn campaign(&self) -> &str {
        self.field(&self.campaign)
    }
    pub fn subscriber(&self) -> &str {
        self.field(&self.subscriber)
    }
    pub fn kind(&self) -> EventKind {
        self.kind
    }
    /// Link id of a click.
    pub fn link(&self) -> Option<&str> {
        self.click.as_ref().map(|(link, _)| self.field(link))
    }
    /// Destination of a click, an ASCII absolute `http`/`https` URL.
    pub fn url(&self) -> Option<&str> {
        self.click.as_ref().map(|(_, url)| self.field(url))
    }
    /// When the token was minted, seconds since the Unix epoch.
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }
    pub fn expires_at(&self) -> Option<u64> {
        self.expires_at
    }

    fn field(&self, range: &Range<usize>) -> &str {
        // Ranges are checked to be char boundaries of `text` when the token is built.
        self.text.get(range.clone()).unwrap_or_default()
    }
}

/// Checks `token` against the ring and the clock. `now_secs` is seconds since the Unix epoch.
pub fn verify(keyring: &KeyRing, token: &str, now_secs: u64) -> Result<VerifiedToken, TokenError> {
    if token.len() > format::MAX_TOKEN_CHARS {
        return Err(TokenError::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| TokenError::Malformed)?;
    let version = *bytes.first().ok_or(TokenError::Malformed)?;
    if version != FORMAT_VERSION {
        return Err(TokenError::UnsupportedVersion { found: version });
    }
    if bytes.len() < format::MIN_TOKEN_BYTES {
        return Err(TokenError::Malformed);
    }
    let (signed, tag) = bytes.split_at(bytes.len() - MAC_LEN);
    let tag: &[u8; MAC_LEN] = tag.try_into().map_err(|_| TokenError::Malformed)?;

    let mut pos = 1;
    let key_id =
        format::read_field(signed, &mut pos, MAX_KEY_ID_LEN).ok_or(TokenError::Malformed)?;
    let key = keyring
        .find(&signed[key_id.clone()])
        .ok_or(TokenError::UnknownKey)?;
    let expected = format::mac(&key.secret, signed);
    if !constant_time_eq::constant_time_eq_16(&expected, tag) {
        return Err(TokenError::BadSignature);
    }

    // Authenticated from here on: only a signer with a bug could make what follows fail.
    let layout = Layout::parse(signed, pos, key_id).ok_or(TokenError::Malformed)?;
    if let Some(expires_at) = layout.expires_at {
        if now_secs >= expires_at {
            return Err(TokenError::Expired { expires_at });
        }
    }
    layout.into_token(bytes)
}

/// Where each field of a decoded token lies, before the text is gathered.
struct Layout {
    key_id: Range<usize>,
    tenant: Range<usize>,
    campaign: Range<usize>,
    subscriber: Range<usize>,
    click: Option<(Range<usize>, Range<usize>)>,
    kind: EventKind,
    issued_at: u64,
    expires_at: Option<u64>,
}

impl Layout {
    /// Parses the fields after the key id; `None` unless they fill `signed` exactly.
    fn parse(signed: &[u8], mut pos: usize, key_id: Range<usize>) -> Option<Layout> {
        let kind = format::kind_from_byte(*signed.get(pos)?)?;
        pos += 1;
        let tenant = format::read_field(signed, &mut pos, MAX_ID_LEN)?;
        let campaign = format::read_field(signed, &mut pos, MAX_ID_LEN)?;
        let subscriber = format::read_field(signed, &mut pos, MAX_ID_LEN)?;
        let click = if kind == EventKind::Click {
            let link = format::read_field(signed, &mut pos, MAX_ID_LEN)?;
            let url = format::read_field(signed, &mut pos, MAX_URL_LEN)?;
            Some((link, url))
        } else {
            None
        };
        let issued_at = varint::read(signed, &mut pos)?;
        let expires_at = match varint::read(signed, &mut pos)? {
            0 => None,
            at => Some(at),
        };
        if pos != signed.len() {
            return None;
        }
        Some(Layout {
            key_id,
            tenant,
            campaign,
            subscriber,
            click,
            kind,
            issued_at,
            expires_at,
        })
    }

    /// Moves the text fields to the front of `bytes`, in order, and keeps that prefix as the
    /// token's only buffer: no second allocation.
    fn into_token(self, mut bytes: Vec<u8>) -> Result<VerifiedToken, TokenError> {
        let mut end = 0;
        let mut gather = |range: Range<usize>| {
            let start = end;
            // Fields lie in increasing order, so copying one never overwrites a later one.
            bytes.copy_within(range.clone(), start);
            end = start + range.len();
            start..end
        };
        let key_id = gather(self.key_id);
        let tenant = gather(self.tenant);
        let campaign = gather(self.campaign);
        let subscriber = gather(self.subscriber);
        let click = self.click.map(|(link, url)| (gather(link), gather(url)));
        bytes.truncate(end);

        let text = String::from_utf8(bytes).map_err(|_| TokenError::Malformed)?;
        // The whole is UTF-8; each field is too if it ends on a char boundary (fields are
        // contiguous from 0, so each one starts where the previous ended).
        let field_ends = [key_id.end, tenant.end, campaign.end, subscriber.end];
        let click_ends = click
            .as_ref()
            .map_or([0, 0], |(link, url)| [link.end, url.end]);
        if !field_ends
            .into_iter()
            .chain(click_ends)
            .all(|at| text.is_char_boundary(at))
        {
            return Err(TokenError::Malformed);
        }
        Ok(VerifiedToken {
            text,
            key_id,
            tenant,
            campaign,
            subscriber,
            click,
            kind: self.kind,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
        })
    }
}
