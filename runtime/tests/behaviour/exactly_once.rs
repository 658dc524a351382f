//! Exactly-once client emits: an emit sent as `tw:once` with an emit id runs its handler
//! once however often it is sent; a duplicate gets the first run's answer for its own ack id
//! (at once, or when the first run answers); an id forgotten past the window runs again; a
//! malformed envelope closes the connection; the ids and answers survive connection state
//! recovery, a run still in flight when the connection dropped included.

use std::sync::Arc;

use crate::support::{events, parse_sio, serve, within, Events, Msg, WsClient};
use bytes::Bytes;
use serde_json::{json, Value};
use tickwire::protocol::compact::{self, CompactKind, CompactPacket, Limits};
use tickwire::{Config, Data, DisconnectReason, Payload, RecoveryConfig, Socket, SocketIo};
use tokio::sync::Notify;

/// A server on `config` and what its handlers saw.
struct Harness {
    io: SocketIo,
    port: u16,
    /// `(handler, argument)` of each run (and `("slow answered", _)` once a slow run acked).
    runs: Events<(String, Value)>,
    sockets: Events<Socket>,
    reasons: Events<DisconnectReason>,
    /// Releases one `slow` run per permit.
    gate: Arc<Notify>,
}

/// `buy` acks `{"order", "run"}` (its run count); `blob` acks a text and its binary
/// reversed; `slow` acks `{"slow": arg}` once the gate lets it; `inc` acks its number plus
/// one (both codecs); `echo` acks its payload.
fn harness(config: Config) -> Harness {
    let io = SocketIo::builder().config(config).build();
    let (runs_tx, runs) = events();
    let (sockets_tx, sockets) = events();
    let (reasons_tx, reasons) = events();
    let gate = Arc::new(Notify::new());
    let buys = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let slow_gate = gate.clone();
    io.ns("/", move |socket| {
        let _ = sockets_tx.send(socket.clone());
        let reasons = reasons_tx.clone();
        socket.on_disconnect(move |_, reason| {
            let _ = reasons.send(reason);
        });
        let (runs, buys) = (runs_tx.clone(), buys.clone());
        socket.on("buy", move |_, Data(order): Data<Value>, ack| {
            let run = buys.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let _ = runs.send(("buy".into(), order.clone()));
            async move {
                ack.send(&json!({"order": order, "run": run})).ok();
            }
        });
        let runs = runs_tx.clone();
        socket.on("blob", move |_, payload: Payload, ack| {
            let _ = runs.send(("blob".into(), payload.args()[0].clone()));
            let reversed: Vec<u8> = payload.attachments()[0].iter().rev().copied().collect();
            async move {
                let answer = Payload::new().arg(&"got").unwrap().binary(reversed);
                ack.send_payload(answer).ok();
            }
        });
        let (runs, gate) = (runs_tx.clone(), slow_gate.clone());
        socket.on("slow", move |_, Data(arg): Data<Value>, ack| {
            let (runs, gate) = (runs.clone(), gate.clone());
            let _ = runs.send(("slow".into(), arg.clone()));
            async move {
                gate.notified().await;
                // Answered on a socket that may be gone by now: kept for the session anyway.
                let _ = ack.send(&json!({ "slow": arg }));
                let _ = runs.send(("slow answered".into(), arg));
            }
        });
        let runs = runs_tx.clone();
        socket.on("inc", move |_, Data(n): Data<u32>, ack| {
            let _ = runs.send(("inc".into(), json!(n)));
            async move {
                ack.send(&(n + 1)).ok();
            }
        });
        socket.on("echo", |_, payload: Payload, ack| async move {
            ack.send_payload(payload).ok();
        });
    });
    let port = serve(&io);
    Harness {
        io,
        port,
        runs,
        sockets,
        reasons,
        gate,
    }
}

fn recovery() -> Config {
    Config {
        recovery: Some(RecoveryConfig::default()),
        ..Config::default()
    }
}

/// Round-trip an `echo` with ack `id`: everything sent before it has been dispatched.
async fn sync(client: &mut WsClient, id: u64) {
    client.send_text(&format!(r#"42{id}["echo","sync"]"#)).await;
    client.wait_for_text(&format!(r#"43{id}["sync"]"#)).await;
}

/// The next frame must be `expected` (pings answered).
async fn expect_text(client: &mut WsClient, expected: &str) {
    assert_eq!(client.recv_text_skip_pings().await, expected);
}

/// No run happened since the last one taken (runs are reported before their handler
/// answers, so this holds once the answer has been read).
fn no_more_runs(h: &mut Harness) {
    assert_eq!(h.runs.try_next(), None);
}

#[actix_rt::test]
async fn a_duplicate_gets_the_first_answer_and_never_runs_the_handler() {
    let mut h = harness(Config::default());
    let (mut client, _) = WsClient::connect(h.port).await;
    let socket = h.sockets.next().await;

    client
        .send_text(r#"421["tw:once","e1","buy",{"item":7}]"#)
        .await;
    let answer = r#"{"order":{"item":7},"run":1}"#;
    expect_text(&mut client, &format!("431[{answer}]")).await;
    assert_eq!(h.runs.next().await, ("buy".into(), json!({"item": 7})));
    // The ack was lost: the client sends the same id with a new ack id.
    client
        .send_text(r#"422["tw:once","e1","buy",{"item":7}]"#)
        .await;
    expect_text(&mut client, &format!("432[{answer}]")).await;
    // And once more, without asking for an answer: dropped.
    client
        .send_text(r#"42["tw:once","e1","buy",{"item":7}]"#)
        .await;
    sync(&mut client, 3).await;
    no_more_runs(&mut h);

    // Another id is another emit.
    client
        .send_text(r#"424["tw:once","e2","buy",{"item":7}]"#)
        .await;
    expect_text(&mut client, r#"434[{"order":{"item":7},"run":2}]"#).await;
    h.runs.next().await;

    // Binary arguments in, a binary answer kept and replayed with its attachment.
    for ack in [5, 6] {
        client
            .send_text(&format!(
                r#"451-{ack}["tw:once","b1","blob","file",{{"_placeholder":true,"num":0}}]"#
            ))
            .await;
        client.send_binary(&[1, 2, 3]).await;
        expect_text(
            &mut client,
            &format!(r#"461-{ack}["got",{{"_placeholder":true,"num":0}}]"#),
        )
        .await;
        assert_eq!(client.recv_binary().await, Bytes::from_static(&[3, 2, 1]));
    }
    assert_eq!(h.runs.next().await, ("blob".into(), json!("file")));
    no_more_runs(&mut h);

    let stats = socket.emit_dedupe_stats();
    assert_eq!(
        (stats.ran, stats.replayed, stats.dropped, stats.evicted),
        (3, 2, 1, 0)
    );
}

#[actix_rt::test]
async fn a_duplicate_of_an_emit_in_flight_is_answered_when_it_answers() {
    let mut h = harness(Config::default());
    let (mut client, _) = WsClient::connect(h.port).await;
    let socket = h.sockets.next().await;

    client.send_text(r#"421["tw:once","s1","slow","a"]"#).await;
    assert_eq!(h.runs.next().await, ("slow".into(), json!("a")));
    // Two retries while it runs: the later one replaces the earlier as the waiting one.
    client.send_text(r#"422["tw:once","s1","slow","a"]"#).await;
    client.send_text(r#"423["tw:once","s1","slow","a"]"#).await;
    sync(&mut client, 4).await;
    h.gate.notify_one();
    expect_text(&mut client, r#"431[{"slow":"a"}]"#).await;
    expect_text(&mut client, r#"433[{"slow":"a"}]"#).await;
    assert_eq!(h.runs.next().await, ("slow answered".into(), json!("a")));
    // Nothing for ack 2, and a later duplicate gets the kept answer.
    client.send_text(r#"425["tw:once","s1","slow","a"]"#).await;
    expect_text(&mut client, r#"435[{"slow":"a"}]"#).await;
    no_more_runs(&mut h);
    let stats = socket.emit_dedupe_stats();
    assert_eq!((stats.ran, stats.awaited, stats.replayed), (1, 2, 1));
}

#[actix_rt::test]
async fn an_id_forgotten_past_the_window_runs_again() {
    // The documented limit: the socket remembers the last `emit_dedupe_window` ids.
    let mut h = harness(Config {
        emit_dedupe_window: 2,
        ..Config::default()
    });
    let (mut client, _) = WsClient::connect(h.port).await;
    let socket = h.sockets.next().await;
    for (ack, id) in [(1, "a"), (2, "b"), (3, "c")] {
        client
            .send_text(&format!(r#"42{ack}["tw:once","{id}","inc",{ack}]"#))
            .await;
        expect_text(&mut client, &format!("43{ack}[{}]", ack + 1)).await;
        h.runs.next().await;
    }
    // "c" is remembered; "a" was forgotten when "c" came, so it runs again.
    client.send_text(r#"424["tw:once","c","inc",3]"#).await;
    expect_text(&mut client, "434[4]").await;
    no_more_runs(&mut h);
    client.send_text(r#"425["tw:once","a","inc",1]"#).await;
    expect_text(&mut client, "435[2]").await;
    assert_eq!(h.runs.next().await, ("inc".into(), json!(1)));
    let stats = socket.emit_dedupe_stats();
    assert_eq!((stats.ran, stats.replayed, stats.evicted), (4, 1, 2));

    // Window 0: no deduplication, every copy runs (the envelope is still unwrapped).
    let mut h = harness(Config {
        emit_dedupe_window: 0,
        ..Config::default()
    });
    let (mut client, _) = WsClient::connect(h.port).await;
    for ack in [1, 2] {
        client
            .send_text(&format!(r#"42{ack}["tw:once","a","inc",1]"#))
            .await;
        expect_text(&mut client, &format!("43{ack}[2]")).await;
        h.runs.next().await;
    }
}

#[actix_rt::test]
async fn a_malformed_envelope_closes_the_connection() {
    let mut h = harness(Config::default());
    let long = "x".repeat(65);
    let cases = [
        ("no emit id", r#"421["tw:once"]"#.to_owned()),
        ("empty emit id", r#"421["tw:once","","buy",1]"#.to_owned()),
        (
            "emit id not a string",
            r#"421["tw:once",5,"buy",1]"#.to_owned(),
        ),
        (
            "emit id over 64 bytes",
            format!(r#"421["tw:once","{long}","buy",1]"#),
        ),
        ("no event", r#"421["tw:once","e1"]"#.to_owned()),
        (
            "event not a string",
            r#"421["tw:once","e1",{"a":1}]"#.to_owned(),
        ),
        (
            "nested envelope",
            r#"421["tw:once","e1","tw:once"]"#.to_owned(),
        ),
        (
            "reserved event",
            r#"421["tw:once","e1","disconnect"]"#.to_owned(),
        ),
        ("without an ack id too", r#"42["tw:once",7]"#.to_owned()),
    ];
    for (case, frame) in cases {
        let (mut client, _) = WsClient::connect(h.port).await;
        h.sockets.next().await;
        client.send_text(&frame).await;
        loop {
            match client.recv().await {
                Msg::Close(_) | Msg::Ended => break,
                Msg::Text(ping) if ping == "2" => {}
                other => panic!("{case}: expected the connection to close, got {other:?}"),
            }
        }
        assert_eq!(
            h.reasons.next().await,
            DisconnectReason::ParseError,
            "{case}"
        );
    }
    no_more_runs(&mut h);
    // Exactly 64 bytes is fine, and the server serves on.
    let (mut client, _) = WsClient::connect(h.port).await;
    let id = "x".repeat(64);
    client
        .send_text(&format!(r#"421["tw:once","{id}","inc",1]"#))
        .await;
    expect_text(&mut client, "431[2]").await;
}

/// CONNECT with `auth` and read the reply: `(sid, pid)`.
async fn connect_recoverable(client: &mut WsClient, auth: &str) -> (String, String) {
    client.send_text(&format!("40{auth}")).await;
    let reply = client.recv_text_skip_pings().await;
    let data = parse_sio(&reply).data.expect("CONNECT reply payload");
    (
        data["sid"].as_str().expect("sid").to_owned(),
        data["pid"].as_str().expect("pid").to_owned(),
    )
}

/// A recoverable client's session, and the offset of a broadcast it received.
struct Session {
    client: WsClient,
    sid: String,
    pid: String,
    offset: String,
}

/// Connect, and get one broadcast (for an offset to recover from).
async fn recoverable_session(h: &mut Harness) -> Session {
    let mut client = WsClient::open(h.port).await;
    let (sid, pid) = connect_recoverable(&mut client, "").await;
    h.sockets.next().await;
    h.io.of("/").unwrap().emit("m", &"hello").unwrap();
    let frame = client.recv_text_skip_pings().await;
    let data = parse_sio(&frame).data.expect("broadcast payload");
    let offset = data[2].as_str().expect("the offset, last").to_owned();
    Session {
        client,
        sid,
        pid,
        offset,
    }
}

/// Drop the transport (a recoverable close) and wait until the server has kept the session.
async fn drop_transport(h: &mut Harness, session: Session) -> (String, String, String) {
    drop(session.client);
    assert_eq!(h.reasons.next().await, DisconnectReason::TransportClose);
    (session.sid, session.pid, session.offset)
}

/// Reconnect with the session's pid and offset: it must be recovered.
async fn recover(h: &mut Harness, sid: &str, pid: &str, offset: &str) -> (WsClient, Socket) {
    let mut client = WsClient::open(h.port).await;
    let auth = format!(r#"{{"pid":"{pid}","offset":"{offset}"}}"#);
    let (sid_back, _) = connect_recoverable(&mut client, &auth).await;
    assert_eq!(sid_back, sid, "recovered");
    let socket = h.sockets.next().await;
    assert!(socket.recovered());
    (client, socket)
}

#[actix_rt::test]
async fn emit_ids_and_answers_survive_connection_state_recovery() {
    let mut h = harness(recovery());
    let mut session = recoverable_session(&mut h).await;
    session
        .client
        .send_text(r#"421["tw:once","e1","buy",{"item":1}]"#)
        .await;
    let answer = r#"{"order":{"item":1},"run":1}"#;
    expect_text(&mut session.client, &format!("431[{answer}]")).await;
    h.runs.next().await;

    // The connection drops; the client comes back on its session and retries.
    let (sid, pid, offset) = drop_transport(&mut h, session).await;
    let (mut client, socket) = recover(&mut h, &sid, &pid, &offset).await;
    client
        .send_text(r#"427["tw:once","e1","buy",{"item":1}]"#)
        .await;
    expect_text(&mut client, &format!("437[{answer}]")).await;
    no_more_runs(&mut h);
    assert_eq!(socket.emit_dedupe_stats().replayed, 1);
}

#[actix_rt::test]
async fn a_run_in_flight_when_the_connection_dropped_answers_its_recovered_session() {
    let mut h = harness(recovery());

    // Answered while the client is away: the answer is kept with the session in the log.
    let mut session = recoverable_session(&mut h).await;
    session
        .client
        .send_text(r#"421["tw:once","s1","slow","away"]"#)
        .await;
    assert_eq!(h.runs.next().await, ("slow".into(), json!("away")));
    let (sid, pid, offset) = drop_transport(&mut h, session).await;
    h.gate.notify_one();
    assert_eq!(h.runs.next().await, ("slow answered".into(), json!("away")));
    let (mut client, _) = recover(&mut h, &sid, &pid, &offset).await;
    client
        .send_text(r#"422["tw:once","s1","slow","away"]"#)
        .await;
    expect_text(&mut client, r#"432[{"slow":"away"}]"#).await;
    no_more_runs(&mut h);

    // Answered after the client is back and has retried: the retry is answered then.
    client
        .send_text(r#"423["tw:once","s2","slow","back"]"#)
        .await;
    assert_eq!(h.runs.next().await, ("slow".into(), json!("back")));
    h.io.of("/").unwrap().emit("m", &"offset").unwrap();
    let frame = client.recv_text_skip_pings().await;
    let offset = parse_sio(&frame).data.unwrap()[2]
        .as_str()
        .unwrap()
        .to_owned();
    drop(client);
    assert_eq!(h.reasons.next().await, DisconnectReason::TransportClose);
    let (mut client, socket) = recover(&mut h, &sid, &pid, &offset).await;
    client
        .send_text(r#"424["tw:once","s2","slow","back"]"#)
        .await;
    sync(&mut client, 5).await;
    h.gate.notify_one();
    expect_text(&mut client, r#"434[{"slow":"back"}]"#).await;
    assert_eq!(h.runs.next().await, ("slow answered".into(), json!("back")));
    no_more_runs(&mut h);
    assert_eq!(socket.emit_dedupe_stats().awaited, 1);
}

/// A compact-codec client over a raw websocket.
async fn compact_client(port: u16) -> WsClient {
    let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket&codec=compact");
    let mut ws = WsClient::open_url(&url).await;
    ws.send_binary(&compact::encode(&CompactPacket::connect("/", None)).unwrap())
        .await;
    let reply = compact::decode(ws.recv_binary().await, &Limits::default()).unwrap();
    assert_eq!(reply.kind, CompactKind::Connect);
    ws
}

/// A compact `tw:once` EVENT: the postcard tuple (emit id, event, inner payload).
fn compact_once(id: &str, event: &str, inner: &Bytes, ack: u64) -> Vec<u8> {
    struct AsBytes<'a>(&'a [u8]);
    impl serde::Serialize for AsBytes<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }
    let payload = compact::to_payload(&(id, event, AsBytes(inner))).unwrap();
    compact::encode(&CompactPacket::event("/", "tw:once", payload, Some(ack)))
        .unwrap()
        .to_vec()
}

#[actix_rt::test]
async fn compact_clients_get_the_same_deduplication() {
    let mut h = harness(Config::default());
    let mut client = compact_client(h.port).await;
    let inner = compact::to_payload(&41u32).unwrap();
    for ack in [1, 2] {
        client
            .send_binary(&compact_once("c1", "inc", &inner, ack))
            .await;
        let reply = compact::decode(client.recv_binary().await, &Limits::default()).unwrap();
        assert_eq!((reply.kind, reply.id), (CompactKind::Ack, Some(ack)));
        assert_eq!(compact::from_payload::<u32>(&reply.payload).unwrap(), 42);
    }
    assert_eq!(h.runs.next().await, ("inc".into(), json!(41)));
    no_more_runs(&mut h);

    // A payload that is not the tuple closes the connection.
    let bad = compact::encode(&CompactPacket::event(
        "/",
        "tw:once",
        compact::to_payload(&7u8).unwrap(),
        Some(3),
    ))
    .unwrap();
    client.send_binary(&bad).await;
    within("the connection to close", async {
        loop {
            match client.recv().await {
                Msg::Close(_) | Msg::Ended => break,
                Msg::Text(ping) if ping == "2" => {}
                other => panic!("expected the connection to close, got {other:?}"),
            }
        }
    })
    .await;
}
