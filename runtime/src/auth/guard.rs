//! The socket side of a protected namespace: admission (the connect middleware), renewal
//! (the [`RENEW_EVENT`] handler) and the end of a socket whose token lapsed or was revoked.

use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;

use super::claims::Claims;
use super::error::AuthError;
use super::live::expiry_timer;
use super::session_auth::{Counters, Inner};
use crate::socketio::{AckSender, ConnectError, Payload, Socket};

/// The event a client emits, with an ack and no argument, to renew its token over the
/// socket. The answer is `{"token", "exp", "error", "message"}`: a new token and its expiry
/// (seconds since the epoch) with `error` and `message` empty, or `token` empty, `exp` 0 and
/// the refusal's [`AuthError::code`] and [`AuthError::message`]. (One shape for both
/// codecs: with the compact one it is a postcard struct of a string, a u64 and two strings.)
pub const RENEW_EVENT: &str = "tw:renew";

/// The event the server emits just before it disconnects a socket whose token expired
/// unrenewed or whose session was revoked: `{"code": "expired" | "revoked", "message"}`
/// (compact: a struct of two strings).
pub const UNAUTHORIZED_EVENT: &str = "tw:unauthorized";

/// The answer of a renewal.
#[derive(Debug, Serialize)]
struct RenewAnswer<'a> {
    token: &'a str,
    exp: u64,
    error: &'a str,
    message: &'a str,
}

impl RenewAnswer<'_> {
    fn refused(why: &AuthError) -> RenewAnswer<'static> {
        RenewAnswer {
            token: "",
            exp: 0,
            error: why.code(),
            message: why.message(),
        }
    }
}

/// Why a socket ends.
#[derive(Debug, Serialize)]
struct Unauthorized {
    code: &'static str,
    message: &'static str,
}

/// The token of a CONNECT's auth (`{"token": "..."}`).
fn token_of(auth: &Value) -> Result<&str, AuthError> {
    match auth.get("token") {
        None | Some(Value::Null) => Err(AuthError::Missing),
        Some(Value::String(token)) => Ok(token),
        Some(_) => Err(AuthError::Malformed("the token is not a string".into())),
    }
}

/// The connect middleware of a protected namespace.
pub(crate) async fn admit(inner: &Arc<Inner>, socket: &Socket) -> Result<(), ConnectError> {
    let verified = match verified(inner, socket).await {
        Ok(claims) => {
            let jti = claims.jti.clone();
            start(inner, socket, claims);
            // Revoked while the check was on its way: refused (the refusal's close untracks
            // the socket).
            if inner.recently_revoked(&jti) {
                Err(AuthError::Revoked)
            } else {
                Ok(())
            }
        }
        Err(error) => Err(error),
    };
    match verified {
        Ok(()) => {
            Counters::add(&inner.counters.admitted);
            Ok(())
        }
        Err(error) => {
            inner.counters.refused(&error);
            tracing::debug!(socket = socket.id(), %error, detail = ?error, "auth: connection refused");
            Err(error.to_connect_error())
        }
    }
}

async fn verified(inner: &Inner, socket: &Socket) -> Result<Claims, AuthError> {
    let token = token_of(&socket.handshake().auth)?;
    let claims = inner.signer.verify(token, SystemTime::now())?;
    inner.check_revoked(&claims).await?;
    Ok(claims)
}

/// The socket holds `claims`: store them, track it (its timer runs until the token's
/// expiry or the socket's end), answer its renewals.
fn start(inner: &Arc<Inner>, socket: &Socket, claims: Claims) {
    let jti = claims.jti.clone();
    let deadline = inner.live.add(&jti, socket, claims.exp);
    socket.insert_extension(claims);
    {
        let me = inner.me.clone();
        socket.on_disconnect(move |socket, _| {
            if let Some(inner) = me.upgrade() {
                inner.live.remove(&jti, &socket.socket_id());
            }
        });
    }
    let me = inner.me.clone();
    let expiring = socket.clone();
    tokio::spawn(expiry_timer(
        deadline,
        inner.signer.rules.leeway,
        move || {
            if let Some(inner) = me.upgrade() {
                Counters::add(&inner.counters.expired);
            }
            end(&expiring, &AuthError::Expired);
        },
    ));
    let me = inner.me.clone();
    socket.on(RENEW_EVENT, move |socket, _: Payload, ack: AckSender| {
        let me = me.clone();
        async move {
            if let Some(inner) = me.upgrade() {
                renew(&inner, &socket, ack).await;
            }
        }
    });
}

/// Answer a renewal: a new token of the same session, or why not. A revoked session's
/// socket is disconnected after the answer.
async fn renew(inner: &Inner, socket: &Socket, ack: AckSender) {
    let Some(current) = Claims::of(socket) else {
        ack.send(&RenewAnswer::refused(&AuthError::Missing)).ok();
        return;
    };
    let renewed = match inner.check_revoked(&current).await {
        Ok(()) => inner.signer.renew(&current, SystemTime::now()),
        Err(error) => Err(error),
    };
    match renewed {
        Ok((token, claims)) => {
            let exp = claims.exp;
            socket.insert_extension(claims);
            if inner.live.renewed(&current.jti, &socket.socket_id(), exp) {
                Counters::add(&inner.counters.renewed);
                let answer = RenewAnswer {
                    token: &token,
                    exp,
                    error: "",
                    message: "",
                };
                ack.send(&answer).ok();
            }
        }
        Err(error) => {
            Counters::add(&inner.counters.renewals_refused);
            tracing::debug!(socket = socket.id(), %error, detail = ?error, "auth: renewal refused");
            ack.send(&RenewAnswer::refused(&error)).ok();
            if error == AuthError::Revoked {
                Counters::add(&inner.counters.revoked_disconnects);
                end(socket, &error);
            }
        }
    }
}

/// Tell the client why (`tw:unauthorized`), then disconnect the socket from its namespace.
pub(crate) fn end(socket: &Socket, why: &AuthError) {
    if !socket.connected() {
        return;
    }
    tracing::info!(
        socket = socket.id(),
        reason = why.code(),
        "auth: socket disconnected"
    );
    socket
        .emit(
            UNAUTHORIZED_EVENT,
            &Unauthorized {
                code: why.code(),
                message: why.message(),
            },
        )
        .ok();
    socket.disconnect(false);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_token_is_read_from_the_auth_payload() {
        assert_eq!(token_of(&json!({"token": "t"})), Ok("t"));
        assert_eq!(token_of(&json!({})), Err(AuthError::Missing));
        assert_eq!(token_of(&json!({"token": null})), Err(AuthError::Missing));
        assert!(matches!(
            token_of(&json!({"token": 7})),
            Err(AuthError::Malformed(_))
        ));
    }
}
