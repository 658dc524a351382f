//! [`ClusterNode`]: one node of a cluster, the [`Adapter`] its server calls. It publishes
//! operations on its [`Bus`], and turns requests (broadcast acks, remote sockets) into a
//! message, a wait for one reply per other node, and the results.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

use super::bus::{Bus, ClusterCounters};
use super::message::{Message, Op, Reply, WireAckError, WireFrame, WirePayload};
use crate::link::Awaiting;
use crate::socketio::{
    AckError, Adapter, EncodedBroadcast, Payload, SendError, SessionRoutes, SharedRecovery,
    SocketDescription, SocketId, Targets,
};

/// How long past its timeout an ack request waits for the other nodes' replies (transit).
const REPLY_GRACE: Duration = Duration::from_secs(2);

/// Most answers awaited for one ack request from all the other nodes: the counts peers
/// announce are capped to it before anything is allocated or awaited from them.
pub(crate) const MAX_ANNOUNCED_ANSWERS: usize = 1 << 16;

/// One node of a cluster: the [`Adapter`] a server calls, over a [`Bus`] that carries its
/// messages, with the requests it awaits replies to.
pub(crate) struct ClusterNode {
    node: u64,
    /// Itself, for the futures of requests (they outlive the call that starts them).
    me: Weak<ClusterNode>,
    bus: Arc<dyn Bus>,
    pub(crate) counters: Arc<ClusterCounters>,
    /// Requests of this node waiting for the other nodes' replies.
    requests: Awaiting<mpsc::UnboundedSender<(u64, Reply)>>,
    /// The log every node reads, when the bus has one (Redis streams): it delivers this
    /// node's broadcasts here too, in its order, and keeps the recovery sessions.
    log: Option<Arc<dyn SharedRecovery>>,
    /// The node registry, when this node advertises an address (sessions of other nodes
    /// are then forwarded to their owners).
    routes: OnceLock<Arc<dyn SessionRoutes>>,
}

impl ClusterNode {
    /// Node `node` publishing on `bus`, counting into `counters`.
    pub(crate) fn new(
        node: u64,
        bus: Arc<dyn Bus>,
        counters: Arc<ClusterCounters>,
    ) -> Arc<ClusterNode> {
        Self::with_log(node, bus, counters, None)
    }

    /// Node `node` on a bus with a log every node reads (which delivers this node's own
    /// broadcasts, and keeps recovery sessions).
    pub(crate) fn with_log(
        node: u64,
        bus: Arc<dyn Bus>,
        counters: Arc<ClusterCounters>,
        log: Option<Arc<dyn SharedRecovery>>,
    ) -> Arc<ClusterNode> {
        Arc::new_cyclic(|me| ClusterNode {
            node,
            me: me.clone(),
            bus,
            counters,
            requests: Awaiting::default(),
            log,
            routes: OnceLock::new(),
        })
    }

    /// Hand `routes` to the server this node is attached to (set before attaching).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn set_routes(&self, routes: Arc<dyn SessionRoutes>) {
        let _ = self.routes.set(routes);
    }

    fn self_ref(&self) -> Option<Arc<ClusterNode>> {
        self.me.upgrade()
    }

    /// This node's id on the bus (its own messages come back and are skipped).
    pub(crate) fn node(&self) -> u64 {
        self.node
    }

    /// Publish `op` for namespace `nsp` to every other node.
    pub(crate) fn publish(&self, nsp: &str, targets: &Targets, op: Op) -> Result<(), SendError> {
        self.publish_to(None, nsp, targets, op)
    }

    /// Publish `op` to every other node (`to: None`), or to one node's own channel.
    pub(crate) fn publish_to(
        &self,
        to: Option<u64>,
        nsp: &str,
        targets: &Targets,
        op: Op,
    ) -> Result<(), SendError> {
        let message = Message {
            node: self.node,
            nsp: nsp.to_owned(),
            targets: targets.clone(),
            op,
        };
        self.bus.publish(to, &message)?;
        ClusterCounters::add(&self.counters.published, 1);
        Ok(())
    }

    /// Ask every other node for a reply to `op` (made with a fresh request id) and collect
    /// one reply per node until `wait` has passed. A node that does not reply in time
    /// contributes nothing; a bus failure is logged and yields no replies.
    async fn request(
        &self,
        nsp: &str,
        targets: &Targets,
        op: impl FnOnce(u64) -> Op,
        wait: Duration,
    ) -> Vec<(u64, Reply)> {
        let others = match self.bus.node_count(nsp).await {
            Ok(n) => n.saturating_sub(1),
            Err(e) => {
                tracing::warn!(error = %e, "cluster: cannot count nodes; this node only");
                return Vec::new();
            }
        };
        if others == 0 {
            return Vec::new();
        }
        let request: u64 = rand::random();
        let (tx, mut rx) = mpsc::unbounded_channel();
        // Gone when this request ends, even if its caller stops waiting for it first.
        let _awaited = self.requests.insert(request, tx);
        // The count comes from Redis: no allocation is sized by it.
        let mut replies = Vec::new();
        match self.publish(nsp, targets, op(request)) {
            Ok(()) => {
                let deadline = tokio::time::Instant::now() + wait;
                // Nodes that answered, and answers announced but not yet received.
                let (mut answered, mut announced) = (0, 0usize);
                while answered < others || announced > 0 {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(reply)) => {
                            match &reply.1 {
                                Reply::ClientCount(n) => {
                                    answered += 1;
                                    announced = (announced + n).min(MAX_ANNOUNCED_ANSWERS);
                                }
                                Reply::Ack(_) => announced = announced.saturating_sub(1),
                                Reply::Acks(_) | Reply::Sockets(_) => answered += 1,
                            }
                            replies.push(reply);
                        }
                        _ => break,
                    }
                }
                if answered < others {
                    let answered: Vec<String> = replies
                        .iter()
                        .map(|(node, _)| format!("{node:016x}"))
                        .collect();
                    tracing::warn!(
                        expected = others,
                        answered = ?answered,
                        "cluster: not every node replied in time; results from those that did"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "cluster: request not published"),
        }
        replies
    }

    /// Ask the other nodes to emit `event` with `payload` to their targets and collect one
    /// result per target within `timeout` (plus a grace period for the replies' transit).
    async fn emit_with_ack_inner(
        &self,
        nsp: &str,
        targets: &Targets,
        event: &str,
        payload: &Payload,
        timeout: Duration,
    ) -> Vec<(SocketId, Result<Payload, AckError>)> {
        let op = |request| Op::EmitWithAck {
            request,
            event: event.to_owned(),
            payload: WirePayload::from_payload(payload),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        };
        let replies = self.request(nsp, targets, op, timeout + REPLY_GRACE).await;
        let answer = |result: Result<WirePayload, WireAckError>| {
            result
                .map(WirePayload::into_payload)
                .map_err(AckError::from)
        };
        let mut results = Vec::new();
        let mut announced = 0;
        for (_, reply) in replies {
            match reply {
                Reply::Acks(acks) => results.extend(
                    acks.into_iter()
                        .map(|(sid, result)| (SocketId::from(sid), answer(result))),
                ),
                Reply::ClientCount(n) => announced = (announced + n).min(MAX_ANNOUNCED_ANSWERS),
                Reply::Ack(result) => {
                    announced = announced.saturating_sub(1);
                    results.push((SocketId::from(""), answer(result)));
                }
                Reply::Sockets(_) => {}
            }
        }
        // Answers announced and never received timed out at their node.
        results.extend((0..announced).map(|_| (SocketId::from(""), Err(AckError::Timeout))));
        results
    }

    /// The targets of the other nodes, as each describes them, within `wait`.
    async fn fetch_sockets_inner(
        &self,
        nsp: &str,
        targets: &Targets,
        wait: Duration,
    ) -> Vec<(u64, SocketDescription)> {
        let replies = self
            .request(nsp, targets, |request| Op::FetchSockets { request }, wait)
            .await;
        let mut sockets = Vec::new();
        for (node, reply) in replies {
            if let Reply::Sockets(described) = reply {
                sockets.extend(described.into_iter().map(|socket| (node, socket)));
            }
        }
        sockets
    }

    /// Hand another node's reply to the request waiting for it (if it still waits).
    pub(crate) fn deliver_reply(&self, node: u64, request: u64, reply: Reply) {
        let _ = self.requests.with(request, |tx| tx.send((node, reply)));
    }
}

impl Adapter for ClusterNode {
    fn node_id(&self) -> u64 {
        self.node
    }

    fn broadcast(
        &self,
        nsp: &str,
        targets: &Targets,
        broadcast: EncodedBroadcast<'_>,
    ) -> Result<(), SendError> {
        let op = Op::Emit {
            volatile: broadcast.volatile,
            json: broadcast.json.map(WireFrame::from_frames),
            compact: broadcast.compact.map(WireFrame::from_frames),
        };
        self.publish(nsp, targets, op)
    }

    fn sockets_join(&self, nsp: &str, targets: &Targets, room: &str) -> Result<(), SendError> {
        self.publish(nsp, targets, Op::Join(room.to_owned()))
    }

    fn sockets_leave(&self, nsp: &str, targets: &Targets, room: &str) -> Result<(), SendError> {
        self.publish(nsp, targets, Op::Leave(room.to_owned()))
    }

    fn disconnect_sockets(
        &self,
        nsp: &str,
        targets: &Targets,
        close: bool,
    ) -> Result<(), SendError> {
        self.publish(nsp, targets, Op::Disconnect { close })
    }

    fn server_side_emit(&self, nsp: &str, event: &str, payload: &Payload) -> Result<(), SendError> {
        let op = Op::ServerEvent {
            event: event.to_owned(),
            payload: WirePayload::from_payload(payload),
        };
        self.publish(nsp, &Targets::default(), op)
    }

    fn emit_with_ack(
        &self,
        nsp: &str,
        targets: &Targets,
        event: &str,
        payload: &Payload,
        timeout: Duration,
    ) -> BoxFuture<'static, Vec<(SocketId, Result<Payload, AckError>)>> {
        // The future outlives the call: it owns what it needs, the node included.
        let node = self.self_ref();
        let (nsp, targets, event, payload) = (
            nsp.to_owned(),
            targets.clone(),
            event.to_owned(),
            payload.clone(),
        );
        Box::pin(async move {
            match node {
                Some(node) => {
                    node.emit_with_ack_inner(&nsp, &targets, &event, &payload, timeout)
                        .await
                }
                None => Vec::new(),
            }
        })
    }

    fn fetch_sockets(
        &self,
        nsp: &str,
        targets: &Targets,
        timeout: Duration,
    ) -> BoxFuture<'static, Vec<(u64, SocketDescription)>> {
        let node = self.self_ref();
        let (nsp, targets) = (nsp.to_owned(), targets.clone());
        Box::pin(async move {
            match node {
                Some(node) => node.fetch_sockets_inner(&nsp, &targets, timeout).await,
                None => Vec::new(),
            }
        })
    }

    fn namespace_added(&self, nsp: &str) {
        self.bus.namespace_added(nsp);
    }

    fn namespace_removed(&self, nsp: &str) {
        self.bus.namespace_removed(nsp);
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        self.counters.snapshot()
    }

    fn shared_recovery(&self) -> Option<Arc<dyn SharedRecovery>> {
        self.log.clone()
    }

    fn delivers_locally(&self) -> bool {
        self.log.is_some()
    }

    fn session_routes(&self) -> Option<Arc<dyn SessionRoutes>> {
        self.routes.get().cloned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use super::*;

    /// A bus with one other node that answers every ack request by announcing `announce`
    /// answers and sending none.
    struct Boastful {
        node: OnceLock<Arc<ClusterNode>>,
        announce: usize,
    }

    impl Bus for Boastful {
        fn publish(&self, _to: Option<u64>, message: &Message) -> Result<(), SendError> {
            if let (Op::EmitWithAck { request, .. }, Some(node)) = (&message.op, self.node.get()) {
                node.deliver_reply(1, *request, Reply::ClientCount(self.announce));
            }
            Ok(())
        }

        fn node_count(&self, _nsp: &str) -> BoxFuture<'static, Result<usize, String>> {
            Box::pin(async { Ok(2) })
        }
    }

    #[tokio::test]
    async fn an_announced_answer_count_is_capped_before_anything_is_allocated() {
        let bus = Arc::new(Boastful {
            node: OnceLock::new(),
            announce: usize::MAX,
        });
        let node = ClusterNode::new(1, bus.clone(), Arc::default());
        let _ = bus.node.set(node.clone());
        let results = node
            .emit_with_ack(
                "/",
                &Targets::default(),
                "ev",
                &Payload::new(),
                Duration::ZERO,
            )
            .await;
        // Every announced answer times out; there are at most the cap of them.
        assert_eq!(results.len(), MAX_ANNOUNCED_ANSWERS);
        assert!(results.iter().all(|(_, r)| *r == Err(AckError::Timeout)));
    }

    /// A bus with one other node that never answers.
    struct Silent;

    impl Bus for Silent {
        fn publish(&self, _to: Option<u64>, _message: &Message) -> Result<(), SendError> {
            Ok(())
        }

        fn node_count(&self, _nsp: &str) -> BoxFuture<'static, Result<usize, String>> {
            Box::pin(async { Ok(2) })
        }
    }

    #[tokio::test]
    async fn a_caller_that_stops_waiting_leaves_no_request_behind() {
        use futures_util::FutureExt;
        let node = ClusterNode::new(1, Arc::new(Silent), Arc::default());
        for _ in 0..3 {
            // Polled once (the request is out, its reply awaited), then dropped: the caller
            // stopped waiting before the node's own wait ended.
            let call = node.fetch_sockets("/", &Targets::default(), Duration::from_secs(5));
            assert!(call.now_or_never().is_none());
        }
        assert_eq!(node.requests.len(), 0);
        // Awaited to the end, it is gone too.
        let sockets = node
            .fetch_sockets("/", &Targets::default(), Duration::ZERO)
            .await;
        assert!(sockets.is_empty());
        assert_eq!(node.requests.len(), 0);
    }
}
