//! The one interface between the engine and the protocol above it.
//!
//! The engine runs sessions; what their messages mean is the business of an [`Upper`], which
//! opens one [`SessionHandler`] per session. Socket.IO is one upper (namespaces, sockets,
//! acks); the raw Engine.IO echo of the conformance suite is another. Everything the engine
//! tells its upper goes through [`SessionHandler`]'s few methods; everything the upper tells
//! the engine goes through a [`ConnHandle`](super::ConnHandle): queue frames, hand the
//! session a message of its own ([`ConnHandle::upcall`](super::ConnHandle::upcall)), close.

use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use super::headers::Headers;
use super::query::Query;
use tickwire_protocol::engineio::CloseReason;

use super::{ConnHandle, Frame};

/// A handler's future, run on the session's worker thread (it need not be `Send`).
pub(crate) type LocalFuture = Pin<Box<dyn Future<Output = ()> + 'static>>;

/// The client broke the protocol above the engine: the session closes.
#[derive(Debug)]
pub(crate) struct ProtocolViolation(pub(crate) String);

/// Why the engine closed a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseCause {
    /// The client closed the transport.
    TransportClose,
    /// The transport failed.
    TransportError,
    /// The client sent something undecodable.
    ParseError,
    /// The client stopped answering pings.
    PingTimeout,
    /// The server closed the session.
    ForcedClose,
    /// The server shut down.
    ServerShuttingDown,
    /// The client did not drain its outbound queue.
    SlowConsumer,
    /// The client kept sending far over its inbound limits.
    RateLimited,
}

impl CloseCause {
    /// The cause as logged and counted (Socket.IO's spelling of the reason).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CloseCause::TransportClose => "transport close",
            CloseCause::TransportError => "transport error",
            CloseCause::ParseError => "parse error",
            CloseCause::PingTimeout => "ping timeout",
            CloseCause::ForcedClose => "forced close",
            CloseCause::ServerShuttingDown => "server shutting down",
            CloseCause::SlowConsumer => "slow consumer",
            CloseCause::RateLimited => "rate limited",
        }
    }
}

impl From<CloseReason> for CloseCause {
    fn from(reason: CloseReason) -> CloseCause {
        match reason {
            CloseReason::TransportClose => CloseCause::TransportClose,
            CloseReason::TransportError => CloseCause::TransportError,
            CloseReason::ParseError => CloseCause::ParseError,
            CloseReason::PingTimeout => CloseCause::PingTimeout,
            CloseReason::ForcedClose => CloseCause::ForcedClose,
        }
    }
}

/// What the client presented in the request that opened its session.
#[derive(Debug, Clone)]
pub(crate) struct RequestInfo {
    /// The request's headers, without those of the websocket handshake itself.
    pub(crate) headers: Headers,
    /// The decoded query parameters.
    pub(crate) query: Query,
    /// The peer address, when known.
    pub(crate) address: Option<SocketAddr>,
    /// When the session was opened.
    pub(crate) issued: SystemTime,
}

/// What a session does after an upcall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterUpcall {
    /// Go on.
    Continue,
    /// Close the session.
    Close(CloseCause),
}

/// The protocol above the engine, for one session. Called on the session's own thread, in
/// the order things happen; never after [`SessionHandler::on_close`].
pub(crate) trait SessionHandler: 'static {
    /// A message from the client. A returned future is run on this thread.
    fn on_message(&mut self, frame: Frame) -> Result<Option<LocalFuture>, ProtocolViolation>;

    /// The inbound limiter dropped an attachment: drop the packet it belongs to.
    fn abandon_partial(&mut self) {}

    /// Whether the session did what it must within [`Upper::establish_timeout`] (for
    /// Socket.IO: joined a namespace).
    fn is_established(&self) -> bool {
        true
    }

    /// A message the upper sent itself through [`ConnHandle::upcall`](super::ConnHandle::upcall),
    /// now on the session's thread. `closing` when the session is already closing.
    fn on_upcall(&mut self, _message: Box<dyn Any + Send>, _closing: bool) -> AfterUpcall {
        AfterUpcall::Continue
    }

    /// The session closes for `cause`.
    fn on_close(&mut self, cause: CloseCause);
}

/// What a server mounts on the engine: it opens the handler of each new session.
pub(crate) trait Upper: Send + Sync + 'static {
    /// The handler of a new session, which writes through `conn`.
    fn open(&self, conn: ConnHandle, request: RequestInfo) -> Box<dyn SessionHandler>;

    /// How long a session may take to become established; `None` for no limit.
    fn establish_timeout(&self) -> Option<Duration>;
}
