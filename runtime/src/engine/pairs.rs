//! [`Pairs`]: name–value pairs packed into one shared block.
//!
//! A connection keeps the pairs of the request that opened it (its headers, its query) for
//! its whole life, so their form is paid once per connection: a `Vec` of `String` pairs
//! costs a block per name, per value and for the list, each rounded up to the allocator's
//! class. Packed, they are one block: how many pairs, where each name and each value ends,
//! then the text.

use std::sync::Arc;

/// Bytes per offset in the block's table.
const OFFSET: usize = std::mem::size_of::<u32>();

/// Name–value pairs in one block shared by every clone, in the order they were given (a
/// name given twice is kept twice).
///
/// The block is `count`, then `count` pairs of offsets (where the name ends, where the value
/// ends, counted from the start of the text), then the names and values back to back. All
/// numbers are little-endian `u32`s.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Pairs(Arc<[u8]>);

impl Pairs {
    /// Pack the pairs `pairs` gives (it is called twice: first to size the block).
    pub(crate) fn new<'a, I>(pairs: impl Fn() -> I) -> Pairs
    where
        I: Iterator<Item = (&'a [u8], &'a [u8])>,
    {
        let (count, text) = pairs().fold((0, 0), |(n, len), (name, value)| {
            (n + 1, len + name.len() + value.len())
        });
        let mut block = Vec::with_capacity(OFFSET * (1 + 2 * count) + text);
        block.extend_from_slice(&offset(count).to_le_bytes());
        let mut end = 0;
        for (name, value) in pairs() {
            end += name.len();
            block.extend_from_slice(&offset(end).to_le_bytes());
            end += value.len();
            block.extend_from_slice(&offset(end).to_le_bytes());
        }
        for (name, value) in pairs() {
            block.extend_from_slice(name);
            block.extend_from_slice(value);
        }
        Pairs(block.into())
    }

    /// How many pairs.
    pub(crate) fn len(&self) -> usize {
        self.number(0)
    }

    /// Every pair as `(name, value)`, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let count = self.len();
        let text = self.0.get(OFFSET * (1 + 2 * count)..).unwrap_or_default();
        let mut start = 0;
        (0..count).map(move |i| {
            let name_end = self.number(1 + 2 * i);
            let value_end = self.number(2 + 2 * i);
            let name = text.get(start..name_end).unwrap_or_default();
            let value = text.get(name_end..value_end).unwrap_or_default();
            start = value_end;
            (name, value)
        })
    }

    /// The `index`th number of the block (0 past its end, which a block made by
    /// [`Pairs::new`] never is for the numbers its count covers).
    fn number(&self, index: usize) -> usize {
        let at = index * OFFSET;
        self.0
            .get(at..at + OFFSET)
            .and_then(|bytes| <[u8; OFFSET]>::try_from(bytes).ok())
            .map_or(0, |bytes| u32::from_le_bytes(bytes) as usize)
    }
}

impl Default for Pairs {
    fn default() -> Pairs {
        Pairs::new(std::iter::empty)
    }
}

/// An offset into the text (a request's head and query are far below 4 GiB: actix refuses
/// far smaller ones).
fn offset(at: usize) -> u32 {
    u32::try_from(at).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack<'a>(pairs: &'a [(&'a str, &'a str)]) -> Pairs {
        Pairs::new(|| pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
    }

    #[test]
    fn gives_back_every_pair_in_order() {
        let pairs = pack(&[
            ("EIO", "4"),
            ("transport", "websocket"),
            ("EIO", ""),
            ("", "x"),
        ]);
        let back: Vec<(&[u8], &[u8])> = pairs.iter().collect();
        assert_eq!(
            back,
            [
                (&b"EIO"[..], &b"4"[..]),
                (b"transport", b"websocket"),
                (b"EIO", b""),
                (b"", b"x"),
            ]
        );
        assert_eq!(pairs.len(), 4);
    }

    #[test]
    fn is_one_block_of_counts_offsets_and_text() {
        let pairs = pack(&[("EIO", "4"), ("t", "ws")]);
        let mut expected = Vec::new();
        for n in [2u32, 3, 4, 5, 7] {
            expected.extend_from_slice(&n.to_le_bytes());
        }
        expected.extend_from_slice(b"EIO4tws");
        assert_eq!(&pairs.0[..], &expected[..]);
    }

    #[test]
    fn empty_pairs() {
        let pairs = Pairs::default();
        assert_eq!(pairs.len(), 0);
        assert_eq!(pairs.iter().count(), 0);
        assert_eq!(pairs, pack(&[]));
    }
}
