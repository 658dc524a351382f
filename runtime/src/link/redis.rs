//! Redis connections for the buses between nodes: a [`Publisher`] (a bounded queue that one
//! task pipelines to Redis, on a connection that reconnects by itself), [`resubscribe`] with
//! backoff after a subscription is lost, and `PUBSUB NUMSUB`.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::aio::ConnectionManager;
use redis::Client;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::BusCounters;

/// Most messages one pipeline to Redis carries.
const PUBLISH_BATCH: usize = 64;

/// Why a message was not queued for Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotQueued {
    /// The queue is full: Redis is slower than the node publishes.
    Full,
    /// The publishing task has stopped.
    Closed,
}

impl std::fmt::Display for NotQueued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NotQueued::Full => "the publish queue to Redis is full",
            NotQueued::Closed => "the publisher to Redis is shut down",
        })
    }
}

/// The bounded queue of a publishing task: `(channel, message)` pairs published in order.
#[derive(Clone)]
pub(crate) struct Publisher {
    tx: mpsc::Sender<(String, Vec<u8>)>,
    counters: Arc<BusCounters>,
}

impl Publisher {
    /// Connect a publishing connection and start its task; the connection also serves
    /// queries (it is returned for them).
    pub(crate) async fn start(
        client: &Client,
        capacity: usize,
        counters: Arc<BusCounters>,
    ) -> redis::RedisResult<(Publisher, ConnectionManager, JoinHandle<()>)> {
        let conn = ConnectionManager::new(client.clone()).await?;
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let task = tokio::spawn(publish_loop(conn.clone(), rx, counters.clone()));
        Ok((Publisher { tx, counters }, conn, task))
    }

    /// Queue `message` for `channel`; never waits.
    pub(crate) fn push(&self, channel: String, message: Vec<u8>) -> Result<(), NotQueued> {
        self.tx.try_send((channel, message)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                BusCounters::add(&self.counters.queue_full, 1);
                NotQueued::Full
            }
            mpsc::error::TrySendError::Closed(_) => NotQueued::Closed,
        })
    }
}

/// Publish what is queued, in order, a pipeline at a time.
async fn publish_loop(
    mut conn: ConnectionManager,
    mut rx: mpsc::Receiver<(String, Vec<u8>)>,
    counters: Arc<BusCounters>,
) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    while rx.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        let count = batch.len();
        let mut pipe = redis::pipe();
        for (channel, message) in batch.drain(..) {
            pipe.cmd("PUBLISH").arg(channel).arg(message).ignore();
        }
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            BusCounters::add(&counters.publish_failed, count);
            tracing::warn!(error = %e, count, "publishing to Redis failed; these messages are lost");
        }
    }
}

/// How many clients subscribe to `channel` now.
pub(crate) fn numsub(
    mut conn: ConnectionManager,
    channel: String,
) -> BoxFuture<'static, Result<usize, String>> {
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

/// Subscribe again with `subscribe` after a subscription was lost, with backoff (100 ms
/// doubling to 5 s) until it works; `None` once `owner` is gone.
pub(crate) async fn resubscribe<O, T, F, Fut>(owner: &Weak<O>, subscribe: F) -> Option<T>
where
    F: Fn(&O) -> Fut,
    Fut: Future<Output = redis::RedisResult<T>>,
{
    tracing::warn!("Redis subscription lost; resubscribing");
    let mut backoff = Duration::from_millis(100);
    loop {
        let attempt = subscribe(&*owner.upgrade()?);
        match attempt.await {
            Ok(subscribed) => {
                tracing::info!("resubscribed to Redis");
                return Some(subscribed);
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "cannot resubscribe to Redis");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
