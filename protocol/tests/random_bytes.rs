//! Decoders fed random input: arbitrary strings, random bytes read as (lossy) UTF-8, and
//! "token soup" built from the protocols' own characters so that the inputs reach deep into
//! the parsers. No decoder may panic; each either returns a well-formed value that survives
//! re-encoding, or one of the typed errors its documentation promises.
//!
//! The runner uses a fixed seed, so every run checks the same cases.

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use serde_json::Value;
use tickwire_protocol::engineio::{self, payload, HandshakeQuery, RequestError, TransportKind};
use tickwire_protocol::socketio::{
    self, count_placeholders, DecodeConfig, DecodeError, Packet, PacketKind, Reassembler,
};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        rng_seed: RngSeed::Fixed(0x6279_7465_735f_7477),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

fn soup(tokens: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    vec(proptest::sample::select(tokens), 0..max).prop_map(|parts| parts.concat())
}

const ENGINEIO_TOKENS: &[&str] = &[
    "0", "1", "2", "3", "4", "5", "6", "7", "9", "b", "b", "AQID", "BA==", "A", "=", "probe",
    "hello", "\u{1e}", "\u{1e}", "\u{1e}", "é", "€", "{}", " ", "!",
];

const SOCKETIO_TOKENS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "1-",
    "2-",
    "0-",
    "-",
    "/",
    "/chat",
    "/chat,",
    ",",
    "12",
    "[",
    "]",
    "{",
    "}",
    "\"",
    ":",
    "\"a\"",
    "\"ev\",",
    "\"_placeholder\"",
    "true",
    "false",
    "null",
    "\"num\"",
    r#"{"_placeholder":true,"num":0}"#,
    r#"{"_placeholder":true,"num":1}"#,
    r#"{"_placeholder":true}"#,
    r#"{"k":[1,"x"]}"#,
    " ",
    "é",
    "x",
    "\\",
];

/// Well-ordered polling bodies: plausible packets joined by the separator.
fn engineio_structured() -> impl Strategy<Value = String> {
    const PARTS: &[&str] = &[
        "4hello",
        "4",
        "4€",
        "2",
        "2probe",
        "3",
        "3probe",
        "1",
        "5",
        "6",
        "0{}",
        "bAQIDBA==",
        "b",
        "bAQID",
        "b/w==",
        "bAQ",
        "bAQIDBA",
        "b!!!!",
        "9x",
        "",
        "abc",
        "1junk",
    ];
    vec(proptest::sample::select(PARTS), 1..6).prop_map(|parts| parts.join("\u{1e}"))
}

/// Well-ordered Socket.IO packets: `<type>[<n>-][<nsp>,][<id>][<json>]`, each piece drawn
/// from valid and invalid variants, with a little noise at the end now and then.
fn socketio_structured() -> impl Strategy<Value = String> {
    const KINDS: &[&str] = &["0", "1", "2", "3", "4", "5", "6", "2", "2", "5", "7"];
    const COUNTS: &[&str] = &["", "0-", "1-", "1-", "2-", "2-", "-", "x-", "65-"];
    const NAMESPACES: &[&str] = &["", "", "/chat,", "/chat", "/,", "/a/b,", "/é,", "chat,"];
    const IDS: &[&str] = &[
        "",
        "",
        "0",
        "12",
        "007",
        "18446744073709551615",
        "18446744073709551616",
    ];
    const PAYLOADS: &[&str] = &[
        "",
        "{}",
        r#"{"token":"123"}"#,
        r#"["ev"]"#,
        r#"["ev",1,"2",{"3":[true]}]"#,
        r#"[1,"a"]"#,
        "[]",
        "[null]",
        r#""Not authorized""#,
        r#"{"message":"Invalid namespace"}"#,
        r#"["ev",{"_placeholder":true,"num":0}]"#,
        r#"["ev",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        r#"[{"f":{"_placeholder":true,"num":1}},[{"_placeholder":true,"num":0}]]"#,
        r#"["ev",{"_placeholder":true,"num":5}]"#,
        r#"["ev",{"_placeholder":true}]"#,
        r#"["ev""#,
        "abc",
        " [\"ev\"]",
    ];
    (
        proptest::sample::select(KINDS),
        proptest::sample::select(COUNTS),
        proptest::sample::select(NAMESPACES),
        proptest::sample::select(IDS),
        proptest::sample::select(PAYLOADS),
        prop_oneof![4 => Just(String::new()), 1 => soup(SOCKETIO_TOKENS, 3)],
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(kind, count, nsp, id, payload, noise, misplaced_count)| {
            // The count belongs to binary kinds; elsewhere it only shows up by mistake.
            let count = if matches!(kind, "5" | "6") || misplaced_count {
                count
            } else {
                ""
            };
            format!("{kind}{count}{nsp}{id}{payload}{noise}")
        })
}

/// Any text a decoder might see: arbitrary strings, lossy random bytes, token soup, and
/// well-ordered input from `structured`.
fn text<S>(tokens: &'static [&'static str], structured: fn() -> S) -> impl Strategy<Value = String>
where
    S: Strategy<Value = String> + 'static,
{
    prop_oneof![
        1 => any::<String>(),
        1 => vec(any::<u8>(), 0..48).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => soup(tokens, 24),
        5 => structured(),
    ]
}

fn engineio_text() -> impl Strategy<Value = String> {
    text(ENGINEIO_TOKENS, engineio_structured)
}

fn socketio_text() -> impl Strategy<Value = String> {
    text(SOCKETIO_TOKENS, socketio_structured)
}

/// One message on a Socket.IO connection: a text packet or a binary attachment.
#[derive(Debug, Clone)]
enum Message {
    Text(String),
    Binary(Bytes),
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        3 => socketio_text().prop_map(Message::Text),
        // Whole binary packets, so reassembly actually completes now and then.
        2 => (1usize..3, soup(SOCKETIO_TOKENS, 8)).prop_map(|(n, tail)| {
            let placeholders: Vec<String> = (0..n)
                .map(|i| format!(r#"{{"_placeholder":true,"num":{i}}}"#))
                .collect();
            Message::Text(format!(r#"5{n}-["ev",{}]{tail}"#, placeholders.join(",")))
        }),
        2 => vec(any::<u8>(), 0..16).prop_map(|b| Message::Binary(Bytes::from(b))),
    ]
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

fn fail(message: impl Into<String>) -> TestCaseError {
    TestCaseError::fail(message.into())
}

/// A decoded Socket.IO packet is well formed for its kind.
fn check_shape(packet: &Packet) -> Result<(), TestCaseError> {
    prop_assert!(packet.nsp.starts_with('/'), "namespace {:?}", packet.nsp);
    prop_assert!(!packet.nsp.contains(','), "namespace {:?}", packet.nsp);
    let data = packet.data.as_ref();
    let ok = match packet.kind {
        PacketKind::Connect => matches!(data, None | Some(Value::Object(_))),
        PacketKind::Disconnect => data.is_none(),
        PacketKind::ConnectError => matches!(data, Some(Value::Object(_) | Value::String(_))),
        PacketKind::Event | PacketKind::BinaryEvent => matches!(
            data,
            Some(Value::Array(a)) if matches!(a.first(), Some(Value::String(_) | Value::Number(_)))
        ),
        PacketKind::Ack | PacketKind::BinaryAck => matches!(data, Some(Value::Array(_))),
    };
    prop_assert!(ok, "{:?} with payload {:?}", packet.kind, data);
    Ok(())
}

/// Re-encoding a decoded packet gives text that decodes to the same packet.
fn check_reencodes(packet: &Packet) -> Result<(), TestCaseError> {
    let text = socketio::encode(packet);
    let again = socketio::decode_text(&text, &DecodeConfig::default())
        .map_err(|e| fail(format!("re-encoded {text:?} does not decode: {e}")))?;
    prop_assert_eq!(again.kind, packet.kind);
    prop_assert_eq!(&again.nsp, &packet.nsp);
    prop_assert_eq!(again.id, packet.id);
    prop_assert_eq!(&again.data, &packet.data);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn engineio_text_frames(frame in engineio_text()) {
        let first = frame.chars().next();
        match engineio::Packet::decode_text(&frame) {
            Ok(packet) => {
                let digit = first.ok_or_else(|| fail("decoded an empty frame"))?;
                prop_assert!(('0'..='6').contains(&digit));
                prop_assert_eq!(packet.packet_type().digit(), digit);
                let expected = match packet {
                    engineio::Packet::Close | engineio::Packet::Upgrade | engineio::Packet::Noop => {
                        digit.to_string()
                    }
                    _ => frame.clone(),
                };
                prop_assert_eq!(packet.encode_text(), Some(expected));
            }
            Err(engineio::DecodeError::Empty) => prop_assert!(frame.is_empty()),
            Err(engineio::DecodeError::UnknownType(c)) => {
                prop_assert_eq!(Some(c), first);
                prop_assert!(!('0'..='6').contains(&c));
            }
            Err(other) => return Err(fail(format!("{frame:?}: unexpected {other:?}"))),
        }
    }

    #[test]
    fn engineio_binary_frames(bytes in vec(any::<u8>(), 0..64)) {
        let bytes = Bytes::from(bytes);
        prop_assert_eq!(
            engineio::Packet::decode_binary(bytes.clone()),
            engineio::Packet::Binary(bytes)
        );
    }

    #[test]
    fn polling_payloads(
        body in engineio_text(),
        max in prop_oneof![Just(usize::MAX), 0usize..48],
    ) {
        match payload::decode(&body, max) {
            _ if body.len() > max => {
                prop_assert_eq!(
                    payload::decode(&body, max),
                    Err(engineio::DecodeError::TooLarge { size: body.len(), max })
                );
            }
            Ok(packets) => {
                prop_assert_eq!(packets.len(), body.split(payload::SEPARATOR).count());
                let again = payload::encode(&packets);
                prop_assert_eq!(payload::decode(&again, usize::MAX), Ok(packets));
            }
            Err(engineio::DecodeError::TooLarge { .. }) => {
                return Err(fail(format!("{body:?} is within {max} bytes")));
            }
            Err(engineio::DecodeError::Empty) => {
                prop_assert!(body.split(payload::SEPARATOR).any(str::is_empty));
            }
            Err(engineio::DecodeError::UnknownType(c)) => {
                prop_assert!(body.split(payload::SEPARATOR).any(|p| p.starts_with(c)));
            }
            Err(engineio::DecodeError::InvalidBase64) => {
                prop_assert!(body.split(payload::SEPARATOR).any(|p| p.starts_with('b')));
            }
        }
    }

    #[test]
    fn socketio_text_packets(text in socketio_text()) {
        match socketio::decode_text(&text, &DecodeConfig::default()) {
            Ok(packet) => {
                prop_assert!(packet.attachments.is_empty());
                check_shape(&packet)?;
                check_reencodes(&packet)?;
            }
            Err(DecodeError::Empty) => prop_assert!(text.is_empty()),
            Err(
                DecodeError::UnknownType
                | DecodeError::IllegalAttachments
                | DecodeError::InvalidAckId
                | DecodeError::InvalidJson(_)
                | DecodeError::InvalidPayload,
            ) => prop_assert!(!text.is_empty()),
            Err(other) => return Err(fail(format!("{text:?}: a header cannot fail with {other:?}"))),
        }
    }

    #[test]
    fn socketio_attachment_limit(count in 0usize..200, max in 0usize..100) {
        let text = format!(r#"5{count}-["ev"]"#);
        let result = socketio::decode_text(&text, &DecodeConfig { max_attachments: max });
        if count > max {
            prop_assert_eq!(result, Err(DecodeError::IllegalAttachments));
        } else {
            prop_assert!(result.is_ok(), "{:?}", result);
        }
    }

    #[test]
    fn reassembler_sequences(messages in vec(message(), 0..24)) {
        let mut reassembler = Reassembler::default();
        for message in messages {
            let was_pending = reassembler.is_pending();
            let result = match &message {
                Message::Text(text) => reassembler.feed_text(text),
                Message::Binary(bytes) => reassembler.feed_binary(bytes.clone()),
            };
            match (&message, &result) {
                (Message::Text(_), Err(e)) if was_pending => {
                    prop_assert_eq!(e, &DecodeError::UnexpectedText);
                }
                (Message::Binary(_), Err(e)) if !was_pending => {
                    prop_assert_eq!(e, &DecodeError::UnexpectedBinary);
                }
                (Message::Binary(_), Err(e)) => {
                    prop_assert_eq!(e, &DecodeError::BadPlaceholder);
                }
                (Message::Text(_), Err(e)) => {
                    prop_assert!(
                        !matches!(e, DecodeError::UnexpectedText | DecodeError::UnexpectedBinary),
                        "{:?}", e
                    );
                }
                _ => {}
            }
            match result {
                Ok(None) => prop_assert!(reassembler.is_pending()),
                Ok(Some(packet)) => {
                    prop_assert!(!reassembler.is_pending());
                    check_shape(&packet)?;
                    if packet.kind.is_binary() {
                        let data = packet.data.as_ref().ok_or_else(|| fail("binary packet without data"))?;
                        prop_assert!(count_placeholders(data, packet.attachments.len()).is_ok());
                    } else {
                        prop_assert!(packet.attachments.is_empty());
                        prop_assert!(!was_pending);
                    }
                }
                // Every error leaves the reassembler ready for a fresh packet.
                Err(_) => prop_assert!(!reassembler.is_pending()),
            }
        }
        // Whatever happened, the connection can go on.
        if reassembler.is_pending() {
            prop_assert_eq!(reassembler.feed_text("2[\"x\"]"), Err(DecodeError::UnexpectedText));
        }
        let packet = reassembler.feed_text("2[\"ok\"]").map_err(|e| fail(e.to_string()))?;
        prop_assert_eq!(packet.as_ref().and_then(Packet::event_name), Some("ok"));
    }

    #[test]
    fn handshake_queries(
        pairs in vec(
            (
                prop_oneof![
                    Just("EIO".to_owned()),
                    Just("transport".to_owned()),
                    Just("sid".to_owned()),
                    Just("t".to_owned()),
                    any::<String>(),
                ],
                prop_oneof![
                    Just("4".to_owned()),
                    Just("3".to_owned()),
                    Just("polling".to_owned()),
                    Just("websocket".to_owned()),
                    Just(String::new()),
                    any::<String>(),
                ],
            ),
            0..6,
        )
    ) {
        let result = HandshakeQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let last = |key: &str| pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        match result {
            Ok(query) => {
                prop_assert_eq!(last("EIO"), Some("4"));
                let transport = match query.transport {
                    TransportKind::Polling => "polling",
                    TransportKind::WebSocket => "websocket",
                };
                prop_assert_eq!(last("transport"), Some(transport));
                prop_assert_eq!(query.sid.as_deref(), last("sid"));
            }
            Err(error) => {
                prop_assert!(matches!(
                    error,
                    RequestError::TransportUnknown
                        | RequestError::UnsupportedProtocolVersion
                        | RequestError::SessionIdUnknown
                ));
                let body: Value = serde_json::from_str(&error.body()).map_err(|e| fail(e.to_string()))?;
                prop_assert_eq!(body["code"].as_u64(), Some(u64::from(error.code())));
                prop_assert_eq!(error.http_status(), 400);
            }
        }
    }
}
