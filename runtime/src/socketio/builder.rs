//! [`SocketIoBuilder`]: the options of a [`SocketIo`], each with its default.

use std::time::Duration;

use super::recovery::RecoveryConfig;
use super::server::SocketIo;
use crate::config::Config;

/// Builds a [`SocketIo`]; every option has the default of [`Config`].
#[derive(Debug, Clone)]
pub struct SocketIoBuilder {
    config: Config,
    path: String,
}

impl SocketIoBuilder {
    /// Mount path (default `/socket.io`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into().trim_end_matches('/').to_owned();
        self
    }

    /// Time between server pings.
    pub fn ping_interval(mut self, d: Duration) -> Self {
        self.config.engine.ping_interval = d;
        self
    }

    /// How long to wait for a pong.
    pub fn ping_timeout(mut self, d: Duration) -> Self {
        self.config.engine.ping_timeout = d;
        self
    }

    /// How long an upgrade may take.
    pub fn upgrade_timeout(mut self, d: Duration) -> Self {
        self.config.engine.upgrade_timeout = d;
        self
    }

    /// Largest accepted message or polling body, in bytes.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.config.engine.max_payload = bytes;
        self
    }

    /// How long a connection may take to join its first namespace.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.config.connect_timeout = d;
        self
    }

    /// Most bytes waiting in one connection's outbound queue (every frame counts).
    pub fn max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.config.max_buffered_bytes = bytes;
        self
    }

    /// How long queued frames may wait without the transport writing any of them.
    pub fn write_timeout(mut self, d: Duration) -> Self {
        self.config.write_timeout = d;
        self
    }

    /// Most open Engine.IO sessions, in all and from one peer address.
    pub fn max_connections(mut self, total: usize, per_ip: usize) -> Self {
        self.config.max_connections = total;
        self.config.max_connections_per_ip = per_ip;
        self
    }

    /// Allow sessions from pages of `origin` only (call once per origin; `*` for any).
    /// Requests without an `Origin` header (non-browser clients) are always allowed.
    pub fn allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.config.allowed_origins.push(origin.into());
        self
    }

    /// Most acks a socket may await at once.
    pub fn max_pending_acks(mut self, n: usize) -> Self {
        self.config.max_pending_acks = n;
        self
    }

    /// Turn on connection state recovery: a client that drops abnormally and reconnects within
    /// the window gets its socket id, its rooms and the broadcasts it missed.
    pub fn connection_state_recovery(mut self, config: RecoveryConfig) -> Self {
        self.config.recovery = Some(config);
        self
    }

    /// Allow cross-origin polling from `origin` (`*` for any).
    pub fn cors_origin(mut self, origin: impl Into<String>) -> Self {
        self.config.cors_origins.push(origin.into());
        self
    }

    /// Replace the whole configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Build the Socket.IO server.
    pub fn build(self) -> SocketIo {
        SocketIo::new(self.config, self.path, false)
    }

    /// Build a raw Engine.IO endpoint that echoes every message back (text stays text,
    /// binary stays binary): the server the Engine.IO protocol test suite expects.
    pub fn build_engine_echo(self) -> SocketIo {
        SocketIo::new(self.config, self.path, true)
    }
}

impl Default for SocketIoBuilder {
    fn default() -> Self {
        SocketIoBuilder {
            config: Config::default(),
            path: "/socket.io".to_owned(),
        }
    }
}
