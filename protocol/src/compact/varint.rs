//! LEB128 varints as the compact header writes them: unsigned, at most 10 bytes for a `u64`,
//! and canonical (the shortest form only).

use bytes::BufMut;

use super::error::{CompactError, Field};

/// The longest varint of a `u64`: ten groups of seven bits.
pub(super) const MAX_LEN: usize = 10;

/// The number of bytes [`put`] writes for `value`.
pub(super) fn len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Append `value`: seven bits per byte, least significant group first, the high bit set on
/// every byte but the last.
pub(super) fn put(out: &mut impl BufMut, mut value: u64) {
    while value >= 0x80 {
        out.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

/// Read a varint from the front of `input`, returning it and the number of bytes it used.
///
/// Refuses a varint that runs past the input ([`CompactError::Truncated`]), one longer than
/// ten bytes or whose value does not fit in 64 bits ([`CompactError::VarintOverflow`]), and
/// one with a redundant trailing zero group ([`CompactError::NonCanonicalVarint`]).
pub(super) fn get(input: &[u8], field: Field) -> Result<(u64, usize), CompactError> {
    let mut value = 0u64;
    for (i, &byte) in input.iter().enumerate().take(MAX_LEN) {
        let group = u64::from(byte & 0x7f);
        if i == MAX_LEN - 1 && byte > 0x01 {
            // The tenth byte holds bit 63 only.
            return Err(CompactError::VarintOverflow { field });
        }
        value |= group << (7 * i);
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return Err(CompactError::NonCanonicalVarint { field });
            }
            return Ok((value, i + 1));
        }
    }
    if input.len() >= MAX_LEN {
        Err(CompactError::VarintOverflow { field })
    } else {
        Err(CompactError::Truncated { field })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put(&mut out, value);
        assert_eq!(out.len(), len(value), "len({value})");
        assert_eq!(get(&out, Field::AckId), Ok((value, out.len())));
        out
    }

    #[test]
    fn known_encodings() {
        assert_eq!(round_trip(0), [0x00]);
        assert_eq!(round_trip(1), [0x01]);
        assert_eq!(round_trip(127), [0x7f]);
        assert_eq!(round_trip(128), [0x80, 0x01]);
        assert_eq!(round_trip(300), [0xac, 0x02]);
        assert_eq!(round_trip(16_383), [0xff, 0x7f]);
        assert_eq!(round_trip(16_384), [0x80, 0x80, 0x01]);
        assert_eq!(
            round_trip(u64::from(u32::MAX)),
            [0xff, 0xff, 0xff, 0xff, 0x0f]
        );
        assert_eq!(
            round_trip(u64::MAX),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn refuses_bad_forms() {
        let f = Field::AckId;
        assert_eq!(get(&[], f), Err(CompactError::Truncated { field: f }));
        assert_eq!(get(&[0x80], f), Err(CompactError::Truncated { field: f }));
        assert_eq!(
            get(&[0x80, 0x00], f),
            Err(CompactError::NonCanonicalVarint { field: f })
        );
        assert_eq!(
            get(
                &[0xff; 9].iter().copied().chain([0x02]).collect::<Vec<_>>(),
                f
            ),
            Err(CompactError::VarintOverflow { field: f })
        );
        assert_eq!(
            get(&[0x80; 11], f),
            Err(CompactError::VarintOverflow { field: f })
        );
        assert_eq!(get(&[0x05, 0xff], f), Ok((5, 1)));
    }
}
