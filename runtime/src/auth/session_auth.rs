//! [`SessionAuth`]: issues session tokens, protects namespaces with them, revokes them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::Value;

use super::claims::Claims;
use super::error::{AuthError, RevokeError};
use super::live::LiveSessions;
use super::revocation::{Listener, Revocations, MAX_JTI_BYTES};
use super::token::{unix_secs, TokenRules, TokenSigner};
use crate::socketio::{Namespace, SocketIo};

/// A token [`SessionAuth::issue`] signed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IssuedToken {
    /// The token to hand the client (it connects with `auth: {token}`).
    pub token: String,
    /// What the token says.
    pub claims: Claims,
}

/// Options of a [`SessionAuth`].
#[derive(Debug, Clone)]
pub struct SessionAuthBuilder {
    secret: Vec<u8>,
    rules: TokenRules,
    revocations: Option<Revocations>,
}

impl SessionAuthBuilder {
    /// How long a token is valid (default 15 minutes); a renewal gives a new one as long.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.rules.lifetime = lifetime.max(Duration::from_secs(1));
        self
    }

    /// How long a session may be renewed after its first token (default 24 hours): no token
    /// of it is valid past this, so a revocation is kept this long at most.
    pub fn max_session(mut self, max: Duration) -> Self {
        self.rules.max_session = max.max(Duration::from_secs(1));
        self
    }

    /// How long past its `exp` a token is still accepted, for clocks of nodes that differ a
    /// little (default none).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.rules.leeway = leeway;
        self
    }

    /// The longest token accepted or issued, in bytes (default 4096); a longer one is
    /// `malformed` before anything is decoded.
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.rules.max_token_bytes = bytes.max(64);
        self
    }

    /// Where revoked sessions are kept (default [`Revocations::memory`] of 65,536):
    /// `Revocations::redis` (feature `redis`) for a cluster.
    pub fn revocations(mut self, revocations: Revocations) -> Self {
        self.revocations = Some(revocations);
        self
    }

    /// The [`SessionAuth`]. Fails on an empty secret.
    pub fn build(self) -> Result<SessionAuth, AuthError> {
        let signer = TokenSigner::new(&self.secret, self.rules)?;
        let revocations = self
            .revocations
            .unwrap_or_else(|| Revocations::memory(65_536));
        let inner = Arc::new_cyclic(|me: &Weak<Inner>| Inner {
            me: me.clone(),
            signer,
            revocations,
            live: LiveSessions::default(),
            recent: parking_lot::Mutex::new(std::collections::VecDeque::new()),
            counters: Counters::default(),
            listener: {
                let me = me.clone();
                Arc::new(move |jti: &str| {
                    if let Some(inner) = me.upgrade() {
                        inner.revoked_here(jti);
                    }
                })
            },
        });
        inner.revocations.0.listen(Arc::downgrade(&inner.listener));
        Ok(SessionAuth { inner })
    }
}

/// The reasons a connect is refused for, in [`AuthStats::refused_by`]'s order.
const REFUSALS: [&str; 6] = [
    "missing",
    "malformed",
    "expired",
    "bad_signature",
    "revoked",
    "unavailable",
];

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) issued: AtomicU64,
    pub(crate) admitted: AtomicU64,
    pub(crate) refused: [AtomicU64; REFUSALS.len()],
    pub(crate) renewed: AtomicU64,
    pub(crate) renewals_refused: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) revoked: AtomicU64,
    pub(crate) revoked_disconnects: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Count a connect refused for `why`.
    pub(crate) fn refused(&self, why: &AuthError) {
        if let Some(i) = REFUSALS.iter().position(|code| *code == why.code()) {
            Counters::add(&self.refused[i]);
        }
    }
}

/// What a [`SessionAuth`] did so far (this node).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthStats {
    /// Tokens issued.
    pub issued: u64,
    /// Sockets admitted with a valid token.
    pub admitted: u64,
    /// Connections refused (CONNECT_ERROR), whatever the reason.
    pub refused: u64,
    /// Of those, how many for each reason ([`AuthError::code`]): `missing`, `malformed`,
    /// `expired`, `bad_signature`, `revoked`, `unavailable`.
    pub refused_by: [(&'static str, u64); 6],
    /// Renewals answered with a new token.
    pub renewed: u64,
    /// Renewals refused.
    pub renewals_refused: u64,
    /// Sockets disconnected because their token expired unrenewed.
    pub expired: u64,
    /// Sessions revoked from this node.
    pub revoked: u64,
    /// Sockets disconnected because their session was revoked (from any node).
    pub revoked_disconnects: u64,
    /// Sockets holding a token now.
    pub live: u64,
}

/// How many of the latest revocations a node remembers for sockets being admitted.
const RECENT_REVOCATIONS: usize = 1024;

pub(crate) struct Inner {
    pub(crate) me: Weak<Inner>,
    pub(crate) signer: TokenSigner,
    pub(crate) revocations: Revocations,
    pub(crate) live: LiveSessions,
    /// The latest sessions revoked (heard here or on the bus): a socket whose revocation
    /// check passed just before its session was revoked, and which was not yet tracked when
    /// the revocation arrived, is caught by this once tracked.
    recent: parking_lot::Mutex<std::collections::VecDeque<String>>,
    pub(crate) counters: Counters,
    /// Held here, weakly by the store: what this node does when a session is revoked.
    listener: Arc<Listener>,
}

impl Inner {
    /// A session was revoked (here or on another node): disconnect this node's sockets of it.
    fn revoked_here(&self, jti: &str) {
        {
            // Remembered before the sockets are looked up; `admit` tracks a socket before it
            // looks here: one of the two sees the other.
            let mut recent = self.recent.lock();
            if recent.len() >= RECENT_REVOCATIONS {
                recent.pop_front();
            }
            recent.push_back(jti.to_owned());
        }
        for socket in self.live.sockets_of(jti) {
            Counters::add(&self.counters.revoked_disconnects);
            super::guard::end(&socket, &AuthError::Revoked);
        }
    }

    /// Whether this node heard lately that session `jti` was revoked.
    pub(crate) fn recently_revoked(&self, jti: &str) -> bool {
        self.recent.lock().iter().any(|r| r == jti)
    }

    /// Whether `claims`'s session is revoked; `unavailable` when the store cannot say.
    pub(crate) async fn check_revoked(&self, claims: &Claims) -> Result<(), AuthError> {
        match self.revocations.0.is_revoked(claims.jti.clone()).await {
            Ok(false) => Ok(()),
            Ok(true) => Err(AuthError::Revoked),
            Err(e) => Err(AuthError::Unavailable(e)),
        }
    }
}

/// Signed session tokens (HS256 JWTs) with renewal over the socket and revocation across the
/// cluster (feature `auth`). Cheap to clone; clones are the same.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use tickwire::auth::{Claims, SessionAuth};
/// use tickwire::SocketIo;
///
/// let auth = SessionAuth::builder(b"the cluster's shared secret".to_vec())
///     .lifetime(Duration::from_secs(600))
///     .build()?;
/// let io = SocketIo::builder().build();
/// let ns = io.ns("/", |socket| {
///     let claims = Claims::of(&socket).expect("admitted with a token");
///     socket.join(format!("user:{}", claims.sub));
/// });
/// auth.protect(&ns);
/// // An HTTP route hands this to the client, which connects with `auth: {token}`.
/// let issued = auth.issue("ada", serde_json::json!({ "role": "player" }))?;
/// // Later: every node refuses it, and its sockets are disconnected.
/// auth.revoke(&issued.claims.jti).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SessionAuth {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for SessionAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionAuth")
            .field("rules", &self.inner.signer.rules)
            .finish_non_exhaustive()
    }
}

impl SessionAuth {
    /// Options for tokens signed with `secret` (every node of a cluster gets the same one;
    /// 32 random bytes or more).
    pub fn builder(secret: impl Into<Vec<u8>>) -> SessionAuthBuilder {
        SessionAuthBuilder {
            secret: secret.into(),
            rules: TokenRules {
                lifetime: Duration::from_secs(15 * 60),
                max_session: Duration::from_secs(24 * 3600),
                leeway: Duration::ZERO,
                max_token_bytes: 4096,
            },
            revocations: None,
        }
    }

    /// A token for `subject` with `custom` claims (a JSON object, or `()` for none; the
    /// names `sub`, `jti`, `iat`, `exp` and `auth_time` are the runtime's), opening a new
    /// session with a random id.
    pub fn issue(&self, subject: &str, custom: impl Serialize) -> Result<IssuedToken, AuthError> {
        self.issue_at(subject, custom, SystemTime::now())
    }

    /// [`SessionAuth::issue`] as of `now`.
    pub fn issue_at(
        &self,
        subject: &str,
        custom: impl Serialize,
        now: SystemTime,
    ) -> Result<IssuedToken, AuthError> {
        let custom = match serde_json::to_value(custom) {
            Ok(Value::Object(map)) => map,
            Ok(Value::Null) => serde_json::Map::new(),
            Ok(_) => return Err(AuthError::Claims("not a JSON object".into())),
            Err(e) => return Err(AuthError::Claims(e.to_string())),
        };
        let jti = format!("{:032x}", rand::random::<u128>());
        let (token, claims) = self.inner.signer.issue(subject, custom, jti, now)?;
        Counters::add(&self.inner.counters.issued);
        Ok(IssuedToken { token, claims })
    }

    /// The claims of `token` if it is well formed, signed with this secret and unexpired at
    /// `now`. Revocation is not checked: see [`SessionAuth::check`].
    pub fn verify_at(&self, token: &str, now: SystemTime) -> Result<Claims, AuthError> {
        self.inner.signer.verify(token, now)
    }

    /// What connect and renewal check: [`SessionAuth::verify_at`] now, and that its
    /// session is not revoked.
    pub async fn check(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.verify_at(token, SystemTime::now())?;
        self.inner.check_revoked(&claims).await?;
        Ok(claims)
    }

    /// Admit sockets of `ns` only with a valid token, and answer their renewals.
    ///
    /// A connect middleware reads `auth.token` of the CONNECT, verifies it and its
    /// revocation, stores its [`Claims`] on the socket ([`Claims::of`]), starts the socket's
    /// expiry timer and registers the renewal event ([`RENEW_EVENT`](super::RENEW_EVENT)).
    /// Refusals are CONNECT_ERROR with [`AuthError::message`] and `{"code": ...}`. Add it
    /// before middlewares that read the claims. With connection state recovery set to skip
    /// middlewares, a recovered socket is not checked and has no claims.
    pub fn protect(&self, ns: &Namespace) -> &Self {
        let inner = self.inner.clone();
        ns.use_middleware(move |socket| {
            let inner = inner.clone();
            async move { super::guard::admit(&inner, &socket).await }
        });
        self
    }

    /// Revoke session `jti` on every node: its tokens are refused at connect and at renewal,
    /// and the sockets holding one are disconnected (`tw:unauthorized` `{"code":
    /// "revoked"}`). Kept for [`SessionAuthBuilder::max_session`] (no token of a session
    /// outlives it).
    pub async fn revoke(&self, jti: &str) -> Result<(), RevokeError> {
        let rules = &self.inner.signer.rules;
        let until = unix_secs(SystemTime::now()) + (rules.max_session + rules.leeway).as_secs();
        self.revoke_until(jti, until).await
    }

    /// [`SessionAuth::revoke`] of the session `claims` belong to, kept only as long as a
    /// token of it could be valid.
    pub async fn revoke_claims(&self, claims: &Claims) -> Result<(), RevokeError> {
        let until =
            self.inner.signer.session_end(claims) + self.inner.signer.rules.leeway.as_secs();
        self.revoke_until(&claims.jti, until).await
    }

    async fn revoke_until(&self, jti: &str, until: u64) -> Result<(), RevokeError> {
        if jti.is_empty() || jti.len() > MAX_JTI_BYTES {
            return Err(RevokeError::Store(format!(
                "a session id is 1 to {MAX_JTI_BYTES} bytes"
            )));
        }
        self.inner
            .revocations
            .0
            .revoke(jti.to_owned(), until)
            .await?;
        Counters::add(&self.inner.counters.revoked);
        tracing::info!(jti, "auth: session revoked");
        // This node's sockets go now, whether or not the bus brings the revocation back.
        self.inner.revoked_here(jti);
        Ok(())
    }

    /// Add this node's figures ([`SessionAuth::stats`]) to `io`'s
    /// [`metrics_text`](crate::SocketIo::metrics_text), as `tickwire_auth_*` families, for as
    /// long as this `SessionAuth` lives.
    pub fn add_metrics(&self, io: &SocketIo) {
        let me = Arc::downgrade(&self.inner);
        io.add_metrics(move |out| {
            if let Some(inner) = me.upgrade() {
                SessionAuth { inner }.write_metrics(out);
            }
        });
    }

    /// This node's figures as `tickwire_auth_*` families in the Prometheus text format
    /// (no `# EOF`), for an app that renders its metrics itself.
    pub fn metrics_text(&self) -> String {
        let mut out = String::new();
        self.write_metrics(&mut out);
        out
    }

    fn write_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let stats = self.stats();
        let mut family = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP tickwire_auth_{name} {help}.");
            let _ = writeln!(out, "# TYPE tickwire_auth_{name} {kind}");
            let _ = writeln!(out, "tickwire_auth_{name} {value}");
        };
        family(
            "tokens_issued_total",
            "counter",
            "Session tokens issued",
            stats.issued,
        );
        family(
            "admitted_total",
            "counter",
            "Sockets admitted with a token",
            stats.admitted,
        );
        family(
            "renewed_total",
            "counter",
            "Tokens renewed over a socket",
            stats.renewed,
        );
        family(
            "renewals_refused_total",
            "counter",
            "Renewals refused",
            stats.renewals_refused,
        );
        family(
            "expired_total",
            "counter",
            "Sockets disconnected because their token expired unrenewed",
            stats.expired,
        );
        family(
            "revoked_total",
            "counter",
            "Sessions revoked from this node",
            stats.revoked,
        );
        family(
            "revoked_disconnects_total",
            "counter",
            "Sockets disconnected because their session was revoked",
            stats.revoked_disconnects,
        );
        family(
            "live_sockets",
            "gauge",
            "Sockets holding a token",
            stats.live,
        );
        let _ = writeln!(
            out,
            "# HELP tickwire_auth_refused_total Connections refused for their token, by reason."
        );
        let _ = writeln!(out, "# TYPE tickwire_auth_refused_total counter");
        for (reason, count) in stats.refused_by {
            let _ = writeln!(
                out,
                "tickwire_auth_refused_total{{reason=\"{reason}\"}} {count}"
            );
        }
    }

    /// What this node did so far.
    pub fn stats(&self) -> AuthStats {
        let c = &self.inner.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let refused_by = std::array::from_fn(|i| (REFUSALS[i], get(&c.refused[i])));
        AuthStats {
            issued: get(&c.issued),
            admitted: get(&c.admitted),
            refused: c.refused.iter().map(get).sum(),
            refused_by,
            renewed: get(&c.renewed),
            renewals_refused: get(&c.renewals_refused),
            expired: get(&c.expired),
            revoked: get(&c.revoked),
            revoked_disconnects: get(&c.revoked_disconnects),
            live: self.inner.live.len() as u64,
        }
    }
}
