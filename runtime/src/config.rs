//! Server configuration: every limit, with its default.

use std::time::Duration;

use tickwire_protocol::engineio;

/// Limits and timings of a [`crate::SocketIo`] server. Every field has a default; build one
/// with [`crate::SocketIo::builder`].
///
/// | limit | default | when hit |
/// |---|---|---|
/// | `ping_interval` / `ping_timeout` | 25 s / 20 s | no pong: the session closes, reason `ping timeout` |
/// | `upgrade_timeout` | 10 s | the probing websocket is closed; polling goes on |
/// | `max_payload` | 1 MB | polling: HTTP 413; websocket: close code 1009 |
/// | `connect_timeout` | 45 s | no namespace joined: the connection closes |
/// | `max_buffered_bytes` | 8 MiB | outbound queue over budget (every frame counts, acks included): disconnect, reason `slow consumer` |
/// | `write_timeout` | 20 s | frames queued and none written for this long: disconnect, reason `slow consumer` |
/// | `max_pending_acks` | 256 | `emit_with_ack` fails with [`crate::AckError::TooManyPending`] |
/// | `max_dynamic_namespaces` | 1000 | CONNECT_ERROR `Invalid namespace` |
/// | `dynamic_namespace_grace` | 30 s | an empty dynamic namespace is removed after this long |
/// | `max_attachments` | 64 | the packet is malformed: the connection closes |
/// | `max_rooms_per_socket` | 1000 | `join` refuses (returns `false`), logged |
/// | `max_inbound_messages_per_sec` / `max_inbound_bytes_per_sec` | 500 / 4 MiB (bursts ×2) | messages dropped and counted; sustained abuse disconnects, reason `rate limited` |
/// | `max_connections` | 50,000 | new sessions refused with HTTP 503, counted |
/// | `max_connections_per_ip` | unlimited | new sessions from that address refused with HTTP 503, counted |
/// | `allowed_origins` | any | a request whose `Origin` is not listed is refused with HTTP 403, counted |
/// | `emit_dedupe_window` | 256 ids per socket | the oldest emit id is forgotten: a later copy of it runs again |
/// | `emit_dedupe_max_ack_bytes` | 64 KiB per socket | the oldest kept answers are forgotten: their duplicates are dropped unanswered |
#[derive(Debug, Clone)]
pub struct Config {
    /// Engine.IO timings and payload limit.
    pub engine: engineio::Config,
    /// How long a new connection may take to join its first namespace.
    pub connect_timeout: Duration,
    /// Most bytes waiting in one connection's outbound queue. Every queued frame counts
    /// (acks and other control packets included), each at its length plus a small fixed
    /// cost for its queue entry.
    pub max_buffered_bytes: usize,
    /// How long frames may wait without the transport writing any of them (a websocket
    /// whose socket stays unwritable, a polling client that stops fetching).
    pub write_timeout: Duration,
    /// Most acks one socket may await at once.
    pub max_pending_acks: usize,
    /// Most namespaces created on demand by dynamic namespace matchers at once.
    pub max_dynamic_namespaces: usize,
    /// How long a namespace created on demand stays once its last socket has left.
    pub dynamic_namespace_grace: Duration,
    /// Most attachments in one binary packet.
    pub max_attachments: usize,
    /// Allowed CORS origins for polling requests; empty means no CORS headers.
    pub cors_origins: Vec<String>,
    /// Origins allowed to open sessions (polling requests and websocket upgrades); empty
    /// allows any. A request without an `Origin` header (a non-browser client) is allowed.
    pub allowed_origins: Vec<String>,
    /// Most rooms one socket may be in (its own room included).
    pub max_rooms_per_socket: usize,
    /// Inbound messages per second per connection (bursts of twice this pass).
    pub max_inbound_messages_per_sec: u32,
    /// Inbound bytes per second per connection (bursts of twice this pass).
    pub max_inbound_bytes_per_sec: usize,
    /// Most open Engine.IO sessions.
    pub max_connections: usize,
    /// Most open Engine.IO sessions from one peer address (the TCP peer: behind a proxy,
    /// every client shares the proxy's address).
    pub max_connections_per_ip: usize,
    /// Connection state recovery (off by default, as in the reference server).
    pub recovery: Option<RecoveryConfig>,
    /// Exactly-once emits (`tw:once`, see [`crate::Socket::emit_dedupe_stats`]): how many
    /// emit ids each socket remembers (default 256). A duplicate of a remembered id never
    /// runs its handler again; past the window the oldest id is forgotten and a later copy of
    /// it runs again. `0` turns deduplication off (every copy runs).
    pub emit_dedupe_window: usize,
    /// Exactly-once emits: the bytes of answers each socket keeps for duplicates (default
    /// 64 KiB). Past it the oldest answers are forgotten (their ids stay remembered, so a
    /// duplicate of one is dropped unanswered rather than run twice); an answer larger than
    /// this is never kept.
    pub emit_dedupe_max_ack_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            engine: engineio::Config::default(),
            connect_timeout: Duration::from_secs(45),
            max_buffered_bytes: 8 << 20,
            write_timeout: Duration::from_secs(20),
            max_pending_acks: 256,
            max_dynamic_namespaces: 1000,
            dynamic_namespace_grace: Duration::from_secs(30),
            max_attachments: 64,
            cors_origins: Vec::new(),
            allowed_origins: Vec::new(),
            max_rooms_per_socket: 1000,
            max_inbound_messages_per_sec: 500,
            max_inbound_bytes_per_sec: 4 << 20,
            max_connections: 50_000,
            max_connections_per_ip: usize::MAX,
            recovery: None,
            emit_dedupe_window: 256,
            emit_dedupe_max_ack_bytes: 64 << 10,
        }
    }
}

impl Config {
    /// Whether a request with this `Origin` header may open or use a session.
    pub(crate) fn origin_allowed(&self, origin: Option<&[u8]>) -> bool {
        match origin {
            _ if self.allowed_origins.is_empty() => true,
            None => true,
            Some(origin) => self
                .allowed_origins
                .iter()
                .any(|allowed| allowed == "*" || allowed.as_bytes() == origin),
        }
    }
}

/// Settings of connection state recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryConfig {
    /// How long a dropped session (and the packets it may miss) is kept (default 2 min).
    pub max_disconnection: Duration,
    /// Whether a recovered socket skips the namespace's middlewares (default true).
    pub skip_middlewares: bool,
    /// Most broadcast packets kept per namespace (default 10,000); older ones are dropped and
    /// a client whose offset fell out of the log is not recovered.
    pub max_packets: usize,
    /// Most dropped sessions kept per namespace (default 100,000).
    pub max_sessions: usize,
    /// Most bytes of exactly-once answers the dropped sessions of one namespace keep in all
    /// (default 64 MiB; each session holds at most its socket's
    /// [`Config::emit_dedupe_max_ack_bytes`]). A session persisted past it keeps its emit ids
    /// but not their answers: a duplicate of one is then dropped unanswered, never run twice.
    pub max_dedupe_bytes: usize,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            max_disconnection: Duration::from_secs(120),
            skip_middlewares: true,
            max_packets: 10_000,
            max_sessions: 100_000,
            max_dedupe_bytes: 64 << 20,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked_only_when_listed() {
        let mut config = Config::default();
        assert!(config.origin_allowed(Some(b"https://evil.example")));
        config.allowed_origins = vec!["https://game.example".into()];
        assert!(config.origin_allowed(Some(b"https://game.example")));
        assert!(!config.origin_allowed(Some(b"https://evil.example")));
        assert!(!config.origin_allowed(Some(b"https://game.example.evil")));
        // Non-browser clients send no Origin.
        assert!(config.origin_allowed(None));
    }
}
