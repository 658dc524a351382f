//! The socket events of the game, on namespace `/`.
//!
//! | event (client → server) | payload | answer |
//! |---|---|---|
//! | `queue` | [`QueueRequest`] | later: `matched` [`Matched`] or `queue-error` [`QueueError`] |
//! | `join-match` | [`JoinRequest`] | ack [`JoinReply`]; then `state` snapshots every tick |
//! | `input` | `[seq, Input]` | applied by the match; acknowledged in the snapshots' `acks` |
//! | `leave` | none | leaves the queue or the match (ack `true`) |
//! | `matches` | none | ack `Vec<`[`MatchSummary`]`>` (running matches; in a cluster, every node's) |
//! | `spectate` | [`SpectateRequest`] | ack [`JoinReply`]; then `state` snapshots |
//! | `rtt` | `u32` | ack: the same number (the page measures its ping with it) |
//!
//! The match room itself sends `state` (each tick) and `match-ended` (a reason string).
//!
//! The handlers are thin: the [`Lobby`] does the matchmaking and the seats, on one node or
//! across a game cluster, where a seat token or a match id works through any node.

use std::sync::Arc;

use parking_lot::Mutex;
use tickwire::{Data, Namespace, PlayerInfo, SeatToken, Socket, SocketIo, Ticket};
use tokio::sync::oneshot;

use crate::lobby::{Lobby, SeatError, Taken, MODE};
#[cfg(doc)]
use crate::wire::MatchSummary;
use crate::wire::{
    JoinReply, JoinRequest, Joined, Matched, QueueError, QueueRequest, SpectateRequest,
};

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 16;
/// Most matches listed by `matches`.
const MAX_LISTED: usize = 20;

/// What the server remembers about one socket.
#[derive(Debug, Default)]
struct Session {
    /// Fires (or drops) to take the socket out of the matchmaking queue.
    queued: Mutex<Option<oneshot::Sender<()>>>,
    /// The seat the socket holds (its token names the match).
    seat: Mutex<Option<SeatToken>>,
}

/// A display name from what the client sent: trimmed, control characters dropped, at most
/// [`MAX_NAME_CHARS`] characters, `player` when nothing is left.
pub fn clean_name(raw: &str) -> String {
    let name: String = raw
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect::<String>()
        .trim()
        .to_owned();
    if name.is_empty() {
        "player".to_owned()
    } else {
        name
    }
}

/// Declare namespace `/` with the game's events; returns it (the server protects it with the
/// guest tokens).
pub fn register(io: &SocketIo, lobby: Arc<Lobby>) -> Namespace {
    io.ns("/", move |socket| on_connect(&socket, lobby.clone()))
}

fn on_connect(socket: &Socket, lobby: Arc<Lobby>) {
    socket.insert_extension(Session::default());

    let l = lobby.clone();
    socket.on(
        "queue",
        move |socket, Data(req): Data<QueueRequest>, _ack| {
            let lobby = l.clone();
            async move { queue(socket, lobby, req).await }
        },
    );

    let l = lobby.clone();
    socket.on(
        "join-match",
        move |socket, Data(req): Data<JoinRequest>, ack| {
            let lobby = l.clone();
            async move {
                let reply = join(&socket, &lobby, req).await;
                let _ = ack.send(&reply);
            }
        },
    );

    let l = lobby.clone();
    socket.on(
        "spectate",
        move |socket, Data(req): Data<SpectateRequest>, ack| {
            let lobby = l.clone();
            async move {
                let reply = spectate(&socket, &lobby, req).await;
                let _ = ack.send(&reply);
            }
        },
    );

    let l = lobby.clone();
    socket.on("leave", move |socket, _: tickwire::Payload, ack| {
        let lobby = l.clone();
        async move {
            leave(&socket, &lobby).await;
            let _ = ack.send(&true);
        }
    });

    let l = lobby;
    socket.on("matches", move |_socket, _: tickwire::Payload, ack| {
        let lobby = l.clone();
        async move {
            let list = lobby.summaries(MAX_LISTED).await;
            let _ = ack.send(&list);
        }
    });

    socket.on("rtt", |_socket, Data(n): Data<u32>, ack| async move {
        let _ = ack.send(&n);
    });

    socket.on_disconnect(|socket, _reason| {
        if let Some(session) = socket.extension::<Session>() {
            // Dropping the sender takes the socket out of the queue; the match keeps a
            // dropped seat for its reconnect window by itself.
            session.queued.lock().take();
        }
    });
}

async fn queue(socket: Socket, lobby: Arc<Lobby>, req: QueueRequest) {
    let Some(session) = socket.extension::<Session>() else {
        return;
    };
    // Queueing again replaces an earlier ticket and gives up a seat still held.
    leave(&socket, &lobby).await;
    let (tx, cancelled) = oneshot::channel();
    *session.queued.lock() = Some(tx);
    let player = PlayerInfo {
        name: clean_name(&req.name),
        data: serde_json::Value::Null,
    };
    let ticket = Ticket::for_socket(MODE, player, &socket);
    let result = tokio::select! {
        result = lobby.enqueue(ticket) => result,
        // Dropping `enqueue` leaves the queue.
        _ = cancelled => return,
    };
    session.queued.lock().take();
    match result {
        Ok(seat) => {
            if !socket.connected() {
                lobby.leave(&seat.token).await;
                return;
            }
            let matched = Matched {
                token: seat.token.0,
                match_id: seat.match_id,
                bots: seat.bots as u32,
            };
            let _ = socket.emit("matched", &matched);
        }
        Err(error) => {
            let _ = socket.emit(
                "queue-error",
                &QueueError {
                    message: error.to_string(),
                },
            );
        }
    }
}

async fn join(socket: &Socket, lobby: &Lobby, req: JoinRequest) -> JoinReply {
    let taken = lobby.join(SeatToken(req.token), socket).await;
    seated(socket, lobby, taken, false)
}

async fn spectate(socket: &Socket, lobby: &Lobby, req: SpectateRequest) -> JoinReply {
    leave(socket, lobby).await;
    let taken = lobby.spectate(&req.match_id, socket).await;
    seated(socket, lobby, taken, true)
}

/// Remember the seat taken (or say why not) and describe it to the client.
fn seated(
    socket: &Socket,
    lobby: &Lobby,
    taken: Result<Taken, SeatError>,
    spectator: bool,
) -> JoinReply {
    let Some(session) = socket.extension::<Session>() else {
        return JoinReply::refused("not connected");
    };
    match taken {
        Ok(taken) => {
            *session.seat.lock() = Some(taken.token);
            let settings = lobby.settings();
            JoinReply {
                error: None,
                joined: Some(Joined {
                    player: taken.player,
                    match_id: taken.match_id,
                    spectator,
                    tick_rate: settings.tick_rate,
                    arena: settings.arena.clone(),
                    tuning: settings.tuning.clone(),
                }),
            }
        }
        Err(error) => JoinReply::refused(error.to_string()),
    }
}

async fn leave(socket: &Socket, lobby: &Lobby) {
    let Some(session) = socket.extension::<Session>() else {
        return;
    };
    session.queued.lock().take();
    let seat = session.seat.lock().take();
    if let Some(token) = seat {
        lobby.leave(&token).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean_name("  Ada  "), "Ada");
        assert_eq!(clean_name("\u{7}\n"), "player");
        assert_eq!(clean_name(&"x".repeat(40)).chars().count(), MAX_NAME_CHARS);
    }
}
