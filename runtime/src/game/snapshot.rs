//! Each tick's snapshot: its envelope on the wire ([`SnapshotEnvelope`]), and its fan-out,
//! encoded once per codec and namespace among the players and queued in the latest class (a
//! lagging client gets the newest snapshot, never a backlog).

use serde::Serialize;

use super::link::{Delivery, MatchLink};
use super::match_trait::{Match, PlayerId};
use super::member::Member;
use super::seats::Seats;
use crate::socketio::{encode_event, Codec, EncodeCounters, EncodeOnce, Frame, SocketId};

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

/// Where a tick's snapshot goes: the match's seats, its latest-class key, its event, and the
/// way to members seated from other nodes.
pub(super) struct FanOut<'a> {
    pub(super) encodes: &'a EncodeCounters,
    pub(super) key: u64,
    pub(super) event: &'a str,
    pub(super) envelope: bool,
    pub(super) link: Option<&'a dyn MatchLink>,
}

/// Remote members of one node and namespace, and the frames they need.
struct RemoteGroup<'a> {
    node: u64,
    nsp: &'a str,
    members: Vec<(SocketId, Codec)>,
}

impl FanOut<'_> {
    /// Queue `snapshot` of `tick` for every connected player of `seats`: the shared snapshot
    /// is encoded once per codec and namespace present, and the same bytes go to each of
    /// those players, local ones straight into their queues, remote ones once per node in
    /// one delivery; a player the game gives a view of its own gets that. Returns the bytes
    /// queued here and handed to other nodes.
    pub(super) fn run<M: Match>(
        &self,
        game: &M,
        seats: &Seats<M::Input>,
        tick: u64,
        snapshot: &M::Snapshot,
    ) -> usize {
        let acks = seats.acks();
        let shared = SnapshotEnvelope {
            tick,
            acks: &acks,
            state: snapshot,
        };
        let shared_value = if self.envelope {
            Wire::Envelope(&shared)
        } else {
            Wire::Bare(snapshot)
        };
        // One encoder per namespace present (almost always one).
        let mut nsps: Vec<&str> = Vec::new();
        for member in seats.iter().filter_map(|seat| seat.member()) {
            if !nsps.contains(&member.nsp()) {
                nsps.push(member.nsp());
            }
        }
        let mut encoders: Vec<EncodeOnce<'_, Wire<'_, M::Snapshot>>> = nsps
            .iter()
            .map(|nsp| EncodeOnce::new(self.encodes, nsp, self.event, &shared_value, None))
            .collect();
        let mut remote: Vec<RemoteGroup<'_>> = Vec::new();
        let mut bytes = 0;
        for seat in seats.iter() {
            let Some(member) = seat.member() else {
                continue;
            };
            if let Some(view) = game.view(seat.id, snapshot) {
                bytes += self.own_view(member, tick, &acks, &view);
                continue;
            }
            match member {
                // The shared snapshot: the same bytes for every member of this codec (a
                // reference-count increment per member, no copy).
                Member::Local(socket) => {
                    let frames = nsps
                        .iter()
                        .position(|n| *n == member.nsp())
                        .and_then(|i| encoders.get_mut(i))
                        .and_then(|enc| enc.frames(socket.codec()).ok());
                    for frame in frames.into_iter().flatten() {
                        bytes += frame.len();
                        socket.send_latest(self.key, frame.clone());
                    }
                }
                Member::Remote(remote_member) => {
                    let entry = (remote_member.socket.clone(), remote_member.codec);
                    match remote
                        .iter_mut()
                        .find(|g| g.node == remote_member.node && g.nsp == &*remote_member.nsp)
                    {
                        Some(group) => group.members.push(entry),
                        None => remote.push(RemoteGroup {
                            node: remote_member.node,
                            nsp: &remote_member.nsp,
                            members: vec![entry],
                        }),
                    }
                }
            }
        }
        let Some(link) = self.link else {
            return bytes;
        };
        for group in remote {
            let Some(encoder) = nsps
                .iter()
                .position(|n| *n == group.nsp)
                .and_then(|i| encoders.get_mut(i))
            else {
                continue;
            };
            let wants = |codec: Codec| group.members.iter().any(|(_, c)| *c == codec);
            let json = wants(Codec::Json)
                .then(|| encoder.frames(Codec::Json).ok().map(<[_]>::to_vec))
                .flatten();
            let compact = wants(Codec::Compact)
                .then(|| encoder.frames(Codec::Compact).ok().map(<[_]>::to_vec))
                .flatten();
            bytes += json
                .iter()
                .chain(compact.iter())
                .flatten()
                .map(Frame::len)
                .sum::<usize>();
            link.deliver(
                group.node,
                Delivery::Latest {
                    key: self.key,
                    nsp: group.nsp,
                    json: json.as_deref(),
                    compact: compact.as_deref(),
                    members: &group.members,
                },
            );
        }
        bytes
    }

    /// A view of the game's own for one member.
    fn own_view<S: Serialize>(
        &self,
        member: &Member,
        tick: u64,
        acks: &[(PlayerId, u32)],
        view: &S,
    ) -> usize {
        let own = SnapshotEnvelope {
            tick,
            acks,
            state: view,
        };
        let value = if self.envelope {
            Wire::Envelope(&own)
        } else {
            Wire::Bare(view)
        };
        let Ok(frames) = encode_event(
            self.encodes,
            member.codec(),
            member.nsp(),
            self.event,
            &value,
            None,
        ) else {
            return 0;
        };
        let bytes = frames.iter().map(Frame::len).sum();
        match member {
            Member::Local(socket) => {
                for frame in frames {
                    socket.send_latest(self.key, frame);
                }
            }
            Member::Remote(remote) => {
                if let Some(link) = self.link {
                    let (json, compact) = match remote.codec {
                        Codec::Json => (Some(&frames[..]), None),
                        Codec::Compact => (None, Some(&frames[..])),
                    };
                    link.deliver(
                        remote.node,
                        Delivery::Latest {
                            key: self.key,
                            nsp: &remote.nsp,
                            json,
                            compact,
                            members: &[(remote.socket.clone(), remote.codec)],
                        },
                    );
                }
            }
        }
        bytes
    }
}
