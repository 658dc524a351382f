//! [`RedisStreamsAdapter`]: scale-out on a Redis stream, for delivery without loss or
//! duplicates across Redis blips, and connection state recovery through any node.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use tokio::task::JoinHandle;

use super::bus::{Bus, ClusterCounters};
use super::message::{Message, Op};
use super::node::ClusterNode;
use super::node_registry::NodeRegistry;
use super::redis_pubsub::{self, start_publisher, unreachable, RedisAdapterError, RedisBus};
use super::stream_log::{LogOptions, StreamLog};
use crate::link::redis::{self as link, numsub};
use crate::socketio::{SendError, SharedRecovery, SocketIo};

/// Scale-out over a Redis stream (feature `redis`): like
/// [`RedisAdapter`](super::RedisAdapter), every broadcast form, room operation and
/// disconnect spans the nodes, and besides:
///
/// - **One order for the cluster.** Broadcasts and room operations are appended to one
///   capped stream; every node, the sender's own included, delivers them in the stream's
///   order, with the entry's id as the recovery offset.
/// - **Redis blips lose nothing.** After a disconnect a node reads on from the last entry
///   it delivered, so nothing still in the stream is lost; an entry appended twice (a reply
///   lost mid-blip) is skipped by its origin's sequence number.
/// - **Outages.** While Redis is unreachable for longer than the outage grace, this
///   node's broadcasts reach its own sockets at once and wait in a bounded outbox, flushed
///   in order once Redis answers (counted as `queued_offline` and `flushed`; past the bound
///   the remote part is refused, counted as `queue_full`).
/// - **Recovery through any node.** With connection state recovery on
///   ([`SocketIoBuilder::connection_state_recovery`](crate::SocketIoBuilder::connection_state_recovery)),
///   sessions are Redis keys with the recovery window as TTL: a client that drops recovers
///   on any node, with every broadcast it missed, once, in order.
///
/// Requests (broadcast acks, `fetch_remote_sockets`, server-side events) are not durable:
/// they travel over pub/sub, as with [`RedisAdapter`](super::RedisAdapter).
///
/// The stream's entries and the sessions are in the format of Node's
/// `@socket.io/redis-streams-adapter` (plus fields of tickwire's own), so Node nodes read
/// tickwire's broadcasts and room operations, and each side recovers the other's clients.
///
/// ```no_run
/// # async fn run() -> Result<(), tickwire::cluster::RedisAdapterError> {
/// use tickwire::{RecoveryConfig, SocketIo};
/// let io = SocketIo::builder()
///     .connection_state_recovery(RecoveryConfig::default())
///     .build();
/// let _cluster = tickwire::cluster::RedisStreamsAdapter::builder("redis://127.0.0.1:6379/")
///     .attach(&io)
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStreamsAdapter {
    inner: Arc<Inner>,
}

struct Inner {
    node: u64,
    stream: String,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for RedisStreamsAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStreamsAdapter")
            .field("node", &self.inner.node)
            .field("stream", &self.inner.stream)
            .finish()
    }
}

/// Options of a [`RedisStreamsAdapter`].
#[derive(Debug, Clone)]
pub struct RedisStreamsAdapterBuilder {
    url: String,
    stream: String,
    maxlen: usize,
    session_prefix: String,
    channel: String,
    outbox: usize,
    outage_grace: Duration,
    queue: usize,
    advertise: Option<String>,
}

impl RedisStreamsAdapter {
    /// Options for an adapter on the Redis at `url`.
    pub fn builder(url: impl Into<String>) -> RedisStreamsAdapterBuilder {
        RedisStreamsAdapterBuilder {
            url: url.into(),
            stream: "socket.io".to_owned(),
            maxlen: 10_000,
            session_prefix: "sio:session:".to_owned(),
            channel: "tickwire-requests".to_owned(),
            outbox: 10_000,
            outage_grace: Duration::from_millis(500),
            queue: 8192,
            advertise: None,
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> u64 {
        self.inner.node
    }

    /// Stop appending and reading. Broadcasts go on reaching nobody through the stream
    /// (this node's own sockets included): shut the server down with it.
    pub fn shutdown(&self) {
        for task in self.inner.tasks.lock().drain(..) {
            task.abort();
        }
    }
}

impl RedisStreamsAdapterBuilder {
    /// The stream's key (default `socket.io`, Node's).
    pub fn stream(mut self, key: impl Into<String>) -> Self {
        self.stream = key.into();
        self
    }

    /// About how many entries the stream keeps (default 10,000, Node's): `XADD MAXLEN ~`.
    /// A client whose offset was trimmed starts a fresh session; a node that fell further
    /// behind counts the loss (`gaps`).
    pub fn maxlen(mut self, entries: usize) -> Self {
        self.maxlen = entries.max(1);
        self
    }

    /// The prefix of session keys (default `sio:session:`, Node's).
    pub fn session_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.session_prefix = prefix.into();
        self
    }

    /// The pub/sub channel of requests (broadcast acks, fetches, server-side events; default
    /// `tickwire-requests`).
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = channel.into();
        self
    }

    /// Most operations waiting for Redis (default 10,000); past it a broadcast's remote
    /// part is refused.
    pub fn outbox(mut self, operations: usize) -> Self {
        self.outbox = operations.max(1);
        self
    }

    /// How long appending may fail before this node delivers its broadcasts to its own
    /// sockets without waiting for Redis (default 500 ms).
    pub fn outage_grace(mut self, grace: Duration) -> Self {
        self.outage_grace = grace;
        self
    }

    /// Long-polling and websocket upgrades through any node (no sticky sessions): this
    /// node's base URL as the other nodes reach it, e.g. `http://10.0.0.5:3000`; see
    /// [`RedisAdapterBuilder::advertise`](super::RedisAdapterBuilder::advertise).
    pub fn advertise(mut self, base_url: impl Into<String>) -> Self {
        self.advertise = Some(base_url.into());
        self
    }

    /// Connect, find the stream's end, and attach to `io`: this node then delivers every
    /// entry appended afterwards.
    pub async fn attach(self, io: &SocketIo) -> Result<RedisStreamsAdapter, RedisAdapterError> {
        let (client, advertised) = redis_pubsub::open(io, &self.url, self.advertise.as_deref())?;
        let node_id: u64 = rand::random();
        let counters = Arc::new(ClusterCounters::default());
        let window = io
            .config()
            .recovery
            .as_ref()
            .map_or(Duration::from_secs(120), |r| r.max_disconnection);
        let options = LogOptions {
            key: self.stream.clone(),
            maxlen: self.maxlen,
            session_prefix: self.session_prefix,
            outbox: self.outbox,
            outage_grace: self.outage_grace,
            window,
        };
        let namespaces = Arc::downgrade(&io.inner.namespaces);
        let (log, mut tasks) = StreamLog::start(
            &client,
            format!("{node_id:016x}"),
            options,
            namespaces.clone(),
            counters.clone(),
        )
        .await
        .map_err(unreachable)?;
        let channels = vec![
            self.channel.clone(),
            redis_pubsub::node_channel(&self.channel, node_id),
        ];
        let messages = link::subscribe(&client, &channels)
            .await
            .map_err(unreachable)?;
        let (queue, conn, publishing) = start_publisher(io, &client, self.queue, &counters).await?;
        let bus = StreamsBus {
            log: log.clone(),
            requests: RedisBus {
                queue,
                channel: self.channel.clone(),
                conn,
            },
        };
        let shared: Arc<dyn SharedRecovery> = log;
        let node = ClusterNode::with_log(node_id, Arc::new(bus), counters, Some(shared));
        if let Some(advertised) = advertised {
            let prefix = format!("{}:node:", self.channel);
            tasks.push(NodeRegistry::start(&client, prefix, node_id, advertised, &node).await?);
        }
        if !io.attach_adapter(node.clone()) {
            return Err(RedisAdapterError::AlreadyAttached);
        }
        tasks.push(publishing);
        tasks.push(tokio::spawn(redis_pubsub::read_loop(
            io, client, channels, messages, node,
        )));
        tracing::info!(node = node_id, stream = %self.stream, "cluster: attached to a Redis stream");
        Ok(RedisStreamsAdapter {
            inner: Arc::new(Inner {
                node: node_id,
                stream: self.stream,
                tasks: Mutex::new(tasks),
            }),
        })
    }
}

/// Durable operations to the stream, requests and replies over pub/sub.
struct StreamsBus {
    log: Arc<StreamLog>,
    requests: RedisBus,
}

impl Bus for StreamsBus {
    fn publish(&self, to: Option<u64>, message: &Message) -> Result<(), SendError> {
        let durable = matches!(
            message.op,
            Op::Emit { .. } | Op::Join(_) | Op::Leave(_) | Op::Disconnect { .. }
        );
        if durable && to.is_none() {
            self.log.append(message)
        } else {
            self.requests.publish(to, message)
        }
    }

    fn node_count(&self, _nsp: &str) -> BoxFuture<'static, Result<usize, String>> {
        numsub(self.requests.conn.clone(), self.requests.channel.clone())
    }
}
