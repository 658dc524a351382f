//! Property round trips: whatever the encoders write, the decoders read back unchanged, for
//! Socket.IO packets (through the [`Reassembler`]), Engine.IO packets, polling payloads, and
//! the two layers stacked.
//!
//! The runner uses a fixed seed, so every run checks the same cases.

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use serde_json::{Map, Value};
use tickwire_protocol::engineio::{self, payload, OpenPacket};
use tickwire_protocol::socketio::{self, placeholder, Packet, PacketKind, Reassembler};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        rng_seed: RngSeed::Fixed(0x7469_636b_7769_7265),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Floats with at most 13 significant decimal digits, which serde_json parses exactly.
///
/// serde_json is built without its `float_roundtrip` feature, so a float needing 17 digits
/// may come back one ULP off (see `float_with_seventeen_digits_round_trips` in
/// `socketio_vectors.rs`); that is a dependency setting, not what these properties test.
fn exact_float() -> impl Strategy<Value = f64> {
    (any::<i16>(), 0u32..9)
        .prop_map(|(mantissa, shift)| f64::from(mantissa) / f64::from(1u32 << shift))
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        exact_float().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[a-z0-9 ]{0,8}".prop_map(Value::String),
    ]
}

/// Object keys: any string, but never `_placeholder`, so no random object can pass for a
/// placeholder.
fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z_]{0,6}"]
        .prop_filter("not a placeholder key", |k| k != "_placeholder")
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((json_key(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Value> {
    vec((json_key(), json_value()), 0..5)
        .prop_map(|entries| Value::Object(entries.into_iter().collect()))
}

/// Namespaces as clients use them: `/` or `/` followed by anything but a comma.
fn namespace() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/".to_owned()),
        "/[a-z0-9_-]{1,10}",
        "/[^,\u{1e}]{0,12}",
    ]
}

fn event_name() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => any::<String>().prop_map(Value::String),
        1 => any::<u32>().prop_map(Value::from),
    ]
}

/// How a placeholder sits in the arguments: bare, inside an object, or inside an array.
#[derive(Debug, Clone)]
enum Wrap {
    Bare,
    InObject(String),
    InArray,
}

fn wrap() -> impl Strategy<Value = Wrap> {
    prop_oneof![
        Just(Wrap::Bare),
        json_key().prop_map(Wrap::InObject),
        Just(Wrap::InArray),
    ]
}

/// Arguments holding one placeholder per attachment, in depth-first order, with ordinary
/// values around them.
fn args_with_placeholders(count: usize) -> impl Strategy<Value = Vec<Value>> {
    (vec(vec(json_value(), 0..3), count + 1), vec(wrap(), count)).prop_map(|(chunks, wraps)| {
        let mut args = Vec::new();
        let mut chunks = chunks.into_iter();
        for (num, wrap) in wraps.into_iter().enumerate() {
            args.extend(chunks.next().unwrap_or_default());
            let ph = placeholder(num);
            args.push(match wrap {
                Wrap::Bare => ph,
                Wrap::InObject(key) => {
                    let mut map = Map::new();
                    map.insert(key, ph);
                    Value::Object(map)
                }
                Wrap::InArray => Value::Array(vec![ph]),
            });
        }
        args.extend(chunks.next().unwrap_or_default());
        args
    })
}

fn attachment_bytes() -> impl Strategy<Value = Vec<Bytes>> {
    vec(vec(any::<u8>(), 0..32).prop_map(Bytes::from), 1..5)
}

fn socketio_packet() -> impl Strategy<Value = Packet> {
    let id = proptest::option::of(any::<u64>());
    prop_oneof![
        (namespace(), proptest::option::of(json_object()))
            .prop_map(|(nsp, data)| Packet::connect(nsp, data)),
        namespace().prop_map(Packet::disconnect),
        (
            namespace(),
            any::<String>(),
            proptest::option::of(json_value())
        )
            .prop_map(|(nsp, message, data)| Packet::connect_error(nsp, &message, data)),
        (namespace(), any::<String>()).prop_map(|(nsp, message)| Packet {
            kind: PacketKind::ConnectError,
            nsp,
            id: None,
            data: Some(Value::String(message)),
            attachments: Vec::new(),
        }),
        (
            namespace(),
            event_name(),
            vec(json_value(), 0..4),
            id.clone()
        )
            .prop_map(|(nsp, name, args, id)| {
                let mut data = vec![name];
                data.extend(args);
                Packet {
                    kind: PacketKind::Event,
                    nsp,
                    id,
                    data: Some(Value::Array(data)),
                    attachments: Vec::new(),
                }
            }),
        (namespace(), any::<u64>(), vec(json_value(), 0..4))
            .prop_map(|(nsp, id, args)| Packet::ack(nsp, id, args, Vec::new())),
        (namespace(), any::<String>(), id, attachment_bytes()).prop_flat_map(
            |(nsp, name, id, bins)| {
                args_with_placeholders(bins.len())
                    .prop_map(move |args| Packet::event(nsp.clone(), &name, args, bins.clone(), id))
            }
        ),
        (namespace(), any::<u64>(), attachment_bytes()).prop_flat_map(|(nsp, id, bins)| {
            args_with_placeholders(bins.len())
                .prop_map(move |args| Packet::ack(nsp.clone(), id, args, bins.clone()))
        }),
    ]
}

/// Any Engine.IO packet; `text` is the strategy for the data of text packets.
fn engineio_packet(text: BoxedStrategy<String>) -> impl Strategy<Value = engineio::Packet> {
    use engineio::Packet as P;
    prop_oneof![
        text.clone().prop_map(P::Open),
        Just(P::Close),
        text.clone().prop_map(P::Ping),
        text.clone().prop_map(P::Pong),
        text.prop_map(P::Message),
        vec(any::<u8>(), 0..64).prop_map(|b| P::Binary(Bytes::from(b))),
        Just(P::Upgrade),
        Just(P::Noop),
    ]
}

/// Text for packets of a polling payload: anything without the record separator.
fn payload_text() -> BoxedStrategy<String> {
    "[^\u{1e}]{0,24}".boxed()
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Run a packet's Engine.IO messages (header text, then attachments) through a reassembler.
fn reassemble(text: &str, attachments: &[Bytes]) -> Result<Packet, TestCaseError> {
    let mut reassembler = Reassembler::default();
    let mut out = reassembler
        .feed_text(text)
        .map_err(|e| TestCaseError::fail(format!("header {text:?}: {e}")))?;
    for bytes in attachments {
        prop_assert!(out.is_none(), "finished before all attachments");
        out = reassembler
            .feed_binary(bytes.clone())
            .map_err(|e| TestCaseError::fail(format!("attachment: {e}")))?;
    }
    prop_assert!(!reassembler.is_pending());
    out.ok_or_else(|| TestCaseError::fail("no packet after the last attachment"))
}

/// The packet as the decoder returns it: binary kinds exactly when there are attachments.
fn canonical(mut packet: Packet) -> Packet {
    packet.kind = match (packet.kind, packet.attachments.is_empty()) {
        (PacketKind::Event, false) => PacketKind::BinaryEvent,
        (PacketKind::Ack, false) => PacketKind::BinaryAck,
        (kind, _) => kind,
    };
    packet
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// `decode_lazy` reads `text` as `decode_text` does, or leaves it to it (and always leaves
/// it what `decode_text` refuses).
fn lazy_agrees(text: &str) -> Result<(), TestCaseError> {
    let config = Default::default();
    let full = socketio::decode_text(text, &config);
    let frame = bytestring::ByteString::from(text);
    let Some(lazy) = socketio::decode_lazy(&frame, &config) else {
        return Ok(());
    };
    let full = full.map_err(|e| TestCaseError::fail(format!("{text:?}: lazily read, yet {e}")))?;
    prop_assert_eq!(lazy.kind, full.kind);
    prop_assert_eq!(lazy.nsp, full.nsp.as_str());
    prop_assert_eq!(lazy.id, full.id);
    prop_assert_eq!(lazy.event.as_deref(), full.event_name());
    prop_assert_eq!(lazy.payload.args(), full.args());
    // Written back, the arguments are the text they came as.
    let mut written = Vec::new();
    lazy.payload
        .write_json_args(&mut written)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let array: Value = serde_json::from_slice(&[b"[", &written[..], b"]"].concat())
        .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
    prop_assert_eq!(array.as_array().map(Vec::as_slice), Some(full.args()));
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn socketio_packet_round_trips(packet in socketio_packet()) {
        let text = socketio::encode(&packet);
        let decoded = reassemble(&text, &packet.attachments)?;
        prop_assert_eq!(&decoded, &canonical(packet));
        // Byte-exact too, which also checks that object key order survived.
        prop_assert_eq!(socketio::encode(&decoded), text);
    }

    #[test]
    fn socketio_header_announces_the_attachments(packet in socketio_packet()) {
        let text = socketio::encode(&packet);
        let header = socketio::decode_text(&text, &Default::default())
            .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert!(header.attachments.is_empty());
        prop_assert_eq!(header.kind.is_binary(), !packet.attachments.is_empty());
        if let Some(data) = &header.data {
            prop_assert_eq!(
                socketio::count_placeholders(data, packet.attachments.len()),
                Ok(packet.attachments.len())
            );
        }
    }

    #[test]
    fn the_lazy_decode_agrees_with_the_full_one(packet in socketio_packet()) {
        let text = socketio::encode(&packet);
        lazy_agrees(&text)?;
    }

    #[test]
    fn the_lazy_decode_refuses_what_the_full_one_refuses(
        args in vec(json_value(), 0..3),
        cut in any::<prop::sample::Index>(),
        junk in "[\\[\\]{}\",:\\\\ue0-9a-z]{0,4}",
    ) {
        // A valid event, cut anywhere and given a few JSON-ish bytes.
        let mut text = socketio::encode(&Packet::event("/", "e", args, Vec::new(), Some(3)));
        let mut at = cut.index(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
        text.push_str(&junk);
        lazy_agrees(&text)?;
    }

    #[test]
    fn socketio_packets_in_a_row_share_one_reassembler(
        packets in vec(socketio_packet(), 1..6)
    ) {
        let mut reassembler = Reassembler::default();
        let mut out = Vec::new();
        for packet in &packets {
            if let Some(p) = reassembler.feed_text(&socketio::encode(packet)).map_err(|e| TestCaseError::fail(e.to_string()))? {
                out.push(p);
            }
            for bytes in &packet.attachments {
                if let Some(p) = reassembler.feed_binary(bytes.clone()).map_err(|e| TestCaseError::fail(e.to_string()))? {
                    out.push(p);
                }
            }
        }
        let expected: Vec<Packet> = packets.into_iter().map(canonical).collect();
        prop_assert_eq!(out, expected);
    }

    #[test]
    fn engineio_websocket_frame_round_trips(
        packet in engineio_packet(any::<String>().boxed())
    ) {
        let decoded = match packet.encode_text() {
            Some(text) => engineio::Packet::decode_text(&text)
                .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?,
            None => match &packet {
                engineio::Packet::Binary(bytes) => engineio::Packet::decode_binary(bytes.clone()),
                other => return Err(TestCaseError::fail(format!("{other:?} has no text form"))),
            },
        };
        prop_assert_eq!(decoded, packet);
    }

    #[test]
    fn polling_payload_round_trips(
        packets in vec(engineio_packet(payload_text()), 1..10)
    ) {
        let body = payload::encode(&packets);
        let decoded = payload::decode(&body, body.len())
            .map_err(|e| TestCaseError::fail(format!("{body:?}: {e}")))?;
        prop_assert_eq!(&decoded, &packets);
        prop_assert_eq!(payload::encode(&decoded), body);
    }

    #[test]
    fn polling_body_built_piece_by_piece_matches_encode(
        packets in vec(engineio_packet(payload_text()), 1..10)
    ) {
        let mut body = String::new();
        for packet in &packets {
            let before = body.len();
            match packet {
                engineio::Packet::Binary(bytes) => {
                    payload::push_binary(&mut body, bytes);
                    let separator = usize::from(before > 0);
                    prop_assert_eq!(
                        body.len() - before + 1 - separator,
                        payload::binary_encoded_len(bytes.len())
                    );
                }
                other => payload::push_text_frame(&mut body, &other.encode_text().unwrap_or_default()),
            }
        }
        prop_assert_eq!(body, payload::encode(&packets));
    }

    /// Socket.IO packets inside Engine.IO messages inside one polling body, and back.
    #[test]
    fn both_layers_through_a_polling_body(packets in vec(socketio_packet(), 1..5)) {
        let mut frames = Vec::new();
        for packet in &packets {
            frames.push(engineio::Packet::Message(socketio::encode(packet)));
            frames.extend(packet.attachments.iter().cloned().map(engineio::Packet::Binary));
        }
        let body = payload::encode(&frames);
        let received = payload::decode(&body, usize::MAX)
            .map_err(|e| TestCaseError::fail(format!("{body:?}: {e}")))?;

        let mut reassembler = Reassembler::default();
        let mut out = Vec::new();
        for frame in received {
            let done = match frame {
                engineio::Packet::Message(text) => reassembler.feed_text(&text),
                engineio::Packet::Binary(bytes) => reassembler.feed_binary(bytes),
                other => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
            }
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
            out.extend(done);
        }
        let expected: Vec<Packet> = packets.into_iter().map(canonical).collect();
        prop_assert_eq!(out, expected);
    }

    #[test]
    fn handshake_json_round_trips(
        sid in any::<String>(),
        websocket in any::<bool>(),
        ping_interval in any::<u64>(),
        ping_timeout in any::<u64>(),
        max_payload in any::<u64>(),
    ) {
        let transport = if websocket {
            engineio::TransportKind::WebSocket
        } else {
            engineio::TransportKind::Polling
        };
        let open = OpenPacket {
            sid: &sid,
            upgrades: OpenPacket::upgrades_for(transport),
            ping_interval,
            ping_timeout,
            max_payload,
        };
        let encoded = open.encode();
        let engineio::Packet::Open(json) = engineio::Packet::decode_text(&encoded)
            .map_err(|e| TestCaseError::fail(e.to_string()))?
        else {
            return Err(TestCaseError::fail("not an open packet"));
        };
        let value: Value = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let object = value.as_object().ok_or_else(|| TestCaseError::fail("not an object"))?;
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        prop_assert_eq!(keys, ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"]);
        prop_assert_eq!(&object["sid"], &Value::String(sid.clone()));
        prop_assert_eq!(object["upgrades"].as_array().map(Vec::len), Some(usize::from(!websocket)));
        prop_assert_eq!(object["pingInterval"].as_u64(), Some(ping_interval));
        prop_assert_eq!(object["pingTimeout"].as_u64(), Some(ping_timeout));
        prop_assert_eq!(object["maxPayload"].as_u64(), Some(max_payload));
    }

    #[test]
    fn sid_from_entropy_is_url_safe(entropy in any::<[u8; 15]>()) {
        let sid = engineio::handshake::sid_from_entropy(entropy);
        prop_assert_eq!(sid.len(), 20);
        prop_assert!(sid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    #[test]
    fn a_tagged_sid_is_url_safe_and_names_its_node(node in any::<[u8; 8]>(), entropy in any::<[u8; 15]>()) {
        let tag = engineio::handshake::node_tag_from_entropy(node);
        let sid = engineio::handshake::tagged_sid_from_entropy(&tag, entropy).expect("a node tag");
        prop_assert!(sid.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        prop_assert_eq!(engineio::handshake::sid_node_tag(&sid), Some(tag.as_str()));
        // The random part is the untagged sid of the same entropy: as unguessable.
        prop_assert!(sid.ends_with(&engineio::handshake::sid_from_entropy(entropy)));
    }

    #[test]
    fn sid_node_tag_never_panics(sid in ".{0,64}") {
        let _ = engineio::handshake::sid_node_tag(&sid);
    }
}
