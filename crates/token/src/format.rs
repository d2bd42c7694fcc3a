//! The version 1 byte layout (specified in `schemas/token.md`): constants, field framing and the
//! MAC, shared by signing and verification so the two cannot drift apart.

use mailpulse_event::EventKind;

use crate::varint;

/// First byte of every token this build signs and the only one it verifies.
pub const FORMAT_VERSION: u8 = 1;
/// Bytes of the truncated keyed BLAKE3 tag at the end of a token.
pub const MAC_LEN: usize = 16;
/// Longest key id, in bytes.
pub const MAX_KEY_ID_LEN: usize = 16;
/// Longest tenant, campaign, subscriber or link id, in bytes (the event schema's limit).
pub const MAX_ID_LEN: usize = 256;
/// Longest destination URL, in bytes, after normalisation.
pub const MAX_URL_LEN: usize = 2048;

/// Largest possible decoded token: version, key id, kind, four ids, URL, two timestamps, MAC.
pub(crate) const MAX_TOKEN_BYTES: usize = 1
    + (1 + MAX_KEY_ID_LEN)
    + 1
    + 4 * (2 + MAX_ID_LEN)
    + (2 + MAX_URL_LEN)
    + 2 * varint::MAX_LEN
    + MAC_LEN;
/// Largest possible token string (base64 without padding); anything longer is refused before
/// it is decoded, so an attacker cannot make verification allocate much.
pub(crate) const MAX_TOKEN_CHARS: usize = (MAX_TOKEN_BYTES * 4).div_ceil(3);
/// Smallest possible decoded token: version, 1-byte key id, kind, three 1-byte ids, two
/// 1-byte timestamps, MAC.
pub(crate) const MIN_TOKEN_BYTES: usize = 1 + 2 + 1 + 3 * 2 + 2 + MAC_LEN;

pub(crate) fn kind_byte(kind: EventKind) -> u8 {
    match kind {
        EventKind::Open => 1,
        EventKind::Click => 2,
        EventKind::Unsubscribe => 3,
    }
}

pub(crate) fn kind_from_byte(byte: u8) -> Option<EventKind> {
    match byte {
        1 => Some(EventKind::Open),
        2 => Some(EventKind::Click),
        3 => Some(EventKind::Unsubscribe),
        _ => None,
    }
}

/// Appends a varint length and the bytes.
pub(crate) fn put_field(out: &mut Vec<u8>, bytes: &[u8]) {
    varint::put(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Reads a length-prefixed field of 1..=`max_len` bytes at `*pos`; returns where it lies.
pub(crate) fn read_field(
    buf: &[u8],
    pos: &mut usize,
    max_len: usize,
) -> Option<std::ops::Range<usize>> {
    let len = usize::try_from(varint::read(buf, pos)?).ok()?;
    if len == 0 || len > max_len {
        return None;
    }
    let start = *pos;
    let end = start.checked_add(len)?;
    if end > buf.len() {
        return None;
    }
    *pos = end;
    Some(start..end)
}

/// Keyed BLAKE3 of every byte before the tag, truncated to [`MAC_LEN`].
pub(crate) fn mac(key: &[u8; 32], signed_bytes: &[u8]) -> [u8; MAC_LEN] {
    let hash = blake3::keyed_hash(key, signed_bytes);
    let mut tag = [0u8; MAC_LEN];
    tag.copy_from_slice(&hash.as_bytes()[..MAC_LEN]);
    tag
}
