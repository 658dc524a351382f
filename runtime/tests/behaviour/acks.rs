//! Acknowledgements both ways: the client asks (the handler's `AckSender` answers with the
//! same id), the server asks (`emit_with_ack`: typed result, timeout, decode error,
//! disconnect, pending limit, an abandoned wait), and broadcast `emit_with_ack` collecting one result per
//! target, including a target that never answers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::support::{events, parse_sio, serve, Events, WsClient, WAIT};
use serde_json::json;
use tickwire::{AckError, Payload, Socket, SocketIo};

/// `/` and `/custom`: `echo` acks its payload, `empty` acks with no argument, `check`
/// reports whether an ack was asked for and acks `true`. `/` reports each socket.
fn server(builder: tickwire::SocketIoBuilder) -> (SocketIo, Events<Socket>, Events<bool>) {
    let io = builder.build();
    let (socket_tx, sockets) = events();
    let (required_tx, required) = events();
    let handlers = move |socket: &Socket| {
        socket.on("echo", |_, payload: Payload, ack| async move {
            ack.send_payload(payload).unwrap();
        });
        socket.on("empty", |_, _: Payload, ack| async move {
            ack.send_payload(Payload::new()).unwrap();
        });
        let tx = required_tx.clone();
        socket.on("check", move |_, _: Payload, ack| {
            let _ = tx.send(ack.required());
            async move {
                ack.send(&true).unwrap();
            }
        });
    };
    let custom_handlers = handlers.clone();
    io.ns("/", move |socket| {
        handlers(&socket);
        let _ = socket_tx.send(socket);
    });
    io.ns("/custom", move |socket| custom_handlers(&socket));
    (io, sockets, required)
}

async fn connected(
    builder: tickwire::SocketIoBuilder,
) -> (SocketIo, WsClient, Socket, Events<bool>) {
    let (io, mut sockets, required) = server(builder);
    let port = serve(&io);
    let (client, _) = WsClient::connect(port).await;
    let socket = sockets.next().await;
    (io, client, socket, required)
}

/// Read an event that asks for an ack; returns its ack id after checking the rest of the
/// frame is `42<id><expected_array>`.
async fn recv_ack_request(client: &mut WsClient, expected_array: &str) -> u64 {
    let frame = client.recv_text().await;
    let packet = parse_sio(&frame);
    let id = packet.id.unwrap_or_else(|| panic!("no ack id in {frame}"));
    assert_eq!(frame, format!("42{id}{expected_array}"));
    id
}

#[actix_rt::test]
async fn client_ack_request_is_answered_with_the_same_id_and_arguments() {
    let (_io, mut client, _, _) = connected(SocketIo::builder()).await;

    client
        .send_text(r#"42456["echo",1,"2",{"3":[false]}]"#)
        .await;
    assert_eq!(client.recv_text().await, r#"43456[1,"2",{"3":[false]}]"#);

    client.send_text(r#"420["empty"]"#).await;
    assert_eq!(client.recv_text().await, "430[]");

    client.send_text(r#"424294967296["echo","big id"]"#).await;
    assert_eq!(client.recv_text().await, r#"434294967296["big id"]"#);
}

#[actix_rt::test]
async fn client_ack_on_another_namespace_carries_the_namespace() {
    let (_io, mut client, _, _) = connected(SocketIo::builder()).await;
    client.sio_connect("/custom", None).await;

    client.send_text(r#"42/custom,7["echo","c"]"#).await;

    assert_eq!(client.recv_text().await, r#"43/custom,7["c"]"#);
}

#[actix_rt::test]
async fn an_event_without_ack_id_gets_no_ack() {
    let (_io, mut client, _, mut required) = connected(SocketIo::builder()).await;

    client.send_text(r#"42["check"]"#).await;
    client.send_text(r#"429["check"]"#).await;

    // The first event's `ack.send` did nothing: the next frame is the second's ack.
    assert_eq!(client.recv_text().await, "439[true]");
    assert!(!required.next().await);
    assert!(required.next().await);
}

#[actix_rt::test]
async fn server_emit_with_ack_returns_the_typed_answer() {
    let (_io, mut client, socket, _) = connected(SocketIo::builder()).await;

    let data = json!({"q": 1});
    let question = socket.emit_with_ack::<(u32, String)>("question", &data, WAIT);
    let answer = async {
        let id = recv_ack_request(&mut client, r#"["question",{"q":1}]"#).await;
        client.send_text(&format!(r#"43{id}[42,"yes"]"#)).await;
    };
    let (result, ()) = futures_util::join!(question, answer);
    assert_eq!(result, Ok((42, "yes".to_owned())));

    let single = socket.emit_with_ack::<String>("name?", &1, WAIT);
    let answer = async {
        let id = recv_ack_request(&mut client, r#"["name?",1]"#).await;
        client.send_text(&format!(r#"43{id}["bob"]"#)).await;
    };
    let (result, ()) = futures_util::join!(single, answer);
    assert_eq!(result, Ok("bob".to_owned()));

    let raw = socket.emit_payload_with_ack("raw", Payload::new(), WAIT);
    let answer = async {
        let id = recv_ack_request(&mut client, r#"["raw"]"#).await;
        client
            .send_text(&format!(r#"43{id}[1,[2],{{"3":null}}]"#))
            .await;
    };
    let (result, ()) = futures_util::join!(raw, answer);
    assert_eq!(
        result.unwrap().args(),
        &[json!(1), json!([2]), json!({"3": null})]
    );
}

#[actix_rt::test]
async fn concurrent_server_acks_are_matched_by_id() {
    let (_io, mut client, socket, _) = connected(SocketIo::builder()).await;

    let first = socket.emit_with_ack::<String>("q", &1, WAIT);
    let second = socket.emit_with_ack::<String>("q", &2, WAIT);
    let answers = async {
        let id1 = recv_ack_request(&mut client, r#"["q",1]"#).await;
        let id2 = recv_ack_request(&mut client, r#"["q",2]"#).await;
        assert_ne!(id1, id2);
        // Answered in reverse order.
        client.send_text(&format!(r#"43{id2}["two"]"#)).await;
        client.send_text(&format!(r#"43{id1}["one"]"#)).await;
    };
    let (first, second, ()) = futures_util::join!(first, second, answers);

    assert_eq!(first, Ok("one".to_owned()));
    assert_eq!(second, Ok("two".to_owned()));
}

#[actix_rt::test]
async fn server_emit_with_ack_times_out_and_a_late_answer_is_ignored() {
    let (_io, mut client, socket, _) = connected(SocketIo::builder()).await;
    let timeout = Duration::from_millis(200);
    let started = Instant::now();

    let question = socket.emit_with_ack::<u32>("question", &"?", timeout);
    let read = recv_ack_request(&mut client, r#"["question","?"]"#);
    let (result, id) = futures_util::join!(question, read);

    assert_eq!(result, Err(AckError::Timeout));
    assert!(started.elapsed() >= timeout);
    client.send_text(&format!("43{id}[1]")).await;
    client.assert_echo_ack("/", 1).await;
}

#[actix_rt::test]
async fn an_answer_of_the_wrong_type_is_a_decode_error() {
    let (_io, mut client, socket, _) = connected(SocketIo::builder()).await;

    let question = socket.emit_with_ack::<u32>("number?", &(), WAIT);
    let answer = async {
        let id = recv_ack_request(&mut client, r#"["number?",null]"#).await;
        client
            .send_text(&format!(r#"43{id}["not a number"]"#))
            .await;
    };
    let (result, ()) = futures_util::join!(question, answer);

    assert!(matches!(result, Err(AckError::Decode(_))), "got {result:?}");
}

#[actix_rt::test]
async fn a_pending_ack_fails_when_the_socket_disconnects() {
    let (_io, mut client, socket, _) = connected(SocketIo::builder()).await;

    let question = socket.emit_with_ack::<u32>("question", &1, WAIT);
    let leave = async {
        recv_ack_request(&mut client, r#"["question",1]"#).await;
        client.send_text("41").await;
    };
    let (result, ()) = futures_util::join!(question, leave);

    assert_eq!(result, Err(AckError::Disconnected));
}

#[actix_rt::test]
async fn an_abandoned_emit_with_ack_gives_its_pending_place_back() {
    use futures_util::FutureExt;
    let (_io, mut client, socket, _) = connected(SocketIo::builder().max_pending_acks(1)).await;

    // Sent, then dropped by a caller that stopped waiting (as a `timeout` or a `select!`
    // around it would), with the client never answering: its place is free again.
    for n in 1..=3 {
        let abandoned = socket.emit_with_ack::<u32>("q", &n, WAIT);
        assert!(abandoned.now_or_never().is_none());
        recv_ack_request(&mut client, &format!(r#"["q",{n}]"#)).await;
    }
    let kept = socket.emit_with_ack::<u32>("q", &4, WAIT);
    let answer = async {
        let id = recv_ack_request(&mut client, r#"["q",4]"#).await;
        client.send_text(&format!("43{id}[8]")).await;
    };
    let (kept, ()) = futures_util::join!(kept, answer);
    assert_eq!(kept, Ok(8));
}

#[actix_rt::test]
async fn emit_with_ack_beyond_the_pending_limit_is_refused_without_sending() {
    let (_io, mut client, socket, _) = connected(SocketIo::builder().max_pending_acks(1)).await;

    // `join!` polls in order: the first registers its ack before the second is tried.
    let first = socket.emit_with_ack::<u32>("q", &1, WAIT);
    let second = socket.emit_with_ack::<u32>("q", &2, WAIT);
    let answer = async {
        let id = recv_ack_request(&mut client, r#"["q",1]"#).await;
        client.send_text(&format!("43{id}[7]")).await;
    };
    let (first, second, ()) = futures_util::join!(first, second, answer);

    assert_eq!(first, Ok(7));
    assert_eq!(second, Err(AckError::TooManyPending));
    // Nothing was sent for the refused one: the next frame answers this echo.
    client.assert_echo_ack("/", 1).await;
}

#[actix_rt::test]
async fn an_ack_for_an_unknown_id_is_ignored() {
    let (_io, mut client, _, _) = connected(SocketIo::builder()).await;

    client.send_text(r#"43999["nobody asked"]"#).await;

    client.assert_echo_ack("/", 1).await;
}

#[actix_rt::test]
async fn broadcast_emit_with_ack_gives_one_result_per_target_including_timeouts() {
    let (io, mut sockets, _) = server(SocketIo::builder());
    let port = serve(&io);
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (client, sid) = WsClient::connect(port).await;
        sockets.next().await;
        clients.push(client);
        ids.push(sid);
    }
    let timeout = Duration::from_millis(300);
    let started = Instant::now();

    let ns = io.of("/").unwrap();
    let operator = ns.broadcast().timeout(timeout);
    let ask = operator.emit_with_ack("poll", Payload::new().arg(&"q").unwrap());
    let [c0, c1, c2] = &mut clients[..] else {
        unreachable!()
    };
    let answer = async {
        let id0 = recv_ack_request(c0, r#"["poll","q"]"#).await;
        let id1 = recv_ack_request(c1, r#"["poll","q"]"#).await;
        let id2 = recv_ack_request(c2, r#"["poll","q"]"#).await;
        assert!(
            id0 == id1 && id1 == id2,
            "one packet, one id, for every target"
        );
        c0.send_text(&format!(r#"43{id0}["a0"]"#)).await;
        c1.send_text(&format!(r#"43{id1}["a1",1]"#)).await;
        // The third client never answers.
        id2
    };
    let (results, silent_id) = futures_util::join!(ask, answer);

    assert!(started.elapsed() >= timeout);
    let by_id: HashMap<String, Result<Payload, AckError>> = results
        .into_iter()
        .map(|(sid, result)| (sid.to_string(), result))
        .collect();
    assert_eq!(by_id.len(), 3);
    assert_eq!(by_id[&ids[0]].as_ref().unwrap().args(), &[json!("a0")]);
    assert_eq!(
        by_id[&ids[1]].as_ref().unwrap().args(),
        &[json!("a1"), json!(1)]
    );
    assert_eq!(by_id[&ids[2]], Err(AckError::Timeout));
    // A late answer after the timeout is dropped quietly.
    clients[2]
        .send_text(&format!(r#"43{silent_id}["late"]"#))
        .await;
    clients[2].assert_echo_ack("/", 1).await;
}

#[actix_rt::test]
async fn broadcast_emit_with_ack_to_nobody_returns_at_once() {
    let (io, _, _) = server(SocketIo::builder());
    let _port = serve(&io);
    let ns = io.of("/").unwrap();

    let results = crate::support::within(
        "an empty broadcast",
        ns.to("empty-room").emit_with_ack("poll", Payload::new()),
    )
    .await;

    assert!(results.is_empty());
}
