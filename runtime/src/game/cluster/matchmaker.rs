//! [`ClusterMatchmaker`]: one queue per mode for the whole cluster, in Redis.
//!
//! A ticket from any node waits in its mode's queue. Every node's matchmaker takes groups
//! from the queues of the modes its own tickets wait in, atomically (a script pops a group
//! and records its taker in one step, so exactly one node takes each group), and sends each
//! group to the least loaded node that is not draining (or one about as loaded that most of
//! its players are connected to), which spawns the match with its factory and seats the
//! group. The ticket's own node then hands its caller the seat, which the socket takes
//! wherever the match is.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::super::config::MatchConfig;
use super::super::handle::MatchRoom;
use super::super::match_trait::{Match, PlayerId, PlayerInfo};
use super::super::matchmaker::{MatchmakerConfig, MatchmakingError, Ticket};
use super::super::member::latest_key;
use super::super::seats::{JoinError, SeatToken};
use super::node::{now_ms, GameCluster, MatchRef, Matchmaking};
use super::queue::QueueError;
use super::wire::{Body, QueuedTicket};
use crate::socketio::Socket;

type Factory<M> = Box<dyn Fn(&str, &[PlayerInfo], usize) -> (MatchConfig, M) + Send + Sync>;
type Reply = oneshot::Sender<Result<ClusterAssignment, MatchmakingError>>;

/// Where a grouped player plays, anywhere in the cluster.
#[derive(Debug, Clone)]
pub struct ClusterAssignment {
    /// The match.
    pub at: MatchRef,
    /// The player's seat; redeem with [`ClusterAssignment::join`] (or, later and through any
    /// node, [`GameCluster::join`]).
    pub token: SeatToken,
    /// How many seats of the group the game fills with bots.
    pub bots: usize,
    cluster: GameCluster,
}

impl ClusterAssignment {
    /// Seat `socket`, wherever the match is.
    pub async fn join(&self, socket: &Socket) -> Result<PlayerId, JoinError> {
        self.cluster.join(&self.token, socket).await
    }
}

/// A matchmaker whose queues span the cluster (feature `redis`): run one on every node, with
/// the same factory.
pub struct ClusterMatchmaker<M: Match> {
    inner: Arc<MmInner<M>>,
}

impl<M: Match> Clone for ClusterMatchmaker<M> {
    fn clone(&self) -> Self {
        ClusterMatchmaker {
            inner: self.inner.clone(),
        }
    }
}

impl<M: Match> std::fmt::Debug for ClusterMatchmaker<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterMatchmaker").finish()
    }
}

struct MmInner<M: Match> {
    me: Weak<MmInner<M>>,
    cluster: GameCluster,
    config: MatchmakerConfig,
    ticket_timeout: Duration,
    factory: Factory<M>,
    waiting: Mutex<HashMap<String, Reply>>,
    /// The modes tickets of this node wait in, with how many: what its sweep takes groups
    /// from. A mode leaves once its last ticket here has (see [`Waiter`]).
    modes: Mutex<HashMap<String, usize>>,
}

impl<M: Match> ClusterMatchmaker<M> {
    /// Start this node's matchmaker of `cluster`. `factory(mode, players, bots)` builds each
    /// match this node hosts. A ticket waits at most `ticket_timeout` (then
    /// [`MatchmakingError::Timeout`]).
    pub fn spawn(
        cluster: &GameCluster,
        config: MatchmakerConfig,
        ticket_timeout: Duration,
        factory: impl Fn(&str, &[PlayerInfo], usize) -> (MatchConfig, M) + Send + Sync + 'static,
    ) -> ClusterMatchmaker<M> {
        let inner = Arc::new_cyclic(|me| MmInner {
            me: me.clone(),
            cluster: cluster.clone(),
            config,
            ticket_timeout,
            factory: Box::new(factory),
            waiting: Mutex::new(HashMap::new()),
            modes: Mutex::new(HashMap::new()),
        });
        cluster.inner.add_matchmaker(inner.clone());
        let every = (inner.config.max_wait / 4)
            .clamp(Duration::from_millis(20), Duration::from_millis(250));
        tokio::spawn(sweep_loop(Arc::downgrade(&inner), every));
        ClusterMatchmaker { inner }
    }

    /// Queue `ticket` in the cluster and wait for its seat. A ticket for a socket leaves the
    /// queue when the socket disconnects; dropping the future leaves it too.
    pub async fn enqueue(&self, ticket: Ticket) -> Result<ClusterAssignment, MatchmakingError> {
        let inner = &self.inner;
        let node = inner.cluster.node_id();
        let id = format!(
            "{node:016x}.{}",
            tickwire_protocol::engineio::handshake::sid_from_entropy(rand::random())
        );
        let queued = QueuedTicket {
            id: id.clone(),
            node,
            player: serde_json::to_string(&ticket.player)
                .map_err(|e| MatchmakingError::Cluster(e.to_string()))?,
            since: now_ms(),
        };
        let (tx, rx) = oneshot::channel();
        inner.waiting.lock().insert(id.clone(), tx);
        // Until this call ends, however it ends.
        let _waiter = Waiter::new(inner, &ticket.mode);
        let mut guard = Cancel {
            inner: Arc::downgrade(inner),
            mode: ticket.mode.clone(),
            id: id.clone(),
            armed: true,
        };
        let ttl = inner.ticket_timeout.as_millis() as u64;
        match inner
            .cluster
            .inner
            .queues
            .enqueue(&ticket.mode, &queued, inner.config.max_queued, ttl)
            .await
        {
            Ok(_) => {}
            Err(QueueError::Full) => return Err(MatchmakingError::QueueFull),
            Err(QueueError::Redis(e)) => return Err(MatchmakingError::Cluster(e)),
        }
        if let Some(socket) = &ticket.socket {
            let cancel = guard.detached();
            if !socket
                .set_disconnect_hook(latest_key(node, ticket_key(&id)), move |_, _| cancel.fire())
            {
                return Err(MatchmakingError::Stopped);
            }
        }
        inner.form_groups(&ticket.mode).await;
        let outcome = tokio::time::timeout(inner.ticket_timeout, rx).await;
        let result = match outcome {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(MatchmakingError::Stopped),
            Err(_) => Err(MatchmakingError::Timeout),
        };
        if let Some(socket) = &ticket.socket {
            socket.clear_disconnect_hook(latest_key(node, ticket_key(&id)));
        }
        // A seated ticket has left the queue already.
        guard.armed = result.is_err();
        result
    }

    /// Tickets waiting in `mode`, cluster-wide.
    pub async fn queued(&self, mode: &str) -> Result<usize, MatchmakingError> {
        self.inner
            .cluster
            .inner
            .queues
            .length(mode)
            .await
            .map_err(|e| match e {
                QueueError::Full => MatchmakingError::QueueFull,
                QueueError::Redis(e) => MatchmakingError::Cluster(e),
            })
    }
}

/// A number for a ticket id (the key of its socket's disconnect hook).
fn ticket_key(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// One ticket of this node waiting in its mode, for as long as its `enqueue` call runs: the
/// sweep takes groups from the modes that have one. Every ticket's own node sweeps its mode
/// while it waits, so a mode where only other nodes' tickets wait is theirs to sweep (and a
/// lost node's tickets leave every queue, see `Inner::node_lost`).
struct Waiter<'a, M: Match> {
    inner: &'a MmInner<M>,
    mode: &'a str,
}

impl<'a, M: Match> Waiter<'a, M> {
    fn new(inner: &'a MmInner<M>, mode: &'a str) -> Waiter<'a, M> {
        *inner.modes.lock().entry(mode.to_owned()).or_default() += 1;
        Waiter { inner, mode }
    }
}

impl<M: Match> Drop for Waiter<'_, M> {
    fn drop(&mut self) {
        let mut modes = self.inner.modes.lock();
        if let Some(waiting) = modes.get_mut(self.mode) {
            *waiting -= 1;
            if *waiting == 0 {
                modes.remove(self.mode);
            }
        }
    }
}

/// Takes a ticket out of the queue when dropped armed: the caller gave up (or timed out),
/// or, through the copy its socket's disconnect hook holds, the socket went.
struct Cancel<M: Match> {
    inner: Weak<MmInner<M>>,
    mode: String,
    id: String,
    armed: bool,
}

impl<M: Match> Cancel<M> {
    /// A disarmed copy for the socket's disconnect hook: dropped unfired (the hook is
    /// cleared once the ticket is seated), it does nothing.
    fn detached(&self) -> Cancel<M> {
        Cancel {
            inner: self.inner.clone(),
            mode: self.mode.clone(),
            id: self.id.clone(),
            armed: false,
        }
    }

    /// The socket went: cancel.
    fn fire(mut self) {
        self.armed = true;
    }
}

impl<M: Match> Drop for Cancel<M> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        if let Some(reply) = inner.waiting.lock().remove(&self.id) {
            let _ = reply.send(Err(MatchmakingError::Stopped));
        }
        let (mode, id) = (std::mem::take(&mut self.mode), std::mem::take(&mut self.id));
        let queues = inner.cluster.inner.queues.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = queues.cancel(&mode, &id).await {
                    tracing::debug!(error = ?e, "ticket not taken out of the queue");
                }
            });
        }
    }
}

impl<M: Match> MmInner<M> {
    /// Take as many groups from `mode`'s queue as it holds, each for its host: the least
    /// loaded node, or one about as loaded that most of the group's players are on.
    async fn form_groups(&self, mode: &str) {
        let cluster = &self.cluster.inner;
        // Take no group while no node may host it.
        while cluster.place(&[]).await.is_some() {
            let group = tickwire_protocol::engineio::handshake::sid_from_entropy(rand::random());
            let taken = cluster
                .queues
                .take_group(
                    mode,
                    self.config.group_size,
                    self.config.min_group,
                    self.config.max_wait.as_millis() as u64,
                    now_ms(),
                    &group,
                    cluster.node,
                )
                .await;
            let tickets = match taken {
                Ok(tickets) if !tickets.is_empty() => tickets,
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = ?e, "game cluster: no group taken");
                    return;
                }
            };
            let players_on: Vec<u64> = tickets.iter().map(|t| t.node).collect();
            let host = cluster.place(&players_on).await.unwrap_or(cluster.node);
            if let Err(e) = cluster.queues.assign(&group, host).await {
                tracing::warn!(error = ?e, "game cluster: group's host not recorded");
            }
            let bots = self.config.group_size.saturating_sub(tickets.len());
            if host == cluster.node {
                self.spawn_here(group, mode.to_owned(), tickets, bots);
            } else {
                let body = Body::Spawn {
                    group,
                    mode: mode.to_owned(),
                    tickets,
                    bots,
                };
                cluster.send(host, body);
            }
        }
    }

    /// Host the match of a group: spawn it, reserve a seat per ticket, and tell each ticket's
    /// node.
    fn spawn_here(&self, group: String, mode: String, tickets: Vec<QueuedTicket>, bots: usize) {
        let Some(me) = self.me.upgrade() else {
            return;
        };
        let players: Vec<PlayerInfo> = tickets
            .iter()
            .map(|t| serde_json::from_str(&t.player).unwrap_or_default())
            .collect();
        let (config, game) = (self.factory)(&mode, &players, bots);
        let cluster = self.cluster.inner.clone();
        let handle = MatchRoom::spawn(&cluster.io, config, game);
        cluster.hosted_one();
        let at = MatchRef {
            node: cluster.node,
            id: handle.id(),
        };
        tokio::spawn(async move {
            for (ticket, player) in tickets.into_iter().zip(players) {
                let token = match handle.reserve(player).await {
                    Ok(token) => token,
                    Err(e) => {
                        tracing::warn!(error = %e, "game cluster: seat not reserved");
                        continue;
                    }
                };
                if ticket.node == cluster.node {
                    if !me.assigned(&ticket.id, at, token.clone(), bots) {
                        handle.leave(&token).await;
                    }
                } else {
                    let body = Body::Assigned {
                        ticket: ticket.id,
                        match_id: at.id,
                        token: token.0,
                        bots,
                    };
                    cluster.send(ticket.node, body);
                }
            }
            if let Err(e) = cluster.queues.placed(&group).await {
                tracing::debug!(error = ?e, "placing record not removed (it expires)");
            }
        });
    }
}

impl<M: Match> Matchmaking for MmInner<M> {
    fn spawn_group(&self, group: String, mode: String, tickets: Vec<QueuedTicket>, bots: usize) {
        self.spawn_here(group, mode, tickets, bots);
    }

    fn assigned(&self, ticket: &str, at: MatchRef, token: SeatToken, bots: usize) -> bool {
        let Some(reply) = self.waiting.lock().remove(ticket) else {
            return false;
        };
        let assignment = ClusterAssignment {
            at,
            token,
            bots,
            cluster: self.cluster.clone(),
        };
        reply.send(Ok(assignment)).is_ok()
    }
}

/// Every so often, take the groups that formed (players wait across nodes, and a partial
/// group starts once its oldest ticket has waited `max_wait`).
async fn sweep_loop<M: Match>(inner: Weak<MmInner<M>>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if inner.cluster.inner.is_stopped() {
            return;
        }
        let modes: Vec<String> = inner.modes.lock().keys().cloned().collect();
        for mode in modes {
            inner.form_groups(&mode).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::match_trait::PlayerId;
    use super::super::super::MatchContext;
    use super::*;
    use crate::test_redis::Redis;
    use crate::SocketIo;

    /// A game that does nothing: these tickets are never grouped.
    struct Idle;

    impl Match for Idle {
        type Input = serde_json::Value;
        type Snapshot = ();

        fn on_input(&mut self, _: &mut MatchContext, _: PlayerId, _: u32, _: serde_json::Value) {}

        fn tick(&mut self, _: &mut MatchContext, _: Duration) {}
    }

    fn ticket(mode: String) -> Ticket {
        Ticket {
            mode,
            player: PlayerInfo::default(),
            socket: None,
        }
    }

    /// Until `cond` holds (up to 10 s), letting the other tasks run meanwhile.
    async fn until(what: &str, cond: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
            tokio::task::yield_now().await;
        }
    }

    #[actix_rt::test]
    #[cfg_attr(
        tickwire_missing_redis,
        ignore = "needs redis-server on PATH (run .ci/setup)"
    )]
    async fn a_mode_leaves_the_sweep_once_no_ticket_of_this_node_waits_in_it() {
        let redis = Redis::start();
        let io = SocketIo::builder().build();
        let cluster = GameCluster::builder(redis.url())
            .attach(&io)
            .await
            .expect("the node joins the cluster");
        // Groups of 3, never partial: single tickets wait until they time out.
        let config = MatchmakerConfig {
            group_size: 3,
            max_wait: Duration::from_secs(600),
            max_queued: 1,
            ..MatchmakerConfig::default()
        };
        let mm = ClusterMatchmaker::spawn(&cluster, config, Duration::from_secs(1), |_, _, _| {
            (MatchConfig::default(), Idle)
        });
        let modes = || mm.inner.modes.lock().clone();

        // Tickets in 40 modes: half time out, half are given up (their futures dropped).
        const MODES: usize = 40;
        let tasks: Vec<_> = (0..MODES)
            .map(|i| {
                let mm = mm.clone();
                tokio::spawn(async move { mm.enqueue(ticket(format!("mode-{i}"))).await })
            })
            .collect();
        until("every mode swept", || modes().len() == MODES).await;
        assert!(modes().values().all(|&n| n == 1), "{:?}", modes());
        // A ticket refused (its queue is full) leaves no mode behind either.
        assert_eq!(
            mm.enqueue(ticket("mode-0".into())).await.unwrap_err(),
            MatchmakingError::QueueFull
        );
        assert_eq!(modes().get("mode-0"), Some(&1), "the waiting ticket stays");
        let timed_out = MODES / 2;
        for task in &tasks[timed_out..] {
            task.abort();
        }
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await);
        }
        for outcome in &outcomes[..timed_out] {
            assert_eq!(
                outcome.as_ref().expect("not aborted").as_ref().unwrap_err(),
                &MatchmakingError::Timeout
            );
        }
        // Given up (or, on a very slow run, timed out first): ended either way.
        assert!(outcomes[timed_out..]
            .iter()
            .all(|o| o.as_ref().map_or(true, |r| r.is_err())));
        assert!(modes().is_empty(), "{:?}", modes());

        // And their tickets leave the queues (a given-up one asynchronously).
        for i in 0..MODES {
            let mode = format!("mode-{i}");
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            // Each check is a Redis round trip: the other tasks run meanwhile.
            while mm.queued(&mode).await.unwrap() > 0 {
                assert!(tokio::time::Instant::now() < deadline, "{mode} emptied");
            }
        }
        cluster.stop();
    }
}
