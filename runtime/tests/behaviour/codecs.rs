//! Socket.IO JSON and the compact codec on the same server, chosen per connection.
//!
//! - a room of two JSON clients (official `socket.io-client`), a compact client in Node
//!   (`socket.io-client` with tickwire's compact parser) and a compact client in Rust: every
//!   broadcast reaches everyone, acks work both ways on both codecs;
//! - an unknown codec is refused with HTTP 400 on both transports;
//! - a compact connection that sends text, or a frame that does not decode, is closed.

use std::time::Duration;

use crate::support::{http_get, run_node_script, serve, within, Msg, WsClient};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tickwire::protocol::compact::{self, CompactKind, CompactPacket, EventName, Limits};
use tickwire::{Data, SocketIo};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Shout {
    from: String,
    n: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Question {
    x: u32,
}

fn server() -> SocketIo {
    let io = SocketIo::builder().build();
    io.ns("/", |socket| {
        socket.on("join", |socket, Data(room): Data<String>, ack| async move {
            socket.join(room.clone());
            ack.send(&"ok").ok();
            let ns = socket.ns().clone();
            if ns.room_size(&room) == 4 {
                ns.to(room.clone()).emit("ready", &4u32).ok();
                for member in ns.to(room).fetch_sockets() {
                    actix_rt::spawn(async move {
                        let answer = member
                            .emit_with_ack::<u32>(
                                "question",
                                &Question { x: 21 },
                                Duration::from_secs(5),
                            )
                            .await;
                        member.emit("verdict", &(answer == Ok(42))).ok();
                    });
                }
            }
        });
        socket.on(
            "shout",
            |socket, Data(shout): Data<Shout>, ack| async move {
                socket.ns().to("mixed").emit("heard", &shout).ok();
                ack.send(&(shout.n + 1)).ok();
            },
        );
    });
    io
}

/// A compact-codec client over a raw websocket: frames built with the protocol crate.
struct CompactClient {
    ws: WsClient,
}

impl CompactClient {
    async fn connect(port: u16) -> CompactClient {
        let url =
            format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket&codec=compact");
        let mut ws = WsClient::open_url(&url).await;
        ws.send_binary(&compact::encode(&CompactPacket::connect("/", None)).unwrap())
            .await;
        let reply = CompactClient::decode(ws.recv_binary().await);
        assert_eq!(reply.kind, CompactKind::Connect);
        assert!(reply.json().unwrap().unwrap()["sid"].is_string());
        CompactClient { ws }
    }

    fn decode(frame: Bytes) -> CompactPacket {
        compact::decode(frame, &Limits::default()).expect("a compact frame")
    }

    async fn emit<T: Serialize>(&mut self, event: &'static str, data: &T, id: Option<u64>) {
        let packet = CompactPacket::event("/", event, compact::to_payload(data).unwrap(), id);
        self.ws
            .send_binary(&compact::encode(&packet).unwrap())
            .await;
    }

    /// The next compact packet (pings answered).
    async fn next(&mut self) -> CompactPacket {
        loop {
            match self.ws.recv().await {
                Msg::Binary(frame) => return CompactClient::decode(frame),
                Msg::Text(t) if t == "2" => self.ws.send_text("3").await,
                other => panic!("unexpected frame on a compact connection: {other:?}"),
            }
        }
    }
}

fn event_of(packet: &CompactPacket) -> Option<&str> {
    match &packet.event {
        Some(EventName::Name(name)) => Some(name),
        _ => None,
    }
}

/// The Rust member of the mixed room: join, wait for ready, shout, hear everyone, answer the
/// question, get the verdict.
async fn rust_compact_member(port: u16) {
    let mut client = CompactClient::connect(port).await;
    client.emit("join", &"mixed", Some(1)).await;
    let mut heard = std::collections::HashSet::new();
    let (mut acked, mut verdict, mut joined) = (false, false, false);
    while !(acked && verdict && heard.len() == 4) {
        let packet = client.next().await;
        match (packet.kind, event_of(&packet), packet.id) {
            (CompactKind::Ack, _, Some(1)) => {
                assert_eq!(
                    compact::from_payload::<String>(&packet.payload).unwrap(),
                    "ok"
                );
                joined = true;
            }
            (CompactKind::Event, Some("ready"), _) => {
                assert!(joined);
                assert_eq!(compact::from_payload::<u32>(&packet.payload).unwrap(), 4);
                let shout = Shout {
                    from: "compact-rust".into(),
                    n: 40,
                };
                client.emit("shout", &shout, Some(2)).await;
            }
            (CompactKind::Ack, _, Some(2)) => {
                assert_eq!(compact::from_payload::<u32>(&packet.payload).unwrap(), 41);
                acked = true;
            }
            (CompactKind::Event, Some("heard"), _) => {
                let shout: Shout = compact::from_payload(&packet.payload).unwrap();
                heard.insert(shout.from);
            }
            (CompactKind::Event, Some("question"), Some(id)) => {
                let q: Question = compact::from_payload(&packet.payload).unwrap();
                let answer = CompactPacket::ack("/", id, compact::to_payload(&(q.x * 2)).unwrap());
                client
                    .ws
                    .send_binary(&compact::encode(&answer).unwrap())
                    .await;
            }
            (CompactKind::Event, Some("verdict"), _) => {
                assert!(compact::from_payload::<bool>(&packet.payload).unwrap());
                verdict = true;
            }
            other => panic!("unexpected packet {other:?}"),
        }
    }
    let heard: std::collections::BTreeSet<String> = heard.into_iter().collect();
    assert_eq!(
        heard.into_iter().collect::<Vec<_>>(),
        ["compact-js", "compact-rust", "json-1", "json-2"]
    );
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_interop_js,
    ignore = "needs node and npm ci in runtime/tests/interop/js (run .ci/setup), \
              or TICKWIRE_SKIP_INTEROP is set"
)]
async fn json_and_compact_clients_share_a_room_with_acks_both_ways() {
    let io = server();
    let port = serve(&io);
    let rust = within("the Rust compact client", rust_compact_member(port));
    let node = run_node_script("mixed.mjs", port, Duration::from_secs(40));
    futures_util::join!(rust, node);
}

#[actix_rt::test]
async fn an_unknown_codec_is_refused_on_both_transports() {
    let io = server();
    let port = serve(&io);
    let reply = http_get(port, "/socket.io/?EIO=4&transport=polling&codec=msgpack").await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("unknown codec"), "{}", reply.body);
    let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket&codec=msgpack");
    assert!(
        WsClient::try_connect(&url).await.is_err(),
        "the upgrade is refused"
    );
    // The default and explicit JSON still work.
    let reply = http_get(port, "/socket.io/?EIO=4&transport=polling&codec=json").await;
    assert_eq!(reply.status, 200);
}

#[actix_rt::test]
async fn a_compact_connection_closes_on_text_or_undecodable_frames() {
    let io = server();
    let port = serve(&io);
    let mut client = CompactClient::connect(port).await;
    client.ws.send_text(r#"42["join","mixed"]"#).await;
    client.ws.expect_closed().await;

    let mut client = CompactClient::connect(port).await;
    client.ws.send_binary(&[0x09, 0x02, 0xff]).await;
    client.ws.expect_closed().await;

    // A fresh compact client is served normally afterwards.
    let mut client = CompactClient::connect(port).await;
    client.emit("join", &"solo", Some(7)).await;
    let ack = client.next().await;
    assert_eq!((ack.kind, ack.id), (CompactKind::Ack, Some(7)));
}

#[actix_rt::test]
async fn the_compact_codec_travels_over_polling_as_base64_binary() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let io = server();
    let port = serve(&io);
    let reply = http_get(port, "/socket.io/?EIO=4&transport=polling&codec=compact").await;
    assert_eq!(reply.status, 200);
    let open: serde_json::Value = serde_json::from_str(&reply.body[1..]).unwrap();
    let sid = open["sid"].as_str().unwrap().to_owned();
    let path = format!("/socket.io/?EIO=4&transport=polling&codec=compact&sid={sid}");
    let connect = compact::encode(&CompactPacket::connect("/", None)).unwrap();
    let join = compact::encode(&CompactPacket::event(
        "/",
        "join",
        compact::to_payload(&"polling").unwrap(),
        Some(3),
    ))
    .unwrap();
    let body = format!("b{}\x1eb{}", b64.encode(&connect), b64.encode(&join));
    let posted =
        crate::support::http_post(port, &path, body.into_bytes(), "text/plain;charset=UTF-8").await;
    assert_eq!((posted.status, posted.body.as_str()), (200, "ok"));
    // The CONNECT reply and the ack come back as `b` + base64 compact frames.
    let mut packets = Vec::new();
    while packets.len() < 2 {
        let got = http_get(port, &path).await;
        assert_eq!(got.status, 200);
        for part in got.body.split('\x1e') {
            let raw = part.strip_prefix('b').expect("a binary (compact) packet");
            let frame = Bytes::from(b64.decode(raw).unwrap());
            packets.push(compact::decode(frame, &Limits::default()).unwrap());
        }
    }
    assert_eq!(packets[0].kind, CompactKind::Connect);
    assert_eq!(
        (packets[1].kind, packets[1].id),
        (CompactKind::Ack, Some(3))
    );
    assert_eq!(
        compact::from_payload::<String>(&packets[1].payload).unwrap(),
        "ok"
    );
}
