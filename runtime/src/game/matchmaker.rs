//! A small matchmaker: groups queued players per mode and spawns one match per group.
//!
//! Use it as is, or replace it: it only calls the public [`MatchRoom::spawn`] and
//! [`MatchHandle::reserve`].

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use actix::{Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, WrapFuture};
use thiserror::Error;
use tokio::sync::oneshot;

use super::config::MatchConfig;
use super::handle::{MatchHandle, MatchRoom};
use super::match_trait::{Match, PlayerInfo};
use super::seats::{JoinError, SeatToken};
use crate::socketio::{Socket, SocketIo};

/// How the matchmaker groups players.
#[derive(Debug, Clone)]
pub struct MatchmakerConfig {
    /// Players per match.
    pub group_size: usize,
    /// After `max_wait`, start with at least this many queued players (default: 1).
    pub min_group: usize,
    /// How long the oldest ticket waits for a full group before a partial one starts.
    pub max_wait: Duration,
    /// Most tickets queued per mode; more are refused (default 10,000).
    pub max_queued: usize,
}

impl Default for MatchmakerConfig {
    fn default() -> Self {
        MatchmakerConfig {
            group_size: 4,
            min_group: 1,
            max_wait: Duration::from_secs(5),
            max_queued: 10_000,
        }
    }
}

/// A request to play.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// The game mode (players are grouped within a mode).
    pub mode: String,
    /// Who is playing.
    pub player: PlayerInfo,
    /// The player's socket, when the ticket is for one: the ticket is dropped, and never
    /// grouped, once the socket has disconnected.
    pub socket: Option<Socket>,
}

impl Ticket {
    /// A ticket for `socket`'s player in `mode`.
    pub fn for_socket(mode: impl Into<String>, player: PlayerInfo, socket: &Socket) -> Ticket {
        Ticket {
            mode: mode.into(),
            player,
            socket: Some(socket.clone()),
        }
    }
}

/// Where a grouped player plays.
#[derive(Debug)]
pub struct Assignment<M: Match> {
    /// The match.
    pub handle: MatchHandle<M>,
    /// The player's seat; redeem with [`MatchHandle::join`].
    pub token: SeatToken,
    /// How many seats of the group the game fills with bots.
    pub bots: usize,
}

/// Why a ticket found no match.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MatchmakingError {
    /// The queue of that mode is full.
    #[error("matchmaking queue is full")]
    QueueFull,
    /// The matchmaker stopped.
    #[error("matchmaker stopped")]
    Stopped,
    /// The new match refused the seat.
    #[error("seat refused: {0}")]
    Seat(#[from] JoinError),
    /// No group formed within the ticket's timeout.
    #[error("no match found in time")]
    Timeout,
    /// The cluster's queue could not be reached.
    #[error("matchmaking queue unavailable: {0}")]
    Cluster(String),
}

type Factory<M> = Box<dyn Fn(&str, &[PlayerInfo], usize) -> (MatchConfig, M) + Send>;
type Reply<M> = oneshot::Sender<Result<Assignment<M>, MatchmakingError>>;

struct Waiting<M: Match> {
    player: PlayerInfo,
    socket: Option<Socket>,
    since: Instant,
    reply: Reply<M>,
}

impl<M: Match> Waiting<M> {
    /// Someone still waits for this ticket: its caller, and its socket if it has one.
    fn is_live(&self) -> bool {
        !self.reply.is_closed() && self.socket.as_ref().is_none_or(Socket::connected)
    }
}

/// The matchmaker actor.
pub(crate) struct MatchmakerActor<M: Match> {
    io: SocketIo,
    config: MatchmakerConfig,
    factory: Factory<M>,
    queues: HashMap<String, VecDeque<Waiting<M>>>,
}

/// A handle to a running matchmaker.
pub struct Matchmaker<M: Match> {
    addr: Addr<MatchmakerActor<M>>,
}

impl<M: Match> Clone for Matchmaker<M> {
    fn clone(&self) -> Self {
        Matchmaker {
            addr: self.addr.clone(),
        }
    }
}

impl<M: Match> std::fmt::Debug for Matchmaker<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matchmaker").finish()
    }
}

impl<M: Match> Matchmaker<M> {
    /// Start a matchmaker for `io` on the current arbiter. `factory(mode, players, bots)`
    /// builds each match (spawned on `io`): its config and game value, with `bots` seats for
    /// the game to fill.
    pub fn spawn(
        io: &SocketIo,
        config: MatchmakerConfig,
        factory: impl Fn(&str, &[PlayerInfo], usize) -> (MatchConfig, M) + Send + 'static,
    ) -> Matchmaker<M> {
        let addr = MatchmakerActor {
            io: io.clone(),
            config,
            factory: Box::new(factory),
            queues: HashMap::new(),
        }
        .start();
        Matchmaker { addr }
    }

    /// Queue `ticket` and wait for its match. Dropping the future leaves the queue.
    pub async fn enqueue(&self, ticket: Ticket) -> Result<Assignment<M>, MatchmakingError> {
        let (tx, rx) = oneshot::channel();
        self.addr
            .send(Enqueue { ticket, reply: tx })
            .await
            .map_err(|_| MatchmakingError::Stopped)?;
        rx.await.unwrap_or(Err(MatchmakingError::Stopped))
    }

    /// Tickets waiting, per mode.
    pub async fn queued(&self) -> HashMap<String, usize> {
        self.addr.send(Queued).await.unwrap_or_default()
    }
}

impl<M: Match> MatchmakerActor<M> {
    fn enqueue(&mut self, msg: Enqueue<M>, ctx: &mut Context<Self>) {
        let queue = self.queues.entry(msg.ticket.mode.clone()).or_default();
        queue.retain(Waiting::is_live);
        if queue.len() >= self.config.max_queued {
            let _ = msg.reply.send(Err(MatchmakingError::QueueFull));
            return;
        }
        queue.push_back(Waiting {
            player: msg.ticket.player,
            socket: msg.ticket.socket,
            since: Instant::now(),
            reply: msg.reply,
        });
        self.form_groups(&msg.ticket.mode, ctx);
    }

    fn form_groups(&mut self, mode: &str, ctx: &mut Context<Self>) {
        let size = self.config.group_size.max(1);
        loop {
            let Some(queue) = self.queues.get_mut(mode) else {
                return;
            };
            queue.retain(Waiting::is_live);
            let waited_out = queue
                .front()
                .is_some_and(|w| w.since.elapsed() >= self.config.max_wait);
            let take = if queue.len() >= size {
                size
            } else if waited_out && queue.len() >= self.config.min_group.max(1) {
                queue.len()
            } else {
                return;
            };
            let group: Vec<Waiting<M>> = queue.drain(..take).collect();
            self.start_match(mode, group, size - take, ctx);
        }
    }

    fn start_match(
        &mut self,
        mode: &str,
        group: Vec<Waiting<M>>,
        bots: usize,
        ctx: &mut Context<Self>,
    ) {
        let players: Vec<PlayerInfo> = group.iter().map(|w| w.player.clone()).collect();
        let (config, game) = (self.factory)(mode, &players, bots);
        let handle = MatchRoom::spawn(&self.io, config, game);
        let seat_all = async move {
            for waiting in group {
                let result = handle
                    .reserve(waiting.player)
                    .await
                    .map(|token| Assignment {
                        handle: handle.clone(),
                        token,
                        bots,
                    })
                    .map_err(MatchmakingError::from);
                let _ = waiting.reply.send(result);
            }
        };
        ctx.spawn(seat_all.into_actor(self).map(|(), _, _| ()));
    }

    fn sweep(&mut self, ctx: &mut Context<Self>) {
        let modes: Vec<String> = self.queues.keys().cloned().collect();
        for mode in modes {
            self.form_groups(&mode, ctx);
        }
        self.queues.retain(|_, q| !q.is_empty());
    }
}

impl<M: Match> Actor for MatchmakerActor<M> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        let every =
            (self.config.max_wait / 4).clamp(Duration::from_millis(10), Duration::from_millis(250));
        ctx.run_interval(every, |act, ctx| act.sweep(ctx));
    }
}

/// Queue a ticket. `send().await` from [`Matchmaker::enqueue`].
#[derive(Message)]
#[rtype(result = "()")]
struct Enqueue<M: Match> {
    ticket: Ticket,
    reply: Reply<M>,
}

impl<M: Match> Handler<Enqueue<M>> for MatchmakerActor<M> {
    type Result = ();
    fn handle(&mut self, msg: Enqueue<M>, ctx: &mut Self::Context) {
        self.enqueue(msg, ctx);
    }
}

/// Queue lengths per mode. `send().await` from [`Matchmaker::queued`].
#[derive(Message)]
#[rtype(result = "HashMap<String, usize>")]
struct Queued;

impl<M: Match> Handler<Queued> for MatchmakerActor<M> {
    type Result = actix::MessageResult<Queued>;
    fn handle(&mut self, _: Queued, _: &mut Self::Context) -> Self::Result {
        actix::MessageResult(
            self.queues
                .iter()
                .map(|(k, q)| (k.clone(), q.len()))
                .collect(),
        )
    }
}
