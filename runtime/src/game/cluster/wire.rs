//! What the nodes of a game cluster tell each other, on each node's own channel.

use serde::{Deserialize, Serialize};

use super::super::seats::JoinError;
use crate::link::wire::{versioned, DecodeError, WireFrame, WirePayload};

/// The format version, the first byte of every message.
const VERSION: u8 = 1;

/// A message from node `from`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Envelope {
    pub(crate) from: u64,
    pub(crate) body: Body,
}

/// A ticket as it waits in the queue of its mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct QueuedTicket {
    pub(crate) id: String,
    /// The node its player is connected to.
    pub(crate) node: u64,
    /// The player, as JSON text.
    pub(crate) player: String,
    /// When it was queued (ms since the Unix epoch): it keeps its place if requeued.
    pub(crate) since: u64,
}

/// One socket of a delivery, with its codec (`true`: compact).
pub(crate) type WireMember = (String, bool);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Body {
    /// Host a match for this group (from the node that formed it).
    Spawn {
        group: String,
        mode: String,
        tickets: Vec<QueuedTicket>,
        bots: usize,
    },
    /// A ticket of this node was seated.
    Assigned {
        ticket: String,
        match_id: u64,
        token: String,
        bots: usize,
    },
    /// An operation on a match of the receiving node, answered with [`Body::Reply`].
    Request {
        request: u64,
        match_id: u64,
        op: MatchOp,
    },
    Reply {
        request: u64,
        result: Result<Answer, WireJoinError>,
    },
    /// An input of a seat taken from the sending node.
    Input {
        match_id: u64,
        token: String,
        payload: WirePayload,
    },
    /// The sending node's socket `socket` dropped from the seat of `token`.
    Dropped {
        match_id: u64,
        token: String,
        socket: String,
    },
    /// A match's snapshot for sockets of the receiving node (latest class).
    Latest {
        key: u64,
        nsp: String,
        json: Option<Vec<WireFrame>>,
        compact: Option<Vec<WireFrame>>,
        members: Vec<WireMember>,
    },
    /// A match's event for one socket of the receiving node.
    Reliable {
        nsp: String,
        member: String,
        frames: Vec<WireFrame>,
    },
    /// The socket no longer holds a seat of that match.
    Released {
        nsp: String,
        member: String,
        match_id: u64,
    },
}

/// What a node asks of a match it does not host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum MatchOp {
    Reserve {
        /// The player, as JSON text.
        player: String,
    },
    Join {
        token: String,
        socket: String,
        nsp: String,
        compact: bool,
    },
    Leave {
        token: String,
    },
}

/// A match's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Answer {
    Token(String),
    /// Seated as this player; its inputs arrive as this event.
    Seated {
        player: u32,
        input_event: String,
    },
    Done,
}

/// A [`JoinError`] between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum WireJoinError {
    Full,
    Locked,
    Refused(String),
    InvalidToken,
    Expired,
    Disposed,
    Disconnected,
    Unavailable(String),
}

impl From<JoinError> for WireJoinError {
    fn from(e: JoinError) -> WireJoinError {
        match e {
            JoinError::Full => WireJoinError::Full,
            JoinError::Locked => WireJoinError::Locked,
            JoinError::Refused(why) => WireJoinError::Refused(why),
            JoinError::InvalidToken => WireJoinError::InvalidToken,
            JoinError::Expired => WireJoinError::Expired,
            JoinError::Disposed => WireJoinError::Disposed,
            JoinError::Disconnected => WireJoinError::Disconnected,
            JoinError::Unavailable(why) => WireJoinError::Unavailable(why),
        }
    }
}

impl From<WireJoinError> for JoinError {
    fn from(e: WireJoinError) -> JoinError {
        match e {
            WireJoinError::Full => JoinError::Full,
            WireJoinError::Locked => JoinError::Locked,
            WireJoinError::Refused(why) => JoinError::Refused(why),
            WireJoinError::InvalidToken => JoinError::InvalidToken,
            WireJoinError::Expired => JoinError::Expired,
            WireJoinError::Disposed => JoinError::Disposed,
            WireJoinError::Disconnected => JoinError::Disconnected,
            WireJoinError::Unavailable(why) => JoinError::Unavailable(why),
        }
    }
}

impl Envelope {
    pub(crate) fn encode(&self) -> Result<Vec<u8>, String> {
        versioned::encode(VERSION, self)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
        versioned::decode(VERSION, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socketio::Payload;

    #[test]
    fn every_message_round_trips_and_garbage_is_refused() {
        let bodies = vec![
            Body::Spawn {
                group: "g".into(),
                mode: "duel".into(),
                tickets: vec![QueuedTicket {
                    id: "t".into(),
                    node: 3,
                    player: r#"{"name":"a"}"#.into(),
                    since: 17,
                }],
                bots: 1,
            },
            Body::Assigned {
                ticket: "t".into(),
                match_id: 4,
                token: "0000000000000003-4.x".into(),
                bots: 0,
            },
            Body::Request {
                request: 9,
                match_id: 4,
                op: MatchOp::Join {
                    token: "x".into(),
                    socket: "s".into(),
                    nsp: "/".into(),
                    compact: true,
                },
            },
            Body::Reply {
                request: 9,
                result: Err(WireJoinError::Expired),
            },
            Body::Input {
                match_id: 4,
                token: "x".into(),
                payload: WirePayload::from_payload(&Payload::from_compact(vec![1u8, 2])),
            },
            Body::Latest {
                key: 77,
                nsp: "/".into(),
                json: Some(vec![WireFrame::Text("42[\"state\",1]".into())]),
                compact: None,
                members: vec![("s".into(), false)],
            },
        ];
        for body in bodies {
            let envelope = Envelope { from: 1, body };
            let bytes = envelope.encode().unwrap();
            assert_eq!(Envelope::decode(&bytes).unwrap(), envelope);
            for cut in 0..bytes.len() {
                assert!(Envelope::decode(&bytes[..cut]).is_err());
            }
        }
        assert!(matches!(
            Envelope::decode(&[9, 0]),
            Err(DecodeError::Version(9, 1))
        ));
        // A wire error keeps its meaning.
        for e in [JoinError::Expired, JoinError::Unavailable("gone".into())] {
            assert_eq!(JoinError::from(WireJoinError::from(e.clone())), e);
        }
    }
}
