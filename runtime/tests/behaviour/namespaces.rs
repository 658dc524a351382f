//! Namespaces: static and dynamic ones, CONNECT_ERROR for unknown names and middleware
//! refusals, the connect timeout, and several namespaces multiplexed on one connection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::support::{events, serve, settled, Events, PollingClient, WsClient, WAIT};
use serde_json::Value;
use tickwire::{Config, ConnectError, DisconnectReason, Payload, ServerStats, Socket, SocketIo};
use tokio::sync::{mpsc, Notify};

/// Handlers every test namespace has: `echo` acks its payload; each disconnect is reported
/// as (namespace, reason).
fn install(socket: &Socket, disconnects: &mpsc::UnboundedSender<(String, DisconnectReason)>) {
    socket.on("echo", |_, payload: Payload, ack| async move {
        ack.send_payload(payload).unwrap();
    });
    let tx = disconnects.clone();
    socket.on_disconnect(move |socket, reason| {
        let _ = tx.send((socket.ns().name().to_owned(), reason));
    });
}

/// `/` and `/custom` (which greets with its auth payload).
fn server(builder: tickwire::SocketIoBuilder) -> (SocketIo, Events<(String, DisconnectReason)>) {
    let io = builder.build();
    let (tx, disconnects) = events();
    let main_tx = tx.clone();
    io.ns("/", move |socket| install(&socket, &main_tx));
    io.ns("/custom", move |socket| {
        let auth = socket.handshake().auth.clone();
        socket.emit("hello", &auth).unwrap();
        install(&socket, &tx);
    });
    (io, disconnects)
}

fn default_server() -> (SocketIo, Events<(String, DisconnectReason)>) {
    server(SocketIo::builder())
}

#[actix_rt::test]
async fn static_namespace_connects_and_its_packets_carry_its_name() {
    let (io, _) = default_server();
    let port = serve(&io);
    let mut client = WsClient::open(port).await;

    let sid = client
        .sio_connect("/custom", Some(r#"{"token":"abc"}"#))
        .await;

    assert_eq!(
        client.recv_text().await,
        r#"42/custom,["hello",{"token":"abc"}]"#
    );
    client.assert_echo_ack("/custom", 1).await;
    let ns = io.of("/custom").unwrap();
    assert_eq!(ns.socket_count(), 1);
    assert_eq!(ns.get_socket(&sid).unwrap().id(), sid);
    assert_eq!(io.of("/").unwrap().socket_count(), 0, "/ was never joined");
}

#[actix_rt::test]
async fn namespace_without_trailing_comma_is_accepted_for_connect_and_disconnect() {
    let (io, mut disconnects) = default_server();
    let port = serve(&io);
    let (mut client, _) = WsClient::connect(port).await;

    client.send_text("40/custom").await;
    crate::support::connect_reply_sid(&client.recv_text().await, "/custom");
    assert_eq!(client.recv_text().await, r#"42/custom,["hello",{}]"#);
    client.send_text("41/custom").await;

    assert_eq!(
        disconnects.next().await,
        (
            "/custom".to_owned(),
            DisconnectReason::ClientNamespaceDisconnect
        )
    );
    client.assert_echo_ack("/", 1).await;
}

#[actix_rt::test]
async fn unknown_namespace_gets_connect_error_and_the_session_stays_open() {
    let (io, _) = default_server();
    let port = serve(&io);
    let mut client = WsClient::open(port).await;

    client.send_text("40/random").await;
    assert_eq!(
        client.recv_text().await,
        r#"44/random,{"message":"Invalid namespace"}"#
    );
    client.send_text("40/random,{\"a\":1}").await;
    assert_eq!(
        client.recv_text().await,
        r#"44/random,{"message":"Invalid namespace"}"#
    );

    client.sio_connect("/", None).await;
    client.assert_echo_ack("/", 1).await;
    assert!(io.of("/random").is_none());
}

#[actix_rt::test]
async fn dynamic_namespace_is_created_by_the_first_connect_and_shared_afterwards() {
    let io = SocketIo::builder().build();
    io.dynamic_ns(
        |name| name.starts_with("/room-"),
        |socket| {
            let name = socket.ns().name().to_owned();
            socket.emit("welcome", &name).unwrap();
        },
    );
    let port = serve(&io);
    assert!(io.of("/room-1").is_none());

    let mut a = WsClient::open(port).await;
    a.sio_connect("/room-1", None).await;
    assert_eq!(a.recv_text().await, r#"42/room-1,["welcome","/room-1"]"#);
    let mut b = WsClient::open(port).await;
    b.sio_connect("/room-1", None).await;
    assert_eq!(b.recv_text().await, r#"42/room-1,["welcome","/room-1"]"#);

    let ns = io.of("/room-1").expect("created on demand");
    assert_eq!(
        ns.socket_count(),
        2,
        "both clients are in the same namespace"
    );
    ns.emit("news", &1).unwrap();
    assert_eq!(a.recv_text().await, r#"42/room-1,["news",1]"#);
    assert_eq!(b.recv_text().await, r#"42/room-1,["news",1]"#);

    a.send_text("40/lobby,").await;
    assert_eq!(
        a.recv_text().await,
        r#"44/lobby,{"message":"Invalid namespace"}"#,
        "names the matcher refuses are unknown"
    );
}

#[actix_rt::test]
async fn dynamic_namespaces_beyond_the_limit_are_refused() {
    let config = Config {
        max_dynamic_namespaces: 1,
        ..Config::default()
    };
    let io = SocketIo::builder().config(config).build();
    io.dynamic_ns(|name| name.starts_with("/room-"), |_| {});
    let port = serve(&io);
    let mut client = WsClient::open(port).await;

    client.sio_connect("/room-1", None).await;
    client.send_text("40/room-2,").await;
    assert_eq!(
        client.recv_text().await,
        r#"44/room-2,{"message":"Invalid namespace"}"#
    );

    let mut other = WsClient::open(port).await;
    other.sio_connect("/room-1", None).await;
    assert!(io.of("/room-2").is_none());
}

#[actix_rt::test]
async fn empty_dynamic_namespaces_give_their_place_back_after_the_grace() {
    for (grace, reclaimed) in [(Duration::ZERO, true), (Duration::from_secs(3600), false)] {
        let config = Config {
            max_dynamic_namespaces: 2,
            dynamic_namespace_grace: grace,
            ..Config::default()
        };
        let io = SocketIo::builder().config(config).build();
        let (left, mut left_rx) = events::<String>();
        io.dynamic_ns(
            |name| name.starts_with("/room-"),
            move |socket| {
                let left = left.clone();
                socket.on_disconnect(move |socket, _| {
                    let _ = left.send(socket.ns().name().to_owned());
                });
            },
        );
        let port = serve(&io);
        let mut client = WsClient::open(port).await;
        client.sio_connect("/room-1", None).await;
        client.sio_connect("/room-2", None).await;
        // Client-chosen names use up the cap...
        client.send_text("40/room-3,").await;
        assert_eq!(
            client.recv_text_skip_pings().await,
            r#"44/room-3,{"message":"Invalid namespace"}"#
        );
        // ...until their namespaces have been empty for the grace.
        client.send_text("41/room-1,").await;
        client.send_text("41/room-2,").await;
        left_rx.next().await;
        left_rx.next().await;
        client.send_text("40/room-3,").await;
        let reply = client.recv_text_skip_pings().await;
        if reclaimed {
            assert!(reply.starts_with(r#"40/room-3,{"sid":"#), "{reply}");
            assert!(io.of("/room-1").is_none() && io.of("/room-2").is_none());
        } else {
            assert_eq!(reply, r#"44/room-3,{"message":"Invalid namespace"}"#);
            assert!(io.of("/room-1").is_some());
        }
    }
}

#[actix_rt::test]
async fn dynamic_namespace_middleware_applies_to_every_created_namespace() {
    let io = SocketIo::builder().build();
    io.dynamic_ns(|name| name.starts_with("/room-"), |_| {})
        .use_middleware(|socket: Socket| async move {
            if socket.ns().name() == "/room-locked" {
                Err(ConnectError::new("locked"))
            } else {
                Ok(())
            }
        });
    let port = serve(&io);
    let mut client = WsClient::open(port).await;

    client.send_text("40/room-locked,").await;
    assert_eq!(
        client.recv_text().await,
        r#"44/room-locked,{"message":"locked"}"#
    );
    client.sio_connect("/room-open", None).await;
}

/// `/private`: admitted with auth `{"token":"secret"}`, otherwise refused with a message
/// and data. Reports the sockets its connect handler saw.
fn private_server() -> (SocketIo, Events<String>) {
    let io = SocketIo::builder().build();
    let (tx, connected) = events();
    io.ns("/private", move |socket| {
        let _ = tx.send(socket.id().to_owned());
    })
    .use_middleware(|socket: Socket| async move {
        let token = socket.handshake().auth.get("token").and_then(Value::as_str);
        if token == Some("secret") {
            Ok(())
        } else {
            Err(ConnectError::new("unauthorized")
                .with_data(serde_json::json!({"reason": "bad token"})))
        }
    });
    io.ns("/closed", |_| {})
        .use_middleware(|_| async { Err(ConnectError::new("nope")) });
    (io, connected)
}

#[actix_rt::test]
async fn middleware_refusal_sends_its_message_and_data_and_skips_the_connect_handler() {
    let (io, mut connected) = private_server();
    let port = serve(&io);
    let mut client = WsClient::open(port).await;

    client.send_text(r#"40/private,{"token":"wrong"}"#).await;
    assert_eq!(
        client.recv_text().await,
        r#"44/private,{"message":"unauthorized","data":{"reason":"bad token"}}"#
    );
    assert_eq!(
        connected.try_next(),
        None,
        "the connect handler did not run"
    );
    assert_eq!(io.of("/private").unwrap().socket_count(), 0);

    // The session stays open; the right token is admitted.
    let sid = client
        .sio_connect("/private", Some(r#"{"token":"secret"}"#))
        .await;
    assert_eq!(connected.next().await, sid);
}

#[actix_rt::test]
async fn middleware_refusal_without_data_sends_only_the_message() {
    let (io, _) = private_server();
    let port = serve(&io);
    let mut client = WsClient::open(port).await;

    client.send_text("40/closed,").await;

    assert_eq!(client.recv_text().await, r#"44/closed,{"message":"nope"}"#);
}

#[actix_rt::test]
async fn middlewares_run_in_order_and_stop_at_the_first_refusal() {
    let io = SocketIo::builder().build();
    let (tx, mut ran) = events::<&'static str>();
    let (tx1, tx2, tx3) = (tx.clone(), tx.clone(), tx);
    io.ns("/", move |_| {
        let _ = tx3.send("connect handler");
    })
    .use_middleware(move |_| {
        let _ = tx1.send("first");
        async { Ok(()) }
    })
    .use_middleware(move |socket: Socket| {
        let _ = tx2.send("second");
        let refuse = socket.handshake().auth.get("refuse").is_some();
        async move {
            if refuse {
                Err(ConnectError::new("refused by the second"))
            } else {
                Ok(())
            }
        }
    });
    let port = serve(&io);
    let mut client = WsClient::open(port).await;

    client.send_text(r#"40{"refuse":true}"#).await;
    assert_eq!(
        client.recv_text().await,
        r#"44{"message":"refused by the second"}"#
    );
    assert_eq!(ran.next().await, "first");
    assert_eq!(ran.next().await, "second");
    assert_eq!(ran.try_next(), None);

    client.sio_connect("/", None).await;
    assert_eq!(ran.next().await, "first");
    assert_eq!(ran.next().await, "second");
    assert_eq!(ran.next().await, "connect handler");
}

#[actix_rt::test]
async fn a_slow_middleware_does_not_hold_up_other_clients() {
    let io = SocketIo::builder().build();
    let gate = Arc::new(Notify::new());
    let (tx, mut waiting) = events::<()>();
    let mw_gate = gate.clone();
    io.ns("/gate", |_| {})
        .use_middleware(move |socket: Socket| {
            let wait = socket.handshake().auth.get("wait").is_some();
            let (gate, tx) = (mw_gate.clone(), tx.clone());
            async move {
                if wait {
                    let _ = tx.send(());
                    gate.notified().await;
                }
                Ok(())
            }
        });
    let port = serve(&io);
    let mut slow = WsClient::open(port).await;
    let mut fast = WsClient::open(port).await;

    slow.send_text(r#"40/gate,{"wait":true}"#).await;
    waiting.next().await;
    // The slow client's middleware is now blocked on the gate.
    fast.sio_connect("/gate", None).await;
    gate.notify_one();

    crate::support::connect_reply_sid(&slow.recv_text().await, "/gate");
}

#[actix_rt::test]
async fn a_session_that_joins_no_namespace_is_closed_at_the_connect_timeout() {
    let connect_timeout = Duration::from_millis(300);
    let (io, _) = server(SocketIo::builder().connect_timeout(connect_timeout));
    let port = serve(&io);
    let started = Instant::now();
    let polling = PollingClient::open(port).await;

    // The polling client parks a GET at once; the websocket client just waits.
    let websocket = async {
        let mut ws = WsClient::open(port).await;
        ws.expect_closed().await;
    };
    let (parked, ()) = futures_util::join!(polling.get(), websocket);

    assert!(started.elapsed() >= connect_timeout);
    assert_eq!((parked.status, parked.body.as_str()), (200, "1"));
    let after = polling.get().await;
    assert_eq!(after.status, 400);
}

#[actix_rt::test]
async fn a_refused_connect_does_not_stop_the_connect_timeout() {
    let connect_timeout = Duration::from_millis(200);
    let (io, _) = server(SocketIo::builder().connect_timeout(connect_timeout));
    let port = serve(&io);
    let mut client = WsClient::open(port).await;

    client.send_text("40/random,").await;
    assert_eq!(
        client.recv_text().await,
        r#"44/random,{"message":"Invalid namespace"}"#
    );

    client.expect_closed().await;
}

#[actix_rt::test]
async fn joining_a_namespace_in_time_cancels_the_connect_timeout() {
    // The first ping comes after the connect timeout: reaching it proves the session
    // outlived the timeout.
    let (io, _) = server(
        SocketIo::builder()
            .connect_timeout(Duration::from_millis(100))
            .ping_interval(Duration::from_millis(300))
            .ping_timeout(Duration::from_secs(2)),
    );
    let port = serve(&io);
    let (mut client, _) = WsClient::connect(port).await;

    assert_eq!(client.recv_text().await, "2");
    client.send_text("3").await;

    client.assert_echo_ack("/", 1).await;
}

#[actix_rt::test]
async fn namespaces_are_multiplexed_on_one_connection_with_their_own_sockets() {
    let (io, mut disconnects) = default_server();
    let port = serve(&io);
    let (mut client, main_sid) = WsClient::connect(port).await;

    let custom_sid = client.sio_connect("/custom", None).await;
    assert_eq!(client.recv_text().await, r#"42/custom,["hello",{}]"#);

    assert_ne!(main_sid, custom_sid);
    assert_eq!(io.connection_count(), 1);
    let main = io.of("/").unwrap().get_socket(&main_sid).unwrap();
    let custom = io.of("/custom").unwrap().get_socket(&custom_sid).unwrap();
    custom.emit("to-custom", &"c").unwrap();
    main.emit("to-main", &"m").unwrap();
    assert_eq!(client.recv_text().await, r#"42/custom,["to-custom","c"]"#);
    assert_eq!(client.recv_text().await, r#"42["to-main","m"]"#);
    client.assert_echo_ack("/custom", 1).await;
    client.assert_echo_ack("/", 2).await;

    // Leaving one namespace leaves the other, and the connection, in place.
    client.send_text("41/custom,").await;
    assert_eq!(
        disconnects.next().await,
        (
            "/custom".to_owned(),
            DisconnectReason::ClientNamespaceDisconnect
        )
    );
    assert!(!custom.connected());
    assert!(main.connected());
    client.assert_echo_ack("/", 3).await;
    assert_eq!(io.of("/custom").unwrap().socket_count(), 0);
}

#[actix_rt::test]
async fn a_reclaimed_dynamic_namespace_that_admitted_through_its_actor_is_freed() {
    let config = Config {
        max_dynamic_namespaces: 1,
        dynamic_namespace_grace: Duration::ZERO,
        ..Config::default()
    };
    let io = SocketIo::builder().config(config).build();
    let (tx, mut disconnects) = events();
    // Something each namespace holds for as long as it lives, and a way to see it go.
    let (held_tx, mut held) = events::<Weak<()>>();
    io.dynamic_ns(
        |name| name.starts_with("/d"),
        move |socket| {
            install(&socket, &tx);
            let kept = Arc::new(());
            let _ = held_tx.send(Arc::downgrade(&kept));
            socket.ns().on_server_event("kept", move |_: Payload| {
                let _ = &kept;
            });
        },
    )
    // Admitted through the namespace's actor.
    .use_middleware(|_| async { Ok(()) });
    let port = serve(&io);
    let mut client = WsClient::open(port).await;

    client.sio_connect("/d1", None).await;
    let d1 = held.next().await;
    client.send_text("41/d1,").await;
    assert_eq!(
        disconnects.next().await,
        (
            "/d1".to_owned(),
            DisconnectReason::ClientNamespaceDisconnect
        )
    );
    // The next new name reclaims the idle `/d1`...
    client.sio_connect("/d2", None).await;
    assert!(io.of("/d1").is_none());

    // ...which is freed, with what it held (its admission actor held it alive before).
    settled("the reclaimed namespace to be freed", || {
        d1.upgrade().is_none()
    })
    .await;
    client.assert_echo_ack("/d2", 1).await;
}

/// The connection closes while `/b`'s connect handler runs: after the admission checked
/// the connection, before it hands the socket over. The socket leaves `/b` all the same
/// and its disconnect handlers run.
#[actix_rt::test]
async fn a_socket_admitted_as_its_connection_closes_leaves_its_namespace() {
    let io = SocketIo::builder().build();
    let (tx, mut disconnects) = events();
    let a: Arc<Mutex<Option<Socket>>> = Arc::default();
    let server: Arc<OnceLock<SocketIo>> = Arc::default();
    let closed_in_time = Arc::new(AtomicBool::new(false));
    {
        let a = a.clone();
        io.ns("/a", move |socket| *a.lock().unwrap() = Some(socket));
    }
    {
        let (a, server, closed_in_time) = (a.clone(), server.clone(), closed_in_time.clone());
        io.ns("/b", move |socket| {
            install(&socket, &tx);
            // Server code closes the whole connection...
            let a = a.lock().unwrap().take().expect("/a joined first");
            a.disconnect(true);
            // ...which is gone, actor and all, before this handler returns. (It runs on
            // the admission actor's thread; the connection lives on a server worker.)
            let io = server.get().unwrap();
            let deadline = Instant::now() + WAIT;
            while io.stats().connection_actors > 0 && Instant::now() < deadline {
                std::thread::yield_now();
            }
            closed_in_time.store(io.stats().connection_actors == 0, Ordering::SeqCst);
        })
        // Admitted through the namespace's actor, on another thread than the connection.
        .use_middleware(|_| async { Ok(()) });
    }
    let _ = server.set(io.clone());
    let port = serve(&io);
    let mut client = WsClient::open(port).await;
    client.sio_connect("/a", None).await;

    client.send_text("40/b,").await;

    assert_eq!(
        disconnects.next().await,
        ("/b".to_owned(), DisconnectReason::TransportClose)
    );
    assert!(
        closed_in_time.load(Ordering::SeqCst),
        "the connection closed while the connect handler ran"
    );
    assert_eq!(io.of("/b").unwrap().socket_count(), 0);
    settled("every count back to zero", || {
        io.stats() == ServerStats::default()
    })
    .await;
}
