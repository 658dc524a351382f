//! [`MatchContext`]: what a match's callbacks can do (emit, broadcast, kick, end), recorded
//! during a callback and carried out after it.

use serde::Serialize;
use serde_json::Value;

use super::match_trait::PlayerId;
use crate::socketio::{encode_event, encode_payload_event, Codec, EncodeCounters, Frame, Payload};

/// An event from a match callback, encoded for both codecs when it was emitted (the typed
/// value is gone by the time the tick's output is flushed).
pub(super) struct Encoded {
    pub(super) json: Value,
    pub(super) compact: Option<bytes::Bytes>,
}

impl Encoded {
    pub(super) fn new(data: &impl Serialize) -> Option<Encoded> {
        Some(Encoded {
            json: serde_json::to_value(data).ok()?,
            compact: tickwire_protocol::compact::to_payload(data).ok(),
        })
    }

    /// The event's frames for `codec` and namespace `nsp`.
    pub(super) fn frames(
        &self,
        encodes: &EncodeCounters,
        codec: Codec,
        nsp: &str,
        event: &str,
    ) -> Option<Vec<Frame>> {
        match codec {
            Codec::Json => encode_event(encodes, codec, nsp, event, &self.json, None).ok(),
            Codec::Compact => {
                let payload = Payload::from_compact(self.compact.clone()?);
                encode_payload_event(encodes, codec, nsp, event, &payload, None).ok()
            }
        }
    }
}

pub(super) enum Outgoing {
    To(PlayerId, String, Encoded),
    All(String, Encoded),
}

/// What a match can do from its callbacks.
pub struct MatchContext {
    pub(super) tick: u64,
    pub(super) players: Vec<PlayerId>,
    pub(super) outgoing: Vec<Outgoing>,
    pub(super) ended: bool,
    pub(super) kicked: Vec<PlayerId>,
}

impl std::fmt::Debug for MatchContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatchContext")
            .field("tick", &self.tick)
            .field("players", &self.players)
            .finish()
    }
}

impl MatchContext {
    /// A context outside any match, for unit-testing a game's callbacks: call them with it,
    /// then look at [`MatchContext::emitted`], [`MatchContext::kicked`] and
    /// [`MatchContext::ended`].
    pub fn detached(tick: u64, players: Vec<PlayerId>) -> MatchContext {
        MatchContext {
            tick,
            players,
            outgoing: Vec::new(),
            ended: false,
            kicked: Vec::new(),
        }
    }

    /// The events emitted so far: the player (`None` for everyone), the event and its JSON.
    pub fn emitted(&self) -> Vec<(Option<PlayerId>, &str, &Value)> {
        self.outgoing
            .iter()
            .map(|o| match o {
                Outgoing::To(p, e, enc) => (Some(*p), e.as_str(), &enc.json),
                Outgoing::All(e, enc) => (None, e.as_str(), &enc.json),
            })
            .collect()
    }

    /// The players kicked so far.
    pub fn kicked(&self) -> &[PlayerId] {
        &self.kicked
    }

    /// Whether [`MatchContext::end`] was called.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The current tick's slot.
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// Seated players (connected or within their reconnect window).
    pub fn players(&self) -> &[PlayerId] {
        &self.players
    }

    /// Send a reliable event to one player, after this tick's snapshot.
    pub fn emit_to(&mut self, player: PlayerId, event: &str, data: impl Serialize) {
        if let Some(encoded) = Encoded::new(&data) {
            self.outgoing
                .push(Outgoing::To(player, event.to_owned(), encoded));
        }
    }

    /// Send a reliable event to every player, after this tick's snapshot.
    ///
    /// Encoded at most once per codec (and namespace) among the players.
    pub fn broadcast(&mut self, event: &str, data: impl Serialize) {
        if let Some(encoded) = Encoded::new(&data) {
            self.outgoing.push(Outgoing::All(event.to_owned(), encoded));
        }
    }

    /// Remove a player from the match (after this tick).
    pub fn kick(&mut self, player: PlayerId) {
        self.kicked.push(player);
    }

    /// End the match after this tick's snapshot.
    pub fn end(&mut self) {
        self.ended = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detached_context_records_what_callbacks_did() {
        let mut ctx = MatchContext::detached(7, vec![1, 2]);
        assert_eq!((ctx.tick(), ctx.players()), (7, &[1, 2][..]));
        ctx.emit_to(2, "hit", 10);
        ctx.broadcast("round", "over");
        ctx.kick(1);
        ctx.end();
        let emitted = ctx.emitted();
        assert_eq!(emitted[0], (Some(2), "hit", &Value::from(10)));
        assert_eq!(emitted[1], (None, "round", &Value::from("over")));
        assert_eq!(ctx.kicked(), &[1]);
        assert!(ctx.ended());
    }
}
