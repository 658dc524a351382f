//! What travels between nodes: a [`Message`] (the publishing node, the namespace, the
//! targets and an [`Op`]), versioned and encoded with postcard, with frames and payloads as
//! bytes (a broadcast is encoded once at its origin; no node encodes it again).

use serde::{Deserialize, Serialize};

pub(crate) use crate::link::wire::{versioned, DecodeError, WireFrame, WirePayload};
use crate::socketio::{AckError, SendError, SocketDescription, Targets};

/// The results one node sends back for an ack request.
type AckReplies = Vec<(String, Result<WirePayload, WireAckError>)>;

/// A reply to a request: one per node, except in the Node adapter's dialect, where a node
/// answers an ack request with its target count, then one message per answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Reply {
    Acks(AckReplies),
    Sockets(Vec<SocketDescription>),
    /// How many answers a node will send (it has answered).
    ClientCount(usize),
    /// One answer, of a socket the node did not name.
    Ack(Result<WirePayload, WireAckError>),
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
    /// Emit with an ack id of the receiving node's own, and reply with the results.
    EmitWithAck {
        request: u64,
        event: String,
        payload: WirePayload,
        timeout_ms: u64,
    },
    /// An event for the namespace's server-side handlers (`server_side_emit`).
    ServerEvent {
        event: String,
        payload: WirePayload,
    },
    /// Describe the targets.
    FetchSockets {
        request: u64,
    },
    /// One node's reply to a request, sent to the asking node only.
    Reply {
        request: u64,
        reply: Reply,
    },
}

/// An [`AckError`] on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum WireAckError {
    Timeout,
    Disconnected,
    TooManyPending,
    Decode(String),
}

impl From<&AckError> for WireAckError {
    fn from(e: &AckError) -> WireAckError {
        match e {
            AckError::Timeout => WireAckError::Timeout,
            AckError::Disconnected => WireAckError::Disconnected,
            AckError::TooManyPending => WireAckError::TooManyPending,
            AckError::Decode(m) => WireAckError::Decode(m.clone()),
        }
    }
}

impl From<WireAckError> for AckError {
    fn from(e: WireAckError) -> AckError {
        match e {
            WireAckError::Timeout => AckError::Timeout,
            WireAckError::Disconnected => AckError::Disconnected,
            WireAckError::TooManyPending => AckError::TooManyPending,
            WireAckError::Decode(m) => AckError::Decode(m),
        }
    }
}

impl Message {
    pub(crate) fn encode(&self) -> Result<Vec<u8>, SendError> {
        versioned::encode(VERSION, self).map_err(SendError::Serialize)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        versioned::decode(VERSION, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Op::EmitWithAck {
                request: u64::MAX,
                event: "poll".into(),
                payload: WirePayload::from_payload(
                    &Payload::new().arg(&"q").unwrap().binary(vec![1u8, 2]),
                ),
                timeout_ms: 300,
            },
            Op::FetchSockets { request: 1 },
            Op::ServerEvent {
                event: "match-started".into(),
                payload: WirePayload::from_payload(&Payload::new().arg(&42).unwrap()),
            },
            Op::Reply {
                request: 1,
                reply: Reply::Acks(vec![
                    ("s1".into(), Ok(WirePayload::from_payload(&Payload::new()))),
                    ("s2".into(), Err(WireAckError::Decode("bad".into()))),
                ]),
            },
            Op::Reply {
                request: 2,
                reply: Reply::Sockets(vec![SocketDescription {
                    id: "s1".into(),
                    rooms: vec!["s1".into(), "red".into()],
                    query: vec![("EIO".into(), "4".into())],
                    auth: r#"{"token":"t"}"#.into(),
                    address: Some("127.0.0.1:5000".into()),
                }]),
            },
        ] {
            let message = message(op);
            let bytes = message.encode().unwrap();
            assert_eq!(bytes[0], VERSION);
            assert_eq!(Message::decode(&bytes).unwrap(), message);
        }
    }

    #[test]
    fn payloads_cross_the_bus_unchanged() {
        for payload in [
            Payload::new(),
            Payload::new()
                .arg(&serde_json::json!({"a": [1, 2.5, null]}))
                .unwrap()
                .binary(vec![0u8, 255]),
            Payload::from_compact(vec![7u8, 8, 9]),
        ] {
            let wire = WirePayload::from_payload(&payload);
            assert_eq!(wire.into_payload(), payload);
        }
    }

    use crate::socketio::Payload;

    #[test]
    fn bad_messages_are_refused_not_panicked_on() {
        assert!(matches!(Message::decode(&[]), Err(DecodeError::Empty)));
        assert!(matches!(
            Message::decode(&[2, 0, 0]),
            Err(DecodeError::Version(2, 1))
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
}
