use thiserror::Error;

/// A frame or polling payload that is not valid Engine.IO v4.
///
/// The protocol's answer to any of these is to close the session: polling answers HTTP 400,
/// a websocket is closed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The frame was empty: every packet has at least its type digit.
    #[error("empty packet")]
    Empty,
    /// The first character is not one of the packet type digits `0`..`6`.
    #[error("unknown packet type {0:?}")]
    UnknownType(char),
    /// A `b`-prefixed polling packet whose body is not valid base64.
    #[error("invalid base64 in binary packet")]
    InvalidBase64,
    /// The payload exceeds the configured `maxPayload`.
    #[error("payload of {size} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Size received.
        size: usize,
        /// Configured limit.
        max: usize,
    },
}

/// A bad Engine.IO HTTP request, with the error codes of the reference server.
///
/// Polling requests answer HTTP 400 (403 for [`RequestError::Forbidden`]) with the JSON body
/// of [`RequestError::body`]; websocket upgrades are refused the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RequestError {
    /// `transport` is missing or not `polling` / `websocket`. Code 0.
    #[error("Transport unknown")]
    TransportUnknown,
    /// `sid` names no live session, or a session on another transport. Code 1.
    #[error("Session ID unknown")]
    SessionIdUnknown,
    /// A handshake (no `sid`) made with a method other than GET. Code 2.
    #[error("Bad handshake method")]
    BadHandshakeMethod,
    /// Anything else malformed about the request. Code 3.
    #[error("Bad request")]
    BadRequest,
    /// Refused by the application (e.g. an origin check). Code 4.
    #[error("Forbidden")]
    Forbidden,
    /// `EIO` is missing or not `4`. Code 5.
    #[error("Unsupported protocol version")]
    UnsupportedProtocolVersion,
}

impl RequestError {
    /// The numeric code the reference server sends in its error body.
    pub fn code(self) -> u8 {
        match self {
            RequestError::TransportUnknown => 0,
            RequestError::SessionIdUnknown => 1,
            RequestError::BadHandshakeMethod => 2,
            RequestError::BadRequest => 3,
            RequestError::Forbidden => 4,
            RequestError::UnsupportedProtocolVersion => 5,
        }
    }

    /// The HTTP status to answer with.
    pub fn http_status(self) -> u16 {
        match self {
            RequestError::Forbidden => 403,
            _ => 400,
        }
    }

    /// The JSON error body: `{"code":N,"message":"..."}`.
    pub fn body(self) -> String {
        format!(r#"{{"code":{},"message":"{}"}}"#, self.code(), self)
    }
}
