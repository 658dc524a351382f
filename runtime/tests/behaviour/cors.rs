//! CORS for the polling transport: configured origins get the headers (preflight included),
//! and a server without CORS options sends none.

use crate::support::{serve, within};
use tickwire::SocketIo;

async fn request(
    port: u16,
    method: &str,
    origin: &str,
) -> awc::ClientResponse<impl futures_util::Stream> {
    let url = format!("http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling");
    let client = awc::Client::default();
    let req = client
        .request(method.parse().expect("method"), url)
        .insert_header(("Origin", origin))
        .insert_header(("Access-Control-Request-Method", "POST"));
    within("the HTTP response", req.send())
        .await
        .expect("response")
}

fn header(res: &awc::ClientResponse<impl futures_util::Stream>, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap_or_default().to_owned())
}

#[actix_rt::test]
async fn configured_origins_get_cors_headers_and_preflights_are_answered() {
    let io = SocketIo::builder()
        .cors_origin("http://game.example")
        .build();
    io.ns("/", |_| {});
    let port = serve(&io);

    let preflight = request(port, "OPTIONS", "http://game.example").await;
    assert!(preflight.status().is_success(), "{:?}", preflight.status());
    assert_eq!(
        header(&preflight, "access-control-allow-origin").as_deref(),
        Some("http://game.example")
    );
    assert!(header(&preflight, "access-control-allow-methods").is_some_and(|m| m.contains("POST")));

    let handshake = request(port, "GET", "http://game.example").await;
    assert_eq!(handshake.status(), 200);
    assert_eq!(
        header(&handshake, "access-control-allow-origin").as_deref(),
        Some("http://game.example")
    );
    assert_eq!(
        header(&handshake, "access-control-allow-credentials").as_deref(),
        Some("true")
    );

    // Another origin gets no permission.
    let other = request(port, "GET", "http://elsewhere.example").await;
    assert_eq!(header(&other, "access-control-allow-origin"), None);
}

#[actix_rt::test]
async fn without_cors_options_no_cors_headers_are_sent() {
    let io = SocketIo::builder().build();
    io.ns("/", |_| {});
    let port = serve(&io);
    let handshake = request(port, "GET", "http://game.example").await;
    assert_eq!(handshake.status(), 200);
    assert_eq!(header(&handshake, "access-control-allow-origin"), None);
}
