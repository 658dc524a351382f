//! Golden vectors for the Engine.IO v4 wire format: packets, polling payloads, the handshake
//! and request validation, taken from the v4 spec (`docs/engine.io-protocol/v4-current.md` in
//! the socket.io repository) and from what its official test suite sends and expects.

use bytes::Bytes;
use serde_json::Value;
use tickwire_protocol::engineio::handshake::sid_from_entropy;
use tickwire_protocol::engineio::{
    payload, DecodeError, HandshakeQuery, OpenPacket, Packet, PacketType, RequestError,
    TransportKind,
};

const NO_LIMIT: usize = usize::MAX;

fn text(frame: &str) -> Packet {
    Packet::decode_text(frame).unwrap_or_else(|e| panic!("{frame:?} should decode: {e}"))
}

/// Decode a text frame and check that it encodes back to exactly the same string.
fn text_round_trip(frame: &str) -> Packet {
    let packet = text(frame);
    assert_eq!(
        packet.encode_text().as_deref(),
        Some(frame),
        "re-encoding {packet:?}"
    );
    packet
}

// ---------------------------------------------------------------------------------------------
// Packets
// ---------------------------------------------------------------------------------------------

#[test]
fn type_digits_follow_the_spec_table() {
    let table = [
        (PacketType::Open, '0'),
        (PacketType::Close, '1'),
        (PacketType::Ping, '2'),
        (PacketType::Pong, '3'),
        (PacketType::Message, '4'),
        (PacketType::Upgrade, '5'),
        (PacketType::Noop, '6'),
    ];
    for (ty, digit) in table {
        assert_eq!(ty.digit(), digit, "{ty:?}");
    }
}

#[test]
fn every_packet_type_decodes_and_encodes() {
    assert_eq!(
        text_round_trip(r#"0{"sid":"abc"}"#),
        Packet::Open(r#"{"sid":"abc"}"#.into())
    );
    assert_eq!(text_round_trip("1"), Packet::Close);
    assert_eq!(text_round_trip("2"), Packet::Ping(String::new()));
    assert_eq!(text_round_trip("3"), Packet::Pong(String::new()));
    assert_eq!(text_round_trip("4hello"), Packet::Message("hello".into()));
    assert_eq!(text_round_trip("5"), Packet::Upgrade);
    assert_eq!(text_round_trip("6"), Packet::Noop);
}

#[test]
fn packet_type_of_each_variant() {
    let cases = [
        (Packet::Open(String::new()), PacketType::Open),
        (Packet::Close, PacketType::Close),
        (Packet::Ping(String::new()), PacketType::Ping),
        (Packet::Pong(String::new()), PacketType::Pong),
        (Packet::Message(String::new()), PacketType::Message),
        (Packet::Binary(Bytes::new()), PacketType::Message),
        (Packet::Upgrade, PacketType::Upgrade),
        (Packet::Noop, PacketType::Noop),
    ];
    for (packet, ty) in cases {
        assert_eq!(packet.packet_type(), ty, "{packet:?}");
    }
}

#[test]
fn probe_packets_of_the_upgrade() {
    assert_eq!(text_round_trip("2probe"), Packet::Ping("probe".into()));
    assert_eq!(text_round_trip("3probe"), Packet::Pong("probe".into()));
}

#[test]
fn websocket_text_echo_vector() {
    // Suite: `4hello` sent over a websocket comes back as `4hello`.
    let packet = text_round_trip("4hello");
    assert_eq!(packet.packet_type(), PacketType::Message);
}

#[test]
fn empty_message_is_a_message() {
    assert_eq!(text_round_trip("4"), Packet::Message(String::new()));
}

#[test]
fn utf8_message_is_kept_whole() {
    // The v3→v4 history note: `€` is three bytes in UTF-8 and v4 no longer counts characters.
    assert_eq!(text_round_trip("4€"), Packet::Message("€".into()));
    assert_eq!(
        text_round_trip("4héllo wörld"),
        Packet::Message("héllo wörld".into())
    );
}

#[test]
fn data_after_close_upgrade_and_noop_is_ignored() {
    assert_eq!(text("1whatever"), Packet::Close);
    assert_eq!(text("5x"), Packet::Upgrade);
    assert_eq!(text("6noise"), Packet::Noop);
    assert_eq!(Packet::Close.encode_text().as_deref(), Some("1"));
}

#[test]
fn websocket_binary_frame_is_a_binary_message_without_prefix() {
    // Suite: a binary frame `01 02 03 04` comes back with the same bytes and no prefix.
    let frame = Bytes::from_static(&[1, 2, 3, 4]);
    let packet = Packet::decode_binary(frame.clone());
    assert_eq!(packet, Packet::Binary(frame));
    assert_eq!(packet.packet_type(), PacketType::Message);
    assert_eq!(packet.encode_text(), None, "binary has no text form");
}

#[test]
fn message_frame_prefixes_the_message_digit() {
    // Socket.IO spec: `{ type: EVENT, namespace: "/", data: ["foo"] }` is sent as `42["foo"]`.
    assert_eq!(Packet::message_frame(r#"2["foo"]"#), r#"42["foo"]"#);
    assert_eq!(Packet::message_frame(""), "4");
}

#[test]
fn undecodable_text_frames() {
    // Suite: text `abc` over a websocket makes the server close.
    assert_eq!(
        Packet::decode_text("abc"),
        Err(DecodeError::UnknownType('a'))
    );
    assert_eq!(Packet::decode_text(""), Err(DecodeError::Empty));
    assert_eq!(Packet::decode_text("7"), Err(DecodeError::UnknownType('7')));
    assert_eq!(
        Packet::decode_text("9hello"),
        Err(DecodeError::UnknownType('9'))
    );
    assert_eq!(
        Packet::decode_text("€4"),
        Err(DecodeError::UnknownType('€'))
    );
    assert_eq!(
        Packet::decode_text(" 4"),
        Err(DecodeError::UnknownType(' '))
    );
    // A `b` packet only exists inside polling payloads, never as a websocket text frame.
    assert_eq!(
        Packet::decode_text("bAQIDBA=="),
        Err(DecodeError::UnknownType('b'))
    );
}

#[test]
fn decode_errors_have_messages() {
    let errors = [
        DecodeError::Empty,
        DecodeError::UnknownType('x'),
        DecodeError::InvalidBase64,
        DecodeError::TooLarge { size: 2, max: 1 },
    ];
    for error in errors {
        assert!(!error.to_string().is_empty(), "{error:?}");
    }
    assert_eq!(
        DecodeError::TooLarge { size: 11, max: 10 }.to_string(),
        "payload of 11 bytes exceeds the limit of 10"
    );
}

// ---------------------------------------------------------------------------------------------
// Polling payloads
// ---------------------------------------------------------------------------------------------

#[test]
fn spec_payload_with_ping_between_messages() {
    let body = "4hello\x1e2\x1e4world";
    let packets = payload::decode(body, NO_LIMIT).unwrap();
    assert_eq!(
        packets,
        [
            Packet::Message("hello".into()),
            Packet::Ping(String::new()),
            Packet::Message("world".into()),
        ]
    );
    assert_eq!(payload::encode(&packets), body);
}

#[test]
fn spec_payload_with_binary_round_trips_byte_for_byte() {
    // Spec and suite: `4hello\x1ebAQIDBA==` (AQIDBA== is <01 02 03 04>) comes back unchanged.
    let body = "4hello\x1ebAQIDBA==";
    let packets = payload::decode(body, NO_LIMIT).unwrap();
    assert_eq!(
        packets,
        [
            Packet::Message("hello".into()),
            Packet::Binary(Bytes::from_static(&[1, 2, 3, 4])),
        ]
    );
    assert_eq!(payload::encode(&packets), body);
}

#[test]
fn suite_payload_of_three_messages() {
    let body = "4test1\x1e4test2\x1e4test3";
    let packets = payload::decode(body, NO_LIMIT).unwrap();
    assert_eq!(
        packets,
        [
            Packet::Message("test1".into()),
            Packet::Message("test2".into()),
            Packet::Message("test3".into()),
        ]
    );
    assert_eq!(payload::encode(&packets), body);
}

#[test]
fn suite_single_packet_bodies() {
    assert_eq!(
        payload::decode("4hello", NO_LIMIT).unwrap(),
        [Packet::Message("hello".into())]
    );
    // The client's pong and close, POSTed alone.
    assert_eq!(
        payload::decode("3", NO_LIMIT).unwrap(),
        [Packet::Pong(String::new())]
    );
    assert_eq!(payload::decode("1", NO_LIMIT).unwrap(), [Packet::Close]);
}

#[test]
fn server_control_bodies_are_exact() {
    // Heartbeat over polling: the GET body is exactly `2`.
    assert_eq!(payload::encode(&[Packet::Ping(String::new())]), "2");
    // A poll ended by an upgrade or a client close: exactly `6`.
    assert_eq!(payload::encode(&[Packet::Noop]), "6");
    // A poll ended by a second GET: exactly `1`.
    assert_eq!(payload::encode(&[Packet::Close]), "1");
}

#[test]
fn socketio_sample_session_post_body() {
    let body = "42[\"hello\"]\x1e42[\"world\"]";
    let packets = payload::decode(body, NO_LIMIT).unwrap();
    assert_eq!(
        packets,
        [
            Packet::Message(r#"2["hello"]"#.into()),
            Packet::Message(r#"2["world"]"#.into()),
        ]
    );
}

#[test]
fn socketio_sample_session_open_body() {
    let body = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}"#;
    let packets = payload::decode(body, NO_LIMIT).unwrap();
    assert_eq!(packets, [Packet::Open(body[1..].to_owned())]);
}

#[test]
fn binary_parts_of_a_payload() {
    assert_eq!(
        payload::decode("b", NO_LIMIT).unwrap(),
        [Packet::Binary(Bytes::new())],
        "empty binary message"
    );
    assert_eq!(payload::encode(&[Packet::Binary(Bytes::new())]), "b");
    let body = "bAQID\x1eb\x1ebBAUG";
    let packets = payload::decode(body, NO_LIMIT).unwrap();
    assert_eq!(
        packets,
        [
            Packet::Binary(Bytes::from_static(&[1, 2, 3])),
            Packet::Binary(Bytes::new()),
            Packet::Binary(Bytes::from_static(&[4, 5, 6])),
        ]
    );
    assert_eq!(payload::encode(&packets), body);
}

#[test]
fn undecodable_payloads() {
    // Suite: a POST of `abc` gets 400 and closes the session.
    assert_eq!(
        payload::decode("abc", NO_LIMIT),
        Err(DecodeError::UnknownType('a'))
    );
    assert_eq!(payload::decode("", NO_LIMIT), Err(DecodeError::Empty));
    assert_eq!(payload::decode("4a\x1e", NO_LIMIT), Err(DecodeError::Empty));
    assert_eq!(payload::decode("\x1e4a", NO_LIMIT), Err(DecodeError::Empty));
    assert_eq!(
        payload::decode("4a\x1e\x1e4b", NO_LIMIT),
        Err(DecodeError::Empty)
    );
    assert_eq!(
        payload::decode("4a\x1e9b", NO_LIMIT),
        Err(DecodeError::UnknownType('9'))
    );
    assert_eq!(
        payload::decode("b!!!!", NO_LIMIT),
        Err(DecodeError::InvalidBase64)
    );
    assert_eq!(
        payload::decode("bAQIDBA", NO_LIMIT),
        Err(DecodeError::InvalidBase64)
    );
    assert_eq!(
        payload::decode("4ok\x1ebA", NO_LIMIT),
        Err(DecodeError::InvalidBase64)
    );
}

#[test]
fn payload_size_limit_is_inclusive() {
    let body = "4hello"; // six bytes
    assert!(payload::decode(body, 6).is_ok());
    assert_eq!(
        payload::decode(body, 5),
        Err(DecodeError::TooLarge { size: 6, max: 5 })
    );
    // The limit counts bytes, not characters.
    assert_eq!(
        payload::decode("4€", 3),
        Err(DecodeError::TooLarge { size: 4, max: 3 })
    );
    // The size check comes before decoding.
    assert_eq!(
        payload::decode("abcdef", 1),
        Err(DecodeError::TooLarge { size: 6, max: 1 })
    );
}

#[test]
fn building_a_body_piece_by_piece() {
    let mut body = String::new();
    payload::push_text_frame(&mut body, "4hello");
    payload::push_binary(&mut body, &[1, 2, 3, 4]);
    payload::push(&mut body, &Packet::Ping(String::new()));
    payload::push(&mut body, &Packet::Binary(Bytes::from_static(&[0xff])));
    assert_eq!(body, "4hello\x1ebAQIDBA==\x1e2\x1eb/w==");

    let mut first = String::new();
    payload::push_binary(&mut first, &[1, 2, 3, 4]);
    assert_eq!(first, "bAQIDBA==", "no separator before the first packet");
}

#[test]
fn binary_encoded_len_matches_push_binary() {
    for len in 0..40 {
        let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut body = String::from("4x");
        let before = body.len();
        payload::push_binary(&mut body, &bytes);
        assert_eq!(
            body.len() - before,
            payload::binary_encoded_len(len),
            "len {len}"
        );
    }
    assert_eq!(payload::SEPARATOR, '\x1e');
}

// ---------------------------------------------------------------------------------------------
// Handshake
// ---------------------------------------------------------------------------------------------

#[test]
fn spec_handshake_example() {
    let open = OpenPacket {
        sid: "lv_VI97HAXpY6yYWAAAC",
        upgrades: &["websocket"],
        ping_interval: 25000,
        ping_timeout: 20000,
        max_payload: 1_000_000,
    };
    assert_eq!(
        open.encode(),
        r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
    );
}

#[test]
fn handshake_json_has_exactly_the_five_keys_in_order() {
    // Suite configuration: pingInterval 300, pingTimeout 200, maxPayload 1e6.
    let open = OpenPacket {
        sid: "abcdefghijklmnopqrst",
        upgrades: OpenPacket::upgrades_for(TransportKind::Polling),
        ping_interval: 300,
        ping_timeout: 200,
        max_payload: 1_000_000,
    };
    let encoded = open.encode();
    let packet = Packet::decode_text(&encoded).unwrap();
    let Packet::Open(json) = packet else {
        panic!("not an open packet: {packet:?}");
    };
    let value: Value = serde_json::from_str(&json).unwrap();
    let object = value.as_object().expect("handshake is a JSON object");
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "sid",
            "upgrades",
            "pingInterval",
            "pingTimeout",
            "maxPayload"
        ]
    );
    assert_eq!(object["sid"], "abcdefghijklmnopqrst");
    assert_eq!(object["upgrades"], serde_json::json!(["websocket"]));
    assert_eq!(object["pingInterval"], 300);
    assert_eq!(object["pingTimeout"], 200);
    assert_eq!(object["maxPayload"], 1_000_000);
}

#[test]
fn websocket_only_handshake_advertises_no_upgrades() {
    let open = OpenPacket {
        sid: "s",
        upgrades: OpenPacket::upgrades_for(TransportKind::WebSocket),
        ping_interval: 300,
        ping_timeout: 200,
        max_payload: 1_000_000,
    };
    assert_eq!(
        open.encode(),
        r#"0{"sid":"s","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#
    );
    assert_eq!(
        OpenPacket::upgrades_for(TransportKind::Polling),
        &["websocket"][..]
    );
}

#[test]
fn handshake_sid_is_json_escaped() {
    let open = OpenPacket {
        sid: "a\"b",
        upgrades: &[],
        ping_interval: 1,
        ping_timeout: 2,
        max_payload: 3,
    };
    let encoded = open.encode();
    let value: Value = serde_json::from_str(&encoded[1..]).unwrap();
    assert_eq!(value["sid"], "a\"b");
}

#[test]
fn sid_from_entropy_is_twenty_url_safe_characters() {
    let sid = sid_from_entropy([0; 15]);
    assert_eq!(sid, "AAAAAAAAAAAAAAAAAAAA");
    let sid = sid_from_entropy([0xff; 15]);
    assert_eq!(sid, "____________________");
    let sid = sid_from_entropy(*b"\xfb\xef\xbe\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b");
    assert_eq!(sid.len(), 20);
    assert!(
        sid.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{sid}"
    );
    assert!(sid.starts_with("----"), "{sid}");
    assert_ne!(sid_from_entropy([1; 15]), sid_from_entropy([2; 15]));
}

#[test]
fn transport_names() {
    assert_eq!(TransportKind::Polling.as_str(), "polling");
    assert_eq!(TransportKind::WebSocket.as_str(), "websocket");
}

// ---------------------------------------------------------------------------------------------
// Request validation
// ---------------------------------------------------------------------------------------------

fn parse(query: &[(&'static str, &'static str)]) -> Result<HandshakeQuery, RequestError> {
    HandshakeQuery::parse(query.iter().copied())
}

#[test]
fn valid_queries() {
    assert_eq!(
        parse(&[("EIO", "4"), ("transport", "polling")]),
        Ok(HandshakeQuery {
            transport: TransportKind::Polling,
            sid: None
        })
    );
    assert_eq!(
        parse(&[("EIO", "4"), ("transport", "polling"), ("t", "N8hyd6w")]),
        Ok(HandshakeQuery {
            transport: TransportKind::Polling,
            sid: None
        }),
        "the cache-busting `t` and other keys are ignored"
    );
    assert_eq!(
        parse(&[
            ("EIO", "4"),
            ("transport", "websocket"),
            ("sid", "lv_VI97HAXpY6yYWAAAC")
        ]),
        Ok(HandshakeQuery {
            transport: TransportKind::WebSocket,
            sid: Some("lv_VI97HAXpY6yYWAAAC".into())
        })
    );
    assert_eq!(
        parse(&[("sid", "x"), ("transport", "polling"), ("EIO", "4")]),
        Ok(HandshakeQuery {
            transport: TransportKind::Polling,
            sid: Some("x".into())
        }),
        "order of the keys does not matter"
    );
}

#[test]
fn bad_protocol_version() {
    // Suite: EIO missing or `abc` → 400.
    let cases: [&[(&str, &str)]; 4] = [
        &[("transport", "polling")],
        &[("EIO", "abc"), ("transport", "polling")],
        &[("EIO", "3"), ("transport", "polling")],
        &[("EIO", ""), ("transport", "websocket")],
    ];
    for query in cases {
        let error = parse(query).unwrap_err();
        assert_eq!(error, RequestError::UnsupportedProtocolVersion, "{query:?}");
        assert_eq!(error.http_status(), 400);
        assert_eq!(error.code(), 5);
    }
}

#[test]
fn bad_transport() {
    // Suite: transport missing or `abc` → 400.
    let cases: [&[(&str, &str)]; 4] = [
        &[("EIO", "4")],
        &[("EIO", "4"), ("transport", "abc")],
        &[("EIO", "4"), ("transport", "")],
        &[("EIO", "4"), ("transport", "webtransport")],
    ];
    for query in cases {
        let error = parse(query).unwrap_err();
        assert_eq!(error, RequestError::TransportUnknown, "{query:?}");
        assert_eq!(error.http_status(), 400);
        assert_eq!(error.code(), 0);
    }
    // Like the reference server, the transport is checked before the version.
    assert_eq!(parse(&[]), Err(RequestError::TransportUnknown));
}

#[test]
fn empty_sid_is_unknown() {
    assert_eq!(
        parse(&[("EIO", "4"), ("transport", "polling"), ("sid", "")]),
        Err(RequestError::SessionIdUnknown)
    );
}

#[test]
fn request_error_codes_statuses_and_bodies() {
    let table = [
        (
            RequestError::TransportUnknown,
            0,
            400,
            r#"{"code":0,"message":"Transport unknown"}"#,
        ),
        (
            RequestError::SessionIdUnknown,
            1,
            400,
            r#"{"code":1,"message":"Session ID unknown"}"#,
        ),
        (
            RequestError::BadHandshakeMethod,
            2,
            400,
            r#"{"code":2,"message":"Bad handshake method"}"#,
        ),
        (
            RequestError::BadRequest,
            3,
            400,
            r#"{"code":3,"message":"Bad request"}"#,
        ),
        (
            RequestError::Forbidden,
            4,
            403,
            r#"{"code":4,"message":"Forbidden"}"#,
        ),
        (
            RequestError::UnsupportedProtocolVersion,
            5,
            400,
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
    ];
    for (error, code, status, body) in table {
        assert_eq!(error.code(), code, "{error:?}");
        assert_eq!(error.http_status(), status, "{error:?}");
        assert_eq!(error.body(), body);
        let value: Value = serde_json::from_str(&error.body()).unwrap();
        assert_eq!(value["code"], code);
    }
}
