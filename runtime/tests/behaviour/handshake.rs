//! Handshakes: the Engine.IO open packet on both transports, and the Socket.IO CONNECT
//! exchange (reply, auth payload, what the connect handler sees and emits).

use std::time::Duration;

use crate::support::{events, serve, PollingClient, WsClient};
use serde_json::{json, Value};
use tickwire::{Socket, SocketIo};

/// A server whose `/` connect handler reports each socket and emits `auth` with the CONNECT
/// payload, then `n` with 1, 2 and 3.
fn server() -> (SocketIo, crate::support::Events<Socket>) {
    let io = SocketIo::builder()
        .ping_interval(Duration::from_millis(12_345))
        .ping_timeout(Duration::from_millis(6_789))
        .max_payload(54_321)
        .build();
    let (tx, sockets) = events();
    io.ns("/", move |socket| {
        let auth = socket.handshake().auth.clone();
        socket.emit("auth", &auth).unwrap();
        for n in 1..=3 {
            socket.emit("n", &n).unwrap();
        }
        let _ = tx.send(socket);
    });
    (io, sockets)
}

#[actix_rt::test]
async fn polling_handshake_answers_the_open_packet_with_exactly_the_five_keys() {
    let (io, _) = server();
    let port = serve(&io);

    let reply = crate::support::http_get(port, "/socket.io/?EIO=4&transport=polling").await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type, "text/plain; charset=UTF-8");
    let open: Value = serde_json::from_str(reply.body.strip_prefix('0').unwrap()).unwrap();
    let sid = open["sid"].as_str().unwrap();
    assert!(!sid.is_empty());
    assert_eq!(
        reply.body,
        format!(
            r#"0{{"sid":"{sid}","upgrades":["websocket"],"pingInterval":12345,"pingTimeout":6789,"maxPayload":54321}}"#
        )
    );
}

#[actix_rt::test]
async fn websocket_handshake_sends_the_open_packet_first_with_no_upgrades() {
    let (io, _) = server();
    let port = serve(&io);

    let client = WsClient::open(port).await;

    assert_eq!(
        client.handshake,
        json!({
            "sid": client.sid,
            "upgrades": [],
            "pingInterval": 12345,
            "pingTimeout": 6789,
            "maxPayload": 54321,
        })
    );
    assert_eq!(
        serde_json::to_string(&client.handshake).unwrap(),
        format!(
            r#"{{"sid":"{}","upgrades":[],"pingInterval":12345,"pingTimeout":6789,"maxPayload":54321}}"#,
            client.sid
        ),
        "key order of the open packet"
    );
}

#[actix_rt::test]
async fn every_session_gets_its_own_sid_and_is_counted() {
    let (io, _) = server();
    let port = serve(&io);

    let a = PollingClient::open(port).await;
    let b = PollingClient::open(port).await;
    let c = WsClient::open(port).await;

    assert_ne!(a.sid, b.sid);
    assert_ne!(a.sid, c.sid);
    assert_ne!(b.sid, c.sid);
    assert_eq!(io.connection_count(), 3);
}

#[actix_rt::test]
async fn connect_replies_with_a_new_socket_id_then_the_connect_handler_emits_in_order() {
    let (io, mut sockets) = server();
    let port = serve(&io);
    let mut client = WsClient::open(port).await;

    client.send_text("40").await;

    let reply = client.recv_text().await;
    let sid = crate::support::connect_reply_sid(&reply, "/");
    assert_ne!(
        sid, client.sid,
        "the socket id is not the Engine.IO session id"
    );
    assert_eq!(client.recv_text().await, r#"42["auth",{}]"#);
    assert_eq!(client.recv_text().await, r#"42["n",1]"#);
    assert_eq!(client.recv_text().await, r#"42["n",2]"#);
    assert_eq!(client.recv_text().await, r#"42["n",3]"#);
    let socket = sockets.next().await;
    assert_eq!(socket.id(), sid);
    assert_eq!(socket.ns().name(), "/");
    assert!(socket.connected());
    assert_eq!(io.of("/").unwrap().socket_count(), 1);
}

#[actix_rt::test]
async fn connect_payload_is_the_handshake_auth() {
    let (io, mut sockets) = server();
    let port = serve(&io);
    let mut client = WsClient::open(port).await;

    client.sio_connect("/", Some(r#"{"token":"123"}"#)).await;

    assert_eq!(client.recv_text().await, r#"42["auth",{"token":"123"}]"#);
    let socket = sockets.next().await;
    assert_eq!(socket.handshake().auth, json!({"token": "123"}));
}

#[actix_rt::test]
async fn handshake_exposes_query_headers_and_peer_address() {
    let (io, mut sockets) = server();
    let port = serve(&io);
    let url = crate::support::sio_url(
        "ws",
        port,
        "EIO=4&transport=websocket&room=lobby&name=a%20b",
    );
    let mut client = WsClient::open_url(&url).await;

    client.sio_connect("/", None).await;

    let socket = sockets.next().await;
    let handshake = socket.handshake();
    assert_eq!(handshake.query_param("room"), Some("lobby"));
    assert_eq!(handshake.query_param("name"), Some("a b"), "decoded");
    assert_eq!(handshake.query_param("EIO"), Some("4"));
    assert_eq!(handshake.query_param("missing"), None);
    assert_eq!(
        handshake.headers.get("HOST"),
        Some(format!("127.0.0.1:{port}").as_str())
    );
    // The websocket handshake's own headers are not kept.
    assert!(!handshake.headers.contains_key("sec-websocket-key"));
    assert!(!handshake.headers.contains_key("upgrade"));
    let address = handshake.address.expect("peer address");
    assert_eq!(address.ip().to_string(), "127.0.0.1");
    assert_eq!(handshake.auth, json!({}), "no CONNECT payload means {{}}");
}

#[actix_rt::test]
async fn connect_over_polling_replies_then_delivers_the_connect_handler_emits() {
    let (io, mut sockets) = server();
    let port = serve(&io);
    let mut client = PollingClient::open(port).await;
    assert_eq!(
        client.handshake["upgrades"],
        json!(["websocket"]),
        "a polling session offers the upgrade"
    );

    let sid = client.sio_connect("/", Some(r#"{"k":[1,2]}"#)).await;

    assert_eq!(client.next_packet().await, r#"42["auth",{"k":[1,2]}]"#);
    assert_eq!(client.next_packet().await, r#"42["n",1]"#);
    assert_eq!(client.next_packet().await, r#"42["n",2]"#);
    assert_eq!(client.next_packet().await, r#"42["n",3]"#);
    assert_eq!(sockets.next().await.id(), sid);
}

#[actix_rt::test]
async fn before_connect_the_server_pushes_nothing_but_pings() {
    let io = SocketIo::builder()
        .ping_interval(Duration::from_millis(150))
        .ping_timeout(Duration::from_millis(2_000))
        .build();
    io.ns("/", |socket| {
        socket.emit("hello", &"world").unwrap();
    });
    let port = serve(&io);

    let mut ws = WsClient::open(port).await;
    let polling = PollingClient::open(port).await;

    assert_eq!(ws.recv().await, crate::support::Msg::Text("2".into()));
    let reply = polling.get().await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "2"));
}
