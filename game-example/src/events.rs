//! The socket events of the game, on namespace `/`.
//!
//! | event (client → server) | payload | answer |
//! |---|---|---|
//! | `queue` | [`QueueRequest`] | later: `matched` [`Matched`] or `queue-error` [`QueueError`] |
//! | `join-match` | [`JoinRequest`] | ack [`JoinReply`]; then `state` snapshots every tick |
//! | `input` | `[seq, Input]` | applied by the match; acknowledged in the snapshots' `acks` |
//! | `leave` | none | leaves the queue or the match (ack `true`) |
//! | `matches` | none | ack `Vec<MatchSummary>` (running matches) |
//! | `spectate` | [`SpectateRequest`] | ack [`JoinReply`]; then `state` snapshots |
//! | `rtt` | `u32` | ack: the same number (the page measures its ping with it) |
//!
//! The match room itself sends `state` (each tick) and `match-ended` (a reason string).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tickwire::{
    Data, MatchHandle, Matchmaker, MatchmakerConfig, PlayerInfo, SeatToken, Socket, SocketIo,
    Ticket,
};
use tokio::sync::oneshot;

use crate::match_glue::{ArenaMatch, MatchSettings};
use crate::wire::{
    JoinReply, JoinRequest, Joined, MatchSummary, Matched, QueueError, QueueRequest,
    SpectateRequest,
};

/// The only game mode.
pub const MODE: &str = "arena";
/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 16;
/// Most matches listed by `matches`.
const MAX_LISTED: usize = 20;

/// Matchmaking and the running matches, shared by every socket.
#[derive(Debug)]
pub struct Lobby {
    matchmaker: Matchmaker<ArenaMatch>,
    settings: MatchSettings,
    /// Live matches by id, and the seat tokens handed out for each.
    matches: Mutex<HashMap<u64, LiveMatch>>,
}

#[derive(Debug)]
struct LiveMatch {
    handle: MatchHandle<ArenaMatch>,
    tokens: Vec<String>,
}

/// What the server remembers about one socket.
#[derive(Debug, Default)]
struct Session {
    /// Fires (or drops) to take the socket out of the matchmaking queue.
    queued: Mutex<Option<oneshot::Sender<()>>>,
    /// The seat the socket holds: match id and token.
    seat: Mutex<Option<(u64, SeatToken)>>,
}

impl Lobby {
    /// Start the matchmaker of `io`'s matches (on the current arbiter). `fill_after`: how long the first queued
    /// player waits before bots fill the group (`None`: never, wait for a full group).
    pub fn start(
        io: &SocketIo,
        settings: MatchSettings,
        fill_after: Option<Duration>,
    ) -> Arc<Lobby> {
        let config = MatchmakerConfig {
            group_size: settings.match_size.max(1),
            min_group: 1,
            max_wait: fill_after.unwrap_or(Duration::MAX),
            max_queued: 10_000,
        };
        let factory_settings = settings.clone();
        let matchmaker = Matchmaker::spawn(io, config, move |_mode, players, bots| {
            let game = ArenaMatch::new(&factory_settings, players.len(), bots, rand::random());
            (factory_settings.match_config(), game)
        });
        Arc::new(Lobby {
            matchmaker,
            settings,
            matches: Mutex::new(HashMap::new()),
        })
    }

    /// The settings matches are made with.
    pub fn settings(&self) -> &MatchSettings {
        &self.settings
    }

    /// Players waiting in the queue.
    pub async fn queued(&self) -> usize {
        self.matchmaker.queued().await.values().sum()
    }

    /// Handles of the live matches.
    pub fn live(&self) -> Vec<MatchHandle<ArenaMatch>> {
        let mut matches = self.matches.lock();
        matches.retain(|_, m| m.handle.is_alive());
        matches.values().map(|m| m.handle.clone()).collect()
    }

    /// Summaries of the live matches, newest first.
    pub async fn summaries(&self, limit: usize) -> Vec<MatchSummary> {
        let mut handles = self.live();
        handles.sort_by_key(|h| std::cmp::Reverse(h.id()));
        let mut out = Vec::new();
        for handle in handles.into_iter().take(limit) {
            let summary = handle
                .state()
                .await
                .and_then(|v| serde_json::from_value::<MatchSummary>(v).ok());
            if let Some(mut summary) = summary {
                summary.id = handle.id();
                out.push(summary);
            }
        }
        out
    }

    fn remember(&self, handle: &MatchHandle<ArenaMatch>, token: &SeatToken) {
        let mut matches = self.matches.lock();
        matches.retain(|_, m| m.handle.is_alive());
        matches
            .entry(handle.id())
            .or_insert_with(|| LiveMatch {
                handle: handle.clone(),
                tokens: Vec::new(),
            })
            .tokens
            .push(token.0.clone());
    }

    fn find_by_token(&self, token: &str) -> Option<MatchHandle<ArenaMatch>> {
        let matches = self.matches.lock();
        matches
            .values()
            .find(|m| m.tokens.iter().any(|t| t == token))
            .map(|m| m.handle.clone())
    }

    fn find(&self, id: u64) -> Option<MatchHandle<ArenaMatch>> {
        self.matches.lock().get(&id).map(|m| m.handle.clone())
    }
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

/// Declare namespace `/` with the game's events.
pub fn register(io: &SocketIo, lobby: Arc<Lobby>) {
    io.ns("/", move |socket| on_connect(&socket, lobby.clone()));
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
    let matchmaker = lobby.matchmaker.clone();
    let result = tokio::select! {
        result = matchmaker.enqueue(ticket) => result,
        // Dropping `enqueue` leaves the queue.
        _ = cancelled => return,
    };
    session.queued.lock().take();
    match result {
        Ok(assignment) => {
            if !socket.connected() {
                assignment.handle.leave(&assignment.token).await;
                return;
            }
            lobby.remember(&assignment.handle, &assignment.token);
            let matched = Matched {
                token: assignment.token.0.clone(),
                match_id: assignment.handle.id(),
                bots: assignment.bots as u32,
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
    let Some(handle) = lobby.find_by_token(&req.token) else {
        return JoinReply::refused("unknown or expired seat token");
    };
    seat(socket, lobby, handle, SeatToken(req.token), false).await
}

async fn spectate(socket: &Socket, lobby: &Lobby, req: SpectateRequest) -> JoinReply {
    let Some(handle) = lobby.find(req.match_id) else {
        return JoinReply::refused("no such match");
    };
    leave(socket, lobby).await;
    let info = PlayerInfo {
        name: "spectator".into(),
        data: serde_json::json!({ "spectator": true }),
    };
    match handle.reserve(info).await {
        Ok(token) => seat(socket, lobby, handle, token, true).await,
        Err(error) => JoinReply::refused(error.to_string()),
    }
}

async fn seat(
    socket: &Socket,
    lobby: &Lobby,
    handle: MatchHandle<ArenaMatch>,
    token: SeatToken,
    spectator: bool,
) -> JoinReply {
    let Some(session) = socket.extension::<Session>() else {
        return JoinReply::refused("not connected");
    };
    match handle.join(&token, socket).await {
        Ok(player) => {
            *session.seat.lock() = Some((handle.id(), token));
            let settings = lobby.settings();
            JoinReply {
                error: None,
                joined: Some(Joined {
                    player,
                    match_id: handle.id(),
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
    if let Some((id, token)) = seat {
        if let Some(handle) = lobby.find(id) {
            handle.leave(&token).await;
        }
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
