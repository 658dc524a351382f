//! Session tokens (`tickwire::auth`) against real clients: the Rust client and the official
//! JS client (`tests/interop/js/auth.mjs`, with `protocol/js/tickwire-auth.js`), and two
//! nodes sharing revocations on a real `redis-server`.
//!
//! Expiry tests use tokens of a few seconds issued a second in the past (so a renewal moves
//! `exp`, which counts whole seconds, on by one) and wait for events: the unrenewed
//! socket's `tw:unauthorized` marks the first expiry.

mod support;

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use support::redis::Redis;
use support::{events, serve, settled, within, Events};
use tickwire::auth::{AuthError, Claims, Revocations, SessionAuth};
use tickwire::{Data, Socket, SocketIo};
use tickwire_client::{Client, ConnectionEvent, DisconnectReason, Error, Reconnect};

const SECRET: &[u8] = b"the cluster's shared secret, 32 bytes or more";

/// A server whose `/` is protected by `auth`: each socket joins `lobby` and is reported;
/// `room-news` broadcasts its text to `lobby` as `news` (the sender included) and acks.
struct Node {
    io: SocketIo,
    port: u16,
    auth: SessionAuth,
    sockets: Events<Socket>,
}

fn node(auth: SessionAuth) -> Node {
    let io = SocketIo::builder().build();
    let (tx, sockets) = events();
    let ns = io.ns("/", move |socket| {
        socket.join("lobby");
        socket.on(
            "room-news",
            |socket, Data(text): Data<String>, ack| async move {
                socket.ns().to("lobby").emit("news", &text).ok();
                ack.send(&"sent").ok();
            },
        );
        let _ = tx.send(socket);
    });
    auth.protect(&ns);
    let port = serve(&io);
    Node {
        io,
        port,
        auth,
        sockets,
    }
}

fn memory_auth(lifetime: Duration) -> SessionAuth {
    SessionAuth::builder(SECRET)
        .lifetime(lifetime)
        .build()
        .expect("auth")
}

/// What a client saw: `tw:unauthorized` payloads, `news`, and disconnects.
#[derive(Debug)]
enum Seen {
    Unauthorized(Value),
    News(String),
    Disconnected(DisconnectReason),
}

async fn connect(port: u16, auth: Option<Value>) -> Result<(Client, Events<Seen>), Error> {
    let (tx, seen) = events();
    let (news, gone) = (tx.clone(), tx.clone());
    let mut builder = Client::builder(format!("http://127.0.0.1:{port}"))
        .reconnect(Reconnect::disabled())
        .on("tw:unauthorized", move |_, why: Value, _| {
            let _ = tx.send(Seen::Unauthorized(why));
        })
        .on("news", move |_, text: String, _| {
            let _ = news.send(Seen::News(text));
        })
        .on_connection(move |_, event| {
            if let ConnectionEvent::Disconnected(reason) = event {
                let _ = gone.send(Seen::Disconnected(*reason));
            }
        });
    if let Some(auth) = auth {
        builder = builder.auth(auth);
    }
    let client = within("connecting", builder.connect()).await?;
    Ok((client, seen))
}

async fn connect_with(port: u16, token: &str) -> (Client, Events<Seen>) {
    connect(port, Some(json!({ "token": token })))
        .await
        .expect("connects with a valid token")
}

/// The CONNECT_ERROR of a refused connect: (message, data.code).
async fn refused(port: u16, auth: Option<Value>) -> (String, String) {
    match connect(port, auth).await {
        Err(Error::ConnectRefused { message, data }) => {
            let code = data
                .as_ref()
                .and_then(|d| d.get("code"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            (message, code)
        }
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("connected, but should have been refused"),
    }
}

/// The server ended the socket for `code`: `tw:unauthorized`, then a server disconnect.
async fn ended_for(seen: &mut Events<Seen>, code: &str) {
    match seen.next().await {
        Seen::Unauthorized(why) => assert_eq!(why["code"], code, "{why}"),
        other => panic!("expected tw:unauthorized, saw {other:?}"),
    }
    match seen.next().await {
        Seen::Disconnected(reason) => assert_eq!(reason, DisconnectReason::ServerDisconnect),
        other => panic!("expected the disconnect, saw {other:?}"),
    }
}

/// `token` with its claims' `sub` changed, the signature kept.
fn altered(token: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = "admin".into();
    let claims = b64.encode(serde_json::to_vec(&claims).unwrap());
    format!("{}.{claims}.{}", parts[0], parts[2])
}

fn a_second_ago() -> SystemTime {
    SystemTime::now() - Duration::from_secs(1)
}

#[actix_rt::test]
async fn connects_are_refused_with_the_reason() {
    let mut node = node(memory_auth(Duration::from_secs(60)));
    let port = node.port;
    let issued = node
        .auth
        .issue("ada", json!({ "role": "player" }))
        .expect("issued");

    let (_ada, _) = connect_with(port, &issued.token).await;
    let socket = node.sockets.next().await;
    let claims = Claims::of(&socket).expect("the socket holds its claims");
    assert_eq!(claims.sub, "ada");
    assert_eq!(claims.jti, issued.claims.jti);
    assert_eq!(claims.get("role"), Some(&json!("player")));

    let expired = node
        .auth
        .issue_at("ada", (), SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    let foreign = SessionAuth::builder(b"another secret".to_vec())
        .build()
        .unwrap()
        .issue("ada", ())
        .unwrap();
    let revoked = node.auth.issue("eve", ()).unwrap();
    node.auth
        .revoke(&revoked.claims.jti)
        .await
        .expect("revoked");

    let cases: Vec<(&str, Option<Value>, AuthError)> = vec![
        ("no auth", None, AuthError::Missing),
        (
            "no token",
            Some(json!({ "name": "ada" })),
            AuthError::Missing,
        ),
        (
            "a number",
            Some(json!({ "token": 7 })),
            AuthError::Malformed(String::new()),
        ),
        (
            "garbage",
            Some(json!({ "token": "a.b.c" })),
            AuthError::Malformed(String::new()),
        ),
        (
            "oversized",
            Some(json!({ "token": "a".repeat(5000) })),
            AuthError::Malformed(String::new()),
        ),
        (
            "expired",
            Some(json!({ "token": expired.token })),
            AuthError::Expired,
        ),
        (
            "altered",
            Some(json!({ "token": altered(&issued.token) })),
            AuthError::BadSignature,
        ),
        (
            "foreign",
            Some(json!({ "token": foreign.token })),
            AuthError::BadSignature,
        ),
        (
            "revoked",
            Some(json!({ "token": revoked.token })),
            AuthError::Revoked,
        ),
    ];
    for (what, auth, error) in &cases {
        let (message, code) = refused(port, auth.clone()).await;
        assert_eq!(
            (message.as_str(), code.as_str()),
            (error.message(), error.code()),
            "{what}"
        );
    }
    let stats = node.auth.stats();
    assert_eq!(stats.admitted, 1);
    assert_eq!(stats.refused, cases.len() as u64);
    assert_eq!(
        stats.refused_by,
        [
            ("missing", 2),
            ("malformed", 3),
            ("expired", 1),
            ("bad_signature", 2),
            ("revoked", 1),
            ("unavailable", 0)
        ]
    );
    node.auth.add_metrics(&node.io);
    let metrics = node.io.metrics_text();
    assert!(
        metrics.contains("tickwire_auth_refused_total{reason=\"malformed\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tickwire_auth_live_sockets 1"),
        "{metrics}"
    );
    assert!(
        node.sockets.try_next().is_none(),
        "no refused socket got in"
    );
}

#[actix_rt::test]
async fn a_renewed_socket_keeps_its_session_past_the_first_expiry() {
    let mut node = node(memory_auth(Duration::from_secs(4)));
    let port = node.port;
    // Both expire at the same second, two or three seconds from now.
    let issued_at = a_second_ago();
    let first = node.auth.issue_at("ada", (), issued_at).unwrap();
    let other = node.auth.issue_at("bob", (), issued_at).unwrap();

    let (ada, mut ada_seen) = connect_with(port, &first.token).await;
    let ada_socket = node.sockets.next().await;
    let (_bob, mut bob_seen) = connect_with(port, &other.token).await;
    let bob_socket = node.sockets.next().await;

    let renewed: Value = ada
        .emit_with_ack("tw:renew", &(), Duration::from_secs(5))
        .await
        .expect("renewed");
    let exp = renewed["exp"].as_u64().expect("exp");
    // A second or more later than the first (the renewal is a second or more after it).
    assert!(exp > first.claims.exp, "{exp} after {}", first.claims.exp);
    let token = renewed["token"].as_str().expect("token");
    let claims = node
        .auth
        .check(token)
        .await
        .expect("the new token is valid");
    assert_eq!(
        (&claims.sub, &claims.jti, claims.exp),
        (&first.claims.sub, &first.claims.jti, exp)
    );
    assert_eq!(Claims::of(&ada_socket).unwrap().exp, exp);

    // Bob did not renew: his socket ends at the first expiry.
    ended_for(&mut bob_seen, "expired").await;
    assert!(!bob_socket.connected());

    // Ada is the same socket, still in her room, and hears its broadcasts.
    assert!(ada_socket.connected());
    assert_eq!(ada.id().as_deref(), Some(ada_socket.id()));
    assert!(ada_socket.rooms().contains(&"lobby".to_owned()));
    node.io.to("lobby").emit("news", &"after").unwrap();
    match ada_seen.next().await {
        Seen::News(text) => assert_eq!(text, "after"),
        other => panic!("expected the news, saw {other:?}"),
    }

    // Her renewed token lapses too, unrenewed: the socket ends, its timer and entry with it.
    within(
        "the renewed token's expiry",
        ended_for(&mut ada_seen, "expired"),
    )
    .await;
    let auth = node.auth.clone();
    settled("no socket left tracked", || auth.stats().live == 0).await;
    let stats = node.auth.stats();
    assert_eq!((stats.renewed, stats.expired), (1, 2));
}

#[actix_rt::test]
#[cfg_attr(tickwire_missing_redis, ignore = "needs redis-server: run .ci/setup")]
async fn a_session_revoked_on_one_node_is_refused_and_ended_on_the_other() {
    let redis = Redis::start();
    let revocations = || async {
        within(
            "connecting to Redis",
            Revocations::redis(&redis.url(), "auth-test"),
        )
        .await
        .expect("revocations on Redis")
    };
    let auth_a = SessionAuth::builder(SECRET)
        .revocations(revocations().await)
        .build()
        .unwrap();
    let auth_b = SessionAuth::builder(SECRET)
        .revocations(revocations().await)
        .build()
        .unwrap();
    let mut a = node(auth_a);
    let mut b = node(auth_b);

    // A token of node A's works on node B (one secret), on both at once.
    let issued = a.auth.issue("ada", ()).unwrap();
    let (_on_a, mut seen_a) = connect_with(a.port, &issued.token).await;
    let _ = a.sockets.next().await;
    let (_on_b, mut seen_b) = connect_with(b.port, &issued.token).await;
    let _ = b.sockets.next().await;

    // Revoked from node B: both sockets end, node A's through the bus.
    b.auth.revoke(&issued.claims.jti).await.expect("revoked");
    ended_for(&mut seen_a, "revoked").await;
    ended_for(&mut seen_b, "revoked").await;
    for port in [a.port, b.port] {
        let token = json!({ "token": issued.token });
        assert_eq!(
            refused(port, Some(token)).await,
            ("token revoked".to_owned(), "revoked".to_owned())
        );
    }
    // Kept in Redis only as long as a token of the session could be valid.
    let key = format!("auth-test:revoked:{}", issued.claims.jti);
    let ttl: i64 = redis.command(&["TTL", &key]).parse().expect("a TTL");
    assert!((1..=24 * 3600).contains(&ttl), "TTL {ttl}");

    // A revocation node A did not hear (written to Redis without the bus) is refused at the
    // socket's next renewal, which ends it.
    let later = a.auth.issue("bob", ()).unwrap();
    let (bob, mut bob_seen) = connect_with(a.port, &later.token).await;
    let _ = a.sockets.next().await;
    let key = format!("auth-test:revoked:{}", later.claims.jti);
    redis.command(&["SET", &key, "1", "EX", "60"]);
    let answer: Value = bob
        .emit_with_ack("tw:renew", &(), Duration::from_secs(5))
        .await
        .expect("answered");
    assert_eq!(answer["error"], "revoked", "{answer}");
    ended_for(&mut bob_seen, "revoked").await;
    assert_eq!(a.auth.stats().revoked_disconnects, 2);
    assert_eq!(b.auth.stats().revoked_disconnects, 1);

    // Without Redis the revocations cannot be read: refused, not let in unchecked.
    let mut redis = redis;
    redis.stop();
    let fresh = a.auth.issue("carol", ()).unwrap();
    assert_eq!(
        refused(a.port, Some(json!({ "token": fresh.token }))).await,
        (
            "token check unavailable".to_owned(),
            "unavailable".to_owned()
        )
    );
}

/// Runs `auth.mjs`: the official JS client refused for each reason, and renewing with
/// `protocol/js/tickwire-auth.js` past its first token's expiry.
#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_interop_js,
    ignore = "needs node and npm ci in runtime/tests/interop/js (run .ci/setup), or \
              TICKWIRE_SKIP_INTEROP is set"
)]
async fn the_official_js_client_is_refused_and_renews() {
    // Two to three seconds left from now: time for node to start.
    let node = node(memory_auth(Duration::from_secs(4)));
    let issued_at = a_second_ago();
    let a = node.auth.issue_at("ada", (), issued_at).unwrap();
    let b = node.auth.issue_at("bob", (), issued_at).unwrap();
    let expired = node
        .auth
        .issue_at("old", (), SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    let foreign = SessionAuth::builder(b"another secret".to_vec())
        .build()
        .unwrap()
        .issue("ada", ())
        .unwrap();
    let revoked = node.auth.issue("eve", ()).unwrap();
    node.auth.revoke(&revoked.claims.jti).await.unwrap();
    let tokens = json!({
        "a": { "token": a.token, "exp": a.claims.exp },
        "b": { "token": b.token, "exp": b.claims.exp },
        "expired": expired.token,
        "altered": altered(&a.token),
        "foreign": foreign.token,
        "revoked": revoked.token,
    });

    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/js");
    assert!(
        js.join("node_modules/socket.io-client").is_dir(),
        "socket.io-client is not installed: run `npm ci` in {} (or .ci/setup)",
        js.display()
    );
    let run = tokio::process::Command::new("node")
        .arg("auth.mjs")
        .current_dir(&js)
        .env("TICKWIRE_URL", format!("http://127.0.0.1:{}", node.port))
        .env("TICKWIRE_TOKENS", tokens.to_string())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(40), run)
        .await
        .expect("auth.mjs finished within 40 s")
        .unwrap_or_else(|e| panic!("cannot run node ({e}): run .ci/setup"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "auth.mjs failed:\n{stdout}\n{stderr}"
    );
    eprint!("{stdout}");
    let stats = node.auth.stats();
    assert!(stats.renewed >= 1, "{stats:?}");
    assert!(stats.expired >= 1, "{stats:?}");
    assert_eq!(stats.refused, 8, "{stats:?}");
}
