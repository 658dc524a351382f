//! Disconnects: the `DisconnectReason` each path produces, what the client sees, and what
//! is left of the connection afterwards.
//!
//! | path | reason | connection |
//! |---|---|---|
//! | client sends `41` | client namespace disconnect | stays open |
//! | `socket.disconnect(false)` | server namespace disconnect (client gets `41`) | stays open |
//! | `socket.disconnect(true)` | server namespace disconnect, every namespace | closed |
//! | websocket closed / dropped, Engine.IO `1` | transport close | closed |
//! | no pong | ping timeout | closed |
//! | malformed packet | parse error | closed |
//! | `io.close()` | server shutting down | closed |

use std::collections::HashSet;
use std::time::Duration;

use crate::support::{events, serve, settled, Events, Msg, PollingClient, WsClient};
use tickwire::{DisconnectReason, Payload, Socket, SocketIo};

/// (namespace, socket id, reason, `socket.connected()` inside the handler)
type Report = (String, String, DisconnectReason, bool);

/// `/` and `/custom`, each with `echo` (acks its payload), `kick` (`disconnect(false)`)
/// and `kick-all` (`disconnect(true)`); every disconnect is reported.
fn server(builder: tickwire::SocketIoBuilder) -> (SocketIo, Events<Report>) {
    let io = builder.build();
    let (tx, reports) = events();
    for nsp in ["/", "/custom"] {
        let tx = tx.clone();
        io.ns(nsp, move |socket: Socket| {
            socket.on("echo", |_, payload: Payload, ack| async move {
                ack.send_payload(payload).unwrap();
            });
            socket.on("kick", |socket, _: Payload, _| async move {
                socket.disconnect(false);
            });
            socket.on("kick-all", |socket, _: Payload, _| async move {
                socket.disconnect(true);
            });
            let tx = tx.clone();
            socket.on_disconnect(move |socket, reason| {
                let report = (
                    socket.ns().name().to_owned(),
                    socket.id().to_owned(),
                    reason,
                    socket.connected(),
                );
                let _ = tx.send(report);
            });
        });
    }
    (io, reports)
}

fn default_server() -> (SocketIo, Events<Report>) {
    server(SocketIo::builder())
}

fn report(nsp: &str, sid: &str, reason: DisconnectReason) -> Report {
    (nsp.to_owned(), sid.to_owned(), reason, false)
}

/// A websocket client connected to `/` and `/custom`; returns their socket ids.
async fn on_both(port: u16) -> (WsClient, String, String) {
    let (mut client, main) = WsClient::connect(port).await;
    let custom = client.sio_connect("/custom", None).await;
    (client, main, custom)
}

/// The next two reports, in any order.
async fn two_reports(reports: &mut Events<Report>) -> HashSet<Report> {
    [reports.next().await, reports.next().await].into()
}

#[actix_rt::test]
async fn client_namespace_disconnect_gets_no_reply_and_keeps_the_connection() {
    let (io, mut reports) = default_server();
    let port = serve(&io);
    let (mut client, sid) = WsClient::connect(port).await;

    client.send_text("41").await;

    assert_eq!(
        reports.next().await,
        report("/", &sid, DisconnectReason::ClientNamespaceDisconnect)
    );
    // Nothing answered the `41`: the next frame is the reply to a new CONNECT.
    let again = client.sio_connect("/", None).await;
    assert_ne!(again, sid, "a new socket");
    client.assert_echo_ack("/", 1).await;
}

#[actix_rt::test]
async fn server_namespace_disconnect_sends_41_and_keeps_the_connection() {
    let (io, mut reports) = default_server();
    let port = serve(&io);
    let (mut client, main, custom) = on_both(port).await;

    client.send_text(r#"42/custom,["kick"]"#).await;

    assert_eq!(client.recv_text().await, "41/custom,");
    assert_eq!(
        reports.next().await,
        report(
            "/custom",
            &custom,
            DisconnectReason::ServerNamespaceDisconnect
        )
    );
    client.assert_echo_ack("/", 1).await;

    client.send_text(r#"42["kick"]"#).await;
    assert_eq!(client.recv_text().await, "41");
    assert_eq!(
        reports.next().await,
        report("/", &main, DisconnectReason::ServerNamespaceDisconnect)
    );
    // The Engine.IO connection is still there: the client may join again.
    client.sio_connect("/", None).await;
    client.assert_echo_ack("/", 2).await;
    assert_eq!(io.connection_count(), 1);
}

#[actix_rt::test]
async fn disconnect_from_outside_a_handler_sends_41() {
    let (io, mut reports) = default_server();
    let port = serve(&io);
    let (mut client, sid) = WsClient::connect(port).await;
    let socket = io.of("/").unwrap().get_socket(&sid).unwrap();

    socket.disconnect(false);

    assert!(!socket.connected());
    assert_eq!(client.recv_text().await, "41");
    assert_eq!(
        reports.next().await,
        report("/", &sid, DisconnectReason::ServerNamespaceDisconnect)
    );
    assert!(
        socket.emit("late", &1).is_err(),
        "a disconnected socket refuses emits"
    );
}

#[actix_rt::test]
async fn disconnect_with_close_sends_41_then_closes_the_connection() {
    let (io, mut reports) = default_server();
    let port = serve(&io);
    let (mut client, sid) = WsClient::connect(port).await;

    client.send_text(r#"42["kick-all"]"#).await;

    assert_eq!(client.recv_text().await, "41");
    client.expect_closed().await;
    assert_eq!(
        reports.next().await,
        report("/", &sid, DisconnectReason::ServerNamespaceDisconnect)
    );
    crate::support::settled("the connection to be forgotten", || {
        io.connection_count() == 0
    })
    .await;
}

#[actix_rt::test]
async fn disconnect_with_close_disconnects_every_namespace_of_the_client() {
    // As the reference server does: each socket of the client gets a DISCONNECT packet and
    // the reason `server namespace disconnect`, then the connection closes.
    let (io, mut reports) = default_server();
    let port = serve(&io);
    let (mut client, main, custom) = on_both(port).await;

    client.send_text(r#"42["kick-all"]"#).await;

    let mut packets = HashSet::new();
    loop {
        match client.recv().await {
            Msg::Text(text) => assert!(packets.insert(text), "duplicate packet"),
            Msg::Close(_) | Msg::Ended => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(packets, ["41".to_owned(), "41/custom,".to_owned()].into());
    assert_eq!(
        two_reports(&mut reports).await,
        [
            report("/", &main, DisconnectReason::ServerNamespaceDisconnect),
            report(
                "/custom",
                &custom,
                DisconnectReason::ServerNamespaceDisconnect
            ),
        ]
        .into()
    );
}

#[actix_rt::test]
async fn disconnect_with_close_over_polling_ends_with_a_close_packet() {
    let (io, mut reports) = default_server();
    let port = serve(&io);
    let (mut client, sid) = PollingClient::connect(port).await;

    client.send(r#"42["kick-all"]"#).await;

    assert_eq!(client.next_packet().await, "41");
    // Then the close packet (the reference server may put a noop before it).
    let next = crate::support::within("the close packet", async {
        loop {
            let next = client.next_packet().await;
            if next != "6" {
                return next;
            }
        }
    })
    .await;
    assert_eq!(next, "1");
    assert_eq!(
        reports.next().await,
        report("/", &sid, DisconnectReason::ServerNamespaceDisconnect)
    );
    assert_eq!(client.get().await.status, 400);
}

#[actix_rt::test]
async fn closing_the_websocket_is_a_transport_close_for_every_namespace() {
    let (io, mut reports) = default_server();
    let port = serve(&io);
    let (mut client, main, custom) = on_both(port).await;

    client.close().await;

    assert_eq!(
        two_reports(&mut reports).await,
        [
            report("/", &main, DisconnectReason::TransportClose),
            report("/custom", &custom, DisconnectReason::TransportClose),
        ]
        .into()
    );
    crate::support::settled("the connection to be forgotten", || {
        io.connection_count() == 0
    })
    .await;
}

#[actix_rt::test]
async fn dropping_the_tcp_connection_is_a_transport_close() {
    let (io, mut reports) = default_server();
    let port = serve(&io);
    let (client, sid) = WsClient::connect(port).await;

    drop(client);

    assert_eq!(
        reports.next().await,
        report("/", &sid, DisconnectReason::TransportClose)
    );
}

#[actix_rt::test]
async fn an_engine_io_close_packet_is_a_transport_close() {
    let (io, mut reports) = default_server();
    let port = serve(&io);
    let (mut client, sid) = WsClient::connect(port).await;

    client.send_text("1").await;

    assert_eq!(
        reports.next().await,
        report("/", &sid, DisconnectReason::TransportClose)
    );
    client.expect_closed().await;
}

/// A GET and the close packet's POST sent at once (the reference suite's "forcefully closes
/// the session"): whichever the server sees first, and however they interleave on its
/// workers, the GET gets the noop and the next one `Session ID unknown`. Many sessions, so
/// the orders in between come up too.
#[actix_rt::test]
async fn a_get_racing_the_close_packet_gets_the_noop_in_any_order() {
    let (io, _reports) = default_server();
    let port = serve(&io);
    for round in 0..200 {
        let client = PollingClient::open(port).await;
        let (pending, close) = futures_util::join!(client.get(), client.post("1"));
        assert_eq!(
            (close.status, close.body.as_str()),
            (200, "ok"),
            "round {round}"
        );
        assert_eq!(
            (pending.status, pending.body.as_str()),
            (200, "6"),
            "round {round}"
        );
        let after = client.get().await;
        assert_eq!(after.status, 400, "round {round}: {after:?}");
    }
    settled("every session gone", || {
        let stats = io.stats();
        stats.connections == 0 && stats.connection_actors == 0
    })
    .await;
}

#[actix_rt::test]
async fn a_polling_close_packet_ends_the_pending_get_with_noop() {
    let (io, mut reports) = default_server();
    let port = serve(&io);
    let (client, sid) = PollingClient::connect(port).await;

    // The close is posted once the GET is parked (a close first would leave no GET to end).
    let close_once_parked = async {
        settled("the GET parked", || io.stats().parked_polls == 1).await;
        client.post("1").await
    };
    let (pending, close) = futures_util::join!(client.get(), close_once_parked);

    assert_eq!((close.status, close.body.as_str()), (200, "ok"));
    assert_eq!((pending.status, pending.body.as_str()), (200, "6"));
    assert_eq!(
        reports.next().await,
        report("/", &sid, DisconnectReason::TransportClose)
    );
    let after = client.get().await;
    assert_eq!(
        (after.status, after.body.as_str()),
        (400, r#"{"code":1,"message":"Session ID unknown"}"#)
    );
}

#[actix_rt::test]
async fn a_missing_pong_is_a_ping_timeout_for_every_namespace() {
    let (io, mut reports) = server(
        SocketIo::builder()
            .ping_interval(Duration::from_millis(100))
            .ping_timeout(Duration::from_millis(100)),
    );
    let port = serve(&io);
    let (mut client, main, custom) = on_both(port).await;

    assert_eq!(client.recv_text().await, "2");

    assert_eq!(
        two_reports(&mut reports).await,
        [
            report("/", &main, DisconnectReason::PingTimeout),
            report("/custom", &custom, DisconnectReason::PingTimeout),
        ]
        .into()
    );
    client.expect_closed().await;
}

#[actix_rt::test]
async fn a_malformed_socket_io_packet_is_a_parse_error() {
    let (io, mut reports) = default_server();
    let port = serve(&io);
    let (mut client, main, custom) = on_both(port).await;

    client.send_text("42{}").await;

    client.expect_closed().await;
    assert_eq!(
        two_reports(&mut reports).await,
        [
            report("/", &main, DisconnectReason::ParseError),
            report("/custom", &custom, DisconnectReason::ParseError),
        ]
        .into()
    );
}

#[actix_rt::test]
async fn a_malformed_engine_io_packet_is_a_parse_error() {
    let (io, mut reports) = default_server();
    let port = serve(&io);
    let (mut client, sid) = WsClient::connect(port).await;

    client.send_text("x").await;

    client.expect_closed().await;
    assert_eq!(
        reports.next().await,
        report("/", &sid, DisconnectReason::ParseError)
    );
}

#[actix_rt::test]
async fn an_undecodable_polling_body_is_a_parse_error() {
    let (io, mut reports) = default_server();
    let port = serve(&io);
    let (client, sid) = PollingClient::connect(port).await;

    let reply = client.post("abc").await;

    assert_eq!(reply.status, 400);
    assert_eq!(
        reports.next().await,
        report("/", &sid, DisconnectReason::ParseError)
    );
    assert_eq!(client.get().await.status, 400);
}

#[actix_rt::test]
async fn closing_the_server_disconnects_everyone_as_shutting_down() {
    let (io, mut reports) = default_server();
    let port = serve(&io);
    let (mut ws, ws_sid) = WsClient::connect(port).await;
    let (polling, polling_sid) = PollingClient::connect(port).await;

    io.close();

    ws.expect_closed().await;
    assert_eq!(
        two_reports(&mut reports).await,
        [
            report("/", &ws_sid, DisconnectReason::ServerShuttingDown),
            report("/", &polling_sid, DisconnectReason::ServerShuttingDown),
        ]
        .into()
    );
    crate::support::settled("every connection to be forgotten", || {
        io.connection_count() == 0
    })
    .await;
    assert_eq!(io.of("/").unwrap().socket_count(), 0);
    // Shutdown discards the polling session (as the reference server does).
    assert_eq!(polling.get().await.status, 400);
}

#[actix_rt::test]
async fn what_a_handler_registers_after_its_socket_went_runs_at_once_or_is_not_kept() {
    use std::sync::Arc;
    use tokio::sync::oneshot;

    let io = SocketIo::builder().build();
    let (resume_tx, resume_rx) = oneshot::channel::<()>();
    let resume = Arc::new(parking_lot::Mutex::new(Some(resume_rx)));
    let (sockets_tx, mut sockets) = events();
    let (late_tx, mut late) = events();
    // Held by whatever the late handler registers: its count tells whether it was kept.
    let captured = Arc::new(());
    let held = captured.clone();
    io.ns("/", move |socket: Socket| {
        let _ = sockets_tx.send(socket.clone());
        let (resume, late_tx, held) = (resume.clone(), late_tx.clone(), held.clone());
        socket.on("slow", move |socket, _: Payload, _| {
            let (resume, late_tx, held) = (resume.lock().take(), late_tx.clone(), held.clone());
            async move {
                if let Some(resume) = resume {
                    let _ = resume.await;
                }
                // The socket has gone by now.
                let on_held = held.clone();
                socket.on("later", move |_, _: Payload, _| {
                    let _ = &on_held;
                    async {}
                });
                socket.insert_extension(held);
                socket.on_disconnect(move |socket, reason| {
                    let _ = late_tx.send((reason, socket.connected()));
                });
            }
        });
    });
    let port = serve(&io);
    let (mut client, _) = WsClient::connect(port).await;
    let socket: Socket = sockets.next().await;
    client.send_text(r#"42["slow"]"#).await;
    settled("the handler awaits", || Arc::strong_count(&captured) > 2).await;
    client.send_text("41").await;
    settled("the socket went", || !socket.connected()).await;
    let _ = resume_tx.send(());

    // The late disconnect handler ran at once, with the reason the socket went for.
    assert_eq!(
        late.next().await,
        (DisconnectReason::ClientNamespaceDisconnect, false)
    );
    // Neither the late event handler nor the late extension was kept.
    settled("nothing holds what the handler registered", || {
        Arc::strong_count(&captured) == 2
    })
    .await;
    assert!(socket.extension::<Arc<()>>().is_none());
}
