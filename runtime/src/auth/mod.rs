//! Signed session tokens (feature `auth`): issued with an expiry, a subject and custom
//! claims; verified when a socket joins a protected namespace; renewed over the socket, so a
//! long session never reconnects to refresh; revoked across the cluster.
//!
//! - [`SessionAuth::issue`] signs an HS256 JWT (`sub`, `jti`, `iat`, `exp`, `auth_time` and
//!   the custom claims) with a secret every node of a cluster shares. An HTTP route of the
//!   app hands it to the client.
//! - [`SessionAuth::protect`] adds a connect middleware to a namespace: the client connects
//!   with `auth: {token}`; a refusal is CONNECT_ERROR with a clear reason ([`AuthError`]:
//!   `token missing`, `token malformed`, `token expired`, `token has a bad signature`,
//!   `token revoked`, each with `data.code`). Admitted sockets hold their [`Claims`]
//!   ([`Claims::of`]).
//! - The client renews with [`RENEW_EVENT`] and an ack, and gets a new token of the same
//!   session; the socket stays (same id, rooms, handlers). A socket whose token expires
//!   unrenewed gets [`UNAUTHORIZED_EVENT`] `{"code": "expired"}` and is disconnected
//!   (`io server disconnect` on the client); its timer dies with it.
//! - [`SessionAuth::revoke`] refuses a session on every node sharing the [`Revocations`]
//!   (in memory, or `Revocations::redis` with the `redis` feature), and disconnects the
//!   sockets holding it at once (`{"code": "revoked"}`), on every node that hears the
//!   revocation; a node that missed it refuses at the next renewal.
//!
//! A browser helper, `protocol/js/tickwire-auth.js`, renews before expiry and keeps
//! `socket.auth` fresh for reconnects. This layer sits on the Socket.IO layer's public API.

mod claims;
mod error;
mod guard;
mod live;
#[cfg(feature = "redis")]
mod redis_revocations;
mod revocation;
mod session_auth;
mod token;

pub use claims::Claims;
pub use error::{AuthError, RevokeError};
pub use guard::{RENEW_EVENT, UNAUTHORIZED_EVENT};
pub use revocation::Revocations;
pub use session_auth::{AuthStats, IssuedToken, SessionAuth, SessionAuthBuilder};
