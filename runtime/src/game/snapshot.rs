//! Each tick's snapshot: its envelope on the wire ([`SnapshotEnvelope`]), and its fan-out,
//! encoded once per codec and namespace among the players and queued in the latest class (a
//! lagging client gets the newest snapshot, never a backlog).
//!
//! A player gets the full snapshot, or, in a match that sends deltas, the delta from the tick
//! it acknowledged (one per distinct base, see [`super::delta`]); a player with a view of its
//! own gets that. The tick's full frames are kept until the next tick: a player who rejoins in
//! between gets them at once ([`FanOut::resume`]), with no extra encode when its codec had
//! them already.
//!
//! No stale snapshot reaches a rejoining player: the latest class is per connection and keyed
//! per match, so a new connection starts with nothing queued, and everything of one match
//! reaches it in the match's order (the resumed snapshot, then each tick's), locally or
//! through its node (one ordered channel per node).

use serde::Serialize;

use super::delta::{DeltaAt, Deltas, SnapshotDelta};
use super::frames::FrameCache;
use super::history::History;
use super::link::{Delivery, MatchLink};
use super::match_trait::{Match, PlayerId};
use super::member::Member;
use super::seats::Seats;
use super::MatchConfig;
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

/// The newest tick's full snapshot as encoded so far, with the tick's input
/// acknowledgements: what a player who rejoins before the next tick gets.
#[derive(Default)]
pub(super) struct Newest {
    acks: Vec<(PlayerId, u32)>,
    frames: FrameCache,
}

/// Where a tick's snapshot goes: its latest-class key, its events, and the way to members
/// seated from other nodes.
pub(super) struct FanOut<'a> {
    encodes: &'a EncodeCounters,
    key: u64,
    event: &'a str,
    envelope: bool,
    link: Option<&'a dyn MatchLink>,
    /// The delta event, in a match that sends deltas.
    delta_event: Option<&'a str>,
}

/// What one member gets this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Full,
    /// The delta of this index among the tick's bases.
    Delta(usize),
}

/// The delta from one base, for every member who acknowledged it.
struct Based {
    base: u64,
    delta: Option<SnapshotDelta>,
    frames: FrameCache,
}

/// A tick's encodings: the full snapshot's, and each base's delta's.
struct Encodings<'a, S: Serialize> {
    tick: u64,
    acks: &'a [(PlayerId, u32)],
    snapshot: &'a S,
    full: Shared<'a, Wire<'a, S>>,
    based: Vec<Based>,
}

/// The tick's full snapshot, encoded once per namespace and codec as broadcasts are, and
/// which codecs were used (kept for rejoins).
struct Shared<'a, T: Serialize> {
    encodes: &'a EncodeCounters,
    event: &'a str,
    value: &'a T,
    per_nsp: Vec<(&'a str, EncodeOnce<'a, T>, [bool; 2])>,
}

impl<'a, T: Serialize> Shared<'a, T> {
    fn frames(&mut self, nsp: &'a str, codec: Codec) -> Option<&[Frame]> {
        let at = match self.per_nsp.iter().position(|(n, _, _)| *n == nsp) {
            Some(at) => at,
            None => {
                let once = EncodeOnce::new(self.encodes, nsp, self.event, self.value, None);
                self.per_nsp.push((nsp, once, [false; 2]));
                self.per_nsp.len() - 1
            }
        };
        let (_, once, used) = self.per_nsp.get_mut(at)?;
        used[codec.index()] = true;
        once.frames(codec).ok()
    }

    /// The frames encoded, to keep past the tick.
    fn into_cache(self) -> FrameCache {
        let mut cache = FrameCache::default();
        for (nsp, mut once, used) in self.per_nsp {
            for codec in [Codec::Json, Codec::Compact] {
                if used[codec.index()] {
                    let frames = once.frames(codec).ok().map(<[_]>::to_vec);
                    cache.get_or_encode(nsp, codec, || frames);
                }
            }
        }
        cache
    }
}

/// Remote members of one node and namespace that get the same thing, and the frames they
/// need.
struct RemoteGroup<'a> {
    node: u64,
    nsp: &'a str,
    target: Target,
    members: Vec<(SocketId, Codec)>,
}

impl<'a> FanOut<'a> {
    pub(super) fn new(
        config: &'a MatchConfig,
        deltas: Option<&'a Deltas>,
        encodes: &'a EncodeCounters,
        key: u64,
        link: Option<&'a dyn MatchLink>,
    ) -> FanOut<'a> {
        FanOut {
            encodes,
            key,
            event: &config.snapshot_event,
            envelope: config.envelope,
            link,
            delta_event: deltas.map(|d| d.event.as_str()),
        }
    }

    /// Queue the newest snapshot of `history` for every connected player of `seats`: each
    /// distinct thing sent (the full snapshot, or the delta from one base) is encoded once
    /// per codec and namespace present, and the same bytes go to each of its players, local
    /// ones straight into their queues, remote ones once per node in one delivery; a player
    /// the game gives a view of its own gets that. Returns the bytes queued here and handed
    /// to other nodes, and the tick's full frames for players who rejoin before the next.
    pub(super) fn run<M: Match>(
        &self,
        game: &M,
        seats: &Seats<M::Input>,
        history: &History<M::Snapshot>,
    ) -> (usize, Newest) {
        let Some((tick, snapshot)) = history.newest() else {
            return (0, Newest::default());
        };
        let acks = seats.acks();
        let envelope = SnapshotEnvelope {
            tick,
            acks: &acks,
            state: snapshot,
        };
        let value = if self.envelope {
            Wire::Envelope(&envelope)
        } else {
            Wire::Bare(snapshot)
        };
        let mut enc = Encodings {
            tick,
            acks: &acks,
            snapshot,
            full: Shared {
                encodes: self.encodes,
                event: self.event,
                value: &value,
                per_nsp: Vec::new(),
            },
            based: Vec::new(),
        };
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
            let target = self.target(game, history, seat.acked, &mut enc);
            match member {
                // The same bytes for every member of this codec and target (a
                // reference-count increment per member, no copy).
                Member::Local(socket) => {
                    let frames = self.frames(target, member.nsp(), socket.codec(), &mut enc);
                    for frame in frames.into_iter().flatten() {
                        bytes += frame.len();
                        socket.send_latest(self.key, frame.clone());
                    }
                }
                Member::Remote(remote_member) => {
                    let entry = (remote_member.socket.clone(), remote_member.codec);
                    match remote.iter_mut().find(|g| {
                        g.node == remote_member.node
                            && g.nsp == &*remote_member.nsp
                            && g.target == target
                    }) {
                        Some(group) => group.members.push(entry),
                        None => remote.push(RemoteGroup {
                            node: remote_member.node,
                            nsp: &remote_member.nsp,
                            target,
                            members: vec![entry],
                        }),
                    }
                }
            }
        }
        if let Some(link) = self.link {
            for group in remote {
                let wants = |codec: Codec| group.members.iter().any(|(_, c)| *c == codec);
                let mut frames_of = |codec: Codec| {
                    wants(codec)
                        .then(|| self.frames(group.target, group.nsp, codec, &mut enc))
                        .flatten()
                        .map(<[_]>::to_vec)
                };
                let json = frames_of(Codec::Json);
                let compact = frames_of(Codec::Compact);
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
        }
        let frames = enc.full.into_cache();
        (bytes, Newest { acks, frames })
    }

    /// Send `member` (of `player`, who rejoined) the newest full snapshot of `history` now, in
    /// the latest class: the tick's frames for its codec when they were encoded, else
    /// encoded once and kept for whoever rejoins next with that codec; its own view if the
    /// game gives it one. Returns the bytes sent.
    pub(super) fn resume<M: Match>(
        &self,
        game: &M,
        history: &History<M::Snapshot>,
        newest: &mut Newest,
        player: PlayerId,
        member: &Member,
    ) -> usize {
        let Some((tick, snapshot)) = history.newest() else {
            return 0;
        };
        if let Some(view) = game.view(player, snapshot) {
            return self.own_view(member, tick, &newest.acks, &view);
        }
        let Newest { acks, frames } = newest;
        let (nsp, codec) = (member.nsp(), member.codec());
        let frames = frames.get_or_encode(nsp, codec, || {
            self.encode_full(nsp, codec, tick, acks, snapshot)
        });
        match frames {
            Some(frames) => self.deliver_one(member, frames),
            None => 0,
        }
    }

    /// What a member who acknowledged `acked` gets: the delta from that tick when it is kept
    /// and the game has one for it (computed once per base), else the full snapshot.
    fn target<M: Match>(
        &self,
        game: &M,
        history: &History<M::Snapshot>,
        acked: Option<u64>,
        enc: &mut Encodings<'_, M::Snapshot>,
    ) -> Target {
        let (Some(_), Some(base)) = (self.delta_event, acked) else {
            return Target::Full;
        };
        if base >= enc.tick {
            return Target::Full;
        }
        let at = match enc.based.iter().position(|b| b.base == base) {
            Some(at) => at,
            None => {
                let delta = history
                    .get(base)
                    .and_then(|old| game.delta(old, enc.snapshot));
                enc.based.push(Based {
                    base,
                    delta,
                    frames: FrameCache::default(),
                });
                enc.based.len() - 1
            }
        };
        match enc.based.get(at) {
            Some(Based { delta: Some(_), .. }) => Target::Delta(at),
            _ => Target::Full,
        }
    }

    /// The frames of `target` for `nsp` and `codec`, encoded on first use.
    fn frames<'c, 'e, S: Serialize>(
        &self,
        target: Target,
        nsp: &'e str,
        codec: Codec,
        enc: &'c mut Encodings<'e, S>,
    ) -> Option<&'c [Frame]> {
        let (tick, acks) = (enc.tick, enc.acks);
        match target {
            Target::Full => enc.full.frames(nsp, codec),
            Target::Delta(at) => {
                let Based {
                    base,
                    delta,
                    frames,
                } = enc.based.get_mut(at)?;
                let (delta, event) = (delta.as_ref()?, self.delta_event?);
                let at = DeltaAt {
                    event,
                    tick,
                    base: *base,
                    acks,
                };
                frames.get_or_encode(nsp, codec, || delta.frames(self.encodes, at, codec, nsp))
            }
        }
    }

    /// The full snapshot's frames for one codec and namespace.
    fn encode_full<S: Serialize>(
        &self,
        nsp: &str,
        codec: Codec,
        tick: u64,
        acks: &[(PlayerId, u32)],
        state: &S,
    ) -> Option<Vec<Frame>> {
        let envelope = SnapshotEnvelope { tick, acks, state };
        let value = if self.envelope {
            Wire::Envelope(&envelope)
        } else {
            Wire::Bare(state)
        };
        encode_event(self.encodes, codec, nsp, self.event, &value, None).ok()
    }

    /// A view of the game's own for one member.
    fn own_view<S: Serialize>(
        &self,
        member: &Member,
        tick: u64,
        acks: &[(PlayerId, u32)],
        view: &S,
    ) -> usize {
        match self.encode_full(member.nsp(), member.codec(), tick, acks, view) {
            Some(frames) => self.deliver_one(member, &frames),
            None => 0,
        }
    }

    /// Frames in the latest class for one member, here or on its node; the bytes.
    fn deliver_one(&self, member: &Member, frames: &[Frame]) -> usize {
        let bytes = frames.iter().map(Frame::len).sum();
        match member {
            Member::Local(socket) => {
                for frame in frames {
                    socket.send_latest(self.key, frame.clone());
                }
            }
            Member::Remote(remote) => {
                let Some(link) = self.link else {
                    return 0;
                };
                let (json, compact) = match remote.codec {
                    Codec::Json => (Some(frames), None),
                    Codec::Compact => (None, Some(frames)),
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
        bytes
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use parking_lot::Mutex;
    use serde::Serialize;

    use super::*;
    use crate::game::context::MatchContext;
    use crate::game::member::RemoteMember;
    use crate::game::seats::SeatState;
    use crate::game::PlayerInfo;

    /// A realistic arena snapshot: 16 players (name, position, aim, health, ammo), 24
    /// pickups, the round's clock and scores. Between two ticks a few players move and the
    /// clock runs; the rest stays as it was.
    #[derive(Debug, Clone, PartialEq, Serialize)]
    struct World {
        round: u32,
        time_left_ms: u32,
        scores: Vec<(u32, u32)>,
        avatars: Vec<Avatar>,
        pickups: Vec<Pickup>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize)]
    struct Avatar {
        id: u32,
        name: String,
        x: f32,
        y: f32,
        angle: f32,
        hp: u8,
        ammo: u16,
        alive: bool,
    }

    #[derive(Debug, Clone, PartialEq, Serialize)]
    struct Pickup {
        id: u32,
        kind: String,
        x: f32,
        y: f32,
        taken: bool,
    }

    /// What changed: the clock, and the avatars, scores and pickups that differ.
    #[derive(Debug, Serialize)]
    struct WorldDelta {
        time_left_ms: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        round: Option<u32>,
        scores: Vec<(u32, u32)>,
        avatars: Vec<Avatar>,
        pickups: Vec<Pickup>,
    }

    fn changed<T: Clone + PartialEq>(base: &[T], current: &[T]) -> Vec<T> {
        current
            .iter()
            .enumerate()
            .filter(|(i, item)| base.get(*i) != Some(item))
            .map(|(_, item)| item.clone())
            .collect()
    }

    fn world_at(tick: u64) -> World {
        let t = tick as f32;
        World {
            round: 3,
            time_left_ms: 120_000 - tick as u32 * 33,
            scores: (1..=16)
                .map(|p| (p, p * 2 + u32::from(p == 5) * tick as u32))
                .collect(),
            avatars: (1..=16)
                .map(|id| {
                    // Players 1 to 4 run about; the others hold their ground.
                    let moving = id <= 4;
                    Avatar {
                        id,
                        name: format!("player-{id:02}"),
                        x: 100.0 + id as f32 * 37.5 + if moving { t * 4.25 } else { 0.0 },
                        y: 250.0 - id as f32 * 11.0 + if moving { t * 1.5 } else { 0.0 },
                        angle: if moving { t * 0.1 } else { 1.25 },
                        hp: 100 - id as u8,
                        ammo: 30,
                        alive: true,
                    }
                })
                .collect(),
            pickups: (1..=24)
                .map(|id| Pickup {
                    id,
                    kind: ["health", "ammo", "armor"][id as usize % 3].into(),
                    x: id as f32 * 50.0,
                    y: 500.0 - id as f32 * 20.0,
                    taken: false,
                })
                .collect(),
        }
    }

    #[derive(Default)]
    struct Arena {
        deltas_made: Cell<usize>,
    }

    impl Match for Arena {
        type Input = ();
        type Snapshot = World;

        fn on_input(&mut self, _: &mut MatchContext, _: PlayerId, _: u32, _: ()) {}

        fn tick(&mut self, ctx: &mut MatchContext, _: Duration) -> World {
            world_at(ctx.tick())
        }

        fn deltas(&self) -> Option<Deltas> {
            Some(Deltas::default())
        }

        fn delta(&self, base: &World, current: &World) -> Option<SnapshotDelta> {
            self.deltas_made.set(self.deltas_made.get() + 1);
            Some(SnapshotDelta::new(WorldDelta {
                time_left_ms: current.time_left_ms,
                round: (base.round != current.round).then_some(current.round),
                scores: changed(&base.scores, &current.scores),
                avatars: changed(&base.avatars, &current.avatars),
                pickups: changed(&base.pickups, &current.pickups),
            }))
        }
    }

    /// One delivery to another node: its JSON frames, compact frames and members (sorted).
    type Delivered = (Option<Vec<Frame>>, Option<Vec<Frame>>, Vec<String>);

    /// What a fan-out handed to other nodes.
    #[derive(Default)]
    struct Captured(Mutex<Vec<Delivered>>);

    impl MatchLink for Captured {
        fn node_id(&self) -> u64 {
            1
        }

        fn deliver(&self, node: u64, delivery: Delivery<'_>) {
            assert_eq!(node, 7);
            if let Delivery::Latest {
                json,
                compact,
                members,
                ..
            } = delivery
            {
                let mut members: Vec<String> = members.iter().map(|(s, _)| s.to_string()).collect();
                members.sort();
                self.0
                    .lock()
                    .push((json.map(<[_]>::to_vec), compact.map(<[_]>::to_vec), members));
            }
        }
    }

    impl Captured {
        /// The deliveries by their members, emptied.
        fn take(&self) -> Vec<Delivered> {
            let mut out = std::mem::take(&mut *self.0.lock());
            out.sort_by(|a, b| a.2.cmp(&b.2));
            out
        }
    }

    /// Seats of remote members on node 7: (socket id, compact, acknowledged tick).
    fn seats(members: &[(&str, bool, Option<u64>)]) -> Seats<()> {
        let mut seats = Seats::new(members.len(), 4);
        let later = Instant::now() + Duration::from_secs(60);
        for (socket, compact, acked) in members {
            let token = format!("t-{socket}");
            seats
                .reserve(PlayerInfo::default(), token.clone(), later)
                .unwrap();
            let seat = seats.get_mut(&token).unwrap();
            seat.acked = *acked;
            seat.state = SeatState::Connected {
                member: Member::Remote(RemoteMember {
                    node: 7,
                    socket: Arc::from(*socket),
                    nsp: "/".into(),
                    codec: if *compact {
                        Codec::Compact
                    } else {
                        Codec::Json
                    },
                }),
            };
        }
        seats
    }

    fn text(frames: &Option<Vec<Frame>>) -> String {
        match frames.as_deref() {
            Some([Frame::Text(text)]) => text.to_string(),
            other => panic!("one text frame expected: {other:?}"),
        }
    }

    fn history(ticks: std::ops::RangeInclusive<u64>, cap: usize) -> History<World> {
        let mut history = History::new(cap);
        for tick in ticks {
            history.push(tick, world_at(tick));
        }
        history
    }

    #[test]
    fn members_of_one_base_share_its_delta_and_an_unknown_base_gets_the_full_snapshot() {
        let (config, deltas) = (MatchConfig::default(), Deltas::default());
        let (encodes, link) = (EncodeCounters::default(), Captured::default());
        let fan_out = FanOut::new(&config, Some(&deltas), &encodes, 9, Some(&link));
        let game = Arena::default();
        // Ticks 3, 4 and 5 are kept: 1 is too old, 6 was never sent.
        let history = history(1..=5, 3);
        let seats = seats(&[
            ("a", false, Some(3)),
            ("b", false, Some(3)),
            ("c", true, Some(3)),
            ("d", false, Some(4)),
            ("e", false, None),
            ("f", false, Some(1)),
            ("g", true, Some(6)),
        ]);
        let (bytes, _) = fan_out.run(&game, &seats, &history);
        let sent = link.take();
        let members: Vec<&[String]> = sent.iter().map(|(_, _, m)| &m[..]).collect();
        assert_eq!(
            members,
            [&["a", "b", "c"][..], &["d"], &["e", "f", "g"]],
            "one delivery per thing sent"
        );
        // One delta per base kept, encoded once per codec its members use: the members of
        // base 3 share the same bytes.
        assert_eq!(game.deltas_made.get(), 2);
        let base3 = text(&sent[0].0);
        assert!(
            base3.starts_with(r#"42["state-delta",{"tick":5,"base":3,"acks":[],"delta":{"#),
            "{base3}"
        );
        assert!(sent[0].1.is_some(), "the compact member of base 3");
        assert!(text(&sent[1].0).starts_with(r#"42["state-delta",{"tick":5,"base":4,"#));
        // No acknowledgement, one too old, one of a tick not sent: the full snapshot.
        assert!(text(&sent[2].0).starts_with(r#"42["state",{"tick":5,"acks":[],"state":{"#));
        assert!(sent[2].1.is_some());
        assert_eq!(
            (encodes.get(Codec::Json), encodes.get(Codec::Compact)),
            (3, 2),
            "JSON: full, base 3, base 4; compact: full, base 3"
        );
        let total: usize = sent
            .iter()
            .flat_map(|(j, c, _)| j.iter().chain(c.iter()).flatten())
            .map(Frame::len)
            .sum();
        assert_eq!(bytes, total);
    }

    #[test]
    fn a_rejoin_gets_the_ticks_full_frames_encoded_once_per_codec() {
        let (config, deltas) = (MatchConfig::default(), Deltas::default());
        let (encodes, link) = (EncodeCounters::default(), Captured::default());
        let fan_out = FanOut::new(&config, Some(&deltas), &encodes, 9, Some(&link));
        let game = Arena::default();
        let history = history(1..=5, 3);
        // Everybody is on deltas this tick, but one JSON member without a base.
        let seats = seats(&[
            ("a", false, Some(4)),
            ("b", true, Some(4)),
            ("c", false, None),
        ]);
        let (_, mut newest) = fan_out.run(&game, &seats, &history);
        let full_json = link.take().pop().unwrap().0;
        let before = (encodes.get(Codec::Json), encodes.get(Codec::Compact));
        let rejoin = |socket: &str, compact: bool, newest: &mut Newest| {
            let member = Member::Remote(RemoteMember {
                node: 7,
                socket: Arc::from(socket),
                nsp: "/".into(),
                codec: if compact { Codec::Compact } else { Codec::Json },
            });
            assert!(fan_out.resume(&game, &history, newest, 1, &member) > 0);
            link.take().pop().unwrap()
        };
        // JSON was encoded at the tick: the same bytes, no encode.
        assert_eq!(rejoin("x", false, &mut newest).0, full_json);
        assert_eq!(
            (encodes.get(Codec::Json), encodes.get(Codec::Compact)),
            before
        );
        // Compact was not: encoded once, then kept for the next compact rejoin.
        let first = rejoin("y", true, &mut newest).1;
        let second = rejoin("z", true, &mut newest).1;
        assert!(first.is_some());
        assert_eq!(first, second);
        assert_eq!(
            (encodes.get(Codec::Json), encodes.get(Codec::Compact)),
            (before.0, before.1 + 1)
        );
        // Before any tick there is nothing to resume from.
        let empty = History::new(3);
        let member = Member::Remote(RemoteMember {
            node: 7,
            socket: Arc::from("w"),
            nsp: "/".into(),
            codec: Codec::Json,
        });
        assert_eq!(
            fan_out.resume(&game, &empty, &mut Newest::default(), 1, &member),
            0
        );
    }

    #[test]
    fn deltas_save_most_of_the_bytes_of_a_realistic_snapshot() {
        let config = MatchConfig::default();
        let deltas = Deltas::default();
        let game = Arena::default();
        let history = history(1..=30, 9);
        let mut ratios = Vec::new();
        for compact in [false, true] {
            let players: Vec<(String, bool, Option<u64>)> = (0..8)
                .map(|i| (format!("p{i}"), compact, Some(29)))
                .collect();
            let refs: Vec<(&str, bool, Option<u64>)> = players
                .iter()
                .map(|(s, c, a)| (s.as_str(), *c, *a))
                .collect();
            let bytes_with = |deltas: Option<&Deltas>| {
                let (encodes, link) = (EncodeCounters::default(), Captured::default());
                let fan_out = FanOut::new(&config, deltas, &encodes, 9, Some(&link));
                fan_out.run(&game, &seats(&refs), &history).0
            };
            let (full, delta) = (bytes_with(None), bytes_with(Some(&deltas)));
            let ratio = delta as f64 / full as f64;
            println!(
                "{}: full snapshot {full} B, delta from the previous tick {delta} B ({:.0}% of it)",
                if compact { "compact" } else { "JSON" },
                ratio * 100.0
            );
            ratios.push(ratio);
        }
        assert!(
            ratios.iter().all(|r| *r < 0.35),
            "a delta of 4 moving players out of 16 is well under the full snapshot: {ratios:?}"
        );
    }
}
