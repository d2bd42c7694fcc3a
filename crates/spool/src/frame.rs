//! Record framing: `[len: u32 LE][crc32(body): u32 LE][body]`, `body = [key_len: u16 LE][key][payload]`.

use crate::SpoolError;

pub(crate) const HEADER_LEN: usize = 8;
/// Refuse absurd records so a corrupt length field cannot make us allocate gigabytes.
/// Smaller than the read chunk, so a whole record always fits in one read.
pub(crate) const MAX_BODY_LEN: usize = 1 << 20;

pub(crate) fn encode(key: &[u8], payload: &[u8], out: &mut Vec<u8>) -> Result<(), SpoolError> {
    let key_len =
        u16::try_from(key.len()).map_err(|_| SpoolError::TooLarge("key over 65535 bytes"))?;
    let body_len = 2 + key.len() + payload.len();
    if body_len > MAX_BODY_LEN {
        return Err(SpoolError::TooLarge("record over 1 MiB"));
    }
    let start = out.len();
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[start + HEADER_LEN..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Outcome of decoding at one offset of a segment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded<'a> {
    Record {
        key: &'a [u8],
        payload: &'a [u8],
        len: usize,
    },
    /// Not enough bytes for a whole record: the end, or a torn final write.
    Incomplete,
    /// Bytes that are not a valid record: the rest of the segment cannot be trusted.
    Corrupt,
}

pub(crate) fn decode(buf: &[u8]) -> Decoded<'_> {
    if buf.len() < HEADER_LEN {
        return Decoded::Incomplete;
    }
    let body_len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if !(2..=MAX_BODY_LEN).contains(&body_len) {
        return Decoded::Corrupt;
    }
    let Some(body) = buf.get(HEADER_LEN..HEADER_LEN + body_len) else {
        return Decoded::Incomplete;
    };
    if crc32fast::hash(body) != crc {
        return Decoded::Corrupt;
    }
    let key_len = u16::from_le_bytes([body[0], body[1]]) as usize;
    if 2 + key_len > body.len() {
        return Decoded::Corrupt;
    }
    Decoded::Record {
        key: &body[2..2 + key_len],
        payload: &body[2 + key_len..],
        len: HEADER_LEN + body_len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_every_single_byte_corruption_is_detected() {
        let mut buf = Vec::new();
        encode(b"tenant/campaign/sub", b"{\"v\":1}", &mut buf).expect("encode");
        let Decoded::Record { key, payload, len } = decode(&buf) else {
            panic!("valid record not decoded");
        };
        assert_eq!(
            (key, payload, len),
            (&b"tenant/campaign/sub"[..], &b"{\"v\":1}"[..], buf.len())
        );
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x40;
            assert!(
                !matches!(decode(&bad), Decoded::Record { key: k, payload: p, .. } if k == key && p == payload),
                "flipping byte {i} went unnoticed"
            );
        }
        for cut in 0..buf.len() {
            assert_ne!(
                std::mem::discriminant(&decode(&buf[..cut])),
                std::mem::discriminant(&Decoded::Record {
                    key: &[],
                    payload: &[],
                    len: 0
                }),
                "a record truncated to {cut} bytes decoded"
            );
        }
    }
}
