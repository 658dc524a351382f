//! Revocations across a cluster on Redis (feature `redis`): one key per revoked session,
//! `<prefix>:revoked:<jti>`, that expires when no token of the session can be valid any more
//! (`SET ... EXAT`), read with `EXISTS` at every connect and renewal; and a pub/sub channel,
//! `<prefix>:revoked`, on which every node hears each revocation at once and disconnects its
//! sockets of that session.

use std::sync::{Arc, Weak};
use std::time::SystemTime;

use futures_util::future::BoxFuture;
use redis::aio::ConnectionManager;
use redis::Client;
use tokio::task::JoinHandle;

use super::error::RevokeError;
use super::revocation::{Listener, Listeners, Revocations, Store};
use super::token::unix_secs;
use crate::link::redis::{read_channel, subscribe};

struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    listeners: Listeners,
    reader: parking_lot::Mutex<Option<JoinHandle<()>>>,
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.lock().take() {
            reader.abort();
        }
    }
}

impl RedisStore {
    fn key(&self, jti: &str) -> String {
        format!("{}:revoked:{jti}", self.prefix)
    }

    fn channel(prefix: &str) -> String {
        format!("{prefix}:revoked")
    }
}

impl Revocations {
    /// Revocations kept in the Redis at `url` under `prefix` (e.g. `tickwire-auth`; nodes of
    /// one cluster share it), heard by every node through its pub/sub channel. Connects and
    /// subscribes now; afterwards the connection and the subscription come back by
    /// themselves when Redis goes away (meanwhile connects and renewals are refused with
    /// `unavailable`, and a revocation made then reaches live sockets at their next renewal).
    /// Must be called within a tokio runtime (an actix `System` is one).
    pub async fn redis(url: &str, prefix: &str) -> Result<Revocations, RevokeError> {
        let unreachable = |e: redis::RedisError| RevokeError::Store(e.to_string());
        let client = Client::open(url).map_err(unreachable)?;
        let conn = ConnectionManager::new(client.clone())
            .await
            .map_err(unreachable)?;
        let channels = vec![RedisStore::channel(prefix)];
        let messages = subscribe(&client, &channels).await.map_err(unreachable)?;
        let store = Arc::new(RedisStore {
            conn,
            prefix: prefix.to_owned(),
            listeners: Listeners::default(),
            reader: parking_lot::Mutex::new(None),
        });
        let reader = tokio::spawn(read_channel(
            client,
            channels,
            messages,
            Arc::downgrade(&store),
            on_revocation,
            None,
            None,
        ));
        *store.reader.lock() = Some(reader);
        Ok(Revocations(store))
    }
}

impl Store for RedisStore {
    fn revoke(&self, jti: String, until: u64) -> BoxFuture<'static, Result<(), RevokeError>> {
        let mut conn = self.conn.clone();
        let key = self.key(&jti);
        let channel = RedisStore::channel(&self.prefix);
        Box::pin(async move {
            let mut pipe = redis::pipe();
            pipe.atomic();
            if until > unix_secs(SystemTime::now()) {
                pipe.cmd("SET")
                    .arg(&key)
                    .arg(1)
                    .arg("EXAT")
                    .arg(until)
                    .ignore();
            }
            pipe.cmd("PUBLISH").arg(&channel).arg(&jti).ignore();
            pipe.query_async::<()>(&mut conn)
                .await
                .map_err(|e| RevokeError::Store(e.to_string()))
        })
    }

    fn is_revoked(&self, jti: String) -> BoxFuture<'static, Result<bool, String>> {
        let mut conn = self.conn.clone();
        let key = self.key(&jti);
        Box::pin(async move {
            redis::cmd("EXISTS")
                .arg(&key)
                .query_async::<bool>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn listen(&self, listener: Weak<Listener>) {
        self.listeners.add(listener);
    }
}

/// A revocation heard (this node's own included).
fn on_revocation(store: &RedisStore, payload: &[u8]) {
    match std::str::from_utf8(payload) {
        Ok(jti) => store.listeners.notify(jti),
        Err(_) => tracing::warn!("auth: a revocation that is not UTF-8 was skipped"),
    }
}
