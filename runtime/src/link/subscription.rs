//! A Redis subscription whose backlog is bounded: [`Messages`].
//!
//! Redis bounds what a slow subscriber can hold up (`client-output-buffer-limit pubsub`):
//! past the limit it closes the connection. A client library that reads the socket into an
//! unbounded queue moves that backlog into the node, where nothing bounds it. Here the
//! connection's messages go to the reader through [`Inbox`], which holds at most
//! [`SUBSCRIPTION_BUFFER`] bytes. A reader that falls further behind is cut off as Redis would
//! cut it off: what it has already received it still reads, in order, then its subscription
//! ends, and the caller resubscribes (pub/sub keeps nothing for a subscriber that was away).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Msg, ProtocolVersion, PushInfo, Value};
use tokio::sync::mpsc;

use super::BusCounters;

/// Most bytes of messages a subscription holds received and not yet read (Redis's own
/// default hard limit for a subscriber is 32 MiB).
pub(crate) const SUBSCRIPTION_BUFFER: usize = 16 * 1024 * 1024;

/// What one held message costs beyond its channel and payload bytes (the message and its
/// place in the queue), so that a flood of tiny messages is bounded too.
const PER_MESSAGE: usize = 128;

/// Open a subscriber connection to the Redis of `client`, on RESP3 (Redis 6 or later), whose
/// messages arrive in the returned [`Messages`], with at most `limit` bytes held. Subscribe
/// with the connection; it and the messages share one socket, which closes when both are
/// dropped.
pub(crate) async fn open(
    client: &Client,
    limit: usize,
) -> redis::RedisResult<(MultiplexedConnection, Messages)> {
    let info = client.get_connection_info().clone();
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let client = Client::open(info.set_redis_settings(settings))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let inbox = Arc::new(Inbox {
        held: AtomicUsize::new(0),
        overflowed: AtomicBool::new(false),
        limit,
    });
    let pushes = inbox.clone();
    // The connection owns the sending side: when it is lost, the messages end.
    let forward = move |push: PushInfo| match pushes.admit(push) {
        Some(received) => tx.send(received).map_err(drop),
        None => Ok(()),
    };
    let config = AsyncConnectionConfig::new()
        // A subscriber sends (un)subscribe requests only; waiting on Redis is not a timeout.
        .set_response_timeout(None)
        .set_push_sender(forward);
    let conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    let messages = Messages {
        rx,
        inbox,
        _conn: conn.clone(),
    };
    Ok((conn, messages))
}

/// What a subscriber connection hands its reader.
enum Received {
    Message(Msg, usize),
    /// The reader fell more than the limit behind; nothing after this was kept.
    Overflowed,
}

/// The bound on the hand-off from the connection (which asks [`Inbox::admit`] about each
/// push it reads) to the reader.
struct Inbox {
    /// Bytes of the messages queued and not yet read: never more than `limit` (once over,
    /// the reader is cut off and nothing more is queued).
    held: AtomicUsize,
    overflowed: AtomicBool,
    limit: usize,
}

impl Inbox {
    /// What to queue for the reader of a push the connection read: the message, or, once
    /// the reader is more than the limit behind, the overflow, and nothing after it. Other
    /// pushes (subscribe confirmations) are not for the reader.
    fn admit(&self, push: PushInfo) -> Option<Received> {
        if self.overflowed.load(Ordering::Relaxed) {
            return None;
        }
        let cost = PER_MESSAGE + push.data.iter().map(bulk_len).sum::<usize>();
        let message = Msg::from_push_info(push)?;
        let held = self.held.fetch_add(cost, Ordering::Relaxed) + cost;
        if held > self.limit {
            self.overflowed.store(true, Ordering::Relaxed);
            return Some(Received::Overflowed);
        }
        Some(Received::Message(message, cost))
    }
}

fn bulk_len(value: &Value) -> usize {
    match value {
        Value::BulkString(bytes) => bytes.len(),
        _ => 0,
    }
}

/// The messages of a subscription, in the order Redis published them. Ends when the
/// connection is lost, or after the reader fell more than the limit behind (see the module's
/// documentation).
pub(crate) struct Messages {
    rx: mpsc::UnboundedReceiver<Received>,
    inbox: Arc<Inbox>,
    /// Keeps the connection open while only the messages are held.
    _conn: MultiplexedConnection,
}

impl std::fmt::Debug for Messages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messages")
            .field("held", &self.inbox.held.load(Ordering::Relaxed))
            .finish()
    }
}

impl Messages {
    /// The next message; `None` once the subscription has ended.
    pub(crate) async fn next(&mut self) -> Option<Msg> {
        let received = self.rx.recv().await;
        self.read(received)
    }

    /// The next message if one has been received already.
    pub(crate) fn next_now(&mut self) -> Option<Msg> {
        let received = self.rx.try_recv().ok();
        self.read(received)
    }

    fn read(&mut self, received: Option<Received>) -> Option<Msg> {
        match received? {
            Received::Message(message, cost) => {
                self.inbox.held.fetch_sub(cost, Ordering::Relaxed);
                Some(message)
            }
            Received::Overflowed => {
                tracing::warn!(
                    limit = self.inbox.limit,
                    "a Redis subscription fell too far behind and was cut off: what was published \
                     meanwhile is lost"
                );
                // Ends here, for every later call too.
                self.rx.close();
                while self.rx.try_recv().is_ok() {}
                None
            }
        }
    }

    /// Bytes held, received and not yet read.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.inbox.held.load(Ordering::Relaxed)
    }

    /// Whether the reader has fallen more than the limit behind (once it has read what
    /// came before, the messages end).
    pub(crate) fn cut_off(&self) -> bool {
        self.inbox.overflowed.load(Ordering::Relaxed)
    }

    /// Count, once these messages have ended, whether they ended by a cut-off.
    pub(crate) fn count_end(&self, counters: &BusCounters) {
        if self.cut_off() {
            BusCounters::add(&counters.cut_off, 1);
        }
    }
}

/// A payload of 1 KiB that starts with `i` in four digits.
#[cfg(test)]
pub(crate) fn numbered(i: u32) -> Vec<u8> {
    format!("{i:04}{}", "x".repeat(1020)).into_bytes()
}

/// A subscription to channel `c` with at most `limit` bytes held, cut off: nothing read it
/// while `count` [`numbered`] messages were published, more than `limit` holds.
#[cfg(test)]
pub(crate) async fn cut_off_subscription(client: &Client, limit: usize, count: u32) -> Messages {
    let (mut conn, messages) = open(client, limit).await.expect("connected");
    conn.subscribe("c").await.expect("subscribed");
    let mut publisher = client
        .get_multiplexed_async_connection()
        .await
        .expect("connected");
    let mut pipe = redis::pipe();
    for i in 0..count {
        pipe.cmd("PUBLISH").arg("c").arg(numbered(i)).ignore();
    }
    pipe.query_async::<()>(&mut publisher)
        .await
        .expect("published");
    // The connection takes what Redis sends, up to the limit.
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while !messages.cut_off() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("cut off");
    messages
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::test_redis::Redis;
    use redis::PushKind;

    fn message(payload: &[u8]) -> PushInfo {
        PushInfo {
            kind: PushKind::Message,
            data: vec![
                Value::BulkString(b"c".to_vec()),
                Value::BulkString(payload.to_vec()),
            ],
        }
    }

    fn inbox(limit: usize) -> Inbox {
        Inbox {
            held: AtomicUsize::new(0),
            overflowed: AtomicBool::new(false),
            limit,
        }
    }

    #[test]
    fn a_reader_behind_by_more_than_the_limit_gets_what_came_before_then_the_end() {
        let cost = PER_MESSAGE + 1 + 1000;
        let inbox = inbox(3 * cost);
        let mut queued = (0..10u8).filter_map(|i| inbox.admit(message(&[i; 1000])));
        let mut read = Vec::new();
        while let Some(Received::Message(m, c)) = queued.next() {
            assert_eq!(c, cost);
            read.push(m.get_payload_bytes()[0]);
        }
        assert_eq!(read, [0, 1, 2], "what fits, in order");
        assert!(inbox.overflowed.load(Ordering::Relaxed));
        assert!(
            queued.next().is_none(),
            "nothing after the overflow is kept"
        );
    }

    #[test]
    fn what_is_read_makes_room() {
        let cost = PER_MESSAGE + 1 + 1000;
        let inbox = inbox(2 * cost);
        for i in 0..100u8 {
            let Some(Received::Message(m, c)) = inbox.admit(message(&[i; 1000])) else {
                panic!("message {i} queued");
            };
            assert_eq!(m.get_payload_bytes()[0], i);
            inbox.held.fetch_sub(c, Ordering::Relaxed);
        }
        assert!(!inbox.overflowed.load(Ordering::Relaxed));
    }

    #[test]
    fn confirmations_are_not_messages() {
        let inbox = inbox(1024);
        let confirmation = PushInfo {
            kind: PushKind::Subscribe,
            data: vec![Value::BulkString(b"c".to_vec()), Value::Int(1)],
        };
        assert!(inbox.admit(confirmation).is_none());
        assert_eq!(inbox.held.load(Ordering::Relaxed), 0);
    }

    /// What the user sees when a node's reader stops keeping up: the node holds at most the
    /// limit, reads what it received before, in order, and then its subscription ends.
    #[tokio::test]
    #[cfg_attr(
        tickwire_missing_redis,
        ignore = "needs redis-server on PATH (run .ci/setup)"
    )]
    async fn a_subscriber_that_stops_reading_is_cut_off_at_the_limit() {
        let redis = Redis::start();
        let client = Client::open(redis.url()).expect("a Redis URL");
        let limit = 64 * 1024;
        let mut messages = cut_off_subscription(&client, limit, 1000).await;
        let cost = PER_MESSAGE + 1 + numbered(0).len();
        assert!(messages.held() <= limit + cost, "{} held", messages.held());
        let mut read = Vec::new();
        while let Some(message) = messages.next().await {
            read.push(message.get_payload_bytes().to_vec());
        }
        let fits = limit / cost;
        assert_eq!(read.len(), fits, "what fits in the limit");
        assert!(
            read.iter()
                .enumerate()
                .all(|(i, m)| *m == numbered(i as u32)),
            "in order, from the first"
        );
        assert!(
            messages.next().await.is_none(),
            "and the subscription stays ended"
        );
    }

    /// A lost connection ends the messages, so that the reader resubscribes.
    #[tokio::test]
    #[cfg_attr(
        tickwire_missing_redis,
        ignore = "needs redis-server on PATH (run .ci/setup)"
    )]
    async fn the_messages_end_when_redis_goes_away() {
        let mut redis = Redis::start();
        let client = Client::open(redis.url()).expect("a Redis URL");
        let (mut conn, mut messages) = open(&client, 1024).await.expect("connected");
        conn.subscribe("c").await.expect("subscribed");
        drop(conn);
        redis.stop();
        let ended = tokio::time::timeout(Duration::from_secs(10), messages.next()).await;
        assert!(matches!(ended, Ok(None)), "ended, not waiting: {ended:?}");
    }
}
