//! [`DisconnectReason`]: why a socket disconnected, in Socket.IO's words.

use crate::engine::CloseCause;

/// Why a socket disconnected (Socket.IO's reason strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// The client left the namespace (`socket.disconnect()` on the client).
    ClientNamespaceDisconnect,
    /// The server removed the socket (`socket.disconnect()`).
    ServerNamespaceDisconnect,
    /// The client closed the connection.
    TransportClose,
    /// The transport failed.
    TransportError,
    /// The client stopped answering pings.
    PingTimeout,
    /// The client sent a malformed packet.
    ParseError,
    /// The server closed the connection.
    ForcedClose,
    /// The server shut down.
    ServerShuttingDown,
    /// The client could not keep up with its outbound queue.
    SlowConsumer,
    /// The client kept sending far over its inbound rate limit.
    RateLimited,
}

impl DisconnectReason {
    /// The reason as Socket.IO spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::ClientNamespaceDisconnect => "client namespace disconnect",
            DisconnectReason::ServerNamespaceDisconnect => "server namespace disconnect",
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::ForcedClose => "forced close",
            DisconnectReason::ServerShuttingDown => "server shutting down",
            DisconnectReason::SlowConsumer => "slow consumer",
            DisconnectReason::RateLimited => "rate limited",
        }
    }
}

impl From<CloseCause> for DisconnectReason {
    fn from(cause: CloseCause) -> DisconnectReason {
        match cause {
            CloseCause::TransportClose => DisconnectReason::TransportClose,
            CloseCause::TransportError => DisconnectReason::TransportError,
            CloseCause::ParseError => DisconnectReason::ParseError,
            CloseCause::PingTimeout => DisconnectReason::PingTimeout,
            CloseCause::ForcedClose => DisconnectReason::ForcedClose,
            CloseCause::ServerShuttingDown => DisconnectReason::ServerShuttingDown,
            CloseCause::SlowConsumer => DisconnectReason::SlowConsumer,
            CloseCause::RateLimited => DisconnectReason::RateLimited,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_close_cause_keeps_its_name_as_a_disconnect_reason() {
        for cause in [
            CloseCause::TransportClose,
            CloseCause::TransportError,
            CloseCause::ParseError,
            CloseCause::PingTimeout,
            CloseCause::ForcedClose,
            CloseCause::ServerShuttingDown,
            CloseCause::SlowConsumer,
            CloseCause::RateLimited,
        ] {
            assert_eq!(DisconnectReason::from(cause).as_str(), cause.as_str());
        }
    }
}
