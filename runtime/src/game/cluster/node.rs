//! [`GameCluster`]: this node's place in a cluster of game servers on Redis.
//!
//! Each node keeps a heartbeat key (its load, with a TTL) and its part of the match
//! directory, reads its own pub/sub channel, and publishes on the others'. Through it:
//! matches spawned here reach members seated from other nodes (snapshots encoded once per
//! codec here, delivered there in the latest class), this node's sockets sit in matches of
//! other nodes (their inputs forwarded there), a seat token works through any node, and a
//! node whose heartbeat lapses is lost: its matches end for the players elsewhere (reason
//! `node lost`), the groups it was to host go back to the queue.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use redis::aio::ConnectionManager;
use redis::Client;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::super::link::{Delivery, MatchLink};
use super::super::match_trait::{DisposeReason, PlayerId, PlayerInfo};
use super::super::member::{Member, RemoteMember};
use super::super::registry::{LiveMatch, MatchRegistry};
use super::super::seats::{JoinError, SeatToken};
use super::placement::{self, NodeLoad};
use super::queue::{self, Queues};
use super::remote_seats::{RemoteSeat, RemoteSeats};
use super::wire::{Answer, Body, Envelope, MatchOp, QueuedTicket, WireMember};
use crate::link::redis::{read_channel, subscribe, Publisher};
use crate::link::wire::{WireFrame, WirePayload};
use crate::link::{Awaiting, BusCounters};
use crate::socketio::{Codec, Frame, Socket, SocketId, SocketIo};

/// A match anywhere in the cluster: the node that hosts it, and its id there. Written
/// `<node, 16 hex digits>-<id>`; a seat token starts with its match's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MatchRef {
    /// The hosting node.
    pub node: u64,
    /// The match's id on its node.
    pub id: u64,
}

impl std::fmt::Display for MatchRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}-{}", self.node, self.id)
    }
}

impl FromStr for MatchRef {
    type Err = JoinError;

    fn from_str(s: &str) -> Result<MatchRef, JoinError> {
        let (node, id) = s.split_once('-').ok_or(JoinError::InvalidToken)?;
        Ok(MatchRef {
            node: u64::from_str_radix(node, 16).map_err(|_| JoinError::InvalidToken)?,
            id: id.parse().map_err(|_| JoinError::InvalidToken)?,
        })
    }
}

impl MatchRef {
    /// The match a seat token is for (tokens start with their match).
    pub fn of_token(token: &SeatToken) -> Result<MatchRef, JoinError> {
        let (at, _) = token.0.split_once('.').ok_or(JoinError::InvalidToken)?;
        at.parse()
    }
}

/// A match of the cluster's directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchEntry {
    /// Where it is.
    pub at: MatchRef,
    /// Its [`MatchConfig::label`](crate::MatchConfig::label).
    pub label: String,
    /// Players seated (connected or within their window), as of the last heartbeat.
    pub players: usize,
    /// The game's summary ([`Match::state`](crate::Match::state)) as of the last heartbeat;
    /// `null` when it is larger than [`MAX_LISTED_STATE`] bytes of JSON.
    pub state: serde_json::Value,
}

/// The largest game summary a directory entry carries, in bytes of JSON.
pub const MAX_LISTED_STATE: usize = 4096;

/// Why a node could not join a cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GameClusterError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL: {0}")]
    Url(String),
    /// Redis did not answer, or refused.
    #[error("cannot reach Redis: {0}")]
    Connect(String),
    /// The server is in a game cluster already.
    #[error("this server is in a game cluster already")]
    AlreadyAttached,
}

/// Options of a [`GameCluster`].
#[derive(Debug, Clone)]
pub struct GameClusterBuilder {
    url: String,
    prefix: String,
    heartbeat_ttl: Duration,
    request_timeout: Duration,
    queue: usize,
}

impl GameClusterBuilder {
    /// The prefix of every key and channel (default `tickwire-game`): nodes of one game
    /// share it, games sharing a Redis use different ones.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a node's heartbeat key lives (default 3 s). A node is lost once its key has
    /// lapsed; the others learn it within twice this.
    pub fn heartbeat_ttl(mut self, ttl: Duration) -> Self {
        self.heartbeat_ttl = ttl.max(Duration::from_millis(100));
        self
    }

    /// How long a request to another node's match waits for its answer (default 5 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Most messages waiting to be published (default 16,384); beyond it a message is
    /// dropped (counted): a snapshot is replaced by the next tick's anyway.
    pub fn queue(mut self, messages: usize) -> Self {
        self.queue = messages.max(1);
        self
    }

    /// Join the cluster with `io`'s matches: connect, publish this node's heartbeat, read
    /// its channel. Must be called within a tokio runtime (an actix `System` is one).
    pub async fn attach(self, io: &SocketIo) -> Result<GameCluster, GameClusterError> {
        let client =
            Client::open(self.url.as_str()).map_err(|e| GameClusterError::Url(e.to_string()))?;
        let unreachable = |e: redis::RedisError| GameClusterError::Connect(e.to_string());
        let node: u64 = rand::random::<u64>() | 1;
        let counters = Arc::new(BusCounters::default());
        let (publisher, conn, publishing) = Publisher::start(
            &client,
            self.queue,
            counters.clone(),
            Some(Envelope::append),
            Some(io.inner.engine.clone()),
        )
        .await
        .map_err(unreachable)?;
        let channels = vec![node_channel(&self.prefix, node)];
        let messages = subscribe(&client, &channels).await.map_err(unreachable)?;
        let registry = MatchRegistry::of(io);
        let inner = Arc::new_cyclic(|me: &Weak<Inner>| Inner {
            me: me.clone(),
            node,
            prefix: self.prefix.clone(),
            io: io.clone(),
            registry: registry.clone(),
            conn: conn.clone(),
            publisher,
            queues: Queues::new(self.prefix.clone(), conn),
            counters,
            heartbeat_ttl: self.heartbeat_ttl,
            request_timeout: self.request_timeout,
            next_request: AtomicU64::new(1),
            requests: Awaiting::default(),
            remote_seats: RemoteSeats::default(),
            joining: Mutex::new(HashMap::new()),
            matchmakers: RwLock::new(Vec::new()),
            draining: AtomicBool::new(false),
            hosted: AtomicU64::new(0),
            nodes_lost: AtomicU64::new(0),
            tickets_requeued: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            known_nodes: Mutex::new(HashSet::new()),
            tasks: Mutex::new(Vec::new()),
        });
        if !registry.set_link(Arc::new(LinkHandle(Arc::downgrade(&inner)))) {
            return Err(GameClusterError::AlreadyAttached);
        }
        inner.heartbeat().await.map_err(unreachable)?;
        let tasks = vec![
            publishing,
            tokio::spawn(read_channel(
                client,
                channels,
                messages,
                Arc::downgrade(&inner),
                on_message,
                Some(io.inner.engine.clone()),
                Some(inner.counters.clone()),
            )),
            tokio::spawn(heartbeat_loop(Arc::downgrade(&inner))),
        ];
        inner.tasks.lock().extend(tasks);
        tracing::info!(node = %format!("{node:016x}"), prefix = %self.prefix, "game cluster: joined");
        Ok(GameCluster { inner })
    }
}

/// This node's place in a cluster of game servers (feature `redis`).
///
/// ```no_run
/// # async fn run() -> Result<(), tickwire::game::cluster::GameClusterError> {
/// use tickwire::game::cluster::GameCluster;
/// let io = tickwire::SocketIo::builder().build();
/// let cluster = GameCluster::builder("redis://127.0.0.1:6379/").attach(&io).await?;
/// // Matches of `io` may now seat players of every node, and their seat tokens work
/// // through any node: `cluster.join(&token, &socket)`.
/// let open = cluster.directory(Some("ranked")).await;
/// # let _ = open;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct GameCluster {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for GameCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GameCluster")
            .field("node", &format!("{:016x}", self.inner.node))
            .finish()
    }
}

impl GameCluster {
    /// Options for a node of the cluster on the Redis at `url`.
    pub fn builder(url: impl Into<String>) -> GameClusterBuilder {
        GameClusterBuilder {
            url: url.into(),
            prefix: "tickwire-game".to_owned(),
            heartbeat_ttl: Duration::from_secs(3),
            request_timeout: Duration::from_secs(5),
            queue: 16_384,
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> u64 {
        self.inner.node
    }

    /// The server this node serves.
    pub fn io(&self) -> &SocketIo {
        &self.inner.io
    }

    /// Seat `socket` with `token`, wherever its match is: on this node directly, on another
    /// through the cluster (the socket's inputs go there, the match's snapshots come back).
    /// A player who dropped rejoins this way through any node within the reconnect window.
    pub async fn join(&self, token: &SeatToken, socket: &Socket) -> Result<PlayerId, JoinError> {
        self.inner.join(token, socket).await
    }

    /// Reserve a seat for `player` in the match `at`, wherever it is.
    pub async fn reserve(&self, at: MatchRef, player: PlayerInfo) -> Result<SeatToken, JoinError> {
        self.inner.reserve(at, player).await
    }

    /// Give up the seat of `token`, wherever its match is.
    pub async fn leave(&self, token: &SeatToken) {
        self.inner.leave(token).await;
    }

    /// The cluster's matches, from every live node, optionally only those labelled `label`.
    pub async fn directory(&self, label: Option<&str>) -> Vec<MatchEntry> {
        let mut entries = self.inner.directory().await;
        if let Some(label) = label {
            entries.retain(|e| e.label == label);
        }
        entries
    }

    /// The match `at`, if it is listed.
    pub async fn lookup(&self, at: MatchRef) -> Option<MatchEntry> {
        self.inner
            .directory()
            .await
            .into_iter()
            .find(|entry| entry.at == at)
    }

    /// The live nodes and their loads.
    pub async fn nodes(&self) -> Vec<NodeLoad> {
        self.inner.loads().await.unwrap_or_default()
    }

    /// Take this node out of the cluster gracefully: it gets no new match; its matches run to
    /// their end for at most `grace`, then end (reason `server shutting down`); then its
    /// clients are disconnected, so that the balancer sends them to another node.
    pub async fn drain(&self, grace: Duration) {
        self.inner.drain(grace).await;
    }

    /// Leave the cluster at once, as a node that died would: no heartbeat, no messages.
    /// The other nodes find it lost when its key lapses.
    pub fn stop(&self) {
        self.inner.leave_cluster();
    }

    /// Messages by outcome (`published`, `received`, `queue_full`, `publish_failed`,
    /// `malformed`), times the subscription was cut off for falling behind
    /// (`subscription_cut_off`), then `nodes_lost` and `tickets_requeued` (tickets of the
    /// groups a lost node was to host, put back in their queue by this node).
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        let mut counters = self.inner.counters.snapshot();
        counters.push(("nodes_lost", self.inner.nodes_lost.load(Ordering::Relaxed)));
        counters.push((
            "tickets_requeued",
            self.inner.tickets_requeued.load(Ordering::Relaxed),
        ));
        counters
    }
}

/// A cluster matchmaker's side of the cluster: what the reader hands it.
pub(crate) trait Matchmaking: Send + Sync {
    /// Host the match of group `group`.
    fn spawn_group(&self, group: String, mode: String, tickets: Vec<QueuedTicket>, bots: usize);
    /// A ticket queued here was seated; false when it is not this matchmaker's.
    fn assigned(&self, ticket: &str, at: MatchRef, token: SeatToken, bots: usize) -> bool;
}

pub(crate) struct Inner {
    me: Weak<Inner>,
    pub(crate) node: u64,
    prefix: String,
    pub(crate) io: SocketIo,
    registry: Arc<MatchRegistry>,
    conn: ConnectionManager,
    publisher: Publisher,
    pub(crate) queues: Queues,
    counters: Arc<BusCounters>,
    pub(crate) heartbeat_ttl: Duration,
    request_timeout: Duration,
    next_request: AtomicU64,
    requests: Awaiting<oneshot::Sender<Result<Answer, JoinError>>>,
    remote_seats: RemoteSeats,
    /// Joins from other nodes' sockets being seated here: a drop that comes meanwhile waits
    /// for their end (see [`Seating`]).
    joining: Mutex<HashMap<JoinKey, Joining>>,
    matchmakers: RwLock<Vec<Arc<dyn Matchmaking>>>,
    draining: AtomicBool,
    /// Groups this node hosted (of those placed on it; see [`Beat`]).
    hosted: AtomicU64,
    /// Nodes found lost, and tickets of the groups they were to host put back in their
    /// queue.
    nodes_lost: AtomicU64,
    tickets_requeued: AtomicU64,
    /// Out of the cluster (stopped, or drained): its matchmakers take no group.
    stopped: AtomicBool,
    /// Nodes seen alive, to tell when one is lost.
    known_nodes: Mutex<HashSet<u64>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// The registry's way out, without keeping the cluster alive.
struct LinkHandle(Weak<Inner>);

impl MatchLink for LinkHandle {
    fn node_id(&self) -> u64 {
        self.0.upgrade().map_or(0, |inner| inner.node)
    }

    fn deliver(&self, node: u64, delivery: Delivery<'_>) {
        if let Some(inner) = self.0.upgrade() {
            inner.deliver(node, delivery);
        }
    }
}

/// A remote socket's join being seated here: `(its node, match, token, socket)`.
type JoinKey = (u64, u64, String, String);

/// The joins of one [`JoinKey`] under way here, and whether its node said meanwhile that
/// the socket dropped.
#[derive(Default)]
struct Joining {
    under_way: usize,
    dropped: bool,
}

/// One join of another node's socket, from its request until the match has handled it.
///
/// The match handles the join on its own task, later than the messages read after the
/// request, so a `Dropped` for the same seat (its node gave up waiting, or the socket went)
/// could reach the match first, find no seat of that socket, and leave the one the join then
/// makes connected for good. While a join is under way, such a drop is held here and handed
/// to the match once the join has been handled (when this is dropped).
struct Seating {
    node: Arc<Inner>,
    key: JoinKey,
    live: Arc<dyn LiveMatch>,
}

impl Seating {
    fn start(node: Arc<Inner>, key: JoinKey, live: Arc<dyn LiveMatch>) -> Seating {
        node.joining
            .lock()
            .entry(key.clone())
            .or_default()
            .under_way += 1;
        Seating { node, key, live }
    }
}

impl Drop for Seating {
    fn drop(&mut self) {
        let dropped = {
            let mut joining = self.node.joining.lock();
            let Some(entry) = joining.get_mut(&self.key) else {
                return;
            };
            entry.under_way -= 1;
            if entry.under_way > 0 {
                return;
            }
            joining.remove(&self.key).is_some_and(|entry| entry.dropped)
        };
        if dropped {
            let (node, _, token, socket) = self.key.clone();
            self.live.dropped(SeatToken(token), node, socket.into());
        }
    }
}

/// Sends `Dropped` for a seat asked of another node when dropped armed: the join ended
/// without wiring the seat here (no answer in time, the caller stopped waiting, the socket
/// went), while the host may have seated it, or may yet. The host then lets it lapse after
/// its reconnect window as any dropped player's, instead of keeping it connected for good.
struct Unseated<'a> {
    node: &'a Inner,
    at: MatchRef,
    token: &'a str,
    socket: &'a str,
    armed: bool,
}

impl Drop for Unseated<'_> {
    fn drop(&mut self) {
        if self.armed {
            let body = Body::Dropped {
                match_id: self.at.id,
                token: self.token.to_owned(),
                socket: self.socket.to_owned(),
            };
            self.node.send(self.at.node, body);
        }
    }
}

/// How long a heartbeat waits for a match's summary (a busy match is listed without it).
const STATE_WAIT: Duration = Duration::from_millis(100);

/// A node's heartbeat value: its load, and how many of the groups placed on it it hosted.
#[derive(Serialize, Deserialize)]
struct Beat {
    #[serde(flatten)]
    load: NodeLoad,
    hosted: u64,
}

fn node_channel(prefix: &str, node: u64) -> String {
    format!("{prefix}:to:{node:016x}")
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn wire_member((socket, codec): &(SocketId, Codec)) -> WireMember {
    (socket.to_string(), *codec == Codec::Compact)
}

impl Inner {
    pub(crate) fn add_matchmaker(&self, matchmaker: Arc<dyn Matchmaking>) {
        self.matchmakers.write().push(matchmaker);
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// A group placed here is hosted (its match spawned).
    pub(crate) fn hosted_one(&self) {
        self.hosted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// Stop every task of this node's link: no heartbeat, no messages in or out.
    fn leave_cluster(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
    }

    /// Publish `body` to `node`; never waits (a full queue drops it, counted).
    pub(crate) fn send(&self, node: u64, body: Body) {
        match Envelope::encode(self.node, &body) {
            Ok(bytes) => {
                if let Err(e) = self.publisher.push(node_channel(&self.prefix, node), bytes) {
                    tracing::debug!(error = %e, "game cluster: message dropped");
                } else {
                    BusCounters::add(&self.counters.published, 1);
                }
            }
            Err(e) => tracing::warn!(error = %e, "game cluster: message not encoded"),
        }
    }

    fn deliver(&self, node: u64, delivery: Delivery<'_>) {
        let body = match delivery {
            Delivery::Latest {
                key,
                nsp,
                json,
                compact,
                members,
            } => Body::Latest {
                key,
                nsp: nsp.to_owned(),
                json: json.map(WireFrame::from_frames),
                compact: compact.map(WireFrame::from_frames),
                members: members.iter().map(wire_member).collect(),
            },
            Delivery::Reliable {
                nsp,
                member,
                frames,
            } => Body::Reliable {
                nsp: nsp.to_owned(),
                member: member.to_string(),
                frames: WireFrame::from_frames(frames),
            },
            Delivery::Released {
                nsp,
                member,
                match_id,
            } => Body::Released {
                nsp: nsp.to_owned(),
                member: member.to_string(),
                match_id,
            },
        };
        self.send(node, body);
    }

    /// Ask node `node` to run `op` on its match `match_id`, within the request timeout.
    async fn request(&self, node: u64, match_id: u64, op: MatchOp) -> Result<Answer, JoinError> {
        self.ask(node, match_id, op).await?
    }

    /// [`Inner::request`], telling apart the node's answer (`Ok`, its result) from no answer
    /// (`Err`: none within the timeout, or the link closed), when `op` may have run or not.
    async fn ask(
        &self,
        node: u64,
        match_id: u64,
        op: MatchOp,
    ) -> Result<Result<Answer, JoinError>, JoinError> {
        let request = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        // Gone when this request ends, even if its caller stops waiting for it first.
        let _awaited = self.requests.insert(request, tx);
        self.send(
            node,
            Body::Request {
                request,
                match_id,
                op,
            },
        );
        let answer = tokio::time::timeout(self.request_timeout, rx).await;
        match answer {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(_)) => Err(JoinError::Unavailable("the cluster link closed".into())),
            Err(_) => Err(JoinError::Unavailable(format!(
                "node {node:016x} did not answer within {:?}",
                self.request_timeout
            ))),
        }
    }

    async fn reserve(&self, at: MatchRef, player: PlayerInfo) -> Result<SeatToken, JoinError> {
        if at.node == self.node {
            let live = self.registry.find(at.id).ok_or(JoinError::Disposed)?;
            return live.reserve(player).await;
        }
        let player =
            serde_json::to_string(&player).map_err(|e| JoinError::Refused(e.to_string()))?;
        match self
            .request(at.node, at.id, MatchOp::Reserve { player })
            .await?
        {
            Answer::Token(token) => Ok(SeatToken(token)),
            _ => Err(JoinError::Unavailable("unexpected answer".into())),
        }
    }

    async fn join(&self, token: &SeatToken, socket: &Socket) -> Result<PlayerId, JoinError> {
        let at = MatchRef::of_token(token)?;
        if at.node == self.node {
            let live = self.registry.find(at.id).ok_or(JoinError::InvalidToken)?;
            return live
                .join(token.clone(), Member::Local(socket.clone()))
                .await;
        }
        if !socket.connected() {
            return Err(JoinError::Disconnected);
        }
        let op = MatchOp::Join {
            token: token.0.clone(),
            socket: socket.id().to_owned(),
            nsp: socket.ns().name().to_owned(),
            compact: socket.codec() == Codec::Compact,
        };
        // Armed from the request (sent at the first poll, with this) until the seat is wired
        // here: however the join ends before, the host hears that the socket is not there.
        let mut unseated = Unseated {
            node: self,
            at,
            token: &token.0,
            socket: socket.id(),
            armed: true,
        };
        let (player, input_event) = match self.ask(at.node, at.id, op).await? {
            Ok(Answer::Seated {
                player,
                input_event,
            }) => (player, input_event),
            Err(e) => {
                // The host refused: it seated nothing.
                unseated.armed = false;
                return Err(e);
            }
            Ok(_) => return Err(JoinError::Unavailable("unexpected answer".into())),
        };
        let seat = RemoteSeat {
            host: at.node,
            match_id: at.id,
            socket: socket.clone(),
            input_event,
        };
        let (forward_to, dropped_to) = (self.me.clone(), self.me.clone());
        let (input_token, dropped_token) = (token.0.clone(), token.0.clone());
        let sid = socket.socket_id();
        let wired = self.remote_seats.add(
            seat,
            move |payload| {
                if let Some(inner) = forward_to.upgrade() {
                    let body = Body::Input {
                        match_id: at.id,
                        token: input_token.clone(),
                        payload: WirePayload::from_payload(&payload),
                    };
                    inner.send(at.node, body);
                }
            },
            move || {
                if let Some(inner) = dropped_to.upgrade() {
                    inner.remote_seats.forget(&sid, at.node, at.id);
                    let body = Body::Dropped {
                        match_id: at.id,
                        token: dropped_token,
                        socket: sid.to_string(),
                    };
                    inner.send(at.node, body);
                }
            },
        );
        if !wired {
            // It went while being seated: the host keeps the seat for its window (`unseated`
            // tells it).
            return Err(JoinError::Disconnected);
        }
        unseated.armed = false;
        Ok(player)
    }

    async fn leave(&self, token: &SeatToken) {
        let Ok(at) = MatchRef::of_token(token) else {
            return;
        };
        if at.node == self.node {
            if let Some(live) = self.registry.find(at.id) {
                live.leave(token.clone());
            }
            return;
        }
        let _ = self
            .request(
                at.node,
                at.id,
                MatchOp::Leave {
                    token: token.0.clone(),
                },
            )
            .await;
    }

    /// A message from another node: its bodies, in order.
    fn on_message(&self, envelope: Envelope) {
        let from = envelope.from;
        if from == self.node {
            return;
        }
        BusCounters::add(&self.counters.received, envelope.bodies.len());
        for body in envelope.bodies {
            self.on_body(from, body);
        }
    }

    /// One body from node `from`.
    fn on_body(&self, from: u64, body: Body) {
        match body {
            Body::Spawn {
                group,
                mode,
                tickets,
                bots,
            } => match self.matchmakers.read().first() {
                Some(matchmaker) => matchmaker.spawn_group(group, mode, tickets, bots),
                None => tracing::warn!(
                    "game cluster: asked to host a match, but no matchmaker runs here"
                ),
            },
            Body::Assigned {
                ticket,
                match_id,
                token,
                bots,
            } => {
                let at = MatchRef {
                    node: from,
                    id: match_id,
                };
                let token = SeatToken(token);
                let claimed = self
                    .matchmakers
                    .read()
                    .iter()
                    .any(|m| m.assigned(&ticket, at, token.clone(), bots));
                if !claimed {
                    // Nobody waits for it any more: give the seat back.
                    let op = MatchOp::Leave { token: token.0 };
                    let request = self.next_request.fetch_add(1, Ordering::Relaxed);
                    self.send(
                        from,
                        Body::Request {
                            request,
                            match_id,
                            op,
                        },
                    );
                }
            }
            Body::Request {
                request,
                match_id,
                op,
            } => self.answer(from, request, match_id, op),
            Body::Reply { request, result } => {
                if let Some(tx) = self.requests.take(request) {
                    let _ = tx.send(result.map_err(JoinError::from));
                }
            }
            Body::Input {
                match_id,
                token,
                payload,
            } => self
                .registry
                .remote_input(match_id, &token, payload.into_payload()),
            Body::Dropped {
                match_id,
                token,
                socket,
            } => {
                let key = (from, match_id, token, socket);
                if let Some(joining) = self.joining.lock().get_mut(&key) {
                    // After the join under way (see `Seating`).
                    joining.dropped = true;
                    return;
                }
                let (_, _, token, socket) = key;
                if let Some(live) = self.registry.find(match_id) {
                    live.dropped(SeatToken(token), from, socket.into());
                }
            }
            Body::Latest {
                key,
                nsp,
                json,
                compact,
                members,
            } => self.on_latest(key, &nsp, json, compact, members),
            Body::Reliable {
                nsp,
                member,
                frames,
            } => {
                if let Some(socket) = self.socket(&nsp, &member) {
                    let _ = socket.send_reliable(&WireFrame::into_frames(frames));
                }
            }
            Body::Released {
                nsp: _,
                member,
                match_id,
            } => self.remote_seats.release(&member.into(), from, match_id),
        }
    }

    fn socket(&self, nsp: &str, id: &str) -> Option<Socket> {
        self.io.of(nsp)?.get_socket(id)
    }

    /// A remote match's snapshot for sockets of this node: the same bytes for every member
    /// of one codec, in the latest class.
    fn on_latest(
        &self,
        key: u64,
        nsp: &str,
        json: Option<Vec<WireFrame>>,
        compact: Option<Vec<WireFrame>>,
        members: Vec<WireMember>,
    ) {
        let Some(ns) = self.io.of(nsp) else {
            return;
        };
        let json: Option<Vec<Frame>> = json.map(WireFrame::into_frames);
        let compact: Option<Vec<Frame>> = compact.map(WireFrame::into_frames);
        for (id, is_compact) in members {
            let frames = if is_compact { &compact } else { &json };
            let (Some(frames), Some(socket)) = (frames, ns.get_socket(&id)) else {
                continue;
            };
            for frame in frames {
                socket.send_latest(key, frame.clone());
            }
        }
    }

    /// Run another node's request on a match of this node and send the answer back.
    fn answer(&self, from: u64, request: u64, match_id: u64, op: MatchOp) {
        let Some(me) = self.me.upgrade() else {
            return;
        };
        let Some(live) = self.registry.find(match_id) else {
            let result = Err(match op {
                MatchOp::Join { .. } => JoinError::InvalidToken,
                _ => JoinError::Disposed,
            });
            self.send(from, reply(request, result));
            return;
        };
        let input_event = self.registry.input_event(match_id);
        // Registered now, before the next message from `from` (a drop of this seat) is read.
        let seating = match &op {
            MatchOp::Join { token, socket, .. } => Some(Seating::start(
                me.clone(),
                (from, match_id, token.clone(), socket.clone()),
                live.clone(),
            )),
            _ => None,
        };
        tokio::spawn(async move {
            let result = match op {
                MatchOp::Reserve { player } => match serde_json::from_str::<PlayerInfo>(&player) {
                    Ok(player) => live.reserve(player).await.map(|t| Answer::Token(t.0)),
                    Err(e) => Err(JoinError::Refused(e.to_string())),
                },
                MatchOp::Join {
                    token,
                    socket,
                    nsp,
                    compact,
                } => {
                    let member = Member::Remote(RemoteMember {
                        node: from,
                        socket: socket.into(),
                        nsp: nsp.into(),
                        codec: if compact { Codec::Compact } else { Codec::Json },
                    });
                    live.join(SeatToken(token), member)
                        .await
                        .map(|player| Answer::Seated {
                            player,
                            input_event: input_event.unwrap_or_default(),
                        })
                }
                MatchOp::Leave { token } => {
                    live.leave(SeatToken(token));
                    Ok(Answer::Done)
                }
            };
            // The join is handled: a drop held meanwhile goes to the match now, after it.
            drop(seating);
            me.send(from, reply(request, result));
        });
    }

    /// The live nodes' loads (this one's included), with the groups on their way to each.
    pub(crate) async fn loads(&self) -> redis::RedisResult<Vec<NodeLoad>> {
        let mut conn = self.conn.clone();
        let nodes: Vec<String> = redis::cmd("SMEMBERS")
            .arg(format!("{}:nodes", self.prefix))
            .query_async(&mut conn)
            .await?;
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = nodes
            .iter()
            .map(|n| format!("{}:node:{n}", self.prefix))
            .collect();
        let (beats, placed): (Vec<Option<String>>, Vec<Option<u64>>) = redis::pipe()
            .cmd("MGET")
            .arg(&keys)
            .cmd("HMGET")
            .arg(format!("{}:placed", self.prefix))
            .arg(&nodes)
            .query_async(&mut conn)
            .await?;
        Ok(beats
            .into_iter()
            .zip(placed)
            .filter_map(|(beat, placed)| {
                let beat: Beat = serde_json::from_str(&beat?).ok()?;
                let mut load = beat.load;
                load.pending = placed.unwrap_or(0).saturating_sub(beat.hosted) as usize;
                Some(load)
            })
            .collect())
    }

    /// Where a new match goes now, for a group whose players are connected to
    /// `players_on`; `None` when no node may host one.
    pub(crate) async fn place(&self, players_on: &[u64]) -> Option<u64> {
        if self.is_stopped() {
            return None;
        }
        match self.loads().await {
            Ok(loads) => placement::choose(&loads, players_on),
            Err(e) => {
                tracing::warn!(error = %e, "game cluster: loads unreadable; hosting here");
                (!self.is_draining()).then_some(self.node)
            }
        }
    }

    /// This node's load now.
    fn load(&self) -> NodeLoad {
        let listed = self.registry.describe();
        let mut tick_load = 0.0;
        for entry in &listed {
            tick_load += entry.metrics.tick_p50_us as f64 / entry.period_us.max(1) as f64;
        }
        NodeLoad {
            node: self.node,
            matches: listed.len(),
            players: listed.iter().map(|e| e.metrics.players).sum(),
            tick_load,
            draining: self.is_draining(),
            pending: 0,
        }
    }

    /// Publish this node's heartbeat (its load) and its part of the directory, each with the
    /// heartbeat's TTL.
    async fn heartbeat(&self) -> redis::RedisResult<()> {
        let ttl = self.heartbeat_ttl.as_millis() as u64;
        let beat = Beat {
            hosted: self.hosted.load(Ordering::Relaxed),
            load: self.load(),
        };
        let load = serde_json::to_string(&beat).unwrap_or_default();
        let dir_key = format!("{}:dir:{:016x}", self.prefix, self.node);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(format!("{}:node:{:016x}", self.prefix, self.node))
            .arg(load)
            .arg("PX")
            .arg(ttl)
            .ignore()
            .sadd(
                format!("{}:nodes", self.prefix),
                format!("{:016x}", self.node),
            )
            .ignore()
            .del(&dir_key)
            .ignore();
        let listed = self.registry.describe();
        let states = futures_util::future::join_all(listed.iter().map(|entry| {
            let live = self.registry.find(entry.id);
            async move {
                let state = live?.state();
                tokio::time::timeout(STATE_WAIT, state).await.ok().flatten()
            }
        }))
        .await;
        for (entry, state) in listed.iter().zip(states) {
            let state = state
                .filter(|s| s.to_string().len() <= MAX_LISTED_STATE)
                .unwrap_or_default();
            let value = serde_json::json!({
                "label": &*entry.label,
                "players": entry.metrics.players,
                "state": state,
            });
            pipe.hset(&dir_key, entry.id, value.to_string()).ignore();
        }
        if !listed.is_empty() {
            pipe.pexpire(&dir_key, ttl as i64).ignore();
        }
        pipe.query_async::<()>(&mut self.conn.clone()).await
    }

    /// Every live node's matches.
    async fn directory(&self) -> Vec<MatchEntry> {
        let mut conn = self.conn.clone();
        let nodes: Vec<String> = redis::cmd("SMEMBERS")
            .arg(format!("{}:nodes", self.prefix))
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        let mut entries = Vec::new();
        for node in nodes {
            let Ok(node_id) = u64::from_str_radix(&node, 16) else {
                continue;
            };
            let listed: HashMap<u64, String> = redis::cmd("HGETALL")
                .arg(format!("{}:dir:{node}", self.prefix))
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            for (id, value) in listed {
                let mut value: serde_json::Value = serde_json::from_str(&value).unwrap_or_default();
                entries.push(MatchEntry {
                    at: MatchRef { node: node_id, id },
                    label: value["label"].as_str().unwrap_or_default().to_owned(),
                    players: value["players"].as_u64().unwrap_or(0) as usize,
                    state: value["state"].take(),
                });
            }
        }
        entries.sort_by_key(|e| (e.at.node, e.at.id));
        entries
    }

    /// Find the nodes whose heartbeat lapsed and let them go.
    async fn check_nodes(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        let members: Vec<String> = redis::cmd("SMEMBERS")
            .arg(format!("{}:nodes", self.prefix))
            .query_async(&mut conn)
            .await?;
        let mut candidates: HashSet<u64> = members
            .iter()
            .filter_map(|n| u64::from_str_radix(n, 16).ok())
            .collect();
        candidates.extend(self.remote_seats.hosts());
        candidates.extend(self.known_nodes.lock().iter().copied());
        candidates.remove(&self.node);
        let mut lost = Vec::new();
        for node in candidates {
            let alive: bool = redis::cmd("EXISTS")
                .arg(format!("{}:node:{node:016x}", self.prefix))
                .query_async(&mut conn)
                .await?;
            if alive {
                self.known_nodes.lock().insert(node);
            } else {
                lost.push(node);
            }
        }
        for node in lost {
            self.node_lost(node).await;
        }
        Ok(())
    }

    /// Node `node` is gone: the players here seated in its matches hear it, the groups it
    /// was to host go back to the queue, its tickets leave the queue, and it leaves the
    /// node set (its directory part lapses with its key).
    async fn node_lost(&self, node: u64) {
        self.known_nodes.lock().remove(&node);
        self.nodes_lost.fetch_add(1, Ordering::Relaxed);
        let seats = self.remote_seats.take_hosted_by(node);
        if !seats.is_empty() {
            tracing::warn!(node = %format!("{node:016x}"), players = seats.len(), "game cluster: node lost; its matches end here");
        }
        for seat in seats {
            let _ = seat.socket.emit("match-ended", &"node lost");
        }
        let ttl = 10 * self.heartbeat_ttl.as_millis() as u64;
        match self.queues.requeue_hosted_by(node, ttl).await {
            Ok(tickets) => {
                self.tickets_requeued
                    .fetch_add(tickets as u64, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!(error = ?e, "game cluster: groups of a lost node not requeued")
            }
        }
        // Every queue that holds tickets, not only the modes tickets of this node wait in.
        let modes = match self.queued_modes().await {
            Ok(modes) => modes,
            Err(e) => {
                tracing::warn!(error = ?e, "game cluster: tickets of a lost node not dropped");
                Vec::new()
            }
        };
        for mode in modes {
            if let Err(e) = self.queues.drop_tickets_of(&mode, node).await {
                tracing::warn!(error = ?e, "game cluster: tickets of a lost node not dropped");
            }
        }
        let _: redis::RedisResult<()> = redis::cmd("SREM")
            .arg(format!("{}:nodes", self.prefix))
            .arg(format!("{node:016x}"))
            .query_async(&mut self.conn.clone())
            .await;
    }

    /// The modes whose queue holds tickets now, of any node.
    async fn queued_modes(&self) -> redis::RedisResult<Vec<String>> {
        let prefix = format!("{}:queue:", self.prefix);
        let pattern = format!("{}*", redis_glob_escape(&prefix));
        let keys = queue::scan(&mut self.conn.clone(), &pattern).await?;
        Ok(keys
            .into_iter()
            .filter_map(|key| key.strip_prefix(&prefix).map(str::to_owned))
            .collect())
    }

    async fn drain(&self, grace: Duration) {
        self.draining.store(true, Ordering::Relaxed);
        if let Err(e) = self.heartbeat().await {
            tracing::warn!(error = %e, "game cluster: draining flag not published");
        }
        let deadline = tokio::time::Instant::now() + grace;
        let mut check = tokio::time::interval(Duration::from_millis(50));
        while self.registry.count() > 0 && tokio::time::Instant::now() < deadline {
            check.tick().await;
        }
        let left = self.registry.count();
        if left > 0 {
            tracing::warn!(
                matches = left,
                "game cluster: grace over; ending the matches left"
            );
        }
        self.registry.stop_all(DisposeReason::ServerShutdown).await;
        self.io.close();
        self.leave_cluster();
        let _: redis::RedisResult<()> = redis::pipe()
            .del(format!("{}:node:{:016x}", self.prefix, self.node))
            .ignore()
            .srem(
                format!("{}:nodes", self.prefix),
                format!("{:016x}", self.node),
            )
            .ignore()
            .del(format!("{}:dir:{:016x}", self.prefix, self.node))
            .ignore()
            .query_async(&mut self.conn.clone())
            .await;
    }
}

/// `text` matched literally in a Redis glob pattern.
fn redis_glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn reply(request: u64, result: Result<Answer, JoinError>) -> Body {
    Body::Reply {
        request,
        result: result.map_err(Into::into),
    }
}

/// A message on this node's channel.
fn on_message(node: &Inner, payload: &[u8]) {
    match Envelope::decode(payload) {
        Ok(envelope) => node.on_message(envelope),
        Err(e) => {
            BusCounters::add(&node.counters.malformed, 1);
            tracing::warn!(error = %e, "game cluster: message dropped");
        }
    }
}

/// Every third of the TTL: publish the heartbeat, and look for lost nodes.
async fn heartbeat_loop(inner: Weak<Inner>) {
    let Some(period) = inner.upgrade().map(|i| i.heartbeat_ttl / 3) else {
        return;
    };
    let mut every = tokio::time::interval(period);
    loop {
        every.tick().await;
        let Some(node) = inner.upgrade() else {
            return;
        };
        if let Err(e) = node.heartbeat().await {
            tracing::warn!(error = %e, "game cluster: heartbeat not published");
        }
        if let Err(e) = node.check_nodes().await {
            tracing::warn!(error = %e, "game cluster: nodes not checked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_refs_and_tokens_name_their_node_and_match() {
        let at = MatchRef {
            node: 0xabc,
            id: 42,
        };
        assert_eq!(at.to_string(), "0000000000000abc-42");
        assert_eq!("0000000000000abc-42".parse::<MatchRef>(), Ok(at));
        let token = SeatToken("0000000000000abc-42.xyz".into());
        assert_eq!(MatchRef::of_token(&token), Ok(at));
        for forged in [
            "",
            "nope",
            "zz-1.x",
            "0000000000000abc-x.y",
            "0000000000000abc-42",
        ] {
            assert_eq!(
                MatchRef::of_token(&SeatToken(forged.into())),
                Err(JoinError::InvalidToken),
                "{forged:?}"
            );
        }
    }
}
