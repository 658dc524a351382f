//! Messages from other nodes, applied to this node's sockets.

use std::sync::Arc;
use std::time::Duration;

use super::bus::ClusterCounters;
use super::message::{Message, Op, Reply, WireAckError, WireFrame, WirePayload};
use super::node::ClusterNode;
use crate::socketio::{Namespaces, SocketDescription, Targets};

/// Apply a message from the bus to this node's sockets. Messages from this node, and those
/// for a namespace this node does not have, are skipped (an ack request is still answered,
/// with no results, so the asker need not wait); a message that does not decode is dropped
/// with a warning: a bad message never stops the bus.
pub(crate) fn apply(namespaces: &Namespaces, node: &Arc<ClusterNode>, bytes: &[u8]) {
    let message = match Message::decode(bytes) {
        Ok(message) => message,
        Err(e) => {
            ClusterCounters::add(&node.counters.malformed, 1);
            tracing::warn!(error = %e, "cluster: message dropped");
            return;
        }
    };
    if message.node == node.node() {
        return;
    }
    ClusterCounters::add(&node.counters.received, 1);
    let Message {
        node: asker,
        nsp,
        targets,
        op,
    } = message;
    if let Op::Reply { request, reply } = op {
        node.deliver_reply(asker, request, reply);
        return;
    }
    let Some(ns) = namespaces.get(&nsp) else {
        match op {
            Op::EmitWithAck { request, .. } => {
                reply(node, asker, &nsp, request, Reply::Acks(Vec::new()));
            }
            Op::FetchSockets { request } => {
                reply(node, asker, &nsp, request, Reply::Sockets(Vec::new()));
            }
            _ => {}
        }
        return;
    };
    let operator = ns.broadcast().remote(targets);
    match op {
        Op::Emit {
            volatile,
            json,
            compact,
        } => {
            let operator = if volatile {
                operator.volatile()
            } else {
                operator
            };
            let json = json.map(WireFrame::into_frames);
            let compact = compact.map(WireFrame::into_frames);
            operator.deliver_encoded(json.as_deref(), compact.as_deref());
        }
        Op::Join(room) => operator.sockets_join(room),
        Op::Leave(room) => operator.sockets_leave(&room),
        Op::Disconnect { close } => operator.disconnect_sockets(close),
        Op::EmitWithAck {
            request,
            event,
            payload,
            timeout_ms,
        } => {
            let cluster = node.clone();
            let operator = operator.timeout(Duration::from_millis(timeout_ms));
            tokio::spawn(async move {
                let results = operator
                    .emit_with_ack(&event, payload.into_payload())
                    .await
                    .into_iter()
                    .map(|(sid, result)| {
                        let result = match &result {
                            Ok(payload) => Ok(WirePayload::from_payload(payload)),
                            Err(e) => Err(WireAckError::from(e)),
                        };
                        (sid.to_string(), result)
                    })
                    .collect();
                reply(&cluster, asker, &nsp, request, Reply::Acks(results));
            });
        }
        Op::ServerEvent { event, payload } => {
            ns.on_remote_server_event(&event, payload.into_payload());
        }
        Op::FetchSockets { request } => {
            let sockets = operator
                .fetch_sockets()
                .iter()
                .map(SocketDescription::of)
                .collect();
            reply(node, asker, &nsp, request, Reply::Sockets(sockets));
        }
        Op::Reply { .. } => {}
    }
}

fn reply(cluster: &ClusterNode, asker: u64, nsp: &str, request: u64, reply: Reply) {
    let op = Op::Reply { request, reply };
    if let Err(e) = cluster.publish_to(Some(asker), nsp, &Targets::default(), op) {
        tracing::warn!(error = %e, "cluster: reply not sent back");
    }
}
