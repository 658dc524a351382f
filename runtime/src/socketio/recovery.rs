//! Connection state recovery (Socket.IO's `pid` + offset).
//!
//! When enabled, each namespace keeps, for `max_disconnection`:
//! - the broadcast packets it sent (with an offset as their last argument, and the rooms they
//!   targeted), at most `max_packets` of them;
//! - the sessions of sockets that dropped for a recoverable reason (their id, rooms and
//!   exactly-once emit ids with their answers), at most `max_sessions` of them, holding at
//!   most `max_dedupe_bytes` of answers in all (a session persisted past it keeps its emit
//!   ids without their answers).
//!
//! A client that reconnects within the window with `{"pid", "offset"}` in its CONNECT auth gets
//! its socket id, rooms and emit ids back, and every packet it missed after `offset`, in order
//! and none twice. Only JSON broadcasts carry offsets (the compact format has no field for them).
//!
//! Never `recovered` with a gap: when the missed packets would not fit the connection's
//! outbound budget, the recovery is refused and the client starts a fresh session
//! (`recovered` false), as it does for an unknown session or an offset no longer logged.
//!
//! Expiry is amortized: packets and sessions are kept in the order they came, so expiring
//! looks only at the oldest ones, never at every session.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::dedupe::{DedupeState, StoredAck};
use super::disconnect::DisconnectReason;
use super::socket::SocketId;
use crate::engine::Frame;

pub use crate::config::RecoveryConfig;

/// Whether a socket that closed for `reason` may be recovered (as the reference server).
pub(crate) fn recoverable(reason: DisconnectReason) -> bool {
    matches!(
        reason,
        DisconnectReason::TransportClose
            | DisconnectReason::TransportError
            | DisconnectReason::PingTimeout
            | DisconnectReason::ForcedClose
            | DisconnectReason::ServerShuttingDown
    )
}

struct Session {
    sid: SocketId,
    rooms: Vec<String>,
    /// Its exactly-once emit ids and answers.
    dedupe: DedupeState,
    /// The bytes of answers `dedupe` holds.
    dedupe_bytes: usize,
    at: Instant,
}

struct Logged {
    offset: u64,
    at: Instant,
    rooms: Vec<String>,
    except: Vec<String>,
    frames: Vec<Frame>,
}

impl Logged {
    fn reaches(&self, rooms: &[String]) -> bool {
        let targeted = self.rooms.is_empty() || self.rooms.iter().any(|r| rooms.contains(r));
        targeted && !self.except.iter().any(|r| rooms.contains(r))
    }
}

/// What a restored socket gets back.
pub(crate) struct Restored {
    pub(crate) sid: SocketId,
    pub(crate) rooms: Vec<String>,
    pub(crate) missed: Vec<Vec<Frame>>,
    /// Its exactly-once emit ids and answers.
    pub(crate) dedupe: DedupeState,
}

/// The answer to a recovery claim.
pub(crate) enum Restore {
    /// The session, and every packet it missed.
    Restored(Restored),
    /// Unknown or expired session, or an offset no longer logged.
    Unknown,
    /// The missed packets would not fit the connection's outbound budget.
    TooMuchMissed,
}

/// One namespace's recovery state.
pub(crate) struct RecoveryLog {
    config: RecoveryConfig,
    sessions: HashMap<String, Session>,
    /// Session pids in the order they were persisted (entries of sessions restored or
    /// replaced since are skipped when reached).
    session_order: VecDeque<(Instant, String)>,
    log: VecDeque<Logged>,
    next_offset: u64,
    /// The bytes of exactly-once answers the sessions hold, in all.
    dedupe_bytes: usize,
}

impl RecoveryLog {
    pub(crate) fn new(config: RecoveryConfig) -> RecoveryLog {
        RecoveryLog {
            config,
            sessions: HashMap::new(),
            session_order: VecDeque::new(),
            log: VecDeque::new(),
            next_offset: 1,
            dedupe_bytes: 0,
        }
    }

    pub(crate) fn config(&self) -> &RecoveryConfig {
        &self.config
    }

    /// The offset for the next broadcast (to put in its packet before logging it).
    pub(crate) fn next_offset(&mut self) -> u64 {
        let offset = self.next_offset;
        self.next_offset += 1;
        offset
    }

    /// Keep a broadcast packet for clients that may miss it.
    pub(crate) fn log(
        &mut self,
        offset: u64,
        rooms: Vec<String>,
        except: Vec<String>,
        frames: Vec<Frame>,
        now: Instant,
    ) {
        self.expire(now);
        if self.log.len() >= self.config.max_packets {
            self.log.pop_front();
        }
        self.log.push_back(Logged {
            offset,
            at: now,
            rooms,
            except,
            frames,
        });
    }

    /// A socket dropped for a recoverable reason: keep its session (its answers only within
    /// `max_dedupe_bytes`).
    pub(crate) fn persist(
        &mut self,
        pid: &str,
        sid: SocketId,
        rooms: Vec<String>,
        mut dedupe: DedupeState,
        now: Instant,
    ) {
        self.expire(now);
        self.remove_session(pid);
        while self.sessions.len() >= self.config.max_sessions.max(1) {
            if !self.drop_oldest_session() {
                break;
            }
        }
        let mut dedupe_bytes = dedupe.answer_bytes();
        if self.dedupe_bytes + dedupe_bytes > self.config.max_dedupe_bytes {
            dedupe.forget_answers();
            dedupe_bytes = 0;
        }
        self.dedupe_bytes += dedupe_bytes;
        self.sessions.insert(
            pid.to_owned(),
            Session {
                sid,
                rooms,
                dedupe,
                dedupe_bytes,
                at: now,
            },
        );
        self.session_order.push_back((now, pid.to_owned()));
        // Entries of restored sessions stay in the order until reached: compact it once it
        // holds twice what is live, so it never outgrows the sessions it orders.
        if self.session_order.len() > 2 * self.sessions.len() + 16 {
            let sessions = &self.sessions;
            self.session_order
                .retain(|(at, pid)| sessions.get(pid).is_some_and(|s| s.at == *at));
        }
    }

    /// An exactly-once run that was in flight when session `pid`'s socket dropped has
    /// finished with `answer` (`None`: without one): keep it with the session, within
    /// `max_dedupe_bytes`. Returns whether the session is here.
    pub(crate) fn settle_once(&mut self, pid: &str, id: &str, answer: Option<StoredAck>) -> bool {
        let budget = self
            .config
            .max_dedupe_bytes
            .saturating_sub(self.dedupe_bytes);
        let Some(session) = self.sessions.get_mut(pid) else {
            return false;
        };
        let added = session.dedupe.settle(id, answer, budget);
        session.dedupe_bytes += added;
        self.dedupe_bytes += added;
        true
    }

    /// Remove session `pid`, keeping the byte count right.
    fn remove_session(&mut self, pid: &str) -> Option<Session> {
        let session = self.sessions.remove(pid)?;
        self.dedupe_bytes -= session.dedupe_bytes;
        Some(session)
    }

    /// Drop the oldest live session; false when there is none.
    fn drop_oldest_session(&mut self) -> bool {
        while let Some((at, pid)) = self.session_order.pop_front() {
            if self.sessions.get(&pid).is_some_and(|s| s.at == at) {
                self.remove_session(&pid);
                return true;
            }
        }
        false
    }

    /// Take back the session `pid` and the packets it missed after `offset`, if they cost
    /// at most `budget` bytes of outbound queue. The session is consumed either way.
    pub(crate) fn restore(
        &mut self,
        pid: &str,
        offset: &str,
        now: Instant,
        budget: usize,
    ) -> Restore {
        self.expire(now);
        let Ok(offset) = offset.parse::<u64>() else {
            return Restore::Unknown;
        };
        // Offsets are consecutive: the claimed one's index is its distance from the oldest.
        let index = self
            .log
            .front()
            .and_then(|front| offset.checked_sub(front.offset))
            .and_then(|i| usize::try_from(i).ok())
            .filter(|i| self.log.get(*i).is_some_and(|p| p.offset == offset));
        let Some(index) = index else {
            return Restore::Unknown;
        };
        let Some(session) = self.remove_session(pid) else {
            return Restore::Unknown;
        };
        let missed: Vec<Vec<Frame>> = self
            .log
            .iter()
            .skip(index + 1)
            .filter(|p| p.reaches(&session.rooms))
            .map(|p| p.frames.clone())
            .collect();
        let cost: usize = missed
            .iter()
            .map(|frames| crate::engine::cost(frames))
            .sum();
        if cost > budget {
            return Restore::TooMuchMissed;
        }
        Restore::Restored(Restored {
            sid: session.sid,
            rooms: session.rooms,
            missed,
            dedupe: session.dedupe,
        })
    }

    fn expire(&mut self, now: Instant) {
        let window = self.config.max_disconnection;
        let expired = |at: Instant| now.saturating_duration_since(at) > window;
        while self.log.front().is_some_and(|p| expired(p.at)) {
            self.log.pop_front();
        }
        while let Some((at, _)) = self.session_order.front() {
            if !expired(*at) {
                break;
            }
            if let Some((at, pid)) = self.session_order.pop_front() {
                if self.sessions.get(&pid).is_some_and(|s| s.at == at) {
                    self.remove_session(&pid);
                }
            }
        }
    }

    /// Sessions and packets held (for tests and metrics).
    #[cfg(test)]
    pub(crate) fn sizes(&self) -> (usize, usize) {
        (self.sessions.len(), self.log.len())
    }

    /// Entries of the session order (for tests: it stays proportional to the sessions).
    #[cfg(test)]
    fn order_len(&self) -> usize {
        self.session_order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytestring::ByteString;
    use std::time::Duration;

    fn frame(text: &str) -> Vec<Frame> {
        vec![Frame::Text(ByteString::from(text.to_owned()))]
    }

    fn unknown(restore: Restore) -> bool {
        matches!(restore, Restore::Unknown)
    }

    fn none() -> DedupeState {
        DedupeState::default()
    }

    fn rooms(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn restores_rooms_and_exactly_the_missed_packets_in_order() {
        let t0 = Instant::now();
        let mut log = RecoveryLog::new(RecoveryConfig::default());
        let seen = log.next_offset();
        log.log(seen, rooms(&["a"]), vec![], frame("seen"), t0);
        log.persist("pid1", "sid1".into(), rooms(&["sid1", "a"]), none(), t0);
        for (name, to, except) in [
            ("m1", vec!["a"], vec![]),
            ("other-room", vec!["b"], vec![]),
            ("all", vec![], vec![]),
            ("excluded", vec![], vec!["sid1"]),
            ("m2", vec!["a", "b"], vec![]),
        ] {
            let offset = log.next_offset();
            log.log(offset, rooms(&to), rooms(&except), frame(name), t0);
        }
        let Restore::Restored(restored) = log.restore("pid1", &seen.to_string(), t0, usize::MAX)
        else {
            panic!("not restored");
        };
        assert_eq!(&*restored.sid, "sid1");
        assert_eq!(restored.rooms, rooms(&["sid1", "a"]));
        assert_eq!(
            restored.missed,
            vec![frame("m1"), frame("all"), frame("m2")]
        );
        // Once only.
        assert!(unknown(log.restore(
            "pid1",
            &seen.to_string(),
            t0,
            usize::MAX
        )));
    }

    #[test]
    fn unknown_offset_or_expired_session_is_not_restored() {
        let t0 = Instant::now();
        let config = RecoveryConfig {
            max_disconnection: Duration::from_secs(10),
            ..RecoveryConfig::default()
        };
        let mut log = RecoveryLog::new(config);
        let offset = log.next_offset();
        log.log(offset, vec![], vec![], frame("x"), t0);
        log.persist("p", "s".into(), vec![], none(), t0);
        assert!(unknown(log.restore("p", "999", t0, usize::MAX)));
        assert!(unknown(log.restore("p", "not a number", t0, usize::MAX)));
        // Past the window, both the session and the packet are gone.
        let later = t0 + Duration::from_secs(11);
        assert!(unknown(log.restore("p", "1", later, usize::MAX)));
        assert_eq!(log.sizes(), (0, 0));
    }

    #[test]
    fn the_log_and_the_sessions_are_bounded() {
        let t0 = Instant::now();
        let config = RecoveryConfig {
            max_packets: 3,
            max_sessions: 2,
            ..RecoveryConfig::default()
        };
        let mut log = RecoveryLog::new(config);
        for _ in 0..10 {
            let offset = log.next_offset();
            log.log(offset, vec![], vec![], frame("x"), t0);
        }
        for i in 0..5u64 {
            log.persist(
                &format!("p{i}"),
                "s".into(),
                vec![],
                none(),
                t0 + Duration::from_millis(i),
            );
        }
        assert_eq!(log.sizes(), (2, 3));
        // The oldest offset fell out of the log: no recovery from it.
        assert!(unknown(log.restore("p4", "1", t0, usize::MAX)));
    }

    #[test]
    fn more_missed_than_the_budget_is_refused_not_cut_short() {
        let t0 = Instant::now();
        let mut log = RecoveryLog::new(RecoveryConfig::default());
        let seen = log.next_offset();
        log.log(seen, vec![], vec![], frame("seen"), t0);
        log.persist("p", "s".into(), vec![], none(), t0);
        for _ in 0..10 {
            let offset = log.next_offset();
            log.log(offset, vec![], vec![], frame("4x"), t0);
        }
        let each = crate::engine::cost(&frame("4x"));
        assert!(matches!(
            log.restore("p", &seen.to_string(), t0, 10 * each - 1),
            Restore::TooMuchMissed
        ));
        // The session was consumed: the client starts afresh.
        assert!(unknown(log.restore("p", &seen.to_string(), t0, usize::MAX)));
        log.persist("q", "s".into(), vec![], none(), t0);
        assert!(matches!(
            log.restore("q", &seen.to_string(), t0, 10 * each),
            Restore::Restored(r) if r.missed.len() == 10
        ));
    }

    #[test]
    fn sessions_expire_in_order_and_their_order_stays_bounded() {
        let t0 = Instant::now();
        let config = RecoveryConfig {
            max_disconnection: Duration::from_secs(10),
            ..RecoveryConfig::default()
        };
        let mut log = RecoveryLog::new(config);
        let offset = log.next_offset();
        log.log(offset, vec![], vec![], frame("x"), t0);
        // A client that drops and recovers over and over within the window.
        for i in 0..10_000u64 {
            let now = t0 + Duration::from_micros(i);
            log.persist("p", "s".into(), vec![], none(), now);
            assert!(matches!(
                log.restore("p", "1", now, usize::MAX),
                Restore::Restored(_)
            ));
        }
        assert!(log.order_len() <= 32, "order holds {}", log.order_len());
        for i in 0..100u64 {
            log.persist(
                &format!("p{i}"),
                "s".into(),
                vec![],
                none(),
                t0 + Duration::from_secs(i / 10),
            );
        }
        // 11 s on: the sessions of the first second expired, the others remain.
        let offset = log.next_offset();
        log.log(
            offset,
            vec![],
            vec![],
            frame("y"),
            t0 + Duration::from_secs(11),
        );
        assert_eq!(log.sizes().0, 90);
    }

    #[test]
    fn sessions_keep_their_emit_ids_and_answers_within_the_budget() {
        use super::super::dedupe::{Admission, DedupeWindow};
        use crate::config::Config;
        use crate::engine::Codec;

        let t0 = Instant::now();
        let answer = StoredAck::typed(Codec::Json, &"ok").unwrap();
        let window = || DedupeWindow::new(&Config::default());
        let answered = |ids: &[&str]| {
            let mut w = window();
            for id in ids {
                if let Admission::Run(Some(seq)) = w.admit(&(*id).into(), Some(1)) {
                    w.settle(id, Some(seq), Some(answer.clone()));
                }
            }
            w.state()
        };
        let cost = answered(&["a"]).answer_bytes();
        let config = RecoveryConfig {
            max_dedupe_bytes: 2 * cost,
            ..RecoveryConfig::default()
        };
        let mut log = RecoveryLog::new(config);
        let offset = log.next_offset();
        log.log(offset, vec![], vec![], frame("x"), t0);
        log.persist("p1", "s1".into(), vec![], answered(&["a"]), t0);
        // Over the budget: the ids are kept, their answers are not.
        log.persist("p2", "s2".into(), vec![], answered(&["b", "c"]), t0);
        assert_eq!(log.dedupe_bytes, cost);
        let restored = |log: &mut RecoveryLog, pid: &str| {
            let Restore::Restored(restored) = log.restore(pid, "1", t0, usize::MAX) else {
                panic!("{pid} not restored")
            };
            let mut w = window();
            w.restore(restored.dedupe);
            w
        };
        let mut w = restored(&mut log, "p2");
        assert_eq!(w.admit(&"b".into(), Some(2)), Admission::Drop);
        let mut w = restored(&mut log, "p1");
        assert_eq!(
            w.admit(&"a".into(), Some(2)),
            Admission::Replay(answer.clone())
        );
        assert_eq!(log.dedupe_bytes, 0);

        // A run in flight when its socket dropped settles into the kept session.
        let mut w = window();
        w.admit(&"late".into(), Some(1));
        log.persist("p3", "s3".into(), vec![], w.state(), t0);
        assert!(log.settle_once("p3", "late", Some(answer.clone())));
        assert!(!log.settle_once("unknown", "late", None));
        assert_eq!(log.dedupe_bytes, cost);
        // Persisting the same pid again replaces the session and its bytes.
        log.persist("p3", "s3".into(), vec![], answered(&["x"]), t0);
        assert_eq!(log.dedupe_bytes, cost);
        log.persist("p3", "s3".into(), vec![], w.state(), t0);
        assert!(log.settle_once("p3", "late", Some(answer.clone())));
        let mut w = restored(&mut log, "p3");
        assert_eq!(w.admit(&"late".into(), Some(2)), Admission::Replay(answer));
        assert_eq!(log.dedupe_bytes, 0);
    }

    #[test]
    fn only_abnormal_closes_are_recoverable() {
        assert!(recoverable(DisconnectReason::TransportClose));
        assert!(recoverable(DisconnectReason::PingTimeout));
        assert!(!recoverable(DisconnectReason::ClientNamespaceDisconnect));
        assert!(!recoverable(DisconnectReason::ServerNamespaceDisconnect));
        assert!(!recoverable(DisconnectReason::SlowConsumer));
    }
}
