//! The two ways a websocket is carried give the same behaviour: inside a plain
//! `actix_web::HttpServer` (the websocket is the streaming body of its `101`), and on a
//! socket [`tickwire::Server`] takes over at the upgrade. The other test files run on
//! `tickwire::Server`; this one runs the same scenarios on both.

use crate::support::{serve, serve_plain, sio_url, Events, PollingClient, WsClient};
use bytes::Bytes;
use tickwire::{Config, DisconnectReason, Payload, SocketIo};

const MAX_PAYLOAD: usize = 64 * 1024;

/// `/` acks `echo` with its payload and reports each disconnect reason.
fn server() -> (SocketIo, Events<DisconnectReason>) {
    // `config` first: it replaces every setting, the payload limit included.
    crate::support::echo_reporting_disconnects(
        SocketIo::builder()
            .config(Config {
                max_inbound_messages_per_sec: 1_000_000,
                ..Config::default()
            })
            .max_payload(MAX_PAYLOAD)
            .build(),
    )
}

/// Both front ends, each serving a fresh server.
fn both() -> Vec<(&'static str, u16, SocketIo, Events<DisconnectReason>)> {
    let (plain, plain_reasons) = server();
    let (taken, taken_reasons) = server();
    vec![
        (
            "actix-web HttpServer",
            serve_plain(&plain),
            plain,
            plain_reasons,
        ),
        ("tickwire::Server", serve(&taken), taken, taken_reasons),
    ]
}

#[actix_rt::test]
async fn a_websocket_session_echoes_pushes_and_ends_with_the_clients_close() {
    for (front, port, io, mut reasons) in both() {
        let (mut client, sid) = WsClient::connect(port).await;
        client.send_text(r#"421["echo","text"]"#).await;
        assert_eq!(client.recv_text().await, r#"431["text"]"#, "{front}");

        client
            .send_text(r#"451-2["echo",{"_placeholder":true,"num":0}]"#)
            .await;
        client.send_binary(&[1, 2, 3]).await;
        assert_eq!(
            client.recv_text().await,
            r#"461-2[{"_placeholder":true,"num":0}]"#,
            "{front}"
        );
        assert_eq!(client.recv_binary().await, Bytes::from_static(&[1, 2, 3]));

        let socket = io.of("/").unwrap().get_socket(&sid).expect("socket");
        socket.emit("pushed", &"hello").unwrap();
        assert_eq!(
            client.recv_text().await,
            r#"42["pushed","hello"]"#,
            "{front}"
        );

        client.close().await;
        assert_eq!(
            reasons.next().await,
            DisconnectReason::TransportClose,
            "{front}"
        );
    }
}

#[actix_rt::test]
async fn a_burst_of_messages_is_answered_in_order() {
    // More than the connection's mailbox holds at once: the websocket waits for room.
    for (front, port, _io, _reasons) in both() {
        let (mut client, _) = WsClient::connect(port).await;
        for id in 0..300u32 {
            client.send_text(&format!(r#"42{id}["echo",{id}]"#)).await;
        }
        for id in 0..300u32 {
            assert_eq!(
                client.recv_text_skip_pings().await,
                format!("43{id}[{id}]"),
                "{front}"
            );
        }
    }
}

#[actix_rt::test]
async fn an_upgrade_from_polling_moves_the_session_onto_the_websocket() {
    for (front, port, _io, _reasons) in both() {
        let (client, _) = PollingClient::connect(port).await;
        let url = sio_url(
            "ws",
            port,
            &format!("EIO=4&transport=websocket&sid={}", client.sid),
        );
        let mut ws = WsClient::try_connect(&url).await.expect("probe websocket");
        ws.send_text("2probe").await;
        assert_eq!(ws.recv_text().await, "3probe", "{front}");
        ws.send_text("5").await;
        ws.send_text(r#"421["echo","upgraded"]"#).await;
        assert_eq!(ws.recv_text().await, r#"431["upgraded"]"#, "{front}");
    }
}

#[actix_rt::test]
async fn an_oversized_message_closes_with_1009_and_others_go_on() {
    for (front, port, _io, _reasons) in both() {
        let (mut client, _) = WsClient::connect(port).await;
        client.send_binary(&vec![0u8; MAX_PAYLOAD + 1]).await;
        assert_eq!(client.expect_closed().await, Some(1009), "{front}");
        let (mut fresh, _) = WsClient::connect(port).await;
        fresh.send_text(r#"421["echo","still here"]"#).await;
        assert_eq!(fresh.recv_text().await, r#"431["still here"]"#, "{front}");
    }
}

#[actix_rt::test]
async fn the_server_refuses_upgrades_on_other_paths_and_serves_every_mounted_path() {
    let (first, _) = server();
    let second = SocketIo::builder().path("/second").build();
    second.ns("/", |socket| {
        socket.on("which", |_, _: Payload, ack| async move {
            ack.send(&"second").unwrap();
        });
    });
    let port = crate::support::serve_all(&[&first, &second]);

    let elsewhere = format!("ws://127.0.0.1:{port}/elsewhere/?EIO=4&transport=websocket");
    assert!(WsClient::try_connect(&elsewhere).await.is_err());

    let url = format!("ws://127.0.0.1:{port}/second/?EIO=4&transport=websocket");
    let mut client = WsClient::open_url(&url).await;
    client.sio_connect("/", None).await;
    client.send_text(r#"421["which"]"#).await;
    assert_eq!(client.recv_text().await, r#"431["second"]"#);

    let (mut client, _) = WsClient::connect(port).await;
    client.send_text(r#"421["echo","first"]"#).await;
    assert_eq!(client.recv_text().await, r#"431["first"]"#);
}

/// Open a websocket by hand on a raw TCP stream; returns it after the `101` head.
async fn raw_websocket(port: u16) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let request = format!(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("request");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = crate::support::within("the 101 head", stream.read(&mut byte))
            .await
            .expect("read");
        assert_eq!(n, 1, "the server closed before its 101");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

#[actix_rt::test]
async fn a_frame_announcing_more_than_the_limit_is_refused_before_it_is_buffered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for (front, port, _io, _reasons) in both() {
        let mut stream = raw_websocket(port).await;
        // A masked binary frame whose header announces 1 TiB; then more than the limit of
        // its body, never the whole of it.
        let mut header = vec![0x82, 0x80 | 127];
        header.extend_from_slice(&(1u64 << 40).to_be_bytes());
        header.extend_from_slice(&[1, 2, 3, 4]);
        stream.write_all(&header).await.expect("header");
        let chunk = vec![0u8; 16 * 1024];
        let mut sent = 0;
        while sent <= MAX_PAYLOAD + 16 * 1024 {
            if stream.write_all(&chunk).await.is_err() {
                break; // the server already closed
            }
            sent += chunk.len();
        }
        // The server answers with close 1009 (after the open packet) and ends the stream.
        let mut received = Vec::new();
        let _ = crate::support::within("the close", stream.read_to_end(&mut received)).await;
        assert!(
            received.windows(4).any(|w| w == [0x88, 0x02, 0x03, 0xF1])
                || received
                    .windows(4)
                    .any(|w| w[0] == 0x88 && w[2..4] == [0x03, 0xF1]),
            "{front}: no close 1009 in {:?}",
            &received[received.len().saturating_sub(64)..]
        );
    }
}

/// A masked (client) websocket text frame of `text`, shorter than 126 bytes.
fn client_text_frame(text: &str) -> Vec<u8> {
    assert!(text.len() < 126);
    let mask = [0x11, 0x22, 0x33, 0x44];
    let mut frame = vec![0x81, 0x80 | text.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

#[actix_rt::test]
async fn messages_behind_the_one_that_ends_the_session_reach_no_handler() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for (front, port) in [("actix-web HttpServer", false), ("tickwire::Server", true)] {
        let io = SocketIo::builder().build();
        let (seen_tx, mut seen) = crate::support::events();
        let (reason_tx, mut reasons) = crate::support::events();
        io.ns("/", move |socket| {
            let seen_tx = seen_tx.clone();
            socket.on("echo", move |_, payload: Payload, ack| {
                let _ = seen_tx.send(payload.args().to_vec());
                async move {
                    ack.send_payload(payload).ok();
                }
            });
            let reason_tx = reason_tx.clone();
            socket.on_disconnect(move |_, reason| {
                let _ = reason_tx.send(reason);
            });
        });
        let port = if port { serve(&io) } else { serve_plain(&io) };
        let mut stream = raw_websocket(port).await;
        // One write: the namespace's connect, an event, a packet no Engine.IO type has (the
        // session ends with a parse error), and an event behind it.
        let burst: Vec<u8> = [r#"40"#, r#"421["echo",1]"#, "x", r#"422["echo",2]"#]
            .into_iter()
            .flat_map(client_text_frame)
            .collect();
        stream.write_all(&burst).await.expect("burst");
        let mut received = Vec::new();
        let _ = crate::support::within("the close", stream.read_to_end(&mut received)).await;

        assert_eq!(
            reasons.next().await,
            DisconnectReason::ParseError,
            "{front}"
        );
        assert_eq!(seen.next().await, vec![serde_json::json!(1)], "{front}");
        assert!(
            seen.try_next().is_none(),
            "{front}: the event behind reached its handler"
        );
        assert!(
            received.windows(2).any(|w| w == [0x88, 0x00]),
            "{front}: no close frame in {:?}",
            &received[received.len().saturating_sub(64)..]
        );
        assert!(
            !received.windows(6).any(|w| w == b"432[2]"),
            "{front}: the event behind was answered"
        );
    }
}
