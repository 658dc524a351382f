//! Rooms and broadcasting: join / leave / rooms, every broadcast form (namespace emit,
//! `socket.broadcast()`, `to`, `except`, unions, volatile), and the operator's actions
//! (`fetch_sockets`, `sockets_join`, `sockets_leave`, `disconnect_sockets`).
//!
//! Who got a broadcast is checked exactly: after the broadcast under test, the namespace
//! emits a `fence` to everyone; frames on one connection are ordered, so what a client
//! receives before its fence is everything the broadcast sent it.

use std::collections::{BTreeSet, HashSet};

use crate::support::{events, on_shout, only, serve, Events, WsClient};
use tickwire::{DisconnectReason, Namespace, Socket, SocketIo};

const FENCE: &str = r#"42["fence"]"#;

struct Fixture {
    io: SocketIo,
    /// Test clients, each connected to `/`.
    clients: Vec<WsClient>,
    /// The server-side socket of each client, same index.
    sockets: Vec<Socket>,
    reasons: Events<(String, DisconnectReason)>,
}

/// A server with `/` and `/custom`, and `n` clients connected to `/`. `/` has a `shout`
/// handler that broadcasts its argument to the other sockets and acks `sent`.
async fn fixture(n: usize) -> Fixture {
    let io = SocketIo::builder().build();
    let (socket_tx, mut sockets_rx) = events();
    let (reason_tx, reasons) = events();
    let custom_reasons = reason_tx.clone();
    io.ns("/", move |socket| {
        on_shout(&socket);
        let tx = reason_tx.clone();
        socket.on_disconnect(move |socket, reason| {
            let _ = tx.send((socket.id().to_owned(), reason));
        });
        let _ = socket_tx.send(socket);
    });
    io.ns("/custom", move |socket| {
        let tx = custom_reasons.clone();
        socket.on_disconnect(move |socket, reason| {
            let _ = tx.send((socket.id().to_owned(), reason));
        });
    });
    let port = serve(&io);
    let mut clients = Vec::new();
    let mut sockets = Vec::new();
    for _ in 0..n {
        let (client, sid) = WsClient::connect(port).await;
        let socket: Socket = sockets_rx.next().await;
        assert_eq!(socket.id(), sid);
        clients.push(client);
        sockets.push(socket);
    }
    Fixture {
        io,
        clients,
        sockets,
        reasons,
    }
}

impl Fixture {
    fn ns(&self) -> Namespace {
        self.io.of("/").unwrap()
    }

    /// What each client received since the last call, up to a fence emitted now to all.
    async fn received(&mut self) -> Vec<Vec<String>> {
        self.ns()
            .broadcast()
            .emit_payload("fence", tickwire::Payload::new())
            .unwrap();
        let mut all = Vec::new();
        for client in &mut self.clients {
            let mut frames = Vec::new();
            loop {
                let frame = client.recv_text().await;
                if frame == FENCE {
                    break;
                }
                frames.push(frame);
            }
            all.push(frames);
        }
        all
    }

    fn ids(&self, indexes: &[usize]) -> BTreeSet<String> {
        indexes
            .iter()
            .map(|&i| self.sockets[i].id().to_owned())
            .collect()
    }
}

fn ids_of(sockets: &[Socket]) -> BTreeSet<String> {
    sockets.iter().map(|s| s.id().to_owned()).collect()
}

#[actix_rt::test]
async fn join_and_leave_update_rooms_and_the_room_index() {
    let f = fixture(2).await;
    let (a, b) = (&f.sockets[0], &f.sockets[1]);
    let ns = f.ns();

    assert_eq!(a.rooms(), vec![a.id().to_owned()], "its own room");
    a.join("red");
    a.join("red");
    a.join("blue");
    b.join("red");

    let rooms: BTreeSet<String> = a.rooms().into_iter().collect();
    let expected: BTreeSet<String> = ["red", "blue", a.id()].map(str::to_owned).into();
    assert_eq!(rooms, expected);
    assert_eq!(ns.room_size("red"), 2);
    assert_eq!(ns.room_size("blue"), 1);
    assert_eq!(ns.room_size(a.id()), 1);

    a.leave("red");
    a.leave("blue");
    a.leave("never-joined");

    assert_eq!(a.rooms(), vec![a.id().to_owned()]);
    assert_eq!(ns.room_size("red"), 1);
    assert_eq!(ns.room_size("blue"), 0);
    assert_eq!(ns.room_count(), 3, "red, and each socket's own room");
}

#[actix_rt::test]
async fn namespace_emit_reaches_every_socket_of_the_namespace() {
    let mut f = fixture(3).await;

    f.ns().emit("news", &serde_json::json!({"x": 1})).unwrap();
    assert_eq!(
        f.received().await,
        only(3, &[0, 1, 2], r#"42["news",{"x":1}]"#)
    );

    f.io.emit("top-level", &[1, 2]).unwrap();
    assert_eq!(
        f.received().await,
        only(3, &[0, 1, 2], r#"42["top-level",[1,2]]"#)
    );
}

#[actix_rt::test]
async fn socket_broadcast_reaches_every_socket_but_the_sender() {
    let mut f = fixture(3).await;

    f.sockets[1].broadcast().emit("hi", &"all but 1").unwrap();
    assert_eq!(
        f.received().await,
        only(3, &[0, 2], r#"42["hi","all but 1"]"#)
    );

    // The same from an event handler; its ack comes after the broadcast was queued.
    f.clients[0].send_text(r#"425["shout","hey"]"#).await;
    assert_eq!(f.clients[0].recv_text().await, r#"435["sent"]"#);
    assert_eq!(f.received().await, only(3, &[1, 2], r#"42["shout","hey"]"#));
}

#[actix_rt::test]
async fn socket_to_room_reaches_the_room_but_not_the_sender() {
    let mut f = fixture(4).await;
    for i in 0..3 {
        f.sockets[i].join("red");
    }

    f.sockets[0].to("red").emit("red-news", &1).unwrap();

    assert_eq!(f.received().await, only(4, &[1, 2], r#"42["red-news",1]"#));
}

#[actix_rt::test]
async fn namespace_to_room_reaches_every_member() {
    let mut f = fixture(4).await;
    for i in 0..3 {
        f.sockets[i].join("red");
    }

    f.ns().to("red").emit("red-news", &1).unwrap();
    assert_eq!(
        f.received().await,
        only(4, &[0, 1, 2], r#"42["red-news",1]"#)
    );

    f.io.to("red").emit("via-io", &2).unwrap();
    assert_eq!(f.received().await, only(4, &[0, 1, 2], r#"42["via-io",2]"#));

    f.ns().to("nobody-here").emit("lost", &3).unwrap();
    assert_eq!(f.received().await, only(4, &[], ""));

    // A socket's own room addresses just that socket.
    let id = f.sockets[3].id().to_owned();
    f.ns().to(id).emit("private", &4).unwrap();
    assert_eq!(f.received().await, only(4, &[3], r#"42["private",4]"#));
}

#[actix_rt::test]
async fn a_sockets_own_room_can_be_left_rejoined_excepted_and_shared() {
    let mut f = fixture(3).await;
    let ids: Vec<String> = f.sockets.iter().map(|s| s.id().to_owned()).collect();
    let ns = f.ns();
    assert_eq!(ns.room_count(), 3, "each socket's own room");
    assert_eq!(ns.membership_count(), 3);

    // Another socket may join a room named by a socket's id: both are then its members.
    f.sockets[1].join(ids[0].clone());
    assert_eq!(ns.room_size(&ids[0]), 2);
    assert_eq!(ns.room_count(), 3, "one room of that name, not two");
    assert_eq!(ns.membership_count(), 4);
    ns.to(ids[0].clone()).emit("zero", &1).unwrap();
    assert_eq!(f.received().await, only(3, &[0, 1], r#"42["zero",1]"#));

    // `except` by a socket's id leaves that room's members out.
    ns.except(ids[2].clone()).emit("not-two", &2).unwrap();
    assert_eq!(f.received().await, only(3, &[0, 1], r#"42["not-two",2]"#));

    // A socket that left its own room is no longer reached through it, until it rejoins.
    f.sockets[2].leave(&ids[2]);
    assert!(f.sockets[2].rooms().is_empty());
    assert_eq!(ns.room_size(&ids[2]), 0);
    assert_eq!(ns.room_count(), 2);
    ns.to(ids[2].clone()).emit("lost", &3).unwrap();
    assert_eq!(f.received().await, only(3, &[], ""));
    assert!(f.sockets[2].join(ids[2].clone()));
    assert_eq!(f.sockets[2].rooms(), vec![ids[2].clone()]);
    ns.to(ids[2].clone()).emit("back", &4).unwrap();
    assert_eq!(f.received().await, only(3, &[2], r#"42["back",4]"#));

    // Once disconnected, a socket is in no room, its own included.
    f.sockets[0].disconnect(false);
    assert!(f.sockets[0].rooms().is_empty());
    assert_eq!(ns.room_size(&ids[0]), 1, "socket 1 is still in it");
}

#[actix_rt::test]
async fn except_leaves_out_the_members_of_a_room() {
    let mut f = fixture(4).await;
    f.sockets[0].join("red");
    f.sockets[1].join("red");

    f.ns().except("red").emit("not-red", &1).unwrap();
    assert_eq!(f.received().await, only(4, &[2, 3], r#"42["not-red",1]"#));

    // From a socket: neither the room nor the sender.
    f.sockets[2]
        .except("red")
        .emit("not-red-nor-2", &2)
        .unwrap();
    assert_eq!(
        f.received().await,
        only(4, &[3], r#"42["not-red-nor-2",2]"#)
    );
}

#[actix_rt::test]
async fn to_several_rooms_is_a_union_and_each_member_gets_the_packet_once() {
    let mut f = fixture(4).await;
    f.sockets[0].join("red");
    f.sockets[1].join("blue");
    f.sockets[2].join("red");
    f.sockets[2].join("blue");

    f.ns().to("red").to("blue").emit("union", &1).unwrap();
    assert_eq!(f.received().await, only(4, &[0, 1, 2], r#"42["union",1]"#));

    f.ns()
        .to("red")
        .except("blue")
        .emit("red-not-blue", &2)
        .unwrap();
    assert_eq!(f.received().await, only(4, &[0], r#"42["red-not-blue",2]"#));

    f.sockets[2]
        .to("red")
        .within("blue")
        .emit("from-2", &3)
        .unwrap();
    assert_eq!(f.received().await, only(4, &[0, 1], r#"42["from-2",3]"#));
}

#[actix_rt::test]
async fn volatile_emits_reach_clients_whose_transport_is_idle() {
    let mut f = fixture(3).await;
    f.sockets[0].join("red");
    f.sockets[1].join("red");

    // Every client has read everything: all transports are idle.
    f.ns().to("red").volatile().emit("tick", &1).unwrap();
    assert_eq!(f.received().await, only(3, &[0, 1], r#"42["tick",1]"#));

    f.sockets[2].volatile().emit("tick", &2).unwrap();
    assert_eq!(f.received().await, only(3, &[2], r#"42["tick",2]"#));
}

#[actix_rt::test]
async fn fetch_sockets_returns_exactly_the_targets() {
    let f = fixture(4).await;
    f.sockets[0].join("red");
    f.sockets[1].join("red");
    f.sockets[1].join("blue");
    f.sockets[2].join("blue");
    let ns = f.ns();

    assert_eq!(
        ids_of(&ns.broadcast().fetch_sockets()),
        f.ids(&[0, 1, 2, 3])
    );
    assert_eq!(ids_of(&ns.to("red").fetch_sockets()), f.ids(&[0, 1]));
    assert_eq!(
        ids_of(&ns.to("red").to("blue").fetch_sockets()),
        f.ids(&[0, 1, 2])
    );
    assert_eq!(ids_of(&ns.except("red").fetch_sockets()), f.ids(&[2, 3]));
    assert_eq!(
        ids_of(&ns.to("blue").except("red").fetch_sockets()),
        f.ids(&[2])
    );
    assert_eq!(
        ids_of(&f.sockets[0].broadcast().fetch_sockets()),
        f.ids(&[1, 2, 3])
    );
    assert_eq!(ids_of(&f.sockets[1].to("red").fetch_sockets()), f.ids(&[0]));
    assert!(ns.to("nobody-here").fetch_sockets().is_empty());
    let fetched = ns.to("red").fetch_sockets();
    assert!(
        fetched.iter().all(|s| f.sockets.contains(s)),
        "the same sockets"
    );
}

#[actix_rt::test]
async fn sockets_join_and_sockets_leave_move_every_target() {
    let mut f = fixture(4).await;
    f.sockets[0].join("red");
    f.sockets[1].join("red");
    let ns = f.ns();

    ns.to("red").sockets_join("green");
    assert_eq!(ns.room_size("green"), 2);
    assert!(f.sockets[0].rooms().contains(&"green".to_owned()));
    ns.to("green").emit("green-news", &1).unwrap();
    assert_eq!(
        f.received().await,
        only(4, &[0, 1], r#"42["green-news",1]"#)
    );

    ns.except("red").sockets_join("green");
    assert_eq!(ns.room_size("green"), 4);

    ns.to("red").sockets_leave("green");
    assert_eq!(ns.room_size("green"), 2);
    assert!(!f.sockets[0].rooms().contains(&"green".to_owned()));
    ns.to("green").emit("green-news", &2).unwrap();
    assert_eq!(
        f.received().await,
        only(4, &[2, 3], r#"42["green-news",2]"#)
    );
}

#[actix_rt::test]
async fn disconnect_sockets_removes_the_targets_from_the_namespace() {
    let mut f = fixture(3).await;
    f.sockets[0].join("red");
    f.sockets[1].join("red");
    let ns = f.ns();

    ns.to("red").disconnect_sockets(false);

    for i in [0, 1] {
        assert_eq!(f.clients[i].recv_text().await, "41");
    }
    let reasons: HashSet<_> = [f.reasons.next().await, f.reasons.next().await].into();
    let expected: HashSet<_> = [0, 1]
        .map(|i| {
            (
                f.sockets[i].id().to_owned(),
                DisconnectReason::ServerNamespaceDisconnect,
            )
        })
        .into();
    assert_eq!(reasons, expected);
    assert_eq!(ns.socket_count(), 1);
    assert_eq!(ns.room_size("red"), 0);
    assert!(!f.sockets[0].connected());
    // Their connections stay open: they can join again.
    f.clients[0].sio_connect("/", None).await;
    assert_eq!(ns.socket_count(), 2);
}

#[actix_rt::test]
async fn disconnect_sockets_with_close_closes_the_targets_connections() {
    let mut f = fixture(3).await;
    f.sockets[2].join("red");

    f.ns().to("red").disconnect_sockets(true);

    assert_eq!(f.clients[2].recv_text().await, "41");
    f.clients[2].expect_closed().await;
    assert_eq!(
        f.reasons.next().await,
        (
            f.sockets[2].id().to_owned(),
            DisconnectReason::ServerNamespaceDisconnect
        )
    );
    f.clients.truncate(2);
    f.ns().emit("still-here", &1).unwrap();
    assert_eq!(
        f.received().await,
        only(2, &[0, 1], r#"42["still-here",1]"#)
    );
    crate::support::settled("the closed connection to be forgotten", || {
        f.io.connection_count() == 2
    })
    .await;
}

#[actix_rt::test]
async fn a_disconnected_socket_leaves_all_its_rooms() {
    let mut f = fixture(3).await;
    for socket in &f.sockets {
        socket.join("red");
    }
    let gone = f.sockets[1].id().to_owned();

    let mut client = f.clients.remove(1);
    client.close().await;

    assert_eq!(
        f.reasons.next().await,
        (gone.clone(), DisconnectReason::TransportClose)
    );
    let ns = f.ns();
    assert_eq!(ns.room_size("red"), 2);
    assert_eq!(ns.room_size(&gone), 0);
    assert!(ns.get_socket(&gone).is_none());
    ns.to("red").emit("red-news", &1).unwrap();
    assert_eq!(f.received().await, only(2, &[0, 1], r#"42["red-news",1]"#));
}

#[actix_rt::test]
async fn rooms_belong_to_their_namespace() {
    let mut f = fixture(2).await;
    let custom_sid = f.clients[1].sio_connect("/custom", None).await;
    let custom = f.io.of("/custom").unwrap();
    let custom_socket = custom.get_socket(&custom_sid).unwrap();
    custom_socket.join("red");
    f.sockets[0].join("red");

    f.ns().to("red").emit("main-red", &1).unwrap();
    custom.to("red").emit("custom-red", &2).unwrap();

    assert_eq!(
        f.received().await,
        vec![
            vec![r#"42["main-red",1]"#.to_owned()],
            vec![r#"42/custom,["custom-red",2]"#.to_owned()],
        ]
    );
}

#[actix_rt::test]
async fn a_handler_that_joins_after_its_socket_has_gone_leaves_no_membership() {
    let io = SocketIo::builder().build();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let release = std::sync::Arc::new(parking_lot::Mutex::new(Some(release_rx)));
    let (joined, mut joined_rx) = events::<bool>();
    let (gone, mut gone_rx) = events::<()>();
    io.ns("/", move |socket| {
        let (release, joined) = (release.clone(), joined.clone());
        // Awaits something (here: the test), then joins: its socket may be gone by then.
        socket.on("late-join", move |socket, _: tickwire::Payload, _| {
            let (release, joined) = (release.lock().take(), joined.clone());
            async move {
                if let Some(release) = release {
                    let _ = release.await;
                }
                let _ = joined.send(socket.join("late"));
            }
        });
        let gone = gone.clone();
        socket.on_disconnect(move |_, _| {
            let _ = gone.send(());
        });
    });
    let port = serve(&io);
    let (mut client, _) = WsClient::connect(port).await;
    client.send_text(r#"42["late-join"]"#).await;
    client.close().await;
    gone_rx.next().await;
    release_tx.send(()).expect("the handler waits");
    assert!(!joined_rx.next().await, "join refused after disconnect");
    let ns = io.of("/").unwrap();
    assert_eq!(ns.room_size("late"), 0);
    assert_eq!(ns.membership_count(), 0);
    assert_eq!(io.stats().room_memberships, 0);
}
