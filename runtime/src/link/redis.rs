//! Redis connections for the buses between nodes: a [`Publisher`] (a bounded queue that one
//! task pipelines to Redis, on a connection that reconnects by itself, from the server's
//! first worker once it runs), [`resubscribe`] with backoff after a subscription is lost,
//! and `PUBSUB NUMSUB`.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use actix::ArbiterHandle;
use futures_util::future::{AbortHandle, Abortable, BoxFuture};
use futures_util::{FutureExt, StreamExt};
use redis::aio::{ConnectionManager, PubSubStream};
use redis::Client;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::BusCounters;
use crate::engine::Engine;

/// Most messages one pipeline to Redis carries.
const PUBLISH_BATCH: usize = 64;

/// Largest message a [`Merge`] may make.
const MAX_MERGED: usize = 64 * 1024;

/// Joins a message to an earlier one for the same channel (the earlier one then carries
/// both, in order); false when the two cannot be joined.
pub(crate) type Merge = fn(&mut Vec<u8>, &[u8]) -> bool;

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
    /// queries (it is returned for them). With `merge`, the messages for one channel that
    /// wait together are joined into one `PUBLISH` (a busy link then costs Redis, and the
    /// reader, one message for many). With `home`, the task moves to the server's first
    /// worker once one runs, on a connection of its own there (see [`publish_task`]).
    pub(crate) async fn start(
        client: &Client,
        capacity: usize,
        counters: Arc<BusCounters>,
        merge: Option<Merge>,
        home: Option<Arc<Engine>>,
    ) -> redis::RedisResult<(Publisher, ConnectionManager, JoinHandle<()>)> {
        let conn = ConnectionManager::new(client.clone()).await?;
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let link = PublishLink {
            client: client.clone(),
            conn: conn.clone(),
            rx,
            counters: counters.clone(),
            merge,
            batch: Vec::with_capacity(PUBLISH_BATCH),
        };
        let task = tokio::spawn(publish_task(link, home));
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

/// One publishing task's state: its queue, its connection, and the batch in hand.
struct PublishLink {
    client: Client,
    conn: ConnectionManager,
    rx: mpsc::Receiver<(String, Vec<u8>)>,
    counters: Arc<BusCounters>,
    merge: Option<Merge>,
    batch: Vec<(String, Vec<u8>)>,
}

/// Publish what is queued, from the thread that started it until `home`'s first worker
/// runs elsewhere, then from that worker (the messages come from the sockets and matches
/// on the workers; publishing on another thread would wake it for each, and on a busy
/// core a woken thread waits its turn). The move happens between two batches, so the
/// order holds. Ends when the queue's senders are gone or the returned task is aborted
/// (which aborts the moved loop too).
async fn publish_task(mut link: PublishLink, home: Option<Arc<Engine>>) {
    let Some(worker) = link.run(home.as_deref()).await else {
        return;
    };
    let (abort, registration) = AbortHandle::new_pair();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let moved = async move {
        // A connection of the worker's own, so that its I/O runs there too; if Redis cannot
        // be reached now, the first one still works, from the thread that made it.
        if let Ok(conn) = ConnectionManager::new(link.client.clone()).await {
            link.conn = conn;
        }
        link.run(None).await;
        drop(done_tx);
    };
    if !worker.spawn(Abortable::new(moved, registration).map(drop)) {
        tracing::warn!("the server's first worker has stopped; publishing to Redis stops");
        return;
    }
    let _moved = AbortOnDrop(abort);
    let _ = done_rx.await;
}

/// Aborts a task when dropped.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl PublishLink {
    /// Publish a pipeline at a time until the queue closes (`None`), or until `home`'s
    /// first worker runs on another thread: then the worker, with the batch taken still in
    /// hand.
    async fn run(&mut self, home: Option<&Engine>) -> Option<ArbiterHandle> {
        loop {
            if self.batch.is_empty() && self.rx.recv_many(&mut self.batch, PUBLISH_BATCH).await == 0
            {
                return None;
            }
            if let Some(worker) = home.and_then(Engine::first_worker_elsewhere) {
                return Some(worker);
            }
            self.publish().await;
        }
    }

    /// Publish the batch in hand as one pipeline.
    async fn publish(&mut self) {
        let count = self.batch.len();
        let commands = match self.merge {
            Some(merge) => merged(self.batch.drain(..), merge),
            None => std::mem::take(&mut self.batch),
        };
        BusCounters::add(&self.counters.publishes, commands.len());
        let mut pipe = redis::pipe();
        for (channel, message) in commands {
            pipe.cmd("PUBLISH").arg(channel).arg(message).ignore();
        }
        if let Err(e) = pipe.query_async::<()>(&mut self.conn).await {
            BusCounters::add(&self.counters.publish_failed, count);
            tracing::warn!(error = %e, count, "publishing to Redis failed; these messages are lost");
        }
    }
}

/// `messages` with each joined to the last earlier one of its channel where `merge` allows
/// (and the result stays under [`MAX_MERGED`]): the order within a channel is kept.
fn merged(
    messages: impl Iterator<Item = (String, Vec<u8>)>,
    merge: Merge,
) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for (channel, message) in messages {
        let last = out.iter_mut().rev().find(|(c, _)| *c == channel);
        if let Some((_, joined)) = last {
            if joined.len() + message.len() <= MAX_MERGED && merge(joined, &message) {
                continue;
            }
        }
        out.push((channel, message));
    }
    out
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

/// A subscription to `channel`: its messages.
pub(crate) async fn subscribe(client: &Client, channel: &str) -> redis::RedisResult<PubSubStream> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    Ok(pubsub.into_on_message())
}

/// Read `channel` (subscribed as `messages`) for as long as `owner` lives, each payload to
/// `on_message`; resubscribe with backoff when Redis goes away.
pub(crate) async fn read_channel<O>(
    client: Client,
    channel: String,
    mut messages: PubSubStream,
    owner: Weak<O>,
    on_message: impl Fn(&O, &[u8]),
) {
    loop {
        while let Some(message) = messages.next().await {
            let Some(owner) = owner.upgrade() else {
                return;
            };
            on_message(&owner, message.get_payload_bytes());
        }
        let Some(again) = resubscribe(&owner, |_| subscribe(&client, &channel)).await else {
            return;
        };
        messages = again;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn concat(joined: &mut Vec<u8>, next: &[u8]) -> bool {
        if next.first() == Some(&b'!') {
            return false;
        }
        joined.extend_from_slice(next);
        true
    }

    #[test]
    fn messages_join_per_channel_in_order() {
        let m = |c: &str, b: &str| (c.to_owned(), b.as_bytes().to_vec());
        let out = merged(
            [
                m("a", "1"),
                m("b", "x"),
                m("a", "2"),
                m("a", "!3"),
                m("a", "4"),
            ]
            .into_iter(),
            concat,
        );
        assert_eq!(out, vec![m("a", "12"), m("b", "x"), m("a", "!34")]);
        // Never past the size limit.
        let big = "y".repeat(MAX_MERGED);
        let out = merged([m("a", "1"), m("a", &big)].into_iter(), concat);
        assert_eq!(out.len(), 2);
    }
}
