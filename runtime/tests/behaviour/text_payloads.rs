//! Payloads kept as the JSON text they came in: an echo and a relay send back what the
//! client wrote, byte for byte (spacing and number forms too); a typed handler reads its
//! value from the text; and what only a full parse can judge is refused as before.

use serde::Deserialize;

use crate::support::{events, serve, Events, WsClient};
use tickwire::{Data, Payload, Socket, SocketIo};

#[derive(Deserialize)]
struct Move {
    dx: i32,
    dy: i32,
}

/// `echo` acks its payload, `relay` sends it to everyone else, `sum` acks `dx + dy` of a
/// `Move`, `count` acks how many arguments came.
fn server() -> (SocketIo, Events<Socket>) {
    let io = SocketIo::builder().build();
    let (tx, sockets) = events();
    io.ns("/", move |socket| {
        socket.on("echo", |_, payload: Payload, ack| async move {
            ack.send_payload(payload).unwrap();
        });
        socket.on("relay", |socket, payload: Payload, _| async move {
            socket.broadcast().emit_payload("relayed", payload).unwrap();
        });
        socket.on("sum", |_, Data(m): Data<Move>, ack| async move {
            ack.send(&(m.dx + m.dy)).unwrap();
        });
        socket.on("count", |_, payload: Payload, ack| async move {
            ack.send(&payload.arg_count()).unwrap();
        });
        let _ = tx.send(socket);
    });
    (io, sockets)
}

const ARGS: &str = r#"{"z": 1, "a":[ 1.50, -0, "é\n\u00e9" ]},true ,null"#;

#[actix_rt::test]
async fn an_echo_answers_with_the_text_the_client_sent() {
    let (io, _) = server();
    let port = serve(&io);
    let (mut client, _) = WsClient::connect(port).await;

    client.send_text(&format!(r#"427["echo",{ARGS}]"#)).await;

    // The arguments come back as written, spacing and `1.50` and the escape included (a
    // parse and re-encode would have sent `1.5`, `-0.0` and `é`); the separators between
    // arguments are the server's own.
    let ack = r#"437[{"z": 1, "a":[ 1.50, -0, "é\n\u00e9" ]},true,null]"#;
    assert_eq!(client.recv_text().await, ack);
}

#[actix_rt::test]
async fn a_relay_sends_the_text_on_to_the_others() {
    let (io, mut sockets) = server();
    let port = serve(&io);
    let (mut sender, _) = WsClient::connect(port).await;
    sockets.next().await;
    let (mut receiver, _) = WsClient::connect(port).await;
    sockets.next().await;

    sender.send_text(&format!(r#"42["relay",{ARGS}]"#)).await;

    let relayed = r#"42["relayed",{"z": 1, "a":[ 1.50, -0, "é\n\u00e9" ]},true,null]"#;
    assert_eq!(receiver.recv_text_skip_pings().await, relayed);
}

#[actix_rt::test]
async fn a_typed_handler_reads_its_value_from_the_text() {
    let (io, _) = server();
    let port = serve(&io);
    let (mut client, _) = WsClient::connect(port).await;

    client.send_text(r#"421["sum",{"dy":-2,"dx":7}]"#).await;
    assert_eq!(client.recv_text().await, "431[5]");
    client.send_text(r#"422["count",1,[2,3],{}]"#).await;
    assert_eq!(client.recv_text().await, "432[3]");
    // A value of the wrong type skips the handler, as it always did: no ack, and the
    // connection goes on.
    client.send_text(r#"423["sum",{"dx":"seven"}]"#).await;
    client.send_text(r#"424["echo","after"]"#).await;
    assert_eq!(client.recv_text().await, r#"434["after"]"#);
}

#[actix_rt::test]
async fn valid_json_that_a_full_parse_refuses_still_closes_the_connection() {
    let (io, _) = server();
    let port = serve(&io);
    let deep = |levels: usize| {
        format!(
            r#"421["echo",{}{}]"#,
            "[".repeat(levels - 1),
            "]".repeat(levels - 1)
        )
    };
    // 127 levels, the outer array included, is as deep as serde_json reads a value.
    let (mut client, _) = WsClient::connect(port).await;
    client.send_text(&deep(127)).await;
    assert!(client.recv_text().await.starts_with("431[[[["));

    for (case, text) in [
        ("nested 128 deep", deep(128)),
        ("a number beyond a float", r#"421["echo",1e400]"#.to_owned()),
        ("a lone surrogate", r#"421["echo","\ud800"]"#.to_owned()),
        (
            "an ack for a namespace not joined",
            r#"43/other,1[]"#.to_owned(),
        ),
    ] {
        let (mut client, _) = WsClient::connect(port).await;
        client.send_text(&text).await;
        eprintln!("case: {case}");
        client.expect_closed().await;
    }

    let (mut client, _) = WsClient::connect(port).await;
    client.assert_echo_ack("/", 9).await;
}
