//! Per-socket typed data: a middleware stores what it learned from the handshake, handlers
//! read it, replace it and remove it; `local()` broadcasts reach this server's sockets.

use crate::support::{serve, WsClient};
use serde_json::Value;
use tickwire::{ConnectError, Payload, Socket, SocketIo};

#[derive(Debug, Clone, PartialEq)]
struct User {
    name: String,
}

#[actix_rt::test]
async fn a_middleware_stores_typed_data_that_handlers_read() {
    let io = SocketIo::builder().build();
    let ns = io.ns("/", |socket| {
        socket.on("whoami", |socket, _: Payload, ack| async move {
            let user = socket.extension::<User>().map(|u| u.name.clone());
            ack.send(&user).ok();
        });
        socket.on("rename", |socket, _: Payload, ack| async move {
            socket.insert_extension(User {
                name: "renamed".into(),
            });
            ack.send(&socket.extension::<User>().map(|u| u.name.clone()))
                .ok();
        });
        socket.on("forget", |socket, _: Payload, ack| async move {
            let removed = socket.remove_extension::<User>().map(|u| u.name.clone());
            ack.send(&(removed, socket.extension::<User>().is_none()))
                .ok();
        });
    });
    ns.use_middleware(|socket: Socket| async move {
        let Some(name) = socket.handshake().auth.get("name").and_then(Value::as_str) else {
            return Err(ConnectError::new("name required"));
        };
        socket.insert_extension(User {
            name: name.to_owned(),
        });
        Ok(())
    });
    let port = serve(&io);

    let mut client = WsClient::open(port).await;
    client.sio_connect("/", Some(r#"{"name":"ada"}"#)).await;
    client.send_text(r#"421["whoami"]"#).await;
    client.wait_for_text(r#"431["ada"]"#).await;
    client.send_text(r#"422["rename"]"#).await;
    client.wait_for_text(r#"432["renamed"]"#).await;
    client.send_text(r#"423["forget"]"#).await;
    client.wait_for_text(r#"433[["renamed",true]]"#).await;

    // `local()` on a single server reaches every local socket.
    io.of("/")
        .unwrap()
        .broadcast()
        .local()
        .emit("hi", &1)
        .unwrap();
    client.wait_for_text(r#"42["hi",1]"#).await;
}
