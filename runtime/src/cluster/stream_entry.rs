//! One entry of the cluster's Redis stream: a broadcast or a room operation, in the fields
//! of Node's `@socket.io/redis-streams-adapter` plus tickwire's own.
//!
//! Fields, in order:
//!
//! - `uid`: the publishing node (16 hex digits), `nsp`, `type`: `3` broadcast, `4` sockets
//!   join, `5` sockets leave, `6` disconnect sockets (Node's message types);
//! - `data`: Node's form of the operation: JSON text, or base64 of msgpack when a broadcast
//!   carries binaries. A broadcast is `{"packet": {"type": 2, "data": [event, ...args]},
//!   "opts": {"rooms", "except", "flags"}}`;
//! - `tw`: tickwire's form, the same [`Message`] as on the pub/sub bus (frames encoded once
//!   at the origin, both codecs), and `seq`: the origin's sequence number, by which readers
//!   skip an entry appended twice (a retry after a lost reply).
//!
//! Node nodes read `uid`, `nsp`, `type` and `data` and ignore the rest; tickwire nodes read
//! `tw` when it is there (an entry of a tickwire node) and `data` otherwise (a Node node's),
//! whose broadcasts reach JSON sockets only.

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};

use super::message::{Message, Op, WireFrame};
use super::node_dialect::{
    decode_mp, event_of_frames, from_mp, mp_bytes, opts_json, targets_of, to_mp,
};
use crate::socketio::Targets;

/// Node's message types for what the stream carries.
pub(crate) const BROADCAST: &str = "3";
const SOCKETS_JOIN: &str = "4";
const SOCKETS_LEAVE: &str = "5";
const DISCONNECT_SOCKETS: &str = "6";

/// What a tickwire node appends.
pub(crate) struct Outgoing {
    pub(crate) fields: Vec<(&'static str, Vec<u8>)>,
}

/// An entry as read from the stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) uid: String,
    pub(crate) nsp: String,
    /// The origin's sequence number (tickwire nodes only).
    pub(crate) seq: Option<u64>,
    pub(crate) body: Body,
}

/// What an entry asks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// A tickwire node's operation, frames and all.
    Native(Message),
    /// A Node node's broadcast: `[event, ...args]` with its binaries, to encode here.
    NodeBroadcast {
        targets: Targets,
        volatile: bool,
        data: Value,
        attachments: Vec<Bytes>,
    },
    /// A Node node's room operation or disconnect.
    NodeOp { targets: Targets, op: Op },
}

impl Entry {
    /// The targets of the entry's operation.
    pub(crate) fn targets(&self) -> &Targets {
        match &self.body {
            Body::Native(message) => &message.targets,
            Body::NodeBroadcast { targets, .. } | Body::NodeOp { targets, .. } => targets,
        }
    }

    /// Whether it is a broadcast that connection state recovery replays (not volatile).
    pub(crate) fn is_recoverable_broadcast(&self) -> bool {
        match &self.body {
            Body::Native(message) => matches!(
                message.op,
                Op::Emit {
                    volatile: false,
                    ..
                }
            ),
            Body::NodeBroadcast { volatile, .. } => !volatile,
            Body::NodeOp { .. } => false,
        }
    }
}

/// The fields for `message` from node `uid` with sequence number `seq`; `None` for an
/// operation the stream does not carry (requests and replies go over pub/sub).
pub(crate) fn encode(uid: &str, seq: u64, message: &Message) -> Option<Outgoing> {
    let opts = |flags: Value| {
        let mut opts = opts_json(&message.targets);
        opts["flags"] = flags;
        opts
    };
    let (kind, data) = match &message.op {
        Op::Emit { volatile, json, .. } => {
            let flags = if *volatile {
                json!({"volatile": true})
            } else {
                json!({})
            };
            (BROADCAST, node_broadcast_data(json.as_deref(), opts(flags)))
        }
        Op::Join(room) => (
            SOCKETS_JOIN,
            json!({"opts": opts(json!({})), "rooms": [room]}).to_string(),
        ),
        Op::Leave(room) => (
            SOCKETS_LEAVE,
            json!({"opts": opts(json!({})), "rooms": [room]}).to_string(),
        ),
        Op::Disconnect { close } => (
            DISCONNECT_SOCKETS,
            json!({"opts": opts(json!({})), "close": close}).to_string(),
        ),
        _ => return None,
    };
    let tw = message.encode().ok()?;
    Some(Outgoing {
        fields: vec![
            ("uid", uid.as_bytes().to_vec()),
            ("nsp", message.nsp.as_bytes().to_vec()),
            ("type", kind.as_bytes().to_vec()),
            ("data", data.into_bytes()),
            ("tw", tw),
            ("seq", seq.to_string().into_bytes()),
        ],
    })
}

/// Node's `data` of a broadcast: JSON without binaries, base64 of msgpack with them. A
/// compact-only broadcast has no JSON form: Node nodes get an empty event.
fn node_broadcast_data(json: Option<&[WireFrame]>, opts: Value) -> String {
    let Some((data, attachments)) = json.and_then(event_of_frames) else {
        return json!({"packet": {"type": 2, "data": []}, "opts": opts}).to_string();
    };
    if attachments.is_empty() {
        return json!({"packet": {"type": 2, "data": data}, "opts": opts}).to_string();
    }
    let packet = json!({"packet": {"type": 2, "data": data}, "opts": opts});
    base64::engine::general_purpose::STANDARD.encode(mp_bytes(&to_mp(&packet, &attachments)))
}

/// Why an entry was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EntryError {
    #[error("entry without {0}")]
    Missing(&'static str),
    #[error("entry of an unknown type {0:?}")]
    Type(String),
    #[error("malformed entry: {0}")]
    Malformed(String),
}

/// An entry from its fields (values as Redis returned them).
pub(crate) fn decode(fields: &[(String, Vec<u8>)]) -> Result<Entry, EntryError> {
    let field = |name: &'static str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    };
    let text = |name: &'static str| -> Result<String, EntryError> {
        let bytes = field(name).ok_or(EntryError::Missing(name))?;
        String::from_utf8(bytes.to_vec()).map_err(|e| EntryError::Malformed(e.to_string()))
    };
    let uid = text("uid")?;
    let nsp = text("nsp")?;
    if let Some(tw) = field("tw") {
        let message = Message::decode(tw).map_err(|e| EntryError::Malformed(e.to_string()))?;
        let seq = text("seq")?
            .parse()
            .map_err(|_| EntryError::Malformed("seq".into()))?;
        return Ok(Entry {
            uid,
            nsp,
            seq: Some(seq),
            body: Body::Native(message),
        });
    }
    let kind = text("type")?;
    let data = text("data")?;
    let mut attachments = Vec::new();
    let data: Value = if data.starts_with('{') {
        serde_json::from_str(&data).map_err(|e| EntryError::Malformed(e.to_string()))?
    } else {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.as_bytes())
            .map_err(|e| EntryError::Malformed(e.to_string()))?;
        let mp = decode_mp(&bytes).ok_or_else(|| EntryError::Malformed("msgpack".into()))?;
        from_mp(mp, &mut attachments)
    };
    let targets = targets_of(data.get("opts"));
    let room = || {
        data.pointer("/rooms/0")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(EntryError::Missing("rooms"))
    };
    let body = match kind.as_str() {
        BROADCAST => Body::NodeBroadcast {
            volatile: data.pointer("/opts/flags/volatile") == Some(&Value::Bool(true)),
            data: data
                .pointer("/packet/data")
                .cloned()
                .ok_or(EntryError::Missing("packet"))?,
            attachments,
            targets,
        },
        SOCKETS_JOIN => Body::NodeOp {
            op: Op::Join(room()?),
            targets,
        },
        SOCKETS_LEAVE => Body::NodeOp {
            op: Op::Leave(room()?),
            targets,
        },
        DISCONNECT_SOCKETS => Body::NodeOp {
            op: Op::Disconnect {
                close: data.get("close") == Some(&Value::Bool(true)),
            },
            targets,
        },
        other => return Err(EntryError::Type(other.to_owned())),
    };
    Ok(Entry {
        uid,
        nsp,
        seq: None,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(out: &Outgoing) -> Vec<(String, Vec<u8>)> {
        out.fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn message(op: Op) -> Message {
        Message {
            node: 7,
            nsp: "/".into(),
            targets: Targets {
                rooms: vec!["r".into()],
                except: vec![],
                except_sid: Some("sid1".into()),
            },
            op,
        }
    }

    #[test]
    fn a_broadcast_carries_both_forms_and_reads_back_natively() {
        let emit = message(Op::Emit {
            volatile: false,
            json: Some(vec![WireFrame::Text(r#"42["ev",1,{"a":"b"}]"#.into())]),
            compact: Some(vec![WireFrame::Binary(vec![9, 9])]),
        });
        let out = encode("00000000000000aa", 5, &emit).unwrap();
        let names: Vec<&str> = out.fields.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, ["uid", "nsp", "type", "data", "tw", "seq"]);
        let data: Value = serde_json::from_slice(&out.fields[3].1).unwrap();
        assert_eq!(
            data,
            json!({"packet": {"type": 2, "data": ["ev", 1, {"a": "b"}]},
                   "opts": {"rooms": ["r"], "except": ["sid1"], "flags": {}}})
        );
        let entry = decode(&strings(&out)).unwrap();
        assert_eq!(entry.seq, Some(5));
        assert_eq!(entry.body, Body::Native(emit));
        assert!(entry.is_recoverable_broadcast());
    }

    #[test]
    fn node_entries_read_as_node_operations() {
        let fields = |kind: &str, data: &str| {
            vec![
                ("uid".to_owned(), b"abcdef0123456789".to_vec()),
                ("nsp".to_owned(), b"/".to_vec()),
                ("type".to_owned(), kind.as_bytes().to_vec()),
                ("data".to_owned(), data.as_bytes().to_vec()),
            ]
        };
        let entry = decode(&fields(
            "3",
            r#"{"packet":{"type":2,"data":["ev",1]},"opts":{"rooms":[],"except":["x"],"flags":{"volatile":true}}}"#,
        ))
        .unwrap();
        assert_eq!(entry.seq, None);
        assert!(!entry.is_recoverable_broadcast(), "volatile");
        let Body::NodeBroadcast { data, targets, .. } = entry.body else {
            panic!("a broadcast");
        };
        assert_eq!(data, json!(["ev", 1]));
        assert_eq!(targets.except, vec!["x".to_owned()]);
        let join = decode(&fields(
            "4",
            r#"{"opts":{"rooms":["a"],"except":[]},"rooms":["b"]}"#,
        ))
        .unwrap();
        assert!(matches!(join.body, Body::NodeOp { op: Op::Join(ref r), .. } if r == "b"));
        // Garbage is an error, never a panic.
        for bad in [fields("3", "{"), fields("99", "{}"), fields("3", "!!")] {
            assert!(decode(&bad).is_err());
        }
        assert!(decode(&[]).is_err());
    }

    #[test]
    fn a_binary_broadcast_is_msgpack_for_node() {
        let emit = message(Op::Emit {
            volatile: false,
            json: Some(vec![
                WireFrame::Text(r#"451-["ev",{"_placeholder":true,"num":0}]"#.into()),
                WireFrame::Binary(vec![1, 2, 3]),
            ]),
            compact: None,
        });
        let out = encode("00000000000000aa", 1, &emit).unwrap();
        let data = String::from_utf8(out.fields[3].1.clone()).unwrap();
        assert!(!data.starts_with('{'), "base64 of msgpack: {data}");
        // As Node's reader would: decode it, binaries inline.
        let mut node_form = out.fields.clone();
        node_form.retain(|(k, _)| *k != "tw");
        let fields: Vec<(String, Vec<u8>)> = node_form
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let Body::NodeBroadcast {
            data, attachments, ..
        } = decode(&fields).unwrap().body
        else {
            panic!("a broadcast");
        };
        assert_eq!(data, json!(["ev", {"_placeholder": true, "num": 0}]));
        assert_eq!(attachments, vec![Bytes::from_static(&[1, 2, 3])]);
    }
}
