//! Redis connections for the buses between nodes: a [`Publisher`] (a bounded queue that one
//! task pipelines to Redis, on a connection that reconnects by itself, from the server's
//! first worker once it runs), [`read_channel`] (a subscription's reader, which can move to
//! that worker too, see [`Handover`], and applies what it has received at once under one
//! [`Cork`]), [`resubscribe`] with backoff after a subscription is lost, and `PUBSUB NUMSUB`.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering as AtomicOrdering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use actix::ArbiterHandle;
use futures_util::future::{AbortHandle, Abortable, BoxFuture};
use futures_util::FutureExt;
use redis::aio::ConnectionManager;
use redis::{Client, Msg};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

use super::subscription::{self, Messages, SUBSCRIPTION_BUFFER};
use super::BusCounters;
use crate::engine::{Cork, Engine, FirstWorker};

/// Most messages one pipeline to Redis carries. One pipeline is in flight at a time, so
/// the bus carries at most this many messages per round trip: what waits when a round trip
/// ends leaves in the next one, however much that is (up to this), or a busy node's
/// slower round trips would make its queue grow faster than it drains.
const PUBLISH_BATCH: usize = 1024;

/// Most messages already received that a reader delivers under one [`Cork`].
const READ_BATCH: usize = 64;

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
    let moved = Moved::spawn(&worker, async move {
        // A connection of the worker's own, so that its I/O runs there too; if Redis cannot
        // be reached now, the first one still works, from the thread that made it.
        if let Ok(conn) = ConnectionManager::new(link.client.clone()).await {
            link.conn = conn;
        }
        link.run(None).await;
    });
    match moved {
        Some(moved) => moved.ends().await,
        None => tracing::warn!("the server's first worker has stopped; publishing to Redis stops"),
    }
}

/// A task moved to a worker, tied to the task that moved it: dropping this (that task
/// ending or being aborted) aborts it.
struct Moved {
    abort: AbortHandle,
    /// Ends when the moved task does.
    done: oneshot::Receiver<()>,
}

impl Moved {
    /// Run `task` on `worker`; `None` once the worker has stopped.
    fn spawn(
        worker: &ArbiterHandle,
        task: impl Future<Output = ()> + Send + 'static,
    ) -> Option<Moved> {
        let (abort, registration) = AbortHandle::new_pair();
        let (done_tx, done) = oneshot::channel::<()>();
        let task = async move {
            task.await;
            drop(done_tx);
        };
        worker
            .spawn(Abortable::new(task, registration).map(drop))
            .then_some(Moved { abort, done })
    }

    /// Wait for the moved task to end.
    async fn ends(mut self) {
        let _ = (&mut self.done).await;
    }
}

impl Drop for Moved {
    fn drop(&mut self) {
        self.abort.abort();
    }
}

impl PublishLink {
    /// Publish a pipeline at a time until the queue closes (`None`), or until `home`'s
    /// first worker runs on another thread: then the worker, with the batch taken still in
    /// hand.
    async fn run(&mut self, mut home: Option<&Engine>) -> Option<ArbiterHandle> {
        loop {
            if self.batch.is_empty() && self.rx.recv_many(&mut self.batch, PUBLISH_BATCH).await == 0
            {
                return None;
            }
            match home.map(Engine::first_worker) {
                Some(FirstWorker::Elsewhere(worker)) => return Some(worker),
                // Already where it belongs: no need to look again.
                Some(FirstWorker::Here) => home = None,
                Some(FirstWorker::NotYet) | None => {}
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
/// (and the result stays under [`MAX_MERGED`]): the order within a channel is kept. The
/// search for a channel is linear in the channels of the batch: the game cluster, the one
/// bus that joins, has one channel per node.
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

/// One subscription to all of `channels`: their messages, in the order Redis publishes them,
/// with at most [`SUBSCRIPTION_BUFFER`] bytes held unread (see [`Messages`]).
pub(crate) async fn subscribe(
    client: &Client,
    channels: &[String],
) -> redis::RedisResult<Messages> {
    let (mut conn, messages) = subscription::open(client, SUBSCRIPTION_BUFFER).await?;
    conn.subscribe(channels).await?;
    Ok(messages)
}

/// Read `channels` (subscribed as `messages`) for as long as `owner` lives, each payload to
/// `on_message`; resubscribe with backoff when Redis goes away. What has been received at
/// once is delivered under one [`Cork`]: a burst of messages for a socket leaves in one
/// write. With `home`, the reading moves to the server's first worker once one runs
/// elsewhere, without losing or repeating a message (see [`Handover`]): the payloads come
/// for the sockets and matches on the workers, and reading them on another thread would
/// wake it for each. The move's marker is published on the last of `channels`: let that
/// be one that only this node reads. A subscription cut off for falling behind (see
/// [`Messages`]) is counted in `counters`.
pub(crate) async fn read_channel<O, F>(
    client: Client,
    channels: Vec<String>,
    messages: Messages,
    owner: Weak<O>,
    on_message: F,
    home: Option<Arc<Engine>>,
    counters: Option<Arc<BusCounters>>,
) where
    O: Send + Sync + 'static,
    F: Fn(&O, &[u8]) + Clone + Send + Sync + 'static,
{
    let reader = Reader {
        client,
        channels: channels.into(),
        owner,
        on_message,
        counters,
    };
    let Some(home) = home else {
        return reader.run(messages).await;
    };
    if let Some(moved) = reader.read_until_moved(messages, &home).await {
        // The first subscription is closed by now: only the worker's reads.
        moved.moved_ends().await;
    }
}

/// What reads a channel: where it comes from, where its payloads go, and what counts its
/// cut-offs.
struct Reader<O, F> {
    client: Client,
    channels: Arc<[String]>,
    owner: Weak<O>,
    on_message: F,
    counters: Option<Arc<BusCounters>>,
}

impl<O, F: Clone> Clone for Reader<O, F> {
    fn clone(&self) -> Self {
        Reader {
            client: self.client.clone(),
            channels: self.channels.clone(),
            owner: self.owner.clone(),
            on_message: self.on_message.clone(),
            counters: self.counters.clone(),
        }
    }
}

impl<O, F> Reader<O, F>
where
    O: Send + Sync + 'static,
    F: Fn(&O, &[u8]) + Clone + Send + Sync + 'static,
{
    /// Deliver from `messages` until the owner is gone, resubscribing after each loss.
    async fn run(&self, mut messages: Messages) {
        let mut burst = Vec::with_capacity(READ_BATCH);
        loop {
            while next_burst(&mut messages, &mut burst).await {
                let _cork = Cork::new();
                for message in burst.drain(..) {
                    let payload = message.get_payload_bytes();
                    if marker_nonce(payload).is_none() && !self.deliver(payload) {
                        return;
                    }
                }
            }
            self.ended(&messages);
            let Some(again) = self.resubscribe().await else {
                return;
            };
            messages = again;
        }
    }

    /// Deliver from `messages` (resubscribing after each loss) until the reading has moved
    /// to `home`'s first worker: the [`Handover`] then, `None` once the owner is gone. The
    /// move starts at the first message after that worker runs.
    async fn read_until_moved(&self, mut messages: Messages, home: &Engine) -> Option<Handover> {
        let mut handover: Option<Handover> = None;
        let mut tried = false;
        let mut burst = Vec::with_capacity(READ_BATCH);
        loop {
            while next_burst(&mut messages, &mut burst).await {
                let _cork = Cork::new();
                for message in burst.drain(..) {
                    let payload = message.get_payload_bytes();
                    if let Some(nonce) = marker_nonce(payload) {
                        if let Some(moved) = handover.take_if(|h| h.nonce == nonce) {
                            // What follows the marker is the worker's to deliver.
                            if moved.stop(Stage::Handed) {
                                return Some(moved);
                            }
                        }
                        continue;
                    }
                    if !self.deliver(payload) {
                        return None;
                    }
                }
                if !tried {
                    match home.first_worker() {
                        FirstWorker::NotYet => {}
                        // Already where it belongs.
                        FirstWorker::Here => tried = true,
                        FirstWorker::Elsewhere(worker) => {
                            tried = true;
                            handover = Handover::start(&worker, self.clone());
                        }
                    }
                }
            }
            self.ended(&messages);
            if let Some(moved) = handover.take() {
                // Lost before the marker: the worker reads on, from its own subscription.
                if moved.stop(Stage::FirstLost) {
                    return Some(moved);
                }
            }
            messages = self.resubscribe().await?;
        }
    }

    /// Hand `payload` to the owner; false once it is gone.
    fn deliver(&self, payload: &[u8]) -> bool {
        let Some(owner) = self.owner.upgrade() else {
            return false;
        };
        (self.on_message)(&owner, payload);
        true
    }

    /// Count the end of `messages` if it was a cut-off.
    fn ended(&self, messages: &Messages) {
        if let Some(counters) = &self.counters {
            messages.count_end(counters);
        }
    }

    async fn resubscribe(&self) -> Option<Messages> {
        resubscribe(&self.owner, |_| subscribe(&self.client, &self.channels)).await
    }

    /// The worker's side of a [`Handover`]: subscribe here, publish the marker, skip what
    /// comes before it (the first reader delivers that), wait for the first reader to stop,
    /// then read on. Gives up, leaving the first reader in place, when it cannot subscribe
    /// or the marker does not come back within [`HANDOVER_WAIT`] while the first reader
    /// still runs.
    async fn take_over(self, nonce: u64, shared: Arc<HandoverState>) {
        let mut messages = match self.subscribe_and_mark(nonce).await {
            Ok(messages) => Some(messages),
            Err(e) => {
                tracing::debug!(error = %e, "the worker cannot subscribe for the channel's reader");
                None
            }
        };
        let marked = match &mut messages {
            Some(messages) => {
                tokio::time::timeout(HANDOVER_WAIT, skip_to_marker(messages, nonce)).await
                    == Ok(true)
            }
            None => false,
        };
        if !marked {
            match shared.abandon() {
                // The first reader goes on.
                None => return tracing::debug!("the channel's reader stays where it is"),
                Some(Stage::Handed) => {
                    if let Some(messages) = &mut messages {
                        skip_to_marker(messages, nonce).await;
                    }
                }
                Some(_) => {}
            }
        }
        shared.stopped.notified().await;
        let messages = match messages {
            Some(messages) => messages,
            None => match self.resubscribe().await {
                Some(messages) => messages,
                None => return,
            },
        };
        self.run(messages).await;
    }

    async fn subscribe_and_mark(&self, nonce: u64) -> redis::RedisResult<Messages> {
        let messages = subscribe(&self.client, &self.channels).await?;
        let mut conn = self.client.get_multiplexed_async_connection().await?;
        let own = self
            .channels
            .last()
            .expect("a reader reads at least one channel");
        redis::cmd("PUBLISH")
            .arg(own)
            .arg(marker(nonce))
            .query_async::<i64>(&mut conn)
            .await?;
        Ok(messages)
    }
}

/// Longest a worker's new subscription waits for its marker before it gives up the move.
const HANDOVER_WAIT: Duration = Duration::from_secs(5);

/// How a subscription's reading moves to another thread: that thread subscribes to the
/// same channels too and publishes a marker on the last of them. Both subscriptions see
/// the channels' messages in the one order Redis publishes them (one command after
/// another, each to every subscriber in turn): the first reader delivers up to the marker and
/// stops; the new one skips up to it and delivers from there, once the first has stopped.
/// Each message is delivered once, in order. Which of the two reads on when one of them
/// fails is decided once, in [`HandoverState`].
struct Handover {
    nonce: u64,
    shared: Arc<HandoverState>,
    /// The worker's side.
    moved: Moved,
}

/// Where a [`Handover`] stands: pending until the first reader stops (at the marker, or
/// when its subscription is lost) or the worker abandons the move, whichever comes first.
#[derive(Default)]
struct HandoverState {
    stage: AtomicU8,
    /// Notified when the first reader has stopped.
    stopped: Notify,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Stage {
    Pending = 0,
    /// The first reader reached the marker and stopped.
    Handed = 1,
    /// The first reader's subscription was lost before the marker; it stopped.
    FirstLost = 2,
    /// The worker gave the move up; the first reader goes on.
    Abandoned = 3,
}

impl HandoverState {
    /// Settle the move at `stage`; the stage it had settled at instead, if any.
    fn settle(&self, stage: Stage) -> Result<(), Stage> {
        self.stage
            .compare_exchange(
                Stage::Pending as u8,
                stage as u8,
                AtomicOrdering::AcqRel,
                AtomicOrdering::Acquire,
            )
            .map(drop)
            .map_err(|settled| match settled {
                1 => Stage::Handed,
                2 => Stage::FirstLost,
                _ => Stage::Abandoned,
            })
    }

    /// The worker gives up: `None` when the first reader goes on, else how it stopped
    /// (the worker must read on then).
    fn abandon(&self) -> Option<Stage> {
        self.settle(Stage::Abandoned).err()
    }
}

impl Handover {
    /// Start `reader`'s worker side on `worker`; `None` once the worker has stopped.
    fn start<O, F>(worker: &ArbiterHandle, reader: Reader<O, F>) -> Option<Handover>
    where
        O: Send + Sync + 'static,
        F: Fn(&O, &[u8]) + Clone + Send + Sync + 'static,
    {
        let nonce = rand::random::<u64>();
        let shared = Arc::new(HandoverState::default());
        let moved = Moved::spawn(worker, reader.take_over(nonce, shared.clone()))?;
        Some(Handover {
            nonce,
            shared,
            moved,
        })
    }

    /// The first reader stops (`how`): true when the worker reads on, false when it had
    /// given the move up (the first reader then goes on).
    fn stop(&self, how: Stage) -> bool {
        let stopped = self.shared.settle(how).is_ok();
        if stopped {
            self.shared.stopped.notify_one();
        }
        stopped
    }

    /// Wait for the moved reader to end (dropping this earlier would abort it).
    async fn moved_ends(self) {
        self.moved.ends().await;
    }
}

/// The payload that marks a [`Handover`] on its channel; every reader skips it.
fn marker(nonce: u64) -> Vec<u8> {
    let mut payload = MARKER.to_vec();
    payload.extend_from_slice(&nonce.to_be_bytes());
    payload
}

const MARKER: &[u8] = b"\0tickwire:reader-handover:";

/// Wait for the next message, then take those already received after it too, up to
/// [`READ_BATCH`] in all, into `burst`; false when the subscription ends first.
async fn next_burst(messages: &mut Messages, burst: &mut Vec<Msg>) -> bool {
    let Some(first) = messages.next().await else {
        return false;
    };
    burst.push(first);
    while burst.len() < READ_BATCH {
        match messages.next_now() {
            Some(message) => burst.push(message),
            None => break,
        }
    }
    true
}

/// Skip `messages` up to the marker `nonce`; false when the subscription ends first.
async fn skip_to_marker(messages: &mut Messages, nonce: u64) -> bool {
    while let Some(message) = messages.next().await {
        if marker_nonce(message.get_payload_bytes()) == Some(nonce) {
            return true;
        }
    }
    false
}

fn marker_nonce(payload: &[u8]) -> Option<u64> {
    let nonce = payload.strip_prefix(MARKER)?;
    Some(u64::from_be_bytes(nonce.try_into().ok()?))
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
    use crate::test_redis::Redis;

    fn concat(joined: &mut Vec<u8>, next: &[u8]) -> bool {
        if next.first() == Some(&b'!') {
            return false;
        }
        joined.extend_from_slice(next);
        true
    }

    #[test]
    fn handover_markers_are_told_from_messages() {
        for nonce in [0, 1, u64::MAX] {
            assert_eq!(marker_nonce(&marker(nonce)), Some(nonce));
        }
        let mut short = marker(7);
        short.pop();
        for payload in [&b""[..], b"\x01\x02", &short, &MARKER[1..]] {
            assert_eq!(marker_nonce(payload), None);
        }
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

    /// A node whose round trips to Redis are slow (a busy core) must still drain its queue
    /// as fast as it fills: what has queued by the time the publisher runs leaves in one
    /// pipeline, not 64 messages at a time.
    #[tokio::test]
    #[cfg_attr(
        tickwire_missing_redis,
        ignore = "needs redis-server on PATH (run .ci/setup)"
    )]
    async fn what_waits_together_leaves_in_one_pipeline() {
        let redis = Redis::start();
        let client = Client::open(redis.url()).expect("a Redis URL");
        let mut messages = subscribe(&client, &["c".to_owned()])
            .await
            .expect("subscribed");
        let counters = Arc::new(BusCounters::default());
        let (publisher, _conn, task) =
            Publisher::start(&client, 4096, counters.clone(), Some(concat), None)
                .await
                .expect("connected");
        // On this single-threaded runtime the publishing task runs only at the next
        // `.await`: all of these wait for it together.
        let sent = 1000;
        for i in 0..sent {
            publisher
                .push("c".to_owned(), format!("{i};").into_bytes())
                .expect("queued");
        }
        let mut received = String::new();
        while received.matches(';').count() < sent {
            let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
                .await
                .unwrap_or_else(|_| panic!("timed out with {received:?} received"))
                .expect("the subscription lives");
            received.push_str(&String::from_utf8_lossy(message.get_payload_bytes()));
        }
        let expected: String = (0..sent).map(|i| format!("{i};")).collect();
        assert_eq!(received, expected, "every message, once, in order");
        assert_eq!(
            counters.publishes.load(AtomicOrdering::Relaxed),
            1,
            "one pipeline, joined into one PUBLISH"
        );
        task.abort();
    }

    /// What a node sees when its reader was cut off for falling behind: what it had
    /// received is delivered in order, the cut-off is counted, and the reader resubscribes
    /// by itself, so what is published afterwards arrives.
    #[tokio::test]
    #[cfg_attr(
        tickwire_missing_redis,
        ignore = "needs redis-server on PATH (run .ci/setup)"
    )]
    async fn a_reader_cut_off_for_falling_behind_is_counted_and_resubscribes() {
        let redis = Redis::start();
        let client = Client::open(redis.url()).expect("a Redis URL");
        // Nothing reads yet: 100 KiB arrive against a 16 KiB bound.
        let messages = subscription::cut_off_subscription(&client, 16 * 1024, 100).await;
        let owner = Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
        let counters = Arc::new(BusCounters::default());
        let on_message = |seen: &parking_lot::Mutex<Vec<String>>, payload: &[u8]| {
            seen.lock()
                .push(String::from_utf8_lossy(&payload[..4]).into_owned());
        };
        let reader = tokio::spawn(read_channel(
            client.clone(),
            vec!["c".to_owned()],
            messages,
            Arc::downgrade(&owner),
            on_message,
            None,
            Some(counters.clone()),
        ));
        let mut publisher = client
            .get_multiplexed_async_connection()
            .await
            .expect("connected");
        let mut probe = 0u32;
        tokio::time::timeout(Duration::from_secs(10), async {
            while !owner.lock().iter().any(|m| m.starts_with('p')) {
                probe += 1;
                redis::cmd("PUBLISH")
                    .arg("c")
                    .arg(format!("p{probe:03}"))
                    .query_async::<i64>(&mut publisher)
                    .await
                    .expect("published");
            }
        })
        .await
        .expect("a message published after the cut-off arrives");
        let seen = owner.lock().clone();
        let held: Vec<String> = seen
            .iter()
            .take_while(|m| !m.starts_with('p'))
            .cloned()
            .collect();
        let expected: Vec<String> = (0..held.len()).map(|i| format!("{i:04}")).collect();
        assert!(!held.is_empty(), "what had been received is delivered");
        assert_eq!(held, expected, "from the first, in order");
        assert!(held.len() <= 16, "no more than the bound holds");
        assert_eq!(counters.cut_off.load(AtomicOrdering::Relaxed), 1);
        reader.abort();
    }
}
