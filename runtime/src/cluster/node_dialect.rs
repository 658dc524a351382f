//! The dialect of Node's `@socket.io/redis-adapter`: with it, tickwire nodes and Node
//! `socket.io` nodes form one cluster on one Redis.
//!
//! Channels, for the key `key` (`socket.io` by default) and a namespace `nsp`:
//!
//! - `key#nsp#`, or `key#nsp#room#` for a broadcast to exactly one room: broadcasts, msgpack
//!   `[uid, packet, opts]`. Nodes pattern-subscribe to them.
//! - `key-request#nsp#`: requests, as JSON, or msgpack for a broadcast with acks. Every node
//!   subscribes to it by name, so `PUBSUB NUMSUB` on it counts the nodes.
//! - `key-response#nsp#`: responses, as JSON, or msgpack for an ack's answer.
//!
//! A packet is `{type: 2, data: [event, ...args], nsp}`, its binary values inline as msgpack
//! binaries. Request types: 0 sockets, 1 all rooms, 2 remote join, 3 remote leave, 4 remote
//! disconnect, 5 remote fetch, 6 server-side emit, 7 broadcast with acks, 8 its client
//! count, 9 one of its answers.
//!
//! What this dialect cannot carry: compact frames (the packet is JSON-shaped, so broadcasts
//! from other nodes reach JSON sockets only), and socket ids in broadcast answers.

use std::io::Cursor;

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::bus::ClusterCounters;
use super::message::{Message, Op, Reply, WireFrame, WirePayload};
use super::node::ClusterNode;
use crate::socketio::{Codec, Namespaces, Payload, Socket, SocketDescription, Targets};
use tickwire_protocol::socketio::{decode_text, DecodeConfig, PacketKind};

use rmpv::Value as Mp;

const SOCKETS: u64 = 0;
const ALL_ROOMS: u64 = 1;
const REMOTE_JOIN: u64 = 2;
const REMOTE_LEAVE: u64 = 3;
const REMOTE_DISCONNECT: u64 = 4;
const REMOTE_FETCH: u64 = 5;
const SERVER_SIDE_EMIT: u64 = 6;
const BROADCAST: u64 = 7;
const BROADCAST_CLIENT_COUNT: u64 = 8;
const BROADCAST_ACK: u64 = 9;

/// Socket.IO's EVENT packet type.
const EVENT: u64 = 2;

/// The channel names of one key.
#[derive(Debug, Clone)]
pub(crate) struct Channels {
    key: String,
}

impl Channels {
    pub(crate) fn new(key: &str) -> Channels {
        Channels {
            key: key.to_owned(),
        }
    }

    fn broadcast(&self, nsp: &str) -> String {
        format!("{}#{nsp}#", self.key)
    }

    pub(crate) fn broadcast_pattern(&self) -> String {
        format!("{}#*", self.key)
    }

    pub(crate) fn request(&self, nsp: &str) -> String {
        format!("{}-request#{nsp}#", self.key)
    }

    fn response(&self, nsp: &str) -> String {
        format!("{}-response#{nsp}#", self.key)
    }

    pub(crate) fn response_pattern(&self) -> String {
        format!("{}-response#*", self.key)
    }

    fn is_broadcast(&self, channel: &str) -> bool {
        channel
            .strip_prefix(&self.key)
            .is_some_and(|rest| rest.starts_with('#'))
    }

    /// The namespace of a request channel (`key-request#nsp#`).
    fn request_nsp<'a>(&self, channel: &'a str) -> Option<&'a str> {
        channel
            .strip_prefix(&self.key)?
            .strip_prefix("-request#")?
            .strip_suffix('#')
    }
}

// ----- JSON and msgpack ---------------------------------------------------------------------

/// A JSON value as msgpack, its binary placeholders replaced by their attachments' bytes.
pub(crate) fn to_mp(value: &Value, attachments: &[Bytes]) -> Mp {
    match value {
        Value::Null => Mp::Nil,
        Value::Bool(b) => Mp::Boolean(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Mp::from(u)
            } else if let Some(i) = n.as_i64() {
                Mp::from(i)
            } else {
                Mp::F64(n.as_f64().unwrap_or_default())
            }
        }
        Value::String(s) => Mp::from(s.as_str()),
        Value::Array(items) => Mp::Array(items.iter().map(|v| to_mp(v, attachments)).collect()),
        Value::Object(map) => {
            if let Some(bytes) = placeholder(map).and_then(|n| attachments.get(n)) {
                return Mp::Binary(bytes.to_vec());
            }
            Mp::Map(
                map.iter()
                    .map(|(k, v)| (Mp::from(k.as_str()), to_mp(v, attachments)))
                    .collect(),
            )
        }
    }
}

/// The attachment index of a `{"_placeholder":true,"num":N}` object.
fn placeholder(map: &Map<String, Value>) -> Option<usize> {
    if map.len() == 2 && map.get("_placeholder") == Some(&Value::Bool(true)) {
        map.get("num")?
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
    } else {
        None
    }
}

/// A msgpack value as JSON, its binaries moved to `attachments` behind placeholders.
/// Extension values (a JS `Date`, say) have no JSON form and read as `null`.
pub(crate) fn from_mp(value: Mp, attachments: &mut Vec<Bytes>) -> Value {
    match value {
        Mp::Nil | Mp::Ext(..) => Value::Null,
        Mp::Boolean(b) => Value::Bool(b),
        Mp::Integer(i) => i
            .as_u64()
            .map(Value::from)
            .or_else(|| i.as_i64().map(Value::from))
            .unwrap_or(Value::Null),
        Mp::F32(f) => json!(f),
        Mp::F64(f) => json!(f),
        Mp::String(s) => Value::String(s.into_str().unwrap_or_default()),
        Mp::Binary(bytes) => {
            attachments.push(Bytes::from(bytes));
            json!({"_placeholder": true, "num": attachments.len() - 1})
        }
        Mp::Array(items) => {
            Value::Array(items.into_iter().map(|v| from_mp(v, attachments)).collect())
        }
        Mp::Map(pairs) => Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Mp::String(s) => s.into_str().unwrap_or_default(),
                        other => other.to_string(),
                    };
                    (key, from_mp(v, attachments))
                })
                .collect(),
        ),
    }
}

pub(crate) fn mp_bytes(value: &Mp) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, value);
    out
}

pub(crate) fn mp_map(pairs: Vec<(&str, Mp)>) -> Mp {
    Mp::Map(pairs.into_iter().map(|(k, v)| (Mp::from(k), v)).collect())
}

/// A msgpack message, binaries kept.
pub(crate) fn decode_mp(bytes: &[u8]) -> Option<Mp> {
    rmpv::decode::read_value(&mut Cursor::new(bytes)).ok()
}

pub(crate) fn mp_get<'a>(map: &'a Mp, key: &str) -> Option<&'a Mp> {
    match map {
        Mp::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// Room names: Node allows numbers as rooms; they are strings here.
fn rooms_of(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|rooms| {
            rooms
                .iter()
                .map(|r| match r {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn targets_of(opts: Option<&Value>) -> Targets {
    Targets {
        rooms: rooms_of(opts.and_then(|o| o.get("rooms"))),
        except: rooms_of(opts.and_then(|o| o.get("except"))),
        except_sid: None,
    }
}

/// Targets as the Node adapter's options: a socket to leave out is its own room.
pub(crate) fn opts_json(targets: &Targets) -> Value {
    let mut except = targets.except.clone();
    except.extend(targets.except_sid.as_deref().map(str::to_owned));
    json!({"rooms": targets.rooms, "except": except})
}

/// A JSON event frame set (`4` + Socket.IO text, then attachments) as `[event, ...args]`
/// and its attachments.
pub(crate) fn event_of_frames(frames: &[WireFrame]) -> Option<(Value, Vec<Bytes>)> {
    let Some(WireFrame::Text(text)) = frames.first() else {
        return None;
    };
    let packet = decode_text(text.strip_prefix('4')?, &DecodeConfig::default()).ok()?;
    if !matches!(packet.kind, PacketKind::Event | PacketKind::BinaryEvent) {
        return None;
    }
    let attachments = frames[1..]
        .iter()
        .filter_map(|f| match f {
            WireFrame::Binary(b) => Some(Bytes::copy_from_slice(b)),
            WireFrame::Text(_) => None,
        })
        .collect();
    Some((packet.data?, attachments))
}

fn packet_mp(nsp: &str, data: &Value, attachments: &[Bytes]) -> Mp {
    mp_map(vec![
        ("type", Mp::from(EVENT)),
        ("data", to_mp(data, attachments)),
        ("nsp", Mp::from(nsp)),
    ])
}

/// `[event, ...args]` as the event name and its arguments.
pub(crate) fn split_event(data: Value) -> Option<(String, Vec<Value>)> {
    let Value::Array(mut data) = data else {
        return None;
    };
    if data.is_empty() {
        return None;
    }
    match data.remove(0) {
        Value::String(event) => Some((event, data)),
        _ => None,
    }
}

/// `[event, ...args]` of a payload.
fn event_data(event: &str, payload: &Payload) -> Value {
    let mut data = Vec::with_capacity(payload.args().len() + 1);
    data.push(Value::String(event.to_owned()));
    data.extend(payload.args().iter().cloned());
    Value::Array(data)
}

fn request_id(request: u64) -> String {
    format!("{request:016x}")
}

// ----- outgoing -----------------------------------------------------------------------------

/// What to publish, as `(channel, bytes)`, for one of this node's operations. Nothing for
/// what the dialect cannot carry (a compact-only broadcast).
pub(crate) fn translate(
    channels: &Channels,
    uid: &str,
    message: &Message,
) -> Vec<(String, Vec<u8>)> {
    let nsp = message.nsp.as_str();
    let targets = &message.targets;
    let request = |body: Value| vec![(channels.request(nsp), body.to_string().into_bytes())];
    match &message.op {
        Op::Emit { volatile, json, .. } => {
            let Some((data, attachments)) = json.as_deref().and_then(event_of_frames) else {
                return Vec::new();
            };
            let mut flags = Vec::new();
            if *volatile {
                flags.push(("volatile", Mp::Boolean(true)));
            }
            let opts = mp_map(vec![
                (
                    "rooms",
                    Mp::Array(targets.rooms.iter().map(|r| Mp::from(r.as_str())).collect()),
                ),
                (
                    "except",
                    Mp::Array(
                        targets
                            .except
                            .iter()
                            .map(String::as_str)
                            .chain(targets.except_sid.as_deref())
                            .map(Mp::from)
                            .collect(),
                    ),
                ),
                ("flags", mp_map(flags)),
            ]);
            let body = Mp::Array(vec![
                Mp::from(uid),
                packet_mp(nsp, &data, &attachments),
                opts,
            ]);
            let mut channel = channels.broadcast(nsp);
            if let [room] = targets.rooms.as_slice() {
                channel.push_str(room);
                channel.push('#');
            }
            vec![(channel, mp_bytes(&body))]
        }
        Op::Join(room) => request(json!({
            "uid": uid, "type": REMOTE_JOIN, "opts": opts_json(targets), "rooms": [room],
        })),
        Op::Leave(room) => request(json!({
            "uid": uid, "type": REMOTE_LEAVE, "opts": opts_json(targets), "rooms": [room],
        })),
        Op::Disconnect { close } => request(json!({
            "uid": uid, "type": REMOTE_DISCONNECT, "opts": opts_json(targets), "close": close,
        })),
        Op::ServerEvent { event, payload } => {
            let payload = payload.clone().into_payload();
            request(
                json!({"uid": uid, "type": SERVER_SIDE_EMIT, "data": event_data(event, &payload)}),
            )
        }
        Op::FetchSockets { request: id } => request(json!({
            "uid": uid, "requestId": request_id(*id), "type": REMOTE_FETCH, "opts": opts_json(targets),
        })),
        Op::EmitWithAck {
            request: id,
            event,
            payload,
            timeout_ms,
        } => {
            let payload = payload.clone().into_payload();
            let body = mp_map(vec![
                ("uid", Mp::from(uid)),
                ("requestId", Mp::from(request_id(*id).as_str())),
                ("type", Mp::from(BROADCAST)),
                (
                    "packet",
                    packet_mp(nsp, &event_data(event, &payload), payload.attachments()),
                ),
                (
                    "opts",
                    mp_map(vec![
                        ("rooms", to_mp(&json!(targets.rooms), &[])),
                        ("except", to_mp(&opts_json(targets)["except"], &[])),
                        ("flags", mp_map(vec![("timeout", Mp::from(*timeout_ms))])),
                    ]),
                ),
            ]);
            vec![(channels.request(nsp), mp_bytes(&body))]
        }
        // Replies to requests of this dialect are made where the request is read.
        Op::Reply { .. } => Vec::new(),
    }
}

// ----- incoming -----------------------------------------------------------------------------

/// Where replies go: `(channel, bytes)` handed to the node's publishing queue.
pub(crate) type Publish = dyn Fn(String, Vec<u8>) + Send + Sync;

/// Apply a message read on `channel`. Messages of this node (`uid`), for namespaces it does
/// not have, or that do not decode are skipped; a bad message never stops the bus.
pub(crate) fn apply(
    namespaces: &Namespaces,
    node: &ClusterNode,
    channels: &Channels,
    uid: &str,
    channel: &str,
    bytes: &[u8],
    publish: &std::sync::Arc<Publish>,
) {
    let applied = if channels.is_broadcast(channel) {
        apply_broadcast(namespaces, uid, bytes)
    } else if let Some(nsp) = channels.request_nsp(channel) {
        apply_request(namespaces, channels, nsp, uid, bytes, publish)
    } else {
        apply_response(node, bytes)
    };
    let counters = &node.counters;
    match applied {
        Some(true) => ClusterCounters::add(&counters.received, 1),
        Some(false) => {}
        None => {
            ClusterCounters::add(&counters.malformed, 1);
            tracing::warn!(
                channel,
                "cluster: message in the Node adapter's dialect dropped"
            );
        }
    }
}

/// `Some(true)` applied, `Some(false)` skipped (this node's own, or not for it), `None`
/// malformed.
fn apply_broadcast(namespaces: &Namespaces, uid: &str, bytes: &[u8]) -> Option<bool> {
    let Mp::Array(mut parts) = decode_mp(bytes)? else {
        return None;
    };
    if parts.len() < 3 {
        return None;
    }
    let opts = from_mp(parts.remove(2), &mut Vec::new());
    let packet = parts.remove(1);
    if parts[0].as_str() == Some(uid) {
        return Some(false);
    }
    let nsp = mp_get(&packet, "nsp")
        .and_then(Mp::as_str)
        .unwrap_or("/")
        .to_owned();
    let mut attachments = Vec::new();
    let (event, args) = split_event(from_mp(mp_get(&packet, "data")?.clone(), &mut attachments))?;
    let Some(ns) = namespaces.get(&nsp) else {
        return Some(false);
    };
    let mut operator = ns.broadcast().remote(targets_of(Some(&opts)));
    if opts.pointer("/flags/volatile") == Some(&Value::Bool(true)) {
        operator = operator.volatile();
    }
    let _ = operator.emit_payload(&event, Payload::from_parts(args, attachments));
    Some(true)
}

fn apply_request(
    namespaces: &Namespaces,
    channels: &Channels,
    nsp: &str,
    uid: &str,
    bytes: &[u8],
    publish: &std::sync::Arc<Publish>,
) -> Option<bool> {
    let is_json = bytes.first() == Some(&b'{');
    let (request, raw) = if is_json {
        (serde_json::from_slice::<Value>(bytes).ok()?, None)
    } else {
        let raw = decode_mp(bytes)?;
        (from_mp(raw.clone(), &mut Vec::new()), Some(raw))
    };
    if request.get("uid").and_then(Value::as_str) == Some(uid) {
        return Some(false);
    }
    let kind = request.get("type")?.as_u64()?;
    let request_id = request.get("requestId").cloned().unwrap_or(Value::Null);
    let Some(ns) = namespaces.get(nsp) else {
        return Some(false);
    };
    let reply = |body: Value| publish(channels.response(ns.name()), body.to_string().into_bytes());
    let operator = ns.broadcast().remote(targets_of(request.get("opts")));
    match kind {
        SOCKETS => {
            let rooms = rooms_of(request.get("rooms"));
            let ids: Vec<String> = ns
                .broadcast()
                .remote(Targets {
                    rooms,
                    ..Targets::default()
                })
                .fetch_sockets()
                .iter()
                .map(|s| s.id().to_owned())
                .collect();
            reply(json!({"requestId": request_id, "sockets": ids}));
        }
        ALL_ROOMS => reply(json!({"requestId": request_id, "rooms": ns.room_names()})),
        REMOTE_JOIN | REMOTE_LEAVE | REMOTE_DISCONNECT => {
            // Either targets (`opts`), or one socket (`sid`): the latter is answered by the
            // node that has it.
            let single = request.get("sid").and_then(Value::as_str);
            let operator = match single {
                Some(sid) if ns.get_socket(sid).is_none() => return Some(false),
                Some(sid) => ns.broadcast().remote(Targets {
                    rooms: vec![sid.to_owned()],
                    ..Targets::default()
                }),
                None => operator,
            };
            let rooms = match request.get("room") {
                Some(Value::String(room)) => vec![room.clone()],
                _ => rooms_of(request.get("rooms")),
            };
            match kind {
                REMOTE_JOIN => rooms.into_iter().for_each(|r| operator.sockets_join(r)),
                REMOTE_LEAVE => rooms.iter().for_each(|r| operator.sockets_leave(r)),
                _ => operator.disconnect_sockets(request.get("close") == Some(&Value::Bool(true))),
            }
            if single.is_some() {
                reply(json!({"requestId": request_id}));
            }
        }
        REMOTE_FETCH => {
            let sockets: Vec<Value> = operator.fetch_sockets().iter().map(describe).collect();
            reply(json!({"requestId": request_id, "sockets": sockets}));
        }
        SERVER_SIDE_EMIT => {
            let mut attachments = Vec::new();
            let data = match &raw {
                Some(raw) => from_mp(mp_get(raw, "data")?.clone(), &mut attachments),
                None => request.get("data")?.clone(),
            };
            let (event, args) = split_event(data)?;
            // With a requestId the sender waits for answers: server-side handlers here
            // have none to give, so the sender sees this node's answer missing.
            ns.on_remote_server_event(&event, Payload::from_parts(args, attachments));
        }
        BROADCAST => {
            let raw = raw?;
            let packet = mp_get(&raw, "packet")?;
            let mut attachments = Vec::new();
            let (event, args) =
                split_event(from_mp(mp_get(packet, "data")?.clone(), &mut attachments))?;
            let timeout = request
                .pointer("/opts/flags/timeout")
                .and_then(Value::as_u64)
                .unwrap_or(10_000);
            let operator = operator.timeout(std::time::Duration::from_millis(timeout));
            let count = operator
                .fetch_sockets()
                .iter()
                .filter(|s| s.codec() == Codec::Json)
                .count();
            reply(
                json!({"type": BROADCAST_CLIENT_COUNT, "requestId": request_id, "clientCount": count}),
            );
            let publish = publish.clone();
            let response = channels.response(ns.name());
            let request_id = request_id.as_str().unwrap_or_default().to_owned();
            tokio::spawn(async move {
                let answers = operator
                    .emit_with_ack(&event, Payload::from_parts(args, attachments))
                    .await;
                for (_, answer) in answers {
                    // Node's adapter forwards an answer's first argument only.
                    let Ok(answer) = answer else { continue };
                    let first = answer.args().first().cloned().unwrap_or(Value::Null);
                    let body = mp_map(vec![
                        ("type", Mp::from(BROADCAST_ACK)),
                        ("requestId", Mp::from(request_id.as_str())),
                        ("packet", to_mp(&first, answer.attachments())),
                    ]);
                    publish(response.clone(), mp_bytes(&body));
                }
            });
        }
        _ => return Some(false),
    }
    Some(true)
}

/// A socket as Node's `fetchSockets` describes it: id, handshake, rooms, data.
fn describe(socket: &Socket) -> Value {
    let handshake = socket.handshake();
    let headers: Map<String, Value> = handshake
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.to_owned(), Value::from(std::str::from_utf8(v).ok()?))))
        .collect();
    let query: Map<String, Value> = handshake
        .query
        .iter()
        .map(|(k, v)| (k.to_owned(), Value::from(v)))
        .collect();
    let issued = handshake
        .issued
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    json!({
        "id": socket.id(),
        "handshake": {
            "headers": headers,
            "time": "",
            "address": handshake.address.map(|a| a.ip().to_string()),
            "xdomain": false,
            "secure": false,
            "issued": issued,
            "url": "",
            "query": query,
            "auth": handshake.auth,
        },
        "rooms": socket.rooms(),
        "data": {},
    })
}

fn apply_response(node: &ClusterNode, bytes: &[u8]) -> Option<bool> {
    let (response, raw) = if bytes.first() == Some(&b'{') {
        (serde_json::from_slice::<Value>(bytes).ok()?, None)
    } else {
        let raw = decode_mp(bytes)?;
        (from_mp(raw.clone(), &mut Vec::new()), Some(raw))
    };
    // Only answers to this node's requests (whose ids are 16 hex digits) concern it.
    let Some(id) = response
        .get("requestId")
        .and_then(Value::as_str)
        .filter(|id| id.len() == 16)
        .and_then(|id| u64::from_str_radix(id, 16).ok())
    else {
        return Some(false);
    };
    let reply = match response.get("type").and_then(Value::as_u64) {
        Some(BROADCAST_CLIENT_COUNT) => {
            Reply::ClientCount(response.get("clientCount")?.as_u64()? as usize)
        }
        Some(BROADCAST_ACK) => {
            let mut attachments = Vec::new();
            let arg = from_mp(mp_get(raw.as_ref()?, "packet")?.clone(), &mut attachments);
            Reply::Ack(Ok(WirePayload::from_payload(&Payload::from_parts(
                vec![arg],
                attachments,
            ))))
        }
        _ => {
            let sockets = response.get("sockets")?.as_array()?;
            Reply::Sockets(sockets.iter().filter_map(wire_socket).collect())
        }
    };
    node.deliver_reply(0, id, reply);
    Some(true)
}

/// A socket described by a Node node (`fetchSockets` form).
fn wire_socket(socket: &Value) -> Option<SocketDescription> {
    let handshake = socket.get("handshake");
    let query = handshake
        .and_then(|h| h.get("query"))
        .and_then(Value::as_object)
        .map(|q| {
            q.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Some(SocketDescription {
        id: socket.get("id")?.as_str()?.to_owned(),
        rooms: rooms_of(socket.get("rooms")),
        query,
        auth: handshake
            .and_then(|h| h.get("auth"))
            .cloned()
            .unwrap_or_else(|| json!({}))
            .to_string(),
        address: handshake
            .and_then(|h| h.get("address"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::bus::Bus;
    use crate::socketio::{encode_payload_event, EncodeCounters, SendError};

    /// A bus that carries nothing (the tests apply messages by hand).
    struct Nowhere;

    impl Bus for Nowhere {
        fn publish(&self, _to: Option<u64>, _message: &Message) -> Result<(), SendError> {
            Ok(())
        }

        fn node_count(
            &self,
            _nsp: &str,
        ) -> futures_util::future::BoxFuture<'static, Result<usize, String>> {
            Box::pin(async { Ok(1) })
        }
    }

    #[test]
    fn binary_placeholders_become_msgpack_binaries_and_back() {
        let attachments = vec![Bytes::from_static(&[1, 2]), Bytes::from_static(&[255])];
        let value = json!(["ev", {"a": {"_placeholder": true, "num": 1}}, -3, 2.5, null,
                           {"_placeholder": true, "num": 0}, "s"]);
        let mp = to_mp(&value, &attachments);
        let mut back_attachments = Vec::new();
        let back = from_mp(mp, &mut back_attachments);
        // Binaries are renumbered in the order met.
        assert_eq!(
            back,
            json!(["ev", {"a": {"_placeholder": true, "num": 0}}, -3, 2.5, null,
                   {"_placeholder": true, "num": 1}, "s"])
        );
        assert_eq!(
            back_attachments,
            vec![attachments[1].clone(), attachments[0].clone()]
        );
    }

    #[test]
    fn a_broadcast_is_the_node_adapters_message_on_its_channel() {
        let payload = Payload::new()
            .arg(&json!({"x": 1}))
            .unwrap()
            .binary(vec![7u8]);
        let encodes = EncodeCounters::default();
        let frames =
            encode_payload_event(&encodes, Codec::Json, "/chat", "ev", &payload, None).unwrap();
        let message = Message {
            node: 1,
            nsp: "/chat".into(),
            targets: Targets {
                rooms: vec!["red".into()],
                except: vec!["blue".into()],
                except_sid: Some("sid1".into()),
            },
            op: Op::Emit {
                volatile: true,
                json: Some(WireFrame::from_frames(&frames)),
                compact: None,
            },
        };
        let out = translate(&Channels::new("socket.io"), "me", &message);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].0, "socket.io#/chat#red#",
            "one room: the room's channel"
        );
        let mut attachments = Vec::new();
        let decoded = from_mp(decode_mp(&out[0].1).unwrap(), &mut attachments);
        assert_eq!(
            decoded,
            json!(["me",
                   {"type": 2, "data": ["ev", {"x": 1}, {"_placeholder": true, "num": 0}], "nsp": "/chat"},
                   {"rooms": ["red"], "except": ["blue", "sid1"], "flags": {"volatile": true}}])
        );
        assert_eq!(attachments, vec![Bytes::from_static(&[7])]);

        // A compact-only broadcast has no form in this dialect.
        let compact = Message {
            op: Op::Emit {
                volatile: false,
                json: None,
                compact: Some(vec![WireFrame::Binary(vec![1])]),
            },
            ..message
        };
        assert!(translate(&Channels::new("socket.io"), "me", &compact).is_empty());
    }

    #[test]
    fn malformed_messages_are_counted_and_dropped_without_a_panic() {
        let io = crate::SocketIo::builder().build();
        io.ns("/", |_| {});
        let node = ClusterNode::new(0, std::sync::Arc::new(Nowhere), Default::default());
        let channels = Channels::new("socket.io");
        let publish: std::sync::Arc<Publish> = std::sync::Arc::new(|_, _| {});
        let inputs: [&[u8]; 6] = [
            b"",
            b"{",
            b"\xc1",
            b"\x93\xa1x",
            b"{\"type\":\"x\"}",
            b"\x92\x01\x02",
        ];
        for channel in [
            "socket.io#/#",
            "socket.io-request#/#",
            "socket.io-response#/#",
        ] {
            for bytes in inputs {
                apply(
                    &io.inner.namespaces,
                    &node,
                    &channels,
                    "me",
                    channel,
                    bytes,
                    &publish,
                );
            }
        }
        let malformed = node
            .counters
            .malformed
            .load(std::sync::atomic::Ordering::Relaxed);
        assert!(malformed >= 12, "{malformed}");
    }
}
