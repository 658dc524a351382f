//! Golden vectors for the Socket.IO v5 wire format: every encoding example of the v5 spec, the
//! sample session, and the exact frames the official v5 test suite sends and expects
//! (`docs/socket.io-protocol/` in the socket.io repository).

use bytes::Bytes;
use serde_json::json;
use tickwire_protocol::engineio;
use tickwire_protocol::socketio::{
    self, count_placeholders, placeholder, DecodeConfig, DecodeError, Packet, PacketKind,
    Reassembler,
};

const PH0: &str = r#"{"_placeholder":true,"num":0}"#;
const PH1: &str = r#"{"_placeholder":true,"num":1}"#;

fn decode(text: &str) -> Result<Packet, DecodeError> {
    socketio::decode_text(text, &DecodeConfig::default())
}

/// Decode a non-binary packet and check that it encodes back to exactly the same text.
fn round_trip(text: &str) -> Packet {
    let packet = decode(text).unwrap_or_else(|e| panic!("{text:?} should decode: {e}"));
    assert_eq!(socketio::encode(&packet), text, "re-encoding {packet:?}");
    packet
}

/// Feed a header and its attachments through a fresh reassembler; check the packet comes out
/// only after the last attachment and encodes back to the same header.
fn reassemble(header: &str, attachments: &[&[u8]]) -> Packet {
    let mut reassembler = Reassembler::default();
    let mut out = reassembler.feed_text(header).unwrap();
    for (i, bytes) in attachments.iter().enumerate() {
        assert!(out.is_none(), "packet finished before attachment {i}");
        assert!(reassembler.is_pending());
        out = reassembler
            .feed_binary(Bytes::copy_from_slice(bytes))
            .unwrap();
    }
    assert!(!reassembler.is_pending());
    let packet = out.expect("packet finished after its last attachment");
    assert_eq!(socketio::encode(&packet), header, "re-encoding {packet:?}");
    packet
}

fn attachments(list: &[&[u8]]) -> Vec<Bytes> {
    list.iter().map(|b| Bytes::copy_from_slice(b)).collect()
}

/// The Engine.IO websocket text frame of a packet: `4` + its text form.
fn frame(packet: &Packet) -> String {
    let mut out = String::from("4");
    socketio::encode_into(packet, &mut out);
    out
}

/// Unwrap the Socket.IO text carried by an Engine.IO text frame.
fn socketio_text(frame: &str) -> String {
    match engineio::Packet::decode_text(frame).unwrap() {
        engineio::Packet::Message(text) => text,
        other => panic!("{frame:?} is not a message: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Spec: packet encoding examples
// ---------------------------------------------------------------------------------------------

#[test]
fn spec_connect_main_namespace() {
    let packet = round_trip("0");
    assert_eq!(packet, Packet::connect("/", None));
}

#[test]
fn spec_connect_custom_namespace() {
    let text = r#"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#;
    let packet = round_trip(text);
    assert_eq!(
        packet,
        Packet::connect("/admin", Some(json!({"sid": "oSO0OpakMV_3jnilAAAA"})))
    );
}

#[test]
fn spec_connect_error() {
    let text = r#"4{"message":"Not authorized"}"#;
    let packet = round_trip(text);
    assert_eq!(packet.kind, PacketKind::ConnectError);
    assert_eq!(
        socketio::encode(&Packet::connect_error("/", "Not authorized", None)),
        text
    );
}

#[test]
fn spec_event_main_and_custom_namespace() {
    let packet = round_trip(r#"2["foo"]"#);
    assert_eq!(packet, Packet::event("/", "foo", [], vec![], None));
    assert_eq!(packet.event_name(), Some("foo"));
    assert!(packet.args().is_empty());

    let packet = round_trip(r#"2/admin,["bar"]"#);
    assert_eq!(packet, Packet::event("/admin", "bar", [], vec![], None));
}

#[test]
fn spec_binary_event() {
    let header = format!(r#"51-["baz",{PH0}]"#);
    let packet = reassemble(&header, &[&[1, 2, 3, 4]]);
    assert_eq!(
        packet,
        Packet::event(
            "/",
            "baz",
            [placeholder(0)],
            attachments(&[&[1, 2, 3, 4]]),
            None
        )
    );
    assert_eq!(packet.kind, PacketKind::BinaryEvent);
}

#[test]
fn spec_binary_event_with_two_attachments_on_a_namespace() {
    let header = format!(r#"52-/admin,["baz",{PH0},{PH1}]"#);
    let packet = reassemble(&header, &[&[1, 2], &[3, 4]]);
    assert_eq!(packet.nsp, "/admin");
    assert_eq!(packet.attachments, attachments(&[&[1, 2], &[3, 4]]));
    assert_eq!(packet.args(), [placeholder(0), placeholder(1)]);
}

#[test]
fn spec_event_with_ack_id() {
    let packet = round_trip(r#"212["foo"]"#);
    assert_eq!(packet, Packet::event("/", "foo", [], vec![], Some(12)));
}

#[test]
fn spec_ack_on_a_namespace() {
    // The spec's code block carries a stray backtick after the packet; the packet is this.
    let text = r#"3/admin,13["bar"]"#;
    let packet = round_trip(text);
    assert_eq!(
        packet,
        Packet::ack("/admin", 13, vec![json!("bar")], vec![])
    );
    assert_eq!(packet.args(), [json!("bar")]);
}

#[test]
fn spec_ack_with_empty_array() {
    let packet = round_trip("312[]");
    assert_eq!(packet, Packet::ack("/", 12, vec![], vec![]));
}

#[test]
fn spec_binary_ack() {
    let header = format!(r#"61-15["bar",{PH0}]"#);
    let packet = reassemble(&header, &[&[1, 2, 3, 4]]);
    assert_eq!(
        packet,
        Packet::ack(
            "/",
            15,
            vec![json!("bar"), placeholder(0)],
            attachments(&[&[1, 2, 3, 4]])
        )
    );
    assert_eq!(packet.kind, PacketKind::BinaryAck);
}

#[test]
fn spec_disconnect() {
    assert_eq!(round_trip("1"), Packet::disconnect("/"));
    assert_eq!(round_trip("1/admin,"), Packet::disconnect("/admin"));
}

// ---------------------------------------------------------------------------------------------
// Spec: sample session (Engine.IO frames carrying Socket.IO packets)
// ---------------------------------------------------------------------------------------------

#[test]
fn sample_session_polling_bodies() {
    // POST `40`, then the GET answers `40{"sid":...}` and `42["hey","Jude"]`.
    let connect = decode(&socketio_text("40")).unwrap();
    assert_eq!(connect, Packet::connect("/", None));

    let accepted = Packet::connect("/", Some(json!({"sid": "wZX3oN0bSVIhsaknAAAI"})));
    assert_eq!(frame(&accepted), r#"40{"sid":"wZX3oN0bSVIhsaknAAAI"}"#);

    let hey = Packet::event("/", "hey", [json!("Jude")], vec![], None);
    assert_eq!(frame(&hey), r#"42["hey","Jude"]"#);

    // A POST of two events in one body.
    let body = "42[\"hello\"]\x1e42[\"world\"]";
    let names: Vec<String> = engineio::payload::decode(body, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|p| match p {
            engineio::Packet::Message(text) => {
                decode(&text).unwrap().event_name().unwrap().to_owned()
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(names, ["hello", "world"]);
}

#[test]
fn binary_event_in_a_polling_body() {
    // Over polling the attachments follow the header as `b` + base64 parts of the same body.
    let packet = Packet::event(
        "/",
        "baz",
        [placeholder(0)],
        attachments(&[&[1, 2, 3, 4]]),
        None,
    );
    let mut frames = vec![engineio::Packet::Message(socketio::encode(&packet))];
    frames.extend(
        packet
            .attachments
            .iter()
            .cloned()
            .map(engineio::Packet::Binary),
    );
    let body = engineio::payload::encode(&frames);
    assert_eq!(body, format!("451-[\"baz\",{PH0}]\u{1e}bAQIDBA=="));

    let mut reassembler = Reassembler::default();
    let mut out = None;
    for frame in engineio::payload::decode(&body, usize::MAX).unwrap() {
        out = match frame {
            engineio::Packet::Message(text) => reassembler.feed_text(&text).unwrap(),
            engineio::Packet::Binary(bytes) => reassembler.feed_binary(bytes).unwrap(),
            other => panic!("unexpected {other:?}"),
        };
    }
    assert_eq!(out, Some(packet));
}

#[test]
fn sample_session_websocket_frames() {
    let join = decode(&socketio_text("40/admin,")).unwrap();
    assert_eq!(join, Packet::connect("/admin", None));

    let granted = Packet::connect("/admin", Some(json!({"sid": "-G5j-67EZFp-q59rADQM"})));
    assert_eq!(
        frame(&granted),
        r#"40/admin,{"sid":"-G5j-67EZFp-q59rADQM"}"#
    );

    let tellme = decode(&socketio_text(r#"42/admin,1["tellme"]"#)).unwrap();
    assert_eq!(
        tellme,
        Packet::event("/admin", "tellme", [], vec![], Some(1))
    );

    let reply = Packet::ack("/admin", 1, vec![placeholder(0)], attachments(&[b"data"]));
    assert_eq!(frame(&reply), format!("461-/admin,1[{PH0}]"));
}

// ---------------------------------------------------------------------------------------------
// The v5 test suite: what the client sends
// ---------------------------------------------------------------------------------------------

#[test]
fn suite_connect_main_namespace() {
    let packet = decode(&socketio_text("40")).unwrap();
    assert_eq!(packet.kind, PacketKind::Connect);
    assert_eq!(packet.nsp, "/");
    assert_eq!(packet.data, None);
}

#[test]
fn suite_connect_with_auth() {
    let packet = decode(&socketio_text(r#"40{"token":"123"}"#)).unwrap();
    assert_eq!(packet, Packet::connect("/", Some(json!({"token": "123"}))));
}

#[test]
fn suite_connect_custom_namespace() {
    let packet = decode(&socketio_text("40/custom,")).unwrap();
    assert_eq!(packet, Packet::connect("/custom", None));

    let packet = decode(&socketio_text(r#"40/custom,{"token":"abc"}"#)).unwrap();
    assert_eq!(
        packet,
        Packet::connect("/custom", Some(json!({"token": "abc"})))
    );
}

#[test]
fn suite_namespace_without_trailing_comma_decodes() {
    assert_eq!(
        decode("0/custom").unwrap(),
        Packet::connect("/custom", None)
    );
    assert_eq!(decode("1/custom").unwrap(), Packet::disconnect("/custom"));
    assert_eq!(
        decode("0/random").unwrap(),
        Packet::connect("/random", None)
    );
    // Re-encoded in canonical form, with the comma.
    assert_eq!(socketio::encode(&decode("0/custom").unwrap()), "0/custom,");
}

#[test]
fn suite_disconnect_main_namespace() {
    assert_eq!(
        decode(&socketio_text("41")).unwrap(),
        Packet::disconnect("/")
    );
}

#[test]
fn suite_plain_event() {
    let packet = decode(&socketio_text(
        r#"42["message","message to main namespace"]"#,
    ))
    .unwrap();
    assert_eq!(packet.event_name(), Some("message"));
    assert_eq!(packet.args(), [json!("message to main namespace")]);
}

#[test]
fn suite_event_with_mixed_arguments() {
    let text = r#"2["message",1,"2",{"3":[true]}]"#;
    let packet = round_trip(text);
    assert_eq!(packet.event_name(), Some("message"));
    assert_eq!(packet.args(), [json!(1), json!("2"), json!({"3": [true]})]);
}

#[test]
fn suite_event_with_ack() {
    let packet = decode(&socketio_text(
        r#"42456["message-with-ack",1,"2",{"3":[false]}]"#,
    ))
    .unwrap();
    assert_eq!(packet.kind, PacketKind::Event);
    assert_eq!(packet.id, Some(456));
    assert_eq!(packet.event_name(), Some("message-with-ack"));
    assert_eq!(
        socketio::encode(&packet),
        r#"2456["message-with-ack",1,"2",{"3":[false]}]"#
    );
}

#[test]
fn suite_binary_event() {
    let header = socketio_text(&format!(r#"452-["message",{PH0},{PH1}]"#));
    let packet = reassemble(&header, &[&[1, 2, 3], &[4, 5, 6]]);
    assert_eq!(packet.kind, PacketKind::BinaryEvent);
    assert_eq!(packet.event_name(), Some("message"));
    assert_eq!(packet.attachments, attachments(&[&[1, 2, 3], &[4, 5, 6]]));
    assert_eq!(frame(&packet), format!(r#"452-["message",{PH0},{PH1}]"#));
}

#[test]
fn suite_binary_ack_request() {
    let header = socketio_text(&format!(r#"452-789["message-with-ack",{PH0},{PH1}]"#));
    let packet = reassemble(&header, &[&[1, 2, 3], &[4, 5, 6]]);
    assert_eq!(packet.kind, PacketKind::BinaryEvent);
    assert_eq!(packet.id, Some(789));
    assert_eq!(packet.event_name(), Some("message-with-ack"));
}

// ---------------------------------------------------------------------------------------------
// The v5 test suite: what the server must answer, byte for byte
// ---------------------------------------------------------------------------------------------

#[test]
fn reply_connect_accepted_has_only_sid() {
    let reply = Packet::connect("/", Some(json!({"sid": "abc"})));
    let text = frame(&reply);
    assert_eq!(text, r#"40{"sid":"abc"}"#);
    let packet = decode(&socketio_text(&text)).unwrap();
    let keys: Vec<&String> = packet
        .data
        .as_ref()
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(keys, ["sid"]);

    let reply = Packet::connect("/custom", Some(json!({"sid": "abc"})));
    assert!(frame(&reply).starts_with("40/custom,"));
}

#[test]
fn reply_auth_events() {
    let auth = Packet::event("/", "auth", [json!({})], vec![], None);
    assert_eq!(frame(&auth), r#"42["auth",{}]"#);
    let auth = Packet::event("/", "auth", [json!({"token": "123"})], vec![], None);
    assert_eq!(frame(&auth), r#"42["auth",{"token":"123"}]"#);
    let auth = Packet::event("/custom", "auth", [json!({"token": "abc"})], vec![], None);
    assert_eq!(frame(&auth), r#"42/custom,["auth",{"token":"abc"}]"#);
}

#[test]
fn reply_invalid_namespace_is_exact() {
    let request = decode(&socketio_text("40/random")).unwrap();
    let reply = Packet::connect_error(request.nsp, "Invalid namespace", None);
    assert_eq!(
        frame(&reply),
        r#"44/random,{"message":"Invalid namespace"}"#
    );
}

#[test]
fn reply_connect_error_with_data() {
    let reply = Packet::connect_error("/", "nope", Some(json!({"retry": false})));
    assert_eq!(
        frame(&reply),
        r#"44{"message":"nope","data":{"retry":false}}"#
    );
}

#[test]
fn reply_message_back_keeps_arguments_byte_exact() {
    let request = decode(&socketio_text(r#"42["message",1,"2",{"3":[true]}]"#)).unwrap();
    let (args, bins) = request.into_args();
    let reply = Packet::event("/", "message-back", args, bins, None);
    assert_eq!(frame(&reply), r#"42["message-back",1,"2",{"3":[true]}]"#);
}

#[test]
fn reply_ack_keeps_arguments_byte_exact() {
    let request = decode(&socketio_text(
        r#"42456["message-with-ack",1,"2",{"3":[false]}]"#,
    ))
    .unwrap();
    let id = request.id.unwrap();
    let (args, bins) = request.into_args();
    let reply = Packet::ack("/", id, args, bins);
    assert_eq!(frame(&reply), r#"43456[1,"2",{"3":[false]}]"#);
}

#[test]
fn reply_binary_message_back() {
    let header = format!(r#"52-["message",{PH0},{PH1}]"#);
    let request = reassemble(&header, &[&[1, 2, 3], &[4, 5, 6]]);
    let nsp = request.nsp.clone();
    let (args, bins) = request.into_args();
    let reply = Packet::event(nsp, "message-back", args, bins, None);
    assert_eq!(
        frame(&reply),
        format!(r#"452-["message-back",{PH0},{PH1}]"#)
    );
    assert_eq!(reply.attachments, attachments(&[&[1, 2, 3], &[4, 5, 6]]));
}

#[test]
fn reply_binary_ack() {
    let header = format!(r#"52-789["message-with-ack",{PH0},{PH1}]"#);
    let request = reassemble(&header, &[&[1, 2, 3], &[4, 5, 6]]);
    let id = request.id.unwrap();
    let (args, bins) = request.into_args();
    let reply = Packet::ack("/", id, args, bins);
    assert_eq!(frame(&reply), format!("462-789[{PH0},{PH1}]"));
    assert_eq!(reply.attachments, attachments(&[&[1, 2, 3], &[4, 5, 6]]));
}

#[test]
fn reply_disconnect_of_a_namespace() {
    assert_eq!(frame(&Packet::disconnect("/custom")), "41/custom,");
    assert_eq!(frame(&Packet::disconnect("/")), "41");
}

// ---------------------------------------------------------------------------------------------
// Malformed packets: each one closes the Engine.IO connection
// ---------------------------------------------------------------------------------------------

#[test]
fn suite_malformed_packets() {
    // `4abc`: unknown Socket.IO type.
    assert_eq!(
        decode(&socketio_text("4abc")),
        Err(DecodeError::UnknownType)
    );
    // `42{}`: an EVENT whose payload is not an array.
    assert_eq!(
        decode(&socketio_text("42{}")),
        Err(DecodeError::InvalidPayload)
    );
    // `42abc[...]`: a bad ack id.
    assert!(matches!(
        decode(&socketio_text(
            r#"42abc["message-with-ack",1,"2",{"3":[false]}]"#
        )),
        Err(DecodeError::InvalidJson(_))
    ));
}

#[test]
fn unknown_type_and_empty() {
    assert_eq!(decode(""), Err(DecodeError::Empty));
    for text in ["7", "9[]", "a", "-1", "{}", "[\"a\"]", "é"] {
        assert_eq!(decode(text), Err(DecodeError::UnknownType), "{text:?}");
    }
}

#[test]
fn payload_shape_is_checked_per_type() {
    let invalid = [
        // EVENT: a non-empty array whose first element is the name.
        "2",
        "2[]",
        "2{}",
        "2\"message\"",
        "2[null]",
        "2[true]",
        "2[[\"a\"]]",
        "2[{}]",
        "2/chat,",
        "27",
        // CONNECT: nothing or an object.
        "0[]",
        "0\"token\"",
        "0null",
        // DISCONNECT: no payload.
        "1{}",
        "1[]",
        // ACK: an array.
        "3",
        "312",
        "3{}",
        "3\"a\"",
        // CONNECT_ERROR: an object (v5) or a string (older servers).
        "4",
        "4[]",
        "4null",
        // Binary kinds need a payload too.
        "50-",
        "60-1",
    ];
    for text in invalid {
        assert_eq!(decode(text), Err(DecodeError::InvalidPayload), "{text:?}");
    }
}

#[test]
fn lenient_payloads_accepted_like_the_reference_parser() {
    // A numeric event name is accepted; it has no string name.
    let packet = round_trip("2[1,\"a\"]");
    assert_eq!(packet.event_name(), None);
    assert_eq!(packet.args(), [json!("a")]);
    // CONNECT_ERROR with a plain string (v4 style).
    let packet = round_trip(r#"4"Not authorized""#);
    assert_eq!(packet.data, Some(json!("Not authorized")));
}

#[test]
fn invalid_json() {
    for text in [
        "2[\"a\"",
        "2[\"a\"]]",
        "2[\"a\"]x",
        "0{token:1}",
        "2/chat,[\"a\",]",
    ] {
        assert!(
            matches!(decode(text), Err(DecodeError::InvalidJson(_))),
            "{text:?}: {:?}",
            decode(text)
        );
    }
}

#[test]
fn namespace_that_swallows_the_payload() {
    // Without a comma the namespace runs to the end, as in the reference parser: the JSON
    // becomes part of the name and the event has no payload.
    assert_eq!(decode(r#"2/chat["a"]"#), Err(DecodeError::InvalidPayload));
    assert_eq!(decode(r#"0/chat{"a":1}"#).unwrap().nsp, r#"/chat{"a":1}"#);
}

#[test]
fn ack_ids() {
    let packet = round_trip(&format!(r#"2{}["a"]"#, u64::MAX));
    assert_eq!(packet.id, Some(u64::MAX));
    assert_eq!(
        decode(r#"218446744073709551616["a"]"#),
        Err(DecodeError::InvalidAckId),
        "u64::MAX + 1"
    );
    assert_eq!(
        decode(r#"2/chat,99999999999999999999999["a"]"#),
        Err(DecodeError::InvalidAckId)
    );
    // Leading zeros are read as decimal and dropped when re-encoding.
    let packet = decode(r#"2007["a"]"#).unwrap();
    assert_eq!(packet.id, Some(7));
    assert_eq!(socketio::encode(&packet), r#"27["a"]"#);
    // Id zero.
    assert_eq!(round_trip(r#"30[]"#).id, Some(0));
}

#[test]
fn illegal_attachment_counts() {
    let bad = [
        r#"5["a"]"#,
        r#"5-["a"]"#,
        r#"51["a"]"#,
        r#"5a-["a"]"#,
        r#"5/nsp,1-["a"]"#,
        "5",
        "6",
        r#"599999999999999999999999-["a"]"#,
        r#"565-["a"]"#,
    ];
    for text in bad {
        assert_eq!(
            decode(text),
            Err(DecodeError::IllegalAttachments),
            "{text:?}"
        );
    }
    // 64 is the default limit, and it is inclusive.
    assert!(decode(r#"564-["a"]"#).is_ok());
    let strict = DecodeConfig { max_attachments: 2 };
    assert_eq!(
        socketio::decode_text(r#"53-["a"]"#, &strict),
        Err(DecodeError::IllegalAttachments)
    );
    assert!(socketio::decode_text(r#"52-["a"]"#, &strict).is_ok());
    assert_eq!(DecodeConfig::default().max_attachments, 64);
}

// ---------------------------------------------------------------------------------------------
// Binary reassembly
// ---------------------------------------------------------------------------------------------

#[test]
fn placeholder_json_is_exact() {
    assert_eq!(serde_json::to_string(&placeholder(0)).unwrap(), PH0);
    assert_eq!(serde_json::to_string(&placeholder(1)).unwrap(), PH1);
    assert_eq!(
        serde_json::to_string(&placeholder(12)).unwrap(),
        r#"{"_placeholder":true,"num":12}"#
    );
}

#[test]
fn count_placeholders_walks_arrays_and_objects() {
    let data = json!(["a", placeholder(0), {"x": [placeholder(1)], "y": placeholder(2)}, 3]);
    assert_eq!(count_placeholders(&data, 3), Ok(3));
    assert_eq!(
        count_placeholders(&data, 2),
        Err(DecodeError::BadPlaceholder)
    );
    assert_eq!(count_placeholders(&json!(["a", 1, {"b": null}]), 0), Ok(0));
    assert_eq!(
        count_placeholders(&json!([{"_placeholder": true}]), 1),
        Err(DecodeError::BadPlaceholder)
    );
    assert_eq!(
        count_placeholders(&json!([{"_placeholder": true, "num": "0"}]), 1),
        Err(DecodeError::BadPlaceholder)
    );
    // `_placeholder` other than `true` is an ordinary object.
    assert_eq!(
        count_placeholders(&json!([{"_placeholder": false, "num": 9}]), 0),
        Ok(0)
    );
}

#[test]
fn nested_placeholders_reassemble() {
    let header = format!(r#"52-/files,["upload",{{"name":"a","file":{PH0}}},[{PH1}]]"#);
    let packet = reassemble(&header, &[b"first", b"second"]);
    assert_eq!(packet.nsp, "/files");
    assert_eq!(packet.attachments, attachments(&[b"first", b"second"]));
}

#[test]
fn empty_attachment_is_an_attachment() {
    let header = format!(r#"51-["a",{PH0}]"#);
    let packet = reassemble(&header, &[&[]]);
    assert_eq!(packet.attachments, [Bytes::new()]);
}

#[test]
fn binary_kind_with_zero_attachments() {
    let mut reassembler = Reassembler::default();
    let packet = reassembler.feed_text(r#"50-["a"]"#).unwrap().unwrap();
    assert_eq!(packet.kind, PacketKind::BinaryEvent);
    assert!(packet.attachments.is_empty());
    assert_eq!(socketio::encode(&packet), r#"50-["a"]"#);
    assert!(!reassembler.is_pending());

    assert_eq!(
        reassembler.feed_text(&format!(r#"50-["a",{PH0}]"#)),
        Err(DecodeError::BadPlaceholder)
    );
}

#[test]
fn plain_packets_pass_straight_through() {
    let mut reassembler = Reassembler::new(DecodeConfig::default());
    let packet = reassembler.feed_text(r#"2["a"]"#).unwrap().unwrap();
    assert_eq!(packet.event_name(), Some("a"));
    // A placeholder-shaped object in a non-binary packet is ordinary data.
    let packet = reassembler
        .feed_text(&format!(r#"2["a",{PH0}]"#))
        .unwrap()
        .unwrap();
    assert_eq!(packet.args(), [placeholder(0)]);
}

#[test]
fn binary_without_a_pending_packet() {
    let mut reassembler = Reassembler::default();
    assert_eq!(
        reassembler.feed_binary(Bytes::from_static(&[1, 2, 3])),
        Err(DecodeError::UnexpectedBinary)
    );
    // After a finished binary packet, one more frame is unexpected too.
    let header = format!(r#"51-["a",{PH0}]"#);
    assert_eq!(reassembler.feed_text(&header), Ok(None));
    assert!(reassembler
        .feed_binary(Bytes::from_static(&[1]))
        .unwrap()
        .is_some());
    assert_eq!(
        reassembler.feed_binary(Bytes::from_static(&[2])),
        Err(DecodeError::UnexpectedBinary)
    );
}

#[test]
fn text_while_waiting_for_attachments() {
    let mut reassembler = Reassembler::default();
    let header = format!(r#"52-["a",{PH0},{PH1}]"#);
    assert_eq!(reassembler.feed_text(&header), Ok(None));
    assert_eq!(reassembler.feed_binary(Bytes::from_static(&[1])), Ok(None));
    assert_eq!(
        reassembler.feed_text(r#"2["b"]"#),
        Err(DecodeError::UnexpectedText)
    );
    assert_eq!(
        DecodeError::UnexpectedText.to_string(),
        "got plaintext data while reconstructing a packet"
    );
    // The half-built packet is dropped; the reassembler starts over.
    assert!(!reassembler.is_pending());
    assert!(reassembler.feed_text(r#"2["c"]"#).unwrap().is_some());
}

#[test]
fn placeholder_out_of_range() {
    let mut reassembler = Reassembler::default();
    assert_eq!(
        reassembler.feed_text(&format!(r#"51-["a",{PH1}]"#)),
        Ok(None)
    );
    assert_eq!(
        reassembler.feed_binary(Bytes::from_static(&[1])),
        Err(DecodeError::BadPlaceholder)
    );
    assert!(!reassembler.is_pending());

    assert_eq!(
        reassembler.feed_text(r#"51-["a",{"_placeholder":true}]"#),
        Ok(None)
    );
    assert_eq!(
        reassembler.feed_binary(Bytes::from_static(&[1])),
        Err(DecodeError::BadPlaceholder)
    );
}

#[test]
fn reassembler_reports_header_errors() {
    let mut reassembler = Reassembler::default();
    assert_eq!(reassembler.feed_text("abc"), Err(DecodeError::UnknownType));
    assert_eq!(
        reassembler.feed_text("2{}"),
        Err(DecodeError::InvalidPayload)
    );
    assert_eq!(
        reassembler.feed_text(r#"565-["a"]"#),
        Err(DecodeError::IllegalAttachments)
    );
    assert!(!reassembler.is_pending());
}

#[test]
fn an_abandoned_packet_leaves_the_reassembler_ready_for_the_next() {
    let mut reassembler = Reassembler::default();
    let header = r#"52-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
    assert_eq!(reassembler.feed_text(header), Ok(None));
    assert_eq!(reassembler.feed_binary(Bytes::from_static(&[1])), Ok(None));
    assert!(reassembler.abandon());
    assert!(!reassembler.is_pending());
    assert!(!reassembler.abandon());
    // The next packet decodes as if nothing had been pending.
    let next = reassembler.feed_text(r#"2["y"]"#).unwrap().unwrap();
    assert_eq!(next.event_name(), Some("y"));
}

// ---------------------------------------------------------------------------------------------
// Encoding details
// ---------------------------------------------------------------------------------------------

#[test]
fn json_is_compact_and_keeps_key_order() {
    let text = r#"2["ev",{"z":1,"a":2,"m":{"y":[],"b":{"k":null,"c":"x"}}},-1.5,"é\n\u0000"]"#;
    let packet = round_trip(text);
    let keys: Vec<&String> = packet.args()[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["z", "a", "m"]);
}

#[test]
fn float_with_seventeen_digits_round_trips() {
    // Needs serde_json's `float_roundtrip`: without it the last digit drifts by one.
    let text = r#"2["message",912477.0205078125]"#;
    let packet = round_trip(text);
    assert_eq!(socketio::encode(&packet), text);
}
