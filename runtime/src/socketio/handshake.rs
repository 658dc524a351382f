//! [`Handshake`]: what a client presented when it connected to a namespace.

use std::net::SocketAddr;
use std::time::SystemTime;

use serde_json::Value;

use crate::engine::{Headers, Query, RequestInfo};

/// What the client presented when it connected.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The HTTP headers of the request that opened the connection (one copy per connection,
    /// shared by its sockets), without those of the websocket handshake itself
    /// (`Connection`, `Upgrade`, `Sec-WebSocket-Key`, `-Version`, `-Extensions`).
    pub headers: Headers,
    /// The decoded query parameters of that request (one copy per connection too).
    pub query: Query,
    /// The CONNECT packet's auth payload (`{}` when none).
    pub auth: Value,
    /// The peer address, when known.
    pub address: Option<SocketAddr>,
    /// When the connection was opened.
    pub issued: SystemTime,
}

impl Handshake {
    /// The first query parameter named `key`.
    pub fn query_param(&self, key: &str) -> Option<&str> {
        self.query.get(key)
    }
}

impl Handshake {
    /// The handshake of a connection opened with `request`, before any CONNECT (`auth` is
    /// `{}` until a CONNECT packet brings one).
    pub(crate) fn from_request(request: RequestInfo) -> Handshake {
        Handshake {
            headers: request.headers,
            query: request.query,
            auth: Value::Object(Default::default()),
            address: request.address,
            issued: request.issued,
        }
    }
}
