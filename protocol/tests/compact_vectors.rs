//! Golden vectors for the compact codec, shared with the JS module's test.
//!
//! The cases are defined here, in Rust, and written to `tests/vectors/compact.json`: each one
//! describes a packet (kind, namespace, ack id, event, and a payload as a typed value), its
//! frame in the JSON codec and its frame in the compact codec. `vector_file_is_current`
//! checks that the file matches what the code writes now; after a deliberate format change,
//! rewrite it with
//!
//! ```text
//! REGENERATE_VECTORS=1 cargo test -p tickwire-protocol --test compact_vectors
//! ```
//!
//! The other tests read the file back (not the Rust case list), so they check the stored
//! bytes, and `pinned_frames` checks a few frames written out by hand, so that regenerating
//! cannot quietly change the format.

#[path = "support/game_types.rs"]
#[allow(dead_code)]
mod game_types;

use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use serde_json::{json, Value};
use tickwire_protocol::compact::{
    self, from_payload, to_payload, CompactError, CompactKind, CompactPacket, EventName, Field,
    Limits, PayloadError,
};
use tickwire_protocol::{engineio, socketio};

use game_types::{Hit, Input, Player, Snapshot};

/// The numeric event table of the vectors: an event's id is its index here.
const EVENT_IDS: &[&str] = &["state", "input"];

// ---------------------------------------------------------------------------------------------
// Hex
// ---------------------------------------------------------------------------------------------

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    assert_eq!(text.len() % 2, 0, "odd hex {text:?}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------------------------

/// A payload as a typed value: the vectors' fixed set of types.
#[derive(Debug, Clone, PartialEq)]
enum Payload {
    /// No argument: an empty payload.
    None,
    /// CONNECT / CONNECT_ERROR: UTF-8 JSON.
    Json(Value),
    Snapshot(Snapshot),
    Input(Input),
    Text(String),
    Hit(Hit),
    U32(u32),
}

impl Payload {
    fn type_name(&self) -> &'static str {
        match self {
            Payload::None => "none",
            Payload::Json(_) => "json",
            Payload::Snapshot(_) => "snapshot",
            Payload::Input(_) => "input",
            Payload::Text(_) => "string",
            Payload::Hit(_) => "hit",
            Payload::U32(_) => "u32",
        }
    }

    /// The value as JSON (the JSON codec's form of the argument).
    fn value(&self) -> Value {
        let value = match self {
            Payload::None => Ok(Value::Null),
            Payload::Json(v) => Ok(v.clone()),
            Payload::Snapshot(v) => serde_json::to_value(v),
            Payload::Input(v) => serde_json::to_value(v),
            Payload::Text(v) => serde_json::to_value(v),
            Payload::Hit(v) => serde_json::to_value(v),
            Payload::U32(v) => serde_json::to_value(v),
        };
        value.expect("payload types serialize to JSON")
    }

    /// The compact payload bytes.
    fn bytes(&self) -> Bytes {
        let bytes = match self {
            Payload::None => Ok(Bytes::new()),
            Payload::Json(v) => Ok(Bytes::from(serde_json::to_vec(v).unwrap())),
            Payload::Snapshot(v) => to_payload(v),
            Payload::Input(v) => to_payload(v),
            Payload::Text(v) => to_payload(v),
            Payload::Hit(v) => to_payload(v),
            Payload::U32(v) => to_payload(v),
        };
        bytes.expect("payload types serialize to postcard")
    }

    /// The JSON codec's arguments for an EVENT or ACK.
    fn json_args(&self) -> Vec<Value> {
        match self {
            Payload::None => Vec::new(),
            other => vec![other.value()],
        }
    }

    /// Read a `{"type", "value"}` description back.
    fn from_description(desc: &Value) -> Payload {
        let value = desc["value"].clone();
        let typed = |v: Value| v;
        match desc["type"].as_str().expect("payload type") {
            "none" => Payload::None,
            "json" => Payload::Json(typed(value)),
            "snapshot" => Payload::Snapshot(serde_json::from_value(value).unwrap()),
            "input" => Payload::Input(serde_json::from_value(value).unwrap()),
            "string" => Payload::Text(serde_json::from_value(value).unwrap()),
            "hit" => Payload::Hit(serde_json::from_value(value).unwrap()),
            "u32" => Payload::U32(serde_json::from_value(value).unwrap()),
            other => panic!("unknown payload type {other:?}"),
        }
    }

    /// Decode compact payload bytes as this payload's type.
    fn decode_like(&self, bytes: &[u8]) -> Result<Payload, PayloadError> {
        Ok(match self {
            Payload::None => {
                assert!(bytes.is_empty(), "no argument means an empty payload");
                Payload::None
            }
            Payload::Json(_) => Payload::Json(serde_json::from_slice(bytes).unwrap()),
            Payload::Snapshot(_) => Payload::Snapshot(from_payload(bytes)?),
            Payload::Input(_) => Payload::Input(from_payload(bytes)?),
            Payload::Text(_) => Payload::Text(from_payload(bytes)?),
            Payload::Hit(_) => Payload::Hit(from_payload(bytes)?),
            Payload::U32(_) => Payload::U32(from_payload(bytes)?),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

/// One valid packet.
struct Case {
    name: &'static str,
    kind: CompactKind,
    nsp: &'static str,
    id: Option<u64>,
    /// The event's name (also for numbered events: the JSON codec sends the name).
    event: Option<&'static str>,
    /// Send the event as this numeric id in the compact frame.
    event_id: Option<u32>,
    payload: Payload,
}

fn kind_name(kind: CompactKind) -> &'static str {
    match kind {
        CompactKind::Connect => "CONNECT",
        CompactKind::Disconnect => "DISCONNECT",
        CompactKind::Event => "EVENT",
        CompactKind::Ack => "ACK",
        CompactKind::ConnectError => "CONNECT_ERROR",
    }
}

fn kind_from_name(name: &str) -> CompactKind {
    match name {
        "CONNECT" => CompactKind::Connect,
        "DISCONNECT" => CompactKind::Disconnect,
        "EVENT" => CompactKind::Event,
        "ACK" => CompactKind::Ack,
        "CONNECT_ERROR" => CompactKind::ConnectError,
        other => panic!("unknown kind {other:?}"),
    }
}

fn compact_packet(
    kind: CompactKind,
    nsp: &str,
    id: Option<u64>,
    event: Option<&str>,
    event_id: Option<u32>,
    payload: &Payload,
) -> CompactPacket {
    CompactPacket {
        kind,
        nsp: nsp.to_owned().into(),
        id,
        event: match (event_id, event) {
            (Some(n), _) => Some(EventName::Id(n)),
            (None, Some(name)) => Some(EventName::from(name.to_owned())),
            (None, None) => None,
        },
        payload: payload.bytes(),
    }
}

/// The same packet in the JSON codec.
fn json_packet(
    kind: CompactKind,
    nsp: &str,
    id: Option<u64>,
    event: Option<&str>,
    payload: &Payload,
) -> socketio::Packet {
    match kind {
        CompactKind::Connect => socketio::Packet::connect(
            nsp,
            match payload {
                Payload::None => None,
                other => Some(other.value()),
            },
        ),
        CompactKind::Disconnect => socketio::Packet::disconnect(nsp),
        CompactKind::ConnectError => socketio::Packet {
            kind: socketio::PacketKind::ConnectError,
            nsp: nsp.to_owned(),
            id: None,
            data: Some(payload.value()),
            attachments: Vec::new(),
        },
        CompactKind::Event => socketio::Packet::event(
            nsp,
            event.expect("an EVENT case names its event"),
            payload.json_args(),
            Vec::new(),
            id,
        ),
        CompactKind::Ack => socketio::Packet::ack(
            nsp,
            id.expect("an ACK case has an ack id"),
            payload.json_args(),
            Vec::new(),
        ),
    }
}

fn snapshot() -> Snapshot {
    Snapshot {
        tick: 1042,
        players: vec![
            Player {
                id: 1,
                x: 12.5,
                y: -3.25,
                last_input_seq: 17,
                hp: 100,
            },
            Player {
                id: 2,
                x: 0.75,
                y: 40.0,
                last_input_seq: 300,
                hp: 87,
            },
        ],
    }
}

fn cases() -> Vec<Case> {
    use CompactKind::*;
    let case = |name, kind, nsp, id, event, event_id, payload| Case {
        name,
        kind,
        nsp,
        id,
        event,
        event_id,
        payload,
    };
    vec![
        case(
            "connect_main_namespace",
            Connect,
            "/",
            None,
            None,
            None,
            Payload::None,
        ),
        case(
            "connect_with_auth",
            Connect,
            "/game",
            None,
            None,
            None,
            Payload::Json(json!({"token": "s3cr3t"})),
        ),
        case(
            "connect_accepted",
            Connect,
            "/",
            None,
            None,
            None,
            Payload::Json(json!({"sid": "oSO0OpakMV_3jnilAAAA"})),
        ),
        case(
            "connect_error",
            ConnectError,
            "/game",
            None,
            None,
            None,
            Payload::Json(json!({"message": "match is full", "data": {"capacity": 8}})),
        ),
        case(
            "disconnect_main_namespace",
            Disconnect,
            "/",
            None,
            None,
            None,
            Payload::None,
        ),
        case(
            "disconnect_namespace",
            Disconnect,
            "/game",
            None,
            None,
            None,
            Payload::None,
        ),
        case(
            "event_snapshot",
            Event,
            "/",
            None,
            Some("state"),
            None,
            Payload::Snapshot(snapshot()),
        ),
        case(
            "event_snapshot_by_id",
            Event,
            "/",
            None,
            Some("state"),
            Some(0),
            Payload::Snapshot(snapshot()),
        ),
        case(
            "event_snapshot_no_players",
            Event,
            "/game",
            None,
            Some("state"),
            None,
            Payload::Snapshot(Snapshot {
                tick: 0,
                players: Vec::new(),
            }),
        ),
        case(
            "event_input_with_ack",
            Event,
            "/game",
            Some(42),
            Some("input"),
            None,
            Payload::Input(Input {
                seq: 18,
                dx: -1,
                dy: 1,
                buttons: 0b101,
                aim: Some(1.5),
            }),
        ),
        case(
            "event_input_by_id",
            Event,
            "/",
            None,
            Some("input"),
            Some(1),
            Payload::Input(Input {
                seq: 300,
                dx: 0,
                dy: -64,
                buttons: 0,
                aim: None,
            }),
        ),
        case(
            "event_string",
            Event,
            "/chat",
            None,
            Some("say"),
            None,
            Payload::Text("héllo, wörld ✓".to_owned()),
        ),
        case(
            "event_tuple",
            Event,
            "/",
            None,
            Some("hit"),
            None,
            Payload::Hit((7, -1_234_567_890_123, 0.5, true)),
        ),
        case(
            "event_no_argument_large_ack_id",
            Event,
            "/",
            Some(1 << 32),
            Some("ping"),
            None,
            Payload::None,
        ),
        case("ack_u32", Ack, "/", Some(7), None, None, Payload::U32(1042)),
        case(
            "ack_no_argument",
            Ack,
            "/game",
            Some(0),
            None,
            None,
            Payload::None,
        ),
        case(
            "ack_string",
            Ack,
            "/chat",
            Some(300),
            None,
            None,
            Payload::Text("ok".to_owned()),
        ),
    ]
}

/// Frames the decoder must refuse, with the error it must give.
fn invalid_cases() -> Vec<(&'static str, &'static str, CompactError)> {
    use CompactError::*;
    vec![
        (
            "empty",
            "",
            Truncated {
                field: Field::Version,
            },
        ),
        ("version_only", "01", Truncated { field: Field::Kind }),
        ("version_0", "0002", UnsupportedVersion(0)),
        ("version_2", "020100", UnsupportedVersion(2)),
        ("kind_5", "0105", UnknownKind(5)),
        ("kind_7", "0107", UnknownKind(7)),
        ("reserved_bit", "0142", ReservedBits(0x42)),
        (
            "namespace_truncated",
            "0109052f6761",
            Truncated {
                field: Field::Namespace,
            },
        ),
        (
            "namespace_length_over_limit",
            "0109e8072f",
            TooLong {
                field: Field::Namespace,
                len: 1000,
                max: 256,
            },
        ),
        (
            "namespace_length_varint_overflow",
            "0109ffffffffffffffffff7f",
            VarintOverflow {
                field: Field::Namespace,
            },
        ),
        ("namespace_main_written_out", "0109012f", InvalidNamespace),
        (
            "namespace_without_slash",
            "01090467616d65",
            InvalidNamespace,
        ),
        ("namespace_with_comma", "0109032f612c", InvalidNamespace),
        (
            "namespace_invalid_utf8",
            "0109032fc328",
            InvalidUtf8 {
                field: Field::Namespace,
            },
        ),
        (
            "ack_id_on_connect",
            "011005",
            UnexpectedAckId(CompactKind::Connect),
        ),
        (
            "ack_id_on_disconnect",
            "011105",
            UnexpectedAckId(CompactKind::Disconnect),
        ),
        ("ack_without_id", "0103", MissingAckId),
        (
            "ack_id_truncated",
            "0113ff",
            Truncated {
                field: Field::AckId,
            },
        ),
        (
            "ack_id_overlong",
            "01138000",
            NonCanonicalVarint {
                field: Field::AckId,
            },
        ),
        (
            "ack_id_over_64_bits",
            "0113ffffffffffffffffff02",
            VarintOverflow {
                field: Field::AckId,
            },
        ),
        (
            "event_missing",
            "0102",
            Truncated {
                field: Field::Event,
            },
        ),
        (
            "event_name_truncated",
            "01020a7374",
            Truncated {
                field: Field::Event,
            },
        ),
        (
            "event_name_over_limit",
            "01028204",
            TooLong {
                field: Field::Event,
                len: 257,
                max: 256,
            },
        ),
        (
            "event_name_invalid_utf8",
            "010204c328",
            InvalidUtf8 {
                field: Field::Event,
            },
        ),
        (
            "event_id_over_32_bits",
            "01028180808020",
            EventIdOutOfRange(1 << 32),
        ),
        (
            "disconnect_with_payload",
            "010100",
            TrailingBytes {
                kind: CompactKind::Disconnect,
                len: 1,
            },
        ),
        (
            "connect_error_without_payload",
            "010c052f67616d65",
            MissingPayload,
        ),
    ]
}

/// The language-neutral name of an error, as the JS module's `CompactError#code`.
fn error_code(error: &CompactError) -> &'static str {
    match error {
        CompactError::FrameTooLarge { .. } => "frame_too_large",
        CompactError::Truncated { .. } => "truncated",
        CompactError::UnsupportedVersion(_) => "unsupported_version",
        CompactError::UnknownKind(_) => "unknown_kind",
        CompactError::ReservedBits(_) => "reserved_bits",
        CompactError::VarintOverflow { .. } => "varint_overflow",
        CompactError::NonCanonicalVarint { .. } => "non_canonical_varint",
        CompactError::TooLong { .. } => "too_long",
        CompactError::InvalidUtf8 { .. } => "invalid_utf8",
        CompactError::InvalidNamespace => "invalid_namespace",
        CompactError::EventIdOutOfRange(_) => "event_id_out_of_range",
        CompactError::UnexpectedAckId(_) => "unexpected_ack_id",
        CompactError::MissingAckId => "missing_ack_id",
        CompactError::EventMismatch => "event_mismatch",
        CompactError::TrailingBytes { .. } => "trailing_bytes",
        CompactError::MissingPayload => "missing_payload",
        CompactError::InvalidJson(_) => "invalid_json",
    }
}

// ---------------------------------------------------------------------------------------------
// The vector file
// ---------------------------------------------------------------------------------------------

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/compact.json")
}

/// The vector file as the code writes it now.
fn document() -> String {
    let valid: Vec<Value> = cases()
        .iter()
        .map(|case| {
            let packet = compact_packet(
                case.kind,
                case.nsp,
                case.id,
                case.event,
                case.event_id,
                &case.payload,
            );
            let frame = compact::encode(&packet).expect("case packets are valid");
            let mut json_frame = String::from("4");
            socketio::encode_into(
                &json_packet(case.kind, case.nsp, case.id, case.event, &case.payload),
                &mut json_frame,
            );
            let polling = engineio::payload::encode([&engineio::Packet::Binary(frame.clone())]);
            json!({
                "name": case.name,
                "packet": {
                    "kind": kind_name(case.kind),
                    "nsp": case.nsp,
                    "id": case.id,
                    "event": case.event,
                    "event_id": case.event_id,
                    "payload": {"type": case.payload.type_name(), "value": case.payload.value()},
                },
                "json_frame": json_frame,
                "compact_hex": hex(&frame),
                "polling_body": polling,
            })
        })
        .collect();
    let invalid: Vec<Value> = invalid_cases()
        .iter()
        .map(|(name, frame, error)| {
            json!({"name": name, "compact_hex": frame, "error": error_code(error)})
        })
        .collect();
    let doc = json!({
        "about": "Golden vectors of the tickwire compact codec (protocol/docs/compact-codec.md), \
                  written by protocol/tests/compact_vectors.rs and checked by it and by \
                  protocol/js/test/compact.test.mjs. json_frame is the Engine.IO websocket text \
                  frame of the same packet in the Socket.IO JSON codec; compact_hex the \
                  websocket binary frame; polling_body the compact frame in a long-polling body. \
                  Numbered events use the event_ids table (id = index). Payload types: none (no \
                  argument), json, snapshot {tick: u64, players: [{id: u32, x: f32, y: f32, \
                  last_input_seq: u32, hp: u8}]}, input {seq: u32, dx: i32, dy: i32, \
                  buttons: u16, aim: Option<f32>}, string, hit (u32, i64, f64, bool), u32. \
                  Invalid frames and mutations (valid frames with a byte changed or the end cut \
                  off; outcome is ok or the error code) are decoded with the default limits \
                  (namespace and event name 256 bytes, frame 1,000,000 bytes).",
        "version": compact::VERSION,
        "event_ids": EVENT_IDS,
        "valid": valid,
        "invalid": invalid,
        "mutations": mutations(),
    });
    let mut text = serde_json::to_string_pretty(&doc).expect("a Value serializes");
    text.push('\n');
    text
}

/// A deterministic generator (xorshift32) for the mutated frames.
struct XorShift(u32);

impl XorShift {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
}

/// The outcome of decoding a frame: `"ok"` or the error's code.
fn outcome(frame: &[u8]) -> &'static str {
    match compact::decode(Bytes::copy_from_slice(frame), &Limits::default()) {
        Ok(_) => "ok",
        Err(e) => error_code(&e),
    }
}

/// Valid frames with one byte changed or the end cut off, and what decoding them gives, so
/// that the JS decoder is checked to accept and refuse exactly what the Rust one does.
fn mutations() -> Vec<Value> {
    let mut rng = XorShift(0x6d75_7461);
    let mut out = Vec::new();
    for case in cases() {
        let packet = compact_packet(
            case.kind,
            case.nsp,
            case.id,
            case.event,
            case.event_id,
            &case.payload,
        );
        let frame = compact::encode(&packet).unwrap().to_vec();
        let header = frame.len() - packet.payload.len();
        for _ in 0..4 {
            let mut mutated = frame.clone();
            // Mostly in the header, where the format lives.
            let at = rng.next() as usize % header.max(1);
            mutated[at] = match rng.next() % 4 {
                0 => mutated[at] ^ (1 << (rng.next() % 8)),
                1 => 0x80,
                _ => rng.next() as u8,
            };
            if matches!(rng.next() % 3, 0) {
                mutated.truncate(rng.next() as usize % (mutated.len() + 1));
            }
            out.push(json!({"compact_hex": hex(&mutated), "outcome": outcome(&mutated)}));
        }
    }
    out
}

fn regenerating() -> bool {
    std::env::var("REGENERATE_VECTORS").as_deref() == Ok("1")
}

/// The vector file as stored (or, while regenerating, as it is being written).
fn stored() -> Value {
    let text = if regenerating() {
        document()
    } else {
        std::fs::read_to_string(vectors_path()).expect("tests/vectors/compact.json")
    };
    serde_json::from_str(&text).expect("the vector file is JSON")
}

#[test]
fn vector_file_is_current() {
    let text = document();
    if regenerating() {
        std::fs::write(vectors_path(), &text).expect("write the vector file");
        return;
    }
    let stored = std::fs::read_to_string(vectors_path()).unwrap_or_default();
    assert!(
        stored == text,
        "tests/vectors/compact.json is out of date; if the change is deliberate, run \
         REGENERATE_VECTORS=1 cargo test -p tickwire-protocol --test compact_vectors"
    );
}

#[test]
fn every_valid_vector_decodes_to_its_packet_and_encodes_back() {
    let doc = stored();
    let event_ids: Vec<String> = serde_json::from_value(doc["event_ids"].clone()).unwrap();
    let valid = doc["valid"].as_array().unwrap();
    assert!(valid.len() >= 15);
    for case in valid {
        let name = case["name"].as_str().unwrap();
        let desc = &case["packet"];
        let kind = kind_from_name(desc["kind"].as_str().unwrap());
        let nsp = desc["nsp"].as_str().unwrap();
        let id = desc["id"].as_u64();
        let event = desc["event"].as_str();
        let event_id = desc["event_id"].as_u64().map(|n| n as u32);
        let payload = Payload::from_description(&desc["payload"]);
        let frame = Bytes::from(unhex(case["compact_hex"].as_str().unwrap()));

        // Compact: decode, the payload's value, encode back.
        let decoded = compact::decode(frame.clone(), &Limits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = compact_packet(kind, nsp, id, event, event_id, &payload);
        assert_eq!(decoded, expected, "{name}");
        assert_eq!(
            payload.decode_like(&decoded.payload).unwrap(),
            payload,
            "{name}: payload value"
        );
        assert_eq!(
            compact::encode(&decoded).unwrap(),
            frame,
            "{name}: re-encoding"
        );
        if let Some(n) = event_id {
            assert_eq!(Some(event_ids[n as usize].as_str()), event, "{name}");
        }

        // JSON: the same packet.
        let json_frame = case["json_frame"].as_str().unwrap();
        let text = json_frame
            .strip_prefix('4')
            .expect("an Engine.IO message frame");
        let json = socketio::decode_text(text, &Default::default()).unwrap();
        assert_eq!(
            json,
            json_packet(kind, nsp, id, event, &payload),
            "{name}: JSON"
        );
        assert_eq!(socketio::PacketKind::from(kind), json.kind, "{name}");

        // Long-polling: `b` + base64 of the same frame.
        let body = case["polling_body"].as_str().unwrap();
        assert_eq!(
            engineio::payload::decode(body, 1_000_000).unwrap(),
            vec![engineio::Packet::Binary(frame)],
            "{name}: polling"
        );
    }
}

#[test]
fn every_invalid_vector_is_refused_with_its_error() {
    let doc = stored();
    let invalid = doc["invalid"].as_array().unwrap();
    let expected = invalid_cases();
    assert_eq!(invalid.len(), expected.len());
    for (case, (name, hex_frame, error)) in invalid.iter().zip(expected) {
        assert_eq!(case["name"], name);
        assert_eq!(case["compact_hex"], hex_frame);
        assert_eq!(case["error"], error_code(&error), "{name}");
        let frame = Bytes::from(unhex(hex_frame));
        assert_eq!(
            compact::decode(frame, &Limits::default()),
            Err(error),
            "{name}"
        );
    }
}

#[test]
fn every_mutation_has_its_outcome() {
    let doc = stored();
    let mutations = doc["mutations"].as_array().unwrap();
    assert!(mutations.len() >= 60);
    let mut refused = 0;
    for m in mutations {
        let frame = unhex(m["compact_hex"].as_str().unwrap());
        let got = outcome(&frame);
        assert_eq!(got, m["outcome"], "{}", m["compact_hex"]);
        if got != "ok" {
            refused += 1;
        }
    }
    assert!(
        refused >= mutations.len() / 2,
        "mutations should mostly break the header"
    );
}

// ---------------------------------------------------------------------------------------------
// Frames written out by hand
// ---------------------------------------------------------------------------------------------

fn encode_hex(packet: &CompactPacket) -> String {
    hex(&compact::encode(packet).unwrap())
}

#[test]
fn pinned_frames() {
    // version 1, kind CONNECT, nothing else.
    assert_eq!(encode_hex(&CompactPacket::connect("/", None)), "0100");
    // kind DISCONNECT | namespace flag, length 5, "/game".
    assert_eq!(
        encode_hex(&CompactPacket::disconnect("/game")),
        "0109 05 2f67616d65".replace(' ', "")
    );
    // kind EVENT, tag 5 << 1 = 0x0a, "state", no payload.
    assert_eq!(
        encode_hex(&CompactPacket::event("/", "state", Bytes::new(), None)),
        "0102 0a 7374617465".replace(' ', "")
    );
    // kind EVENT, tag 1 << 1 | 1 = 0x03: event id 1.
    assert_eq!(
        encode_hex(&CompactPacket::event("/", 1u32, Bytes::new(), None)),
        "010203"
    );
    // kind ACK | ack id flag, id 7, postcard u32 1042 = varint 0x92 0x08.
    let payload = to_payload(&1042u32).unwrap();
    assert_eq!(
        encode_hex(&CompactPacket::ack("/", 7, payload)),
        "0113 07 9208".replace(' ', "")
    );
    // kind EVENT | both flags: "/g", ack id 300 (0xac 0x02), "in", postcard i32 -1 = 0x01.
    let payload = to_payload(&-1i32).unwrap();
    assert_eq!(
        encode_hex(&CompactPacket::event("/g", "in", payload, Some(300))),
        "011a 02 2f67 ac02 04 696e 01".replace(' ', "")
    );
}

#[test]
fn the_snapshot_of_the_docs_worked_example() {
    let payload = to_payload(&snapshot()).unwrap();
    let frame = compact::encode(&CompactPacket::event("/", "state", payload, None)).unwrap();
    let expected = "01 02 0a 7374617465 \
                    9208 02 \
                    01 00004841 000050c0 11 64 \
                    02 0000403f 00002042 ac02 57";
    assert_eq!(hex(&frame), expected.replace(' ', ""));
    assert_eq!(frame.len(), 34);
}

// ---------------------------------------------------------------------------------------------
// Behaviour around the vectors
// ---------------------------------------------------------------------------------------------

#[test]
fn decoded_payload_is_a_slice_of_the_frame() {
    let payload = to_payload(&snapshot()).unwrap();
    let frame = compact::encode(&CompactPacket::event(
        "/game",
        "state",
        payload.clone(),
        Some(3),
    ))
    .unwrap();
    let decoded = compact::decode(frame.clone(), &Limits::default()).unwrap();
    assert_eq!(decoded.payload, payload);
    let start = frame.as_ptr() as usize;
    let at = decoded.payload.as_ptr() as usize;
    assert!(at > start && at + decoded.payload.len() == start + frame.len());
}

#[test]
fn main_namespace_is_not_allocated() {
    let frame = Bytes::from_static(&[0x01, 0x02, 0x03]);
    let decoded = compact::decode(frame, &Limits::default()).unwrap();
    assert!(matches!(decoded.nsp, std::borrow::Cow::Borrowed("/")));
    assert_eq!(decoded.event, Some(EventName::Id(1)));
}

#[test]
fn json_payloads_of_connect_and_connect_error() {
    let auth = json!({"token": "abc"});
    let packet = CompactPacket::connect("/game", Some(&auth));
    assert_eq!(&packet.payload[..], br#"{"token":"abc"}"#);
    assert_eq!(packet.json(), Ok(Some(auth)));
    assert_eq!(CompactPacket::connect("/", None).json(), Ok(None));

    let refused = CompactPacket::connect_error("/", "nope", Some(json!(1)));
    assert_eq!(&refused.payload[..], br#"{"message":"nope","data":1}"#);
    assert_eq!(
        refused.json(),
        Ok(Some(json!({"message": "nope", "data": 1})))
    );

    let mut not_object = CompactPacket::connect("/", None);
    not_object.payload = Bytes::from_static(b"[1]");
    assert!(matches!(
        not_object.json(),
        Err(CompactError::InvalidJson(_))
    ));
    not_object.payload = Bytes::from_static(b"{");
    assert!(matches!(
        not_object.json(),
        Err(CompactError::InvalidJson(_))
    ));
    let mut string_error = CompactPacket::connect_error("/", "x", None);
    string_error.payload = Bytes::from_static(b"\"unauthorized\"");
    assert_eq!(string_error.json(), Ok(Some(json!("unauthorized"))));
    string_error.payload = Bytes::new();
    assert_eq!(string_error.json(), Err(CompactError::MissingPayload));
    let event = CompactPacket::event("/", "e", Bytes::from_static(b"{}"), None);
    assert!(matches!(event.json(), Err(CompactError::InvalidJson(_))));
}

#[test]
fn encode_refuses_packets_the_decoder_would_refuse() {
    let event = CompactPacket::event("/", "e", Bytes::new(), None);
    let with = |f: &dyn Fn(&mut CompactPacket)| {
        let mut p = event.clone();
        f(&mut p);
        compact::encode(&p)
    };
    assert_eq!(
        with(&|p| p.nsp = "game".into()),
        Err(CompactError::InvalidNamespace)
    );
    assert_eq!(
        with(&|p| p.nsp = "".into()),
        Err(CompactError::InvalidNamespace)
    );
    assert_eq!(
        with(&|p| p.nsp = "/a,b".into()),
        Err(CompactError::InvalidNamespace)
    );
    assert_eq!(with(&|p| p.event = None), Err(CompactError::EventMismatch));
    assert_eq!(
        with(&|p| p.kind = CompactKind::Connect),
        Err(CompactError::EventMismatch)
    );
    assert_eq!(
        with(&|p| {
            p.kind = CompactKind::Ack;
            p.event = None;
        }),
        Err(CompactError::MissingAckId)
    );
    assert_eq!(
        with(&|p| {
            p.kind = CompactKind::Connect;
            p.event = None;
            p.id = Some(1);
        }),
        Err(CompactError::UnexpectedAckId(CompactKind::Connect))
    );
    assert_eq!(
        with(&|p| {
            p.kind = CompactKind::Disconnect;
            p.event = None;
            p.payload = Bytes::from_static(b"x");
        }),
        Err(CompactError::TrailingBytes {
            kind: CompactKind::Disconnect,
            len: 1
        })
    );
    assert_eq!(
        with(&|p| {
            p.kind = CompactKind::ConnectError;
            p.event = None;
        }),
        Err(CompactError::MissingPayload)
    );
}

#[test]
fn limits_apply_to_both_directions() {
    let limits = Limits {
        max_frame_len: 16,
        max_namespace_len: 4,
        max_event_len: 3,
    };
    let fits = CompactPacket::event("/abc", "xyz", Bytes::from_static(&[0; 4]), Some(1));
    let mut out = BytesMut::new();
    compact::encode_into(&fits, &mut out, &limits).unwrap();
    assert_eq!(out.len(), 16);
    assert_eq!(
        compact::decode(out.clone().freeze(), &limits),
        Ok(fits.clone())
    );

    let mut too_big = fits.clone();
    too_big.payload = Bytes::from_static(&[0; 5]);
    let mut untouched = BytesMut::new();
    assert_eq!(
        compact::encode_into(&too_big, &mut untouched, &limits),
        Err(CompactError::FrameTooLarge { len: 17, max: 16 })
    );
    assert!(untouched.is_empty());
    let frame = compact::encode(&too_big).unwrap();
    assert_eq!(
        compact::decode(frame, &limits),
        Err(CompactError::FrameTooLarge { len: 17, max: 16 })
    );

    let mut long_nsp = fits.clone();
    long_nsp.nsp = "/abcd".into();
    let too_long_nsp = CompactError::TooLong {
        field: Field::Namespace,
        len: 5,
        max: 4,
    };
    assert_eq!(
        compact::encode_into(&long_nsp, &mut BytesMut::new(), &limits),
        Err(too_long_nsp.clone())
    );
    long_nsp.payload = Bytes::new();
    let frame = compact::encode(&long_nsp).unwrap();
    assert_eq!(compact::decode(frame, &limits), Err(too_long_nsp));

    let mut long_event = fits.clone();
    long_event.event = Some("wxyz".to_owned().into());
    long_event.payload = Bytes::new();
    let too_long_event = CompactError::TooLong {
        field: Field::Event,
        len: 4,
        max: 3,
    };
    assert_eq!(
        compact::encode_into(&long_event, &mut BytesMut::new(), &limits),
        Err(too_long_event.clone())
    );
    let frame = compact::encode(&long_event).unwrap();
    assert_eq!(compact::decode(frame, &limits), Err(too_long_event));
}

#[test]
fn every_cut_of_a_frame_is_refused_or_shortens_the_payload() {
    for case in cases() {
        let packet = compact_packet(
            case.kind,
            case.nsp,
            case.id,
            case.event,
            case.event_id,
            &case.payload,
        );
        let frame = compact::encode(&packet).unwrap();
        let header = frame.len() - packet.payload.len();
        for cut in 0..frame.len() {
            let result = compact::decode(frame.slice(..cut), &Limits::default());
            if cut < header {
                assert!(
                    matches!(result, Err(CompactError::Truncated { .. })),
                    "{}: cut at {cut}: {result:?}",
                    case.name
                );
            } else {
                match result {
                    Ok(short) => {
                        assert_eq!(short.payload, packet.payload.slice(..cut - header));
                        if !matches!(case.payload, Payload::None | Payload::Json(_)) {
                            assert!(
                                case.payload.decode_like(&short.payload).is_err(),
                                "{}: a cut payload must not decode",
                                case.name
                            );
                        }
                    }
                    Err(CompactError::MissingPayload) => {
                        assert_eq!(case.kind, CompactKind::ConnectError);
                        assert_eq!(cut, header);
                    }
                    Err(e) => panic!("{}: cut at {cut}: {e}", case.name),
                }
            }
        }
    }
}

#[test]
fn payloads_refuse_trailing_bytes_and_wrong_types() {
    let mut bytes = to_payload(&snapshot()).unwrap().to_vec();
    bytes.push(0);
    assert_eq!(
        from_payload::<Snapshot>(&bytes),
        Err(PayloadError::TrailingBytes(1))
    );
    // A bool that is neither 0 nor 1.
    assert!(matches!(
        from_payload::<bool>(&[2]),
        Err(PayloadError::Postcard(_))
    ));
    // A sequence announcing more elements than there are bytes.
    assert!(matches!(
        from_payload::<Vec<u32>>(&[0xff, 0xff, 0xff, 0xff, 0x0f, 1]),
        Err(PayloadError::Postcard(_))
    ));
    assert_eq!(from_payload::<()>(&[]), Ok(()));
}
