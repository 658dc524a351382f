//! Tick acknowledgements for the clients of a tickwire match: [`Ticks`] keeps the last states
//! the client applied by tick (full snapshots, and deltas applied to the state of their
//! base), says which tick to acknowledge, and builds the input payload that carries the
//! acknowledgement ([`AckedInput`]). Sans-IO: it never touches the connection.
//!
//! The match sends `state` events (`{"tick", "acks", "state"}`) and, when it sends deltas,
//! `state-delta` events (`{"tick", "base", "acks", "delta"}`, a change from `base`, a tick
//! this client acknowledged). Inputs go as `[seq, input, tick]`, acknowledging `tick`; after
//! a reconnection the match sends full snapshots until the client acknowledges again.
//!
//! ```
//! use tickwire_client::Ticks;
//! let mut ticks: Ticks<Vec<i64>> = Ticks::new(16);
//! assert!(ticks.full(7, vec![1, 2]));
//! // A delta from tick 7: applied to tick 7's state.
//! assert!(ticks.delta(8, 7, 5, |base, d| base.iter().map(|x| x + d).collect()));
//! assert_eq!(ticks.newest(), Some((8, &vec![6, 7])));
//! assert!(!ticks.full(6, vec![0]), "an older tick is not applied");
//! let input = ticks.input(3, &"jump");
//! assert_eq!(serde_json::to_string(&input).unwrap(), r#"[3,"jump",8]"#);
//! ```

use std::collections::VecDeque;

use serde::ser::SerializeTuple;
use serde::{Serialize, Serializer};

/// The states a match client applied, newest last, by tick (at most `keep`).
#[derive(Debug, Clone)]
pub struct Ticks<S> {
    applied: VecDeque<(u64, S)>,
    keep: usize,
}

impl<S> Ticks<S> {
    /// Keep the last `keep` states applied (at least one): a delta whose base is older than
    /// these cannot be applied. Keep about as many as the ticks an acknowledgement takes to
    /// reach the server and come back as a base.
    pub fn new(keep: usize) -> Ticks<S> {
        Ticks {
            applied: VecDeque::new(),
            keep: keep.max(1),
        }
    }

    /// Apply the full snapshot of `tick`; `false` (and nothing kept) when it is not newer than
    /// the newest state applied.
    pub fn full(&mut self, tick: u64, state: S) -> bool {
        if self.newest().is_some_and(|(newest, _)| tick <= newest) {
            return false;
        }
        if self.applied.len() == self.keep {
            self.applied.pop_front();
        }
        self.applied.push_back((tick, state));
        true
    }

    /// Apply the delta from `base` to `tick`: `apply` makes the new state from the state of
    /// `base` and the delta. `false` (and nothing applied) when `tick` is not newer than the
    /// newest state applied, or the state of `base` is no longer kept.
    pub fn delta<D>(
        &mut self,
        tick: u64,
        base: u64,
        delta: D,
        apply: impl FnOnce(&S, D) -> S,
    ) -> bool {
        if self.newest().is_some_and(|(newest, _)| tick <= newest) {
            return false;
        }
        let Some(state) = self.get(base).map(|base| apply(base, delta)) else {
            return false;
        };
        self.full(tick, state)
    }

    /// The newest state applied, with its tick.
    pub fn newest(&self) -> Option<(u64, &S)> {
        self.applied.back().map(|(tick, state)| (*tick, state))
    }

    /// The state applied at `tick`, if it is still kept.
    pub fn get(&self, tick: u64) -> Option<&S> {
        let at = self.applied.binary_search_by_key(&tick, |(t, _)| *t).ok()?;
        self.applied.get(at).map(|(_, state)| state)
    }

    /// The tick to acknowledge: the newest applied.
    pub fn ack(&self) -> Option<u64> {
        self.newest().map(|(tick, _)| tick)
    }

    /// The payload of input `seq`, acknowledging the newest tick applied (if any): emit it as
    /// the match's input event.
    pub fn input<'a, I: Serialize>(&self, seq: u32, input: &'a I) -> AckedInput<'a, I> {
        AckedInput {
            seq,
            input,
            tick: self.ack(),
        }
    }
}

/// An input with the tick it acknowledges, as a tickwire match reads its input event: JSON
/// `[seq, input]`, or `[seq, input, tick]` with a tick; in the compact codec the postcard
/// encoding of `(seq, input)` or `(seq, input, tick)`.
#[derive(Debug, Clone, Copy)]
pub struct AckedInput<'a, I> {
    /// The input's sequence number (increasing; a retry keeps its number).
    pub seq: u32,
    /// The game's input.
    pub input: &'a I,
    /// The newest tick the client applied.
    pub tick: Option<u64>,
}

impl<I: Serialize> Serialize for AckedInput<'_, I> {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        let mut tuple = serializer.serialize_tuple(2 + usize::from(self.tick.is_some()))?;
        tuple.serialize_element(&self.seq)?;
        tuple.serialize_element(self.input)?;
        if let Some(tick) = self.tick {
            tuple.serialize_element(&tick)?;
        }
        tuple.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_ticks_and_deltas_of_a_forgotten_base_are_not_applied() {
        let mut ticks: Ticks<i64> = Ticks::new(2);
        assert_eq!(ticks.ack(), None);
        assert!(ticks.full(1, 10));
        assert!(ticks.delta(2, 1, 5, |base, d| base + d));
        assert!(ticks.delta(3, 2, 1, |base, d| base + d));
        assert_eq!(ticks.newest(), Some((3, &16)));
        // Tick 1 is forgotten (two kept): a delta from it cannot be applied.
        assert!(!ticks.delta(4, 1, 1, |base, d| base + d));
        assert!(!ticks.delta(3, 2, 1, |base, d| base + d), "not newer");
        assert!(!ticks.full(2, 0), "older");
        assert_eq!(ticks.ack(), Some(3));
        assert_eq!(ticks.get(2), Some(&15));
    }

    #[test]
    fn an_input_carries_its_acknowledgement_in_both_codecs() {
        let mut ticks: Ticks<()> = Ticks::new(4);
        let step = serde_json::json!({"dx": 1});
        assert_eq!(
            serde_json::to_string(&ticks.input(1, &step)).unwrap(),
            r#"[1,{"dx":1}]"#
        );
        ticks.full(42, ());
        assert_eq!(
            serde_json::to_string(&ticks.input(2, &step)).unwrap(),
            r#"[2,{"dx":1},42]"#
        );
        // Compact: what `(seq, input, tick)` encodes as.
        let input = ticks.input(2, &7u8);
        assert_eq!(
            tickwire_protocol::compact::to_payload(&input).unwrap(),
            tickwire_protocol::compact::to_payload(&(2u32, 7u8, 42u64)).unwrap()
        );
    }
}
