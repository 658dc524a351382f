//! Scale-out: one Socket.IO server spread over several processes ("nodes").
//!
//! Every node delivers a broadcast to its own sockets, then publishes it on a bus that all
//! nodes read; each of the others delivers it to its own sockets. What travels is the
//! broadcast's targets (`to`, `except`, the excluded sender), its flags (`volatile`) and its
//! frames, already encoded at the origin, once per codec: no node encodes it again. Room
//! operations (`sockets_join`, `sockets_leave`) and `disconnect_sockets` travel the same way.
//! A broadcast made with [`BroadcastOperator::local`](crate::BroadcastOperator::local) stays
//! on its node.
//!
//! The bus is a real distributed engine: Redis pub/sub ([`RedisAdapter`], feature `redis`).
//! Pub/sub delivers at most once and in publishing order per node, as Socket.IO's own Redis
//! adapter does. Sockets, rooms and connection state recovery stay per node: a recovering
//! client gets back what its node logged, remote broadcasts included.

#[cfg(feature = "redis")]
mod redis;

#[cfg(feature = "redis")]
pub use self::redis::{RedisAdapter, RedisAdapterBuilder, RedisAdapterError};

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use bytestring::ByteString;
use serde::{Deserialize, Serialize};

use crate::error::SendError;
use crate::outbox::Frame;
use crate::server::ServerInner;

/// Where a node publishes: the sending half of a bus. Publishing never waits: a bus has a
/// bounded queue and refuses when it is full.
pub(crate) trait Bus: Send + Sync + 'static {
    fn publish(&self, message: Vec<u8>) -> Result<(), SendError>;
}

/// A server's place for its bus, shared by all its namespaces; empty on a single node.
pub(crate) struct ClusterSlot {
    node: u64,
    bus: OnceLock<Arc<dyn Bus>>,
}

impl ClusterSlot {
    pub(crate) fn new() -> ClusterSlot {
        ClusterSlot {
            node: rand::random(),
            bus: OnceLock::new(),
        }
    }

    /// This node's id on the bus (its own messages come back and are skipped).
    pub(crate) fn node(&self) -> u64 {
        self.node
    }

    /// Attach `bus`; false when one is already attached.
    pub(crate) fn attach(&self, bus: Arc<dyn Bus>) -> bool {
        self.bus.set(bus).is_ok()
    }

    pub(crate) fn is_attached(&self) -> bool {
        self.bus.get().is_some()
    }

    /// Publish `op` for namespace `nsp` to the other nodes; nothing on a single node.
    pub(crate) fn publish(&self, nsp: &str, targets: Targets, op: Op) -> Result<(), SendError> {
        let Some(bus) = self.bus.get() else {
            return Ok(());
        };
        let message = Message {
            node: self.node,
            nsp: nsp.to_owned(),
            targets,
            op,
        };
        bus.publish(message.encode()?)
    }
}

/// The format version, the first byte of every message.
const VERSION: u8 = 1;

/// One broadcast or room operation, as it travels between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Message {
    /// The publishing node.
    pub(crate) node: u64,
    pub(crate) nsp: String,
    pub(crate) targets: Targets,
    pub(crate) op: Op,
}

/// The sockets an operation is for: members of `rooms` (every socket when empty), minus
/// members of `except` and the socket `except_sid`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Targets {
    pub(crate) rooms: Vec<String>,
    pub(crate) except: Vec<String>,
    pub(crate) except_sid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Op {
    /// Deliver these frames: `json` to JSON sockets, `compact` to compact ones (a codec
    /// without frames is skipped). JSON frames carry no recovery offset; each node adds its
    /// own.
    Emit {
        volatile: bool,
        json: Option<Vec<WireFrame>>,
        compact: Option<Vec<WireFrame>>,
    },
    Join(String),
    Leave(String),
    Disconnect {
        close: bool,
    },
}

/// A frame on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum WireFrame {
    Text(String),
    Binary(Vec<u8>),
}

/// Why a message from the bus was dropped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("empty message")]
    Empty,
    #[error("format version {0}, this node reads version {VERSION}")]
    Version(u8),
    #[error("malformed message: {0}")]
    Malformed(String),
}

impl Message {
    pub(crate) fn encode(&self) -> Result<Vec<u8>, SendError> {
        let body = tickwire_protocol::compact::to_payload(self)
            .map_err(|e| SendError::Serialize(e.to_string()))?;
        let mut out = Vec::with_capacity(1 + body.len());
        out.push(VERSION);
        out.extend_from_slice(&body);
        Ok(out)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
        if version != VERSION {
            return Err(DecodeError::Version(version));
        }
        tickwire_protocol::compact::from_payload(body)
            .map_err(|e| DecodeError::Malformed(e.to_string()))
    }
}

impl WireFrame {
    pub(crate) fn from_frames(frames: &[Frame]) -> Vec<WireFrame> {
        frames
            .iter()
            .map(|frame| match frame {
                Frame::Text(text) => WireFrame::Text(text.to_string()),
                Frame::Binary(bytes) => WireFrame::Binary(bytes.to_vec()),
            })
            .collect()
    }

    pub(crate) fn into_frames(frames: Vec<WireFrame>) -> Vec<Frame> {
        frames
            .into_iter()
            .map(|frame| match frame {
                WireFrame::Text(text) => Frame::Text(ByteString::from(text)),
                WireFrame::Binary(bytes) => Frame::Binary(Bytes::from(bytes)),
            })
            .collect()
    }
}

/// Apply a message from the bus to this node's sockets. Messages from this node, for a
/// namespace this node does not have, or that do not decode are skipped (the last with a
/// warning): a bad message never stops the bus.
pub(crate) fn apply(server: &ServerInner, bytes: &[u8]) {
    let message = match Message::decode(bytes) {
        Ok(message) => message,
        Err(e) => {
            tracing::warn!(error = %e, "cluster: message dropped");
            return;
        }
    };
    if message.node == server.cluster.node() {
        return;
    }
    let Some(ns) = server.namespace(&message.nsp) else {
        return;
    };
    let operator = ns.broadcast().remote(message.targets);
    match message.op {
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
            operator.deliver_remote(
                json.map(WireFrame::into_frames),
                compact.map(WireFrame::into_frames),
            );
        }
        Op::Join(room) => operator.sockets_join(room),
        Op::Leave(room) => operator.sockets_leave(&room),
        Op::Disconnect { close } => operator.disconnect_sockets(close),
    }
}

/// Append a recovery offset as the last argument of a JSON event packet: the packet's text
/// is the event's argument array, so `…]` becomes `…,"<offset>"]`.
pub(crate) fn with_json_offset(frames: &[Frame], offset: u64) -> Option<Vec<Frame>> {
    let mut out = frames.to_vec();
    let Some(Frame::Text(text)) = out.first() else {
        return None;
    };
    let head = text.strip_suffix(']')?;
    let mut patched = String::with_capacity(text.len() + 24);
    patched.push_str(head);
    patched.push_str(",\"");
    patched.push_str(&offset.to_string());
    patched.push_str("\"]");
    out[0] = Frame::Text(ByteString::from(patched));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{encode_event, Codec};

    fn message(op: Op) -> Message {
        Message {
            node: 7,
            nsp: "/chat".into(),
            targets: Targets {
                rooms: vec!["a".into(), "b".into()],
                except: vec!["c".into()],
                except_sid: Some("sid1".into()),
            },
            op,
        }
    }

    #[test]
    fn messages_round_trip() {
        for op in [
            Op::Emit {
                volatile: true,
                json: Some(vec![
                    WireFrame::Text("451-[\"x\",{\"_placeholder\":true,\"num\":0}]".into()),
                    WireFrame::Binary(vec![0, 1, 255]),
                ]),
                compact: None,
            },
            Op::Emit {
                volatile: false,
                json: None,
                compact: Some(vec![WireFrame::Binary(vec![9; 300])]),
            },
            Op::Join("room".into()),
            Op::Leave("room".into()),
            Op::Disconnect { close: true },
        ] {
            let message = message(op);
            let bytes = message.encode().unwrap();
            assert_eq!(bytes[0], VERSION);
            assert_eq!(Message::decode(&bytes).unwrap(), message);
        }
    }

    #[test]
    fn bad_messages_are_refused_not_panicked_on() {
        assert!(matches!(Message::decode(&[]), Err(DecodeError::Empty)));
        assert!(matches!(
            Message::decode(&[2, 0, 0]),
            Err(DecodeError::Version(2))
        ));
        let good = message(Op::Join("r".into())).encode().unwrap();
        for cut in 1..good.len() {
            assert!(Message::decode(&good[..cut]).is_err(), "prefix of {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(Message::decode(&trailing).is_err());
        // A length prefix far beyond the message allocates nothing much and fails.
        let mut huge = vec![VERSION, 7, 5, b'/', b'c', b'h', b'a', b't'];
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(Message::decode(&huge).is_err());
    }

    #[test]
    fn the_offset_is_appended_as_the_last_argument() {
        let data = serde_json::json!({"a": [1, 2]});
        let base = encode_event(Codec::Json, "/", "ev", &data, None).unwrap();
        assert_eq!(
            with_json_offset(&base, 42).unwrap(),
            vec![Frame::Text(r#"42["ev",{"a":[1,2]},"42"]"#.into())]
        );
        let compact = encode_event(Codec::Compact, "/", "ev", &data, None).unwrap();
        assert_eq!(with_json_offset(&compact, 1), None);
    }
}
