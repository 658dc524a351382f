//! Each tick's snapshot: its envelope on the wire ([`SnapshotEnvelope`]), and its fan-out,
//! encoded once per codec and namespace among the players and queued in the latest class (a
//! lagging client gets the newest snapshot, never a backlog).

use serde::Serialize;

use super::match_trait::{Match, PlayerId};
use super::seats::Seats;
use crate::socketio::{EncodeOnce, Socket};

/// The envelope of each tick's snapshot on the wire.
#[derive(Debug, Serialize)]
pub struct SnapshotEnvelope<'a, S> {
    /// The tick's slot number.
    pub tick: u64,
    /// Per seated player: the last input sequence applied (for client reconciliation).
    pub acks: &'a [(PlayerId, u32)],
    /// The game's snapshot.
    pub state: &'a S,
}

/// A snapshot as sent: in its envelope, or bare.
pub(super) enum Wire<'a, S> {
    Envelope(&'a SnapshotEnvelope<'a, S>),
    Bare(&'a S),
}

impl<S: Serialize> Serialize for Wire<'_, S> {
    fn serialize<Z: serde::Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        match self {
            Wire::Envelope(envelope) => envelope.serialize(serializer),
            Wire::Bare(state) => state.serialize(serializer),
        }
    }
}

/// Queue `snapshot` of `tick` for every connected player of `seats` under latest-class
/// `key`: the shared snapshot is encoded once per codec and namespace present and the same
/// bytes go to each of those players; a player the game gives a view of its own gets that.
/// Returns the bytes queued.
#[allow(clippy::too_many_arguments)]
pub(super) fn fan_out<M: Match>(
    game: &M,
    seats: &Seats<M::Input>,
    key: u64,
    event: &str,
    envelope: bool,
    tick: u64,
    snapshot: &M::Snapshot,
) -> usize {
    let acks = seats.acks();
    let shared = SnapshotEnvelope {
        tick,
        acks: &acks,
        state: snapshot,
    };
    let shared_value = if envelope {
        Wire::Envelope(&shared)
    } else {
        Wire::Bare(snapshot)
    };
    // One encoder per namespace present (almost always one).
    let mut nsps: Vec<&Socket> = Vec::new();
    for socket in seats.iter().filter_map(|seat| seat.socket()) {
        if !nsps.iter().any(|s| s.ns().name() == socket.ns().name()) {
            nsps.push(socket);
        }
    }
    let mut encoders: Vec<EncodeOnce<'_, Wire<'_, M::Snapshot>>> = nsps
        .iter()
        .map(|s| EncodeOnce::new(s.encodes(), s.ns().name(), event, &shared_value, None))
        .collect();
    let mut bytes = 0;
    for seat in seats.iter() {
        let Some(socket) = seat.socket() else {
            continue;
        };
        if let Some(view) = game.view(seat.id, snapshot) {
            let own = SnapshotEnvelope {
                tick,
                acks: &acks,
                state: &view,
            };
            let value = if envelope {
                Wire::Envelope(&own)
            } else {
                Wire::Bare(&view)
            };
            for frame in socket.encode_event(event, &value).into_iter().flatten() {
                bytes += frame.len();
                socket.send_latest(key, frame);
            }
            continue;
        }
        // The shared snapshot: the same bytes for every member of this codec (a
        // reference-count increment per member, no copy).
        let frames = nsps
            .iter()
            .position(|s| s.ns().name() == socket.ns().name())
            .and_then(|i| encoders.get_mut(i))
            .and_then(|enc| enc.frames(socket.codec()).ok());
        for frame in frames.into_iter().flatten() {
            bytes += frame.len();
            socket.send_latest(key, frame.clone());
        }
    }
    bytes
}
