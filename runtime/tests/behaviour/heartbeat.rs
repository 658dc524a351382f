//! Heartbeat (Engine.IO v4: the server pings, the client pongs): pings every
//! `ping_interval`, pongs keep the session alive, and a missing pong closes it
//! `ping_interval + ping_timeout` after it started, with reason `ping timeout`.

use std::time::{Duration, Instant};

use crate::support::{serve, Events, PollingClient, WsClient};
use tickwire::{DisconnectReason, SocketIo};

const FAST_INTERVAL: Duration = Duration::from_millis(100);

/// A server pinging every `interval` that waits `timeout` for pongs; `/` acks `echo` with
/// its payload and reports each disconnect reason.
fn server(interval: Duration, timeout: Duration) -> (SocketIo, Events<DisconnectReason>) {
    crate::support::echo_reporting_disconnects(
        SocketIo::builder()
            .ping_interval(interval)
            .ping_timeout(timeout)
            .build(),
    )
}

#[actix_rt::test]
async fn websocket_gets_a_ping_every_interval_and_pongs_keep_it_alive() {
    // A generous timeout: only the interval is under test here.
    let (io, mut reasons) = server(FAST_INTERVAL, Duration::from_secs(2));
    let port = serve(&io);
    // Taken before the session exists, so the first ping is at least one interval later.
    let mut last = Instant::now();
    let (mut client, _) = WsClient::connect(port).await;

    for round in 0..3 {
        assert_eq!(client.recv_text().await, "2", "ping {round}");
        let now = Instant::now();
        assert!(
            now - last >= FAST_INTERVAL,
            "ping {round} came {:?} after the previous one",
            now - last
        );
        last = now;
        client.send_text("3").await;
    }

    client.assert_echo_ack("/", 1).await;
    assert_eq!(reasons.try_next(), None);
    assert_eq!(io.connection_count(), 1);
}

#[actix_rt::test]
async fn polling_get_returns_exactly_a_ping_and_a_posted_pong_keeps_it_alive() {
    let (io, mut reasons) = server(FAST_INTERVAL, Duration::from_secs(2));
    let port = serve(&io);
    let mut client = PollingClient::open(port).await;

    for round in 0..3 {
        let reply = client.get().await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, "2"),
            "ping {round}"
        );
        client.send("3").await;
    }

    client.sio_connect("/", None).await;
    client.send(r#"427["echo",{"ok":true}]"#).await;
    assert_eq!(client.next_packet_skip_pings().await, r#"437[{"ok":true}]"#);
    assert_eq!(reasons.try_next(), None);
}

#[actix_rt::test]
async fn websocket_without_pong_is_closed_after_interval_plus_timeout() {
    let timeout = Duration::from_millis(150);
    let (io, mut reasons) = server(FAST_INTERVAL, timeout);
    let port = serve(&io);
    let started = Instant::now();
    let (mut client, _) = WsClient::connect(port).await;

    assert_eq!(client.recv_text().await, "2");
    client.expect_closed().await;

    assert!(
        started.elapsed() >= FAST_INTERVAL + timeout,
        "closed after only {:?}",
        started.elapsed()
    );
    assert_eq!(reasons.next().await, DisconnectReason::PingTimeout);
    crate::support::settled("the session to be forgotten", || io.connection_count() == 0).await;
}

#[actix_rt::test]
async fn polling_without_pong_ends_the_pending_get_with_close_then_the_sid_is_unknown() {
    let timeout = Duration::from_millis(150);
    let (io, mut reasons) = server(FAST_INTERVAL, timeout);
    let port = serve(&io);
    let started = Instant::now();
    let (mut client, _) = PollingClient::connect(port).await;

    assert_eq!(client.next_packet().await, "2");
    // No pong: the next GET parks until the server gives up on the session.
    let reply = client.get().await;

    assert_eq!((reply.status, reply.body.as_str()), (200, "1"));
    assert!(started.elapsed() >= FAST_INTERVAL + timeout);
    assert_eq!(reasons.next().await, DisconnectReason::PingTimeout);
    let reply = client.get().await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (400, r#"{"code":1,"message":"Session ID unknown"}"#)
    );
}

#[actix_rt::test]
async fn polling_session_with_no_request_in_flight_is_forgotten_after_ping_timeout() {
    let timeout = Duration::from_millis(150);
    let (io, mut reasons) = server(FAST_INTERVAL, timeout);
    let port = serve(&io);
    let (client, _) = PollingClient::connect(port).await;

    // The client goes quiet: no GET, no pong.
    assert_eq!(reasons.next().await, DisconnectReason::PingTimeout);
    crate::support::settled("the session to be forgotten", || io.connection_count() == 0).await;

    let reply = client.get().await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (400, r#"{"code":1,"message":"Session ID unknown"}"#)
    );
}

#[actix_rt::test]
async fn a_late_pong_does_not_save_the_session() {
    let timeout = Duration::from_millis(100);
    let (io, mut reasons) = server(FAST_INTERVAL, timeout);
    let port = serve(&io);
    let (mut client, _) = WsClient::connect(port).await;

    assert_eq!(client.recv_text().await, "2");
    assert_eq!(reasons.next().await, DisconnectReason::PingTimeout);
    // The pong arrives after the deadline: the connection is already going away.
    client.send_text("3").await;

    client.expect_closed().await;
}
