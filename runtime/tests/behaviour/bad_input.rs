//! Bad input never panics the server and never leaks into other clients: malformed packets
//! close the offending connection, oversized messages are refused (websocket close code
//! 1009, HTTP 413), bad requests get HTTP 400 with the reference server's JSON error body —
//! and after each, a fresh client is served normally.

use std::time::Duration;

use crate::support::{http_get, http_post, serve, sio_url, Msg, PollingClient, WsClient};
use tickwire::{Payload, SocketIo};

const MAX_PAYLOAD: usize = 1000;

/// `/` acks `echo` with its payload; `max_payload` is small so oversized input is cheap.
fn server() -> SocketIo {
    let io = SocketIo::builder().max_payload(MAX_PAYLOAD).build();
    io.ns("/", |socket| {
        socket.on("echo", |_, payload: Payload, ack| async move {
            ack.send_payload(payload).unwrap();
        });
    });
    io
}

/// A new client, on each transport, connects and gets its echo acked.
async fn assert_serves_fresh_clients(port: u16) {
    let (mut ws, _) = WsClient::connect(port).await;
    ws.assert_echo_ack("/", 1).await;
    let (mut polling, _) = PollingClient::connect(port).await;
    polling.send(r#"421["echo","fresh"]"#).await;
    assert_eq!(polling.next_packet().await, r#"431["fresh"]"#);
}

enum Frame {
    Text(&'static str),
    Binary(&'static [u8]),
}

/// Send `frames` and require the server to close the connection, sending nothing else.
async fn assert_closes(client: &mut WsClient, case: &str, frames: &[Frame]) {
    for frame in frames {
        match frame {
            Frame::Text(text) => client.send_text(text).await,
            Frame::Binary(bytes) => client.send_binary(bytes).await,
        }
    }
    loop {
        match client.recv().await {
            Msg::Close(_) | Msg::Ended => return,
            Msg::Text(ping) if ping == "2" => {}
            other => panic!("{case}: expected the connection to close, got {other:?}"),
        }
    }
}

const PH0: &str = r#"{"_placeholder":true,"num":0}"#;
/// A binary event announcing one attachment.
const BINARY_EVENT_ONE_ATTACHMENT: &str = r#"451-["x",{"_placeholder":true,"num":0}]"#;

#[actix_rt::test]
async fn malformed_packets_after_connect_close_the_connection() {
    let io = server();
    let port = serve(&io);
    let cases: Vec<(&str, Vec<Frame>)> = vec![
        ("unknown Socket.IO type", vec![Frame::Text("4abc")]),
        ("Socket.IO type 9", vec![Frame::Text(r#"49["x"]"#)]),
        ("event payload not an array", vec![Frame::Text("42{}")]),
        ("event payload empty", vec![Frame::Text("42[]")]),
        (
            "event name not a string",
            vec![Frame::Text(r#"42[{"a":1}]"#)],
        ),
        ("bad ack id", vec![Frame::Text(r#"42abc["x"]"#)]),
        ("truncated JSON", vec![Frame::Text(r#"42["x""#)]),
        ("ack without payload", vec![Frame::Text("43")]),
        ("disconnect with payload", vec![Frame::Text(r#"41{"a":1}"#)]),
        (
            "binary event without count",
            vec![Frame::Text(r#"45["x"]"#)],
        ),
        (
            "too many attachments",
            vec![Frame::Text(r#"4599999-["x"]"#)],
        ),
        (
            "placeholder beyond the attachments",
            vec![
                Frame::Text(r#"451-["x",{"_placeholder":true,"num":5}]"#),
                Frame::Binary(&[1]),
            ],
        ),
        (
            "binary frame nobody expects",
            vec![Frame::Binary(&[1, 2, 3])],
        ),
        (
            "text while an attachment is expected",
            vec![
                Frame::Text(BINARY_EVENT_ONE_ATTACHMENT),
                Frame::Text(r#"42["y"]"#),
            ],
        ),
        (
            "event for a namespace not joined",
            vec![Frame::Text(r#"42/other,["x"]"#)],
        ),
        ("empty Engine.IO frame", vec![Frame::Text("")]),
        ("unknown Engine.IO type", vec![Frame::Text("7")]),
    ];
    for (case, frames) in cases {
        let (mut client, _) = WsClient::connect(port).await;
        assert_closes(&mut client, case, &frames).await;
    }

    assert_serves_fresh_clients(port).await;
}

#[actix_rt::test]
async fn events_named_like_reserved_events_are_malformed() {
    // The reference parser refuses these names in EVENT packets (they are the library's own
    // lifecycle events), so a client cannot fake them.
    let io = server();
    let port = serve(&io);
    for frame in [
        r#"42["connect"]"#,
        r#"42["connect_error"]"#,
        r#"42["disconnect"]"#,
        r#"42["disconnecting"]"#,
        r#"42["newListener"]"#,
        r#"42["removeListener"]"#,
    ] {
        let (mut client, _) = WsClient::connect(port).await;
        assert_closes(&mut client, frame, &[Frame::Text(frame)]).await;
    }

    assert_serves_fresh_clients(port).await;
}

#[actix_rt::test]
async fn malformed_packets_before_connect_close_the_connection() {
    let io = server();
    let port = serve(&io);
    let cases = [
        ("unknown Socket.IO type first", "4abc"),
        ("event before CONNECT", r#"42["x"]"#),
        ("CONNECT payload not an object", "40[1]"),
        ("CONNECT payload not JSON", "40{"),
    ];
    for (case, frame) in cases {
        let mut client = WsClient::open(port).await;
        assert_closes(&mut client, case, &[Frame::Text(frame)]).await;
    }

    assert_serves_fresh_clients(port).await;
}

#[actix_rt::test]
async fn an_oversized_websocket_message_is_refused_with_close_code_1009() {
    let io = server();
    let port = serve(&io);

    // Exactly max_payload is accepted.
    let (mut client, _) = WsClient::connect(port).await;
    let filler = "x".repeat(MAX_PAYLOAD - r#"421["echo",""]"#.len());
    let at_limit = format!(r#"421["echo","{filler}"]"#);
    assert_eq!(at_limit.len(), MAX_PAYLOAD);
    client.send_text(&at_limit).await;
    assert_eq!(client.recv_text().await, format!(r#"431["{filler}"]"#));

    // One byte more is not, as text or as binary.
    client.send_text(&format!("{at_limit} ")).await;
    assert_eq!(client.expect_closed().await, Some(1009));
    let (mut client, _) = WsClient::connect(port).await;
    client.send_text(&format!("451-[\"echo\",{PH0}]")).await;
    client.send_binary(&vec![0u8; MAX_PAYLOAD + 1]).await;
    assert_eq!(client.expect_closed().await, Some(1009));

    assert_serves_fresh_clients(port).await;
}

#[actix_rt::test]
async fn an_oversized_polling_post_gets_413() {
    let io = server();
    let port = serve(&io);
    let (client, _) = PollingClient::connect(port).await;

    let body = format!(r#"42["echo","{}"]"#, "x".repeat(5 * MAX_PAYLOAD));
    let reply = client.post(&body).await;

    assert_eq!(reply.status, 413);
    assert_serves_fresh_clients(port).await;
}

#[actix_rt::test]
async fn an_unknown_sid_gets_400_with_code_1() {
    let io = server();
    let port = serve(&io);
    let query = "/socket.io/?EIO=4&transport=polling&sid=nope";
    let unknown = r#"{"code":1,"message":"Session ID unknown"}"#;

    let get = http_get(port, query).await;
    let post = http_post(port, query, "42[\"x\"]", "text/plain;charset=UTF-8").await;
    let ws =
        WsClient::try_connect(&sio_url("ws", port, "EIO=4&transport=websocket&sid=nope")).await;

    assert_eq!((get.status, get.body.as_str()), (400, unknown));
    assert_eq!(get.content_type, "application/json");
    assert_eq!((post.status, post.body.as_str()), (400, unknown));
    match ws {
        Err(awc::error::WsClientError::InvalidResponseStatus(status)) => {
            assert_eq!(status.as_u16(), 400)
        }
        Err(other) => panic!("expected the upgrade to be refused with 400, got {other}"),
        Ok(_) => panic!("expected the upgrade to be refused with 400"),
    }
    assert_serves_fresh_clients(port).await;
}

#[actix_rt::test]
async fn a_second_concurrent_get_gets_400_and_the_first_gets_close() {
    let io = server();
    let port = serve(&io);
    let client = PollingClient::open(port).await;

    let (first, second) = futures_util::join!(client.get(), client.get());

    // Whichever the server saw second is refused; the parked one ends with `1`.
    let mut replies = [
        (first.status, first.body.clone()),
        (second.status, second.body.clone()),
    ];
    replies.sort();
    assert_eq!(replies[0], (200, "1".to_owned()));
    assert_eq!(replies[1].0, 400);
    let after = client.get().await;
    assert_eq!(
        (after.status, after.body.as_str()),
        (400, r#"{"code":1,"message":"Session ID unknown"}"#)
    );
    assert_serves_fresh_clients(port).await;
}

#[actix_rt::test]
async fn bad_protocol_version_or_transport_gets_400_with_its_code() {
    let io = server();
    let port = serve(&io);
    let transport_unknown = r#"{"code":0,"message":"Transport unknown"}"#;
    let unsupported = r#"{"code":5,"message":"Unsupported protocol version"}"#;
    let cases = [
        ("EIO=4&transport=abc", transport_unknown),
        ("EIO=4", transport_unknown),
        ("EIO=3&transport=polling", unsupported),
        ("EIO=abc&transport=polling", unsupported),
        ("transport=polling", unsupported),
        // A websocket transport requested without the upgrade headers.
        (
            "EIO=4&transport=websocket",
            r#"{"code":3,"message":"Bad request"}"#,
        ),
    ];
    for (query, body) in cases {
        let reply = http_get(port, &format!("/socket.io/?{query}")).await;
        assert_eq!((reply.status, reply.body.as_str()), (400, body), "{query}");
    }
    for query in [
        "EIO=3&transport=websocket",
        "transport=websocket",
        "EIO=4&transport=abc",
    ] {
        match WsClient::try_connect(&sio_url("ws", port, query)).await {
            Err(awc::error::WsClientError::InvalidResponseStatus(status)) => {
                assert_eq!(status.as_u16(), 400, "{query}")
            }
            Err(other) => panic!("{query}: expected 400, got {other}"),
            Ok(_) => panic!("{query}: expected the upgrade to be refused"),
        }
    }

    assert_serves_fresh_clients(port).await;
}

#[actix_rt::test]
async fn a_post_or_put_without_sid_gets_400() {
    let io = server();
    let port = serve(&io);
    let query = "/socket.io/?EIO=4&transport=polling";

    let post = http_post(port, query, "40", "text/plain;charset=UTF-8").await;
    let put = crate::support::http_put(port, query, "40").await;

    assert_eq!(
        (post.status, post.body.as_str()),
        (400, r#"{"code":2,"message":"Bad handshake method"}"#)
    );
    assert_eq!(put.status, 400);
    assert_serves_fresh_clients(port).await;
}

#[actix_rt::test]
async fn a_binary_content_type_post_is_refused_and_closes_the_session() {
    let io = server();
    let port = serve(&io);
    let (client, _) = PollingClient::connect(port).await;

    let reply = http_post(
        port,
        &client.session_query(),
        vec![4u8, 1, 2, 3],
        "application/octet-stream",
    )
    .await;

    assert_eq!(reply.status, 400);
    crate::support::settled("the session to be closed", || io.connection_count() == 0).await;
    assert_eq!(client.get().await.status, 400);
    assert_serves_fresh_clients(port).await;
}

#[actix_rt::test]
async fn an_undecodable_polling_body_gets_400_and_closes_the_session() {
    let io = server();
    let port = serve(&io);
    let (client, _) = PollingClient::connect(port).await;

    let reply = client.post("abc").await;

    assert_eq!(reply.status, 400);
    assert_eq!(client.get().await.status, 400);
    assert_serves_fresh_clients(port).await;
}

#[actix_rt::test]
async fn a_flood_of_bad_connections_leaves_the_server_serving() {
    // Every kind of early abort at once, then normal service.
    let io = SocketIo::builder()
        .max_payload(MAX_PAYLOAD)
        .connect_timeout(Duration::from_secs(5))
        .build();
    io.ns("/", |socket| {
        socket.on("echo", |_, payload: Payload, ack| async move {
            ack.send_payload(payload).unwrap();
        });
    });
    let port = serve(&io);
    let mut aborted = Vec::new();
    for i in 0..20 {
        let mut client = WsClient::open(port).await;
        match i % 4 {
            0 => client.send_text("4abc").await,
            1 => client.send_binary(&[0xff; 8]).await,
            2 => client.send_text(&"4".repeat(MAX_PAYLOAD + 1)).await,
            _ => {}
        }
        aborted.push(client);
    }
    drop(aborted);

    assert_serves_fresh_clients(port).await;
}
