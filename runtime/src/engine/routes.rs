//! [`SessionRoutes`]: which node of a cluster owns a session, asked when a request names a
//! session this node does not hold.
//!
//! A node with routes puts its tag in every session id it makes (`<tag>.<random>`, see
//! [`tickwire_protocol::engineio::handshake::tagged_sid_from_entropy`]); another node that
//! gets a request for that session finds the owner's advertised address here and forwards
//! the request there (`forward`, feature `redis`). Without routes (a single node) session ids
//! and answers are exactly those of a server on its own.
//!
//! The engine knows nothing of how the answer is found: the cluster layer implements the
//! trait (a node registry in Redis) and hands it down through the Socket.IO adapter.

use futures_util::future::BoxFuture;
use tickwire_protocol::engineio::handshake::sid_node_tag;

/// Where the sessions of a cluster live.
pub(crate) trait SessionRoutes: Send + Sync + 'static {
    /// This node's tag: every session id made here starts with it.
    fn own_tag(&self) -> &str;

    /// The advertised base URL (`http://host:port`) of the live node tagged `tag`; `None`
    /// when no live node has that tag; an error when the registry cannot be read now.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // used by the cluster layer only
    fn address_of(&self, tag: &str) -> BoxFuture<'static, Result<Option<String>, String>>;
}

/// Where a request for a session this node does not hold should go.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))] // used by the cluster layer only
pub(crate) enum Route {
    /// Nowhere: answer as a single node does (`Session ID unknown`), so the client opens a
    /// new session. The id is untagged, names this node (the session is gone), names no
    /// live node, or the request was forwarded already (never forwarded twice).
    Unknown,
    /// To the node tagged `tag`, at `base`.
    Owner {
        /// The owner's tag.
        tag: String,
        /// The owner's advertised base URL.
        base: String,
    },
    /// The registry cannot be read now.
    RegistryDown(String),
}

/// The header a forwarded request carries (its value: the forwarding node's tag). A node
/// never forwards a request that has it.
#[cfg_attr(not(feature = "redis"), allow(dead_code))] // used by the cluster layer only
pub(crate) const FORWARDED_HEADER: &str = "x-tickwire-forwarded";

/// Where a request for `sid` (not held here) goes, given the routes (if any) and whether
/// the request was forwarded already.
#[cfg_attr(not(feature = "redis"), allow(dead_code))] // used by the cluster layer only
pub(crate) async fn route(routes: Option<&dyn SessionRoutes>, sid: &str, forwarded: bool) -> Route {
    let Some(routes) = routes else {
        return Route::Unknown;
    };
    if forwarded {
        return Route::Unknown;
    }
    let Some(tag) = sid_node_tag(sid) else {
        return Route::Unknown;
    };
    if tag == routes.own_tag() {
        return Route::Unknown;
    }
    match routes.address_of(tag).await {
        Ok(Some(base)) => Route::Owner {
            tag: tag.to_owned(),
            base,
        },
        Ok(None) => Route::Unknown,
        Err(e) => Route::RegistryDown(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two nodes: `aaaa` (this one) and `bbbb` at a fixed address; `down` fails.
    struct Fixed;

    impl SessionRoutes for Fixed {
        fn own_tag(&self) -> &str {
            "aaaa"
        }

        fn address_of(&self, tag: &str) -> BoxFuture<'static, Result<Option<String>, String>> {
            let answer = match tag {
                "bbbb" => Ok(Some("http://127.0.0.1:9".to_owned())),
                "down" => Err("registry unreachable".to_owned()),
                _ => Ok(None),
            };
            Box::pin(async move { answer })
        }
    }

    fn sid(tag: &str) -> String {
        format!("{tag}.AAAAAAAAAAAAAAAAAAAA")
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures_util::FutureExt::now_or_never(f).expect("ready at once")
    }

    #[test]
    fn another_live_nodes_session_goes_to_its_owner() {
        assert_eq!(
            block_on(route(Some(&Fixed), &sid("bbbb"), false)),
            Route::Owner {
                tag: "bbbb".into(),
                base: "http://127.0.0.1:9".into()
            }
        );
    }

    #[test]
    fn a_forwarded_request_is_never_forwarded_again() {
        assert_eq!(
            block_on(route(Some(&Fixed), &sid("bbbb"), true)),
            Route::Unknown
        );
    }

    #[test]
    fn unknown_owners_untagged_ids_and_own_ids_are_unknown_sessions() {
        for id in [sid("cccc"), sid("aaaa"), "AAAAAAAAAAAAAAAAAAAA".to_owned()] {
            assert_eq!(block_on(route(Some(&Fixed), &id, false)), Route::Unknown);
        }
        // A single node: never routed.
        assert_eq!(block_on(route(None, &sid("bbbb"), false)), Route::Unknown);
    }

    #[test]
    fn a_registry_failure_is_reported() {
        assert_eq!(
            block_on(route(Some(&Fixed), &sid("down"), false)),
            Route::RegistryDown("registry unreachable".into())
        );
    }
}
