//! The Rust client (`tickwire-client`) against an in-process tickwire
//! server, and against a scripted websocket server for what a real server does not do on
//! purpose (stop pinging, send garbage, speak the compact codec by hand).
//!
//! Nothing sleeps to wait for an event: every wait is on a channel fed by a handler, bounded
//! by `support::WAIT`.

mod support;

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use support::{events, serve, within, Events};
use tickwire::protocol::compact::{self, CompactKind, CompactPacket};
use tickwire::{Codec, ConnectError, Data, DisconnectReason, Payload, Socket, SocketIo};
use tickwire_client::{
    Client, ClientBuilder, ConnectionEvent, DisconnectReason as ClientReason, Error, RawPayload,
    Reconnect,
};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

const ACK: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Move {
    player: String,
    x: i32,
    y: i32,
}

/// What the server's handlers saw.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Connected(String),
    Note(Value),
    Binary(Vec<Bytes>),
    Answer(Value),
    Gone(DisconnectReason),
}

/// A server pinging every `interval` (waiting a second for the pong), with the
/// handlers the tests talk to on `/`, and `/private` behind a token.
fn server(interval: Duration) -> (SocketIo, Events<Seen>) {
    // A generous pong timeout: a busy machine may fire the server's ping timer late, and
    // the timeout counts from when the ping was due.
    let io = SocketIo::builder()
        .ping_interval(interval)
        .ping_timeout(Duration::from_secs(1))
        .build();
    let (tx, seen) = events();
    io.ns("/", move |socket: Socket| {
        let _ = tx.send(Seen::Connected(socket.id().to_owned()));
        socket.on("echo", |_, payload: Payload, ack| async move {
            ack.send_payload(payload).ok();
        });
        socket.on("move", |socket, Data(mv): Data<Move>, ack| async move {
            let moved = Move { x: mv.x + 1, ..mv };
            socket.emit("moved", &moved).ok();
            ack.send(&moved.x).ok();
        });
        let t = tx.clone();
        socket.on("note", move |_, Data(note): Data<Value>, _| {
            let _ = t.send(Seen::Note(note));
            async {}
        });
        let t = tx.clone();
        socket.on("binary", move |socket, payload: Payload, _| {
            let _ = t.send(Seen::Binary(payload.attachments().to_vec()));
            let reply = Payload::new().arg(&"reversed").unwrap().binary(
                payload.attachments()[0]
                    .iter()
                    .rev()
                    .copied()
                    .collect::<Vec<u8>>(),
            );
            socket.emit_payload("binary-back", reply).ok();
            async {}
        });
        let t = tx.clone();
        socket.on("ask", move |socket, Data(question): Data<Value>, _| {
            let t = t.clone();
            async move {
                let answer: Result<Value, _> =
                    socket.emit_with_ack("question", &question, ACK).await;
                let _ = t.send(Seen::Answer(answer.unwrap_or(Value::Null)));
            }
        });
        let t = tx.clone();
        socket.on(
            "ask-name",
            move |socket, Data(question): Data<String>, _| {
                let t = t.clone();
                async move {
                    let answer: Result<String, _> =
                        socket.emit_with_ack("name?", &question, ACK).await;
                    let _ = t.send(Seen::Answer(answer.map_or(Value::Null, Value::String)));
                }
            },
        );
        socket.on("kick", |socket, _: Payload, _| async move {
            socket.disconnect(true);
        });
        let t = tx.clone();
        socket.on_disconnect(move |_, reason| {
            let _ = t.send(Seen::Gone(reason));
        });
    });
    let private = io.ns("/private", |socket: Socket| {
        socket.on("echo", |_, payload: Payload, ack| async move {
            ack.send_payload(payload).ok();
        });
    });
    private.use_middleware(|socket: Socket| async move {
        match socket.handshake().auth.get("token").and_then(Value::as_str) {
            Some("secret") => Ok(()),
            _ => Err(ConnectError::new("unauthorized").with_data(json!({"reason": "bad token"}))),
        }
    });
    (io, seen)
}

fn fast_reconnect() -> Reconnect {
    Reconnect::default()
        .initial(Duration::from_millis(10))
        .max(Duration::from_millis(50))
}

/// A builder for the server on `port` that reports connection events (pings left out
/// unless `pings`).
fn client(port: u16, pings: bool) -> (ClientBuilder, Events<ConnectionEvent>) {
    let (tx, seen) = events();
    let builder = Client::builder(format!("http://127.0.0.1:{port}"))
        .reconnect(fast_reconnect())
        .connect_timeout(Duration::from_secs(5))
        .on_connection(move |_, event| {
            if pings || *event != ConnectionEvent::Ping {
                let _ = tx.send(event.clone());
            }
        });
    (builder, seen)
}

/// Skip connection events until one matches `pred`.
async fn until(
    events: &mut Events<ConnectionEvent>,
    pred: impl Fn(&ConnectionEvent) -> bool,
) -> ConnectionEvent {
    loop {
        let event = events.next().await;
        if pred(&event) {
            return event;
        }
    }
}

async fn echo(client: &Client, value: &Value) -> Value {
    within("an echo ack", client.emit_with_ack("echo", value, ACK))
        .await
        .expect("echo ack")
}

#[actix_rt::test]
async fn connects_and_acks_in_both_directions() {
    let (io, mut seen) = server(Duration::from_secs(5));
    let port = serve(&io);
    let (tx, mut answers) = events::<bool>();
    let (builder, mut conn) = client(port, false);
    let client = builder
        .on("question", |_, question: Value, ack| {
            // The server asked with an ack: answer it from the handler.
            assert!(ack.required());
            ack.send(&json!({"re": question})).unwrap();
        })
        .on("question-seen", move |_, seen: bool, _| {
            let _ = tx.send(seen);
        })
        .connect()
        .await
        .expect("connect");

    let Seen::Connected(sid) = seen.next().await else {
        panic!("the server did not see the connection")
    };
    let ConnectionEvent::Connected { sid: client_sid } = conn.next().await else {
        panic!("Connected expected first")
    };
    assert_eq!(client_sid, sid);
    assert_eq!(client.id().as_deref(), Some(sid.as_str()));
    assert!(client.is_connected());

    // Client → server with ack.
    assert_eq!(
        echo(&client, &json!({"a": [1, 2]})).await,
        json!({"a": [1, 2]})
    );
    // Several arguments back are read as a tuple.
    let two = RawPayload::Json(Payload::new().arg(&"x").unwrap().arg(&7).unwrap());
    let raw = within("a raw ack", client.emit_raw_with_ack("echo", two, ACK))
        .await
        .unwrap();
    assert_eq!(
        raw.deserialize::<(String, u8)>().unwrap(),
        ("x".to_owned(), 7)
    );

    // Server → client with ack.
    client.emit("ask", &"why?").unwrap();
    assert_eq!(seen.next().await, Seen::Answer(json!({"re": "why?"})));
    assert!(answers.try_next().is_none());

    client.disconnect();
    within("the client to close", client.closed()).await;
    assert_eq!(
        until(&mut conn, |e| matches!(e, ConnectionEvent::Disconnected(_))).await,
        ConnectionEvent::Disconnected(ClientReason::ClientDisconnect)
    );
    assert_eq!(
        seen.next().await,
        Seen::Gone(DisconnectReason::ClientNamespaceDisconnect)
    );
    assert_eq!(client.emit("note", &1), Err(Error::Closed));
}

#[actix_rt::test]
async fn typed_events_both_ways_and_handlers_added_later() {
    let (io, _seen) = server(Duration::from_secs(5));
    let port = serve(&io);
    let (builder, _conn) = client(port, false);
    let client = builder.connect().await.expect("connect");
    let (tx, mut moved) = events::<Move>();
    client.on("moved", move |_, mv: Move, _| {
        let _ = tx.send(mv);
    });

    let mv = Move {
        player: "p1".into(),
        x: 1,
        y: -2,
    };
    let x: i32 = within("the move ack", client.emit_with_ack("move", &mv, ACK))
        .await
        .unwrap();
    assert_eq!(x, 2);
    assert_eq!(moved.next().await, Move { x: 2, ..mv.clone() });

    // An ack of the wrong type is a typed error, not a panic.
    let wrong: Result<Vec<String>, _> = client.emit_with_ack("move", &mv, ACK).await;
    assert!(matches!(wrong, Err(Error::Decode(_))), "{wrong:?}");
    // No answer at all: the ack times out.
    let silent: Result<Value, _> = client
        .emit_with_ack("note", &"no ack", Duration::from_millis(100))
        .await;
    assert_eq!(silent, Err(Error::AckTimeout));
    client.disconnect();
}

#[actix_rt::test]
async fn binary_payloads_both_ways() {
    let (io, mut seen) = server(Duration::from_secs(5));
    let port = serve(&io);
    let (raw_tx, mut raw_back) = events::<RawPayload>();
    let (typed_tx, mut typed_back) = events::<(String, Vec<u8>)>();
    let (builder, _conn) = client(port, false);
    let client = builder
        .on_raw("binary-back", move |client, payload, _| {
            let _ = raw_tx.send(payload);
            // Registered from inside a handler: takes over for the next event.
            let tx = typed_tx.clone();
            client.on("binary-back", move |_, back: (String, Vec<u8>), _| {
                let _ = tx.send(back);
            });
        })
        .connect()
        .await
        .expect("connect");
    let _ = seen.next().await;

    client.emit_binary("binary", vec![1u8, 2, 3]).unwrap();
    assert_eq!(
        seen.next().await,
        Seen::Binary(vec![Bytes::from_static(&[1, 2, 3])])
    );
    let RawPayload::Json(back) = raw_back.next().await else {
        panic!("JSON payload expected")
    };
    assert_eq!(back.args()[0], json!("reversed"));
    assert_eq!(back.attachments(), [Bytes::from_static(&[3, 2, 1])]);

    // Binary nested in an object, with a second attachment.
    let mut payload = Payload::new();
    let first = payload.placeholder_for(Bytes::from_static(b"\x00\xff"));
    let second = payload.placeholder_for(Bytes::from_static(b"tail"));
    let (mut args, attachments) = payload.into_parts();
    args.push(json!({"head": first, "rest": [second]}));
    client
        .emit_raw(
            "binary",
            RawPayload::Json(Payload::from_parts(args, attachments)),
        )
        .unwrap();
    assert_eq!(
        seen.next().await,
        Seen::Binary(vec![
            Bytes::from_static(b"\x00\xff"),
            Bytes::from_static(b"tail")
        ])
    );
    assert_eq!(
        typed_back.next().await,
        ("reversed".to_owned(), vec![0xff, 0x00])
    );

    // A binary ack comes back whole.
    let echoed = within(
        "a binary echo",
        client.emit_raw_with_ack(
            "echo",
            RawPayload::binary(Codec::Json, vec![9u8; 1000]),
            ACK,
        ),
    )
    .await
    .unwrap();
    assert_eq!(echoed.deserialize::<Vec<u8>>().unwrap(), vec![9u8; 1000]);
    client.disconnect();
}

#[actix_rt::test]
async fn reconnects_after_the_server_closes_the_connection() {
    let (io, mut seen) = server(Duration::from_secs(5));
    let port = serve(&io);
    let (builder, mut conn) = client(port, false);
    let client = builder.connect().await.expect("connect");
    let Seen::Connected(first) = seen.next().await else {
        panic!("connection expected")
    };

    io.close();
    assert_eq!(
        until(&mut conn, |e| matches!(e, ConnectionEvent::Disconnected(_))).await,
        ConnectionEvent::Disconnected(ClientReason::TransportClose)
    );
    assert!(matches!(
        conn.next().await,
        ConnectionEvent::Reconnecting { attempt: 1, .. }
    ));
    let ConnectionEvent::Reconnected { sid, attempts } = until(&mut conn, |e| {
        matches!(e, ConnectionEvent::Reconnected { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert!(attempts >= 1);
    assert_ne!(sid, first);
    assert_eq!(
        seen.next().await,
        Seen::Gone(DisconnectReason::ServerShuttingDown)
    );
    assert_eq!(seen.next().await, Seen::Connected(sid.clone()));

    // Usable again: both directions.
    assert_eq!(echo(&client, &json!("again")).await, json!("again"));
    let (tx, mut moved) = events::<Move>();
    client.on("moved", move |_, mv: Move, _| {
        let _ = tx.send(mv);
    });
    let mv = Move {
        player: "p".into(),
        x: 0,
        y: 0,
    };
    client.emit("move", &mv).unwrap();
    assert_eq!(moved.next().await, Move { x: 1, ..mv });
    client.disconnect();
}

#[actix_rt::test]
async fn a_kick_is_final_by_default() {
    let (io, mut seen) = server(Duration::from_secs(5));
    let port = serve(&io);
    let (builder, mut conn) = client(port, false);
    let client = builder.connect().await.expect("connect");

    client.emit("kick", &()).unwrap();
    assert_eq!(
        until(&mut conn, |e| matches!(e, ConnectionEvent::Disconnected(_))).await,
        ConnectionEvent::Disconnected(ClientReason::ServerDisconnect)
    );
    within("the client to close", client.closed()).await;
    assert!(client.is_closed());
    assert_eq!(client.emit("note", &1), Err(Error::Closed));
    let _ = seen.next().await;
    assert_eq!(
        seen.next().await,
        Seen::Gone(DisconnectReason::ServerNamespaceDisconnect)
    );
}

#[actix_rt::test]
async fn reconnects_after_a_kick_when_the_policy_says_so() {
    let (io, mut seen) = server(Duration::from_secs(5));
    let port = serve(&io);
    let (builder, mut conn) = client(port, false);
    let client = builder
        .reconnect(fast_reconnect().after_server_disconnect(true))
        .connect()
        .await
        .expect("connect");
    let _ = seen.next().await;

    // Kicked once (the server closes the whole connection), back, and usable.
    client.emit("kick", &()).unwrap();
    assert_eq!(
        until(&mut conn, |e| matches!(e, ConnectionEvent::Disconnected(_))).await,
        ConnectionEvent::Disconnected(ClientReason::ServerDisconnect)
    );
    until(&mut conn, |e| {
        matches!(e, ConnectionEvent::Reconnected { .. })
    })
    .await;
    assert_eq!(echo(&client, &json!({"n": 1})).await, json!({"n": 1}));
    assert!(client.is_connected());
    client.disconnect();
}

#[actix_rt::test]
async fn emits_queued_while_reconnecting_are_sent_once_back() {
    let (io, mut seen) = server(Duration::from_secs(5));
    let port = serve(&io);
    let (builder, mut conn) = client(port, false);
    let client = builder
        .reconnect(
            fast_reconnect()
                .initial(Duration::from_millis(200))
                .jitter(0.0),
        )
        .connect()
        .await
        .expect("connect");
    let _ = seen.next().await;

    io.close();
    until(&mut conn, |e| {
        matches!(e, ConnectionEvent::Reconnecting { .. })
    })
    .await;
    // Offline now (the first attempt waits 200 ms): these wait in the queue.
    client.emit("note", &"queued 1").unwrap();
    client.emit("note", &"queued 2").unwrap();
    assert!(!client.is_connected());
    until(&mut conn, |e| {
        matches!(e, ConnectionEvent::Reconnected { .. })
    })
    .await;
    let mut notes = Vec::new();
    while notes.len() < 2 {
        if let Seen::Note(note) = seen.next().await {
            notes.push(note);
        }
    }
    assert_eq!(notes, [json!("queued 1"), json!("queued 2")]);
    client.disconnect();
}

#[actix_rt::test]
async fn pings_keep_the_connection_alive_across_intervals() {
    let interval = Duration::from_millis(100);
    let (io, mut seen) = server(interval);
    let port = serve(&io);
    let (builder, mut conn) = client(port, true);
    let client = builder.connect().await.expect("connect");
    let _ = seen.next().await;
    assert!(matches!(
        conn.next().await,
        ConnectionEvent::Connected { .. }
    ));

    // Five pings answered: five intervals, each longer than the server's ping timeout.
    for _ in 0..5 {
        assert_eq!(conn.next().await, ConnectionEvent::Ping);
    }
    assert!(client.is_connected());
    assert_eq!(echo(&client, &json!(5)).await, json!(5));
    assert_eq!(seen.try_next(), None, "the server dropped nobody");
    client.disconnect();
}

#[actix_rt::test]
async fn the_namespace_refusal_is_a_typed_error() {
    let (io, _seen) = server(Duration::from_secs(5));
    let port = serve(&io);
    let refused = Client::builder(format!("ws://127.0.0.1:{port}/"))
        .namespace("/private")
        .auth(json!({"token": "wrong"}))
        .connect()
        .await;
    assert_eq!(
        refused.unwrap_err(),
        Error::ConnectRefused {
            message: "unauthorized".into(),
            data: Some(json!({"reason": "bad token"}))
        }
    );

    let client = Client::builder(format!("ws://127.0.0.1:{port}"))
        .namespace("private")
        .auth(json!({"token": "secret"}))
        .connect()
        .await
        .expect("the right token is let in");
    assert_eq!(client.namespace(), "/private");
    assert_eq!(echo(&client, &json!("in")).await, json!("in"));
    client.disconnect();

    // A request the server refuses over HTTP.
    let refused = Client::builder(format!("http://127.0.0.1:{port}"))
        .query("codec", "msgpack")
        .connect()
        .await;
    assert!(
        matches!(refused, Err(Error::Refused { status: 400, .. })),
        "{refused:?}"
    );
    // Nobody listening.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable = Client::builder(format!("http://127.0.0.1:{dead}"))
        .connect()
        .await;
    assert!(
        matches!(unreachable, Err(Error::Transport(_))),
        "{unreachable:?}"
    );
}

// ----- a scripted server -----------------------------------------------------------------

type ServerWs = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A websocket listener on 127.0.0.1 handing each accepted connection to the test.
async fn scripted_server() -> (u16, Events<ServerWs>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, conns) = events();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            if let Ok(ws) = tokio_tungstenite::accept_async(stream).await {
                if tx.send(ws).is_err() {
                    return;
                }
            }
        }
    });
    (port, conns)
}

async fn recv(ws: &mut ServerWs) -> Message {
    loop {
        match within("a frame from the client", ws.next()).await {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(message)) => return message,
            other => panic!("the client went away: {other:?}"),
        }
    }
}

async fn send(ws: &mut ServerWs, message: Message) {
    within("a frame to the client", ws.send(message))
        .await
        .expect("send to the client");
}

/// The open packet, with short heartbeat timings.
async fn open(ws: &mut ServerWs) {
    let open =
        r#"0{"sid":"s","upgrades":[],"pingInterval":50,"pingTimeout":50,"maxPayload":1000000}"#;
    send(ws, Message::text(open)).await;
}

/// Open, read the JSON CONNECT for `/` and accept it.
async fn accept_json(ws: &mut ServerWs) {
    open(ws).await;
    assert_eq!(recv(ws).await, Message::text("40"));
    send(ws, Message::text(r#"40{"sid":"socket-1"}"#)).await;
}

#[actix_rt::test]
async fn a_server_that_stops_pinging_is_left_and_reconnected() {
    let (port, mut conns) = scripted_server().await;
    let (builder, mut conn) = client(port, true);
    let connecting = tokio::spawn(builder.connect());
    let mut first = conns.next().await;
    accept_json(&mut first).await;
    let client = within("connect", connecting).await.unwrap().unwrap();

    // One ping is answered with a pong...
    send(&mut first, Message::text("2")).await;
    assert_eq!(recv(&mut first).await, Message::text("3"));
    // ...then silence: 100 ms later the client gives up on this connection.
    assert_eq!(
        until(&mut conn, |e| matches!(e, ConnectionEvent::Disconnected(_))).await,
        ConnectionEvent::Disconnected(ClientReason::PingTimeout)
    );
    let mut second = conns.next().await;
    accept_json(&mut second).await;
    until(&mut conn, |e| {
        matches!(e, ConnectionEvent::Reconnected { .. })
    })
    .await;
    assert!(client.is_connected());
    client.disconnect();
}

#[actix_rt::test]
async fn garbage_from_the_server_is_a_parse_error_not_a_panic() {
    let (port, mut conns) = scripted_server().await;
    let (builder, mut conn) = client(port, false);
    let connecting = tokio::spawn(builder.connect());
    let mut ws = conns.next().await;
    accept_json(&mut ws).await;
    let client = within("connect", connecting).await.unwrap().unwrap();

    let garbage = [
        Message::text("9nonsense"),
        Message::text("42[\"unterminated"),
        Message::text("43[]"),
        Message::binary(Bytes::from_static(b"\x00\x01 stray binary")),
        Message::text("42{\"not\":\"an array\"}"),
    ];
    for bad in garbage {
        send(&mut ws, bad.clone()).await;
        assert_eq!(
            until(&mut conn, |e| matches!(e, ConnectionEvent::Disconnected(_))).await,
            ConnectionEvent::Disconnected(ClientReason::ParseError),
            "{bad:?}"
        );
        ws = conns.next().await;
        accept_json(&mut ws).await;
        until(&mut conn, |e| {
            matches!(e, ConnectionEvent::Reconnected { .. })
        })
        .await;
    }
    // A placeholder naming an attachment that was never announced.
    send(
        &mut ws,
        Message::text(r#"451-["x",{"_placeholder":true,"num":5}]"#),
    )
    .await;
    send(&mut ws, Message::binary(Bytes::from_static(b"\x01"))).await;
    assert_eq!(
        until(&mut conn, |e| matches!(e, ConnectionEvent::Disconnected(_))).await,
        ConnectionEvent::Disconnected(ClientReason::ParseError)
    );
    ws = conns.next().await;
    accept_json(&mut ws).await;
    until(&mut conn, |e| {
        matches!(e, ConnectionEvent::Reconnected { .. })
    })
    .await;

    // Not a handshake at all: a typed error on connect.
    let connecting = tokio::spawn(Client::builder(format!("ws://127.0.0.1:{port}")).connect());
    let mut ws = conns.next().await;
    send(&mut ws, Message::text("0{\"sid\":1}")).await;
    let error = within("connect", connecting).await.unwrap().unwrap_err();
    assert!(matches!(error, Error::Handshake(_)), "{error:?}");
    client.disconnect();

    // Absurd timings are taken as "very long", not as an overflow.
    let connecting = tokio::spawn(Client::builder(format!("ws://127.0.0.1:{port}")).connect());
    let mut ws = conns.next().await;
    let max = u64::MAX;
    let open = format!(r#"0{{"sid":"s","upgrades":[],"pingInterval":{max},"pingTimeout":{max}}}"#);
    send(&mut ws, Message::text(open)).await;
    assert_eq!(recv(&mut ws).await, Message::text("40"));
    send(&mut ws, Message::text(r#"40{"sid":"big"}"#)).await;
    let patient = within("connect", connecting).await.unwrap().unwrap();
    assert_eq!(patient.id().as_deref(), Some("big"));
    patient.disconnect();
    assert_eq!(recv(&mut ws).await, Message::text("41"));
}

#[actix_rt::test]
async fn compact_codec_speaks_one_binary_frame_per_packet() {
    let (port, mut conns) = scripted_server().await;
    let (tx, mut moves) = events::<Move>();
    let connecting = tokio::spawn(
        Client::builder(format!("http://127.0.0.1:{port}"))
            .codec(Codec::Compact)
            .auth(json!({"token": "t"}))
            .on("moved", move |_, mv: Move, ack| {
                ack.send(&(mv.x * 10)).unwrap();
                let _ = tx.send(mv);
            })
            .connect(),
    );
    let mut ws = conns.next().await;
    open(&mut ws).await;
    let limits = compact::Limits::default();
    let decode = |m: Message| match m {
        Message::Binary(b) => compact::decode(b, &limits).expect("a compact frame"),
        other => panic!("a binary frame expected, got {other:?}"),
    };
    let connect = decode(recv(&mut ws).await);
    assert_eq!(connect.kind, CompactKind::Connect);
    assert_eq!(connect.json().unwrap(), Some(json!({"token": "t"})));
    let accept = CompactPacket::connect("/", Some(&json!({"sid": "c1"})));
    send(&mut ws, Message::binary(compact::encode(&accept).unwrap())).await;
    let client = within("connect", connecting).await.unwrap().unwrap();
    assert_eq!(client.id().as_deref(), Some("c1"));

    // Client → server, with an ack: a postcard payload, answered with a postcard ACK.
    let mv = Move {
        player: "p".into(),
        x: 3,
        y: 4,
    };
    let emitting = {
        let client = client.clone();
        let mv = mv.clone();
        tokio::spawn(async move { client.emit_with_ack::<u32>("move", &mv, ACK).await })
    };
    let event = decode(recv(&mut ws).await);
    assert_eq!(event.event.as_ref().and_then(|e| e.as_name()), Some("move"));
    assert_eq!(compact::from_payload::<Move>(&event.payload).unwrap(), mv);
    let id = event.id.expect("an ack id");
    let ack = CompactPacket::ack("/", id, compact::to_payload(&77u32).unwrap());
    send(&mut ws, Message::binary(compact::encode(&ack).unwrap())).await;
    assert_eq!(within("the ack", emitting).await.unwrap(), Ok(77));

    // Server → client, with an ack the handler answers.
    let moved = CompactPacket::event("/", "moved", compact::to_payload(&mv).unwrap(), Some(5));
    send(&mut ws, Message::binary(compact::encode(&moved).unwrap())).await;
    assert_eq!(moves.next().await, mv);
    let answer = decode(recv(&mut ws).await);
    assert_eq!((answer.kind, answer.id), (CompactKind::Ack, Some(5)));
    assert_eq!(compact::from_payload::<i32>(&answer.payload).unwrap(), 30);

    // Binary and numeric events.
    client.emit_binary("#3", vec![1u8, 2]).unwrap();
    let blob = decode(recv(&mut ws).await);
    assert_eq!(blob.event, Some(compact::EventName::Id(3)));
    assert_eq!(
        compact::from_payload::<Vec<u8>>(&blob.payload).unwrap(),
        [1, 2]
    );
    // A JSON payload on a compact client is refused before it is queued.
    assert!(matches!(
        client.emit_raw("x", RawPayload::empty(Codec::Json)),
        Err(Error::CodecMismatch { .. })
    ));

    // Leaving: a compact DISCONNECT, then the close.
    client.disconnect();
    let bye = decode(recv(&mut ws).await);
    assert_eq!(bye.kind, CompactKind::Disconnect);
    assert!(matches!(recv(&mut ws).await, Message::Close(_)));
    // Reading on sends tungstenite's answer to the close, which ends the stream.
    assert!(within("the end of the stream", ws.next()).await.is_none());
    within("the client to close", client.closed()).await;
}

#[actix_rt::test]
async fn compact_codec_against_the_server() {
    let (io, mut seen) = server(Duration::from_secs(5));
    let port = serve(&io);
    let (tx, mut moved) = events::<Move>();
    let (builder, _conn) = client(port, false);
    let client = builder
        .codec(Codec::Compact)
        .on("moved", move |_, mv: Move, _| {
            let _ = tx.send(mv);
        })
        .connect()
        .await
        .expect("a compact connection");
    let Seen::Connected(sid) = seen.next().await else {
        panic!("the server did not see the connection")
    };
    assert_eq!(client.id(), Some(sid));

    // Typed event with an ack, and the typed event the server emits back.
    let mv = Move {
        player: "c".into(),
        x: 41,
        y: 0,
    };
    let x: i32 = within("the move ack", client.emit_with_ack("move", &mv, ACK))
        .await
        .expect("move ack");
    assert_eq!(x, 42);
    assert_eq!(moved.next().await, Move { x: 42, ..mv });

    // The server asks, the client's handler answers, in postcard both ways.
    client.on("name?", |_, question: String, ack| {
        ack.send(&format!("{question} compact")).unwrap();
    });
    client.emit("ask-name", "who?").unwrap();
    assert_eq!(seen.next().await, Seen::Answer(json!("who? compact")));
    client.disconnect();
    within("the client to close", client.closed()).await;
}

// ----- exactly-once emits and connection state recovery -----------------------------------

/// What the recovery server's handlers saw.
struct Recovering {
    io: SocketIo,
    port: u16,
    sockets: Events<Socket>,
    reasons: Events<DisconnectReason>,
    /// The argument of each `buy` run, then `"answered"` once it acked.
    runs: Events<Value>,
    /// Lets one `buy` run answer per permit.
    gate: std::sync::Arc<tokio::sync::Notify>,
}

/// Recovery on; `join` joins a room and acks; `buy` acks `{"bought": arg}` once the gate
/// lets it.
fn recovering_server() -> Recovering {
    let io = SocketIo::builder()
        .connection_state_recovery(tickwire::RecoveryConfig::default())
        .build();
    let (sockets_tx, sockets) = events();
    let (reasons_tx, reasons) = events();
    let (runs_tx, runs) = events();
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    let buy_gate = gate.clone();
    io.ns("/", move |socket: Socket| {
        let _ = sockets_tx.send(socket.clone());
        let reasons = reasons_tx.clone();
        socket.on_disconnect(move |_, reason| {
            let _ = reasons.send(reason);
        });
        socket.on("join", |socket, Data(room): Data<String>, ack| async move {
            socket.join(room);
            ack.send(&"joined").ok();
        });
        let (runs, gate) = (runs_tx.clone(), buy_gate.clone());
        socket.on("buy", move |_, Data(arg): Data<Value>, ack| {
            let (runs, gate) = (runs.clone(), gate.clone());
            let _ = runs.send(arg.clone());
            async move {
                gate.notified().await;
                // The socket may be gone by now: the answer is kept for its session.
                let _ = ack.send(&json!({ "bought": arg }));
                let _ = runs.send(json!("answered"));
            }
        });
    });
    let port = serve(&io);
    Recovering {
        io,
        port,
        sockets,
        reasons,
        runs,
        gate,
    }
}

/// A TCP proxy to a local port that the test can cut: [`Proxy::cut`] drops every proxied
/// connection and holds new ones (accepted, not forwarded) until [`Proxy::resume`].
struct Proxy {
    port: u16,
    /// `(open, generation)`: connections of an older generation are dropped.
    state: tokio::sync::watch::Sender<(bool, u64)>,
}

impl Proxy {
    async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (state, watch) = tokio::sync::watch::channel((true, 0u64));
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut watch = watch.clone();
                tokio::spawn(async move {
                    let Ok(&(_, generation)) = watch.wait_for(|(open, _)| *open).await.as_deref()
                    else {
                        return;
                    };
                    let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = watch.wait_for(|(_, now)| *now != generation) => {}
                    }
                });
            }
        });
        Proxy { port, state }
    }

    /// Drop every connection, and hold new ones.
    fn cut(&self) {
        self.state.send_modify(|(open, generation)| {
            *open = false;
            *generation += 1;
        });
    }

    /// Forward new connections again.
    fn resume(&self) {
        self.state.send_modify(|(open, _)| *open = true);
    }
}

/// Both ends have seen the cut: the server kept the session, the client is reconnecting.
async fn both_see_the_cut(server: &mut Recovering, conn: &mut Events<ConnectionEvent>) {
    let reason = server.reasons.next().await;
    assert!(
        matches!(
            reason,
            DisconnectReason::TransportClose | DisconnectReason::TransportError
        ),
        "a recoverable close, got {reason:?}"
    );
    until(conn, |e| matches!(e, ConnectionEvent::Disconnected(_))).await;
}

#[actix_rt::test]
async fn emit_once_retries_with_the_same_id_and_the_handler_runs_once() {
    let mut server = recovering_server();
    let (builder, _conn) = client(server.port, false);
    let client = builder
        .once_attempt_timeout(Duration::from_millis(100))
        .connect()
        .await
        .expect("connect");
    let socket = server.sockets.next().await;

    // The first attempt times out while the handler runs; the retry (same emit id) waits
    // on the server for the first run's answer.
    let buying = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .emit_once_with_ack::<Value>("buy", &json!({"item": 1}), ACK)
                .await
        })
    };
    assert_eq!(server.runs.next().await, json!({"item": 1}));
    support::settled("a retry waiting on the server", || {
        socket.emit_dedupe_stats().awaited >= 1
    })
    .await;
    server.gate.notify_one();
    let answer = within("the answer", buying).await.unwrap();
    assert_eq!(answer, Ok(json!({"bought": {"item": 1}})));
    assert_eq!(server.runs.next().await, json!("answered"));
    assert_eq!(server.runs.try_next(), None, "the handler ran once");
    assert_eq!(socket.emit_dedupe_stats().ran, 1);

    // A new emit is a new emit id.
    server.gate.notify_one();
    let again: Value = within(
        "the second answer",
        client.emit_once_with_ack("buy", &json!({"item": 2}), ACK),
    )
    .await
    .unwrap();
    assert_eq!(again, json!({"bought": {"item": 2}}));
    assert_eq!(socket.emit_dedupe_stats().ran, 2);

    // Out of time: the answer never came.
    let late = client
        .emit_once_with_ack::<Value>("buy", &json!({"item": 3}), Duration::from_millis(250))
        .await;
    assert_eq!(late, Err(Error::AckTimeout));
    client.disconnect();
}

#[actix_rt::test]
async fn recovers_its_session_and_gets_the_missed_broadcasts_once_in_order() {
    let mut server = recovering_server();
    let proxy = Proxy::start(server.port).await;
    let (tx, mut broadcasts) = events::<(String, String)>();
    let (builder, mut conn) = client(proxy.port, false);
    // A broadcast's offset stays in its arguments, as the last one (as in the JS client).
    let client = builder
        .on("m", move |_, (text, offset): (String, String), _| {
            let _ = tx.send((text, offset));
        })
        .connect()
        .await
        .expect("connect");
    let first = server.sockets.next().await;
    assert!(!client.recovered());
    let sid = client.id().expect("connected");
    let joined: String = within("join", client.emit_with_ack("join", "r", ACK))
        .await
        .unwrap();
    assert_eq!(joined, "joined");
    let ns = server.io.of("/").unwrap();
    ns.to("r").emit("m", &"one").unwrap();
    assert_eq!(broadcasts.next().await.0, "one");

    proxy.cut();
    both_see_the_cut(&mut server, &mut conn).await;
    // Missed while away.
    ns.to("r").emit("m", &"two").unwrap();
    ns.emit("m", &"three").unwrap();
    ns.to("elsewhere").emit("m", &"not for r").unwrap();
    proxy.resume();

    let ConnectionEvent::Reconnected { sid: back, .. } = until(&mut conn, |e| {
        matches!(e, ConnectionEvent::Reconnected { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(back, sid, "the same socket id");
    assert!(client.recovered());
    let socket = server.sockets.next().await;
    assert!(socket.recovered());
    assert_ne!(socket, first);
    assert_eq!(broadcasts.next().await.0, "two");
    assert_eq!(broadcasts.next().await.0, "three");
    // Back in room r, and nothing twice: the next one is live.
    ns.to("r").emit("m", &"four").unwrap();
    assert_eq!(broadcasts.next().await.0, "four");
    assert_eq!(broadcasts.try_next(), None);
    client.disconnect();
}

#[actix_rt::test]
async fn emit_once_answered_while_the_client_was_away_is_not_run_again() {
    let mut server = recovering_server();
    let proxy = Proxy::start(server.port).await;
    let (tx, mut broadcasts) = events::<String>();
    let (builder, mut conn) = client(proxy.port, false);
    let client = builder
        .once_attempt_timeout(Duration::from_secs(5))
        .on("m", move |_, (text, _offset): (String, String), _| {
            let _ = tx.send(text);
        })
        .connect()
        .await
        .expect("connect");
    server.sockets.next().await;
    // An offset to recover from.
    server.io.of("/").unwrap().emit("m", &"hello").unwrap();
    broadcasts.next().await;

    let buying = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .emit_once_with_ack::<Value>("buy", &json!("sword"), Duration::from_secs(10))
                .await
        })
    };
    assert_eq!(server.runs.next().await, json!("sword"));
    // The connection drops while the handler runs; it answers while the client is away.
    proxy.cut();
    both_see_the_cut(&mut server, &mut conn).await;
    server.gate.notify_one();
    assert_eq!(server.runs.next().await, json!("answered"));
    proxy.resume();

    // Back on its session, the retry gets the kept answer.
    let answer = within("the answer", buying).await.unwrap();
    assert_eq!(answer, Ok(json!({"bought": "sword"})));
    assert!(client.recovered());
    let socket = server.sockets.next().await;
    assert!(socket.recovered());
    assert_eq!(socket.emit_dedupe_stats().replayed, 1);
    assert_eq!(server.runs.try_next(), None, "the handler ran once");
    client.disconnect();
}

#[actix_rt::test]
async fn emit_once_speaks_the_compact_codec_too() {
    let (io, _seen) = server(Duration::from_secs(5));
    let port = serve(&io);
    let (builder, _conn) = client(port, false);
    let client = builder
        .codec(Codec::Compact)
        .connect()
        .await
        .expect("a compact connection");
    let mv = Move {
        player: "c".into(),
        x: 41,
        y: 0,
    };
    let x: i32 = within("the answer", client.emit_once_with_ack("move", &mv, ACK))
        .await
        .expect("answered");
    assert_eq!(x, 42);
    client.disconnect();
}
