//! No early event is lost: the handlers a connect handler registers are in place before the
//! client can read its CONNECT reply, so an event sent the moment the reply arrives is
//! always handled. Checked with many concurrent clients, each sending an event with an ack
//! id right after reading `40{...}`: every single ack must come back.

use crate::support::{serve, PollingClient, WsClient};
use futures_util::future::join_all;
use tickwire::{ConnectError, Data, Socket, SocketIo};

/// `/` and `/guarded` (behind an async middleware): the connect handler does some work,
/// then registers `hello`, which acks its argument.
fn server() -> SocketIo {
    let io = SocketIo::builder().build();
    let on_connect = |socket: Socket| {
        socket.join("lobby");
        socket.insert_extension(socket.id().len());
        socket.on("hello", |_, Data(n): Data<u64>, ack| async move {
            ack.send(&n).unwrap();
        });
    };
    io.ns("/", on_connect);
    io.ns("/guarded", on_connect)
        .use_middleware(|socket: Socket| async move {
            // Yield once so admission really goes through the spawned middleware path.
            tokio::task::yield_now().await;
            if socket.handshake().auth.get("deny").is_some() {
                Err(ConnectError::new("denied"))
            } else {
                Ok(())
            }
        });
    io
}

/// Connect to `nsp` and send `hello` with an ack id the moment the CONNECT reply is read;
/// the ack must be the next frame. Returns the client, still connected.
async fn websocket_client(port: u16, nsp: &'static str, n: u64) -> WsClient {
    let mut client = WsClient::open(port).await;
    let prefix = crate::support::nsp_prefix(nsp);
    client.sio_connect(nsp, None).await;
    client
        .send_text(&format!(r#"42{prefix}{n}["hello",{n}]"#))
        .await;
    assert_eq!(
        client.recv_text().await,
        format!("43{prefix}{n}[{n}]"),
        "client {n}"
    );
    client
}

#[actix_rt::test]
async fn every_early_event_of_300_concurrent_websocket_clients_is_handled() {
    let io = server();
    let port = serve(&io);

    let clients = join_all((0..300).map(|n| websocket_client(port, "/", n))).await;

    let ns = io.of("/").unwrap();
    assert_eq!(ns.socket_count(), 300);
    assert_eq!(ns.room_size("lobby"), 300);
    drop(clients);
}

#[actix_rt::test]
async fn every_early_event_is_handled_behind_an_async_middleware() {
    let io = server();
    let port = serve(&io);

    let clients = join_all((0..100).map(|n| websocket_client(port, "/guarded", n))).await;

    assert_eq!(io.of("/guarded").unwrap().socket_count(), 100);
    drop(clients);
}

#[actix_rt::test]
async fn every_early_event_of_polling_clients_is_handled() {
    let io = server();
    let port = serve(&io);

    join_all((0..50u64).map(|n| async move {
        let (mut client, _) = PollingClient::connect(port).await;
        client.send(&format!(r#"42{n}["hello",{n}]"#)).await;
        assert_eq!(
            client.next_packet().await,
            format!("43{n}[{n}]"),
            "client {n}"
        );
    }))
    .await;

    assert_eq!(io.of("/").unwrap().socket_count(), 50);
}
