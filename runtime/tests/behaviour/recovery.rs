//! Connection state recovery: a socket that drops abnormally and reconnects within the window
//! with its `pid` and last offset gets its id, its rooms and the broadcasts it missed, in
//! order and none twice; a normal disconnect, an unknown offset or recovery left off give a
//! fresh socket.

use std::time::Duration;

use crate::support::{events, parse_sio, run_node_script, serve, Events, WsClient};
use serde_json::Value;
use tickwire::{Data, DisconnectReason, RecoveryConfig, SocketIo};

/// Recovery on; `join` joins a room and acks; `shout` broadcasts to room `r` and acks. Each
/// connect reports `(sid, recovered)`, each disconnect its reason.
fn server() -> (SocketIo, Events<(String, bool)>, Events<DisconnectReason>) {
    server_on(SocketIo::builder())
}

/// [`server`] on a builder with other options.
fn server_on(
    builder: tickwire::SocketIoBuilder,
) -> (SocketIo, Events<(String, bool)>, Events<DisconnectReason>) {
    let io = builder
        .connection_state_recovery(RecoveryConfig::default())
        .build();
    let (connects, connect_rx) = events();
    let (reasons, reason_rx) = events();
    io.ns("/", move |socket| {
        let _ = connects.send((socket.id().to_owned(), socket.recovered()));
        let reasons = reasons.clone();
        socket.on_disconnect(move |_, reason| {
            let _ = reasons.send(reason);
        });
        socket.on("join", |socket, Data(room): Data<String>, ack| async move {
            socket.join(room);
            ack.send(&"ok").ok();
        });
        socket.on(
            "whisper",
            |socket, Data(text): Data<String>, ack| async move {
                socket.emit("m", &text).ok();
                ack.send(&"ok").ok();
            },
        );
        socket.on(
            "shout",
            |socket, Data(text): Data<String>, ack| async move {
                socket.ns().to("r").emit("m", &text).ok();
                ack.send(&"ok").ok();
            },
        );
    });
    (io, connect_rx, reason_rx)
}

/// CONNECT with `auth` and read the reply: `(sid, pid)`.
async fn connect(client: &mut WsClient, auth: &str) -> (String, String) {
    client.send_text(&format!("40{auth}")).await;
    let reply = client.recv_text_skip_pings().await;
    let data = parse_sio(&reply).data.expect("CONNECT reply payload");
    let keys: Vec<&String> = data.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["sid", "pid"], "{reply}");
    (
        data["sid"].as_str().unwrap().to_owned(),
        data["pid"].as_str().unwrap().to_owned(),
    )
}

/// The next `m` broadcast: `(text, offset)`.
async fn next_m(client: &mut WsClient) -> (String, String) {
    let frame = client.recv_text_skip_pings().await;
    let data = parse_sio(&frame).data.expect("event payload");
    assert_eq!(data[0], "m", "{frame}");
    let args: Vec<Value> = data.as_array().unwrap()[1..].to_vec();
    assert_eq!(
        args.len(),
        2,
        "the broadcast carries its offset last: {frame}"
    );
    (
        args[0].as_str().unwrap().to_owned(),
        args[1].as_str().unwrap().to_owned(),
    )
}

#[actix_rt::test]
async fn a_dropped_socket_gets_its_id_rooms_and_missed_broadcasts_back() {
    let (io, mut connects, mut reasons) = server();
    let port = serve(&io);
    let ns = io.of("/").unwrap();

    let mut first = WsClient::open(port).await;
    let (sid, pid) = connect(&mut first, "").await;
    assert_eq!(connects.next().await, (sid.clone(), false));
    first.send_text(r#"421["join","r"]"#).await;
    first.wait_for_text(r#"431["ok"]"#).await;
    ns.to("r").emit("m", &"one").unwrap();
    let (text, offset) = next_m(&mut first).await;
    assert_eq!(text, "one");

    // The transport drops (no namespace disconnect): the session is kept.
    drop(first);
    assert_eq!(reasons.next().await, DisconnectReason::TransportClose);
    ns.to("r").emit("m", &"two").unwrap();
    ns.to("elsewhere").emit("m", &"not for r").unwrap();
    ns.emit("m", &"three").unwrap();

    let mut back = WsClient::open(port).await;
    let auth = format!(r#"{{"pid":"{pid}","offset":"{offset}"}}"#);
    let (sid_back, pid_back) = connect(&mut back, &auth).await;
    assert_eq!(
        (sid_back.as_str(), pid_back.as_str()),
        (sid.as_str(), pid.as_str())
    );
    assert_eq!(connects.next().await, (sid.clone(), true));
    assert_eq!(next_m(&mut back).await.0, "two");
    assert_eq!(next_m(&mut back).await.0, "three");
    // Back in room r: live broadcasts reach it again, nothing was replayed twice.
    ns.to("r").emit("m", &"four").unwrap();
    assert_eq!(next_m(&mut back).await.0, "four");
    assert_eq!(ns.room_size("r"), 1);

    // Leaving on purpose ends the session: the same claim now gives a fresh socket.
    back.send_text("41").await;
    assert_eq!(
        reasons.next().await,
        DisconnectReason::ClientNamespaceDisconnect
    );
    back.close().await;
    let mut again = WsClient::open(port).await;
    let (sid_again, _) = connect(&mut again, &auth).await;
    assert_ne!(sid_again, sid);
}

#[actix_rt::test]
async fn a_private_emit_lost_with_the_transport_is_replayed_in_order() {
    let (io, mut connects, mut reasons) = server();
    let port = serve(&io);
    let ns = io.of("/").unwrap();

    let mut first = WsClient::open(port).await;
    let (sid, pid) = connect(&mut first, "").await;
    connects.next().await;
    first.send_text(r#"421["whisper","one"]"#).await;
    let (text, offset) = next_m(&mut first).await;
    assert_eq!(text, "one", "a private emit carries its offset too");
    first.wait_for_text(r#"431["ok"]"#).await;
    // The server emits, then the transport drops before the client read any of it.
    first.send_text(r#"422["whisper","two"]"#).await;
    first.wait_for_text(r#"432["ok"]"#).await;
    ns.emit("m", &"three").unwrap();
    first.send_text(r#"423["whisper","four"]"#).await;
    first.wait_for_text(r#"433["ok"]"#).await;
    drop(first);
    assert_eq!(reasons.next().await, DisconnectReason::TransportClose);

    let mut back = WsClient::open(port).await;
    let auth = format!(r#"{{"pid":"{pid}","offset":"{offset}"}}"#);
    assert_eq!(connect(&mut back, &auth).await.0, sid);
    for expected in ["two", "three", "four"] {
        assert_eq!(next_m(&mut back).await.0, expected);
    }
}

#[actix_rt::test]
async fn a_client_that_left_on_purpose_or_claims_an_unknown_offset_starts_fresh() {
    let (io, mut connects, mut reasons) = server();
    let port = serve(&io);
    let ns = io.of("/").unwrap();

    let mut client = WsClient::open(port).await;
    let (sid, pid) = connect(&mut client, "").await;
    connects.next().await;
    client.send_text(r#"421["join","r"]"#).await;
    client.wait_for_text(r#"431["ok"]"#).await;
    ns.to("r").emit("m", &"one").unwrap();
    let (_, offset) = next_m(&mut client).await;
    // Leaving the namespace on purpose is not recoverable.
    client.send_text("41").await;
    assert_eq!(
        reasons.next().await,
        DisconnectReason::ClientNamespaceDisconnect
    );
    let (sid2, _) = connect(
        &mut client,
        &format!(r#"{{"pid":"{pid}","offset":"{offset}"}}"#),
    )
    .await;
    assert_ne!(sid2, sid);
    assert!(!connects.next().await.1);

    // An offset the server never issued: no recovery either.
    assert_ne!(sid2, sid);
    drop(client);
    reasons.next().await;
    let mut client = WsClient::open(port).await;
    let (sid3, _) = connect(&mut client, r#"{"pid":"unknown","offset":"424242"}"#).await;
    assert!(!connects.next().await.1);
    assert_ne!(sid3, sid);
}

#[actix_rt::test]
async fn more_missed_than_the_outbound_budget_holds_is_a_fresh_session_never_a_gap() {
    const BUDGET: usize = 16 << 10;
    let (io, mut connects, mut reasons) = server_on(SocketIo::builder().max_buffered_bytes(BUDGET));
    let port = serve(&io);
    let ns = io.of("/").unwrap();
    let payload = "x".repeat(1000);

    for (missed, recovered) in [(5, true), (40, false)] {
        let mut client = WsClient::open(port).await;
        let (sid, pid) = connect(&mut client, "").await;
        assert_eq!(connects.next().await, (sid.clone(), false));
        client.send_text(r#"421["join","r"]"#).await;
        client.wait_for_text(r#"431["ok"]"#).await;
        ns.to("r").emit("m", &"seen").unwrap();
        let (_, offset) = next_m(&mut client).await;
        drop(client);
        assert_eq!(reasons.next().await, DisconnectReason::TransportClose);
        // 5 KB missed fits the 16 KiB budget; 40 KB does not.
        for i in 0..missed {
            ns.to("r").emit("m", &format!("{i}{payload}")).unwrap();
        }
        let mut back = WsClient::open(port).await;
        let auth = format!(r#"{{"pid":"{pid}","offset":"{offset}"}}"#);
        let (sid_back, _) = connect(&mut back, &auth).await;
        assert_eq!(connects.next().await, (sid_back.clone(), recovered));
        if recovered {
            assert_eq!(sid_back, sid);
            for i in 0..missed {
                assert_eq!(next_m(&mut back).await.0, format!("{i}{payload}"));
            }
        } else {
            // Told it did not recover: a fresh socket, and none of the missed packets.
            assert_ne!(sid_back, sid);
            ns.to(sid_back.clone()).emit("m", &"live").unwrap();
            assert_eq!(next_m(&mut back).await.0, "live");
        }
        back.close().await;
        reasons.next().await;
    }
}

#[actix_rt::test]
async fn without_recovery_the_connect_reply_is_sid_only_and_broadcasts_carry_no_offset() {
    let io = SocketIo::builder().build();
    io.ns("/", |socket| {
        socket.join("r");
    });
    let port = serve(&io);
    let (mut client, _sid) = WsClient::connect(port).await;
    io.of("/").unwrap().to("r").emit("m", &"x").unwrap();
    assert_eq!(client.recv_text_skip_pings().await, r#"42["m","x"]"#);
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_interop_js,
    ignore = "needs node and npm ci in runtime/tests/interop/js (run .ci/setup), \
              or TICKWIRE_SKIP_INTEROP is set"
)]
async fn the_official_js_client_recovers_by_itself() {
    let (io, _connects, _reasons) = server();
    let port = serve(&io);
    run_node_script("recovery.mjs", port, Duration::from_secs(30)).await;
}
