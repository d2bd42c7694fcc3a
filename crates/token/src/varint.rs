//! Unsigned LEB128 varints, canonical form only: one value has exactly one encoding, so a token
//! has exactly one byte string and a re-encoded field cannot slip past as "the same" token.

/// Longest encoding of a `u64`.
pub(crate) const MAX_LEN: usize = 10;

pub(crate) fn put(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

/// Reads the varint at `*pos` and advances past it. `None` when it is truncated, overflows a
/// `u64`, or is not minimal (a trailing zero group).
pub(crate) fn read(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value: u64 = 0;
    for index in 0..MAX_LEN {
        let byte = *buf.get(pos.checked_add(index)?)?;
        // The tenth group holds only bit 63.
        if index == MAX_LEN - 1 && byte > 1 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            if byte == 0 && index > 0 {
                return None;
            }
            *pos += index + 1;
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put(&mut out, value);
        out
    }

    #[test]
    fn roundtrips_boundaries() {
        for value in [
            0,
            1,
            127,
            128,
            255,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let bytes = encode(value);
            let mut pos = 0;
            assert_eq!(read(&bytes, &mut pos), Some(value), "value {value}");
            assert_eq!(pos, bytes.len(), "consumed all of {value}");
        }
    }

    #[test]
    fn known_encodings() {
        assert_eq!(encode(0), [0x00]);
        assert_eq!(encode(300), [0xac, 0x02]);
        assert_eq!(encode(u64::MAX).len(), MAX_LEN);
    }

    #[test]
    fn rejects_non_minimal_truncated_and_overflowing() {
        let mut pos = 0;
        assert_eq!(read(&[0x80, 0x00], &mut pos), None, "non-minimal zero");
        assert_eq!(read(&[0xac, 0x82, 0x00], &mut pos), None, "non-minimal 300");
        assert_eq!(read(&[0x80], &mut pos), None, "truncated");
        assert_eq!(read(&[], &mut pos), None, "empty");
        let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(read(&overflow, &mut pos), None, "more than 64 bits");
        assert_eq!(pos, 0, "position untouched on failure");
    }
}
