//! Admission of new sessions: connection caps (in all and per peer address) and the origin
//! allow-list. Each refusal is an HTTP status the client sees (503 over the caps, 403 for a
//! forbidden origin), logged and counted, and a place freed by a closed session is taken
//! again.

use crate::support::{http_get, http_post, serve, settled, sio_url, PollingClient, WsClient};
use tickwire::SocketIo;

const HANDSHAKE: &str = "/socket.io/?EIO=4&transport=polling";

/// A polling handshake sent with `Origin: origin`: the HTTP status.
async fn handshake_from(port: u16, origin: &str) -> u16 {
    let response = awc::Client::new()
        .get(format!("http://127.0.0.1:{port}{HANDSHAKE}"))
        .insert_header(("origin", origin))
        .send()
        .await
        .expect("handshake response");
    response.status().as_u16()
}

/// A websocket upgrade sent with `Origin: origin`: the HTTP status of the refusal, or 101.
async fn upgrade_from(port: u16, origin: &str) -> u16 {
    let url = sio_url("ws", port, "EIO=4&transport=websocket");
    match awc::Client::new().ws(url).origin(origin).connect().await {
        Ok((response, _)) => response.status().as_u16(),
        Err(awc::error::WsClientError::InvalidResponseStatus(status)) => status.as_u16(),
        Err(e) => panic!("websocket upgrade failed: {e}"),
    }
}

#[actix_rt::test]
async fn sessions_beyond_the_cap_are_refused_with_503_until_one_closes() {
    let io = SocketIo::builder().max_connections(2, usize::MAX).build();
    io.ns("/", |_| {});
    let port = serve(&io);
    let polling = PollingClient::open(port).await;
    let mut ws = WsClient::open(port).await;
    // The third session, on either transport, is refused.
    let refused = http_get(port, HANDSHAKE).await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert!(refused.body.contains("max_connections"), "{refused:?}");
    let url = sio_url("ws", port, "EIO=4&transport=websocket");
    match WsClient::try_connect(&url).await {
        Err(awc::error::WsClientError::InvalidResponseStatus(status)) => {
            assert_eq!(status.as_u16(), 503)
        }
        Err(e) => panic!("unexpected websocket failure: {e}"),
        Ok(_) => panic!("a websocket beyond the cap was accepted"),
    }
    let metrics = io.metrics_text();
    assert!(
        metrics.contains(r#"tickwire_refused_total{name="max_connections"} 2"#),
        "{metrics}"
    );
    // A closed session gives its place back.
    ws.close().await;
    settled("the websocket session closed", || {
        io.connection_count() == 1
    })
    .await;
    let again = http_get(port, HANDSHAKE).await;
    assert_eq!(again.status, 200, "{again:?}");
    drop(polling);
}

#[actix_rt::test]
async fn sessions_beyond_the_per_address_cap_are_refused_with_503() {
    let io = SocketIo::builder().max_connections(100, 1).build();
    io.ns("/", |_| {});
    let port = serve(&io);
    let _first = PollingClient::open(port).await;
    // Every test client comes from 127.0.0.1.
    let refused = http_get(port, HANDSHAKE).await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert!(
        refused.body.contains("max_connections_per_ip"),
        "{refused:?}"
    );
    let metrics = io.metrics_text();
    assert!(
        metrics.contains(r#"tickwire_refused_total{name="max_connections_per_ip"} 1"#),
        "{metrics}"
    );
}

#[actix_rt::test]
async fn requests_from_origins_not_allowed_are_refused_with_403() {
    let io = SocketIo::builder()
        .allowed_origin("https://game.example")
        .build();
    io.ns("/", |_| {});
    let port = serve(&io);
    assert_eq!(handshake_from(port, "https://game.example").await, 200);
    assert_eq!(handshake_from(port, "https://evil.example").await, 403);
    assert_eq!(upgrade_from(port, "https://game.example").await, 101);
    assert_eq!(upgrade_from(port, "https://evil.example").await, 403);
    // A client that sends no Origin (not a browser) is not subject to it.
    let client = PollingClient::open(port).await;
    // A POST into an existing session from a forbidden origin is refused too.
    let response = awc::Client::new()
        .post(format!("http://127.0.0.1:{port}{}", client.session_query()))
        .insert_header(("origin", "https://evil.example"))
        .send_body("40")
        .await
        .expect("POST response");
    assert_eq!(response.status().as_u16(), 403);
    let reply = http_post(port, &client.session_query(), "40", "text/plain").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
    let metrics = io.metrics_text();
    assert!(
        metrics.contains(r#"tickwire_refused_total{name="origin"} 3"#),
        "{metrics}"
    );
}
