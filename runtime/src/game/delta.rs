//! Delta snapshots: a match that opts in ([`Match::deltas`](super::Match::deltas)) sends a
//! player the change from the newest tick it acknowledged ([`Match::delta`](super::Match::delta))
//! rather than the whole snapshot, as [`DeltaEnvelope`]s in their own event.
//!
//! The match keeps its last [`Deltas::history`] snapshots. Each tick, the players whose
//! acknowledged tick is still kept are grouped by it: one delta per distinct base, encoded
//! once per codec and namespace, the same bytes for every player of the group. A player with
//! no acknowledged tick, one too old to be kept, or one the game has no delta for gets the
//! full snapshot. Deltas go in the same latest class as full snapshots: a lagging client gets
//! the newest of either, never a backlog, and each delta is against a tick the client said
//! it has.

use serde::Serialize;
use serde_json::Value;

use super::match_trait::PlayerId;
use crate::socketio::{encode_event, Codec, EncodeCounters, Frame};

/// Most snapshots a match keeps as delta bases.
pub(super) const MAX_HISTORY: usize = 1024;

/// How a match sends delta snapshots ([`Match::deltas`](super::Match::deltas)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deltas {
    /// Past snapshots kept as bases (default 8; from 1 to 1024): a player whose acknowledged
    /// tick is older than these gets the full snapshot.
    pub history: usize,
    /// The event deltas are sent as, as a [`DeltaEnvelope`] (default `state-delta`); full
    /// snapshots keep their own event
    /// ([`MatchConfig::snapshot_event`](super::MatchConfig::snapshot_event)).
    pub event: String,
}

impl Default for Deltas {
    fn default() -> Self {
        Deltas {
            history: 8,
            event: "state-delta".into(),
        }
    }
}

/// The envelope of a delta snapshot on the wire: always sent in it (the base is needed),
/// even when full snapshots are sent bare.
#[derive(Debug, Serialize)]
pub struct DeltaEnvelope<'a, D: ?Sized> {
    /// The tick this delta brings the client to.
    pub tick: u64,
    /// The tick it is a change from: one the client acknowledged.
    pub base: u64,
    /// Per seated player: the last input sequence applied (as in
    /// [`SnapshotEnvelope::acks`](super::SnapshotEnvelope::acks)).
    pub acks: &'a [(PlayerId, u32)],
    /// The game's delta.
    pub delta: &'a D,
}

/// A change from one snapshot to another, as the game describes it: what
/// [`Match::delta`](super::Match::delta) returns. Any serializable value; the match encodes it
/// at most once per codec for the players who share its base.
pub struct SnapshotDelta {
    body: Box<dyn DeltaBody>,
}

impl std::fmt::Debug for SnapshotDelta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotDelta").finish_non_exhaustive()
    }
}

impl SnapshotDelta {
    /// A delta of the game's own type.
    pub fn new<D: Serialize + 'static>(delta: D) -> SnapshotDelta {
        SnapshotDelta {
            body: Box::new(delta),
        }
    }

    /// The delta as JSON (for a game's tests of its diff); `None` when it does not serialize.
    pub fn to_json(&self) -> Option<Value> {
        self.body.json()
    }

    /// The delta event's frames for `codec` and namespace `nsp`, from `base` to `tick`.
    pub(super) fn frames(
        &self,
        encodes: &EncodeCounters,
        at: DeltaAt<'_>,
        codec: Codec,
        nsp: &str,
    ) -> Option<Vec<Frame>> {
        self.body.frames(encodes, at, codec, nsp)
    }
}

/// Where a delta goes: its event, its ticks and the tick's input acknowledgements.
#[derive(Debug, Clone, Copy)]
pub(super) struct DeltaAt<'a> {
    pub(super) event: &'a str,
    pub(super) tick: u64,
    pub(super) base: u64,
    pub(super) acks: &'a [(PlayerId, u32)],
}

/// A delta of any serializable type, encoded where its type is known.
trait DeltaBody {
    fn frames(
        &self,
        encodes: &EncodeCounters,
        at: DeltaAt<'_>,
        codec: Codec,
        nsp: &str,
    ) -> Option<Vec<Frame>>;
    fn json(&self) -> Option<Value>;
}

impl<D: Serialize> DeltaBody for D {
    fn frames(
        &self,
        encodes: &EncodeCounters,
        at: DeltaAt<'_>,
        codec: Codec,
        nsp: &str,
    ) -> Option<Vec<Frame>> {
        let envelope = DeltaEnvelope {
            tick: at.tick,
            base: at.base,
            acks: at.acks,
            delta: self,
        };
        encode_event(encodes, codec, nsp, at.event, &envelope, None).ok()
    }

    fn json(&self) -> Option<Value> {
        serde_json::to_value(self).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delta_travels_in_its_envelope_with_its_base() {
        let delta = SnapshotDelta::new(vec![(1u32, 5i64)]);
        assert_eq!(delta.to_json(), Some(serde_json::json!([[1, 5]])));
        let encodes = EncodeCounters::default();
        let at = DeltaAt {
            event: "state-delta",
            tick: 9,
            base: 7,
            acks: &[(1, 3)],
        };
        let frames = delta.frames(&encodes, at, Codec::Json, "/").unwrap();
        assert_eq!(
            frames,
            vec![Frame::Text(
                r#"42["state-delta",{"tick":9,"base":7,"acks":[[1,3]],"delta":[[1,5]]}]"#.into()
            )]
        );
        assert!(delta.frames(&encodes, at, Codec::Compact, "/").is_some());
        assert_eq!(
            (encodes.get(Codec::Json), encodes.get(Codec::Compact)),
            (1, 1)
        );
    }
}
