//! Upgrade from polling to websocket: `2probe` → `3probe`, polls answered with noop `6`
//! until the client sends `5`, then everything (queued frames included) flows on the
//! websocket and polling requests for the session are refused. Failed or stalled upgrades
//! leave the polling session working; a session takes only one websocket.

use std::time::Duration;

use crate::support::{events, serve, settled, sio_url, Events, PollingClient, WsClient};
use tickwire::{Payload, Socket, SocketIo};

/// A server whose `/` acks `echo` with its payload and reports each socket.
fn server(upgrade_timeout: Duration) -> (SocketIo, Events<Socket>) {
    let io = SocketIo::builder().upgrade_timeout(upgrade_timeout).build();
    let (tx, sockets) = events();
    io.ns("/", move |socket| {
        socket.on("echo", |_, payload: Payload, ack| async move {
            ack.send_payload(payload).unwrap();
        });
        let _ = tx.send(socket);
    });
    (io, sockets)
}

fn probe_url(port: u16, sid: &str) -> String {
    sio_url("ws", port, &format!("EIO=4&transport=websocket&sid={sid}"))
}

/// Open the probing websocket and exchange `2probe` / `3probe`.
async fn probe(port: u16, sid: &str) -> WsClient {
    let mut ws = WsClient::try_connect(&probe_url(port, sid))
        .await
        .expect("upgrade websocket");
    ws.send_text("2probe").await;
    assert_eq!(ws.recv_text().await, "3probe");
    ws
}

#[actix_rt::test]
async fn polling_session_upgrades_and_keeps_its_socket() {
    let (io, mut sockets) = server(Duration::from_secs(10));
    let port = serve(&io);
    let (client, sid) = PollingClient::connect(port).await;
    let socket = sockets.next().await;

    // A GET is pending while the probe runs: the server must end it with a noop.
    let probe_once_parked = async {
        settled("the GET parked", || io.stats().parked_polls == 1).await;
        probe(port, &client.sid).await
    };
    let (pending, mut ws) = futures_util::join!(client.get(), probe_once_parked);
    assert_eq!((pending.status, pending.body.as_str()), (200, "6"));
    ws.send_text("5").await;

    ws.send_text(r#"421["echo","via websocket"]"#).await;
    assert_eq!(ws.recv_text().await, r#"431["via websocket"]"#);
    assert_eq!(socket.id(), sid);
    assert!(socket.connected(), "the upgrade keeps the Socket.IO socket");
    assert_eq!(io.of("/").unwrap().socket_count(), 1);
    assert_eq!(io.connection_count(), 1);
    socket.emit("pushed", &"after upgrade").unwrap();
    assert_eq!(ws.recv_text().await, r#"42["pushed","after upgrade"]"#);
}

#[actix_rt::test]
async fn after_the_upgrade_polling_requests_for_the_session_are_refused() {
    let (io, _) = server(Duration::from_secs(10));
    let port = serve(&io);
    let (client, _) = PollingClient::connect(port).await;
    let mut ws = probe(port, &client.sid).await;
    ws.send_text("5").await;
    // The ack proves the server has handled `5` (frames on one websocket are ordered).
    ws.assert_echo_ack("/", 1).await;

    let get = client.get().await;
    let post = client.post(r#"42["echo","x"]"#).await;

    let bad_request = r#"{"code":3,"message":"Bad request"}"#;
    assert_eq!((get.status, get.body.as_str()), (400, bad_request));
    assert_eq!((post.status, post.body.as_str()), (400, bad_request));
    ws.assert_echo_ack("/", 2).await;
}

#[actix_rt::test]
async fn frames_queued_during_the_upgrade_arrive_in_order_on_the_websocket() {
    let (io, mut sockets) = server(Duration::from_secs(10));
    let port = serve(&io);
    let (client, _) = PollingClient::connect(port).await;
    let socket = sockets.next().await;
    let mut ws = probe(port, &client.sid).await;

    for n in 1..=3 {
        socket.emit("queued", &n).unwrap();
    }
    // Between the probe and `5`, every GET gets a noop, never the queued frames.
    let reply = client.get().await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "6"));
    ws.send_text("5").await;

    assert_eq!(ws.recv_text().await, r#"42["queued",1]"#);
    assert_eq!(ws.recv_text().await, r#"42["queued",2]"#);
    assert_eq!(ws.recv_text().await, r#"42["queued",3]"#);
}

#[actix_rt::test]
async fn a_second_websocket_for_an_upgraded_session_is_closed_and_the_first_goes_on() {
    let (io, _) = server(Duration::from_secs(10));
    let port = serve(&io);
    let (client, _) = PollingClient::connect(port).await;
    let mut ws = probe(port, &client.sid).await;
    ws.send_text("5").await;
    ws.assert_echo_ack("/", 1).await;

    let mut intruder = WsClient::try_connect(&probe_url(port, &client.sid))
        .await
        .expect("the handshake completes before the close");
    intruder.expect_closed().await;

    ws.assert_echo_ack("/", 2).await;
}

#[actix_rt::test]
async fn a_websocket_session_cannot_be_upgraded_again() {
    let (io, _) = server(Duration::from_secs(10));
    let port = serve(&io);
    let (mut ws, _) = WsClient::connect(port).await;

    let mut intruder = WsClient::try_connect(&probe_url(port, &ws.sid))
        .await
        .expect("the handshake completes before the close");
    intruder.expect_closed().await;

    ws.assert_echo_ack("/", 1).await;
}

#[actix_rt::test]
async fn a_bad_probe_abandons_the_upgrade_and_polling_goes_on() {
    let (io, _) = server(Duration::from_secs(10));
    let port = serve(&io);
    let (mut client, _) = PollingClient::connect(port).await;
    let mut ws = WsClient::try_connect(&probe_url(port, &client.sid))
        .await
        .expect("upgrade websocket");

    ws.send_text("2notprobe").await;

    ws.expect_closed().await;
    client.send(r#"421["echo","still polling"]"#).await;
    assert_eq!(client.next_packet().await, r#"431["still polling"]"#);
}

#[actix_rt::test]
async fn an_upgrade_that_never_probes_times_out_and_polling_goes_on() {
    let (io, _) = server(Duration::from_millis(200));
    let port = serve(&io);
    let (mut client, _) = PollingClient::connect(port).await;
    let mut ws = WsClient::try_connect(&probe_url(port, &client.sid))
        .await
        .expect("upgrade websocket");

    // No `2probe`: the server gives up after the upgrade timeout.
    ws.expect_closed().await;

    client.send(r#"421["echo","still polling"]"#).await;
    assert_eq!(client.next_packet().await, r#"431["still polling"]"#);
}

#[actix_rt::test]
async fn a_probe_closed_before_the_upgrade_completes_leaves_polling_working() {
    let (io, _) = server(Duration::from_secs(10));
    let port = serve(&io);
    let (mut client, _) = PollingClient::connect(port).await;
    let mut ws = probe(port, &client.sid).await;

    ws.close().await;
    drop(ws);

    client.send(r#"421["echo","still polling"]"#).await;
    // Polls racing the abandoned probe may still get a noop; the ack must follow.
    let packet = crate::support::within("a packet other than noop", async {
        loop {
            let packet = client.next_packet().await;
            if packet != "6" {
                return packet;
            }
        }
    })
    .await;
    assert_eq!(packet, r#"431["still polling"]"#);
}
