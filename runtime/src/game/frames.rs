//! [`FrameCache`]: one value's frames per namespace and codec, each encoded at most once
//! however many members need it, and kept (a tick's full snapshot is kept until the next tick
//! for the players who rejoin in between).

use crate::socketio::{Codec, Frame};

/// Frames of one value by namespace and codec; a failed encode is remembered too (not
/// retried per member).
#[derive(Default)]
pub(super) struct FrameCache {
    entries: Vec<(String, Codec, Option<Vec<Frame>>)>,
}

impl FrameCache {
    /// The frames for `nsp` and `codec`: those encoded before, or `encode`'s.
    pub(super) fn get_or_encode(
        &mut self,
        nsp: &str,
        codec: Codec,
        encode: impl FnOnce() -> Option<Vec<Frame>>,
    ) -> Option<&[Frame]> {
        let at = match self
            .entries
            .iter()
            .position(|(n, c, _)| n == nsp && *c == codec)
        {
            Some(at) => at,
            None => {
                self.entries.push((nsp.to_owned(), codec, encode()));
                self.entries.len() - 1
            }
        };
        self.entries
            .get(at)
            .and_then(|(_, _, frames)| frames.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_namespace_and_codec_is_encoded_once() {
        let mut cache = FrameCache::default();
        let mut encoded = 0;
        let mut get = |cache: &mut FrameCache, nsp: &str, codec| {
            cache
                .get_or_encode(nsp, codec, || {
                    encoded += 1;
                    (nsp != "/bad").then(|| vec![Frame::Text(format!("{nsp}{codec:?}").into())])
                })
                .map(<[Frame]>::to_vec)
        };
        let first = get(&mut cache, "/", Codec::Json);
        assert_eq!(get(&mut cache, "/", Codec::Json), first);
        assert_ne!(get(&mut cache, "/", Codec::Compact), first);
        assert_eq!(get(&mut cache, "/bad", Codec::Json), None);
        assert_eq!(get(&mut cache, "/bad", Codec::Json), None);
        assert_eq!(encoded, 3);
    }
}
