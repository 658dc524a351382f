//! The Redis bus: every node publishes on, and subscribes to, one pub/sub channel.

use std::sync::{Arc, Weak};

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::Client;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::bus::{Bus, ClusterCounters};
use super::message::Message;
use super::node::ClusterNode;
use super::node_dialect::{self, Channels};
use super::node_registry::{check_advertised, NodeRegistry};
use crate::link::redis::{self as link, numsub, resubscribe, NotQueued, Publisher};
use crate::link::subscription::{self, Messages, SUBSCRIPTION_BUFFER};
use crate::socketio::{Namespaces, SendError, SocketIo};

fn not_published(e: NotQueued) -> SendError {
    SendError::Cluster(e.to_string())
}

/// Scale-out over Redis pub/sub: attach one to the [`SocketIo`] of every node, with the same
/// Redis and channel, and broadcasts, `sockets_join`, `sockets_leave` and
/// `disconnect_sockets` reach the sockets of every node.
///
/// ```no_run
/// # async fn run() -> Result<(), tickwire::cluster::RedisAdapterError> {
/// let io = tickwire::SocketIo::builder().build();
/// let _cluster = tickwire::cluster::RedisAdapter::builder("redis://127.0.0.1:6379/")
///     .channel("my-game")
///     .attach(&io)
///     .await?;
/// io.to("lobby").emit("news", &"reaches the lobby on every node").ok();
/// # Ok(())
/// # }
/// ```
///
/// Publishing never blocks a handler: a broadcast goes to a bounded queue that one task per
/// node pipelines to Redis (a full queue fails the broadcast's remote part with
/// [`SendError::Cluster`]; local delivery has already happened). One task reads the
/// subscription and delivers to this node's sockets; when Redis goes away both reconnect by
/// themselves, and what was published meanwhile is lost, as with any pub/sub.
///
/// The tasks run on the runtime `attach` is awaited on, until [`RedisAdapter::shutdown`] or
/// until the server is dropped.
#[derive(Clone)]
pub struct RedisAdapter {
    inner: Arc<AdapterInner>,
}

struct AdapterInner {
    node: u64,
    channel: String,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("node", &self.inner.node)
            .field("channel", &self.inner.channel)
            .finish()
    }
}

/// Options of a [`RedisAdapter`].
#[derive(Debug, Clone)]
pub struct RedisAdapterBuilder {
    url: String,
    channel: String,
    queue: usize,
    /// The key of the Node adapter's dialect, when speaking it.
    node_key: Option<String>,
    /// This node's advertised base URL, for requests through other nodes.
    advertise: Option<String>,
}

/// Why a [`RedisAdapter`] was not attached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisAdapterError {
    /// The URL is not a Redis URL (`redis://host:port/db`, `unix:///path`).
    #[error("invalid Redis URL: {0}")]
    Url(String),
    /// Redis did not answer, or refused the connection or the subscription.
    #[error("cannot reach Redis: {0}")]
    Connect(String),
    /// The server already has a cluster adapter.
    #[error("this server already has a cluster adapter")]
    AlreadyAttached,
    /// The advertised address is not a plain HTTP base URL (`http://host:port`).
    #[error("invalid advertised address {0}")]
    Advertise(String),
}

impl RedisAdapter {
    /// Options for an adapter on the Redis at `url`, e.g. `redis://127.0.0.1:6379/`.
    pub fn builder(url: impl Into<String>) -> RedisAdapterBuilder {
        RedisAdapterBuilder {
            url: url.into(),
            channel: "tickwire".to_owned(),
            queue: 8192,
            node_key: None,
            advertise: None,
        }
    }

    /// This node's id on the bus.
    pub fn node_id(&self) -> u64 {
        self.inner.node
    }

    /// The pub/sub channel the nodes share.
    pub fn channel(&self) -> &str {
        &self.inner.channel
    }

    /// Stop publishing and reading. Broadcasts go on reaching this node's own sockets; their
    /// remote part fails with [`SendError::Cluster`].
    pub fn shutdown(&self) {
        for task in self.inner.tasks.lock().drain(..) {
            task.abort();
        }
    }
}

impl RedisAdapterBuilder {
    /// The pub/sub channel (default `tickwire`). Nodes of one server share it; servers that
    /// share a Redis use different ones.
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = channel.into();
        self
    }

    /// Most broadcasts waiting to be published (default 8,192); beyond it a broadcast's
    /// remote part is refused.
    pub fn queue(mut self, messages: usize) -> Self {
        self.queue = messages.max(1);
        self
    }

    /// Speak the dialect of Node's `@socket.io/redis-adapter` with key `key` (its default is
    /// `socket.io`), so this node joins a cluster of Node `socket.io` servers (and of
    /// tickwire nodes speaking it too). Broadcasts, room operations, disconnects,
    /// server-side events, broadcast acks and fetching sockets work both ways.
    ///
    /// What the dialect cannot carry: compact frames (broadcasts from other nodes reach
    /// this node's JSON sockets only), socket ids in the answers of a broadcast with acks
    /// (they come with an empty id), and answers to a Node server's `serverSideEmitWithAck`.
    pub fn node_compatible(mut self, key: impl Into<String>) -> Self {
        self.node_key = Some(key.into());
        self
    }

    /// Long-polling and websocket upgrades through any node (no sticky sessions): this
    /// node's base URL as the other nodes reach it, e.g. `http://10.0.0.5:3000` (plain HTTP,
    /// no path; the listener that serves this [`SocketIo`]).
    ///
    /// The node registers it in Redis (renewed every 3 s, lapsing 10 s after the node
    /// stops), puts its tag in every Engine.IO session id (`<tag>.<random>`), and forwards a
    /// request for a session of another node to that node: a balancer without affinity
    /// (round robin, L4 or L7) can send each request anywhere. Without it, session ids and
    /// answers are those of a single node (the balancer must then be sticky).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), tickwire::cluster::RedisAdapterError> {
    /// let io = tickwire::SocketIo::builder().build();
    /// // This node serves `io` on 10.0.0.5:3000; the other nodes reach it there.
    /// let _cluster = tickwire::cluster::RedisAdapter::builder("redis://10.0.0.2:6379/")
    ///     .advertise("http://10.0.0.5:3000")
    ///     .attach(&io)
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn advertise(mut self, base_url: impl Into<String>) -> Self {
        self.advertise = Some(base_url.into());
        self
    }

    /// Connect to Redis, subscribe, and attach to `io`. When this returns, this node receives
    /// every broadcast any node publishes afterwards.
    pub async fn attach(self, io: &SocketIo) -> Result<RedisAdapter, RedisAdapterError> {
        let (client, advertised) = open(io, &self.url, self.advertise.as_deref())?;
        let node_id: u64 = rand::random();
        if let Some(key) = self.node_key.clone() {
            return self
                .attach_node_dialect(io, client, key, node_id, advertised)
                .await;
        }
        let channels = vec![self.channel.clone(), node_channel(&self.channel, node_id)];
        let messages = link::subscribe(&client, &channels)
            .await
            .map_err(unreachable)?;
        let counters = Arc::new(ClusterCounters::default());
        let (queue, conn, publishing) = start_publisher(io, &client, self.queue, &counters).await?;
        let bus = RedisBus {
            queue,
            channel: self.channel.clone(),
            conn,
        };
        let node = ClusterNode::new(node_id, Arc::new(bus), counters.clone());
        let mut tasks = Vec::new();
        if let Some(advertised) = advertised {
            let prefix = format!("{}:node:", self.channel);
            tasks.push(NodeRegistry::start(&client, prefix, node_id, advertised, &node).await?);
        }
        if !io.attach_adapter(node.clone()) {
            return Err(RedisAdapterError::AlreadyAttached);
        }
        tasks.extend([
            publishing,
            tokio::spawn(read_loop(io, client, channels, messages, node)),
        ]);
        tracing::info!(node = node_id, channel = %self.channel, "cluster: attached to Redis");
        Ok(RedisAdapter {
            inner: Arc::new(AdapterInner {
                node: node_id,
                channel: self.channel,
                tasks: Mutex::new(tasks),
            }),
        })
    }
}

impl RedisAdapterBuilder {
    async fn attach_node_dialect(
        self,
        io: &SocketIo,
        client: Client,
        key: String,
        node_id: u64,
        advertised: Option<String>,
    ) -> Result<RedisAdapter, RedisAdapterError> {
        let namespaces = &io.inner.namespaces;
        let channels = Arc::new(Channels::new(&key));
        let (subscriber, messages) = node_subscribe(&client, &channels, &namespaces.names())
            .await
            .map_err(unreachable)?;
        let counters = Arc::new(ClusterCounters::default());
        let (queue, conn, publishing) = start_publisher(io, &client, self.queue, &counters).await?;
        let (ns_tx, ns_rx) = mpsc::unbounded_channel();
        let uid = format!("{node_id:016x}");
        let bus = NodeBus {
            queue,
            channels: channels.clone(),
            uid: uid.clone(),
            conn,
            new_namespaces: ns_tx,
        };
        let queue = bus.queue.clone();
        let node = ClusterNode::new(node_id, Arc::new(bus), counters.clone());
        let mut tasks = Vec::new();
        if let Some(advertised) = advertised {
            let prefix = format!("{key}:tickwire-node:");
            tasks.push(NodeRegistry::start(&client, prefix, node_id, advertised, &node).await?);
        }
        if !io.attach_adapter(node.clone()) {
            return Err(RedisAdapterError::AlreadyAttached);
        }
        let publish: Arc<node_dialect::Publish> = Arc::new(move |channel, bytes| {
            if let Err(e) = queue.push(channel, bytes) {
                tracing::warn!(error = %e, "cluster: reply not queued");
            }
        });
        let reader = NodeReader {
            client,
            channels,
            uid,
            namespaces: Arc::downgrade(namespaces),
            node,
            publish,
        };
        tasks.extend([
            publishing,
            tokio::spawn(reader.run(subscriber, messages, ns_rx)),
        ]);
        tracing::info!(
            node = node_id,
            key = %key,
            "cluster: attached to Redis, in the Node adapter's dialect"
        );
        Ok(RedisAdapter {
            inner: Arc::new(AdapterInner {
                node: node_id,
                channel: key,
                tasks: Mutex::new(tasks),
            }),
        })
    }
}

/// What attaching either Redis adapter to `io` starts from: `io` has no adapter yet, the
/// client for `url`, and the checked `advertise` address, if any.
pub(crate) fn open(
    io: &SocketIo,
    url: &str,
    advertise: Option<&str>,
) -> Result<(Client, Option<String>), RedisAdapterError> {
    if io.has_adapter() {
        return Err(RedisAdapterError::AlreadyAttached);
    }
    let client = Client::open(url).map_err(|e| RedisAdapterError::Url(e.to_string()))?;
    let advertised = advertise.map(check_advertised).transpose()?;
    Ok((client, advertised))
}

pub(crate) fn unreachable(e: redis::RedisError) -> RedisAdapterError {
    RedisAdapterError::Connect(e.to_string())
}

/// The publisher of an adapter attached to `io`: its queue of `queue` messages, drained from
/// `io`'s first worker once the server runs.
pub(crate) async fn start_publisher(
    io: &SocketIo,
    client: &Client,
    queue: usize,
    counters: &Arc<ClusterCounters>,
) -> Result<(Publisher, ConnectionManager, JoinHandle<()>), RedisAdapterError> {
    Publisher::start(
        client,
        queue,
        counters.clone(),
        None,
        Some(io.inner.engine.clone()),
    )
    .await
    .map_err(unreachable)
}

/// The bus in the Node adapter's dialect.
struct NodeBus {
    queue: Publisher,
    channels: Arc<Channels>,
    uid: String,
    conn: ConnectionManager,
    new_namespaces: mpsc::UnboundedSender<NamespaceChange>,
}

/// A namespace declared, created or removed after the bus was attached: its request
/// channel is subscribed or unsubscribed. (Unbounded channel: one message per namespace
/// created or removed, which the dynamic-namespace cap bounds.)
enum NamespaceChange {
    Added(String),
    Removed(String),
}

impl Bus for NodeBus {
    fn publish(&self, _to: Option<u64>, message: &Message) -> Result<(), SendError> {
        for (channel, bytes) in node_dialect::translate(&self.channels, &self.uid, message) {
            self.queue.push(channel, bytes).map_err(not_published)?;
        }
        Ok(())
    }

    fn node_count(&self, nsp: &str) -> BoxFuture<'static, Result<usize, String>> {
        numsub(self.conn.clone(), self.channels.request(nsp))
    }

    fn namespace_added(&self, nsp: &str) {
        let _ = self
            .new_namespaces
            .send(NamespaceChange::Added(nsp.to_owned()));
    }

    fn namespace_removed(&self, nsp: &str) {
        let _ = self
            .new_namespaces
            .send(NamespaceChange::Removed(nsp.to_owned()));
    }
}

/// Subscriptions of the Node dialect: broadcasts and responses by pattern, each namespace's
/// request channel by name (so the Node nodes' `PUBSUB NUMSUB` counts this node).
async fn node_subscribe(
    client: &Client,
    channels: &Channels,
    namespaces: &[String],
) -> redis::RedisResult<(MultiplexedConnection, Messages)> {
    let (mut conn, messages) = subscription::open(client, SUBSCRIPTION_BUFFER).await?;
    conn.psubscribe(&[channels.broadcast_pattern(), channels.response_pattern()])
        .await?;
    for nsp in namespaces {
        conn.subscribe(channels.request(nsp)).await?;
    }
    Ok((conn, messages))
}

struct NodeReader {
    client: Client,
    channels: Arc<Channels>,
    uid: String,
    namespaces: Weak<Namespaces>,
    node: Arc<ClusterNode>,
    publish: Arc<node_dialect::Publish>,
}

impl NodeReader {
    /// Apply what the other nodes publish, subscribe to new namespaces' request channels,
    /// and resubscribe (with backoff) when Redis goes away.
    async fn run(
        self,
        mut subscriber: MultiplexedConnection,
        mut messages: Messages,
        mut new_namespaces: mpsc::UnboundedReceiver<NamespaceChange>,
    ) {
        loop {
            loop {
                tokio::select! {
                    message = messages.next() => {
                        let Some(message) = message else { break };
                        let Some(namespaces) = self.namespaces.upgrade() else { return };
                        node_dialect::apply(
                            &namespaces,
                            &self.node,
                            &self.channels,
                            &self.uid,
                            message.get_channel_name(),
                            message.get_payload_bytes(),
                            &self.publish,
                        );
                    }
                    Some(change) = new_namespaces.recv() => {
                        let result = match &change {
                            NamespaceChange::Added(nsp) => {
                                subscriber.subscribe(self.channels.request(nsp)).await
                            }
                            NamespaceChange::Removed(nsp) => {
                                subscriber.unsubscribe(self.channels.request(nsp)).await
                            }
                        };
                        if let Err(e) = result {
                            tracing::warn!(error = %e, "cluster: cannot change a namespace's subscription");
                        }
                    }
                }
            }
            messages.count_end(&self.node.counters);
            let (client, channels) = (&self.client, &self.channels);
            let resubscribed = resubscribe(&self.namespaces, |namespaces| {
                let namespaces = namespaces.names();
                async move { node_subscribe(client, channels, &namespaces).await }
            })
            .await;
            let Some(subscribed) = resubscribed else {
                return;
            };
            (subscriber, messages) = subscribed;
        }
    }
}

/// A node's own channel, where replies to its requests arrive.
pub(crate) fn node_channel(channel: &str, node: u64) -> String {
    format!("{channel}#{node:016x}")
}

pub(crate) struct RedisBus {
    pub(crate) queue: Publisher,
    pub(crate) channel: String,
    /// For queries (the publishing task has its own handle on the same connection).
    pub(crate) conn: ConnectionManager,
}

impl Bus for RedisBus {
    fn publish(&self, to: Option<u64>, message: &Message) -> Result<(), SendError> {
        let channel = match to {
            None => self.channel.clone(),
            Some(node) => node_channel(&self.channel, node),
        };
        self.queue
            .push(channel, message.encode()?)
            .map_err(not_published)
    }

    fn node_count(&self, _nsp: &str) -> BoxFuture<'static, Result<usize, String>> {
        numsub(self.conn.clone(), self.channel.clone())
    }
}

/// Deliver what the other nodes publish on `channels` (this node's own one last), from the
/// server's first worker once it runs; resubscribe (with backoff) when Redis goes away.
pub(crate) fn read_loop(
    io: &SocketIo,
    client: Client,
    channels: Vec<String>,
    messages: Messages,
    node: Arc<ClusterNode>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let counters = node.counters.clone();
    let apply = move |namespaces: &Namespaces, payload: &[u8]| {
        super::apply::apply(namespaces, &node, payload);
    };
    link::read_channel(
        client,
        channels,
        messages,
        Arc::downgrade(&io.inner.namespaces),
        apply,
        Some(io.inner.engine.clone()),
        Some(counters),
    )
}
