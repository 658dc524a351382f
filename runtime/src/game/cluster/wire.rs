//! What the nodes of a game cluster tell each other, on each node's own channel.
//!
//! A message is the format version (one byte), the sending node's id, then one or more
//! bodies, each postcard-encoded, one after the other: the publisher joins the bodies
//! queued for one node into one message ([`Envelope::append`]), so that a busy link costs
//! one Redis command for many inputs.

use serde::{Deserialize, Serialize};
use tickwire_protocol::compact::{take_from_payload, to_payload};

use super::super::seats::JoinError;
use crate::link::wire::{DecodeError, WireFrame, WirePayload};

/// The format version, the first byte of every message.
const VERSION: u8 = 2;

/// A message from node `from`: its bodies, in the order they were sent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Envelope {
    pub(crate) from: u64,
    pub(crate) bodies: Vec<Body>,
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
    // Last: the variants before it keep their numbers on the wire.
    AlreadySeated,
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
            JoinError::AlreadySeated => WireJoinError::AlreadySeated,
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
            WireJoinError::AlreadySeated => JoinError::AlreadySeated,
        }
    }
}

impl Envelope {
    /// One body from `from`, as a message.
    pub(crate) fn encode(from: u64, body: &Body) -> Result<Vec<u8>, String> {
        let from = to_payload(&from).map_err(|e| e.to_string())?;
        let body = to_payload(body).map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(1 + from.len() + body.len());
        out.push(VERSION);
        out.extend_from_slice(&from);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Join message `next` to `batch` when both come from the same node (their headers
    /// match): its bodies then follow those of `batch`. False, leaving `batch` as it was,
    /// otherwise.
    pub(crate) fn append(batch: &mut Vec<u8>, next: &[u8]) -> bool {
        let Some(header) = header_len(batch) else {
            return false;
        };
        if next.len() <= header || next[..header] != batch[..header] {
            return false;
        }
        batch.extend_from_slice(&next[header..]);
        true
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
        let (&found, rest) = bytes.split_first().ok_or(DecodeError::Empty)?;
        if found != VERSION {
            return Err(DecodeError::Version(found, VERSION));
        }
        let malformed =
            |e: tickwire_protocol::compact::PayloadError| DecodeError::Malformed(e.to_string());
        let (from, mut rest): (u64, _) = take_from_payload(rest).map_err(malformed)?;
        let mut bodies = Vec::new();
        while !rest.is_empty() {
            let (body, after) = take_from_payload(rest).map_err(malformed)?;
            bodies.push(body);
            rest = after;
        }
        if bodies.is_empty() {
            return Err(DecodeError::Malformed("a message without a body".into()));
        }
        Ok(Envelope { from, bodies })
    }
}

/// The length of a message's header (version and sender), if it has one.
fn header_len(message: &[u8]) -> Option<usize> {
    let rest = message.get(1..)?;
    // The sender is a varint: bytes with the high bit set, then one without.
    let varint = rest.iter().position(|b| b & 0x80 == 0)? + 1;
    Some(1 + varint)
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
        for body in &bodies {
            let bytes = Envelope::encode(1, body).unwrap();
            let decoded = Envelope::decode(&bytes).unwrap();
            assert_eq!(
                (decoded.from, &decoded.bodies[..]),
                (1, std::slice::from_ref(body))
            );
            for cut in 0..bytes.len() {
                assert!(Envelope::decode(&bytes[..cut]).is_err(), "cut at {cut}");
            }
        }
        assert!(matches!(
            Envelope::decode(&[9, 0]),
            Err(DecodeError::Version(9, 2))
        ));
        // A wire error keeps its meaning.
        for e in [JoinError::Expired, JoinError::Unavailable("gone".into())] {
            assert_eq!(JoinError::from(WireJoinError::from(e.clone())), e);
        }
    }

    #[test]
    fn messages_of_one_node_join_into_one_and_keep_their_order() {
        let input = |n: u8| Body::Input {
            match_id: 4,
            token: "x".into(),
            payload: WirePayload::from_payload(&Payload::from_compact(vec![n])),
        };
        let from = 0xdead_beef_u64;
        let mut batch = Envelope::encode(from, &input(1)).unwrap();
        for n in 2..=4 {
            assert!(Envelope::append(
                &mut batch,
                &Envelope::encode(from, &input(n)).unwrap()
            ));
        }
        let other = Envelope::encode(7, &input(9)).unwrap();
        let before = batch.clone();
        assert!(
            !Envelope::append(&mut batch, &other),
            "another node's message"
        );
        assert_eq!(batch, before);
        let decoded = Envelope::decode(&batch).unwrap();
        assert_eq!(decoded.from, from);
        assert_eq!(decoded.bodies, (1..=4).map(input).collect::<Vec<_>>());
    }
}
