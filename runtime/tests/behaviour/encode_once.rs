//! A broadcast to members of mixed codecs encodes the packet at most once per codec (the
//! server's own encode counters tell).

use crate::support::{serve, settled, Msg, WsClient};
use serde::Serialize;
use tickwire::protocol::compact::{self, CompactPacket, Limits};
use tickwire::{Codec, Data, SocketIo};

#[derive(Serialize)]
struct Snapshot {
    tick: u64,
    players: Vec<(u32, f32, f32)>,
}

#[actix_rt::test]
async fn a_broadcast_is_encoded_once_per_codec_whatever_the_member_count() {
    let io = SocketIo::builder().build();
    io.ns("/", |socket| {
        socket.on("join", |socket, Data(room): Data<String>, _| async move {
            socket.join(room);
        });
    });
    let port = serve(&io);

    // Three JSON members and three compact members.
    let mut json = Vec::new();
    for _ in 0..3 {
        let (mut client, _) = WsClient::connect(port).await;
        client.send_text(r#"42["join","r"]"#).await;
        json.push(client);
    }
    let mut compact_clients = Vec::new();
    for _ in 0..3 {
        let url =
            format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket&codec=compact");
        let mut client = WsClient::open_url(&url).await;
        client
            .send_binary(&compact::encode(&CompactPacket::connect("/", None)).unwrap())
            .await;
        client.recv_binary().await;
        let join = CompactPacket::event("/", "join", compact::to_payload(&"r").unwrap(), None);
        client.send_binary(&compact::encode(&join).unwrap()).await;
        compact_clients.push(client);
    }
    let ns = io.of("/").unwrap();
    settled("six members", || ns.room_size("r") == 6).await;

    let (json_before, compact_before) = (
        io.encode_count(Codec::Json),
        io.encode_count(Codec::Compact),
    );
    let snapshot = Snapshot {
        tick: 7,
        players: vec![(1, 1.5, -2.0), (2, 0.0, 3.25)],
    };
    ns.to("r").emit("state", &snapshot).unwrap();
    assert_eq!(
        io.encode_count(Codec::Json) - json_before,
        1,
        "one JSON encode"
    );
    assert_eq!(
        io.encode_count(Codec::Compact) - compact_before,
        1,
        "one compact encode"
    );

    // And everyone got it, each in its codec.
    for client in &mut json {
        let frame = client
            .wait_for(|m| m.text_starts_with(r#"42["state","#))
            .await;
        assert_eq!(
            frame,
            Msg::Text(r#"42["state",{"tick":7,"players":[[1,1.5,-2.0],[2,0.0,3.25]]}]"#.into())
        );
    }
    let mut bytes = None;
    for client in &mut compact_clients {
        let frame = client.recv_binary().await;
        let packet = compact::decode(frame.clone(), &Limits::default()).unwrap();
        let (tick, players): (u64, Vec<(u32, f32, f32)>) =
            compact::from_payload(&packet.payload).unwrap();
        assert_eq!((tick, players.len()), (7, 2));
        // The same bytes for every compact member.
        assert_eq!(bytes.get_or_insert(frame.clone()), &frame);
    }
}
