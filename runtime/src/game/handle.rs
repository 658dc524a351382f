//! [`MatchRoom`] spawns matches on a server; [`MatchHandle`] is the address of one.

use std::sync::Arc;

use actix::{Actor, Addr};
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::Value;

use super::config::MatchConfig;
use super::match_actor::{
    DroppedRemote, Join, Leave, Lock, MatchActor, QueryState, Reserve, Signal, Stop,
};
use super::match_trait::{DisposeReason, Match, PlayerId, PlayerInfo};
use super::member::Member;
use super::metrics::{MatchMetrics, TickStats};
use super::registry::{Described, LiveMatch, MatchRegistry};
use super::seats::{JoinError, SeatToken};
use crate::socketio::{Socket, SocketId, SocketIo};

/// Spawns match actors on a server, and lists them.
#[derive(Debug)]
pub struct MatchRoom;

impl MatchRoom {
    /// Start a match of `io` on one of its worker threads (round-robin, so two cores run
    /// two ticks at once) and return its handle. The match belongs to `io`: it is listed
    /// by [`MatchRoom::list`], counted in `io`'s metrics, and ended by
    /// [`SocketIo::shutdown`].
    pub fn spawn<M: Match>(io: &SocketIo, config: MatchConfig, game: M) -> MatchHandle<M> {
        let registry = MatchRegistry::of(io);
        let (id, arbiter, turn) = registry.place(&io.workers());
        let stats = Arc::new(Mutex::new(TickStats::default()));
        let described = Described {
            label: config.label.as_str().into(),
            input_event: config.input_event.as_str().into(),
            period_us: 1_000_000 / u64::from(config.tick_rate.clamp(1, 120)),
        };
        let (actor_stats, actor_registry) = (stats.clone(), registry.clone());
        let addr = MatchActor::start_in_arbiter(&arbiter, move |_| {
            MatchActor::new(id, turn, config, game, actor_stats, &actor_registry)
        });
        let handle = MatchHandle { id, addr, stats };
        registry.insert(
            id,
            described,
            handle.stats.clone(),
            Arc::new(handle.clone()),
        );
        handle
    }

    /// Ids and figures of `io`'s live matches, by id.
    pub fn list(io: &SocketIo) -> Vec<(u64, MatchMetrics)> {
        MatchRegistry::of(io).list()
    }

    /// How many matches of `io` are live.
    pub fn count(io: &SocketIo) -> usize {
        MatchRegistry::of(io).count()
    }
}

/// The address of a running match.
pub struct MatchHandle<M: Match> {
    id: u64,
    addr: Addr<MatchActor<M>>,
    stats: Arc<Mutex<TickStats>>,
}

impl<M: Match> Clone for MatchHandle<M> {
    fn clone(&self) -> Self {
        MatchHandle {
            id: self.id,
            addr: self.addr.clone(),
            stats: self.stats.clone(),
        }
    }
}

impl<M: Match> std::fmt::Debug for MatchHandle<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatchHandle").field("id", &self.id).finish()
    }
}

impl<M: Match> MatchHandle<M> {
    /// The match's id (unique within its server).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the match is still running.
    pub fn is_alive(&self) -> bool {
        self.addr.connected()
    }

    /// Reserve a seat for `player`: the token must be redeemed with [`MatchHandle::join`]
    /// within the reservation timeout.
    pub async fn reserve(&self, player: PlayerInfo) -> Result<SeatToken, JoinError> {
        self.addr
            .send(Reserve(player))
            .await
            .unwrap_or(Err(JoinError::Disposed))
    }

    /// Seat `socket` with `token` (a fresh reservation, or a dropped seat within its
    /// reconnect window). From now on its input events feed the match and it receives the
    /// snapshots.
    pub async fn join(&self, token: &SeatToken, socket: &Socket) -> Result<PlayerId, JoinError> {
        self.addr
            .send(Join {
                token: token.0.clone(),
                member: Member::Local(socket.clone()),
            })
            .await
            .unwrap_or(Err(JoinError::Disposed))
    }

    /// Remove the player holding `token`.
    pub async fn leave(&self, token: &SeatToken) {
        let _ = self.addr.send(Leave(token.0.clone())).await;
    }

    /// Lock (or unlock) the match against new reservations.
    pub async fn lock(&self, locked: bool) {
        let _ = self.addr.send(Lock(locked)).await;
    }

    /// Send an application signal to the match; returns its answer.
    pub async fn signal(&self, signal: Value) -> Option<Value> {
        self.addr.send(Signal(signal)).await.ok()
    }

    /// The game's state summary.
    pub async fn state(&self) -> Option<Value> {
        self.addr.send(QueryState).await.ok()
    }

    /// The match's figures as of its last tick; `None` once it has ended.
    pub async fn metrics(&self) -> Option<MatchMetrics> {
        self.is_alive().then(|| self.stats.lock().snapshot())
    }

    /// Stop the match now (reason [`DisposeReason::Stopped`]).
    pub async fn stop(&self) {
        let _ = self.addr.send(Stop(DisposeReason::Stopped)).await;
    }
}

impl<M: Match> LiveMatch for MatchHandle<M> {
    fn stop(&self, reason: DisposeReason) -> BoxFuture<'static, ()> {
        let addr = self.addr.clone();
        Box::pin(async move {
            let _ = addr.send(Stop(reason)).await;
        })
    }

    fn reserve(&self, player: PlayerInfo) -> BoxFuture<'static, Result<SeatToken, JoinError>> {
        let handle = self.clone();
        Box::pin(async move { handle.reserve(player).await })
    }

    fn join(
        &self,
        token: SeatToken,
        member: Member,
    ) -> BoxFuture<'static, Result<PlayerId, JoinError>> {
        let addr = self.addr.clone();
        Box::pin(async move {
            addr.send(Join {
                token: token.0,
                member,
            })
            .await
            .unwrap_or(Err(JoinError::Disposed))
        })
    }

    fn leave(&self, token: SeatToken) {
        // One per request from a member's node: bounded by its players' seats.
        self.addr.do_send(Leave(token.0));
    }

    fn dropped(&self, token: SeatToken, node: u64, socket: SocketId) {
        // Once per remote seat and drop.
        self.addr.do_send(DroppedRemote {
            token: token.0,
            node,
            socket,
        });
    }

    fn state(&self) -> BoxFuture<'static, Option<Value>> {
        let handle = self.clone();
        Box::pin(async move { handle.state().await })
    }
}
