//! Binary payloads both ways: placeholders (nested too) with attachments as separate
//! messages, binary acks, binary broadcasts; websocket binary frames and polling's
//! `b` + base64; and the raw Engine.IO echo keeping binary as binary.

use std::time::Duration;

use crate::support::{events, parse_sio, serve, serve_all, Events, PollingClient, WsClient, WAIT};
use bytes::Bytes;
use serde_json::json;
use tickwire::{Payload, Socket, SocketIo};

const PH0: &str = r#"{"_placeholder":true,"num":0}"#;
const PH1: &str = r#"{"_placeholder":true,"num":1}"#;

/// `/`: `echo-binary` re-emits its payload as `echo-back`; `inspect` reports its payload and
/// acks with it. Reports each socket.
fn server() -> (SocketIo, Events<Socket>, Events<Payload>) {
    let io = SocketIo::builder().build();
    let (socket_tx, sockets) = events();
    let (payload_tx, payloads) = events();
    io.ns("/", move |socket| {
        socket.on("echo-binary", |socket, payload: Payload, _| async move {
            socket.emit_payload("echo-back", payload).unwrap();
        });
        let tx = payload_tx.clone();
        socket.on("inspect", move |_, payload: Payload, ack| {
            let _ = tx.send(payload.clone());
            async move {
                ack.send_payload(payload).unwrap();
            }
        });
        let _ = socket_tx.send(socket);
    });
    (io, sockets, payloads)
}

fn bytes(b: &[u8]) -> Bytes {
    Bytes::copy_from_slice(b)
}

#[actix_rt::test]
async fn a_binary_event_reaches_the_handler_with_placeholders_and_attachments() {
    let (io, _, mut payloads) = server();
    let port = serve(&io);
    let (mut client, _) = WsClient::connect(port).await;

    client
        .send_text(&format!(r#"451-["inspect","name",{PH0}]"#))
        .await;
    client.send_binary(&[1, 2, 3]).await;

    let payload = payloads.next().await;
    assert_eq!(
        payload.args(),
        &[json!("name"), json!({"_placeholder": true, "num": 0})]
    );
    assert_eq!(payload.attachments(), &[bytes(&[1, 2, 3])]);
}

#[actix_rt::test]
async fn binary_echo_keeps_placeholders_and_attachment_order_on_websocket() {
    let (io, _, _) = server();
    let port = serve(&io);
    let (mut client, _) = WsClient::connect(port).await;

    client
        .send_text(&format!(r#"452-["echo-binary",{PH0},{PH1}]"#))
        .await;
    client.send_binary(&[1, 2, 3]).await;
    client.send_binary(&[4, 5, 6]).await;

    assert_eq!(
        client.recv_text().await,
        format!(r#"452-["echo-back",{PH0},{PH1}]"#)
    );
    assert_eq!(client.recv_binary().await, bytes(&[1, 2, 3]));
    assert_eq!(client.recv_binary().await, bytes(&[4, 5, 6]));
}

#[actix_rt::test]
async fn nested_placeholders_round_trip() {
    let (io, _, mut payloads) = server();
    let port = serve(&io);
    let (mut client, _) = WsClient::connect(port).await;
    let nested = format!(r#"{{"a":{PH1},"list":[1,{{"deep":[{PH0}]}}],"n":null}}"#);

    client
        .send_text(&format!(r#"452-7["inspect",{nested}]"#))
        .await;
    client.send_binary(&[10]).await;
    client.send_binary(&[20, 20]).await;

    assert_eq!(client.recv_text().await, format!(r#"462-7[{nested}]"#));
    assert_eq!(client.recv_binary().await, bytes(&[10]));
    assert_eq!(client.recv_binary().await, bytes(&[20, 20]));
    let payload = payloads.next().await;
    assert_eq!(
        payload.args()[0]["list"][1]["deep"][0],
        json!({"_placeholder": true, "num": 0})
    );
    assert_eq!(payload.attachments(), &[bytes(&[10]), bytes(&[20, 20])]);
}

#[actix_rt::test]
async fn a_binary_ack_answers_a_binary_event() {
    let (io, _, _) = server();
    let port = serve(&io);
    let (mut client, _) = WsClient::connect(port).await;

    client
        .send_text(&format!(r#"452-789["inspect",{PH0},{PH1}]"#))
        .await;
    client.send_binary(&[1, 2, 3]).await;
    client.send_binary(&[4, 5, 6]).await;

    assert_eq!(client.recv_text().await, format!(r#"462-789[{PH0},{PH1}]"#));
    assert_eq!(client.recv_binary().await, bytes(&[1, 2, 3]));
    assert_eq!(client.recv_binary().await, bytes(&[4, 5, 6]));
}

#[actix_rt::test]
async fn server_emits_binary_arguments_and_nested_binary() {
    let (io, mut sockets, _) = server();
    let port = serve(&io);
    let (mut client, _) = WsClient::connect(port).await;
    let socket = sockets.next().await;

    let flat = Payload::new().arg(&"name").unwrap().binary(vec![9u8, 8, 7]);
    socket.emit_payload("file", flat).unwrap();
    let mut nested = Payload::new();
    let first = nested.placeholder_for(vec![1u8]);
    let second = nested.placeholder_for(vec![2u8, 2]);
    let nested = nested
        .arg(&json!({"meta": "x", "parts": [first, second]}))
        .unwrap();
    socket.emit_payload("nested", nested).unwrap();

    assert_eq!(
        client.recv_text().await,
        format!(r#"451-["file","name",{PH0}]"#)
    );
    assert_eq!(client.recv_binary().await, bytes(&[9, 8, 7]));
    assert_eq!(
        client.recv_text().await,
        format!(r#"452-["nested",{{"meta":"x","parts":[{PH0},{PH1}]}}]"#)
    );
    assert_eq!(client.recv_binary().await, bytes(&[1]));
    assert_eq!(client.recv_binary().await, bytes(&[2, 2]));
}

#[actix_rt::test]
async fn the_client_can_answer_a_server_ack_request_with_binary() {
    let (io, mut sockets, _) = server();
    let port = serve(&io);
    let (mut client, _) = WsClient::connect(port).await;
    let socket = sockets.next().await;

    let ask = socket.emit_payload_with_ack("want-bytes", Payload::new().binary(vec![0u8]), WAIT);
    let answer = async {
        let frame = client.recv_text().await;
        let id = parse_sio(&frame).id.expect("ack id");
        assert_eq!(frame, format!(r#"451-{id}["want-bytes",{PH0}]"#));
        assert_eq!(client.recv_binary().await, bytes(&[0]));
        client
            .send_text(&format!(r#"461-{id}["here",{PH0}]"#))
            .await;
        client.send_binary(&[5, 5]).await;
    };
    let (result, ()) = futures_util::join!(ask, answer);

    let payload = result.unwrap();
    assert_eq!(
        payload.args(),
        &[json!("here"), json!({"_placeholder": true, "num": 0})]
    );
    assert_eq!(payload.attachments(), &[bytes(&[5, 5])]);
}

#[actix_rt::test]
async fn a_binary_broadcast_reaches_every_target_with_its_attachments() {
    let (io, _, _) = server();
    let port = serve(&io);
    let (mut a, _) = WsClient::connect(port).await;
    let (mut b, _) = WsClient::connect(port).await;

    io.of("/")
        .unwrap()
        .broadcast()
        .emit_payload("blob", Payload::new().binary(vec![7u8; 3]))
        .unwrap();

    for client in [&mut a, &mut b] {
        assert_eq!(client.recv_text().await, format!(r#"451-["blob",{PH0}]"#));
        assert_eq!(client.recv_binary().await, bytes(&[7, 7, 7]));
    }
}

#[actix_rt::test]
async fn a_large_attachment_round_trips_on_websocket() {
    let (io, _, _) = server();
    let port = serve(&io);
    let (mut client, _) = WsClient::connect(port).await;
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();

    client
        .send_text(&format!(r#"451-["echo-binary",{PH0}]"#))
        .await;
    client.send_binary(&big).await;

    assert_eq!(
        client.recv_text().await,
        format!(r#"451-["echo-back",{PH0}]"#)
    );
    assert_eq!(client.recv_binary().await, Bytes::from(big));
}

#[actix_rt::test]
async fn binary_over_polling_is_b_plus_base64_both_ways() {
    let (io, _, _) = server();
    let port = serve(&io);
    let (mut client, _) = PollingClient::connect(port).await;

    client
        .send(&format!(
            "452-[\"echo-binary\",{PH0},{PH1}]\x1ebAQID\x1ebBAUG"
        ))
        .await;

    assert_eq!(
        client.next_packet().await,
        format!(r#"452-["echo-back",{PH0},{PH1}]"#)
    );
    assert_eq!(client.next_packet().await, "bAQID");
    assert_eq!(client.next_packet().await, "bBAUG");
}

#[actix_rt::test]
async fn polling_attachments_may_follow_in_later_posts() {
    let (io, _, mut payloads) = server();
    let port = serve(&io);
    let (client, _) = PollingClient::connect(port).await;

    client
        .send(&format!(r#"452-["inspect",{PH0},{PH1}]"#))
        .await;
    client.send("bAQID").await;
    client.send("bBAUG").await;

    let payload = payloads.next().await;
    assert_eq!(
        payload.attachments(),
        &[bytes(&[1, 2, 3]), bytes(&[4, 5, 6])]
    );
}

#[actix_rt::test]
async fn server_binary_reaches_a_polling_client_as_base64() {
    let (io, mut sockets, _) = server();
    let port = serve(&io);
    let (mut client, _) = PollingClient::connect(port).await;
    let socket = sockets.next().await;

    socket
        .emit_payload("file", Payload::new().binary(vec![0xffu8, 0, 0x10]))
        .unwrap();

    assert_eq!(client.next_packet().await, format!(r#"451-["file",{PH0}]"#));
    assert_eq!(client.next_packet().await, "b/wAQ");
}

/// The raw Engine.IO echo endpoint (`/engine.io/`) next to the Socket.IO one.
fn engine_echo() -> (SocketIo, u16) {
    let echo = SocketIo::builder()
        .path("/engine.io")
        .ping_interval(Duration::from_secs(25))
        .build_engine_echo();
    let io = SocketIo::builder().build();
    let port = serve_all(&[&io, &echo]);
    (echo, port)
}

#[actix_rt::test]
async fn engine_io_echo_keeps_text_as_text_and_binary_as_binary_on_websocket() {
    let (_echo, port) = engine_echo();
    let mut client = WsClient::open_url(&format!(
        "ws://127.0.0.1:{port}/engine.io/?EIO=4&transport=websocket"
    ))
    .await;

    client.send_text("4hello").await;
    client.send_binary(&[1, 2, 3, 4]).await;

    assert_eq!(client.recv_text().await, "4hello");
    assert_eq!(
        client.recv().await,
        crate::support::Msg::Binary(bytes(&[1, 2, 3, 4]))
    );
}

#[actix_rt::test]
async fn engine_io_echo_returns_a_polling_payload_byte_for_byte() {
    let (_echo, port) = engine_echo();
    let client = PollingClient::open_at(port, "/engine.io/").await;

    client.send("4hello\x1ebAQIDBA==").await;

    let reply = client.get().await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "4hello\x1ebAQIDBA==")
    );
}
