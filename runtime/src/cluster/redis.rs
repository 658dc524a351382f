//! The Redis bus: every node publishes on, and subscribes to, one pub/sub channel.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, PubSubStream};
use redis::Client;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Bus, ClusterCounters};
use crate::error::SendError;
use crate::server::{ServerInner, SocketIo};

/// Most messages one pipeline to Redis carries.
const PUBLISH_BATCH: usize = 64;

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
}

impl RedisAdapter {
    /// Options for an adapter on the Redis at `url`, e.g. `redis://127.0.0.1:6379/`.
    pub fn builder(url: impl Into<String>) -> RedisAdapterBuilder {
        RedisAdapterBuilder {
            url: url.into(),
            channel: "tickwire".to_owned(),
            queue: 8192,
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

    /// Connect to Redis, subscribe, and attach to `io`. When this returns, this node receives
    /// every broadcast any node publishes afterwards.
    pub async fn attach(self, io: &SocketIo) -> Result<RedisAdapter, RedisAdapterError> {
        let server = &io.inner;
        if server.cluster.is_attached() {
            return Err(RedisAdapterError::AlreadyAttached);
        }
        let client =
            Client::open(self.url.as_str()).map_err(|e| RedisAdapterError::Url(e.to_string()))?;
        let channels = [
            self.channel.clone(),
            node_channel(&self.channel, server.cluster.node()),
        ];
        let messages = subscribe(&client, &channels)
            .await
            .map_err(|e| RedisAdapterError::Connect(e.to_string()))?;
        let publisher = ConnectionManager::new(client.clone())
            .await
            .map_err(|e| RedisAdapterError::Connect(e.to_string()))?;
        let (tx, rx) = mpsc::channel(self.queue);
        let counters = server.cluster.counters.clone();
        let bus = RedisBus {
            tx,
            channel: self.channel.clone(),
            conn: publisher.clone(),
            counters: counters.clone(),
        };
        if !server.cluster.attach(Arc::new(bus)) {
            return Err(RedisAdapterError::AlreadyAttached);
        }
        let tasks = vec![
            tokio::spawn(publish_loop(publisher, rx, counters)),
            tokio::spawn(read_loop(
                client,
                channels,
                messages,
                Arc::downgrade(server),
            )),
        ];
        tracing::info!(
            node = server.cluster.node(),
            channel = %self.channel,
            "cluster: attached to Redis"
        );
        Ok(RedisAdapter {
            inner: Arc::new(AdapterInner {
                node: server.cluster.node(),
                channel: self.channel,
                tasks: Mutex::new(tasks),
            }),
        })
    }
}

/// A node's own channel, where replies to its requests arrive.
fn node_channel(channel: &str, node: u64) -> String {
    format!("{channel}#{node:016x}")
}

struct RedisBus {
    /// (channel, message) for the publishing task.
    tx: mpsc::Sender<(String, Vec<u8>)>,
    channel: String,
    /// For queries (the publishing task has its own handle on the same connection).
    conn: ConnectionManager,
    counters: Arc<ClusterCounters>,
}

impl Bus for RedisBus {
    fn publish(&self, to: Option<u64>, message: Vec<u8>) -> Result<(), SendError> {
        let channel = match to {
            None => self.channel.clone(),
            Some(node) => node_channel(&self.channel, node),
        };
        self.tx.try_send((channel, message)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                ClusterCounters::add(&self.counters.queue_full, 1);
                SendError::Cluster("the publish queue to Redis is full".to_owned())
            }
            mpsc::error::TrySendError::Closed(_) => {
                SendError::Cluster("the Redis adapter is shut down".to_owned())
            }
        })
    }

    fn node_count(&self) -> BoxFuture<'static, Result<usize, String>> {
        let mut conn = self.conn.clone();
        let channel = self.channel.clone();
        Box::pin(async move {
            let (_, count): (String, usize) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(&channel)
                .query_async(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            Ok(count)
        })
    }
}

async fn subscribe(client: &Client, channels: &[String]) -> redis::RedisResult<PubSubStream> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channels).await?;
    Ok(pubsub.into_on_message())
}

/// Publish what the node queues, in order, a pipeline at a time.
async fn publish_loop(
    mut conn: ConnectionManager,
    mut rx: mpsc::Receiver<(String, Vec<u8>)>,
    counters: Arc<ClusterCounters>,
) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    while rx.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        let count = batch.len();
        let mut pipe = redis::pipe();
        for (channel, message) in batch.drain(..) {
            pipe.cmd("PUBLISH").arg(channel).arg(message).ignore();
        }
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            ClusterCounters::add(&counters.publish_failed, count);
            tracing::warn!(
                error = %e,
                "cluster: publishing to Redis failed; these broadcasts reach this node only"
            );
        }
    }
}

/// Deliver what the other nodes publish; resubscribe (with backoff) when Redis goes away.
async fn read_loop(
    client: Client,
    channels: [String; 2],
    mut messages: PubSubStream,
    server: Weak<ServerInner>,
) {
    loop {
        while let Some(message) = messages.next().await {
            let Some(server) = server.upgrade() else {
                return;
            };
            super::apply(&server, message.get_payload_bytes());
        }
        tracing::warn!("cluster: Redis subscription lost; resubscribing");
        let mut backoff = Duration::from_millis(100);
        messages = loop {
            if server.strong_count() == 0 {
                return;
            }
            match subscribe(&client, &channels).await {
                Ok(messages) => break messages,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "cluster: cannot resubscribe");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        };
        tracing::info!("cluster: resubscribed to Redis");
    }
}
