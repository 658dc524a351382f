//! Why a token was refused ([`AuthError`], each with its CONNECT_ERROR reason) and why a
//! revocation did not go through ([`RevokeError`]).

use thiserror::Error;

use crate::socketio::ConnectError;

/// Why a token was not accepted (at connect, at renewal) or not issued.
///
/// At connect the client gets CONNECT_ERROR with [`AuthError::message`] as `err.message`
/// and `{"code": `[`AuthError::code`]`}` as `err.data`; a refused renewal answers the ack
/// with the code as `error` and the message as `message`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// The handshake's `auth` has no `token` (code `missing`): get a token, then connect.
    #[error("token missing")]
    Missing,
    /// The token is not a signed token of this server's form: not a string, over the size
    /// bound, not three base64 parts, another algorithm, or claims that do not parse (code
    /// `malformed`). The detail is logged, not sent.
    #[error("token malformed")]
    Malformed(String),
    /// The token's `exp` has passed (code `expired`): get a new token.
    #[error("token expired")]
    Expired,
    /// The signature does not match the claims under this server's secret: a forged or
    /// altered token, or one of another secret (code `bad_signature`).
    #[error("token has a bad signature")]
    BadSignature,
    /// The token's session was revoked (code `revoked`): it is refused on every node.
    #[error("token revoked")]
    Revoked,
    /// A renewal past the session's limit (code `session_limit`): sign in again.
    #[error("session too old to renew")]
    SessionLimit,
    /// The revocation list could not be read, so the token is refused rather than let in
    /// unchecked (code `unavailable`): try again later.
    #[error("token check unavailable")]
    Unavailable(String),
    /// Custom claims that are not a JSON object, or use a reserved name (issuing only).
    #[error("custom claims refused: {0}")]
    Claims(String),
}

impl AuthError {
    /// The machine-readable reason sent to the client.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Malformed(_) => "malformed",
            AuthError::Expired => "expired",
            AuthError::BadSignature => "bad_signature",
            AuthError::Revoked => "revoked",
            AuthError::SessionLimit => "session_limit",
            AuthError::Unavailable(_) => "unavailable",
            AuthError::Claims(_) => "claims",
        }
    }

    /// What the client is told (the detail of a malformed token or an unreachable store
    /// stays in the server's log).
    pub fn message(&self) -> &'static str {
        match self {
            AuthError::Missing => "token missing",
            AuthError::Malformed(_) => "token malformed",
            AuthError::Expired => "token expired",
            AuthError::BadSignature => "token has a bad signature",
            AuthError::Revoked => "token revoked",
            AuthError::SessionLimit => "session too old to renew",
            AuthError::Unavailable(_) => "token check unavailable",
            AuthError::Claims(_) => "custom claims refused",
        }
    }

    /// The refusal of a namespace connection for this reason.
    pub fn to_connect_error(&self) -> ConnectError {
        ConnectError::new(self.message()).with_data(serde_json::json!({ "code": self.code() }))
    }
}

/// Why a revocation did not go through.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RevokeError {
    /// The in-memory list holds its capacity of unexpired revocations: raise
    /// `MemoryRevocations::new`'s capacity, shorten token lifetimes, or use Redis.
    #[error("the revocation list is full")]
    Full,
    /// Redis did not take the revocation: nothing was revoked, try again.
    #[error("revocation not stored: {0}")]
    Store(String),
}
