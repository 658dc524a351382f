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
/// | `max_buffered_packets` / `max_buffered_bytes` | 1024 / 8 MiB | outbound queue full: disconnect, reason `slow consumer` |
/// | `max_pending_acks` | 256 | `emit_with_ack` fails with [`crate::AckError::TooManyPending`] |
/// | `max_dynamic_namespaces` | 1000 | CONNECT_ERROR `Invalid namespace` |
/// | `max_attachments` | 64 | the packet is malformed: the connection closes |
/// | `max_rooms_per_socket` | 1000 | `join` refuses (returns `false`), logged |
/// | `max_inbound_messages_per_sec` / `max_inbound_bytes_per_sec` | 500 / 4 MiB (bursts ×2) | messages dropped and counted; sustained abuse disconnects, reason `rate limited` |
#[derive(Debug, Clone)]
pub struct Config {
    /// Engine.IO timings and payload limit.
    pub engine: engineio::Config,
    /// How long a new connection may take to join its first namespace.
    pub connect_timeout: Duration,
    /// Most packets waiting in one connection's outbound queue.
    pub max_buffered_packets: usize,
    /// Most bytes waiting in one connection's outbound queue.
    pub max_buffered_bytes: usize,
    /// Most acks one socket may await at once.
    pub max_pending_acks: usize,
    /// Most namespaces created on demand by dynamic namespace matchers.
    pub max_dynamic_namespaces: usize,
    /// Most attachments in one binary packet.
    pub max_attachments: usize,
    /// Allowed CORS origins for polling requests; empty means no CORS headers.
    pub cors_origins: Vec<String>,
    /// Most rooms one socket may be in (its own room included).
    pub max_rooms_per_socket: usize,
    /// Inbound messages per second per connection (bursts of twice this pass).
    pub max_inbound_messages_per_sec: u32,
    /// Inbound bytes per second per connection (bursts of twice this pass).
    pub max_inbound_bytes_per_sec: usize,
    /// Connection state recovery (off by default, as in the reference server).
    pub recovery: Option<crate::recovery::RecoveryConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            engine: engineio::Config::default(),
            connect_timeout: Duration::from_secs(45),
            max_buffered_packets: 1024,
            max_buffered_bytes: 8 << 20,
            max_pending_acks: 256,
            max_dynamic_namespaces: 1000,
            max_attachments: 64,
            cors_origins: Vec::new(),
            max_rooms_per_socket: 1000,
            max_inbound_messages_per_sec: 500,
            max_inbound_bytes_per_sec: 4 << 20,
            recovery: None,
        }
    }
}
