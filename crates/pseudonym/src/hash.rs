//! The keyed hashes: the visitor hash (under the day's salt) and the subscriber pseudonym
//! (under a long-lived per-deployment key). Inputs are framed with length prefixes so no two
//! different inputs hash the same bytes; nothing here touches the heap but the returned
//! `String` of [`subscriber_pseudonym`].

use std::net::IpAddr;

use crate::{DaySalt, PseudonymError};

/// Bytes kept of each hash: 128 bits, ample against collisions among a day's visitors.
const HASH_LEN: usize = 16;

/// Pseudonymous visitor id for one day: the same tenant, IP and User-Agent give the same hash
/// on every replica that day, and an unrelated one the next day.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VisitorHash([u8; HASH_LEN]);

impl VisitorHash {
    pub fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// 32 lowercase hex characters, on the stack.
    pub fn to_hex(&self) -> HexDigest {
        HexDigest::of(&self.0)
    }
}

impl std::fmt::Debug for VisitorHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VisitorHash({})", self.to_hex())
    }
}

/// A 16-byte hash as 32 lowercase hex characters, held inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HexDigest([u8; 2 * HASH_LEN]);

impl HexDigest {
    fn of(bytes: &[u8; HASH_LEN]) -> HexDigest {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 2 * HASH_LEN];
        for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
        HexDigest(out)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Display for HexDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for HexDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `BLAKE3-keyed(salt, frame(tenant) ‖ ip ‖ frame(user_agent))`, first 16 bytes.
///
/// The IP is `0x04` + 4 octets or `0x06` + 16 octets, IPv4-mapped IPv6 counted as IPv4 so a
/// dual-stack listener hashes a visitor the same as an IPv4 one.
pub fn visitor_hash(salt: &DaySalt, tenant: &str, ip: IpAddr, user_agent: &str) -> VisitorHash {
    let mut hasher = blake3::Hasher::new_keyed(salt.as_bytes());
    put_framed(&mut hasher, tenant.as_bytes());
    match ip.to_canonical() {
        IpAddr::V4(v4) => hasher.update(&[4]).update(&v4.octets()),
        IpAddr::V6(v6) => hasher.update(&[6]).update(&v6.octets()),
    };
    put_framed(&mut hasher, user_agent.as_bytes());
    VisitorHash(truncate(&hasher))
}

/// Stable pseudonym of a subscriber for pseudonymous storage: 32 hex characters of
/// `BLAKE3-keyed(key, frame(tenant) ‖ frame(subscriber))`. Including the tenant means the same
/// id at two tenants gives unrelated pseudonyms.
pub fn subscriber_pseudonym(key: &[u8; 32], tenant: &str, subscriber: &str) -> String {
    subscriber_pseudonym_hex(key, tenant, subscriber)
        .as_str()
        .to_owned()
}

/// [`subscriber_pseudonym`] into a stack buffer, for the aggregator's per-row path.
pub fn subscriber_pseudonym_hex(key: &[u8; 32], tenant: &str, subscriber: &str) -> HexDigest {
    let mut hasher = blake3::Hasher::new_keyed(key);
    put_framed(&mut hasher, tenant.as_bytes());
    put_framed(&mut hasher, subscriber.as_bytes());
    HexDigest::of(&truncate(&hasher))
}

/// Parses a 32-byte key written as 64 hex characters (`keys.subscriber_hash`).
pub fn parse_key_hex(text: &str) -> Result<[u8; 32], PseudonymError> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut key)
        .map_err(|_| PseudonymError::InvalidKey("expected 64 hexadecimal characters"))?;
    Ok(key)
}

/// `u64` little-endian byte length, then the bytes.
fn put_framed(hasher: &mut blake3::Hasher, bytes: &[u8]) {
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

fn truncate(hasher: &blake3::Hasher) -> [u8; HASH_LEN] {
    let mut out = [0u8; HASH_LEN];
    hasher.finalize_xof().fill(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RatchetState;

    fn salt(day: u32) -> DaySalt {
        let mut ratchet = RatchetState::from_parts(100, [9; 32]);
        ratchet.advance_to(day).expect("forward");
        ratchet.salt()
    }

    const UA: &str = "Mozilla/5.0";

    #[test]
    fn same_inputs_same_day_same_hash() {
        let ip: IpAddr = "203.0.113.7".parse().expect("ip");
        assert_eq!(
            visitor_hash(&salt(100), "acme", ip, UA),
            visitor_hash(&salt(100), "acme", ip, UA)
        );
    }

    #[test]
    fn each_input_and_the_day_change_the_hash() {
        let ip: IpAddr = "203.0.113.7".parse().expect("ip");
        let base = visitor_hash(&salt(100), "acme", ip, UA);
        let other_ip: IpAddr = "203.0.113.8".parse().expect("ip");
        assert_ne!(base, visitor_hash(&salt(101), "acme", ip, UA), "day");
        assert_ne!(base, visitor_hash(&salt(100), "other", ip, UA), "tenant");
        assert_ne!(base, visitor_hash(&salt(100), "acme", other_ip, UA), "ip");
        assert_ne!(base, visitor_hash(&salt(100), "acme", ip, "curl/8"), "ua");
    }

    #[test]
    fn framing_keeps_field_boundaries() {
        let ip: IpAddr = "198.51.100.1".parse().expect("ip");
        let salt = salt(100);
        assert_ne!(
            visitor_hash(&salt, "a", ip, "bc"),
            visitor_hash(&salt, "ab", ip, "c")
        );
        assert_ne!(
            subscriber_pseudonym(&[1; 32], "a", "bc"),
            subscriber_pseudonym(&[1; 32], "ab", "c")
        );
    }

    #[test]
    fn ipv4_mapped_ipv6_hashes_as_ipv4() {
        let v4: IpAddr = "203.0.113.7".parse().expect("ip");
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().expect("ip");
        let salt = salt(100);
        assert_eq!(
            visitor_hash(&salt, "t", v4, UA),
            visitor_hash(&salt, "t", mapped, UA)
        );
        // A v6 address whose last 4 octets equal the v4 one is a different visitor.
        let compat: IpAddr = "::203.0.113.7".parse().expect("ip");
        assert_ne!(
            visitor_hash(&salt, "t", v4, UA),
            visitor_hash(&salt, "t", compat, UA)
        );
    }

    #[test]
    fn hex_is_32_lowercase_digits_of_the_bytes() {
        let hash = visitor_hash(&salt(100), "t", "::1".parse().expect("ip"), UA);
        let hex = hash.to_hex();
        assert_eq!(hex.as_str(), hex::encode(hash.as_bytes()));
        assert_eq!(hex.to_string(), hex.as_str());
        assert_eq!(hex.as_str().len(), 32);
    }

    #[test]
    fn pseudonyms_are_keyed_and_per_tenant() {
        let a = subscriber_pseudonym(&[1; 32], "acme", "s-1");
        assert_eq!(a.len(), 32);
        assert_eq!(a, subscriber_pseudonym(&[1; 32], "acme", "s-1"));
        assert_ne!(a, subscriber_pseudonym(&[2; 32], "acme", "s-1"));
        assert_ne!(a, subscriber_pseudonym(&[1; 32], "other", "s-1"));
    }

    #[test]
    fn parses_keys_strictly() {
        let hex = "00".repeat(31) + "ff";
        assert_eq!(parse_key_hex(&hex).expect("valid")[31], 0xff);
        assert_eq!(
            parse_key_hex(&format!(" {hex}\n")).expect("trimmed")[31],
            0xff
        );
        for bad in ["", "00", &"0".repeat(63), &"0".repeat(66), &"zz".repeat(32)] {
            assert!(
                matches!(parse_key_hex(bad), Err(PseudonymError::InvalidKey(_))),
                "{bad:?}"
            );
        }
    }
}
