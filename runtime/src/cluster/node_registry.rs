//! [`NodeRegistry`]: the cluster's registry of advertised addresses in Redis, for long-polling
//! and websocket upgrades through any node (no sticky sessions).
//!
//! Each node that advertises an address keeps one key, `<prefix><tag>` = its base URL
//! (`http://10.0.0.5:3000`), with a TTL that its heartbeat renews; its tag starts every
//! Engine.IO session id it makes. A node that gets a request for a session of another tag
//! reads that tag's key (cached a short while) and forwards the request there; a tag without
//! a key belongs to a node that is gone, and the client is told its session is unknown.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use redis::aio::ConnectionManager;
use redis::Client;
use tokio::task::JoinHandle;

use super::node::ClusterNode;
use super::redis_pubsub::RedisAdapterError;
use crate::socketio::SessionRoutes;

/// How long a node's key outlives its last heartbeat.
pub(crate) const ENTRY_TTL: Duration = Duration::from_secs(10);

/// How often a node renews its key.
const HEARTBEAT: Duration = Duration::from_secs(3);

/// How long an address read from Redis is used without reading it again.
const CACHE_FRESH: Duration = Duration::from_secs(2);

/// Most addresses cached (only real nodes' keys are ever cached).
const MAX_CACHED: usize = 1024;

/// This node's entry in the registry, and the other nodes' addresses it has read.
pub(crate) struct NodeRegistry {
    tag: String,
    prefix: String,
    conn: ConnectionManager,
    cache: Arc<Mutex<HashMap<String, (String, Instant)>>>,
}

/// Check that `url` is a base URL the hop can reach: `http://host[:port]`, no path.
pub(crate) fn check_advertised(url: &str) -> Result<String, RedisAdapterError> {
    let bad = |why: &str| RedisAdapterError::Advertise(format!("{url:?}: {why}"));
    let uri: actix_web::http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(bad(
            "the address must be http://host:port (the hop between nodes is plain HTTP)",
        ));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(bad("no path or query: the mount path is this server's own"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// This node's tag in session ids, from its node id.
pub(crate) fn tag_of(node_id: u64) -> String {
    tickwire_protocol::engineio::handshake::node_tag_from_entropy(node_id.to_be_bytes())
}

impl NodeRegistry {
    /// Register node `node_id` at `advertised` under `prefix` (the key written before this
    /// returns), keep it alive with a heartbeat task, and hand the routes to `node`.
    pub(crate) async fn start(
        client: &Client,
        prefix: String,
        node_id: u64,
        advertised: String,
        node: &ClusterNode,
    ) -> Result<JoinHandle<()>, RedisAdapterError> {
        let mut conn = ConnectionManager::new(client.clone())
            .await
            .map_err(super::redis_pubsub::unreachable)?;
        let tag = tag_of(node_id);
        let key = format!("{prefix}{tag}");
        renew(&mut conn, &key, &advertised)
            .await
            .map_err(super::redis_pubsub::unreachable)?;
        let heartbeat = tokio::spawn(heartbeat(conn.clone(), key, advertised.clone()));
        tracing::info!(tag = %tag, address = %advertised, "cluster: this node's sessions are reachable through any node");
        node.set_routes(Arc::new(NodeRegistry {
            tag,
            prefix,
            conn,
            cache: Arc::default(),
        }));
        Ok(heartbeat)
    }
}

async fn renew(
    conn: &mut ConnectionManager,
    key: &str,
    advertised: &str,
) -> redis::RedisResult<()> {
    redis::cmd("SET")
        .arg(key)
        .arg(advertised)
        .arg("PX")
        .arg(ENTRY_TTL.as_millis() as u64)
        .query_async(conn)
        .await
}

/// Renew this node's key every [`HEARTBEAT`] (failures are logged; the connection
/// reconnects by itself).
async fn heartbeat(mut conn: ConnectionManager, key: String, advertised: String) {
    let mut ticks = tokio::time::interval(HEARTBEAT);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if let Err(e) = renew(&mut conn, &key, &advertised).await {
            tracing::warn!(error = %e, "cluster: cannot renew this node's registry entry");
        }
    }
}

impl SessionRoutes for NodeRegistry {
    fn own_tag(&self) -> &str {
        &self.tag
    }

    fn address_of(&self, tag: &str) -> BoxFuture<'static, Result<Option<String>, String>> {
        let cached = self.cache.lock().get(tag).cloned();
        if let Some((address, at)) = &cached {
            if at.elapsed() < CACHE_FRESH {
                let address = address.clone();
                return Box::pin(async move { Ok(Some(address)) });
            }
        }
        let (mut conn, cache) = (self.conn.clone(), self.cache.clone());
        let (tag, key) = (tag.to_owned(), format!("{}{tag}", self.prefix));
        Box::pin(async move {
            let read: redis::RedisResult<Option<String>> =
                redis::cmd("GET").arg(&key).query_async(&mut conn).await;
            match read {
                Ok(Some(address)) => {
                    let mut cache = cache.lock();
                    if cache.len() >= MAX_CACHED {
                        cache.clear();
                    }
                    cache.insert(tag, (address.clone(), Instant::now()));
                    Ok(Some(address))
                }
                Ok(None) => {
                    cache.lock().remove(&tag);
                    Ok(None)
                }
                // Redis away: an address read within the entry's TTL still holds.
                Err(e) => match cached {
                    Some((address, at)) if at.elapsed() < ENTRY_TTL => Ok(Some(address)),
                    _ => Err(e.to_string()),
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_addresses_are_plain_http_base_urls() {
        assert_eq!(
            check_advertised("http://10.0.0.5:3000/").expect("valid"),
            "http://10.0.0.5:3000"
        );
        assert!(check_advertised("http://node-a:3000").is_ok());
        for bad in [
            "10.0.0.5:3000",
            "https://10.0.0.5:3000",
            "http://10.0.0.5:3000/socket.io",
            "http://10.0.0.5:3000/?x=1",
            "not a url",
        ] {
            assert!(check_advertised(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_nodes_tag_is_a_valid_session_id_prefix() {
        let tag = tag_of(0x0123_4567_89ab_cdef);
        assert!(tickwire_protocol::engineio::handshake::is_node_tag(&tag));
        assert_ne!(tag, tag_of(1));
    }
}
