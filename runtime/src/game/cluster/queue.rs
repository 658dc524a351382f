//! The matchmaking queues of a game cluster, in Redis: one sorted set of tickets per mode
//! (by the time they were queued), each ticket's player and node in a hash, all updated by
//! scripts so that exactly one node takes each group.
//!
//! Keys, under the cluster's prefix `p`:
//! - `p:queue:<mode>`: ticket ids, scored by enqueue time (ms);
//! - `p:ticket:<id>`: `player` (JSON), `node`, `since`; expires with the ticket's timeout;
//! - `p:placing:<group>`: a group taken from a queue and the node asked to host it, until
//!   that node has seated it (expires after [`PLACING_TTL_MS`]): if the host dies first, its
//!   tickets go back to the queue with their places;
//! - `p:placed`: per node, the groups ever placed on it. With the count of groups it hosted
//!   (in its heartbeat) this gives the groups on their way to it, which placement counts as
//!   its load until its next heartbeat shows them.

use redis::aio::ConnectionManager;
use redis::Script;

use super::wire::QueuedTicket;

/// How long a group may wait for its host to seat it.
pub(crate) const PLACING_TTL_MS: u64 = 30_000;

const ENQUEUE: &str = r"
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return -1 end
redis.call('HSET', KEYS[2], 'player', ARGV[3], 'node', ARGV[4], 'since', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[6])
return redis.call('ZCARD', KEYS[1])
";

const GROUP: &str = r"
local n = redis.call('ZCARD', KEYS[1])
local size = tonumber(ARGV[1])
local take = 0
if n >= size then
  take = size
elseif n > 0 and n >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if tonumber(oldest[2]) <= tonumber(ARGV[4]) - tonumber(ARGV[3]) then take = n end
end
if take == 0 then return {} end
local popped = redis.call('ZPOPMIN', KEYS[1], take)
local out = {}
for i = 1, #popped, 2 do
  local key = ARGV[5] .. ':ticket:' .. popped[i]
  local t = redis.call('HMGET', key, 'player', 'node')
  redis.call('DEL', key)
  if t[1] then
    table.insert(out, popped[i]); table.insert(out, popped[i + 1])
    table.insert(out, t[1]); table.insert(out, t[2])
  end
end
if #out > 0 then
  local placing = ARGV[5] .. ':placing:' .. ARGV[6]
  redis.call('HSET', placing, 'host', ARGV[7], 'mode', ARGV[8], 'tickets', cjson.encode(out))
  redis.call('PEXPIRE', placing, ARGV[9])
end
return out
";

const ASSIGN: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'host', ARGV[1])
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
return 1
";

const REQUEUE: &str = r"
local host = redis.call('HGET', KEYS[1], 'host')
if host ~= ARGV[1] then return 0 end
local mode = redis.call('HGET', KEYS[1], 'mode')
local t = cjson.decode(redis.call('HGET', KEYS[1], 'tickets'))
redis.call('DEL', KEYS[1])
local back = 0
for i = 1, #t, 4 do
  if t[i + 3] ~= ARGV[1] then
    local key = ARGV[2] .. ':ticket:' .. t[i]
    redis.call('HSET', key, 'player', t[i + 2], 'node', t[i + 3], 'since', t[i + 1])
    redis.call('PEXPIRE', key, ARGV[3])
    redis.call('ZADD', ARGV[2] .. ':queue:' .. mode, t[i + 1], t[i])
    back = back + 1
  end
end
return back
";

/// Why a ticket was not queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum QueueError {
    Full,
    Redis(String),
}

/// The queues of one cluster (its key prefix) on one connection.
#[derive(Clone)]
pub(crate) struct Queues {
    prefix: String,
    conn: ConnectionManager,
}

fn redis_error(e: redis::RedisError) -> QueueError {
    QueueError::Redis(e.to_string())
}

impl Queues {
    pub(crate) fn new(prefix: String, conn: ConnectionManager) -> Queues {
        Queues { prefix, conn }
    }

    fn queue_key(&self, mode: &str) -> String {
        format!("{}:queue:{mode}", self.prefix)
    }

    /// Queue `ticket` in `mode` unless `max_queued` wait there already; it expires after
    /// `ttl_ms`. Returns the queue's length.
    pub(crate) async fn enqueue(
        &self,
        mode: &str,
        ticket: &QueuedTicket,
        max_queued: usize,
        ttl_ms: u64,
    ) -> Result<usize, QueueError> {
        let length: i64 = Script::new(ENQUEUE)
            .key(self.queue_key(mode))
            .key(format!("{}:ticket:{}", self.prefix, ticket.id))
            .arg(max_queued)
            .arg(ticket.since)
            .arg(&ticket.player)
            .arg(ticket.node.to_string())
            .arg(ttl_ms.max(1))
            .arg(&ticket.id)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        usize::try_from(length).map_err(|_| QueueError::Full)
    }

    /// Take ticket `id` out of `mode`'s queue (it left, or timed out).
    pub(crate) async fn cancel(&self, mode: &str, id: &str) -> Result<(), QueueError> {
        redis::pipe()
            .zrem(self.queue_key(mode), id)
            .ignore()
            .del(format!("{}:ticket:{id}", self.prefix))
            .ignore()
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(redis_error)
    }

    /// Take a group from `mode`'s queue, to be hosted by `taker` until [`Queues::assign`]
    /// names its host: `size` tickets, or at least `min_group` once the oldest has waited
    /// `max_wait_ms`; none otherwise. Atomic: no ticket goes to two groups.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn take_group(
        &self,
        mode: &str,
        size: usize,
        min_group: usize,
        max_wait_ms: u64,
        now_ms: u64,
        group: &str,
        taker: u64,
    ) -> Result<Vec<QueuedTicket>, QueueError> {
        let flat: Vec<String> = Script::new(GROUP)
            .key(self.queue_key(mode))
            .arg(size.max(1))
            .arg(min_group.max(1))
            .arg(max_wait_ms)
            .arg(now_ms)
            .arg(&self.prefix)
            .arg(group)
            .arg(taker.to_string())
            .arg(mode)
            .arg(PLACING_TTL_MS)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        Ok(flat
            .chunks_exact(4)
            .filter_map(|t| {
                Some(QueuedTicket {
                    id: t[0].clone(),
                    since: t[1].parse().ok()?,
                    player: t[2].clone(),
                    node: t[3].parse().ok()?,
                })
            })
            .collect())
    }

    /// Group `group` goes to `host`: if `host` dies before seating it, its tickets go back
    /// to the queue; and it counts among the groups placed on `host`.
    pub(crate) async fn assign(&self, group: &str, host: u64) -> Result<(), QueueError> {
        Script::new(ASSIGN)
            .key(format!("{}:placing:{group}", self.prefix))
            .key(format!("{}:placed", self.prefix))
            .arg(host.to_string())
            .arg(format!("{host:016x}"))
            .invoke_async::<i64>(&mut self.conn.clone())
            .await
            .map(drop)
            .map_err(redis_error)
    }

    /// The host seated group `group`: forget it.
    pub(crate) async fn placed(&self, group: &str) -> Result<(), QueueError> {
        redis::cmd("DEL")
            .arg(format!("{}:placing:{group}", self.prefix))
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(redis_error)
    }

    /// Node `dead` was to host groups it never seated: their tickets of other nodes go back
    /// to their queues, with their places (and `ttl_ms` to live). Returns how many.
    pub(crate) async fn requeue_hosted_by(
        &self,
        dead: u64,
        ttl_ms: u64,
    ) -> Result<usize, QueueError> {
        let pattern = format!("{}:placing:*", self.prefix);
        let keys: Vec<String> = scan(&mut self.conn.clone(), &pattern)
            .await
            .map_err(redis_error)?;
        let mut back = 0;
        for key in keys {
            let n: i64 = Script::new(REQUEUE)
                .key(key)
                .arg(dead.to_string())
                .arg(&self.prefix)
                .arg(ttl_ms.max(1))
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            back += usize::try_from(n).unwrap_or(0);
        }
        Ok(back)
    }

    /// Drop the tickets of node `dead` from `mode`'s queue (their sockets died with it).
    pub(crate) async fn drop_tickets_of(&self, mode: &str, dead: u64) -> Result<usize, QueueError> {
        let queue = self.queue_key(mode);
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(&queue)
            .arg(0)
            .arg(-1)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        let prefix = format!("{dead:016x}.");
        let mut dropped = 0;
        for id in ids.iter().filter(|id| id.starts_with(&prefix)) {
            self.cancel(mode, id).await?;
            dropped += 1;
        }
        Ok(dropped)
    }

    /// Tickets waiting in `mode`.
    pub(crate) async fn length(&self, mode: &str) -> Result<usize, QueueError> {
        redis::cmd("ZCARD")
            .arg(self.queue_key(mode))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)
    }
}

/// Every key matching `pattern` (SCAN, so that a large keyspace is not blocked on).
pub(crate) async fn scan(
    conn: &mut ConnectionManager,
    pattern: &str,
) -> redis::RedisResult<Vec<String>> {
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(500)
            .query_async(conn)
            .await?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}
