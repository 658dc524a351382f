//! The lobby: matchmaking and seats, on one node or across a game cluster.
//!
//! The socket events ([`crate::events`]) call a [`Lobby`]. How it finds matches is its
//! `Matchmaking`, one of two:
//!
//! - **one node** (no `--redis`): tickwire's [`Matchmaker`]. Matches run on this server and
//!   the lobby keeps their handles by id, for seats, spectators and the list;
//! - **a cluster** (`--redis URL`): this server is a node of a [`GameCluster`]. There is one
//!   queue for the whole cluster ([`ClusterMatchmaker`]), and each match runs on the least
//!   loaded node that is not draining. Seat tokens name their match, so players join, rejoin
//!   and spectate through any node. The list of matches is the cluster's directory.
//!
//! Match ids on the wire are strings (see [`crate::wire`]): `"<id>"` on one node, the match's
//! [`MatchRef`] (`"<node, 16 hex digits>-<id>"`) in a cluster.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tickwire::game::cluster::{
    ClusterMatchmaker, GameCluster, GameClusterError, MatchEntry, MatchRef,
};
use tickwire::{
    JoinError, MatchConfig, MatchHandle, Matchmaker, MatchmakerConfig, MatchmakingError, PlayerId,
    PlayerInfo, SeatToken, Socket, SocketIo, Ticket,
};

use crate::match_glue::{ArenaMatch, MatchSettings};
use crate::wire::MatchSummary;

/// The only game mode; also the label of its matches in the cluster's directory.
pub const MODE: &str = "arena";
/// The prefix of the game cluster's Redis keys and channels.
pub const CLUSTER_PREFIX: &str = "tickwire-arena";
/// How long a ticket waits in the cluster's queue before the player gets `queue-error`.
const CLUSTER_TICKET_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// The matchmaker's `max_wait` when bots never fill a group.
const NEVER: Duration = Duration::from_secs(365 * 24 * 3600);

/// Matchmaking and seats, shared by every socket of this server.
#[derive(Debug)]
pub struct Lobby {
    settings: MatchSettings,
    matchmaking: Matchmaking,
}

/// Where the lobby finds matches.
#[derive(Debug)]
enum Matchmaking {
    /// One node: matches run on this server; their handles by id.
    Local {
        matchmaker: Matchmaker<ArenaMatch>,
        matches: Mutex<HashMap<u64, MatchHandle<ArenaMatch>>>,
    },
    /// A node of a game cluster: one queue for every node, seats through any node.
    Cluster {
        cluster: GameCluster,
        matchmaker: ClusterMatchmaker<ArenaMatch>,
    },
}

/// A seat the matchmaker found; redeem it with [`Lobby::join`].
#[derive(Debug, Clone)]
pub struct Seat {
    /// The match (its wire id).
    pub match_id: String,
    /// The seat token.
    pub token: SeatToken,
    /// Seats of the group the match fills with bots.
    pub bots: usize,
}

/// A seat taken by a socket.
#[derive(Debug, Clone)]
pub struct Taken {
    /// The player number in the match.
    pub player: PlayerId,
    /// The match (its wire id).
    pub match_id: String,
    /// The seat's token (for [`Lobby::leave`]).
    pub token: SeatToken,
}

/// Why a seat was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatError {
    /// No running match has that id.
    NoSuchMatch,
    /// The match refused the seat.
    Join(JoinError),
}

impl fmt::Display for SeatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeatError::NoSuchMatch => f.write_str("no such match"),
            SeatError::Join(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SeatError {}

impl From<JoinError> for SeatError {
    fn from(e: JoinError) -> SeatError {
        SeatError::Join(e)
    }
}

/// A match of the cluster's directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    /// Where it runs.
    pub at: MatchRef,
    /// Seats held (players and spectators), as of its host's last heartbeat.
    pub seated: usize,
    /// Its summary (its `id` the wire id), as of its host's last heartbeat; `None` before
    /// the first.
    pub summary: Option<MatchSummary>,
}

impl From<MatchEntry> for Listed {
    fn from(entry: MatchEntry) -> Listed {
        let id = entry.at.to_string();
        let summary = serde_json::from_value::<MatchSummary>(entry.state)
            .ok()
            .map(|summary| MatchSummary { id, ..summary });
        Listed {
            at: entry.at,
            seated: entry.players,
            summary,
        }
    }
}

fn matchmaker_config(settings: &MatchSettings, fill_after: Option<Duration>) -> MatchmakerConfig {
    MatchmakerConfig {
        group_size: settings.match_size.max(1),
        min_group: 1,
        max_wait: fill_after.unwrap_or(NEVER),
        max_queued: 10_000,
    }
}

/// Builds each match of a group: `players` queued humans, `bots` seats for bots.
fn factory(
    settings: &MatchSettings,
) -> impl Fn(&str, &[PlayerInfo], usize) -> (MatchConfig, ArenaMatch) + Send + Sync + 'static {
    let settings = settings.clone();
    move |_mode, players, bots| {
        let game = ArenaMatch::new(&settings, players.len(), bots, rand::random());
        (settings.match_config(), game)
    }
}

fn spectator() -> PlayerInfo {
    PlayerInfo {
        name: "spectator".into(),
        data: serde_json::json!({ "spectator": true }),
    }
}

impl Lobby {
    /// One node: start the matchmaker of `io`'s matches (on the current arbiter).
    /// `fill_after`: how long the first queued player waits before bots fill the group
    /// (`None`: never, wait for a full group).
    pub fn single_node(
        io: &SocketIo,
        settings: MatchSettings,
        fill_after: Option<Duration>,
    ) -> Arc<Lobby> {
        let config = matchmaker_config(&settings, fill_after);
        let matchmaker = Matchmaker::spawn(io, config, factory(&settings));
        Arc::new(Lobby {
            settings,
            matchmaking: Matchmaking::Local {
                matchmaker,
                matches: Mutex::new(HashMap::new()),
            },
        })
    }

    /// A node of the game cluster on the Redis at `redis_url`: join it with `io`'s matches
    /// and start this node's share of the cluster's queue (`fill_after` as for
    /// [`Lobby::single_node`], counted from the first ticket queued on any node).
    pub async fn join_cluster(
        io: &SocketIo,
        redis_url: &str,
        settings: MatchSettings,
        fill_after: Option<Duration>,
    ) -> Result<Arc<Lobby>, GameClusterError> {
        let cluster = GameCluster::builder(redis_url)
            .prefix(CLUSTER_PREFIX)
            .attach(io)
            .await?;
        let config = matchmaker_config(&settings, fill_after);
        let matchmaker =
            ClusterMatchmaker::spawn(&cluster, config, CLUSTER_TICKET_TIMEOUT, factory(&settings));
        Ok(Arc::new(Lobby {
            settings,
            matchmaking: Matchmaking::Cluster {
                cluster,
                matchmaker,
            },
        }))
    }

    /// The settings matches are made with.
    pub fn settings(&self) -> &MatchSettings {
        &self.settings
    }

    /// The game cluster this server is a node of (`None` on one node).
    pub fn cluster(&self) -> Option<&GameCluster> {
        match &self.matchmaking {
            Matchmaking::Local { .. } => None,
            Matchmaking::Cluster { cluster, .. } => Some(cluster),
        }
    }

    /// The wire id of this server's match `id`.
    pub fn match_id(&self, id: u64) -> String {
        match &self.matchmaking {
            Matchmaking::Local { .. } => id.to_string(),
            Matchmaking::Cluster { cluster, .. } => MatchRef {
                node: cluster.node_id(),
                id,
            }
            .to_string(),
        }
    }

    /// Queue `ticket` and wait for its seat. Dropping the future (or the ticket's socket
    /// disconnecting) leaves the queue.
    pub async fn enqueue(&self, ticket: Ticket) -> Result<Seat, MatchmakingError> {
        match &self.matchmaking {
            Matchmaking::Local {
                matchmaker,
                matches,
            } => {
                let assignment = matchmaker.enqueue(ticket).await?;
                let handle = assignment.handle;
                let mut matches = matches.lock();
                matches.retain(|_, m| m.is_alive());
                matches.entry(handle.id()).or_insert_with(|| handle.clone());
                Ok(Seat {
                    match_id: handle.id().to_string(),
                    token: assignment.token,
                    bots: assignment.bots,
                })
            }
            Matchmaking::Cluster { matchmaker, .. } => {
                let assignment = matchmaker.enqueue(ticket).await?;
                Ok(Seat {
                    match_id: assignment.at.to_string(),
                    token: assignment.token,
                    bots: assignment.bots,
                })
            }
        }
    }

    /// Take the seat of `token` with `socket`: the first time, or again after a drop (in a
    /// cluster, through any node).
    pub async fn join(&self, token: SeatToken, socket: &Socket) -> Result<Taken, SeatError> {
        match &self.matchmaking {
            Matchmaking::Local { matches, .. } => {
                let handle = local_match_of(matches, &token).ok_or(JoinError::InvalidToken)?;
                let player = handle.join(&token, socket).await?;
                Ok(Taken {
                    player,
                    match_id: handle.id().to_string(),
                    token,
                })
            }
            Matchmaking::Cluster { cluster, .. } => {
                let at = MatchRef::of_token(&token)?;
                let player = cluster.join(&token, socket).await?;
                Ok(Taken {
                    player,
                    match_id: at.to_string(),
                    token,
                })
            }
        }
    }

    /// Reserve a spectator's seat in the match listed as `match_id` and take it with
    /// `socket` (in a cluster, wherever the match runs).
    pub async fn spectate(&self, match_id: &str, socket: &Socket) -> Result<Taken, SeatError> {
        match &self.matchmaking {
            Matchmaking::Local { matches, .. } => {
                let handle = match_id
                    .parse::<u64>()
                    .ok()
                    .and_then(|id| matches.lock().get(&id).cloned())
                    .ok_or(SeatError::NoSuchMatch)?;
                let token = handle.reserve(spectator()).await?;
                match handle.join(&token, socket).await {
                    Ok(player) => Ok(Taken {
                        player,
                        match_id: handle.id().to_string(),
                        token,
                    }),
                    Err(e) => {
                        handle.leave(&token).await;
                        Err(e.into())
                    }
                }
            }
            Matchmaking::Cluster { cluster, .. } => {
                let at: MatchRef = match_id.parse().map_err(|_| SeatError::NoSuchMatch)?;
                // A node that is not live would only time out.
                if !cluster.nodes().await.iter().any(|n| n.node == at.node) {
                    return Err(SeatError::NoSuchMatch);
                }
                let token = cluster.reserve(at, spectator()).await?;
                match cluster.join(&token, socket).await {
                    Ok(player) => Ok(Taken {
                        player,
                        match_id: at.to_string(),
                        token,
                    }),
                    Err(e) => {
                        cluster.leave(&token).await;
                        Err(e.into())
                    }
                }
            }
        }
    }

    /// Give up the seat of `token` (in a cluster, wherever its match runs).
    pub async fn leave(&self, token: &SeatToken) {
        match &self.matchmaking {
            Matchmaking::Local { matches, .. } => {
                if let Some(handle) = local_match_of(matches, token) {
                    handle.leave(token).await;
                }
            }
            Matchmaking::Cluster { cluster, .. } => cluster.leave(token).await,
        }
    }

    /// Summaries of the running matches, at most `limit`. One node: newest first. A
    /// cluster: every node's, from the directory (by node, newest first).
    pub async fn summaries(&self, limit: usize) -> Vec<MatchSummary> {
        let Matchmaking::Local { matches, .. } = &self.matchmaking else {
            return self
                .directory()
                .await
                .into_iter()
                .filter_map(|listed| listed.summary)
                .take(limit)
                .collect();
        };
        let mut handles: Vec<MatchHandle<ArenaMatch>> = {
            let mut matches = matches.lock();
            matches.retain(|_, m| m.is_alive());
            matches.values().cloned().collect()
        };
        handles.sort_by_key(|h| Reverse(h.id()));
        let mut out = Vec::new();
        for handle in handles.into_iter().take(limit) {
            let summary = handle
                .state()
                .await
                .and_then(|v| serde_json::from_value::<MatchSummary>(v).ok());
            if let Some(summary) = summary {
                out.push(MatchSummary {
                    id: handle.id().to_string(),
                    ..summary
                });
            }
        }
        out
    }

    /// The cluster's arena matches, from its directory, by node and newest first (empty on
    /// one node).
    pub async fn directory(&self) -> Vec<Listed> {
        let Matchmaking::Cluster { cluster, .. } = &self.matchmaking else {
            return Vec::new();
        };
        let mut listed: Vec<Listed> = cluster
            .directory(Some(MODE))
            .await
            .into_iter()
            .map(Listed::from)
            .collect();
        listed.sort_by_key(|m| (m.at.node, Reverse(m.at.id)));
        listed
    }

    /// Players waiting in the queue (in a cluster, the cluster's queue).
    pub async fn queued(&self) -> usize {
        match &self.matchmaking {
            Matchmaking::Local { matchmaker, .. } => matchmaker.queued().await.values().sum(),
            Matchmaking::Cluster { matchmaker, .. } => {
                matchmaker.queued(MODE).await.unwrap_or_else(|e| {
                    tracing::debug!(error = %e, "queue length unknown");
                    0
                })
            }
        }
    }
}

/// The live match of `token` on this node: tokens start with their match (the runtime's
/// [`MatchRef`] format, node 0 on one node); the match itself checks the rest.
fn local_match_of(
    matches: &Mutex<HashMap<u64, MatchHandle<ArenaMatch>>>,
    token: &SeatToken,
) -> Option<MatchHandle<ArenaMatch>> {
    let at = MatchRef::of_token(token).ok()?;
    matches.lock().get(&at.id).filter(|m| m.is_alive()).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_entries_become_listed_matches_with_their_wire_id() {
        let at = MatchRef {
            node: 0x3f2a,
            id: 7,
        };
        let settings = MatchSettings::default();
        let game = ArenaMatch::new(&settings, 0, 2, 1);
        let entry = MatchEntry {
            at,
            label: MODE.into(),
            players: 3,
            state: tickwire::Match::state(&game),
        };
        let listed = Listed::from(entry);
        assert_eq!(listed.seated, 3);
        let summary = listed.summary.expect("the game's summary");
        assert_eq!(summary.id, "0000000000003f2a-7");
        assert_eq!(summary.players.len(), 2);

        // Before the host's first heartbeat with it, there is no summary.
        let bare = MatchEntry {
            at,
            label: MODE.into(),
            players: 0,
            state: serde_json::Value::Null,
        };
        assert_eq!(Listed::from(bare).summary, None);
    }

    #[test]
    fn seat_errors_read_like_the_runtime_s() {
        assert_eq!(SeatError::NoSuchMatch.to_string(), "no such match");
        assert_eq!(
            SeatError::from(JoinError::InvalidToken).to_string(),
            "invalid seat token"
        );
    }
}
