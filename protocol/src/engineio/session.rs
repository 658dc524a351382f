//! The per-session Engine.IO state machine.
//!
//! [`Session`] knows nothing of sockets or clocks. The driver feeds it packets with
//! [`Session::handle_packet`] (and, during an upgrade, [`Session::handle_probe_packet`]),
//! tells it the time with [`Session::handle_timeout`], and drains what it decided:
//! control packets for the active transport ([`Session::poll_transmit`]), the probe answer
//! for the upgrading websocket ([`Session::poll_probe_transmit`]), and application
//! [`Event`]s ([`Session::poll_event`]). [`Session::poll_timeout`] says when to call again.
//!
//! Application messages to the client do not pass through here: the driver owns the
//! outbound queue; the session only decides heartbeats, upgrades and closing.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use thiserror::Error;

use super::{Packet, TransportKind};

/// Timing and size limits of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Time between server pings (default 25 s).
    pub ping_interval: Duration,
    /// How long the server waits for a pong after a ping (default 20 s).
    pub ping_timeout: Duration,
    /// How long a websocket may take to complete an upgrade (default 10 s).
    pub upgrade_timeout: Duration,
    /// The largest message or polling body accepted, in bytes (default 1 MB).
    pub max_payload: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_payload: 1_000_000,
        }
    }
}

/// Why a session closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The client sent a close packet or closed its transport.
    TransportClose,
    /// The transport failed or the client broke a transport rule (e.g. two GETs at once).
    TransportError,
    /// The client sent something that does not decode.
    ParseError,
    /// No pong arrived within the ping timeout.
    PingTimeout,
    /// The server closed the session.
    ForcedClose,
}

impl CloseReason {
    /// The reason string Socket.IO reports for a socket on this session.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TransportClose => "transport close",
            CloseReason::TransportError => "transport error",
            CloseReason::ParseError => "parse error",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ForcedClose => "forced close",
        }
    }
}

/// What the session tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A text message from the client.
    Message(String),
    /// A binary message from the client.
    Binary(Bytes),
    /// The upgrade completed: the websocket is now the session's transport, and polling
    /// requests for this session must be refused.
    Upgraded,
    /// The upgrade was abandoned (timeout or a bad packet): close the probing websocket.
    UpgradeAborted,
    /// The session closed; nothing more will happen.
    Closed(CloseReason),
}

/// A call the session refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SessionError {
    /// The session is closed; drop the request or frame.
    #[error("session is closed")]
    Closed,
    /// An upgrade was requested on a session that is not on polling, or while another
    /// upgrade is under way. Close the new websocket; the session goes on.
    #[error("upgrade not allowed in this state")]
    UpgradeNotAllowed,
    /// The probing websocket sent something other than `2probe` then `5`. The upgrade is
    /// abandoned; close that websocket; the session goes on.
    #[error("invalid packet during upgrade")]
    InvalidUpgradePacket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upgrade {
    None,
    /// A websocket arrived with this session's id; waiting for `2probe`.
    Awaiting {
        deadline: Instant,
    },
    /// `3probe` was sent; polls are answered with noop until `5` arrives.
    Probed {
        deadline: Instant,
    },
}

/// One Engine.IO session's protocol state.
///
/// A server holds one per connection for the connection's whole life, so it is kept small:
/// the limits are shared (`Arc`), one instant serves the heartbeat (the next ping, or the
/// pong awaited), and the only control packets it sends (a ping, at most one at a time,
/// and the probe's one answer) are flags.
#[derive(Debug)]
pub struct Session {
    config: Arc<Config>,
    transport: TransportKind,
    upgrade: Upgrade,
    /// When the next ping is due, or (with `awaiting_pong`) when the pong to the last one
    /// is; `None` once closed.
    heartbeat: Option<Instant>,
    awaiting_pong: bool,
    /// A ping is to be sent on the active transport.
    ping_due: bool,
    /// The probing websocket is owed its `3probe`.
    probe_pong_due: bool,
    events: VecDeque<Event>,
    closed: Option<CloseReason>,
}

impl Session {
    /// A session just opened on `transport` at `now`, with the limits `config` (shared by
    /// the sessions of a server). The first ping is due one interval later.
    pub fn new(config: Arc<Config>, transport: TransportKind, now: Instant) -> Session {
        Session {
            heartbeat: Some(now + config.ping_interval),
            config,
            transport,
            upgrade: Upgrade::None,
            awaiting_pong: false,
            ping_due: false,
            probe_pong_due: false,
            events: VecDeque::new(),
            closed: None,
        }
    }

    /// The session's limits.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The transport currently carrying the session.
    pub fn transport(&self) -> TransportKind {
        self.transport
    }

    /// Why the session closed, if it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.closed
    }

    /// Whether the session has closed.
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Whether a websocket is probing this session.
    pub fn is_upgrading(&self) -> bool {
        self.upgrade != Upgrade::None
    }

    /// Whether polling GETs must be answered with a noop right away: the probe succeeded and
    /// the client is about to move to the websocket.
    pub fn polls_answer_noop(&self) -> bool {
        matches!(self.upgrade, Upgrade::Probed { .. })
    }

    /// Feed a packet received on the active transport.
    pub fn handle_packet(&mut self, now: Instant, packet: Packet) -> Result<(), SessionError> {
        if self.closed.is_some() {
            return Err(SessionError::Closed);
        }
        match packet {
            Packet::Pong(_) => {
                if std::mem::take(&mut self.awaiting_pong) {
                    self.heartbeat = Some(now + self.config.ping_interval);
                }
            }
            Packet::Message(text) => self.events.push_back(Event::Message(text)),
            Packet::Binary(bytes) => self.events.push_back(Event::Binary(bytes)),
            Packet::Close => self.close(CloseReason::TransportClose),
            // A v4 client never pings and never sends open or noop; upgrade packets belong to
            // the probing websocket. The reference server ignores all of these.
            Packet::Ping(_) | Packet::Open(_) | Packet::Noop | Packet::Upgrade => {}
        }
        Ok(())
    }

    /// A websocket arrived carrying this session's id: start an upgrade.
    pub fn begin_upgrade(&mut self, now: Instant) -> Result<(), SessionError> {
        if self.closed.is_some() {
            return Err(SessionError::Closed);
        }
        if self.transport != TransportKind::Polling || self.upgrade != Upgrade::None {
            return Err(SessionError::UpgradeNotAllowed);
        }
        self.upgrade = Upgrade::Awaiting {
            deadline: now + self.config.upgrade_timeout,
        };
        Ok(())
    }

    /// Feed a packet received on the websocket that is probing this session.
    pub fn handle_probe_packet(&mut self, packet: Packet) -> Result<(), SessionError> {
        if self.closed.is_some() {
            return Err(SessionError::Closed);
        }
        match (self.upgrade, packet) {
            (Upgrade::Awaiting { deadline }, Packet::Ping(data)) if data == "probe" => {
                self.probe_pong_due = true;
                self.upgrade = Upgrade::Probed { deadline };
                Ok(())
            }
            (Upgrade::Probed { .. }, Packet::Upgrade) => {
                self.upgrade = Upgrade::None;
                self.transport = TransportKind::WebSocket;
                self.events.push_back(Event::Upgraded);
                Ok(())
            }
            (Upgrade::None, _) => Err(SessionError::UpgradeNotAllowed),
            _ => {
                self.abort_upgrade();
                Err(SessionError::InvalidUpgradePacket)
            }
        }
    }

    /// The probing websocket went away before completing the upgrade.
    pub fn abort_upgrade(&mut self) {
        if self.upgrade != Upgrade::None {
            self.upgrade = Upgrade::None;
            self.probe_pong_due = false;
            self.events.push_back(Event::UpgradeAborted);
        }
    }

    /// The transport under the session failed or was closed by the peer.
    pub fn handle_transport_closed(&mut self, reason: CloseReason) {
        self.close(reason);
    }

    /// Close the session for `reason` (no-op if already closed).
    pub fn close(&mut self, reason: CloseReason) {
        if self.closed.is_none() {
            self.closed = Some(reason);
            self.upgrade = Upgrade::None;
            self.heartbeat = None;
            self.awaiting_pong = false;
            self.ping_due = false;
            self.probe_pong_due = false;
            self.events.push_back(Event::Closed(reason));
        }
    }

    /// Advance the session to `now`: send a due ping, expire a missing pong or a stalled
    /// upgrade. Call it at [`Session::poll_timeout`], and before serving any request (so a
    /// request that arrives after a deadline sees the session as it should be).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed.is_some() {
            return;
        }
        match self.heartbeat {
            Some(deadline) if self.awaiting_pong && now >= deadline => {
                self.close(CloseReason::PingTimeout);
                return;
            }
            Some(due) if !self.awaiting_pong && now >= due => {
                self.ping_due = true;
                // Measured from when the ping was due, not from when the timer fired, so
                // timer jitter never extends the client's allowance.
                self.heartbeat = Some(due + self.config.ping_timeout);
                self.awaiting_pong = true;
                if now >= due + self.config.ping_timeout {
                    self.close(CloseReason::PingTimeout);
                    return;
                }
            }
            _ => {}
        }
        if let Upgrade::Awaiting { deadline } | Upgrade::Probed { deadline } = self.upgrade {
            if now >= deadline {
                self.abort_upgrade();
            }
        }
    }

    /// The next instant at which [`Session::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed.is_some() {
            return None;
        }
        let upgrade = match self.upgrade {
            Upgrade::None => None,
            Upgrade::Awaiting { deadline } | Upgrade::Probed { deadline } => Some(deadline),
        };
        [self.heartbeat, upgrade].into_iter().flatten().min()
    }

    /// The next control packet to send on the active transport.
    pub fn poll_transmit(&mut self) -> Option<Packet> {
        std::mem::take(&mut self.ping_due).then(|| Packet::Ping(String::new()))
    }

    /// Whether control packets are waiting for the active transport.
    pub fn has_transmit(&self) -> bool {
        self.ping_due
    }

    /// The next packet to send on the probing websocket.
    pub fn poll_probe_transmit(&mut self) -> Option<Packet> {
        std::mem::take(&mut self.probe_pong_due).then(|| Packet::Pong("probe".to_owned()))
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<Event> {
        pop_or_release(&mut self.events)
    }
}

/// The front of `queue`; once it is drained, its buffer is released, so an idle session
/// holds none (a session lives as long as its connection, and most of that time is idle).
fn pop_or_release<T>(queue: &mut VecDeque<T>) -> Option<T> {
    let front = queue.pop_front();
    if front.is_none() && queue.capacity() > 0 {
        *queue = VecDeque::new();
    }
    front
}
