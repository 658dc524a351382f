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

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use super::*;

    /// A connection keeps one of these for its life, behind an `Arc` (16 bytes of counts)
    /// shared by its sockets that bring no auth: up to 176 bytes it takes the allocator's
    /// 192-byte class, past that 224 (benches/README, "Idle memory, byte by byte"). It is
    /// 152 (the auth `Value` alone is 72): 8 bytes less and it would fit the 160-byte class.
    #[test]
    fn a_handshake_stays_in_its_size_class() {
        let size = std::mem::size_of::<Handshake>();
        assert!(size <= 176, "a handshake is {size} bytes");
    }
}
