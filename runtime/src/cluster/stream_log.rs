//! [`StreamLog`]: the cluster's log of broadcasts and room operations in one capped Redis
//! stream, which every node appends to and reads in order.
//!
//! - **Appending** ([`StreamLog::append`]): an operation gets this node's next sequence
//!   number and waits in a bounded, ordered outbox; one task appends the outbox to the
//!   stream, a pipeline at a time (`XADD … MAXLEN ~ n`). A reply lost in a Redis blip makes
//!   it append again: readers skip an origin's sequence numbers they have seen.
//! - **Reading**: one task per node reads the stream from the last id it delivered
//!   (`XREAD BLOCK`), and delivers every broadcast, this node's own included, to this
//!   node's sockets with the entry's id as the recovery offset: every node delivers in the
//!   stream's order, so an offset means the same everywhere. After a Redis disconnect it
//!   reads on from that id: nothing still in the stream is lost.
//! - **Outages**: when the outbox cannot reach Redis for the outage grace, this node goes
//!   offline: its broadcasts reach its own sockets at once (with offsets naming the last
//!   stream id delivered, this node and the sequence number, so that a later recovery skips
//!   what they already got), and they stay in the outbox, which is flushed in order once
//!   Redis answers. Past the outbox's bound a broadcast's remote part is refused (counted).
//! - **Recovery** ([`SharedRecovery`]): sessions are Redis keys with the recovery window as
//!   TTL (Node's format); a restore takes the session, replays the stream after the
//!   client's offset up to the reader's position, and holds the reader until the socket has
//!   entered its namespace.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, Value as RedisValue};
use tokio::sync::{mpsc, oneshot, Notify};

use super::bus::ClusterCounters;
use super::message::{Message, Op, WireFrame};
use super::node_dialect::split_event;
use super::stream_entry::{self, Body, Entry};
use super::stream_session::{self, Skip, StoredSession};
use crate::socketio::{
    encode_payload_event, frames_cost, Codec, Cork, Frame, Namespace, Namespaces, Payload,
    ResumeGuard, SendError, SessionRecord, SharedRecovery, SharedRestore, SharedRestored, Targets,
};

/// An entry's fields as Redis returned them.
type Fields = Vec<(String, Vec<u8>)>;
/// An entry as read: its id and its fields.
type RawEntry = (String, Fields);
/// An entry's fields as appended (shared by the retries of an append).
type EncodedFields = Arc<Vec<(&'static str, Vec<u8>)>>;

/// Entries one `XREAD` returns at most.
const READ_COUNT: usize = 256;
/// How long one `XREAD` blocks (it is re-issued at once).
const READ_BLOCK: Duration = Duration::from_secs(2);
/// Entries one `XADD` pipeline carries at most. One pipeline is in flight at a time: what
/// queued meanwhile leaves in the next, however much (up to this), so that slower round
/// trips on a busy node carry more per trip instead of letting the outbox fill.
const APPEND_BATCH: usize = 1024;
/// Entries one `XRANGE` of a replay fetches at most.
const REPLAY_PAGE: usize = 512;
/// Longest a restore holds the reader while its socket enters the namespace.
const RESTORE_HOLD: Duration = Duration::from_secs(2);

/// Options of a stream log.
#[derive(Debug, Clone)]
pub(crate) struct LogOptions {
    pub(crate) key: String,
    pub(crate) maxlen: usize,
    pub(crate) session_prefix: String,
    pub(crate) outbox: usize,
    pub(crate) outage_grace: Duration,
    /// Sessions live this long (the recovery window).
    pub(crate) window: Duration,
}

/// An operation waiting to be appended.
struct Pending {
    seq: u64,
    fields: EncodedFields,
    message: Message,
    /// Delivered to this node's sockets while offline.
    delivered: bool,
}

struct Outbox {
    queue: VecDeque<Pending>,
    offline: bool,
    failing_since: Option<Instant>,
}

/// A restore handed to the reader, answered at its position.
struct RestoreRequest {
    nsp: String,
    session: StoredSession,
    offset: String,
    budget: usize,
    reply: oneshot::Sender<SharedRestore>,
}

/// How often, and how far apart, a restore looks again for a session not found: the node
/// the client left may still be storing it (it learns of the drop when the client does).
const SESSION_LOOKS: u32 = 4;
const SESSION_LOOK_GAP: Duration = Duration::from_millis(50);

/// One node's side of the stream.
pub(crate) struct StreamLog {
    uid: String,
    options: LogOptions,
    namespaces: Weak<Namespaces>,
    query: ConnectionManager,
    outbox: Mutex<Outbox>,
    wake: Arc<Notify>,
    seq: AtomicU64,
    /// The highest of this node's sequence numbers delivered while offline.
    offline_upto: AtomicU64,
    counters: Arc<ClusterCounters>,
    restores: mpsc::Sender<RestoreRequest>,
    /// The id of the last entry the reader delivered.
    position: Mutex<String>,
    /// Restored sockets that must not get again what they got from a node while it was
    /// offline, until that node's flushed entries have passed: sid → skip.
    live_skips: Mutex<HashMap<String, Skip>>,
    /// Restored sockets that got, on the node they left, entries this reader has not
    /// delivered yet: sid → the id up to which they are left out.
    floors: Mutex<HashMap<String, (u64, u64)>>,
}

impl StreamLog {
    /// Connect, find the stream's end, and start the appending and reading tasks.
    pub(crate) async fn start(
        client: &Client,
        uid: String,
        options: LogOptions,
        namespaces: Weak<Namespaces>,
        counters: Arc<ClusterCounters>,
    ) -> redis::RedisResult<(Arc<StreamLog>, Vec<tokio::task::JoinHandle<()>>)> {
        let query = ConnectionManager::new(client.clone()).await?;
        let start = last_id(&mut query.clone(), &options.key).await?;
        let appender = ConnectionManager::new(client.clone()).await?;
        let reader = reader_connection(client).await?;
        let (restores, restore_rx) = mpsc::channel(1024);
        let log = Arc::new(StreamLog {
            uid,
            options,
            namespaces,
            query,
            outbox: Mutex::new(Outbox {
                queue: VecDeque::new(),
                offline: false,
                failing_since: None,
            }),
            offline_upto: AtomicU64::new(0),
            wake: Arc::new(Notify::new()),
            seq: AtomicU64::new(0),
            counters,
            restores,
            position: Mutex::new(start.clone()),
            live_skips: Mutex::new(HashMap::new()),
            floors: Mutex::new(HashMap::new()),
        });
        let tasks = vec![
            tokio::spawn(append_loop(Arc::downgrade(&log), appender)),
            tokio::spawn(read_loop(
                Arc::downgrade(&log),
                client.clone(),
                reader,
                start,
                restore_rx,
            )),
        ];
        Ok((log, tasks))
    }

    /// Queue `message` (a broadcast or a room operation) for the stream. Never waits; fails
    /// when the outbox is full (Redis unreachable for long).
    pub(crate) fn append(&self, message: &Message) -> Result<(), SendError> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let Some(out) = stream_entry::encode(&self.uid, seq, message) else {
            return Err(SendError::Cluster(
                "the stream carries broadcasts and room operations only".into(),
            ));
        };
        let mut outbox = self.outbox.lock();
        if outbox.queue.len() >= self.options.outbox {
            ClusterCounters::add(&self.counters.queue_full, 1);
            return Err(SendError::Cluster(format!(
                "the stream's outbox is full ({} operations wait for Redis)",
                outbox.queue.len()
            )));
        }
        let mut pending = Pending {
            seq,
            fields: Arc::new(out.fields),
            message: message.clone(),
            delivered: false,
        };
        if outbox.offline {
            self.deliver_offline(&mut pending);
            ClusterCounters::add(&self.counters.queued_offline, 1);
        }
        outbox.queue.push_back(pending);
        drop(outbox);
        self.wake.notify_one();
        Ok(())
    }

    /// Deliver a pending broadcast to this node's sockets now (this node is offline), with
    /// an offset a recovery can place.
    fn deliver_offline(&self, pending: &mut Pending) {
        pending.delivered = true;
        self.offline_upto.store(pending.seq, Ordering::Release);
        let Op::Emit {
            volatile,
            json,
            compact,
        } = &pending.message.op
        else {
            return;
        };
        let Some(ns) = self.namespace(&pending.message.nsp) else {
            return;
        };
        let offset = stream_session::offline_offset(&self.position.lock(), &self.uid, pending.seq);
        let json = json.clone().map(WireFrame::into_frames);
        let compact = compact.clone().map(WireFrame::into_frames);
        deliver(
            &ns,
            pending.message.targets.clone(),
            *volatile,
            json.as_deref(),
            compact.as_deref(),
            &offset,
        );
    }

    fn namespace(&self, nsp: &str) -> Option<Namespace> {
        self.namespaces.upgrade()?.get(nsp)
    }

    /// The skip a session of this node carries: what it delivered while offline.
    fn offline_skip(&self) -> Option<Skip> {
        let upto = self.offline_upto.load(Ordering::Acquire);
        (upto > 0).then(|| Skip {
            uid: self.uid.clone(),
            seq: upto,
        })
    }

    /// Apply an entry read from the stream. `seen` holds each origin's highest sequence
    /// number.
    fn apply(&self, id: &str, entry: Entry, seen: &mut HashMap<String, u64>) {
        if let Some(seq) = entry.seq {
            let last = seen.entry(entry.uid.clone()).or_insert(0);
            if seq <= *last {
                ClusterCounters::add(&self.counters.duplicates, 1);
                return;
            }
            *last = seq;
        }
        let own = entry.uid == self.uid;
        if own
            && entry
                .seq
                .is_some_and(|seq| seq <= self.offline_upto.load(Ordering::Acquire))
        {
            // Delivered here while offline.
            return;
        }
        if !own {
            ClusterCounters::add(&self.counters.received, 1);
        }
        let Some(ns) = self.namespace(&entry.nsp) else {
            return;
        };
        let mut targets = entry.targets().clone();
        self.exclude_skipped(&entry, &mut targets);
        self.exclude_below_floor(id, &mut targets);
        match entry.body {
            Body::Native(message) => match message.op {
                Op::Emit {
                    volatile,
                    json,
                    compact,
                } => {
                    let json = json.map(WireFrame::into_frames);
                    let compact = compact.map(WireFrame::into_frames);
                    deliver(
                        &ns,
                        targets,
                        volatile,
                        json.as_deref(),
                        compact.as_deref(),
                        id,
                    );
                }
                // This node applied its own room operations when it made them.
                op if !own => apply_op(&ns, targets, op),
                _ => {}
            },
            Body::NodeBroadcast {
                volatile,
                data,
                attachments,
                ..
            } => {
                let Some(frames) = node_frames(&ns, data, attachments) else {
                    return;
                };
                deliver(&ns, targets, volatile, Some(&frames), None, id);
            }
            Body::NodeOp { op, .. } => apply_op(&ns, targets, op),
        }
    }

    /// Leave out the restored sockets that already got this entry from its origin while it
    /// was offline; forget a skip once its origin's later entries come.
    fn exclude_skipped(&self, entry: &Entry, targets: &mut Targets) {
        let mut skips = self.live_skips.lock();
        if skips.is_empty() {
            return;
        }
        let Some(seq) = entry.seq else { return };
        skips.retain(|sid, skip| {
            if skip.uid != entry.uid {
                return true;
            }
            if seq <= skip.seq {
                targets.except.push(sid.clone());
                true
            } else {
                false
            }
        });
    }

    /// Leave out the restored sockets that already got entries up to their floor on the
    /// node they left; forget a floor once passed.
    fn exclude_below_floor(&self, id: &str, targets: &mut Targets) {
        let mut floors = self.floors.lock();
        if floors.is_empty() {
            return;
        }
        let Some(id) = stream_session::parse_id(id) else {
            return;
        };
        floors.retain(|sid, floor| {
            if id <= *floor {
                targets.except.push(sid.clone());
                true
            } else {
                false
            }
        });
    }

    /// Take session `pid` back and replay the stream after `offset` up to `position` (the
    /// reader's, which waits meanwhile). `seen` is the reader's.
    async fn restore_at(
        &self,
        position: &str,
        request: &RestoreRequest,
    ) -> Result<Vec<Vec<Frame>>, &'static str> {
        let conn = self.query.clone();
        let session = &request.session;
        let (base, offset_skip) =
            stream_session::parse_offset(&request.offset).ok_or("malformed offset")?;
        match entry_exists(&conn, &self.options.key, &base).await {
            Ok(true) => {}
            Ok(false) => return Err("the offset is no longer in the stream"),
            Err(_) => return Err("the stream is unreachable"),
        }
        let rooms = &session.record.rooms;
        let skips: Vec<Skip> = offset_skip
            .into_iter()
            .chain(session.skip.clone())
            .collect();
        let ns = self.namespace(&request.nsp).ok_or("no such namespace")?;
        let mut missed = Vec::new();
        let mut cost = 0;
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut from = base.clone();
        'pages: loop {
            let page = range_after(&conn, &self.options.key, &from, position).await?;
            let Some((last, _)) = page.last() else { break };
            from = last.clone();
            let full = page.len() == REPLAY_PAGE;
            for (id, fields) in page {
                let Ok(entry) = stream_entry::decode(&fields) else {
                    continue;
                };
                if entry.nsp != request.nsp || !entry.is_recoverable_broadcast() {
                    continue;
                }
                if let Some(seq) = entry.seq {
                    let last = seen.entry(entry.uid.clone()).or_insert(0);
                    if seq <= *last {
                        continue;
                    }
                    *last = seq;
                    if skips.iter().any(|s| s.uid == entry.uid && seq <= s.seq) {
                        continue;
                    }
                }
                if !reaches(entry.targets(), rooms) {
                    continue;
                }
                let Some(frames) = replay_frames(&ns, entry, &id) else {
                    continue;
                };
                cost += frames_cost(&frames);
                if cost > request.budget {
                    return Err("too much missed");
                }
                missed.push(frames);
                if id.as_str() == position {
                    break 'pages;
                }
            }
            if !full {
                break;
            }
        }
        ClusterCounters::add(&self.counters.replayed, missed.len());
        Ok(missed)
    }
}

/// Each target socket of `ns` gets its codec's frames, JSON ones with `offset`.
fn deliver(
    ns: &Namespace,
    targets: Targets,
    volatile: bool,
    json: Option<&[Frame]>,
    compact: Option<&[Frame]>,
    offset: &str,
) {
    let mut operator = ns.broadcast().remote(targets);
    if volatile {
        operator = operator.volatile();
    }
    operator.deliver_logged(json, compact, Some(offset));
}

fn apply_op(ns: &Namespace, targets: Targets, op: Op) {
    let operator = ns.broadcast().remote(targets);
    match op {
        Op::Join(room) => operator.sockets_join(room),
        Op::Leave(room) => operator.sockets_leave(&room),
        Op::Disconnect { close } => operator.disconnect_sockets(close),
        _ => {}
    }
}

/// A Node node's broadcast, encoded here for JSON sockets.
fn node_frames(
    ns: &Namespace,
    data: serde_json::Value,
    attachments: Vec<bytes::Bytes>,
) -> Option<Vec<Frame>> {
    let (event, args) = split_event(data)?;
    let payload = Payload::from_parts(args, attachments);
    encode_payload_event(ns.encodes(), Codec::Json, ns.name(), &event, &payload, None).ok()
}

/// The frames a recovering (JSON) client gets for a logged broadcast: its JSON frames, with
/// the entry's id as the offset.
fn replay_frames(ns: &Namespace, entry: Entry, id: &str) -> Option<Vec<Frame>> {
    let frames = match entry.body {
        Body::Native(Message {
            op: Op::Emit { json, .. },
            ..
        }) => WireFrame::into_frames(json?),
        Body::NodeBroadcast {
            data, attachments, ..
        } => node_frames(ns, data, attachments)?,
        _ => return None,
    };
    crate::socketio::with_json_offset(&frames, id)
}

/// Whether a broadcast to `targets` reaches a socket in `rooms` (its own room included).
fn reaches(targets: &Targets, rooms: &[String]) -> bool {
    let included = targets.rooms.is_empty() || targets.rooms.iter().any(|r| rooms.contains(r));
    let excluded = targets.except.iter().any(|r| rooms.contains(r))
        || targets
            .except_sid
            .as_deref()
            .is_some_and(|sid| rooms.iter().any(|r| r == sid));
    included && !excluded
}

impl SharedRecovery for StreamLog {
    fn persist(&self, nsp: &str, pid: &str, session: SessionRecord) {
        let stored = StoredSession {
            pid: pid.to_owned(),
            record: session,
            skip: self.offline_skip(),
        };
        let key = stream_session::key(&self.options.session_prefix, pid);
        let value = stream_session::encode(&stored);
        let ttl = self.options.window;
        let conn = self.query.clone();
        let nsp = nsp.to_owned();
        tokio::spawn(async move {
            let ttl_ms = ttl.as_millis().max(1) as u64;
            let set = retried(|| {
                let mut conn = conn.clone();
                let (key, value) = (key.clone(), value.clone());
                async move {
                    redis::cmd("SET")
                        .arg(&key)
                        .arg(value)
                        .arg("PX")
                        .arg(ttl_ms)
                        .query_async::<()>(&mut conn)
                        .await
                }
            })
            .await;
            if let Err(e) = set {
                tracing::warn!(error = %e, namespace = %nsp, "recovery: session not stored; that client will start afresh");
            }
        });
    }

    fn restore(
        &self,
        nsp: &str,
        pid: &str,
        offset: &str,
        budget: usize,
    ) -> BoxFuture<'static, SharedRestore> {
        let (nsp, offset) = (nsp.to_owned(), offset.to_owned());
        let key = stream_session::key(&self.options.session_prefix, pid);
        let (conn, restores) = (self.query.clone(), self.restores.clone());
        Box::pin(async move {
            let mut session = None;
            for look in 0..SESSION_LOOKS {
                let taken = retried(|| {
                    let (mut conn, key) = (conn.clone(), key.clone());
                    async move { stream_session::take(&mut conn, &key).await }
                })
                .await;
                match taken {
                    Ok(Some(found)) => {
                        session = Some(found);
                        break;
                    }
                    Ok(None) if look + 1 < SESSION_LOOKS => {
                        tokio::time::sleep(SESSION_LOOK_GAP).await;
                    }
                    Ok(None) => {}
                    Err(_) => return SharedRestore::Unknown("the session store is unreachable"),
                }
            }
            let Some(session) = session else {
                return SharedRestore::Unknown("no such session (expired, or taken)");
            };
            let (reply, answer) = oneshot::channel();
            let request = RestoreRequest {
                nsp,
                session,
                offset,
                budget,
                reply,
            };
            if restores.send(request).await.is_err() {
                return SharedRestore::Unknown("the stream reader stopped");
            }
            answer
                .await
                .unwrap_or(SharedRestore::Unknown("the stream reader stopped"))
        })
    }
}

/// Run a command again, a few times over a few hundred milliseconds, while the connection
/// is what failed (after a Redis restart or a killed connection the first command fails,
/// and the connection manager reconnects for the next).
async fn retried<T, F, Fut>(command: F) -> redis::RedisResult<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = redis::RedisResult<T>>,
{
    let mut gap = Duration::from_millis(20);
    let mut attempts = 0;
    loop {
        match command().await {
            Err(e)
                if attempts < 5
                    && (e.is_io_error() || e.is_connection_dropped() || e.is_timeout()) =>
            {
                attempts += 1;
                tokio::time::sleep(gap).await;
                gap *= 2;
            }
            other => return other,
        }
    }
}

/// A connection for the reader: its own (an `XREAD BLOCK` holds a connection), with a
/// response timeout past the block.
async fn reader_connection(client: &Client) -> redis::RedisResult<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new()
        .set_response_timeout(Some(READ_BLOCK + Duration::from_secs(2)))
        .set_connection_timeout(Some(Duration::from_secs(2)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// The id of the stream's last entry (`0-0` when empty).
async fn last_id(conn: &mut ConnectionManager, key: &str) -> redis::RedisResult<String> {
    let reply: RedisValue = redis::cmd("XREVRANGE")
        .arg(key)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    Ok(entries(reply)
        .into_iter()
        .next()
        .map_or_else(|| "0-0".to_owned(), |(id, _)| id))
}

async fn entry_exists(conn: &ConnectionManager, key: &str, id: &str) -> redis::RedisResult<bool> {
    if id == "0-0" {
        // The stream was empty when the client saw its last entry: it has no gap if
        // everything is still there, which the replay finds.
        return Ok(true);
    }
    let reply: RedisValue = retried(|| {
        let mut conn = conn.clone();
        async move {
            redis::cmd("XRANGE")
                .arg(key)
                .arg(id)
                .arg(id)
                .query_async(&mut conn)
                .await
        }
    })
    .await?;
    Ok(!entries(reply).is_empty())
}

/// Entries after `after` up to `upto` (both ids), a page at a time.
async fn range_after(
    conn: &ConnectionManager,
    key: &str,
    after: &str,
    upto: &str,
) -> Result<Vec<RawEntry>, &'static str> {
    let reply: RedisValue = retried(|| {
        let mut conn = conn.clone();
        async move {
            redis::cmd("XRANGE")
                .arg(key)
                .arg(format!("({after}"))
                .arg(upto)
                .arg("COUNT")
                .arg(REPLAY_PAGE)
                .query_async(&mut conn)
                .await
        }
    })
    .await
    .map_err(|_| "the stream is unreachable")?;
    Ok(entries(reply))
}

/// `(id, fields)` of an `XRANGE` reply, or of one stream of an `XREAD` reply.
fn entries(reply: RedisValue) -> Vec<RawEntry> {
    let RedisValue::Array(items) = reply else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let RedisValue::Array(mut pair) = item else {
                return None;
            };
            if pair.len() != 2 {
                return None;
            }
            let fields = pair.pop()?;
            let id: String = redis::from_redis_value(pair.pop()?).ok()?;
            let RedisValue::Array(flat) = fields else {
                return None;
            };
            let mut out = Vec::with_capacity(flat.len() / 2);
            let mut flat = flat.into_iter();
            while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                let k: String = redis::from_redis_value(k).ok()?;
                let v: Vec<u8> = redis::from_redis_value(v).ok()?;
                out.push((k, v));
            }
            Some((id, out))
        })
        .collect()
}

/// The entries of an `XREAD` reply for one stream (`Nil` when the block timed out).
fn read_entries(reply: RedisValue) -> Vec<RawEntry> {
    let items = match reply {
        RedisValue::Array(items) => items,
        RedisValue::Map(pairs) => pairs
            .into_iter()
            .map(|(k, v)| RedisValue::Array(vec![k, v]))
            .collect(),
        _ => return Vec::new(),
    };
    items
        .into_iter()
        .flat_map(|stream| match stream {
            RedisValue::Array(mut parts) if parts.len() == 2 => {
                parts.pop().map(entries).unwrap_or_default()
            }
            _ => Vec::new(),
        })
        .collect()
}

/// Append the outbox to the stream, in order, a pipeline at a time; go offline after the
/// outage grace of failures, back online (flushing) once Redis answers.
async fn append_loop(log: Weak<StreamLog>, mut conn: ConnectionManager) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let Some(node) = log.upgrade() else { return };
        let batch: Vec<(u64, EncodedFields)> = {
            let outbox = node.outbox.lock();
            outbox
                .queue
                .iter()
                .take(APPEND_BATCH)
                .map(|p| (p.seq, p.fields.clone()))
                .collect()
        };
        if batch.is_empty() {
            // Hold no reference while idle: a dropped server ends this task.
            let wake = node.wake.clone();
            let notified = wake.notified();
            drop(node);
            notified.await;
            continue;
        }
        let mut pipe = redis::pipe();
        for (_, fields) in &batch {
            let cmd = pipe
                .cmd("XADD")
                .arg(&node.options.key)
                .arg("MAXLEN")
                .arg("~")
                .arg(node.options.maxlen)
                .arg("*");
            for (name, value) in fields.iter() {
                cmd.arg(*name).arg(value.as_slice());
            }
        }
        let grace = node.options.outage_grace;
        let appended = tokio::time::timeout(grace.max(Duration::from_millis(100)), async {
            pipe.query_async::<Vec<String>>(&mut conn).await
        })
        .await;
        match appended {
            Ok(Ok(_ids)) => {
                backoff = Duration::from_millis(50);
                node.appended(&batch);
            }
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "no answer in time".to_owned(),
                };
                node.failed(&error);
                drop(node);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

impl StreamLog {
    /// Appending failed: past the outage grace, go offline (what waits is delivered here
    /// now, and what comes next at once).
    fn failed(&self, error: &str) {
        let mut outbox = self.outbox.lock();
        let since = *outbox.failing_since.get_or_insert_with(Instant::now);
        if outbox.offline || since.elapsed() < self.options.outage_grace {
            tracing::debug!(error, "cluster: appending to the stream failed; retrying");
            return;
        }
        tracing::warn!(error, queued = outbox.queue.len(), "cluster: Redis unreachable; broadcasts reach this node's sockets at once and wait for Redis");
        outbox.offline = true;
        for pending in outbox.queue.iter_mut().filter(|p| !p.delivered) {
            self.deliver_offline(pending);
            ClusterCounters::add(&self.counters.queued_offline, 1);
        }
    }

    /// Appending worked: `batch` is in the stream.
    fn appended(&self, batch: &[(u64, EncodedFields)]) {
        let mut outbox = self.outbox.lock();
        let mut flushed = 0;
        for (seq, _) in batch {
            if outbox.queue.front().is_some_and(|p| p.seq == *seq) {
                if let Some(p) = outbox.queue.pop_front() {
                    flushed += usize::from(p.delivered);
                }
            }
        }
        ClusterCounters::add(&self.counters.publishes, batch.len());
        ClusterCounters::add(&self.counters.flushed, flushed);
        outbox.failing_since = None;
        if outbox.offline && outbox.queue.is_empty() {
            outbox.offline = false;
            tracing::info!("cluster: Redis is back; the outbox is flushed");
        }
    }
}

/// Read the stream from `from`, in order, and serve restores at the reader's position.
async fn read_loop(
    log: Weak<StreamLog>,
    client: Client,
    mut conn: MultiplexedConnection,
    mut from: String,
    mut restores: mpsc::Receiver<RestoreRequest>,
) {
    let mut seen: HashMap<String, u64> = HashMap::new();
    let key = match log.upgrade() {
        Some(node) => node.options.key.clone(),
        None => return,
    };
    let mut read = Box::pin(xread(conn.clone(), key.clone(), from.clone()));
    let mut backoff = Duration::from_millis(50);
    loop {
        tokio::select! {
            reply = &mut read => {
                let Some(node) = log.upgrade() else { return };
                match reply {
                    Ok(reply) => {
                        backoff = Duration::from_millis(50);
                        // One write per socket for the whole batch read.
                        let _cork = Cork::new();
                        for (id, fields) in read_entries(reply) {
                            match stream_entry::decode(&fields) {
                                Ok(entry) => node.apply(&id, entry, &mut seen),
                                Err(e) => {
                                    ClusterCounters::add(&node.counters.malformed, 1);
                                    tracing::warn!(error = %e, id = %id, "cluster: stream entry skipped");
                                }
                            }
                            from = id;
                        }
                        node.position.lock().clone_from(&from);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cluster: reading the stream failed; reconnecting");
                        drop(node);
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                        match reader_connection(&client).await {
                            Ok(fresh) => conn = fresh,
                            Err(e) => tracing::debug!(error = %e, "cluster: stream reader not reconnected yet"),
                        }
                        if let Some(node) = log.upgrade() {
                            node.check_gap(&from).await;
                        }
                    }
                }
                read = Box::pin(xread(conn.clone(), key.clone(), from.clone()));
            }
            Some(request) = restores.recv() => {
                let Some(node) = log.upgrade() else { return };
                node.serve_restore(&from, request).await;
            }
        }
    }
}

impl StreamLog {
    /// Answer a restore at the reader's position `position`, then hold the reader until the
    /// socket has entered (or the hold is over).
    async fn serve_restore(&self, position: &str, request: RestoreRequest) {
        let answer = match self.restore_at(position, &request).await {
            Ok(missed) => {
                let session = request.session.clone();
                if let Some(skip) = session.skip.clone() {
                    self.live_skips
                        .lock()
                        .insert(session.record.sid.to_string(), skip);
                }
                if let Some(skip) =
                    stream_session::parse_offset(&request.offset).and_then(|(_, skip)| skip)
                {
                    self.live_skips
                        .lock()
                        .insert(session.record.sid.to_string(), skip);
                }
                let base = stream_session::parse_offset(&request.offset)
                    .and_then(|(base, _)| stream_session::parse_id(&base));
                if let (Some(base), Some(here)) = (base, stream_session::parse_id(position)) {
                    if base > here {
                        // The client saw entries this reader has yet to deliver.
                        self.floors
                            .lock()
                            .insert(session.record.sid.to_string(), base);
                    }
                }
                let (resume, resumed) = oneshot::channel();
                let expired = Arc::new(AtomicBool::new(false));
                let restored = SharedRestored {
                    session: session.record,
                    missed,
                    resume: ResumeGuard::new(resume, expired.clone()),
                };
                if request
                    .reply
                    .send(SharedRestore::Restored(restored))
                    .is_ok()
                    && tokio::time::timeout(RESTORE_HOLD, resumed).await.is_err()
                {
                    expired.store(true, Ordering::Release);
                }
                return;
            }
            Err("too much missed") => SharedRestore::TooMuchMissed,
            Err(why) => SharedRestore::Unknown(why),
        };
        let _ = request.reply.send(answer);
    }

    /// After a reconnect: if the stream no longer holds the last entry read, entries were
    /// trimmed unread (a loss, counted).
    async fn check_gap(&self, from: &str) {
        if entry_exists(&self.query, &self.options.key, from)
            .await
            .is_ok_and(|exists| !exists)
        {
            ClusterCounters::add(&self.counters.gaps, 1);
            tracing::warn!(
                from,
                "cluster: the stream was trimmed past this node's position: entries were lost"
            );
        }
    }
}

fn xread(
    mut conn: MultiplexedConnection,
    key: String,
    from: String,
) -> BoxFuture<'static, redis::RedisResult<RedisValue>> {
    Box::pin(async move {
        redis::cmd("XREAD")
            .arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(READ_BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&key)
            .arg(&from)
            .query_async(&mut conn)
            .await
    })
}
