//! Seats: reservations ([`SeatToken`]) with a timeout, players connected or away within their
//! reconnect window, and the bound on seats. Plain state the match actor drives (and unit
//! tests drive without one).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use thiserror::Error;

use super::inputs::InputQueue;
use super::match_trait::{PlayerId, PlayerInfo};
use super::member::Member;
use crate::socketio::ErasedHandler;

/// Recently expired tokens remembered, so that a late join hears "expired", not "invalid".
const EXPIRED_REMEMBERED: usize = 256;

/// A seat reservation: give it to the player; their socket redeems it with
/// [`MatchHandle::join`](super::MatchHandle::join), and again to rejoin after a drop.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub struct SeatToken(pub String);

/// Why a seat could not be reserved or taken.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JoinError {
    /// Every seat is taken or reserved.
    #[error("match is full")]
    Full,
    /// The match is locked against new players.
    #[error("match is locked")]
    Locked,
    /// The game refused the player.
    #[error("refused: {0}")]
    Refused(String),
    /// No such seat token.
    #[error("invalid seat token")]
    InvalidToken,
    /// The reservation (or the reconnect window) expired.
    #[error("seat reservation expired")]
    Expired,
    /// The match has ended.
    #[error("match is over")]
    Disposed,
    /// The socket already sits in another seat of this match (one socket, one seat: its
    /// inputs and its disconnect would otherwise not say whose they are).
    #[error("socket already holds another seat of this match")]
    AlreadySeated,
    /// The socket disconnected before it took the seat; a fresh reservation is freed, a
    /// dropped seat keeps its reconnect window.
    #[error("socket is disconnected")]
    Disconnected,
    /// The match's node did not answer (gone, or unreachable over the cluster's bus).
    #[error("match unavailable: {0}")]
    Unavailable(String),
}

/// Where a seat's player is.
pub(super) enum SeatState {
    /// Reserved, not yet taken; freed at `expires`.
    Reserved { expires: Instant },
    /// Taken by this member.
    Connected { member: Member },
    /// The player dropped; the seat is kept `until`.
    Away { until: Instant },
}

/// One seat.
pub(super) struct Seat<I> {
    pub(super) id: PlayerId,
    pub(super) info: PlayerInfo,
    pub(super) state: SeatState,
    /// Written by the socket's input handler, drained each tick.
    pub(super) inputs: Arc<Mutex<InputQueue<I>>>,
    /// The last input sequence applied.
    pub(super) last_seq: Option<u32>,
    /// The newest tick its client acknowledged, as of the last tick (the base of its deltas).
    pub(super) acked: Option<u64>,
    /// The input handler the match set on its local socket: removed when the seat lets the
    /// socket go, unless another seat's (of another match) has replaced it by then.
    pub(super) input_handler: Option<ErasedHandler>,
}

impl<I> Seat<I> {
    /// Whether a player holds the seat (connected or away), rather than a reservation.
    pub(super) fn is_held(&self) -> bool {
        !matches!(self.state, SeatState::Reserved { .. })
    }

    /// The seat's member, while connected.
    pub(super) fn member(&self) -> Option<&Member> {
        match &self.state {
            SeatState::Connected { member } => Some(member),
            _ => None,
        }
    }
}

/// A seat whose time ran out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Lapsed {
    pub(super) token: String,
    /// A player held it (away past the window), rather than an unredeemed reservation.
    pub(super) was_held: bool,
}

/// The seats of one match, by token.
pub(super) struct Seats<I> {
    seats: HashMap<String, Seat<I>>,
    next_player: PlayerId,
    max_players: usize,
    input_queue: usize,
    pub(super) locked: bool,
    expired: VecDeque<String>,
}

impl<I> Seats<I> {
    pub(super) fn new(max_players: usize, input_queue: usize) -> Seats<I> {
        Seats {
            seats: HashMap::new(),
            next_player: 1,
            max_players,
            input_queue,
            locked: false,
            expired: VecDeque::new(),
        }
    }

    /// Reserve a seat for `info` until `expires`, under a fresh `token`.
    pub(super) fn reserve(
        &mut self,
        info: PlayerInfo,
        token: String,
        expires: Instant,
    ) -> Result<SeatToken, JoinError> {
        if self.locked {
            return Err(JoinError::Locked);
        }
        if self.seats.len() >= self.max_players {
            return Err(JoinError::Full);
        }
        let id = self.next_player;
        self.next_player += 1;
        self.seats.insert(
            token.clone(),
            Seat {
                id,
                info,
                state: SeatState::Reserved { expires },
                inputs: Arc::new(Mutex::new(InputQueue::new(self.input_queue))),
                last_seq: None,
                acked: None,
                input_handler: None,
            },
        );
        Ok(SeatToken(token))
    }

    /// Whether another reservation would be refused as full or locked.
    pub(super) fn check_open(&self) -> Result<(), JoinError> {
        if self.locked {
            Err(JoinError::Locked)
        } else if self.seats.len() >= self.max_players {
            Err(JoinError::Full)
        } else {
            Ok(())
        }
    }

    /// The seat of `token`, or why there is none.
    pub(super) fn get_mut(&mut self, token: &str) -> Result<&mut Seat<I>, JoinError> {
        if self.seats.contains_key(token) {
            return self.seats.get_mut(token).ok_or(JoinError::InvalidToken);
        }
        if self.expired.iter().any(|t| t == token) {
            Err(JoinError::Expired)
        } else {
            Err(JoinError::InvalidToken)
        }
    }

    pub(super) fn remove(&mut self, token: &str) -> Option<Seat<I>> {
        self.seats.remove(token)
    }

    /// Free an unredeemed reservation (its socket went away before taking it).
    pub(super) fn free_reservation(&mut self, token: &str) {
        if self
            .seats
            .get(token)
            .is_some_and(|seat| matches!(seat.state, SeatState::Reserved { .. }))
        {
            self.seats.remove(token);
        }
    }

    /// Remove the seats whose time ran out at `now`: unredeemed reservations are dropped
    /// here; held seats past their window are returned for the match to let go.
    pub(super) fn lapse(&mut self, now: Instant) -> Vec<Lapsed> {
        let lapsed: Vec<Lapsed> = self
            .seats
            .iter()
            .filter_map(|(token, seat)| match seat.state {
                SeatState::Reserved { expires } if now >= expires => Some(Lapsed {
                    token: token.clone(),
                    was_held: false,
                }),
                SeatState::Away { until } if now >= until => Some(Lapsed {
                    token: token.clone(),
                    was_held: true,
                }),
                _ => None,
            })
            .collect();
        for seat in &lapsed {
            if !seat.was_held {
                self.seats.remove(&seat.token);
            }
            if self.expired.len() == EXPIRED_REMEMBERED {
                self.expired.pop_front();
            }
            self.expired.push_back(seat.token.clone());
        }
        lapsed
    }

    /// The player of `token` dropped from `member`: the seat is kept for `window`. Returns
    /// the player, unless the seat has another member by now.
    pub(super) fn away(
        &mut self,
        token: &str,
        member: &Member,
        now: Instant,
        window: Duration,
    ) -> Option<PlayerId> {
        let seat = self.seats.get_mut(token)?;
        if !seat.member().is_some_and(|m| m.same(member)) {
            return None;
        }
        seat.state = SeatState::Away {
            until: now + window,
        };
        Some(seat.id)
    }

    /// Whether `member` sits in a seat other than `token`'s.
    pub(super) fn seated_elsewhere(&self, token: &str, member: &Member) -> bool {
        self.seats
            .iter()
            .any(|(t, seat)| t != token && seat.member().is_some_and(|m| m.same(member)))
    }

    /// Players holding a seat, sorted.
    pub(super) fn players(&self) -> Vec<PlayerId> {
        let mut players: Vec<PlayerId> = self
            .seats
            .values()
            .filter(|s| s.is_held())
            .map(|s| s.id)
            .collect();
        players.sort_unstable();
        players
    }

    /// Per player, the last input sequence applied, sorted.
    pub(super) fn acks(&self) -> Vec<(PlayerId, u32)> {
        let mut acks: Vec<(PlayerId, u32)> = self
            .seats
            .values()
            .filter_map(|s| s.last_seq.map(|seq| (s.id, seq)))
            .collect();
        acks.sort_unstable();
        acks
    }

    /// Every seat, in no order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Seat<I>> {
        self.seats.values()
    }

    /// Every seat, by player number.
    pub(super) fn by_player_mut(&mut self) -> Vec<&mut Seat<I>> {
        let mut seats: Vec<&mut Seat<I>> = self.seats.values_mut().collect();
        seats.sort_by_key(|s| s.id);
        seats
    }

    /// The connected member of `player`.
    pub(super) fn member_of(&self, player: PlayerId) -> Option<&Member> {
        self.seats
            .values()
            .find(|s| s.id == player)
            .and_then(Seat::member)
    }

    /// The token of `player`'s seat.
    pub(super) fn token_of(&self, player: PlayerId) -> Option<String> {
        self.seats
            .iter()
            .find(|(_, s)| s.id == player)
            .map(|(t, _)| t.clone())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.seats.is_empty()
    }

    /// Every seat with its token, removed.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = (String, Seat<I>)> + '_ {
        self.seats.drain()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn player(name: &str) -> PlayerInfo {
        PlayerInfo {
            name: name.into(),
            ..PlayerInfo::default()
        }
    }

    #[test]
    fn reservations_are_bounded_locked_and_numbered() {
        let t0 = Instant::now();
        let mut seats: Seats<()> = Seats::new(2, 8);
        let a = seats.reserve(player("a"), "ta".into(), t0).unwrap();
        seats.reserve(player("b"), "tb".into(), t0).unwrap();
        assert_eq!(
            seats.reserve(player("c"), "tc".into(), t0),
            Err(JoinError::Full)
        );
        assert_eq!(seats.get_mut(&a.0).map(|s| s.id), Ok(1));
        seats.remove("tb");
        seats.locked = true;
        assert_eq!(seats.check_open(), Err(JoinError::Locked));
        assert_eq!(
            seats.reserve(player("c"), "tc".into(), t0),
            Err(JoinError::Locked)
        );
        // Reservations are not players yet.
        assert!(seats.players().is_empty());
    }

    #[test]
    fn an_unredeemed_reservation_lapses_and_its_token_reads_as_expired() {
        let t0 = Instant::now();
        let mut seats: Seats<()> = Seats::new(4, 8);
        seats
            .reserve(player("a"), "ta".into(), t0 + Duration::from_secs(1))
            .unwrap();
        assert!(seats.lapse(t0).is_empty());
        let lapsed = seats.lapse(t0 + Duration::from_secs(1));
        assert_eq!(
            lapsed,
            vec![Lapsed {
                token: "ta".into(),
                was_held: false
            }]
        );
        assert!(seats.is_empty());
        assert_eq!(seats.get_mut("ta").err(), Some(JoinError::Expired));
        assert_eq!(seats.get_mut("never").err(), Some(JoinError::InvalidToken));
    }

    #[test]
    fn a_held_seat_past_its_window_is_handed_back_to_the_match() {
        let t0 = Instant::now();
        let mut seats: Seats<()> = Seats::new(4, 8);
        seats.reserve(player("a"), "ta".into(), t0).unwrap();
        if let Ok(seat) = seats.get_mut("ta") {
            seat.state = SeatState::Away {
                until: t0 + Duration::from_secs(5),
            };
        }
        assert_eq!(seats.players(), vec![1]);
        assert!(seats.lapse(t0 + Duration::from_secs(4)).is_empty());
        let lapsed = seats.lapse(t0 + Duration::from_secs(5));
        assert_eq!(lapsed.len(), 1);
        assert!(lapsed[0].was_held);
        // The match removes it itself (it tells the game first).
        assert!(!seats.is_empty());
        seats.free_reservation("ta");
        assert!(!seats.is_empty(), "a held seat is not a reservation");
    }
}
